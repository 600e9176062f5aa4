"""Writing the files a user asked for (reports, the contract lock): atomically, with the user's umask.

``tempfile.mkstemp`` creates its file with mode 0600 whatever the umask; a lock or report renamed from it
would stay unreadable to the group (a CI artifact, a shared checkout). The file gets ``0666 & ~umask``,
as ``open()`` would have given it.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

__all__ = ["TempDirs", "atomic_write", "current_umask"]


def current_umask() -> int:
    """The process's umask (read from /proc where it can be, so it is never changed, even for an instant)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same directory and a rename."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent or ".")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            os.fchmod(f.fileno(), 0o666 & ~current_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class TempDirs:
    """Temporary directories made for a run, removed together (``remove()``, safe to call twice)."""

    def __init__(self) -> None:
        self._dirs: list[str] = []

    def make(self, prefix: str) -> str:
        d = tempfile.mkdtemp(prefix=prefix)
        self._dirs.append(d)
        return d

    def remove(self) -> None:
        import shutil

        for d in self._dirs:
            shutil.rmtree(d, ignore_errors=True)
        self._dirs.clear()
