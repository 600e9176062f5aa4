"""Models that hang never take CI down: every call has a deadline, Ctrl-C and SIGTERM end a run cleanly.

The looping model (tests/modelzoo.looping) answers ``2x``, but its ``tf.while_loop`` never ends when any x < 0.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest


@pytest.fixture(scope="session")
def looping_model(zoo_dir: Path) -> Path:
    from tests import modelzoo

    return modelzoo.looping(zoo_dir / "looping")


def test_a_looping_model_is_one_timeout_finding_and_the_run_goes_on(pytester: pytest.Pytester,
                                                                    looping_model: Path) -> None:
    start = time.monotonic()
    result = pytester.runpytest("-p", "no:cacheprovider", "--savedmodel-server=none", "--savedmodel-timeout=1",
                                f"--savedmodel={looping_model}", "-rs", "--junitxml=junit.xml")
    took = time.monotonic() - start
    outcomes = result.parseoutcomes()
    assert outcomes["failed"] == 1 and outcomes["passed"] == 2 and outcomes["skipped"] >= 3, outcomes
    result.stdout.fnmatch_lines([
        "*[[]finding[]] raw path: looping v1 signature 'serving_default' did not answer within 1 s "
        "(--savedmodel-timeout) on inputs {'x': [[]*]}; the call was cancelled. A model that loops forever on some "
        "inputs*If the model is merely slow, raise --savedmodel-timeout.",
        "*savedmodel summary*",
        "SKIPPED [[]*[]] *: same cause as savedmodel:looping::serving_default::*: "
        "'serving_default' of savedmodel:looping did not answer within 1 s",
    ])
    failed = next(line for line in result.outlines if "did not answer within" in line)
    drawn = failed.split("on inputs {'x': [")[1].split("]")[0]
    assert any(float(v) < 0 for v in drawn.split(",")), failed  # the input that hung is shown as drawn
    assert (pytester.path / "junit.xml").exists()
    assert took < 60, took  # one deadline per cause, not one per item and example


def test_a_served_call_past_its_deadline_is_the_same_finding_and_the_emulator_keeps_answering(
        looping_model: Path, tmp_path: Path) -> None:
    """TF Serving turns the client's gRPC deadline into the session-run timeout, and --rest_api_timeout_in_ms
    into the REST one: the emulator does too, so a looping input gives up its core when the deadline passes."""
    import threading

    import pytest_savedmodel.deadline as deadline  # sys.modules, as the runners see it (pytester may reload it)
    from pytest_savedmodel.errors import CallTimeout
    from pytest_savedmodel.locate import find_model
    from pytest_savedmodel.runners.grpc import GrpcRunner
    from pytest_savedmodel.runners.rest import RestRunner
    from pytest_savedmodel.serving.client import model_versions
    from pytest_savedmodel.serving.launcher import ModelServer, ServedModel
    from pytest_savedmodel.signatures import inspect_model

    ref = find_model(looping_model)
    sig = inspect_model(ref).signature("serving_default")
    hang, fine = {"x": np.array([-1.0], np.float32)}, {"x": np.array([1.5], np.float32)}
    before = deadline.call_timeout()
    deadline.set_call_timeout(3.0)  # the server's --rest_api_timeout_in_ms follows it
    try:
        with ModelServer.create("emulator", models=[ServedModel("looping", ref.path, 1)], log_dir=tmp_path) as server:
            errors: list[BaseException] = []

            def loop_once() -> None:
                try:
                    GrpcRunner(sig, target=server.grpc_target, model_name="looping", timeout=3).predict(hang)
                except BaseException as exc:
                    errors.append(exc)

            looping = threading.Thread(target=loop_once)
            looping.start()
            time.sleep(0.5)
            # while one request loops, another client is answered at once (one looping run holds one of TF's
            # inter-op threads, one per core: on a 2-core machine two looping runs would hold them all)
            start = time.monotonic()
            assert model_versions(server.grpc_target, "looping") == [(1, "AVAILABLE", "")]
            got = GrpcRunner(sig, target=server.grpc_target, model_name="looping").predict(fine)
            assert time.monotonic() - start < 2.0
            assert got["y"].tolist() == [3.0]
            looping.join(30)
            assert len(errors) == 1 and isinstance(errors[0], CallTimeout), errors
            assert "grpc path: model 'looping' at 127.0.0.1:" in str(errors[0])
            assert "did not answer within 3 s (--savedmodel-timeout) on inputs {'x': [-1.0]}" in str(errors[0])
            # REST: the server's own bound answers HTTP 504 first (the client would wait 20 s)
            start = time.monotonic()
            with pytest.raises(CallTimeout) as info:
                RestRunner(sig, base_url=server.rest_url, model_name="looping", timeout=20).predict(hang)
            assert time.monotonic() - start < 15
            assert "rest path: model 'looping'" in str(info.value)
            assert any("the server answered HTTP 504" in n for n in info.value.__notes__)
            # the runs ended: the server is idle again, not burning a core
            assert RestRunner(sig, base_url=server.rest_url, model_name="looping").predict(fine)["y"].tolist() == [3.0]
            assert _cpu_seconds(server.process.pid, over=1.0) < 0.5
    finally:
        deadline.set_call_timeout(before)


def _cpu_seconds(pid: int, *, over: float) -> float:
    def ticks() -> int:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])  # utime + stime

    first = ticks()
    time.sleep(over)
    return (ticks() - first) / os.sysconf("SC_CLK_TCK")


def test_the_eager_path_is_cancelled_at_the_deadline_and_stays_usable(tmp_path: Path) -> None:
    import tensorflow as tf

    import pytest_savedmodel.deadline as deadline  # sys.modules, as the runners see it (pytester may reload it)
    from pytest_savedmodel.errors import CallTimeout
    from pytest_savedmodel.locate import find_model
    from pytest_savedmodel.runners.eager import EagerRunner
    from pytest_savedmodel.signatures import inspect_model

    class Loop(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None], tf.float32)])
        def serve(self, x: Any) -> Any:
            _, y = tf.while_loop(lambda i, v: tf.reduce_any(v < 0), lambda i, v: (i + 1, v), [tf.constant(0), x])
            return {"y": y * 2.0}

    module = Loop()
    tf.saved_model.save(module, str(tmp_path / "loop2" / "1"), signatures={"serving_default": module.serve})
    ref = find_model(tmp_path / "loop2")
    before = deadline.call_timeout()
    deadline.set_call_timeout(1.0)
    try:
        runner = EagerRunner(ref, inspect_model(ref).signature("serving_default"))
        start = time.monotonic()
        with pytest.raises(CallTimeout, match=r"eager path: loop2 v1 signature 'serving_default' did not answer "
                                              r"within 1 s"):
            runner.predict({"x": np.array([-2.0], np.float32)})
        assert time.monotonic() - start < 10
        assert runner.predict({"x": np.array([2.0], np.float32)})["y"].tolist() == [4.0]
    finally:
        deadline.set_call_timeout(before)


def _run_and_signal(cwd: Path, args: list[str], sig: int, *, env: dict[str, str]) -> tuple[int, str, float]:
    """Start pytest, wait until its third item (the looping call) runs, send ``sig``; (rc, output, seconds)."""
    log = cwd / "out.log"
    with log.open("w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "pytest", *args], cwd=cwd, stdout=out,
                                stderr=subprocess.STDOUT, env=env)
        try:
            deadline = time.monotonic() + 120
            while "savedmodel:looping .." not in log.read_text() and time.monotonic() < deadline:
                time.sleep(0.2)
            time.sleep(2.0)  # inside the TF call that loops
            start = time.monotonic()
            proc.send_signal(sig)
            rc = proc.wait(60)
            return rc, log.read_text(), time.monotonic() - start
        finally:
            if proc.poll() is None:
                proc.kill()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_ctrl_c_and_sigterm_stop_a_hanging_call_within_seconds_and_leave_nothing(
        pytester: pytest.Pytester, looping_model: Path, sig: int) -> None:
    tmp = pytester.path / "tmp"
    tmp.mkdir()
    home = pytester.path / "home"
    home.mkdir()
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "TMPDIR": str(tmp), "HOME": str(home)}
    for var in ("KERAS_HOME", "MPLCONFIGDIR"):
        env.pop(var, None)
    rc, out, took = _run_and_signal(pytester.path, ["-p", "no:cacheprovider", "--savedmodel-server=none",
                                                    "--savedmodel-timeout=300", f"--savedmodel={looping_model}",
                                                    "--junitxml=junit.xml"], sig, env=env)
    assert took < 10, (took, out[-2000:])
    assert rc == 2, out[-2000:]  # pytest's "interrupted"
    assert "KeyboardInterrupt" in out
    assert (pytester.path / "junit.xml").exists()
    assert sorted(p.name for p in tmp.iterdir()) == [], "temporary directories left behind"
    assert sorted(str(p.relative_to(home)) for p in home.rglob("*")) == [], "written under HOME"
