"""The served path in the zero-code suite, from the outside: parity items, the header, a dead server."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

pytestmark = pytest.mark.serving


def test_served_parity_items_pass_and_name_the_server(pytester: pytest.Pytester, testdata: Path) -> None:
    result = pytester.runpytest("-p", "no:cacheprovider", "--savedmodel-examples=10", "--savedmodel-server=emulator",
                                f"--savedmodel={testdata / 'saved_model_half_plus_two_cpu'}", "-k",
                                "serving_default or regress_x_to_y", "--savedmodel-checks=parity", "-v")
    result.assert_outcomes(passed=10)  # serving_default 2, regress_x_to_y 4, regress_x_to_y2 4
    result.stdout.fnmatch_lines([
        "*served paths: --savedmodel-server=emulator (started on first use)*",
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
            server = getattr(suite, "_server", None)
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


def emulators_started_by_us() -> list[int]:
    """Emulator processes whose --parent_pid is this process, from /proc (no pgrep: it would match itself)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmd = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"pytest_savedmodel.serving.emulator" in cmd and f"--parent_pid={os.getpid()}".encode() in cmd:
            found.append(int(entry.name))
    return found


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
            time.sleep(120)
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
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and Path(f"/proc/{server_pid}").exists() and \
            "Z" not in Path(f"/proc/{server_pid}/stat").read_text().split(")")[-1].split()[0]:
        time.sleep(0.2)
    alive = Path(f"/proc/{server_pid}").exists() and \
        "Z" not in Path(f"/proc/{server_pid}/stat").read_text().split(")")[-1].split()[0]
    assert not alive, f"emulator {server_pid} survived {sig} to pytest"
