"""The served path in the zero-code suite, from the outside: parity items, the header, a dead server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.processes import emulators_started_by_us, gone_within

pytestmark = pytest.mark.serving


def test_served_parity_items_pass_and_name_the_server(pytester: pytest.Pytester, testdata: Path) -> None:
    result = pytester.runpytest("-p", "no:cacheprovider", "--savedmodel-examples=10", "--savedmodel-server=emulator",
                                f"--savedmodel={testdata / 'saved_model_half_plus_two_cpu'}", "-k",
                                "serving_default or regress_x_to_y", "--savedmodel-checks=parity", "-v")
    result.assert_outcomes(passed=10)  # serving_default 2, regress_x_to_y 4, regress_x_to_y2 4
    result.stdout.fnmatch_lines([
        "*served paths: --savedmodel-server=emulator (started in the background before the first test, if a selected "
        "test is served)*",
        "*regress_x_to_y::parity[[]parsing~grpc-regress[]] PASSED*",
        "*regress_x_to_y::parity[[]parsing~rest-regress[]] PASSED*",
        "*serving_default::parity[[]raw~grpc[]] PASSED*",
        "*serving_default::parity[[]raw~rest[]] PASSED*",
        "served paths answered by: TF Serving emulator*AVAILABLE after*",
    ])


def test_a_server_killed_mid_suite_fails_the_served_items_with_its_log_and_leaves_nothing(
    pytester: pytest.Pytester, testdata: Path
) -> None:
    pytester.makeconftest(
        """
        import os, signal
        from pytest_savedmodel.plugin import SUITE_KEY

        PIDS = []

        def pytest_runtest_teardown(item):
            suite = item.config.stash.get(SUITE_KEY, None)
            server = getattr(suite, "started_server", None)
            if server is not None and server.process is not None and server.alive():
                PIDS.append(server.process.pid)
                os.kill(server.process.pid, signal.SIGKILL)
                server.process.wait(10)

        def pytest_sessionfinish(session):
            with open("killed.txt", "w") as f:
                f.write(" ".join(map(str, PIDS)))
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider", "--savedmodel-examples=5", "--savedmodel-server=emulator",
                                f"--savedmodel={testdata / 'saved_model_half_plus_two_cpu'}", "-k", "serving_default",
                                "--savedmodel-checks=parity")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*is no longer running (exit status -9)*", "*--- server log (last lines) ---*",
                                 "*Running gRPC ModelServer at 127.0.0.1:*"])
    pids = [int(p) for p in (pytester.path / "killed.txt").read_text().split()]
    assert pids and not any(Path(f"/proc/{p}").exists() and "Z" not in Path(f"/proc/{p}/stat").read_text()
                            for p in pids)
    assert emulators_started_by_us() == []


