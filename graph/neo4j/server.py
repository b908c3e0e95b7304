"""The project's own Neo4j Community 5.26 LTS server, provisioned from Maven Central and run without Docker.

    kgrec neo4j start|stop|status|password [-v]

Provisioning resolves ``org.neo4j:neo4j`` and the Neo4j Browser jar with Maven into
``${KGREC_CACHE:-~/.cache/kgrec}/neo4j-<version>/lib`` (jars stay cached in ``~/.m2``). The server itself is one
JVM running ``org.neo4j.server.CommunityEntryPoint`` directly: Neo4j's own launcher (``Neo4jCommand``) would fork
a second JVM, which makes the pid we hold the wrong one to signal.

Everything the server writes lives in the data home, ``${KGREC_NEO4J_DATA:-${KGREC_CACHE}/neo4j-data}``::

    conf/   neo4j.conf, server-logs.xml, user-logs.xml (rewritten on every start; the log4j2 files are this
            package's, graph/neo4j/*.xml)
    data/   databases, transactions, dbms/auth.ini
    logs/   neo4j.log, debug.log, console.log (the JVM's stdout and stderr)
    run/    neo4j.pid

Environment: NEO4J_PASSWORD (see :func:`graph.neo4j.connection.connection`), JAVA_HOME, and the server's own
settings (:class:`~graph.neo4j.config.ServerConfig`).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import neo4j
from neo4j.exceptions import (
    AuthError,
    DatabaseUnavailable,
    Neo4jError,
    ServiceUnavailable,
    SessionExpired,
)

from graph.neo4j.browser.guide import post_connect_cmd
from graph.neo4j.config import NEO4J_VERSION, ServerConfig
from graph.neo4j.connection import DEFAULT_USER, password_file, save_password, stored_password

# Named explicitly: under `python -m` __name__ is "__main__".
log = logging.getLogger("graph.neo4j.server")
HERE = Path(__file__).parent

# 5.24.0 is the newest Browser jar on Maven Central when this was written.
BROWSER_VERSION = "5.24.0"
# Maven 3.8's built-in default (2.8) predates Java 17; pin a current one so provisioning is reproducible.
DEPENDENCY_PLUGIN = "org.apache.maven.plugins:maven-dependency-plugin:3.8.1"
# Neo4j 5.26 runs on Java 17 or 21 only; Debian's OpenJDK 17 is preferred over newer JDKs installed beside it.
SUPPORTED_JAVA = (17, 21)
DEFAULT_JAVA_HOME = Path("/usr/lib/jvm/java-17-openjdk-amd64")
ENTRY_POINT = "org.neo4j.server.CommunityEntryPoint"

START_TIMEOUT_S = 180.0
STOP_TIMEOUT_S = 60.0
_MARKER = ".kgrec-provisioned"


class Neo4jServerError(RuntimeError):
    """Provisioning, starting or stopping the local server failed; the message says why and what to do."""


class ToolMissing(Neo4jServerError):
    """Java 17/21 or Maven is not installed, so the local server cannot be provisioned or run here."""


@dataclass(frozen=True)
class ServerStatus:
    """What `status` reports; `version` comes from the running server (None when it is not running)."""

    running: bool
    pid: int | None
    version: str | None
    bolt_uri: str
    browser_url: str


@dataclass(frozen=True)
class StartResult:
    status: ServerStatus
    already_running: bool
    # Set only when this start generated the password, so the caller can show it to the user once.
    generated_password: str | None


# ------------------------------------------------------------------------------------------------------- tools


def _java_major(java_home: Path) -> int | None:
    """The major version from the JDK's `release` file: reading it is instant, `java -version` takes a JVM start."""
    try:
        text = (java_home / "release").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("JAVA_VERSION="):
            version = line.split("=", 1)[1].strip().strip('"')
            head = version.split(".")[0]
            return int(head) if head.isdigit() else None
    return None


def java_home() -> Path:
    """A Java 17 or 21 home: JAVA_HOME when it is one, else Debian's OpenJDK 17, else the `java` on PATH."""
    candidates: list[Path] = []
    if os.environ.get("JAVA_HOME"):
        candidates.append(Path(os.environ["JAVA_HOME"]))
    candidates.append(DEFAULT_JAVA_HOME)
    on_path = shutil.which("java")
    if on_path:
        candidates.append(Path(os.path.realpath(on_path)).parent.parent)
    for home in candidates:
        if (home / "bin" / "java").is_file() and _java_major(home) in SUPPORTED_JAVA:
            return home
    tried = ", ".join(str(c) for c in candidates) or "none"
    raise ToolMissing(
        f"Neo4j {NEO4J_VERSION} needs Java 17 or 21 (tried: {tried}); install it, e.g. "
        "`apt-get install openjdk-17-jdk-headless`, or point JAVA_HOME at one"
    )


