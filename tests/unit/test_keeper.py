"""ServerKeeper: one start, in the background or on first use; what the start imports is imported first in the
calling thread (CPython 3.11 cannot compile in two threads at once)."""

from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from pytest_savedmodel.serving.keeper import ServerKeeper


class Server:
    stopped = False

    def stop(self) -> None:
        self.stopped = True


def test_prepare_runs_in_the_calling_thread_before_the_background_start() -> None:
    seen: list[tuple[str, threading.Thread]] = []
    server = Server()
    keeper = ServerKeeper(lambda spare: seen.append(("start", threading.current_thread())) or server,
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

    def start(spare: Any) -> None:
        calls.append(1)
        raise RuntimeError("no server")

    keeper = ServerKeeper(start)
    for _ in range(2):
        with pytest.raises(RuntimeError, match="no server"):
            keeper.get()
    assert calls == [1] and keeper.used is None
    keeper.close()


def test_a_spare_the_start_does_not_take_is_stopped_and_one_it_takes_is_its_server(tmp_path: Any) -> None:
    """serving.spare: an emulator process started early (it imports TensorFlow, then reads its flags on
    stdin). A start that takes it hands it the flags; one that does not (a shared or another kind of server)
    leaves it to the keeper, which stops it. Here the spare is a stand-in that echoes what it is handed."""
    from pytest_savedmodel.serving.spare import SpareEmulator

    echo = tmp_path / "echo.py"
    echo.write_text("import sys\nopen(sys.argv[1], 'wb').write(sys.stdin.buffer.readline())\n")
    got = tmp_path / "got.json"

    def stand_in(spare: SpareEmulator) -> None:
        import subprocess

        spare.process = subprocess.Popen([sys.executable, str(echo), str(got)], stdin=subprocess.PIPE)

    taken = ServerKeeper(lambda spare: spare.hand(["--port=1"], tmp_path / "log"))
    stand_in(taken.spare)
    process = taken.get()
    assert process.wait(10) == 0 and taken.spare.process is None
    assert got.read_text() == '{"argv": ["--port=1"], "log": "%s"}\n' % (tmp_path / "log")

    left = ServerKeeper(lambda spare: Server())
    stand_in(left.spare)
    spare = left.spare.process
    assert spare is not None
    left.get()
    assert spare.poll() is not None and left.spare.process is None  # stopped once the start was over
    left.close()


def test_a_spare_emulator_ends_when_its_session_needs_no_server() -> None:
    from pytest_savedmodel.serving.spare import SpareEmulator

    spare = SpareEmulator()
    spare.start()
    assert spare.process is not None
    pid = spare.process.pid
    cmd = open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0")
    assert b"--prewarm" in cmd and f"--parent_pid={os.getpid()}".encode() in cmd  # found as ours, like any
    start = time.monotonic()
    spare.discard()
    assert time.monotonic() - start < 6 and not os.path.exists(f"/proc/{pid}/cmdline")


def test_a_spare_whose_imports_fail_reports_it_in_the_server_log(tmp_path: Any, testdata: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """The spare imports TensorFlow before it has a log file; a failed import is met again when it starts with
    its flags, so the traceback lands in the server's log as it would for an emulator started directly."""
    from pytest_savedmodel.serving.spare import SpareEmulator

    fake = tmp_path / "site" / "tensorflow"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ImportError('no tensorflow here')\n")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(tmp_path / "site"), *sys.path]))
    spare = SpareEmulator()
    spare.start()
    log = tmp_path / "server.log"
    model = testdata / "saved_model_half_plus_two_cpu"
    process = spare.hand(["--port=0", "--grpc_socket_path=" + str(tmp_path / "sock"), "--model_name=half",
                          f"--model_base_path={model}", "--max_num_load_retries=0"], log)
    assert process is not None
    assert process.wait(60) == 255
    text = log.read_text()
    assert "Failed to start server" in text and "the optional package 'tensorflow' is not installed" in text, text