def test_savedmodel_server_fixture_serves_user_tests(pytester: pytest.Pytester, testdata: Path) -> None:
    pytester.makepyfile(
        """
        import numpy as np
        from pytest_savedmodel.runners.grpc import GrpcRunner
        from pytest_savedmodel.runners.rest import RestRunner

        def test_served(savedmodel, savedmodel_server):
            sig = savedmodel.signature("serving_default")
            with GrpcRunner(sig, target=savedmodel_server.grpc_target, model_name="half") as g:
                assert g.predict({"x": np.array([[2.0]], np.float32)})["y"].tolist() == [[3.0]]
            with RestRunner(sig, base_url=savedmodel_server.rest_url, model_name="half") as r:
                assert r.predict({"x": np.array([[4.0]], np.float32)})["y"].tolist() == [[4.0]]
            assert "emulator" in savedmodel_server.describe()
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider", "--savedmodel-server=emulator",
                                f"--savedmodel=half={testdata / 'saved_model_half_plus_two_cpu'}",
                                "-k", "test_served")
    result.assert_outcomes(passed=1)
    assert emulators_started_by_us() == []


@pytest.mark.parametrize("sig", ["SIGINT", "SIGKILL"])
def test_ctrl_c_or_a_killed_pytest_leaves_no_server(pytester: pytest.Pytester, testdata: Path, sig: str) -> None:
    """Ctrl-C (SIGINT) to pytest, or pytest killed outright, while the emulator serves: nothing survives."""
    import signal
    import subprocess
    import sys
    import time

    pytester.makepyfile(
        """
        import time

        def test_wait(savedmodel_server):
            print("SERVER", savedmodel_server.process.pid, flush=True)
            # short sleeps: the kernel may hand SIGINT to any thread (TF's, gRPC's), and Python raises
            # KeyboardInterrupt in the main thread only when it next runs bytecode
            for _ in range(1200):
                time.sleep(0.1)
        """
    )
    model = f"--savedmodel=half={testdata / 'saved_model_half_plus_two_cpu'}"
    proc = subprocess.Popen([sys.executable, "-m", "pytest", "-s", "-p", "no:cacheprovider",
                             "--savedmodel-server=emulator", model, "-k", "test_wait"], cwd=pytester.path,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert proc.stdout is not None
    server_pid = None
    deadline = time.monotonic() + 120
    while server_pid is None and time.monotonic() < deadline:
        line = proc.stdout.readline().decode(errors="replace")
        if "SERVER " in line:  # printed after the test file's name on the same line
            server_pid = int(line.split("SERVER ")[1].split()[0])
        if not line and proc.poll() is not None:
            break
    assert server_pid is not None, "the emulator did not start"
    proc.send_signal(getattr(signal, sig))
    proc.wait(30)
    assert gone_within(server_pid, 15), f"emulator {server_pid} survived {sig} to pytest"


def test_a_crashed_xdist_worker_leaves_no_server(pytester: pytest.Pytester, testdata: Path) -> None:
    """The worker that started the emulator dies mid-test (SIGKILL): xdist reports it and the server goes too."""
    import subprocess
    import sys

    pytester.makepyfile(
        """
        import os, signal, time

        def test_crash(savedmodel_server):
            with open("server.pid", "w") as f:
                f.write(str(savedmodel_server.process.pid))
            os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    model = f"--savedmodel=half={testdata / 'saved_model_half_plus_two_cpu'}"
    proc = subprocess.run([sys.executable, "-m", "pytest", "-n", "1", "-p", "no:cacheprovider",
                           "--savedmodel-server=emulator", model, "-k", "test_crash"], cwd=pytester.path,
                          capture_output=True, text=True, timeout=300, check=False)
    assert "worker 'gw0' crashed while running 'test_crash.py::test_crash'" in proc.stdout + proc.stderr or \
        "crashed while running" in proc.stdout, proc.stdout[-2000:]
    server_pid = int((pytester.path / "server.pid").read_text())
    assert gone_within(server_pid, 15), f"emulator {server_pid} survived its crashed xdist worker"


@pytest.fixture(scope="module")
def load_models(zoo_dir: Path) -> dict[str, Path]:
    from tests import modelzoo

    base = zoo_dir / "load"
    return {"shared_state": modelzoo.shared_state(base / "shared_state"),
            "fast": modelzoo.slow_identity(base / "fast", steps=1),
            "slow": modelzoo.slow_identity(base / "slow", steps=6000)}


LOAD_ARGS = ["-p", "no:cacheprovider", "--savedmodel-server=emulator", "--savedmodel-latency-requests=8"]


def test_latency_and_concurrency_items_report_their_figures(pytester: pytest.Pytester,
                                                           load_models: dict[str, Path]) -> None:
    result = pytester.runpytest(*LOAD_ARGS, f"--savedmodel=m={load_models['fast']}",
                                "--savedmodel-checks=latency,concurrency", "--junitxml=out.xml")
    result.assert_outcomes(passed=5)  # load + 4
    result.stdout.fnmatch_lines([
        "*serving_default*latency[[]grpc[]]*9*cold * ms, p50 * ms, p99 * ms (8 warm)*ok*",
        "*serving_default*latency[[]rest[]]*9*cold * ms, p50 * ms, p99 * ms (8 warm)*ok*",
        "*serving_default*concurrency[[]grpc[]]*24*8 requests x 2 from 8 threads: same answers*ok*",
        "*serving_default*concurrency[[]rest[]]*24*8 requests x 2 from 8 threads: same answers*ok*",
    ])
    xml = (pytester.path / "out.xml").read_text()
    assert 'name="savedmodel.p99_ms"' in xml and 'name="savedmodel.cold_ms"' in xml


def test_answers_that_change_under_concurrent_load_are_caught(pytester: pytest.Pytester,
                                                              load_models: dict[str, Path]) -> None:
    # the model is right when called alone: determinism, batch and served parity pass
    result = pytester.runpytest(*LOAD_ARGS, f"--savedmodel=m={load_models['shared_state']}", "--savedmodel-examples=5",
                                "--savedmodel-checks=determinism,batch,parity,concurrency",
                                "--savedmodel-concurrency=6")
    result.assert_outcomes(passed=5, failed=2)  # load, determinism, batch, parity x2 pass
    result.stdout.fnmatch_lines([
        "*savedmodel:m::serving_default::concurrency[[]grpc[]]*",
        "*request * of 8 gave another answer when sent concurrently (6 client threads, 16 requests) than when "
        "sent alone:*", "*alone and concurrent disagree*", "*output 'y': * elements differ*",
    ])
    assert "concurrency[rest] - [finding]" in result.stdout.str()


def test_a_latency_budget_and_a_regression_against_the_baseline_are_findings(pytester: pytest.Pytester,
                                                                             load_models: dict[str, Path]) -> None:
    # the candidate answers like production (parity passes) but is slower on the same server
    result = pytester.runpytest(*LOAD_ARGS, f"--savedmodel=m={load_models['slow']}",
                                f"--savedmodel-baseline={load_models['fast']}", "--savedmodel-checks=latency,movement",
                                "--savedmodel-examples=3", "-k", "latency or baseline")
    result.assert_outcomes(passed=3, failed=2)  # baseline load, contract, movement pass; latency[grpc], [rest] fail
    result.stdout.fnmatch_lines([
        "*m v1 signature 'serving_default' over grpc: latency finding:*",
        "*warm p3 * ms vs the baseline's * ms, interleaved on the same server: *x (95% CI *), * ms slower; even the "
        "lower bound is over the allowed 1.5x (--savedmodel-latency-regression)*",
    ])
    # the budget applies without a baseline
    result = pytester.runpytest(*LOAD_ARGS, f"--savedmodel=m={load_models['fast']}", "--savedmodel-checks=latency",
                                "--savedmodel-max-p99-ms=0.001")
    result.assert_outcomes(passed=1, failed=2)
    result.stdout.fnmatch_lines(["*warm p99 * ms is over the budget of 0.001 ms (--savedmodel-max-p99-ms)*"])


def test_under_xdist_the_summary_keeps_the_server_line_and_the_json_report_is_typed(
        pytester: pytest.Pytester, testdata: Path, zoo_dir: Path) -> None:
    from tests import modelzoo

    model = testdata / "saved_model_half_plus_two_cpu"
    nan = modelzoo.nan_region(zoo_dir / "xdist_nan")  # its finite item fails in a worker
    result = pytester.runpytest("-p", "no:cacheprovider", "--savedmodel-examples=5", "--savedmodel-server=emulator",
                                f"--savedmodel={model}", f"--savedmodel=nan={nan}",
                                "--savedmodel-checks=load,parity,finite", "-k", "serving_default or load", "-n", "2",
                                "--savedmodel-report=r.json")
    result.stdout.fnmatch_lines(["served paths answered by: TF Serving emulator*AVAILABLE after*"])
    assert result.parseoutcomes()["failed"] == 1
    doc = json.loads((pytester.path / "r.json").read_text())
    rows = doc["results"]
    assert rows and all(isinstance(r["version"], int) and isinstance(r["examples"], int) for r in rows)
    assert all(r["max_abs"] is None or isinstance(r["max_abs"], float) for r in rows)
    assert {r["export"] for r in rows} == {"saved_model_half_plus_two_cpu", "nan"}
    (failure,) = doc["failures"]
    assert failure["text"].startswith("[finding] ")  # not "[gw0] linux -- Python ...": no xdist worker prefix
