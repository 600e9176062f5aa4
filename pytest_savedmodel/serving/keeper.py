"""The session's TF Serving: started once, on first use or early in the background, stopped at the end."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from pytest_savedmodel.errors import RunnerError
from pytest_savedmodel.serving.spare import SpareEmulator

__all__ = ["ServerKeeper"]


class ServerKeeper:
    """One start attempt of ``start`` (its error is kept for every served check), made by :meth:`get` on first
    use, or earlier by :meth:`prestart` in a thread: the server's TensorFlow import and model loads (seconds)
    then overlap the in-process checks, and the first served check waits only for what is left.

    The starting thread stays alive until :meth:`close`: the emulator's parent-death signal follows the thread
    that started it, not the process, so a thread that ended would take the server with it.

    ``prepare`` runs in the calling thread before the background start: it imports what the start will, so that
    the thread compiles nothing. CPython 3.11 cannot compile in two threads at once: a test module compiled
    (or assertion-rewritten) in the main thread while the start imported a module without its .pyc raised
    "SystemError: AST constructor recursion depth mismatch" (CI, on a fresh clone)."""

    def __init__(self, start: Callable[[SpareEmulator], Any], prepare: Callable[[], None] = lambda: None) -> None:
        self._start = start
        self.spare = SpareEmulator()  # see serving.spare: handed to ``start``, discarded once the start is over
        self._prepare = prepare
        self._server: Any = None
        self._error: BaseException | None = None
        self._used = False
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._release = threading.Event()

    def prestart(self) -> None:
        """Start the server now, in the background (once; no-op when it started or failed already)."""
        if self._thread is not None or self._server is not None or self._error is not None:
            return
        self._prepare()

        def keep() -> None:
            try:
                self._attempt()
            finally:
                self._ready.set()
            self._release.wait()

        self._thread = threading.Thread(target=keep, name="savedmodel-server-start", daemon=True)
        self._thread.start()

    def get(self) -> Any:
        """The started server (waiting for a start under way); raises the start's error."""
        self._used = True
        if self._thread is not None:
            self._ready.wait()
        elif self._server is None and self._error is None:
            self._attempt()
        if self._error is not None:
            raise self._error
        return self._server

    def _attempt(self) -> None:
        """The one start: its server, or its error, kept for every served check."""
        try:
            self._server = self._start(self.spare)
        except BaseException as exc:
            self._error = exc
        finally:
            self.spare.discard()  # a spare the start did not take (another server kind, a shared server)

    @property
    def used(self) -> Any:
        """The server if a check asked for it (None otherwise: a server started early and never used is not
        named in the summary)."""
        return self._server if self._used else None

    def gone(self, exc: RunnerError) -> RunnerError:
        """A served call failed: if the server died, say so with its exit status and log tail."""
        server = self._server
        if server is None or server.alive():
            return exc
        code = server.process.returncode if server.process is not None else None
        shared = code is None and hasattr(server, "worker")  # its exit status went to the worker that started it
        status = f"started by xdist worker {server.worker}" if shared else f"exit status {code}"
        return RunnerError(f"{exc}\n{server.describe()} is no longer running ({status}).\n"
                           f"--- server log (last lines) ---\n{server.log_tail(20)}", runner=exc.runner,
                           signature=exc.signature)

    def close(self) -> None:
        """Stop the server (kept: the summary still names the one that answered). A start under way ends
        first, so that stopping leaves no orphan; under xdist, other workers may be waiting for it."""
        self.spare.discard()
        if self._thread is not None:
            self._ready.wait()
        if self._server is not None:
            self._server.stop()
        self._release.set()
