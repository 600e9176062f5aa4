"""What a run does to the machine around it: signals, HOME, directories it may not create. No TensorFlow here.

* SIGTERM (CI cancelling a job, ``timeout``) ends the run as Ctrl-C does: pytest's summary and JUnit file
  are written, servers stopped and temporary directories removed. Without it the process just dies.
* Nothing is written under HOME: Keras (imported by TensorFlow) creates ``~/.keras/keras.json`` and
  matplotlib (the HTML report) ``~/.cache/matplotlib`` and ``~/.config/matplotlib``. Unless the user set
  ``KERAS_HOME`` / ``MPLCONFIGDIR``, or already has those directories (their configuration is kept), they
  point at a directory of the run that is removed at its end.
* A directory under pytest's cache that cannot be made (a read-only checkout) falls back to a temporary
  one with a one-line warning, as pytest's own cache does, instead of an INTERNALERROR.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pytest_savedmodel._files import TempDirs

__all__ = ["RunHygiene"]

#: (variable, directories under HOME that mean the user has a configuration of their own)
_HOMES = (("KERAS_HOME", (".keras",)), ("MPLCONFIGDIR", (".config/matplotlib", ".matplotlib")))


class RunHygiene:
    """Installed at pytest_configure, undone at pytest_unconfigure (pytester runs many in one process)."""

    def __init__(self) -> None:
        self._env: dict[str, str | None] = {}
        self._previous_term: Any = None
        self._temp = TempDirs()

    def enter(self) -> RunHygiene:
        home = Path.home()
        for var, own in _HOMES:
            if var in os.environ or any((home / d).exists() for d in own):
                continue
            self._env[var] = os.environ.get(var)
            os.environ[var] = self._tempdir(f"savedmodel-{var.lower()}-")
        if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGTERM) in (
                signal.SIG_DFL, None):
            self._previous_term = signal.signal(signal.SIGTERM, _terminate)
        return self

    def exit(self) -> None:
        if self._previous_term is not None and signal.getsignal(signal.SIGTERM) is _terminate:
            signal.signal(signal.SIGTERM, self._previous_term)
        self._previous_term = None
        for var, value in self._env.items():
            if value is None:
                os.environ.pop(var, None)
            else:
                os.environ[var] = value
        self._env.clear()
        self._temp.remove()

    def _tempdir(self, prefix: str) -> str:
        return self._temp.make(prefix)

    def cache_dir(self, cache: Any, name: str, warn: Callable[[str], None], *, keep: bool = False) -> Path | None:
        """``cache.mkdir(name)``; where that fails, a temporary directory (``keep``: left for the user; else
        removed at the end; None when ``keep`` and nothing needs making yet) and a one-line warning."""
        try:
            return Path(cache.mkdir(name))
        except OSError as exc:
            where = getattr(cache, "_cachedir", "pytest's cache")
            fallback = None if keep else Path(self._tempdir(f"savedmodel-{name.removeprefix('savedmodel-')}-"))
            warn(f"pytest-savedmodel: could not create {name} under {where} ({exc.strerror or exc}); "
                 f"using {'a temporary directory' if fallback is None else fallback} instead")
            return fallback


def _terminate(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"stopped by signal {signal.Signals(signum).name}")
