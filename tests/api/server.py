"""The real server as a subprocess (`python -m kgrec serve`) over the fixture graph, and an HTTP client for it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from gnn.registry import Registry, ServingArtifact
from tests.api import fixture_graph as fg

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    url: str
    store_dir: Path
    registry: Registry
    process: subprocess.Popen[bytes]
    log: Path

    def gql(
        self, query: str, variables: dict[str, Any] | None = None, key: str | None = None
    ) -> dict[str, Any]:
        """POST one operation; returns the decoded JSON body (asserting HTTP 200)."""
        headers = {"X-API-Key": key} if key else {}
        r = httpx.post(
            self.url + "/graphql", json={"query": query, "variables": variables}, headers=headers, timeout=10
        )
        assert r.status_code == 200, r.text
        return r.json()

    def data(
        self, query: str, variables: dict[str, Any] | None = None, key: str | None = None
    ) -> dict[str, Any]:
        """The `data` of an operation that must succeed."""
        body = self.gql(query, variables, key)
        assert "errors" not in body, body["errors"]
        return body["data"]

    def ready(self) -> dict[str, Any]:
        return httpx.get(self.url + "/readyz", timeout=5).json()

    def wait_for_rules_read(self) -> None:
        """Return once a whole read of the store's rules has begun and ended after this call began.

        /readyz counts the server's successful reads (api/rules.py). A read may be under way when we look (it may
        have read the store before the change the caller made), but reads take turns, so the second one counted
        after the look began after it. No deadline: a refresh that never comes is a hang, for pytest-timeout.
        """
        seen = self.ready()["rules"]["reads"]
        while self.ready()["rules"]["reads"] < seen + 2:
            time.sleep(0.05)


def start_server(
    tmp: Path,
    promote_v1: bool = True,
    extra_env: dict[str, str] | None = None,
    art: ServingArtifact | None = None,
) -> Server:
    """The fixture graph served with run v1 promoted (the fixture's model, or `art`), unless not `promote_v1`."""
    store_dir, reg_dir = tmp / "store", tmp / "registry"
    fg.write_store(store_dir)
    registry = Registry(reg_dir)
    if promote_v1:
        fg.add_run(registry, "v1", art if art is not None else fg.artifact())
    config = tmp / "kgrec.toml"
    config.write_text(
        "max_depth = 6\nmax_aliases = 5\nmax_cost = 3000\nmax_batch = 3\nrules_interval_s = 0.5\n"
    )
    port = free_port()
    env = {
        **os.environ,
        "KGREC_API_KEYS": ",".join(f"{k}:{role}" for k, role in fg.API_KEYS.items()),
        "KGREC_CUSTOMER_TOKEN_SECRET": fg.CUSTOMER_TOKEN_SECRET,
        "KGREC_RELOAD_INTERVAL_S": "0.2",
        **(extra_env or {}),
    }
    log = tmp / "server.log"
    cmd = [
        sys.executable,
        "-m",
        "kgrec",
        "-v",
        "serve",
        "--store",
        f"local:{store_dir}",
        "--registry",
        str(reg_dir),
    ]
    cmd += ["--port", str(port), "--config", str(config)]
    with open(log, "wb") as out:
        process = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    server = Server(f"http://127.0.0.1:{port}", store_dir, registry, process, log)
    wait_ready(server)
    return server


def wait_ready(server: Server) -> None:
    """Until /readyz answers 200; a server that exits first fails with its log. No deadline: a server that never
    gets ready is a hang, which pytest-timeout ends."""
    while True:
        if server.process.poll() is not None:
            raise RuntimeError(f"server exited with {server.process.returncode}:\n{server.log.read_text()}")
        try:
            if httpx.get(server.url + "/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)


def stop_server(server: Server) -> int:
    """SIGTERM, as an orchestrator stops it; returns the exit status."""
    if server.process.poll() is None:
        server.process.send_signal(signal.SIGTERM)
        try:
            server.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait()
    return server.process.returncode
