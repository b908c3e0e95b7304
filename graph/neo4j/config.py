"""Where the project's local Neo4j server lives and how it listens: :class:`ServerConfig`, from the environment.

What a user sets is :class:`ServerSettings`, read by the project's one settings loader (graph/settings.py) from
``KGREC_NEO4J_*`` variables (and ``KGREC_CACHE``); the README's table of them is made from the same declarations.
Its own module because the server launcher and the clients' connection both read it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from graph.settings import load, setting, to_int, to_optional_path, to_path, to_str

# The newest 5.26 LTS patch on Maven Central when this was written.
NEO4J_VERSION = "5.26.30"
ENV_PREFIX = "KGREC_NEO4J_"


@dataclass(frozen=True)
class ServerSettings:
    """The local server's settings as a user writes them (``KGREC_NEO4J_<NAME>``)."""

    cache: Path = setting(
        Path("~/.cache/kgrec"),
        cast=to_path,
        env="KGREC_CACHE",
        help="where the Neo4j jars are provisioned (and the data home by default)",
    )
    version: str = setting(NEO4J_VERSION, cast=to_str, help="the Neo4j 5.26 patch release to provision")
    data: Path | None = setting(
        None, cast=to_optional_path, help="the server's data home (unset: `neo4j-data` under the cache)"
    )
    bolt_port: int = setting(7687, cast=to_int, help="Bolt port, on 127.0.0.1")
    http_port: int = setting(7474, cast=to_int, help="HTTP port (Neo4j Browser), on 127.0.0.1")
    heap: str = setting("2g", cast=to_str, help="JVM heap (-Xms and -Xmx)")
    pagecache: str = setting("1g", cast=to_str, help="Neo4j page cache size")


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
        s = load(ServerSettings, prefix=ENV_PREFIX)
        # Absolute: the JVM runs with the data home as cwd, and the pid check compares its --config-dir.
        cache = s.cache.expanduser().absolute()
        return cls(
            version=s.version,
            install_dir=cache / f"neo4j-{s.version}",
            data_home=(s.data or cache / "neo4j-data").expanduser().absolute(),
            bolt_port=s.bolt_port,
            http_port=s.http_port,
            heap=s.heap,
            page_cache=s.pagecache,
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
