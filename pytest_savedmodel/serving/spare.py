"""An emulator process started before the session knows what it will serve.

The emulator spends most of its start importing TensorFlow (4-5 s on a 2-core machine); the models it serves
are known only after collection, which itself begins with pytest's own TensorFlow import. A spare started at
``pytest_configure`` imports TensorFlow alongside, then waits on stdin for its flags
(``python -m pytest_savedmodel.serving.emulator --prewarm``); ``ModelServer.start`` hands them over instead of
starting a process, and the first served check no longer waits for an import that began after collection.

The spare is this session's: its command line carries ``--parent_pid`` as every emulator's does, it gets the
same parent-death signal (from the main thread, which lives as long as the session), and a spare nobody took
is stopped when the session learns it needs no server, or ends.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
from pathlib import Path

__all__ = ["SpareEmulator"]


class SpareEmulator:
    """At most one prewarmed emulator process: :meth:`start` it, :meth:`hand` it its flags, or :meth:`discard`."""

    def __init__(self) -> None:
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start the spare now (once)."""
        if self.process is not None:
            return
        from pytest_savedmodel.serving.launcher import EMULATOR, die_with_parent

        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2")}
        self.process = subprocess.Popen(
            [*EMULATOR, "--prewarm", f"--parent_pid={os.getpid()}"],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
            preexec_fn=die_with_parent)

    def hand(self, argv: list[str], log: Path) -> subprocess.Popen[bytes] | None:
        """Give the spare its flags and its log file: the started emulator's process, or None (no spare, or it
        is gone: start one the usual way)."""
        process, self.process = self.process, None
        if process is None or process.stdin is None or process.poll() is not None:
            return None
        try:
            process.stdin.write(json.dumps({"argv": argv, "log": str(log)}).encode() + b"\n")
            process.stdin.close()
        except OSError:
            _stop(process)
            return None
        return process

    def discard(self) -> None:
        """Stop a spare nobody took (it is still importing, or waiting for flags)."""
        process, self.process = self.process, None
        if process is not None:
            _stop(process)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.stdin is not None:
        with contextlib.suppress(OSError):
            process.stdin.close()
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)
