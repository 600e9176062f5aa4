"""HTTP for the REST runner: a kept-alive ``http.client`` connection to a server on this machine.

The servers the plugin starts (the emulator, the real binary, Docker) listen on loopback, and each check makes
hundreds of calls to them: ``requests`` spends about 0.8 ms of Python per call on top of the socket work
(sessions, hooks, proxy lookups), one standard-library connection about 0.1 ms. A loopback server is always
reached directly, so a proxy set for the network (``HTTP_PROXY``) never stands in between.

Any other host (``--savedmodel-server=url:serving.example.com:8500,https://serving.example.com``) goes through
``requests`` as before: its proxies, certificate bundles and redirects are the user's environment's.
"""

from __future__ import annotations

import http.client
import ipaddress
import threading
import urllib.parse
from typing import Any

__all__ = ["HttpClient", "HttpFailure", "HttpTimeout"]


class HttpTimeout(Exception):
    """No answer within the timeout."""


class HttpFailure(Exception):
    """The request could not be made or answered (refused, reset, closed)."""


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class HttpClient:
    """``request(method, url, body, headers, timeout) -> (status, body bytes)``; one connection per loopback
    server and thread (an ``http.client`` connection serves one request at a time: a runner shared by threads
    keeps one for each), reopened once when a kept-alive connection turns out closed."""

    def __init__(self) -> None:
        self._local = threading.local()
        self._every: list[http.client.HTTPConnection] = []  # every thread's, for close()
        self._lock = threading.Lock()
        self._session: Any = None

    @property
    def _connections(self) -> dict[tuple[str, str, int], http.client.HTTPConnection]:
        mine = getattr(self._local, "connections", None)
        if mine is None:
            mine = self._local.connections = {}
        return mine  # type: ignore[no-any-return]

    def request(self, method: str, url: str, *, body: bytes | None = None, headers: dict[str, str] | None = None,
                timeout: float | None = None) -> tuple[int, bytes]:
        parts = urllib.parse.urlsplit(url)
        host = parts.hostname or ""
        if parts.scheme != "http" or not _loopback(host):
            return self._requests(method, url, body, headers, timeout)
        key = (parts.scheme, host, parts.port or 80)
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        for attempt in (0, 1):
            conn = self._connections.get(key)
            reused = conn is not None
            if conn is None:
                conn = self._connections[key] = http.client.HTTPConnection(host, key[2], timeout=timeout)
                with self._lock:
                    self._every.append(conn)
            elif conn.sock is not None:
                conn.sock.settimeout(timeout)
            conn.timeout = timeout
            try:
                conn.request(method, target, body=body, headers=headers or {})
                response = conn.getresponse()
                data = response.read()
            except TimeoutError:
                self._drop(key)
                raise HttpTimeout(f"no answer within {timeout} s") from None
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError) as exc:
                self._drop(key)
                if reused and attempt == 0:
                    continue  # the server closed an idle kept-alive connection: one fresh try
                raise HttpFailure(f"{type(exc).__name__}: {exc}") from None
            except (OSError, http.client.HTTPException) as exc:
                self._drop(key)
                raise HttpFailure(f"{type(exc).__name__}: {exc}") from None
            if response.will_close:
                self._drop(key)
            return response.status, data
        raise AssertionError("unreachable")  # pragma: no cover

    def _drop(self, key: tuple[str, str, int]) -> None:
        conn = self._connections.pop(key, None)
        if conn is not None:
            conn.close()
            with self._lock:
                self._every = [c for c in self._every if c is not conn]

    def _requests(self, method: str, url: str, body: bytes | None, headers: dict[str, str] | None,
                  timeout: float | None) -> tuple[int, bytes]:
        import requests

        if self._session is None:
            self._session = requests.Session()
        try:
            response = self._session.request(method, url, data=body, headers=headers, timeout=timeout)
        except requests.Timeout:
            raise HttpTimeout(f"no answer within {timeout} s") from None
        except requests.RequestException as exc:
            raise HttpFailure(f"{type(exc).__name__}: {exc}") from None
        return response.status_code, response.content

    def close(self) -> None:
        with self._lock:
            every, self._every = self._every, []
        for conn in every:
            conn.close()
        self._local = threading.local()
        if self._session is not None:
            self._session.close()
            self._session = None
