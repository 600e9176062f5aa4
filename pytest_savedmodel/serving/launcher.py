"""Start, find and stop a TensorFlow Serving for a test session.

Modes (``--savedmodel-server``):

* ``auto``: the real ``tensorflow_model_server`` if it is on PATH, else the emulator;
* ``emulator``: ``python -m pytest_savedmodel.serving.emulator`` (always available);
* ``binary[:PATH]``: the real server binary;
* ``docker[:IMAGE]``: a ``tensorflow/serving`` container with its ports published on 127.0.0.1;
* ``url:GRPC_TARGET,REST_URL``: a server someone else runs (never started or stopped here); GRPC_TARGET is
  ``host:port`` or ``unix:/path/to.sock`` (TF Serving's ``--grpc_socket_path``);
* ``none``: no served checks.

Readiness is "every model has a version AVAILABLE" by GetModelStatus, not an
open port. Every failure carries the tail of the server's log. Children start
in their own session with a parent-death signal, are tracked in a registry
that ``stop_all()`` (called at session end and at exit) empties, so no server
outlives the test run.
"""

from __future__ import annotations

import atexit
import csv
import io
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from pytest_savedmodel._names import file_slug, proto_text_string
from pytest_savedmodel.errors import ServerStartError, UsageError
from pytest_savedmodel.serving.modes import BINARY, parse_mode, resolve_mode

__all__ = ["EMULATOR", "ModelServer", "ServedModel", "die_with_parent", "models_config", "parse_mode", "stop_all"]

DEFAULT_IMAGE = "tensorflow/serving"
EMULATOR = (sys.executable, "-m", "pytest_savedmodel.serving.emulator")  # the emulator's command, before its flags
_LIVE: set[ModelServer] = set()
_PLAIN = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")  # a model name the docker image's entrypoint passes intact


@dataclass(frozen=True)
class ServedModel:
    """A model to serve: its name on the server and the SavedModel version directory to serve."""

    name: str
    path: Path  # the version directory (holds saved_model.pb)
    version: int = 1


def models_config(models: Sequence[tuple[str, str]]) -> str:
    """A text-format ModelServerConfig serving ``(name, base_path)`` pairs, both escaped (names come from
    directory names and may hold quotes, backslashes or newlines)."""
    entries = "".join(f"  config {{ name: {proto_text_string(n)} base_path: {proto_text_string(b)} "
                      f'model_platform: "tensorflow" }}\n' for n, b in models)
    return "model_config_list {\n" + entries + "}\n"


def _bind(host: Path, inside: str) -> list[str]:
    """Docker arguments mounting ``host`` read-only at ``inside``: ``-v``, or ``--mount`` (CSV-quoted) for a
    host path holding ``:``, which ``-v`` would split on."""
    if ":" not in str(host):
        return ["-v", f"{host}:{inside}:ro"]
    line = io.StringIO()
    csv.writer(line, lineterminator="").writerow(["type=bind", f"source={host}", f"target={inside}", "readonly"])
    return ["--mount", line.getvalue()]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def die_with_parent() -> None:  # runs in the child before exec (Linux): SIGTERM when pytest dies
    os.setsid()
    if sys.platform.startswith("linux"):
        import ctypes

        try:
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
        except OSError:
            pass


