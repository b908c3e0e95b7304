"""Where the project's local Neo4j server lives and how it listens: :class:`ServerConfig`, read from the environment.

Environment: KGREC_CACHE (``~/.cache/kgrec``), KGREC_NEO4J_DATA (``${KGREC_CACHE}/neo4j-data``),
KGREC_NEO4J_BOLT_PORT (7687), KGREC_NEO4J_HTTP_PORT (7474), KGREC_NEO4J_HEAP (2g), KGREC_NEO4J_PAGECACHE (1g),
KGREC_NEO4J_VERSION. Its own module because the server launcher and the clients' connection both read it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

# The newest 5.26 LTS patch on Maven Central when this was written.
NEO4J_VERSION = "5.26.30"


@dataclass(frozen=True)
class ServerConfig:
    """Where the local server lives and how it listens; :meth:`from_env` is the one way to build it."""

    version: str
    install_dir: Path
    data_home: Path
    bolt_port: int
    http_port: int
    heap: str
    page_cache: str

    @classmethod
    def from_env(cls) -> ServerConfig:
        # Absolute: the JVM runs with the data home as cwd, and the pid check compares its --config-dir.
        cache = (
            Path(os.environ.get("KGREC_CACHE") or Path.home() / ".cache" / "kgrec").expanduser().absolute()
        )
        version = os.environ.get("KGREC_NEO4J_VERSION") or NEO4J_VERSION
        return cls(
            version=version,
            install_dir=cache / f"neo4j-{version}",
            data_home=Path(os.environ.get("KGREC_NEO4J_DATA") or cache / "neo4j-data")
            .expanduser()
            .absolute(),
            bolt_port=int(os.environ.get("KGREC_NEO4J_BOLT_PORT") or 7687),
            http_port=int(os.environ.get("KGREC_NEO4J_HTTP_PORT") or 7474),
            heap=os.environ.get("KGREC_NEO4J_HEAP") or "2g",
            page_cache=os.environ.get("KGREC_NEO4J_PAGECACHE") or "1g",
        )

    @property
    def conf_dir(self) -> Path:
        return self.data_home / "conf"

    @property
    def logs_dir(self) -> Path:
        return self.data_home / "logs"

    @property
    def pid_file(self) -> Path:
        return self.data_home / "run" / "neo4j.pid"

    @property
    def bolt_uri(self) -> str:
        return f"bolt://127.0.0.1:{self.bolt_port}"

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def browser_url(self) -> str:
        return f"{self.http_url}/browser/"
