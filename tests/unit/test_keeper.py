"""ServerKeeper: one start, in the background or on first use; what the start imports is imported first in the
calling thread (CPython 3.11 cannot compile in two threads at once)."""

from __future__ import annotations

import threading

import pytest

from pytest_savedmodel.serving.keeper import ServerKeeper


class Server:
    stopped = False

    def stop(self) -> None:
        self.stopped = True


def test_prepare_runs_in_the_calling_thread_before_the_background_start() -> None:
    seen: list[tuple[str, threading.Thread]] = []
    server = Server()
    keeper = ServerKeeper(lambda: seen.append(("start", threading.current_thread())) or server,
                          prepare=lambda: seen.append(("prepare", threading.current_thread())))
    keeper.prestart()
    keeper.prestart()  # once
    assert keeper.get() is server and keeper.used is server
    keeper.close()
    assert server.stopped
    assert [what for what, _ in seen] == ["prepare", "start"]
    assert seen[0][1] is threading.current_thread() and seen[1][1] is not threading.current_thread()


def test_a_failed_start_is_kept_and_raised_to_every_user() -> None:
    calls = []

    def start() -> None:
        calls.append(1)
        raise RuntimeError("no server")

    keeper = ServerKeeper(start)
    for _ in range(2):
        with pytest.raises(RuntimeError, match="no server"):
            keeper.get()
    assert calls == [1] and keeper.used is None
    keeper.close()
