"""One TF Serving for all pytest-xdist workers of a run (serving/shared.py): who is a worker, one start for
all, a recorded start failure, and no server or state file left when a worker crashes."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pytest_savedmodel.errors import ServerStartError
from pytest_savedmodel.locate import find_model
from pytest_savedmodel.serving import shared
from pytest_savedmodel.serving.launcher import ServedModel
from tests.processes import alive, gone_within

pytestmark = [pytest.mark.serving,
              pytest.mark.skipif(not sys.platform.startswith("linux"), reason="servers are shared on Linux only")]


@pytest.fixture
def worker(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    """This process posing as a worker of a fresh xdist run, its shared state under tmp_path."""
    monkeypatch.setenv("PYTEST_XDIST_TESTRUNUID", f"run{os.getpid()}x{time.monotonic_ns()}")
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw0")
    monkeypatch.setattr(shared.tempfile, "gettempdir", lambda: str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    return os.environ["PYTEST_XDIST_TESTRUNUID"]


def test_only_a_worker_of_an_xdist_run_shares(worker: str, monkeypatch: pytest.MonkeyPatch) -> None:
    assert shared.xdist_run() == worker  # set after the process started, as xdist does
    # a process a worker starts (a nested pytest) inherits the variables: it is no worker of that run
    code = "from pytest_savedmodel.serving.shared import xdist_run; print(xdist_run())"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == "None"
    monkeypatch.delenv("PYTEST_XDIST_WORKER")
    assert shared.xdist_run() is None


def test_workers_share_one_server_and_the_last_one_stops_it(worker: str, testdata: Path, tmp_path: Path) -> None:
    ref = find_model(testdata / "saved_model_half_plus_two_cpu")
    models = [ServedModel("half", ref.path, ref.version or 1)]
    first = shared.start_server("emulator", models=models, log_dir=tmp_path / "a")
    second = None
    try:
        second = shared.start_server("emulator", models=models, log_dir=tmp_path / "b")  # attaches
        assert first.process is not None and second.process is None
        assert second.pid == first.pid and second.grpc_target == first.grpc_target
        assert second.describe() == first.describe() and "shared by the run's xdist workers" in first.describe()
        assert "Running gRPC ModelServer at 127.0.0.1:" in second.log_tail()
        assert f"--parent_pid={os.getppid()}" in first.process.args  # it ends with the xdist controller
        first.stop()  # the one that started it lets go first: the server stays for the other
        assert second.alive() and alive(first.pid)
    finally:
        first.stop()
        if second is not None:
            second.stop()
    assert gone_within(first.pid, 15)
    assert list((tmp_path / "tmp").iterdir()) == []  # the run's directory is removed with the last user


def test_a_failed_start_is_recorded_for_the_other_workers(worker: str, testdata: Path, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no docker
    models = [ServedModel("half", testdata / "saved_model_half_plus_two_cpu" / "00000123")]
    with pytest.raises(ServerStartError, match="the docker command is not on PATH"):
        shared.start_server("docker", models=models, log_dir=tmp_path / "a")
    with pytest.raises(ServerStartError, match=r"not on PATH \(the server shared by this run's xdist workers"):
        shared.start_server("docker", models=models, log_dir=tmp_path / "b")  # at once, from the record
    shared.release_all()
    assert list((tmp_path / "tmp").iterdir()) == []


def test_under_xdist_the_served_items_pass_on_one_shared_server(pytester: pytest.Pytester, testdata: Path) -> None:
    result = pytester.runpytest("-p", "no:cacheprovider", "--savedmodel-examples=5", "--savedmodel-server=emulator",
                                f"--savedmodel={testdata / 'saved_model_half_plus_two_cpu'}", "-k",
                                "serving_default", "--savedmodel-checks=parity", "-n", "2")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["served paths answered by: TF Serving emulator*, shared by the run's xdist "
                                 "workers (AVAILABLE after*"])


# Both workers run this (one test each, --dist loadfile). The shared server starts before the first test, in
# whichever worker takes the lock first: that worker crashes (SIGKILL) once the other attached; the other
# still gets answers.
ROLE = """
import os, signal, time
from pathlib import Path
import numpy as np
from pytest_savedmodel.runners.grpc import GrpcRunner

