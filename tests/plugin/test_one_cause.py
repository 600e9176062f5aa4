"""One root cause, one red: when the model rejects a generated input, the first item that meets the rejection
fails with it, and the other items of the signature that fail with the same rejection are skipped naming it."""

from __future__ import annotations

from pathlib import Path

import pytest


def test_a_rejected_input_is_one_failure_and_the_rest_are_skipped_naming_it(pytester: pytest.Pytester,
                                                                           zoo_dir: Path) -> None:
    from tests import zoo_keras

    model = zoo_keras.keras_features(zoo_dir / "one_cause", off_by_one=True)  # ids + 1 into Embedding(20)
    result = pytester.runpytest("-p", "no:cacheprovider", "--savedmodel-server=none", f"--savedmodel={model}",
                                "--savedmodel-seed=1", "-rs")
    outcomes = result.parseoutcomes()
    assert outcomes.get("failed") == 1, outcomes
    assert outcomes.get("skipped", 0) >= 2, outcomes
    result.stdout.fnmatch_lines([
        "*[[]RunnerError[]] raw runner: one_cause v1 signature 'serving_default' failed on inputs *: "
        "InvalidArgumentError: indices[[]*[]] = 20 is not in [[]0, 20)",
        "SKIPPED [[]*[]] *: same cause as savedmodel:one_cause::serving_default::*: the model rejected the inputs "
        "with 'indices[[]*[]] = 20 is not in [[]0, 20)'",
    ])


def test_the_shape_of_a_reason_ignores_its_numbers() -> None:
    from pytest_savedmodel.errors import cause_shape as _shape_of

    assert _shape_of("indices[1,0] = 25 is not in [0, 20)") == _shape_of("indices[0,0] = 20 is not in [0, 20)")
    assert _shape_of("x must be 1.5e-3") == "x must be #"
    assert _shape_of("indices[0,0] = 20 is not in [0, 20)") != _shape_of("Expected shape [#]")


def test_a_signature_that_runs_one_row_only_is_one_finding_on_the_batch_item(pytester: pytest.Pytester,
                                                                             zoo_dir: Path) -> None:
    from tests import modelzoo

    model = modelzoo.one_row_only(zoo_dir / "one_row")
    result = pytester.runpytest("-p", "no:cacheprovider", "--savedmodel-server=none", f"--savedmodel={model}",
                                "--savedmodel-examples=20", "-v")
    result.assert_outcomes(passed=5, failed=1)
    result.stdout.fnmatch_lines([
        "*::serving_default::batch FAILED*",
        "*[[]finding[]] one_row v1 signature 'serving_default' declares a dynamic batch (-1) but fails for a batch "
        "of 2 while one row runs: raw runner: *Input to reshape is a tensor with 6 values, but the requested shape "
        "has 3*",
        "The other checks of this signature ran one row at a time.*--enable_batching*",
    ])


def test_under_xdist_the_items_of_a_signature_share_a_worker_and_a_cause_is_still_one_red(
        pytester: pytest.Pytester, testdata: Path) -> None:
    """half_plus_three's regress signature declares a float input where its graph parses tf.Examples: every
    check of it would fail with the same TF error. pytest-xdist's default scheduling spread them over workers,
    each of which reported it once; the plugin schedules a signature's items on one worker."""
    args = ["-p", "no:cacheprovider", "--savedmodel-server=none", "--savedmodel-examples=5", "--savedmodel-rows=50",
            f"--savedmodel={testdata / 'saved_model_half_plus_three'}", "-k", "regress"]
    serial = pytester.runpytest(*args).parseoutcomes()
    spread = pytester.runpytest(*args, "-n", "2").parseoutcomes()
    assert serial.get("failed") == spread.get("failed") == 2  # the signature finding, and the rejection once
    assert spread.get("skipped", 0) == serial.get("skipped", 0) >= 2  # the other checks: "same cause as ..."
