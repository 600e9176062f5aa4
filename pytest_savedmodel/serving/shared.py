"""One TF Serving for all pytest-xdist workers of a run.

Without pytest-xdist (or with ``binary``, whose real server has no ``--parent_pid``, or ``url:``), ``start_server``
is ``ModelServer.create(...).start()``. In a worker of an xdist run it shares: a directory named from the run's
``testrunuid`` under the system temp dir (mode 0700, ours) holds a lock file and, per server, a JSON state file
(no pickle). The first worker to need the server starts it, serving every model of the run, and records its pid,
ports, readiness time, log directory and the line that names it; the others attach to it. Each worker that uses
it is listed in the state file; a worker that closes takes itself off (and any listed worker that died) under the
lock, and the last one stops the server and removes the files.

No orphans: the shared emulator watches the xdist controller (``--parent_pid``; xdist workers are its children),
not the worker that started it, and gets no parent-death signal, so it outlives a crashed worker (the others keep
their answers) and ends with the run, even when the last worker crashed. A start that failed is recorded, so the
other workers fail at once with the same message and log tail instead of each waiting for the timeout.
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import hashlib
import json
import os
import shutil
import signal
import stat
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from subprocess import Popen
from typing import Any

from pytest_savedmodel.errors import ServerStartError
from pytest_savedmodel.serving.launcher import ModelServer, ServedModel

__all__ = ["SharedServer", "release_all", "start_server", "xdist_run"]

SHARED_KINDS = ("emulator", "docker")  # docker: the container outlives its starter as it always did
_HELD: list[_Share] = []


def start_server(mode: str, *, models: Sequence[ServedModel], log_dir: Path, startup_timeout: float = 60.0,
                 tags: Sequence[str] = ("serve",), spare: Any = None) -> Any:
    """A started server for ``mode``: this process's own (a prewarmed ``spare`` emulator given its flags), or, in
    a pytest-xdist worker, the run's shared one."""
    server = ModelServer.create(mode, models=models, log_dir=log_dir, startup_timeout=startup_timeout, tags=tags,
                                spare=spare)
    run = xdist_run()
    if run is None or server.kind not in SHARED_KINDS:
        return server.start()
    return _Share(run, server).acquire()


def xdist_run() -> str | None:
    """The ``testrunuid`` of the pytest-xdist run this process is a worker of, or None (Linux only).

    xdist sets ``PYTEST_XDIST_TESTRUNUID`` in a worker after it started; a process a worker starts (a nested
    pytest) inherits it, is no worker of that run, and is told apart by the environment it was started with.
    """
    uid = os.environ.get("PYTEST_XDIST_TESTRUNUID", "")
    if not uid or not os.environ.get("PYTEST_XDIST_WORKER") or not sys.platform.startswith("linux"):
        return None
    try:
        inherited = Path("/proc/self/environ").read_bytes().split(b"\0")
    except OSError:
        return None
    return None if f"PYTEST_XDIST_TESTRUNUID={uid}".encode() in inherited else uid


def release_all() -> None:
    """Let go of every shared server this process holds (the last user stops it)."""
    for share in list(_HELD):
        share.release()


atexit.register(release_all)