def missing_tools(config: ServerConfig | None = None) -> list[str]:
    """What this machine lacks to provision and run the local server; empty when it has everything."""
    cfg = config or ServerConfig.from_env()
    missing = []
    try:
        java_home()
    except ToolMissing:
        missing.append("Java 17 or 21")
    if not is_provisioned(cfg) and shutil.which("mvn") is None:
        missing.append("Maven (mvn)")
    return missing


# ---------------------------------------------------------------------------------------------------- provision


_POM = """\
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <!-- generated by kgrec graph/neo4j/server.py: only resolves the server's jars -->
  <modelVersion>4.0.0</modelVersion>
  <groupId>kgrec.local</groupId>
  <artifactId>neo4j-runtime</artifactId>
  <version>{version}</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.neo4j</groupId><artifactId>neo4j</artifactId><version>{version}</version></dependency>
    <dependency>
      <groupId>org.neo4j.client</groupId><artifactId>neo4j-browser</artifactId><version>{browser}</version>
    </dependency>
  </dependencies>
</project>
"""


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive lock across processes: the test fixture and a shell `start` may race."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def is_provisioned(config: ServerConfig | None = None) -> bool:
    cfg = config or ServerConfig.from_env()
    return (cfg.install_dir / _MARKER).is_file()


def provision(config: ServerConfig | None = None) -> Path:
    """Resolve the server's jars into the cache once; later calls return at once. Returns the install dir."""
    cfg = config or ServerConfig.from_env()
    if is_provisioned(cfg):
        return cfg.install_dir
    with _locked(cfg.install_dir.with_name(cfg.install_dir.name + ".lock")):
        if is_provisioned(cfg):
            return cfg.install_dir
        mvn = shutil.which("mvn")
        if mvn is None:
            raise ToolMissing("provisioning Neo4j needs Maven: install it (`apt-get install maven`)")
        jhome = java_home()
        # Build beside the target and rename at the end, so an interrupted run never looks provisioned.
        work = cfg.install_dir.with_name(cfg.install_dir.name + ".partial")
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        (work / "pom.xml").write_text(_POM.format(version=cfg.version, browser=BROWSER_VERSION))
        log.info("provisioning Neo4j %s from Maven Central into %s", cfg.version, cfg.install_dir)
        started = time.monotonic()
        cmd = [mvn, "-B", "-q", f"{DEPENDENCY_PLUGIN}:copy-dependencies", "-DoutputDirectory=lib"]
        env = {**os.environ, "JAVA_HOME": str(jhome)}
        proc = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True)
        if proc.returncode != 0:
            tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-30:])
            raise Neo4jServerError(f"`mvn copy-dependencies` failed for Neo4j {cfg.version}:\n{tail}")
        jars = sorted(p.name for p in (work / "lib").glob("*.jar"))
        for needed in (f"neo4j-{cfg.version}.jar", f"neo4j-browser-{BROWSER_VERSION}.jar"):
            if needed not in jars:
                raise Neo4jServerError(f"Maven resolved no {needed} into {work / 'lib'}")
        (work / _MARKER).write_text(
            json.dumps({"neo4j": cfg.version, "browser": BROWSER_VERSION, "jars": len(jars)}) + "\n"
        )
        shutil.rmtree(cfg.install_dir, ignore_errors=True)
        work.rename(cfg.install_dir)
        log.info("provisioned %d jars in %.0f s", len(jars), time.monotonic() - started)
        return cfg.install_dir


# ------------------------------------------------------------------------------------------------------ config


