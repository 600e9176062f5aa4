"""The zero-code gate on models whose graph bounds their inputs: clean ones pass with no option, a planted
off-by-one is still caught (pytester, in-process)."""

from __future__ import annotations

from pathlib import Path

import pytest

ARGS = ["-p", "no:cacheprovider", "--savedmodel-server=none"]



def _clean(result: pytest.RunResult, passed: int) -> None:
    outcomes = result.parseoutcomes()
    assert outcomes.get("failed", 0) == 0 and outcomes.get("errors", 0) == 0, result.stdout.str()
    assert outcomes["passed"] == passed


def test_keras_embedding_lookup_hashing_and_category_encoding_pass_with_no_option(
        pytester: pytest.Pytester, keras_dir: Path) -> None:
    """ids in [0, 19], colors from the vocabulary file, categories in [0, 4]: no false alarm."""
    result = pytester.runpytest(*ARGS, f"--savedmodel=keras={keras_dir}")
    # load + serving_default x (signature, outputs, finite, determinism, batch, domain, parity):
    _clean(result, passed=8)
    assert "savedmodel:keras: serve = serving_default (tested once)" in result.stdout.str()  # one function, once


def test_tf_module_gathering_a_variable_passes_with_no_option(pytester: pytest.Pytester, gather_dir: Path) -> None:
    _clean(pytester.runpytest(*ARGS, f"--savedmodel=gather={gather_dir}"), passed=8)  # with the domain item


def test_parsing_signature_features_are_bounded_too(pytester: pytest.Pytester, parsing_dir: Path) -> None:
    _clean(pytester.runpytest(*ARGS, "--savedmodel-examples=50", f"--savedmodel=parse={parsing_dir}"), passed=7)


def test_an_off_by_one_before_the_embedding_is_still_caught(
        pytester: pytest.Pytester, keras_off_by_one_dir: Path) -> None:
    """The domain bounds the input (ids up to 19), not the shifted id: id 19 looks up row 20."""
    result = pytester.runpytest(*ARGS, "--savedmodel-examples=50", f"--savedmodel=keras={keras_off_by_one_dir}",
                                "-k", "serving_default and outputs")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*indices*= 20 is not in [[]0, 20)*", "*'ids': array([[][[]19[]][]])*"])
