"""Process checks the hygiene tests share (Linux /proc)."""

from __future__ import annotations

import os
import time
from pathlib import Path

#: emulators this suite's own fixtures started (tests/serving/conftest.py): they watch this process too, and
#: live for the session, so the checks for servers a run left behind pass over them
FIXTURE_SERVERS: set[int] = set()


def alive(pid: int) -> bool:
    """``pid`` runs (a zombie, killed but not yet reaped, does not)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def gone_within(pid: int, seconds: float) -> bool:
    """``pid`` stopped running within ``seconds``."""
    deadline = time.monotonic() + seconds
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    return not alive(pid)


def emulators_started_by_us() -> list[int]:
    """Emulator processes whose --parent_pid is this process, from /proc (no pgrep: it would match itself),
    except this suite's own fixtures' (:data:`FIXTURE_SERVERS`)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) in FIXTURE_SERVERS:
            continue
        try:
            cmd = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"pytest_savedmodel.serving.emulator" in cmd and f"--parent_pid={os.getpid()}".encode() in cmd:
            found.append(int(entry.name))
    return found