def write_config(config: ServerConfig | None = None) -> Path:
    """Write neo4j.conf and copy this package's log4j2 files into the data home's conf dir; returns the conf dir."""
    cfg = config or ServerConfig.from_env()
    home = cfg.data_home
    for sub in ("conf", "data", "logs", "run", "import", "plugins"):
        (home / sub).mkdir(parents=True, exist_ok=True)
    settings = {
        # Every directory is explicit: defaults resolve against the install dir, which stays read-only.
        "server.directories.data": home / "data",
        "server.directories.logs": home / "logs",
        "server.directories.run": home / "run",
        "server.directories.import": home / "import",
        "server.directories.plugins": home / "plugins",
        "server.directories.lib": cfg.install_dir / "lib",
        # The log configs default to <install>/conf/, not to --config-dir; without these Neo4j silently falls
        # back to its embedded defaults.
        "server.logs.config": cfg.conf_dir / "server-logs.xml",
        "server.logs.user.config": cfg.conf_dir / "user-logs.xml",
        "server.default_listen_address": "127.0.0.1",
        "server.default_advertised_address": "127.0.0.1",
        "server.bolt.listen_address": f":{cfg.bolt_port}",
        "server.http.listen_address": f":{cfg.http_port}",
        # Advertised ports do not follow the listen ports; Browser reads bolt_direct from the discovery
        # document and would try 7687 even when Bolt listens elsewhere.
        "server.bolt.advertised_address": f":{cfg.bolt_port}",
        "server.http.advertised_address": f":{cfg.http_port}",
        "server.https.enabled": "false",
        "dbms.security.auth_enabled": "true",
        # Heap is set on the java command line (-Xms/-Xmx); the entry point does not read server.memory.heap.*.
        "server.memory.pagecache.size": cfg.page_cache,
        # The dev machines have no internet; Neo4j would otherwise keep trying to send usage data.
        "dbms.usage_report.enabled": "false",
        # Browser runs this on connecting: the merchandisers' guide opens in its sidebar and the graph style loads,
        # both fetched from `kgrec neo4j guide` on localhost (graph/neo4j/browser/guide.py), which must be running.
        "browser.post_connect_cmd": post_connect_cmd(),
    }
    lines = ["# generated by kgrec graph/neo4j/server.py on every start: edits here are overwritten"]
    lines += [f"{key}={value}" for key, value in settings.items()]
    (cfg.conf_dir / "neo4j.conf").write_text("\n".join(lines) + "\n")
    for name in ("server-logs.xml", "user-logs.xml"):
        shutil.copyfile(HERE / name, cfg.conf_dir / name)
    return cfg.conf_dir


def _java_env(cfg: ServerConfig) -> dict[str, str]:
    return {**os.environ, "NEO4J_HOME": str(cfg.install_dir), "NEO4J_CONF": str(cfg.conf_dir)}


def _is_initialized(cfg: ServerConfig) -> bool:
    """The system database exists once the server has started; after that an initial password has no effect."""
    return (cfg.data_home / "data" / "databases" / "system").is_dir()


def _set_initial_password(cfg: ServerConfig, password: str) -> None:
    """`neo4j-admin dbms set-initial-password`, run through the admin tool's main class."""
    java = java_home() / "bin" / "java"
    cmd = [
        str(java),
        "-cp",
        str(cfg.install_dir / "lib" / "*"),
        "org.neo4j.cli.AdminTool",
        "dbms",
        "set-initial-password",
        password,
    ]
    proc = subprocess.run(cmd, env=_java_env(cfg), capture_output=True, text=True)
    if proc.returncode != 0:
        raise Neo4jServerError(f"set-initial-password failed:\n{proc.stdout}{proc.stderr}")


# ------------------------------------------------------------------------------------------------- processes


