"""The REST runner's HTTP client: kept-alive loopback connections, reopened once; clear failures; proxies only
for other hosts (``runners._http``)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from pytest_savedmodel.runners._http import HttpClient, HttpFailure, HttpTimeout, _loopback


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    connections: list[int] = []  # noqa: RUF012 - one list per server, set by the fixture
    close_silently = False
    delay = 0.0

    def log_message(self, format: str, *args: Any) -> None:
        return

    def setup(self) -> None:
        super().setup()
        self.connections.append(id(self.connection))

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        time.sleep(self.delay)
        out = b'{"echo": %d}' % len(body)
        self.send_response(200)
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)
        # close without "Connection: close": the client finds out on its next request
        self.close_connection = self.close_silently


@pytest.fixture
def server() -> Iterator[tuple[str, type[_Handler]]]:
    handler = type("H", (_Handler,), {"connections": []})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", handler
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.mark.parametrize(("host", "loopback"), [
    ("127.0.0.1", True), ("127.0.0.53", True), ("localhost", True), ("::1", True),
    ("10.0.0.1", False), ("serving.example.com", False), ("", False), ("0.0.0.0", False),
])
def test_only_loopback_hosts_are_reached_directly(host: str, loopback: bool) -> None:
    assert _loopback(host) is loopback


def test_one_connection_is_kept_for_many_requests(server: tuple[str, type[_Handler]]) -> None:
    url, handler = server
    client = HttpClient()
    for n in (1, 10, 1000):
        assert client.request("POST", f"{url}/v1/x", body=b"a" * n, timeout=5) == (200, b'{"echo": %d}' % n)
    assert len(handler.connections) == 1
    client.close()


def test_a_connection_the_server_closed_is_reopened_once(server: tuple[str, type[_Handler]]) -> None:
    url, handler = server
    handler.close_silently = True
    client = HttpClient()
    for _ in range(3):
        assert client.request("POST", url, body=b"xy", timeout=5) == (200, b'{"echo": 2}')
    assert len(handler.connections) == 3


def test_no_answer_within_the_timeout_is_an_http_timeout(server: tuple[str, type[_Handler]]) -> None:
    url, handler = server
    handler.delay = 1.0
    start = time.monotonic()
    with pytest.raises(HttpTimeout, match=r"no answer within 0.2 s"):
        HttpClient().request("POST", url, body=b"", timeout=0.2)
    assert time.monotonic() - start < 0.9


def test_a_refused_connection_is_an_http_failure_naming_the_cause() -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(HttpFailure, match=r"ConnectionRefusedError: \[Errno 111\] Connection refused"):
        HttpClient().request("GET", f"http://127.0.0.1:{port}/v1/models/m", timeout=2)


def test_a_proxy_in_the_environment_does_not_stand_before_a_loopback_server(
        server: tuple[str, type[_Handler]], monkeypatch: pytest.MonkeyPatch) -> None:
    url, _ = server
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("http_proxy", "http://127.0.0.1:9")
    assert HttpClient().request("POST", url, body=b"abc", timeout=5) == (200, b'{"echo": 3}')


def test_other_hosts_go_through_requests(monkeypatch: pytest.MonkeyPatch) -> None:
    seen = []

    def fake(self: HttpClient, method: str, url: str, body: Any, headers: Any, timeout: Any) -> tuple[int, bytes]:
        seen.append((method, url))
        return 200, b"{}"

    monkeypatch.setattr(HttpClient, "_requests", fake)
    client = HttpClient()
    assert client.request("GET", "https://serving.example.com/v1/models/m", timeout=1) == (200, b"{}")
    assert client.request("GET", "http://10.1.2.3:8501/v1/models/m", timeout=1) == (200, b"{}")
    assert seen == [("GET", "https://serving.example.com/v1/models/m"), ("GET", "http://10.1.2.3:8501/v1/models/m")]


def test_one_client_serves_many_threads_each_on_its_own_connection(server: tuple[str, type[_Handler]]) -> None:
    """A runner shared by threads (benchmarks/run.py's pool): an http.client connection answers one request at a
    time, so each thread gets its own ("ResponseNotReady: Idle" when they shared one)."""
    from concurrent.futures import ThreadPoolExecutor

    url, handler = server
    client = HttpClient()
    with ThreadPoolExecutor(8) as pool:
        got = list(pool.map(lambda i: client.request("POST", url, body=b"x" * i, timeout=10), range(200)))
    assert got == [(200, b'{"echo": %d}' % i) for i in range(200)]
    assert 1 < len(handler.connections) <= 8
    client.close()
