"""The server starts in the background before the first test, only when a selected test is served."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.processes import emulators_started_by_us

pytestmark = pytest.mark.serving

# records, at the first test's call, how many emulators this (in-process) pytest has started (or starts within
# 5 s while that test runs: the start is in a thread); those alive before it began (before.txt) do not count
RECORD_FIRST_CALL = """
import time
from pathlib import Path

from tests.processes import emulators_started_by_us

SEEN = []

def pytest_runtest_call(item):
    if SEEN:
        return
    SEEN.append(item.nodeid)
    before = set(map(int, Path("before.txt").read_text().split()))
    found = []
    until = time.monotonic() + 5
    while not found and time.monotonic() < until:
        found = [pid for pid in emulators_started_by_us() if pid not in before]
        time.sleep(0.05)
    Path("first_call.txt").write_text(f"{item.nodeid} {len(found)}")
"""


@pytest.fixture(autouse=True)
def before(pytester: pytest.Pytester) -> None:
    (pytester.path / "before.txt").write_text(" ".join(map(str, emulators_started_by_us())))


def _args(testdata: Path, *extra: str) -> list[str]:
    return ["-p", "no:cacheprovider", "--savedmodel-examples=5", "--savedmodel-rows=0", "--savedmodel-server=emulator",
            f"--savedmodel={testdata / 'saved_model_half_plus_two_cpu'}", *extra]


def test_a_served_run_has_its_server_starting_while_the_first_in_process_check_runs(
        pytester: pytest.Pytester, testdata: Path) -> None:
    pytester.makeconftest(RECORD_FIRST_CALL)
    result = pytester.runpytest(*_args(testdata, "-k", "load or serving_default", "--savedmodel-checks=load,parity"))
    result.assert_outcomes(passed=3)
    first, started = (pytester.path / "first_call.txt").read_text().split()
    assert first.endswith("::load") and started == "1"  # the load check is in-process; the server is on its way
    result.stdout.fnmatch_lines(["served paths answered by: TF Serving emulator*"])
    assert set(emulators_started_by_us()) <= set(map(int, (pytester.path / "before.txt").read_text().split()))


@pytest.mark.parametrize("extra", [
    pytest.param(("-k", "serving_default and not grpc and not rest"), id="served-items-deselected"),
    pytest.param(("--savedmodel-checks=load,finite",), id="no-served-check"),
    pytest.param(("--collect-only",), id="collect-only"),
])
def test_no_server_starts_when_no_selected_test_is_served(pytester: pytest.Pytester, testdata: Path,
                                                          extra: tuple[str, ...]) -> None:
    pytester.makeconftest(RECORD_FIRST_CALL)
    result = pytester.runpytest(*_args(testdata, *extra))
    assert result.ret == 0
    record = pytester.path / "first_call.txt"
    assert not record.exists() or record.read_text().split()[1] == "0"
    assert "served paths answered by" not in result.stdout.str()


def test_a_server_started_early_and_never_used_is_stopped_and_not_named(pytester: pytest.Pytester,
                                                                         testdata: Path) -> None:
    pytester.makeconftest(RECORD_FIRST_CALL + """
def pytest_runtest_teardown(item):
    raise RuntimeError("stop here")  # with -x: the run ends before any served check asked for the server
""")
    result = pytester.runpytest(*_args(testdata, "-x", "-k", "load or serving_default",
                                       "--savedmodel-checks=load,parity"))
    result.assert_outcomes(passed=1, errors=1)
    assert (pytester.path / "first_call.txt").read_text().split()[1] == "1"  # it had been started
    assert set(emulators_started_by_us()) <= set(map(int, (pytester.path / "before.txt").read_text().split()))
    assert "served paths answered by" not in result.stdout.str()


def test_a_plain_run_hands_its_flags_to_an_emulator_that_imported_tensorflow_during_collection(
        pytester: pytest.Pytester, testdata: Path) -> None:
    """serving.spare: with no -k/-m/--deselect and no xdist, an emulator process starts at configuration and
    imports TensorFlow while pytest collects; the server start hands it its flags. The summary says so, and
    nothing is left running."""
    pytester.makeconftest("""
from tests.processes import emulators_started_by_us

def pytest_collection_finish(session):  # the spare is already there: pytest's own collection is done
    from pathlib import Path
    Path("at_collection.txt").write_text(str(len(emulators_started_by_us())))
""")
    before = set(map(int, (pytester.path / "before.txt").read_text().split()))
    result = pytester.runpytest(*_args(testdata, "--savedmodel-checks=load,parity"))
    assert result.ret == 0
    assert int((pytester.path / "at_collection.txt").read_text()) >= len(before) + 1
    result.stdout.fnmatch_lines(["served paths answered by: TF Serving emulator*(AVAILABLE after * s, its "
                                 "TensorFlow imported while pytest collected)"])
    assert set(emulators_started_by_us()) <= before
