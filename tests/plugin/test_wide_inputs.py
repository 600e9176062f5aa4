"""A wide tabular model (60 inputs drawn as codes, pytest_savedmodel.coded): clean, it passes the zero-code
gate; with a NaN band on two of its inputs, the finite check fails and names a row with those two set."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests import modelzoo

ROW = re.compile(r"inputs of row \d+: (\{.*\})")


@pytest.fixture(scope="session")
def wide_clean(zoo_dir: Path) -> Path:
    return modelzoo.wide_nan_band(zoo_dir / "wide_clean", band=False)


def test_a_clean_wide_model_passes_the_zero_code_gate(pytester: pytest.Pytester, wide_clean: Path) -> None:
    result = pytester.runpytest("-p", "no:cacheprovider", "--savedmodel-server=none", f"--savedmodel={wide_clean}")
    result.assert_outcomes(passed=6)  # load, signature, outputs, finite, determinism, batch


@pytest.mark.parametrize("rows", ["2000", "0"], ids=["default", "hypothesis-and-sweep-only"])
def test_a_nan_band_in_a_wide_model_is_caught_with_a_readable_row(pytester: pytest.Pytester,
                                                                   zoo: dict[str, Path], rows: str) -> None:
    result = pytester.runpytest("-p", "no:cacheprovider", "--savedmodel-server=none", "--savedmodel-seed=3",
                                f"--savedmodel-rows={rows}", f"--savedmodel={zoo['wide_nan_band']}", "-k", "finite")
    result.assert_outcomes(failed=1)
    found = ROW.search(result.stdout.str())
    assert found, result.stdout.str()
    row = {k: float(v) for k, v in re.findall(r"'(\w+)': \[([-\d.e+]+)\]", found.group(1))}
    assert len(row) == 60 and 3 < row["f17"] < 3.5 and row["i05"] > 0
