"""How clients reach the graph: (uri, user, password) from the environment or the local server, and a ping.

NEO4J_URI / NEO4J_USER / NEO4J_PASSWORD win where they are set; otherwise the local server's Bolt address
(:class:`~graph.neo4j.config.ServerConfig`) and the password its first start stored (:func:`password_file`).
"""

from __future__ import annotations

import os
from pathlib import Path

import neo4j
from neo4j.exceptions import ServiceUnavailable

from graph.neo4j.config import ServerConfig

DEFAULT_USER = "neo4j"


def password_file() -> Path:
    """Where the local server's password is kept for its clients: one file per user, mode 600."""
    config = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config").expanduser()
    return config / "kgrec" / "neo4j-password"


def stored_password() -> str | None:
    """The password the first local start stored, None before that."""
    try:
        return password_file().read_text().strip() or None
    except FileNotFoundError:
        return None


def save_password(password: str) -> None:
    """Keep `password` for the clients of the local server (:func:`connection` reads it back)."""
    path = password_file()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    # Created 600 from the start: a chmod after writing would leave a window where others can read it.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(password + "\n")
    os.chmod(path, 0o600)


def connection() -> tuple[str, str, str]:
    """(uri, user, password) for the graph: NEO4J_URI/NEO4J_USER/NEO4J_PASSWORD win, else the local server's.

    The password is "" when neither the environment nor a stored password (written by the first local start)
    provides one.
    """
    cfg = ServerConfig.from_env()
    uri = os.environ.get("NEO4J_URI") or cfg.bolt_uri
    user = os.environ.get("NEO4J_USER") or DEFAULT_USER
    password = os.environ.get("NEO4J_PASSWORD") or stored_password() or ""
    return uri, user, password


def ping(uri: str, user: str, password: str, timeout: float = 5.0) -> bool:
    """True when a server answers at `uri` and accepts the credentials, False when nothing answers.

    Wrong credentials raise ``neo4j.exceptions.AuthError``: something is there, and guessing on would only lock
    the account (Neo4j locks a user for a while after three failed logins).
    """
    with neo4j.GraphDatabase.driver(uri, auth=(user, password), connection_timeout=timeout) as driver:
        try:
            driver.verify_connectivity()
        except (ServiceUnavailable, OSError):
            return False
    return True
