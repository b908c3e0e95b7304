"""The serving settings: one typed dataclass, read from defaults, then a TOML file, then ``KGREC_*`` variables.

Later sources win (defaults < TOML < environment < command-line flags; graph/settings.py reads them), so a
deployment can keep a checked-in TOML file and override one value per environment. Secrets never come from the
file: API keys are read from ``KGREC_API_KEYS`` only (``"key1:merchandiser,key2:reader"``), and the customer
token secret from ``KGREC_CUSTOMER_TOKEN_SECRET`` only, so a config file can be committed safely. README.md's configuration table is made from these declarations (a test keeps it so).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from graph.settings import (
    ENV_PREFIX,
    SettingsError,
    load,
    setting,
    to_bool,
    to_float,
    to_int,
    to_optional_path,
    to_str,
    to_str_tuple,
)
from graph.stores import default_store

ROLES = ("merchandiser", "frontend", "reader")
MIN_SECRET = 32


def parse_api_keys(value: str | Mapping[str, str]) -> dict[str, str]:
    """``"key1:merchandiser,key2:reader"`` (or a mapping) -> ``{key: role}``; an unknown role is an error, not a
    silent reader."""
    items = (
        value.items() if isinstance(value, Mapping) else (_key_role(i) for i in value.split(",") if i.strip())
    )
    keys: dict[str, str] = {}
    for key, role in items:
        if role not in ROLES:
            raise ValueError(f"unknown role {role!r}; roles are {ROLES}")
        keys[key] = role
    return keys


def _key_role(item: str) -> tuple[str, str]:
    key, sep, role = item.strip().rpartition(":")
    if not sep or not key:
        raise ValueError("entries are KEY:ROLE, got one without a role")
    return key, role


@dataclass(frozen=True)
class Settings:
    """Everything the server reads at start; field names are the TOML keys and, upper-cased, the env names."""

    store: str = setting(
        default_factory=default_store, cast=to_str, help="the graph: local:DIR, neo4j, or a Neo4j URI"
    )
    registry: Path | None = setting(
        None,
        cast=to_optional_path,
        help="model registry folder; its PROMOTED model serves (unset: the graph's observed lists)",
    )
    host: str = setting("127.0.0.1", cast=to_str, help="address to listen on")
    port: int = setting(8000, cast=to_int, help="port to listen on")
    api_keys: Mapping[str, str] = setting(
        default_factory=dict,
        cast=parse_api_keys,
        secret=True,
        repr=False,
        help="roles by API key, `key:role,...` (roles: merchandiser, frontend, reader)",
    )
    queries_need_key: bool = setting(False, cast=to_bool, help="queries also need a key (any role)")
    customer_token_secret: str | None = setting(
        None,
        cast=to_str,
        secret=True,
        repr=False,
        help="signs customer tokens: with one, recommendations(customerId:) also takes the customer's "
        "customerToken (unset: only a frontend or merchandiser key; 32 characters at least)",
    )
    cors_origins: tuple[str, ...] = setting(
        (), cast=to_str_tuple, help="origins allowed to call the API from a browser (comma-separated)"
    )
    graphiql: bool = setting(True, cast=to_bool, help="serve GraphiQL to browsers at /graphql")
    # limits
    max_k: int = setting(
        100, cast=to_int, help="the largest k, and most ids, one field may ask for (1..1000)"
    )
    max_depth: int = setting(8, cast=to_int, help="the deepest query nesting accepted")
    max_aliases: int = setting(15, cast=to_int, help="the most aliases one query may use")
    max_tokens: int = setting(2000, cast=to_int, help="the most tokens one query may have")
    max_batch: int = setting(10, cast=to_int, help="the most operations in one batched request")
    max_body_bytes: int = setting(
        65_536, cast=to_int, help="larger request bodies are refused (413) before they are parsed"
    )
    max_cost: int = setting(5000, cast=to_int, help="the highest estimated cost of one query")
    # background refreshes
    bundle_exclude_similar: int = setting(
        0,
        cast=to_int,
        help=(
            "a bundle also leaves out the product's top N similar products at serving, the observed lists' too "
            "(0: off; a model's lists already push down the number its run chose); merchandisers' pins stay"
        ),
    )
    reload_interval_s: float = setting(2.0, cast=to_float, help="how often PROMOTED is polled (seconds)")
    rules_interval_s: float = setting(
        3.0,
        cast=to_float,
        help="how often the store's rules are re-read (seconds; changes show within ~2x this)",
    )
    # sessions (in memory, per process)
    max_sessions: int = setting(
        100_000, cast=to_int, help="sessions kept at most (least recently used dropped)"
    )
    session_ttl_s: float = setting(
        1800.0, cast=to_float, help="a session idle this long is forgotten (seconds)"
    )
    session_recent: int = setting(
        10, cast=to_int, help="how many recent events seed a session's recommendations"
    )
    session_walks: bool = setting(
        True,
        cast=to_bool,
        help="Pixie walks from the session's items (false: its items' lists only; less memory)",
    )
    fallback_dim: int = setting(
        32, cast=to_int, help="with no promoted model: dimension of the random-projection embeddings"
    )
    graceful_shutdown_s: float = setting(
        10.0, cast=to_float, help="on SIGTERM, how long in-flight requests may take to finish (seconds)"
    )
    response_cache_size: int = setting(
        20_000, cast=to_int, help="finished answers of pure queries kept (0: every request executes)"
    )
    fast_path: bool = setting(
        True, cast=to_bool, help="answer the hot read queries without graphql-core's per-field execution"
    )
    # rate limits on /graphql (api/ratelimit.py): token buckets, requests per second and burst; 0 rps: no limit.
    # Off by default: behind a load balancer every request comes from its address unless FORWARDED_ALLOW_IPS
    # trusts it, so only a deployment knows which address limit means "one client".
    rate_limit_key_rps: float = setting(
        0.0, cast=to_float, help="requests per second per valid API key (0: no limit)"
    )
    rate_limit_key_burst: int = setting(100, cast=to_int, help="burst per valid API key")
    rate_limit_address_rps: float = setting(
        0.0, cast=to_float, help="requests per second per client address (0: no limit)"
    )
    rate_limit_address_burst: int = setting(50, cast=to_int, help="burst per client address")
    rate_limit_clients: int = setting(
        100_000, cast=to_int, help="client addresses tracked at most (the least recently seen dropped)"
    )


def load_settings(
    config: Path | None = None, env: Mapping[str, str] | None = None, **overrides: Any
) -> Settings:
    """Defaults, then `config` (or ``KGREC_CONFIG``), then ``KGREC_*`` from `env`, then non-None `overrides`."""
    env = os.environ if env is None else env
    if config is None and env.get(f"{ENV_PREFIX}CONFIG"):
        config = Path(env[f"{ENV_PREFIX}CONFIG"])
    settings = load(Settings, config, env, overrides=overrides)
    _validate(settings)
    return settings


def _validate(settings: Settings) -> None:
    """What no single cast can check: ranges, and pairs of settings that only make sense together."""
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
    secret = settings.customer_token_secret
    if secret is not None and len(secret) < MIN_SECRET:
        # one token and an offline search would give a short secret away, and with it every customer's history
        raise SettingsError(f"customer_token_secret must have {MIN_SECRET} characters at least")
    if settings.rate_limit_clients < 1:
        raise SettingsError(f"rate_limit_clients must be >= 1, not {settings.rate_limit_clients}")
