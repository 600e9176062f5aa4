"""Huge declared shapes are one finding per signature, decided before anything is allocated."""

from __future__ import annotations

import resource
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def huge_models(zoo_dir: Path) -> tuple[Path, Path]:
    from tests import modelzoo

    return (modelzoo.huge_input(zoo_dir / "huge_in", dims=(20000, 20000)), modelzoo.huge_output(zoo_dir / "huge_out"))


def test_huge_declared_inputs_and_outputs_are_one_finding_each_and_allocate_nothing(
        pytester: pytest.Pytester, huge_models: tuple[Path, Path]) -> None:
    huge_in, huge_out = huge_models
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--savedmodel-server=none", "-rs",
                                           f"--savedmodel={huge_in}", f"--savedmodel={huge_out}")
    result.assert_outcomes(passed=4, failed=2, skipped=6)
    result.stdout.fnmatch_lines_random([
        "[[]finding[]] huge_in v1 signature 'serving_default' is not called: input 'x' declares [[]-1, 20000, 20000[]] "
        "float32: 1.6 GB per row, over the 67.1 MB bound. Nothing was allocated. If such sizes are intended, raise "
        "--savedmodel-max-input-bytes (bytes; now 67108864); else fix the declared shape",
        "[[]finding[]] huge_out v1 signature 'serving_default' is not called: output 'y' declares [[]-1, 100000000[]] "
        "float32: 400 MB per row, over the 67.1 MB bound.*",
        "SKIPPED [[]3[]] *: same cause as savedmodel:huge_in::serving_default::outputs: 'serving_default' of "
        "savedmodel:huge_in declares shapes over the size bound",
    ])
    # one row of x is 1.6 GB: the run's peak memory stays at what TensorFlow itself takes
    peak_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    assert peak_mib < 1400, peak_mib


def test_the_bound_is_an_option(pytester: pytest.Pytester, huge_models: tuple[Path, Path]) -> None:
    from tests import modelzoo

    small = modelzoo.huge_input(pytester.path / "small", dims=(300_000,))  # 1.2 MB a row
    result = pytester.runpytest("-p", "no:cacheprovider", "--savedmodel-server=none", f"--savedmodel={small}",
                                "--savedmodel-max-input-bytes=1000000", "--savedmodel-checks=load,finite")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*input 'x' declares [[]-1, 300000[]] float32: 1.2 MB per row, over the 1 MB bound*"])
    result = pytester.runpytest("-p", "no:cacheprovider", "--savedmodel-server=none", f"--savedmodel={small}",
                                "--savedmodel-checks=load,finite", "--savedmodel-examples=3")
    result.assert_outcomes(passed=2)
