"""A model artifact whose writing fails half-way (the writer killed, the disk full) harms nothing already there.

After each fault: every earlier run is listed and passes its checksums, no half-written run is under runs/
(only the hidden temporary folder of a killed writer, which nothing lists), PROMOTED is unchanged, and the
running server still serves the promoted model.
"""

from __future__ import annotations

import errno
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from gnn.registry import MANIFEST_FILE, SERVING_FILE, Registry
from tests.api import fixture_graph as fg
from tests.api.server import ROOT, Server

# Writes half of a serving artifact into the run's folder, says so, and waits there to be killed.
KILLED_WRITER = """
import sys
from pathlib import Path

from gnn.registry import Registry
from tests.api import fixture_graph as fg

def half(tmp: Path) -> None:
    fg.artifact().save(tmp / "whole.npz")
    data = (tmp / "whole.npz").read_bytes()
    (tmp / "whole.npz").unlink()
    with open(tmp / "serving.npz", "wb") as f:
        f.write(data[: len(data) // 2])
        f.flush()
        print("half written", flush=True)
        sys.stdin.read()

Registry(Path(sys.argv[1])).write_run(sys.argv[2], {"config": {}}, half)
"""


def state(registry: Registry) -> dict[str, Any]:
    """What must survive a failed write: each run's verified manifest, the run folders, the promoted run."""
    return {
        "manifests": {m["version"]: registry.verify(m["version"]) for m in registry.list()},
        "folders": sorted(p.name for p in registry.runs.iterdir() if not p.name.startswith(".")),
        "promoted": registry.promoted(),
    }


def assert_unharmed(server: Server, before: dict[str, Any]) -> None:
    registry = server.registry
    assert state(registry) == before  # verify() inside re-checks every file's sha256
    for version in before["folders"]:
        assert (registry.runs / version / MANIFEST_FILE).is_file()
    ready = server.ready()
    assert ready["model"]["version"] == before["promoted"] and ready["refused"] == {}
    assert server.data('{ bundle(productId: "C00", k: 3, diverse: false) { product { id } } }')["bundle"]


@pytest.fixture
def registry_state(served: Server) -> dict[str, Any]:
    if not (served.registry.runs / "v1-sibling").exists():  # more than one run to keep
        fg.add_run(served.registry, "v1-sibling", fg.artifact(reverse=True), promote=False)
    return state(served.registry)


def test_a_writer_killed_half_way_leaves_earlier_runs_intact(
    served: Server, registry_state: dict[str, Any]
) -> None:
    registry = served.registry
    cmd = [sys.executable, "-c", KILLED_WRITER, str(registry.root), "v-killed"]
    writer = subprocess.Popen(cmd, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert writer.stdout is not None
        assert writer.stdout.readline() == "half written\n"
        partial = registry.runs / ".tmp-v-killed" / SERVING_FILE
        assert partial.is_file()  # the kill below lands in the middle of the run's files
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.wait(timeout=10)
    assert writer.returncode == -signal.SIGKILL
    assert not (registry.runs / "v-killed").exists()
    assert_unharmed(served, registry_state)
    # writing the same version again starts from a clean folder and completes
    fg.add_run(registry, "v-killed", fg.artifact(), promote=False)
    assert registry.verify("v-killed")["files"].keys() == {SERVING_FILE}
    assert not (registry.runs / ".tmp-v-killed").exists()


def test_a_full_disk_half_way_leaves_earlier_runs_intact(
    served: Server, registry_state: dict[str, Any]
) -> None:
    def full_disk(tmp: Path) -> None:
        (tmp / SERVING_FILE).write_bytes(b"PK\x03\x04 the first bytes of a zip")
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp / SERVING_FILE))

    with pytest.raises(OSError) as raised:
        served.registry.write_run("v-enospc", {"config": {}}, full_disk)
    assert raised.value.errno == errno.ENOSPC  # the caller learns what happened, unwrapped
    assert sorted(p.name for p in served.registry.runs.iterdir() if "enospc" in p.name) == []  # temp gone too
    assert_unharmed(served, registry_state)