def _alive(pid: int) -> bool:
    """``pid`` runs (a zombie does not: a server killed by another worker stays one until its parent reaps it)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except (OSError, IndexError):
        return False


def _sweep(keep: Path) -> None:
    """Remove the state directories of earlier runs (ours, idle for a minute) that no living process uses."""
    import fcntl

    for old in keep.parent.glob("pytest-savedmodel-xdist-*"):
        try:
            st = os.lstat(old)
            if old == keep or not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid() or \
                    time.time() - st.st_mtime < 60:
                continue
            fd = os.open(old / "lock", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            states = [json.loads(f.read_text(encoding="utf-8")) for f in old.glob("*.json")]
            pids = [p for s in states for p in [*s.get("users", []), s.get("pid")] if isinstance(p, int)]
            if not any(_alive(p) for p in pids):
                shutil.rmtree(old, ignore_errors=True)
        except (OSError, ValueError, AttributeError):
            pass
        finally:
            os.close(fd)


def _digest(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()[:16]


class _Share:
    """This process's part in one shared server: the lock, the state file, its place in the users list."""

    def __init__(self, run: str, server: ModelServer) -> None:
        self.server = server
        self.dir = Path(tempfile.gettempdir()) / f"pytest-savedmodel-xdist-{_digest(run)}"
        # the working directory too: a pytest run in-process inside a worker (pytester) is not that run
        self.key = _digest(os.getcwd(), server.kind, server.arg, server.tags,
                           [(m.name, str(m.path.resolve()), m.version) for m in server.models])
        self.state_path = self.dir / f"{self.key}.json"
        self.owned: ModelServer | None = None
        self.held = False

    # ------------------------------------------------------------------ files
    def _run_dir(self) -> Path:
        with contextlib.suppress(FileExistsError):
            self.dir.mkdir(mode=0o700)
            _sweep(self.dir)  # the first worker of a run: remove what runs whose last worker crashed left
        st = os.lstat(self.dir)
        if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid() or st.st_mode & 0o077:
            raise ServerStartError(f"{self.dir} (the server state shared by this run's xdist workers) is not a "
                                   f"directory of ours with mode 0700; remove it and run again")
        return self.dir

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        while True:  # the last user removes the lock file: a lock taken on a removed file is taken again
            lock = self._run_dir() / "lock"
            fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
            try:
                import fcntl

                fcntl.flock(fd, fcntl.LOCK_EX)
                with contextlib.suppress(FileNotFoundError):
                    if os.stat(lock).st_ino == os.fstat(fd).st_ino:
                        break
            except BaseException:
                os.close(fd)
                raise
            os.close(fd)
        try:
            yield
        finally:
            os.close(fd)

    def _read(self) -> dict[str, Any] | None:
        try:
            state = json.loads(self.state_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return state if isinstance(state, dict) else None

    def _write(self, state: dict[str, Any]) -> None:
        tmp = self.state_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(state), encoding="utf-8")
        os.replace(tmp, self.state_path)

    # ------------------------------------------------------------------ life
    def acquire(self) -> SharedServer:
        with self._locked():
            state = self._read()
            if state is None:
                return self._start()
            state["users"] = [p for p in state.get("users", []) if _alive(p)] + [os.getpid()]
            self._write(state)
            self._hold()
        if state.get("error"):
            raise ServerStartError(f"{state['error']} (the server shared by this run's xdist workers, started "
                                   f"by worker {state.get('worker', '?')})", log_tail=state.get("log_tail", ""))
        handle = SharedServer(self, state)
        if not handle.alive():
            raise ServerStartError(f"{handle.describe()} is no longer running (started by xdist worker "
                                   f"{state.get('worker', '?')})", log_tail=handle.log_tail(20))
        return handle

    def _hold(self) -> None:
        if not self.held:
            self.held = True
            _HELD.append(self)

    def _start(self) -> SharedServer:
        """Start the server for the run (the lock is held: the other workers wait for it)."""
        logs = self._run_dir() / self.key
        logs.mkdir(mode=0o700, exist_ok=True)
        # the emulator ends with the xdist controller (this worker's parent), not with this worker
        watch = os.getppid() if self.server.kind == "emulator" else 0
        server = dataclasses.replace(self.server, log_dir=logs, watch_pid=watch)
        state: dict[str, Any] = {"kind": server.kind, "arg": server.arg, "log_dir": str(logs),
                                 "worker": os.environ.get("PYTEST_XDIST_WORKER", "?"), "owner": os.getpid(),
                                 "users": [os.getpid()]}
        try:
            server.start()
        except ServerStartError as exc:  # recorded: the other workers fail at once with the same words
            self._write({**state, "error": str(exc).split("\n--- server log")[0], "log_tail": exc.log_tail})
            self._hold()
            raise
        except BaseException:  # Ctrl-C while starting: the server was stopped; nothing is shared
            self._tidy()
            raise
        server.detach()  # no longer this process's alone: the last user stops it
        self.owned = server
        state.update(pid=server.process.pid if server.process is not None else None, container=server.container,
                     grpc=server.grpc_target, rest=server.rest_url, ready_seconds=server.ready_seconds,
                     describe=server.describe())
        self._write(state)
        self._hold()
        return SharedServer(self, state)

    def release(self) -> None:
        """Take this process off the users; the last user stops the server and removes the files."""
        if not self.held:
            return
        self.held = False
        with contextlib.suppress(ValueError):
            _HELD.remove(self)
        with self._locked():
            state = self._read()
            users = [p for p in (state or {}).get("users", []) if _alive(p)]
            with contextlib.suppress(ValueError):
                users.remove(os.getpid())
            if state is not None and users:
                self._write({**state, "users": users})
                return
            if state is not None and not state.get("error"):
                self._stop(state)
            self._tidy()

    def _tidy(self) -> None:
        """Remove this server's files (the lock is held), and the run's directory once no server is left."""
        self.state_path.unlink(missing_ok=True)
        shutil.rmtree(self.dir / self.key, ignore_errors=True)
        if not any(self.dir.glob("*.json")):
            (self.dir / "lock").unlink(missing_ok=True)
            with contextlib.suppress(OSError):
                self.dir.rmdir()

    def _stop(self, state: dict[str, Any]) -> None:
        if self.owned is not None:
            self.owned.stop()
            return
        if state.get("container"):
            view(state, self.server).stop()  # docker rm -f
            return
        pid = state.get("pid")
        if not isinstance(pid, int):
            return
        for sig in (signal.SIGTERM, signal.SIGKILL):  # not our child: the group it leads (setsid), then wait
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, sig)
            deadline = time.monotonic() + 5
            while _alive(pid) and time.monotonic() < deadline:
                time.sleep(0.05)
            if not _alive(pid):
                return