def _read_pid(cfg: ServerConfig) -> int | None:
    try:
        return int(cfg.pid_file.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None


def _reap(pid: int) -> None:
    """Collect our own child's exit status, or a stopped JVM started by this process lingers as a zombie."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def _alive(pid: int, cfg: ServerConfig) -> bool:
    """Whether `pid` is this data home's JVM (and not a recycled pid running something else)."""
    _reap(pid)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return False
    cmdline = Path(f"/proc/{pid}/cmdline")
    if not cmdline.exists():
        return True  # no procfs (macOS): the pid file is all we have
    try:
        args = cmdline.read_bytes().split(b"\0")
    except OSError:
        return False
    return ENTRY_POINT.encode() in args and f"--config-dir={cfg.conf_dir}".encode() in args


def _running_pid(cfg: ServerConfig) -> int | None:
    pid = _read_pid(cfg)
    return pid if pid is not None and _alive(pid, cfg) else None


def _port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _discovery(cfg: ServerConfig, timeout: float = 2.0) -> dict[str, str] | None:
    """Neo4j's HTTP discovery document (no auth needed): version, edition, the Bolt address Browser uses."""
    try:
        with urllib.request.urlopen(cfg.http_url + "/", timeout=timeout) as reply:
            return json.loads(reply.read())
    except (urllib.error.URLError, OSError, ValueError):
        return None


def _log_tail(cfg: ServerConfig, lines: int = 25) -> str:
    parts = []
    for name in ("console.log", "neo4j.log"):
        path = cfg.logs_dir / name
        if path.exists():
            text = path.read_text(errors="replace").splitlines()[-lines:]
            parts.append(f"--- {path} (last {len(text)} lines)\n" + "\n".join(text))
    return "\n".join(parts) or f"(no logs in {cfg.logs_dir})"


def _jvm_command(cfg: ServerConfig) -> list[str]:
    java = java_home() / "bin" / "java"
    return [
        str(java),
        f"-Xms{cfg.heap}",
        f"-Xmx{cfg.heap}",
        "-XX:+UseG1GC",
        "-XX:-OmitStackTraceInFastThrow",
        "-XX:+DisableExplicitGC",
        "-XX:+ExitOnOutOfMemoryError",
        "-Djdk.nio.maxCachedBufferSize=1024",
        "-Dlog4j2.disable.jmx=true",
        "-Dfile.encoding=UTF-8",
        # Neo4j's packaged neo4j.conf passes these through server.jvm.additional; without them Netty and the
        # page cache fall back to slower code paths or fail on Java 17's closed modules.
        "--add-opens=java.base/java.nio=ALL-UNNAMED",
        "--add-opens=java.base/java.io=ALL-UNNAMED",
        "--add-opens=java.base/sun.nio.ch=ALL-UNNAMED",
        "-Dio.netty.tryReflectionSetAccessible=true",
        "-cp",
        str(cfg.install_dir / "lib" / "*"),
        ENTRY_POINT,
        f"--home-dir={cfg.install_dir}",
        f"--config-dir={cfg.conf_dir}",
    ]


def status(config: ServerConfig | None = None) -> ServerStatus:
    """Whether this data home's server runs, by pid file and process check (it never starts anything)."""
    cfg = config or ServerConfig.from_env()
    pid = _running_pid(cfg)
    doc = _discovery(cfg) if pid is not None else None
    return ServerStatus(
        running=pid is not None,
        pid=pid,
        version=(doc or {}).get("neo4j_version"),
        bolt_uri=cfg.bolt_uri,
        browser_url=cfg.browser_url,
    )


def _wait_ready(
    cfg: ServerConfig, proc: subprocess.Popen[bytes], passwords: list[str], timeout: float
) -> str:
    """Wait for Bolt to accept one of `passwords` and for HTTP to serve; returns the password that worked."""
    deadline = time.monotonic() + timeout
    pending = list(passwords)
    while True:
        if proc.poll() is not None:
            raise Neo4jServerError(
                f"Neo4j exited with status {proc.returncode} while starting\n{_log_tail(cfg)}"
            )
        if time.monotonic() > deadline:
            raise Neo4jServerError(
                f"Neo4j did not answer on {cfg.bolt_uri} within {timeout:.0f} s\n{_log_tail(cfg)}"
            )
        try:
            with neo4j.GraphDatabase.driver(
                cfg.bolt_uri, auth=(DEFAULT_USER, pending[0]), connection_timeout=2.0
            ) as driver:
                driver.verify_connectivity()
            # Bolt comes up about a second before Jetty; Browser users and tests want both.
            if _discovery(cfg) is not None:
                return pending[0]
        except AuthError as exc:
            pending.pop(0)
            if not pending:
                raise Neo4jServerError(
                    f"Neo4j at {cfg.bolt_uri} refuses the password stored in {password_file()}"
                    " (and NEO4J_PASSWORD, if set). Set NEO4J_PASSWORD to the right one, or stop the server and"
                    f" delete {cfg.data_home / 'data'} to start over with an empty graph."
                ) from exc
            continue
        except (ServiceUnavailable, SessionExpired, DatabaseUnavailable, OSError):
            pass
        time.sleep(0.5)


def _rotate_password(cfg: ServerConfig, old: str, new: str) -> None:
    with neo4j.GraphDatabase.driver(cfg.bolt_uri, auth=(DEFAULT_USER, old)) as driver:
        driver.execute_query(
            "ALTER CURRENT USER SET PASSWORD FROM $old TO $new", old=old, new=new, database_="system"
        )


def start(config: ServerConfig | None = None, timeout: float = START_TIMEOUT_S) -> StartResult:
    """Provision if needed, then start the server in the background and wait until Bolt and HTTP answer."""
    cfg = config or ServerConfig.from_env()
    cfg.pid_file.parent.mkdir(parents=True, exist_ok=True)
    with _locked(cfg.pid_file.with_suffix(".lock")):
        if _running_pid(cfg) is not None:
            return StartResult(status(cfg), already_running=True, generated_password=None)
        for port in (cfg.bolt_port, cfg.http_port):
            if _port_open(port):
                raise Neo4jServerError(
                    f"port {port} on 127.0.0.1 is taken by another process (not this data home's Neo4j); "
                    "stop it, or choose ports with KGREC_NEO4J_BOLT_PORT / KGREC_NEO4J_HTTP_PORT"
                )
        provision(cfg)
        write_config(cfg)

        env_password = os.environ.get("NEO4J_PASSWORD") or None
        stored = stored_password()
        generated = None
        if not _is_initialized(cfg):
            server_password = env_password or stored
            if server_password is None:
                # URL-safe and long: Neo4j's minimum is 8 characters, and shells and URLs take it unquoted.
                # never a leading "-": the admin tool would read it as an option
                server_password = generated = "k" + secrets.token_urlsafe(18)
            _set_initial_password(cfg, server_password)
            save_password(server_password)
            stored = server_password
            candidates = [server_password]
        else:
            candidates = [p for p in dict.fromkeys([stored, env_password]) if p]
            if not candidates:
                raise Neo4jServerError(
                    f"{cfg.data_home / 'data'} already holds a database but no password is known: set NEO4J_PASSWORD,"
                    f" or delete {cfg.data_home / 'data'} to start over with an empty graph"
                )

        cfg.logs_dir.mkdir(parents=True, exist_ok=True)
        log.info("starting Neo4j %s (data home %s)", cfg.version, cfg.data_home)
        started = time.monotonic()
        # Truncated per start, so the tail shown on failure is this run's (neo4j.log keeps the history).
        with open(cfg.logs_dir / "console.log", "wb") as console:
            proc = subprocess.Popen(
                _jvm_command(cfg),
                cwd=cfg.data_home,
                env=_java_env(cfg),
                stdin=subprocess.DEVNULL,
                stdout=console,
                stderr=subprocess.STDOUT,
                # Its own session: a Ctrl-C meant for the caller (a shell, pytest) must not kill the server.
                start_new_session=True,
            )
        cfg.pid_file.write_text(f"{proc.pid}\n")
        try:
            working = _wait_ready(cfg, proc, candidates, timeout)
        except BaseException:
            _terminate(proc.pid, cfg, STOP_TIMEOUT_S)
            cfg.pid_file.unlink(missing_ok=True)
            raise
        log.info("Neo4j answered after %.1f s", time.monotonic() - started)

        if env_password and working != env_password:
            # NEO4J_PASSWORD is the truth where it is set (connection() uses it), so the server follows it.
            try:
                _rotate_password(cfg, working, env_password)
            except Neo4jError as exc:
                raise Neo4jServerError(
                    f"Neo4j is running (pid {proc.pid}) but refused NEO4J_PASSWORD as its new password: {exc}"
                ) from exc
            working = env_password
            log.info("changed the server's password to NEO4J_PASSWORD")
        if working != stored:
            save_password(working)
        return StartResult(status(cfg), already_running=False, generated_password=generated)


def _terminate(pid: int, cfg: ServerConfig, timeout: float) -> None:
    # SIGTERM runs Neo4j's shutdown hook (checkpoint, clean store); SIGKILL only when that hangs.
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while _alive(pid, cfg):
        if time.monotonic() > deadline:
            log.warning("Neo4j (pid %d) ignored SIGTERM for %.0f s; killing it", pid, timeout)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            while _alive(pid, cfg):
                time.sleep(0.1)
            return
        time.sleep(0.2)


def stop(config: ServerConfig | None = None, timeout: float = STOP_TIMEOUT_S) -> int | None:
    """Stop the server cleanly; returns the pid it stopped, None when it was not running."""
    cfg = config or ServerConfig.from_env()
    cfg.pid_file.parent.mkdir(parents=True, exist_ok=True)
    with _locked(cfg.pid_file.with_suffix(".lock")):
        pid = _running_pid(cfg)
        if pid is not None:
            log.info("stopping Neo4j (pid %d)", pid)
            _terminate(pid, cfg, timeout)
        cfg.pid_file.unlink(missing_ok=True)
        return pid
