"""`kgrec serve`: the GraphQL API under uvicorn (uvloop, httptools, one worker per process).

One worker because sessions live in the process's memory; run replicas behind a load balancer with sticky
sessions to scale out. SIGTERM stops accepting connections, lets in-flight requests finish (up to
``graceful_shutdown_s``), and exits 0.
"""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from api.settings import Settings, load_settings
from graph.settings import SettingsError
from kgrec.options import add_registry, add_store

if TYPE_CHECKING:
    import uvicorn


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "serve",
        help="serve the GraphQL API (GraphiQL at /graphql, /healthz, /readyz, /metrics)",
        description=(
            "Serve recommendations over GraphQL from the promoted model in --registry (or the graph's observed "
            "lists until one is promoted). Settings: defaults < --config TOML (or KGREC_CONFIG) < KGREC_* "
            "environment variables < these flags. API keys only from KGREC_API_KEYS='key:role,...' "
            "(roles: merchandiser, frontend, reader)."
        ),
    )
    # None by default: the settings resolve them (a flag beats KGREC_STORE and the TOML file, an unset one does not)
    add_store(p, default=None, help="the graph (default: KGREC_STORE or local:var/store)")
    add_registry(p, default=None, help="model registry folder; its PROMOTED model is served and watched")
    p.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, help="port (default 8000)")
    p.add_argument("--config", type=Path, help="a TOML file of settings (README.md lists every key)")
    return p


def run(args: argparse.Namespace) -> int:
    try:
        settings = load_settings(
            args.config, store=args.store, registry=args.registry, host=args.host, port=args.port
        )
    except SettingsError as e:
        print(f"kgrec serve: {e}", file=sys.stderr)
        return 2
    server = make_server(settings)
    # uvicorn re-raises the signal it shut down on once it is done; answering that with a no-op turns a
    # completed graceful shutdown into exit status 0 instead of death by SIGTERM
    signal.signal(signal.SIGTERM, lambda signum, frame: None)
    server.run()
    return 0 if server.started else 1


def make_server(settings: Settings) -> uvicorn.Server:
    """The API of `settings` under uvicorn, not yet running: `run` serves it in the foreground, ``kgrec demo`` on
    a thread beside its own client (uvicorn installs signal handlers only on the main thread)."""
    import uvicorn

    from api.app import create_app

    config = uvicorn.Config(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        loop="uvloop",
        http="httptools",
        workers=1,
        lifespan="on",
        access_log=False,  # /metrics counts requests; a log line each would cost more than the request
        timeout_graceful_shutdown=int(settings.graceful_shutdown_s),
        log_level="warning",
    )
    return uvicorn.Server(config)
