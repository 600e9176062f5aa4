"""The launcher: modes, the command lines we run for the real binary and Docker (checked with shims that record
their arguments and start the emulator), readiness, failures with the log tail, and no orphans."""

from __future__ import annotations

import os
import signal
import stat
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from pytest_savedmodel.errors import RunnerError, ServerStartError, UsageError
from pytest_savedmodel.locate import find_model
from pytest_savedmodel.runners.grpc import GrpcRunner
from pytest_savedmodel.runners.rest import RestRunner
from pytest_savedmodel.serving.launcher import ModelServer, ServedModel, parse_mode, stop_all
from pytest_savedmodel.signatures import inspect_model

pytestmark = pytest.mark.serving
EMULATOR = f'"{sys.executable}" -m pytest_savedmodel.serving.emulator'


@pytest.mark.parametrize(("mode", "words"), [
    ("bogus", "unknown mode; use one of auto, emulator, binary[:PATH], docker[:IMAGE], url:GRPC_TARGET,REST_URL"),
    ("url:localhost:8500", "url: needs GRPC_TARGET,REST_URL"),
    ("url:localhost:8500,localhost:8501", "url: needs GRPC_TARGET,REST_URL"),
    ("emulator:x", "unknown mode"),
])
def test_bad_modes_are_usage_errors(mode: str, words: str) -> None:
    with pytest.raises(UsageError) as info:
        parse_mode(mode)
    assert words in str(info.value) and repr(mode) in str(info.value)


def test_modes_parse() -> None:
    assert parse_mode("binary:/opt/tfs") == ("binary", "/opt/tfs")
    assert parse_mode("docker") == ("docker", "")
    assert parse_mode("url:h:1,http://h:2") == ("url", "h:1,http://h:2")


@pytest.fixture(scope="module")
def half(testdata: Path) -> ServedModel:
    ref = find_model(testdata / "saved_model_half_plus_two_cpu")
    return ServedModel("half", ref.path, ref.version or 1)