def test_role(savedmodel, savedmodel_server):
    deadline = time.monotonic() + 90
    if savedmodel_server.process is not None:  # this worker started it
        Path("crasher.pid").write_text(str(os.getpid()))
        Path("server.pid").write_text(str(savedmodel_server.process.pid))
        while not Path("attached").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        os.kill(os.getpid(), signal.SIGKILL)
    while not Path("server.pid").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert savedmodel_server.pid == int(Path("server.pid").read_text())
    Path("attached").write_text("")
    crasher = int(Path("crasher.pid").read_text())
    while Path(f"/proc/{crasher}").exists() and "Z" not in Path(f"/proc/{crasher}/stat").read_text().split(")")[-1][:3]:
        time.sleep(0.1)
    with GrpcRunner(savedmodel.signature("serving_default"), target=savedmodel_server.grpc_target,
                    model_name="half") as g:
        assert g.predict({"x": np.array([[2.0]], np.float32)})["y"].tolist() == [[3.0]]
"""


def test_a_crashed_worker_that_started_the_shared_server_leaves_the_others_their_answers_and_no_server(
        pytester: pytest.Pytester, testdata: Path) -> None:
    """-n 2: the worker that started the shared emulator is killed (SIGKILL) once the other attached; the other
    still gets answers, the run ends, and neither the server nor the run's state directory remains."""
    pytester.makepyfile(test_a=ROLE, test_b=ROLE)
    tmp = pytester.path / "tmp"
    tmp.mkdir()
    model = f"--savedmodel=half={testdata / 'saved_model_half_plus_two_cpu'}"
    proc = subprocess.run([sys.executable, "-m", "pytest", "-n", "2", "--dist", "loadfile", "-p", "no:cacheprovider",
                           "-p", "no:randomly", "--savedmodel-server=emulator", model, "-k", "role", "-rA"],
                          cwd=pytester.path, capture_output=True, text=True, timeout=300, check=False,
                          env={**os.environ, "TMPDIR": str(tmp)})
    out = proc.stdout + proc.stderr
    crashed = [f for f in ("test_a", "test_b") if f"crashed while running '{f}.py::test_role'" in out]
    passed = [f for f in ("test_a", "test_b") if f"PASSED {f}.py::test_role" in out]
    # (xdist's loadfile runs a crashed worker's test again on the other worker, where it answers and passes)
    assert len(crashed) == 1 and ({"test_a", "test_b"} - set(crashed)) <= set(passed), out[-3000:]
    server_pid = int((pytester.path / "server.pid").read_text())
    assert gone_within(server_pid, 15), f"the shared emulator {server_pid} survived the run"
    assert [p.name for p in tmp.iterdir() if p.name.startswith("pytest-savedmodel-")] == []


def test_the_first_worker_of_a_run_removes_what_crashed_runs_left(worker: str, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """A run whose last worker crashed leaves its state directory; the next run removes it once no process
    listed in it lives (a directory of a run still going is kept)."""
    import json

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          check=True).stdout.strip()
    tmp = tmp_path / "tmp"
    for name, users in (("crashed", [int(dead)]), ("running", [os.getpid()])):
        d = tmp / f"pytest-savedmodel-xdist-{name}"
        d.mkdir(mode=0o700)
        (d / "k.json").write_text(json.dumps({"users": users, "pid": int(dead)}))
        os.utime(d, (time.time() - 120, time.time() - 120))
    monkeypatch.setenv("PATH", str(tmp_path))  # no docker: the start fails at once, after the sweep
    with pytest.raises(ServerStartError):
        shared.start_server("docker", models=[ServedModel("m", tmp_path)], log_dir=tmp_path / "a")
    shared.release_all()
    assert sorted(p.name for p in tmp.iterdir()) == ["pytest-savedmodel-xdist-running"]