def view(state: dict[str, Any], like: ModelServer) -> ModelServer:
    """A ModelServer that reads the shared server's log (or its container's) and never starts or stops it."""
    return dataclasses.replace(like, kind=state.get("kind", like.kind), arg=state.get("arg", like.arg),
                               log_dir=Path(state.get("log_dir", like.log_dir)), container=state.get("container", ""),
                               grpc_target=state.get("grpc", ""), rest_url=state.get("rest", ""))


class SharedServer:
    """This worker's handle on the run's shared server: what ``ModelServer`` offers the session and fixture
    (addresses, ``describe()``, ``log_tail()``, ``alive()``, ``ready_seconds``); ``stop()`` lets go of it.
    ``process`` is the server's ``Popen`` in the worker that started it, None in the others; ``pid`` in all."""

    def __init__(self, share: _Share, state: dict[str, Any]) -> None:
        self._share = share
        self._view = share.owned if share.owned is not None else view(state, share.server)
        self.kind: str = self._view.kind
        self.models = self._view.models
        self.grpc_target: str = state.get("grpc", "")
        self.rest_url: str = state.get("rest", "")
        self.ready_seconds: float = float(state.get("ready_seconds", 0.0))
        self.pid: int | None = state.get("pid")
        self.container: str = state.get("container", "")
        self.worker: str = state.get("worker", "?")
        self._line: str = state.get("describe", "")

    @property
    def process(self) -> Popen[bytes] | None:
        return self._share.owned.process if self._share.owned is not None else None

    @property
    def log_path(self) -> Path:
        return self._view.log_path

    @property
    def log_dir(self) -> Path:
        return self._view.log_dir

    def describe(self) -> str:
        return f"{self._line}, shared by the run's xdist workers"

    def log_tail(self, lines: int = 40) -> str:
        return self._view.log_tail(lines)

    def alive(self) -> bool:
        if self.container:
            return True
        if self._share.owned is not None:
            return self._share.owned.alive()
        return self.pid is not None and _alive(self.pid)

    def stop(self) -> None:
        self._share.release()