def _shim(directory: Path, name: str, body: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text("#!/usr/bin/env bash\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return path


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/stat")
    return not (status.exists() and status.read_text().split(")")[-1].split()[0] == "Z")


def _predict(server: ModelServer, testdata: Path) -> list[float]:
    sig = inspect_model(find_model(testdata / "saved_model_half_plus_two_cpu")).signature("serving_default")
    with GrpcRunner(sig, target=server.grpc_target, model_name="half") as r:
        return r.predict({"x": np.array([[2.0]], np.float32)})["y"].ravel().tolist()  # type: ignore[no-any-return]


def test_auto_picks_tensorflow_model_server_on_path_and_passes_our_flags(
    tmp_path: Path, half: ServedModel, testdata: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bindir = tmp_path / "bin"
    record = tmp_path / "argv.txt"
    _shim(bindir, "tensorflow_model_server", f'printf "%s\\n" "$@" > "{record}"\nexec {EMULATOR} "$@"\n')
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    with ModelServer.create("auto", models=[half], log_dir=tmp_path / "log") as server:
        assert server.kind == "binary" and "tensorflow_model_server at" in server.describe()
        assert _predict(server, testdata) == [3.0]
    argv = record.read_text().splitlines()
    assert any(a.startswith("--port=") for a in argv) and any(a.startswith("--rest_api_port=") for a in argv)
    assert "--model_name=half" in argv and "--max_num_load_retries=0" in argv
    assert any(a.startswith("--model_base_path=") and Path(a.split("=", 1)[1]).is_absolute() for a in argv)
    assert not any(a.startswith("--parent_pid") for a in argv)  # the real binary has no such flag


def test_docker_mode_runs_the_container_command_we_promise(
    tmp_path: Path, half: ServedModel, testdata: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bindir, record, pidfile = tmp_path / "bin", tmp_path / "docker.txt", tmp_path / "pid"
    g, r = 0, 0
    from pytest_savedmodel.serving.launcher import _free_port

    g, r = _free_port(), _free_port()
    model_dir = half.path
    _shim(bindir, "docker", f"""echo "$@" >> "{record}"
case "$1" in
  run) {EMULATOR} --port={g} --rest_api_port={r} --model_name=half --model_base_path={model_dir.parent} \
         --parent_pid=$PPID > "{tmp_path}/emu.log" 2>&1 &
       echo $! > "{pidfile}"; echo c0ffee1234567890 ;;
  port) if [ "$3" = 8500 ]; then echo 127.0.0.1:{g}; else echo 127.0.0.1:{r}; fi ;;
  rm) kill $(cat "{pidfile}") ;;
  logs) cat "{tmp_path}/emu.log" ;;
esac
""")
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    with ModelServer.create("docker:tensorflow/serving:2.15.0", models=[half], log_dir=tmp_path / "log") as server:
        assert "docker tensorflow/serving:2.15.0 container c0ffee123456" in server.describe()
        assert _predict(server, testdata) == [3.0]
        pid = int(pidfile.read_text())
    calls = record.read_text().splitlines()
    run = calls[0].split()
    assert run[:4] == ["run", "--rm", "-d", "-p"] and "127.0.0.1::8500" in run and "127.0.0.1::8501" in run
    assert f"{half.path.resolve()}:/models/half/{half.version}:ro" in run
    assert "MODEL_NAME=half" in run and "tensorflow/serving:2.15.0" in run
    assert calls[-1] == "rm -f c0ffee1234567890"
    deadline = time.monotonic() + 15
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _alive(pid)


def test_url_mode_connects_and_never_stops_the_server(tmp_path: Path, half: ServedModel, testdata: Path) -> None:
    with ModelServer.create("emulator", models=[half], log_dir=tmp_path / "a") as owner:
        url = f"url:{owner.grpc_target},{owner.rest_url}"
        with ModelServer.create(url, models=[half], log_dir=tmp_path / "b") as external:
            assert external.describe().startswith("existing server grpc")
            assert _predict(external, testdata) == [3.0]
        assert owner.alive() and _predict(owner, testdata) == [3.0]


def test_binary_not_found_says_what_to_do(tmp_path: Path, half: ServedModel) -> None:
    with pytest.raises(ServerStartError) as info:
        ModelServer.create("binary:/nope/tensorflow_model_server", models=[half], log_dir=tmp_path).start()
    text = str(info.value)
    assert "'/nope/tensorflow_model_server' not found" in text and "--savedmodel-server=emulator" in text


def test_model_that_fails_to_load_gives_the_log_tail(tmp_path: Path) -> None:
    broken = tmp_path / "broken" / "1"
    broken.mkdir(parents=True)
    (broken / "saved_model.pb").write_bytes(b"not a protobuf")
    with pytest.raises(ServerStartError) as info:
        ModelServer.create("emulator", models=[ServedModel("broken", broken, 1)], log_dir=tmp_path / "log",
                           startup_timeout=60).start()
    text = str(info.value)
    assert "exited with status 255 before its models became AVAILABLE" in text
    assert "--- server log (last lines) ---" in text and "Failed to start server" in text


def test_server_that_never_becomes_available_times_out_and_is_killed(tmp_path: Path, half: ServedModel,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    bindir = tmp_path / "bin"
    _shim(bindir, "tensorflow_model_server", 'echo "loading forever"\nexec sleep 600\n')
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    server = ModelServer.create("binary", models=[half], log_dir=tmp_path / "log", startup_timeout=2)
    start = time.monotonic()
    with pytest.raises(ServerStartError) as info:
        server.start()
    assert time.monotonic() - start < 15
    assert "did not make model(s) half AVAILABLE within 2 s" in str(info.value)
    assert "loading forever" in str(info.value) and "--savedmodel-server-timeout" in str(info.value)
    assert server.process is not None and not _alive(server.process.pid)


def test_starting_twice_raises(tmp_path: Path, half: ServedModel) -> None:
    with ModelServer.create("emulator", models=[half], log_dir=tmp_path) as server, \
            pytest.raises(ServerStartError, match="was already started"):
        server.start()


def test_server_killed_mid_use_fails_fast_with_clear_words(tmp_path: Path, half: ServedModel,
                                                          testdata: Path) -> None:
    sig = inspect_model(find_model(testdata / "saved_model_half_plus_two_cpu")).signature("serving_default")
    with ModelServer.create("emulator", models=[half], log_dir=tmp_path) as server:
        runner = GrpcRunner(sig, target=server.grpc_target, model_name="half", timeout=5)
        rest = RestRunner(sig, base_url=server.rest_url, model_name="half", timeout=5)
        assert runner.predict({"x": np.array([[1.0]], np.float32)})["y"].tolist() == [[2.5]]
        assert rest.predict({"x": np.array([[1.0]], np.float32)})["y"].tolist() == [[2.5]]  # a kept-alive connection
        assert server.process is not None
        os.kill(server.process.pid, signal.SIGKILL)
        server.process.wait(10)
        start = time.monotonic()
        with pytest.raises(RunnerError) as info:
            runner.predict({"x": np.array([[1.0]], np.float32)})
        assert time.monotonic() - start < 10
        assert "UNAVAILABLE" in str(info.value) and "the server is not answering" in str(info.value)
        with pytest.raises(RunnerError) as info:
            rest.predict({"x": np.array([[1.0]], np.float32)})
        assert f"rest runner: POST {server.rest_url}/v1/models/half:predict failed: ConnectionRefusedError" in str(
            info.value)
        assert "(the server is not answering: did it crash or stop? see its log)" in str(info.value)


def test_start_stop_cycles_leave_no_process_behind(tmp_path: Path, half: ServedModel,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """50 start/stop cycles with a fast shim server (a real emulator start costs seconds), then stop_all()."""
    bindir = tmp_path / "bin"
    # a stand-in that answers GetModelStatus would need a server; instead time out fast and check cleanup
    _shim(bindir, "tensorflow_model_server", "exec sleep 600\n")
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    pids = []
    for i in range(50):
        server = ModelServer.create("binary", models=[half], log_dir=tmp_path / f"l{i}", startup_timeout=0.15)
        with pytest.raises(ServerStartError):
            server.start()
        server.stop()
        assert server.process is not None
        pids.append(server.process.pid)
        assert not _alive(pids[-1]), f"cycle {i}: server {pids[-1]} survived stop()"
    stop_all()
    time.sleep(0.3)
    assert [p for p in pids if _alive(p)] == []
