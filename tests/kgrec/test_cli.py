"""The `kgrec` command as a user runs it: a real process, real files, real server."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from kgrec.cli import COMMANDS, build_parser


def kgrec(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kgrec", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=Path(__file__).parents[2],
    )


def test_every_command_has_help():
    top = kgrec("--help")
    assert top.returncode == 0
    for name in COMMANDS:
        assert name in top.stdout, f"{name} missing from kgrec --help"
        sub = kgrec(name, "--help")
        assert sub.returncode == 0, sub.stderr
        assert sub.stdout.startswith("usage: kgrec " + name)


@pytest.mark.parametrize("order", ["after", "before"])
def test_models_registry_is_accepted_before_or_after_the_action(tmp_path, order):
    registry = ["--registry", str(tmp_path / "reg")]
    argv = ["models", "list", *registry] if order == "after" else ["models", *registry, "list"]
    out = kgrec(*argv)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == f"no runs in {tmp_path / 'reg'}"


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["models", "promote", "v1", "--registry", "R", "--store", "local:S"], {"registry": Path("R")}),
        (["models", "--registry", "R", "promote", "v1", "--store", "local:S"], {"registry": Path("R")}),
        (["models", "show", "v1"], {"registry": Path("var/registry")}),
        (["neo4j", "guide", "--port", "9"], {"action": "guide", "port": 9}),
        (["neo4j", "--port", "9", "guide"], {"action": "guide", "port": 9}),
        (["-v", "neo4j", "start"], {"verbose": 1}),
        (["neo4j", "start", "-vv"], {"verbose": 2}),
        (["models", "list", "-v"], {"verbose": 1}),
        (["-v", "models", "list"], {"verbose": 1}),
        (["load", "--edges", "e.tsv"], {"verbose": 0}),
    ],
)
def test_options_are_accepted_where_users_type_them(argv, expected):
    args = vars(build_parser().parse_args(argv))
    assert {k: args[k] for k in expected} == expected


def test_load_edge_list_json_summary_and_idempotent_reload(tmp_path):
    edges = tmp_path / "edges.tsv"
    edges.write_text(
        "src\tdst\trelation\nA1\tA2\talso_bought\nA2\tA3\talso_viewed\nA3\tA3\talso_bought\nA1\tA2\tnonsense\n"
    )
    store = f"local:{tmp_path / 'store'}"
    first = kgrec(
        "load", "--store", store, "--edges", str(edges), "--json", "--quarantine", str(tmp_path / "q.jsonl")
    )
    assert first.returncode == 0, first.stderr
    report = json.loads(first.stdout)
    assert report["store_counts"]["ALSO_BOUGHT"] == 1 and report["store_counts"]["ALSO_VIEWED"] == 1
    assert report["created"]["Product"] == 3
    quarantined = [json.loads(line)["reason"] for line in (tmp_path / "q.jsonl").read_text().splitlines()]
    assert sorted(quarantined) == ["self_loop", "unknown_relation"]
    again = json.loads(kgrec("load", "--store", store, "--edges", str(edges), "--json").stdout)
    assert set(again["created"].values()) == {0}
    assert again["store_counts"] == report["store_counts"]


def test_load_of_nothing_usable_fails_clearly(tmp_path):
    junk = tmp_path / "meta.json"
    junk.write_bytes(b"\xff\xfe not a product\n{'no': 'asin'}\n")
    out = kgrec("load", "--store", f"local:{tmp_path / 's'}", "--meta", str(junk), "--json")
    assert out.returncode != 0
    assert "Traceback" not in out.stderr and out.stderr.strip()
    missing = kgrec("load", "--store", f"local:{tmp_path / 's'}", "--meta", str(tmp_path / "nope.json"))
    assert missing.returncode == 2 and "no such file" in missing.stderr


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_demo_trains_serves_and_shows_the_model_then_reuses_it(tmp_path, beauty):
    def demo() -> subprocess.CompletedProcess[str]:
        out = kgrec(
            "demo",
            "--exit",
            "--port",
            str(_free_port()),
            "--store-dir",
            str(tmp_path / "store"),
            "--registry",
            str(tmp_path / "registry"),
            timeout=600,
        )
        assert out.returncode == 0, out.stderr[-2000:]
        return out

    first = demo()
    assert "training a model with the 'quick' preset" in first.stdout
    version = (tmp_path / "registry" / "PROMOTED").read_text().strip()
    # the model serves, not the observed lists: the server said so on /readyz, and the demo prints it
    assert f"serving model {version} (trained now" in first.stdout
    for label in (
        "bundle (complements), learned by the model",
        "similar (substitutes), learned by the model",
    ):
        assert label in first.stdout
    assert first.stdout.count("list says, before any model:") == 2
    answers = re.findall(r"^ +-?\d+\.\d{3} [* ] (B\w+)  .*\[.+\]$", first.stdout, flags=re.M)
    assert len(answers) == 10  # five of each, each with a product id, a title and a reason
    added = [line for line in first.stdout.splitlines() if line.startswith("what the model added:")]
    assert len(added) == 1 and "no also_bought and no also_viewed list" in added[0]
    assert "/graphql" in first.stdout

    again = demo()  # same data, so the promoted model serves again, untrained
    assert "training" not in again.stdout
    assert f"serving model {version} (reused" in again.stdout
