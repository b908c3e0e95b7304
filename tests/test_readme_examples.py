"""README.md's examples run as written: every command of its ```sh blocks, in order, as a user would type them.

They run under bash from a scratch copy of the repository's surroundings: a folder standing for the repository root
(so what they write under var/ lands in a temporary directory), with ``../shared`` the real shared data beside it
and ``.venv/bin/kgrec`` the project's command (the repository's .venv where there is one, as in CI; else a stand-in
that runs ``python -m kgrec`` with this interpreter). A command that serves until stopped (``kgrec serve``,
``kgrec neo4j guide``) starts in the background and serves the blocks after it (the README's curl queries) until
a block runs kgrec again; then it is stopped. The one change made to a command: port 8000 becomes a free port, so a
server someone left running cannot answer for ours. ``make`` lines are not run (they are the suite's own callers).

The Neo4j blocks run apart (marked ``neo4j``), against a server of their own: a data home, ports and a password
file under the temporary directory, so they never touch the project's local server or its graph.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.api.server import free_port
from tests.prerequisites import unavailable

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
SHARED = ROOT.parent / "shared"
README_PORT = "8000"
KGREC = re.compile(r"(?:^|[\s/])kgrec(?:\s|$)")
NEO4J = re.compile(r"kgrec neo4j |--store neo4j\b")
TIMEOUT_S = 420  # the slowest example (training) with room to spare on a busy machine


def sh_blocks(text: str) -> list[list[str]]:
    """The commands of each ```sh block, blank lines dropped, a continuation joined as the shell joins it (the
    backslash and the newline removed)."""
    bodies = re.findall(r"^```sh\n(.*?)^```", text, flags=re.S | re.M)
    return [
        [line.strip() for line in body.replace("\\\n", "").splitlines() if line.strip()] for body in bodies
    ]


def runs_kgrec(command: str) -> bool:
    return bool(KGREC.search(command.split("#")[0]))


def serves_until_stopped(command: str) -> bool:
    return bool(re.search(r"kgrec (serve|neo4j guide)\b", command))


def examples(neo4j: bool) -> list[list[str]]:
    """The blocks to run: the Neo4j ones, or all the others; ``make`` lines dropped."""
    chosen = []
    for block in sh_blocks(README.read_text()):
        block = [c for c in block if not c.startswith("make ")]
        if block and any(NEO4J.search(c) for c in block) == neo4j:
            chosen.append(block)
    return chosen


@dataclass
class Scratch:
    """Where the examples run: `root` stands for the repository root; `env` is a user's shell environment."""

    root: Path
    env: dict[str, str]
    port: str = field(default_factory=lambda: str(free_port()))
    servers: list[tuple[str, subprocess.Popen[str]]] = field(default_factory=list)
    log: list[str] = field(default_factory=list)

    def as_run(self, command: str) -> str:
        return re.sub(rf"(--port |127\.0\.0\.1:|localhost:){README_PORT}\b", rf"\g<1>{self.port}", command)

    def run(self, command: str) -> subprocess.CompletedProcess[str]:
        started = time.monotonic()
        out = subprocess.run(
            ["bash", "-c", "set -o pipefail; " + self.as_run(command)],
            cwd=self.root,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=TIMEOUT_S,
        )
        self.log.append(f"{time.monotonic() - started:6.1f} s  {command[:100]}")
        assert out.returncode == 0, (
            f"{command}\nexit {out.returncode}\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}"
        )
        assert "Traceback" not in out.stderr, f"{command}\n{out.stderr[-3000:]}"
        return out

    def start(self, command: str) -> None:
        """Start a command that serves until stopped, and wait until it answers."""
        proc = subprocess.Popen(
            ["bash", "-c", self.as_run(command)],
            cwd=self.root,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,  # its own process group: stopping it stops whatever bash started
        )
        self.servers.append((command, proc))
        deadline = time.monotonic() + 180
        while not self.answers(command):
            if proc.poll() is not None:
                raise AssertionError(
                    f"{command}\nexited {proc.returncode} before serving:\n{proc.stdout.read()}"
                )
            assert time.monotonic() < deadline, f"{command}: not serving after 180 s"
            time.sleep(0.5)
        self.log.append(f"serving  {command[:100]}")

    def answers(self, command: str) -> bool:
        url = (
            f"http://127.0.0.1:{self.port}/readyz"
            if " serve " in command
            else "http://127.0.0.1:8474/guide.html"
        )
        try:
            return httpx.get(url, timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def stop(self) -> None:
        """Stop the servers as Ctrl-C or a supervisor would (SIGTERM to the group); each must exit cleanly."""
        while self.servers:
            command, proc = self.servers.pop()
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                output, _ = proc.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                output, _ = proc.communicate()
                raise AssertionError(
                    f"{command}: still running 30 s after SIGTERM\n{output[-3000:]}"
                ) from None
            assert "Traceback" not in output, f"{command}\n{output[-3000:]}"

    def run_blocks(self, blocks: list[list[str]]) -> None:
        for block in blocks:
            if any(runs_kgrec(c) for c in block):
                self.stop()
            for command in block:
                if serves_until_stopped(command):
                    self.start(command)
                elif command.startswith("curl "):
                    check_graphql_answer(command, self.run(command).stdout)
                else:
                    self.run(command)
        self.stop()


def check_graphql_answer(command: str, stdout: str) -> None:
    """A README query must get an answer, not an error (every field it asks for, each not null)."""
    reply = json.loads(stdout)
    assert not reply.get("errors"), f"{command}\n{reply['errors']}"
    assert reply["data"] and all(v is not None for v in reply["data"].values()), f"{command}\n{reply}"


@pytest.fixture
def scratch(tmp_path: Path) -> Iterator[Scratch]:
    if not (SHARED / "data" / "amazon-beauty").is_dir():
        unavailable(f"{SHARED / 'data' / 'amazon-beauty'} is not there: the README's examples load it")
    root = tmp_path / "repo"
    root.mkdir()
    (tmp_path / "shared").symlink_to(SHARED)
    venv = ROOT / ".venv"
    if (venv / "bin" / "kgrec").exists():
        (root / ".venv").symlink_to(venv)
    else:  # a checkout without its .venv (a worktree): the same command through this interpreter
        shim = root / ".venv" / "bin" / "kgrec"
        shim.parent.mkdir(parents=True)
        shim.write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} -m kgrec "$@"\n')
        shim.chmod(0o755)
    # a user's shell: none of this machine's kgrec or Neo4j settings, and this checkout's code on the path
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KGREC_", "NEO4J_"))}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])
    s = Scratch(root, env)
    try:
        yield s
    finally:
        for _, proc in s.servers:
            os.killpg(proc.pid, signal.SIGKILL)
        print("\n".join(s.log))


def test_the_readme_has_examples_to_run() -> None:
    blocks = examples(neo4j=False) + examples(neo4j=True)
    commands = [c for b in blocks for c in b if runs_kgrec(c)]
    assert len(commands) >= 15, commands
    assert any(serves_until_stopped(c) for c in commands)
    assert not [c for c in commands if c.endswith("\\")], "a continuation was not joined"


@pytest.mark.slow
def test_readme_examples_run_as_written(scratch: Scratch) -> None:
    scratch.run_blocks(examples(neo4j=False))
    # what they said they would leave behind
    for made in (
        "var/store",
        "var/edges",
        "var/complement.npz",
        "var/registry/PROMOTED",
        "var/report/report.md",
    ):
        assert (scratch.root / made).exists(), made


@pytest.mark.slow
@pytest.mark.neo4j
def test_readme_neo4j_examples_run_as_written(scratch: Scratch, tmp_path: Path) -> None:
    from graph.neo4j import server

    missing = server.missing_tools()
    if missing:
        unavailable(f"the README's Neo4j examples need {' and '.join(missing)}")
    # a server of our own: its data home, ports and password file here, its jars from the shared cache
    scratch.env |= {
        "KGREC_NEO4J_DATA": str(tmp_path / "neo4j-data"),
        "KGREC_NEO4J_BOLT_PORT": str(free_port()),
        "KGREC_NEO4J_HTTP_PORT": str(free_port()),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
    }
    if "KGREC_CACHE" in os.environ:
        scratch.env["KGREC_CACHE"] = os.environ["KGREC_CACHE"]
    scratch.run(
        ".venv/bin/kgrec load --store local:var/store --meta ../shared/data/amazon-beauty/meta_Beauty.json.gz "
        "--reviews ../shared/data/amazon-beauty/reviews_Beauty_5.json.gz"
    )  # what `neo4j import --from-store local:var/store` reads: the examples before them loaded it
    try:
        scratch.run_blocks(examples(neo4j=True))
    finally:
        subprocess.run(
            ["bash", "-c", ".venv/bin/kgrec neo4j stop"], cwd=scratch.root, env=scratch.env, timeout=120
        )
