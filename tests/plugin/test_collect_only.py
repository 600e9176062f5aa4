"""Planning is pure: --collect-only writes nothing (not even with --savedmodel-update-contract) and runs no model."""

from __future__ import annotations

from pathlib import Path

import pytest

NO_MODEL_RUNS = """
import pytest_savedmodel.runners._session as S
import pytest_savedmodel.runners.raw as R

ORIGINAL = S.load_session

def refuse(ref):
    raise RuntimeError("a model was loaded to run")

def pytest_configure(config):
    S.load_session = R.load_session = refuse

def pytest_unconfigure(config):  # pytester runs in this process: leave the modules as they were
    S.load_session = R.load_session = ORIGINAL
"""


def test_collect_only_with_update_contract_writes_nothing_and_runs_no_model(
        pytester: pytest.Pytester, iris_pair: tuple[Path, Path]) -> None:
    raw, parsing = iris_pair
    pytester.makeconftest(NO_MODEL_RUNS)
    before = sorted(p.name for p in pytester.path.iterdir())
    result = pytester.runpytest("-p", "no:cacheprovider", "--collect-only", "-q", f"--savedmodel=iris={raw}",
                                f"--savedmodel-parsing={parsing}", "--savedmodel-update-contract",
                                "--savedmodel-server=none")
    assert result.ret == pytest.ExitCode.OK
    out = result.stdout.str()
    assert "savedmodel:iris::contract" in out and "savedmodel:iris::serving_default::golden[raw]" in out
    assert "savedmodel:iris:parsing::serving_default::parity[raw~parsing]" in out
    assert sorted(p.name for p in pytester.path.iterdir()) == before  # no lock, no report, no cache
    # the same items run for real: the lock is written then (and the guard above would have seen a model run)
    result = pytester.runpytest("-p", "no:cacheprovider", f"--savedmodel=iris={raw}", "--savedmodel-server=none",
                                "--savedmodel-update-contract", "--savedmodel-checks=load,contract")
    assert "a model was loaded to run" in result.stdout.str()
