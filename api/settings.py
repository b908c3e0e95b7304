"""The serving settings: one typed dataclass, read from defaults, then a TOML file, then ``KGREC_*`` variables.

Later sources win (defaults < TOML < environment < command-line flags), so a deployment can keep a checked-in
TOML file and override one value per environment. Secrets never come from the file: API keys are read from
``KGREC_API_KEYS`` only (``"key1:merchandiser,key2:reader"``), so a config file can be committed safely.
"""

from __future__ import annotations

import dataclasses
import math
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from graph.store import default_store

ROLES = ("merchandiser", "frontend", "reader")
ENV_PREFIX = "KGREC_"


class SettingsError(ValueError):
    """A setting that cannot be read; the message names the source and the key."""


@dataclass(frozen=True)
class Settings:
    """Everything the server reads at start; field names are the TOML keys and, upper-cased, the env names."""

    store: str = field(default_factory=default_store)  # KGREC_STORE: local:DIR, neo4j, or a Neo4j URI
    registry: Path | None = None  # None: serve the snapshot's observed lists until a registry is configured
    host: str = "127.0.0.1"
    port: int = 8000
    # roles by API key; from the environment only (see the module docstring)
    api_keys: Mapping[str, str] = field(default_factory=dict, repr=False)
    queries_need_key: bool = False  # True: queries also need a key (any role)
    cors_origins: tuple[str, ...] = ()
    graphiql: bool = True
    # limits
    max_k: int = 100
    max_depth: int = 8
    max_aliases: int = 15
    max_tokens: int = 2000
    max_batch: int = 10
    max_body_bytes: int = 65_536  # larger request bodies are refused (413) before they are parsed
    max_cost: int = 5000
    # background refreshes
    reload_interval_s: float = 2.0  # how often PROMOTED is polled
    rules_interval_s: float = 3.0  # how often the store's rules are re-read (changes show within ~2x this)
    # sessions (in memory, per process)
    max_sessions: int = 100_000
    session_ttl_s: float = 1800.0
    session_recent: int = 10  # how many recent events seed a session's recommendations
    session_walks: bool = (
        True  # Pixie walks from the session's items (False: its items' lists only; less memory)
    )
    # the fallback index (no promoted model): dimension of the random-projection embeddings
    fallback_dim: int = 32
    graceful_shutdown_s: float = 10.0
    # finished answers of pure queries kept (api/caches.py); 0: every request executes
    response_cache_size: int = 20_000
    # answer the hot read queries without graphql-core's per-field execution (api/fastpath.py); same answers
    fast_path: bool = True
    # rate limits on /graphql (api/ratelimit.py): token buckets, requests per second and burst; 0 rps: no limit.
    # Off by default: behind a load balancer every request comes from its address unless FORWARDED_ALLOW_IPS
    # trusts it, so only a deployment knows which address limit means "one client".
    rate_limit_key_rps: float = 0.0  # per valid API key
    rate_limit_key_burst: int = 100
    rate_limit_address_rps: float = 0.0  # per client address
    rate_limit_address_burst: int = 50
    rate_limit_clients: int = 100_000  # client addresses tracked at most (the least recently seen dropped)


_FIELDS = {f.name: f for f in dataclasses.fields(Settings)}
_SECRET = {"api_keys"}


def _coerce(name: str, value: Any, source: str) -> Any:
    """Turn a TOML value or an env string into the field's type; the error names where the bad value came from."""
    kind = _FIELDS[name].type
    try:
        if kind == "bool":
            if isinstance(value, bool):
                return value
            low = str(value).strip().lower()
            if low in ("1", "true", "yes", "on"):
                return True
            if low in ("0", "false", "no", "off"):
                return False
            raise ValueError(f"not a boolean: {value!r}")
        if kind == "int":
            if isinstance(value, bool):
                raise ValueError(f"not an integer: {value!r}")
            return int(value)
        if kind == "float":
            return float(value)
        if kind == "Path | None":
            return Path(value).expanduser() if value not in (None, "") else None
        if kind == "tuple[str, ...]":
            items = value if isinstance(value, list) else str(value).split(",")
            return tuple(str(v).strip() for v in items if str(v).strip())
        return str(value)
    except (TypeError, ValueError) as e:
        raise SettingsError(f"{source}: bad value for {name}: {e}") from e


def parse_api_keys(text: str) -> dict[str, str]:
    """``"key1:merchandiser,key2:reader"`` -> ``{key: role}``; an unknown role is an error, not a silent reader."""
    keys: dict[str, str] = {}
    for item in text.split(","):
        item = item.strip()
        if not item:
            continue
        key, sep, role = item.rpartition(":")
        if not sep or not key:
            raise SettingsError(f"{ENV_PREFIX}API_KEYS: entries are KEY:ROLE, got one without a role")
        if role not in ROLES:
            raise SettingsError(f"{ENV_PREFIX}API_KEYS: unknown role {role!r}; roles are {ROLES}")
        keys[key] = role
    return keys


def load_settings(
    config: Path | None = None, env: Mapping[str, str] | None = None, **overrides: Any
) -> Settings:
    """Defaults, then `config` (or ``KGREC_CONFIG``), then ``KGREC_*`` from `env`, then non-None `overrides`."""
    env = os.environ if env is None else env
    values: dict[str, Any] = {}
    config = config or (Path(env[f"{ENV_PREFIX}CONFIG"]) if env.get(f"{ENV_PREFIX}CONFIG") else None)
    if config is not None:
        try:
            with open(config, "rb") as f:
                table = tomllib.load(f)
        except (OSError, tomllib.TOMLDecodeError) as e:
            raise SettingsError(f"cannot read config {config}: {e}") from e
        for name, value in table.items():
            if name in _SECRET:
                raise SettingsError(
                    f"{config}: {name} is a secret; set {ENV_PREFIX}API_KEYS in the environment"
                )
            if name not in _FIELDS:
                raise SettingsError(f"{config}: unknown setting {name!r}; known: {sorted(_FIELDS)}")
            values[name] = _coerce(name, value, str(config))
    for name in _FIELDS:
        var = ENV_PREFIX + name.upper()
        if var in env and name not in _SECRET:
            values[name] = _coerce(name, env[var], var)
    if env.get(f"{ENV_PREFIX}API_KEYS"):
        values["api_keys"] = parse_api_keys(env[f"{ENV_PREFIX}API_KEYS"])
    for name, value in overrides.items():
        if name not in _FIELDS:
            raise SettingsError(f"unknown setting {name!r}")
        if value is not None:
            values[name] = _coerce(name, value, "command line") if name != "api_keys" else value
    settings = Settings(**values)
    if not 1 <= settings.max_k <= 1000:
        raise SettingsError(f"max_k must be within 1..1000, not {settings.max_k}")
    for scope in ("key", "address"):
        rps, burst = (
            getattr(settings, f"rate_limit_{scope}_rps"),
            getattr(settings, f"rate_limit_{scope}_burst"),
        )
        if not (rps >= 0 and math.isfinite(rps)) or burst < 1:
            raise SettingsError(
                f"rate_limit_{scope}: need rps >= 0 (0: no limit) and burst >= 1, not {rps}, {burst}"
            )
    if settings.rate_limit_clients < 1:
        raise SettingsError(f"rate_limit_clients must be >= 1, not {settings.rate_limit_clients}")
    return settings