@dataclass(eq=False)
class ModelServer:
    """One TF Serving (real, Docker, emulated or external) serving ``models``.

    Example:
        >>> with ModelServer.create("emulator", models=[ServedModel("half", path, 123)], log_dir=tmp) as server:
        ...     server.grpc_target, server.rest_url
        ('127.0.0.1:41231', 'http://127.0.0.1:41232')
    """

    kind: str
    models: tuple[ServedModel, ...]
    log_dir: Path
    arg: str = ""
    startup_timeout: float = 60.0
    tags: tuple[str, ...] = ("serve",)
    grpc_target: str = ""
    rest_url: str = ""
    command: list[str] = field(default_factory=list)
    process: subprocess.Popen[bytes] | None = None
    container: str = ""
    started_at: float = 0.0
    ready_seconds: float = 0.0
    watch_pid: int = 0  # the emulator exits when this pid is gone (0: this process, plus a parent-death signal)
    spare: Any = None  # a prewarmed emulator (serving.spare) to hand the flags to, instead of starting one
    prewarmed: bool = False  # the spare took the flags: its TensorFlow import was done before start()

    @classmethod
    def create(cls, mode: str, *, models: Sequence[ServedModel], log_dir: Path, startup_timeout: float = 60.0,
               tags: Sequence[str] = ("serve",), spare: Any = None) -> ModelServer:
        """A server for ``mode`` (see the module docstring); not started yet."""
        kind, arg = resolve_mode(mode)
        if kind == "none":
            raise UsageError("--savedmodel-server=none: no server was asked for")
        log_dir.mkdir(parents=True, exist_ok=True)
        return cls(kind, tuple(models), log_dir, arg, startup_timeout, tuple(tags), spare=spare)

    # ------------------------------------------------------------------ commands
    @property
    def log_path(self) -> Path:
        return self.log_dir / "server.log"

    def _base_dirs(self) -> list[tuple[str, Path]]:
        """A base dir per model holding exactly the version under test (a symlink named by its number).

        The directory is named by a slug of the model name plus its hash (a name may be ``..``, hold quotes,
        or be too long for a file name once ``-baseline`` is added); the server learns the name from flags.
        """
        out = []
        for m in self.models:
            base = self.log_dir / "models" / file_slug(m.name)
            base.mkdir(parents=True, exist_ok=True)
            link = base / str(m.version)
            if not link.exists():
                link.symlink_to(m.path.resolve(), target_is_directory=True)
            out.append((m.name, base))
        return out

    def _model_flags(self, bases: list[tuple[str, Path]]) -> list[str]:
        if len(bases) == 1:
            return [f"--model_name={bases[0][0]}", f"--model_base_path={bases[0][1]}"]
        config = self.log_dir / "models.config"
        config.write_text(models_config([(n, str(b)) for n, b in bases]), encoding="ascii")
        return [f"--model_config_file={config}"]

    def _local_command(self, grpc_port: int, rest_port: int) -> list[str]:
        from pytest_savedmodel.deadline import call_timeout

        # the server bounds a REST run as our client does (gRPC runs are bounded by each call's deadline)
        common = [f"--port={grpc_port}", f"--rest_api_port={rest_port}", "--max_num_load_retries=0",
                  "--file_system_poll_wait_seconds=0", f"--saved_model_tags={','.join(self.tags)}",
                  f"--rest_api_timeout_in_ms={int(call_timeout() * 1000)}",
                  *self._model_flags(self._base_dirs())]
        if self.kind == "emulator":
            return [*EMULATOR, *common, f"--parent_pid={self.watch_pid or os.getpid()}"]
        binary = self.arg or shutil.which(BINARY)
        if not binary or not (Path(binary).is_file() or shutil.which(binary)):
            raise ServerStartError(
                f"--savedmodel-server=binary: {self.arg or BINARY!r} not found"
                f"{'' if self.arg else ' on PATH'}. Install TensorFlow Serving's tensorflow_model_server, give its "
                f"path (--savedmodel-server=binary:/path/to/tensorflow_model_server), or use the built-in emulator "
                f"(--savedmodel-server=emulator)")
        return [binary, *common]

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> ModelServer:
        """Start (or connect) and wait until every model is AVAILABLE."""
        if self.started_at:
            raise ServerStartError(f"{self.describe()} was already started")
        self.started_at = time.monotonic()
        if self.kind == "url":
            self.grpc_target, self.rest_url = self.arg.split(",", 1)
            self._wait_ready()
            return self
        _LIVE.add(self)
        try:
            if self.kind == "docker":
                self._start_docker()
            else:
                for attempt in range(3):  # a freed port can be taken before the server binds it
                    grpc_port, rest_port = _free_port(), _free_port()
                    self.command = self._local_command(grpc_port, rest_port)
                    self.grpc_target, self.rest_url = f"127.0.0.1:{grpc_port}", f"http://127.0.0.1:{rest_port}"
                    spare, self.spare = self.spare, None  # a shared emulator watches another pid: none is handed
                    self.process = spare.hand(self.command[len(EMULATOR):], self.log_path) \
                        if spare and self.kind == "emulator" and not self.watch_pid else None
                    self.prewarmed = self.process is not None
                    if self.process is None:
                        with open(self.log_path, "ab") as log:
                            self.process = subprocess.Popen(self.command, stdout=log, stderr=subprocess.STDOUT,
                                                            stdin=subprocess.DEVNULL,
                                                            preexec_fn=os.setsid if self.watch_pid else die_with_parent)
                    try:
                        self._wait_ready()
                        break
                    except ServerStartError:
                        if attempt < 2 and "address" in self.log_tail(10).lower() and "in use" in self.log_tail(10):
                            self.stop()
                            continue
                        raise
        except BaseException:
            self.stop()
            raise
        self.ready_seconds = time.monotonic() - self.started_at
        return self

    def _start_docker(self) -> None:
        image = self.arg or DEFAULT_IMAGE
        docker = shutil.which("docker")
        if docker is None:
            raise ServerStartError("--savedmodel-server=docker: the docker command is not on PATH")
        run = [docker, "run", "--rm", "-d", "-p", "127.0.0.1::8500", "-p", "127.0.0.1::8501"]
        inside = {m.name: f"/models/{m.name if _PLAIN.fullmatch(m.name) else file_slug(m.name)}" for m in self.models}
        for m in self.models:
            run += _bind(m.path.resolve(), f"{inside[m.name]}/{m.version}")
        if len(self.models) == 1 and _PLAIN.fullmatch(self.models[0].name):
            run += ["-e", f"MODEL_NAME={self.models[0].name}", image]
        else:  # the image's entrypoint puts MODEL_NAME into a shell line unquoted: odd names go by config file
            config = self.log_dir / "models.config"
            config.write_text(models_config([(m.name, inside[m.name]) for m in self.models]), encoding="ascii")
            run += [*_bind(config, "/models/models.config"), image, "--model_config_file=/models/models.config"]
        run += ["--max_num_load_retries=0"]
        self.command = run
        out = subprocess.run(run, capture_output=True, text=True, timeout=120)
        if out.returncode != 0:
            raise ServerStartError(f"docker run failed (exit {out.returncode}): {out.stderr.strip()}",
                                   log_tail=out.stdout)
        self.container = out.stdout.strip().splitlines()[-1]

        def mapped(port: int) -> str:
            res = subprocess.run([docker, "port", self.container, str(port)], capture_output=True, text=True,
                                 timeout=30)
            return res.stdout.strip().splitlines()[0].strip() if res.returncode == 0 and res.stdout.strip() else ""

        self.grpc_target, rest = mapped(8500), mapped(8501)
        self.rest_url = f"http://{rest}" if rest else ""
        if not self.grpc_target:
            raise ServerStartError(f"docker port {self.container} 8500 gave no mapping", log_tail=self._docker_logs())
        self._wait_ready()

    def _docker_logs(self) -> str:
        docker = shutil.which("docker")
        if not docker or not self.container:
            return ""
        res = subprocess.run([docker, "logs", "--tail", "40", self.container], capture_output=True, text=True,
                             timeout=30)
        return res.stdout + res.stderr

    def _wait_ready(self) -> None:
        from pytest_savedmodel.serving.client import model_versions

        deadline = self.started_at + self.startup_timeout
        last = ""
        while True:
            if self.process is not None and self.process.poll() is not None:
                code = self.process.returncode
                raise ServerStartError(f"{self.describe()} exited with status {code} before its models became "
                                       f"AVAILABLE", log_tail=self.log_tail())
            pending = []
            for m in self.models:
                try:
                    states = model_versions(self.grpc_target, m.name, timeout=2.0)
                except Exception as exc:  # not up yet / not reachable
                    last = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                    pending.append(m.name)
                    continue
                if not any(state == "AVAILABLE" for _, state, _ in states):
                    errors = [err for _, _, err in states if err]
                    if errors and all(s == "END" for _, s, _ in states):
                        raise ServerStartError(f"model {m.name!r} failed to load on {self.describe()}: {errors[0]}",
                                               log_tail=self.log_tail())
                    pending.append(m.name)
            if not pending:
                return
            if time.monotonic() > deadline:
                tail = self.log_tail()
                self.stop()
                raise ServerStartError(
                    f"{self.describe()} did not make model(s) {', '.join(pending)} AVAILABLE within "
                    f"{self.startup_timeout:g} s (last answer: {last or 'model not AVAILABLE'}); raise "
                    f"--savedmodel-server-timeout if loading is just slow", log_tail=tail)
            time.sleep(0.2)

    def alive(self) -> bool:
        if self.kind == "url":
            return True
        if self.kind == "docker":
            return bool(self.container)
        return self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        """Stop what we started (SIGTERM, then SIGKILL); an external ``url:`` server is left alone."""
        _LIVE.discard(self)
        if self.process is not None and self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGTERM)
            except (ProcessLookupError, PermissionError):
                self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(self.process.pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    self.process.kill()
                self.process.wait(timeout=5)
        if self.container:
            docker = shutil.which("docker")
            if docker:
                subprocess.run([docker, "rm", "-f", self.container], capture_output=True, timeout=60)
            self.container = ""

    def detach(self) -> None:
        """No longer this process's alone to stop: ``stop_all()`` leaves it (a server shared by xdist workers)."""
        _LIVE.discard(self)

    def log_tail(self, lines: int = 40) -> str:
        if self.kind == "docker":
            return self._docker_logs()
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        keep = [ln for ln in text.splitlines() if not ln.startswith(("WARNING: All log messages", "I0000 "))]
        return "\n".join(keep[-lines:])

    def describe(self) -> str:
        """Which server answers, for the report header and every message."""
        from pytest_savedmodel import __version__
        from pytest_savedmodel._lazy import tf_version

        pid = f" pid {self.process.pid}" if self.process is not None else ""
        where = f"grpc {self.grpc_target or '?'} rest {self.rest_url or '?'}"
        if self.kind == "emulator":
            return f"TF Serving emulator (pytest-savedmodel {__version__}, TF {tf_version()}){pid} {where}"
        if self.kind == "binary":
            return f"tensorflow_model_server at {self.arg or shutil.which(BINARY) or BINARY}{pid} {where}"
        if self.kind == "docker":
            return f"docker {self.arg or DEFAULT_IMAGE} container {self.container[:12] or '?'} {where}"
        return f"existing server {where}"

    def __enter__(self) -> ModelServer:
        return self.start() if not self.started_at else self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def __hash__(self) -> int:
        return id(self)


def stop_all() -> None:
    """Stop every server this process started and has not stopped (session end, exit)."""
    for server in list(_LIVE):
        server.stop()


atexit.register(stop_all)

