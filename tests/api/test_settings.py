"""Settings: defaults < TOML < KGREC_* environment < flags; API keys only from the environment."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from api.auth import Authenticator
from api.settings import load_settings
from graph.settings import SettingsError
from tests.api.server import start_server, stop_server


def test_precedence(tmp_path: Path) -> None:
    config = tmp_path / "kgrec.toml"
    config.write_text(
        'port = 9000\nmax_k = 50\ncors_origins = ["https://shop.example"]\nqueries_need_key = true\n'
    )
    env = {
        "KGREC_PORT": "9100",
        "KGREC_RULES_INTERVAL_S": "1.5",
        "KGREC_API_KEYS": "k1:merchandiser, k2:reader",
    }
    s = load_settings(config, env=env, port=9200)
    assert s.port == 9200  # the flag beats the environment, which beats the file
    assert s.max_k == 50 and s.rules_interval_s == 1.5 and s.queries_need_key is True
    assert s.cors_origins == ("https://shop.example",)
    assert dict(s.api_keys) == {"k1": "merchandiser", "k2": "reader"}
    assert "k1" not in repr(s)  # keys never reach a log line through the settings' repr


def test_config_from_env_variable(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text("max_depth = 4\n")
    assert load_settings(env={"KGREC_CONFIG": str(config)}).max_depth == 4


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('api_keys = "a:merchandiser"\n', "api_keys is a secret"),
        ("max_kk = 3\n", "unknown setting 'max_kk'"),
        ('port = "eighty"\n', "bad value for port"),
        ("max_k = 0\n", "max_k must be within 1..1000"),
    ],
)
def test_bad_config_is_refused_clearly(tmp_path: Path, text: str, message: str) -> None:
    config = tmp_path / "bad.toml"
    config.write_text(text)
    with pytest.raises(SettingsError, match=message):
        load_settings(config, env={})


@pytest.mark.parametrize(
    ("value", "message"), [("k1", "entries are KEY:ROLE"), ("k1:admin", "unknown role 'admin'")]
)
def test_bad_api_keys(value: str, message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        load_settings(env={"KGREC_API_KEYS": value})


def test_key_headers() -> None:
    auth = Authenticator({"secret-1": "merchandiser", "secret-2": "reader"})
    assert auth.caller({"x-api-key": "secret-1"}).role == "merchandiser"
    assert auth.caller({"authorization": "Bearer secret-2"}).role == "reader"
    assert auth.caller({"authorization": "Basic secret-2"}).presented is False
    wrong = auth.caller({"x-api-key": "secret-3"})
    assert wrong.role is None and wrong.presented is True


def test_cors_is_configurable(tmp_path: Path) -> None:
    """Over HTTP to the real server: a preflight from an allowed origin is answered, and so is its POST; another
    origin gets no CORS headers (so a browser there cannot read the answer)."""
    server = start_server(tmp_path, extra_env={"KGREC_CORS_ORIGINS": "https://shop.example"})
    try:

        def preflight(origin: str) -> httpx.Response:
            return httpx.options(
                server.url + "/graphql",
                headers={
                    "Origin": origin,
                    "Access-Control-Request-Method": "POST",
                    "Access-Control-Request-Headers": "x-api-key",
                },
                timeout=10,
            )

        allowed = preflight("https://shop.example")
        assert allowed.status_code == 200
        assert allowed.headers["access-control-allow-origin"] == "https://shop.example"
        assert "x-api-key" in allowed.headers["access-control-allow-headers"].lower()
        refused = preflight("https://evil.example")
        assert "access-control-allow-origin" not in refused.headers
        post = httpx.post(
            server.url + "/graphql",
            json={"query": "{ ping }"},
            headers={"Origin": "https://shop.example"},
            timeout=10,
        )
        assert post.json() == {"data": {"ping": "pong"}}
        assert post.headers["access-control-allow-origin"] == "https://shop.example"
    finally:
        stop_server(server)
