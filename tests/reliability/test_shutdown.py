"""SIGTERM while serving: the requests in flight finish with their answers, new connections are refused, exit 0.

tests/api/test_reload.py checks the exit status of an idle server; here requests are caught half-sent (the
headers and part of the body are in when the signal lands), so the server must wait for them to finish.
"""

from __future__ import annotations

import json
import signal
import socket

import pytest

from tests.api.server import start_server, stop_server
from tests.reliability.support import wait_for

BODY = json.dumps({"query": '{ bundle(productId: "C00", k: 3, diverse: false) { product { id } } }'}).encode()
IN_FLIGHT = 4


def refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except ConnectionRefusedError:
        return True
    return False


def response(sock: socket.socket) -> tuple[int, dict]:
    """Read until the server closes the connection (it does after the last response of a shutdown)."""
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body)


def test_sigterm_lets_requests_in_flight_finish_then_exits_0(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    server = start_server(tmp_path_factory.mktemp("sigterm"))
    port = int(server.url.rsplit(":", 1)[1])
    head = (
        f"POST /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(BODY)}\r\n\r\n"
    ).encode()
    socks: list[socket.socket] = []
    try:
        for _ in range(IN_FLIGHT):
            socks.append(socket.create_connection(("127.0.0.1", port), timeout=20))
            socks[-1].sendall(head + BODY[:10])
        # a whole request answered after the partial ones were sent: the server has read their headers
        assert server.data("{ ping }") == {"ping": "pong"}
        server.process.send_signal(signal.SIGTERM)
        wait_for(lambda: refused(port), "the server to stop accepting connections")
        assert server.process.poll() is None, "exited with requests still in flight"
        for s in socks:
            s.sendall(BODY[10:])
        answers = [response(s) for s in socks]
        assert server.process.wait(timeout=20) == 0
    finally:
        for s in socks:
            s.close()
        stop_server(server)
    assert [status for status, _ in answers] == [200] * IN_FLIGHT
    assert all(len(body["data"]["bundle"]) == 3 for _, body in answers)
