"""A model directory named with a quote and a ``;``, gated with a served baseline: the server's models.config
loads, REST finds the model by its percent-encoded name, and ids carry the name %XX-escaped."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

pytestmark = pytest.mark.serving


def test_a_model_dir_named_with_a_quote_and_a_semicolon_is_served_with_its_baseline(
    pytester: pytest.Pytester, testdata: Path
) -> None:
    model = pytester.path / 'm"q;x y'
    # no "\\" or "[": TensorFlow's own in-process loader globs the variables path and cannot restore under them
    baseline = pytester.path / "prod;'b\""
    for d in (model, baseline):
        shutil.copytree(testdata / "saved_model_half_plus_two_cpu", d)
    result = pytester.runpytest("-p", "no:cacheprovider", "--savedmodel-examples=5", "--savedmodel-server=emulator",
                                f"--savedmodel={model}", f"--savedmodel-baseline={baseline}",
                                "--savedmodel-checks=parity,movement", "-k", "serving_default", "-v")
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines_random([
        "savedmodel:m%22q%3Bx%20y::serving_default::parity[[]raw~grpc[]] PASSED*",
        "savedmodel:m%22q%3Bx%20y::serving_default::parity[[]raw~rest[]] PASSED*",
        "savedmodel:m%22q%3Bx%20y:baseline::serving_default::movement[[]baseline~raw[]] PASSED*",
        "served paths answered by: TF Serving emulator*AVAILABLE after*",
    ])
