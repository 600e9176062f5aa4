"""Estimator-style exports (tests/zoo_estimator.py) through the zero-code gate: feature columns drop a dense ''
and -1 as missing, so a raw request holding them is compared with the tf.Example that leaves the feature out,
and the parse_spec item says that a client's literal '' reaches the two exports differently (pytester, in-process).
"""

from __future__ import annotations

from pathlib import Path

import pytest

FAST = ["-p", "no:cacheprovider", "--savedmodel-examples=15", "--savedmodel-server=none"]


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest(*FAST, *args)


def _models(estimator_zoo: dict[str, Path], name: str) -> list[str]:
    """The options for one zoo model: a single SavedModel (``heads*``) or a raw export and its parsing twin."""
    path = estimator_zoo[name]
    if name.startswith("heads"):
        return [f"--savedmodel=e={path}"]
    return [f"--savedmodel=e={path / 'raw'}", f"--savedmodel-parsing=e={path / 'parsing'}"]


def _risk(item: str, feature: str, literal: str, example: str, raw: str, parsing: str) -> str:
    return (f"{item}: risk: feature '{feature}': raw signature '{raw}' treats {literal} as missing (its graph compares "
            f"{feature} with {literal} and drops the matches), while parsing signature '{parsing}' reads a tf.Example "
            f"holding {feature}={example} as a present value; clients must leave {feature} out of the tf.Example "
            f"instead of sending {example}")


def test_the_multi_head_savedmodel_passes_and_names_the_missing_value_risks(
        pytester: pytest.Pytester, estimator_zoo: dict[str, Path]) -> None:
    result = run(pytester, *_models(estimator_zoo, "heads"), "-v")
    out = result.stdout.str()
    assert result.ret == pytest.ExitCode.OK, out
    result.assert_outcomes(passed=20)
    assert "savedmodel:e: predict = serving_default (tested once)" in out
    for parsing in ("classification", "regression"):
        assert f"savedmodel:e::serving_default::parity[raw~parsing:{parsing}] PASSED" in out
        item = f"savedmodel:e::serving_default::parse_spec[raw~parsing:{parsing}]"
        assert _risk(item, "zip_code", "''", "b''", "serving_default", parsing) in out
        assert _risk(item, "store_id", "-1", "-1", "serving_default", parsing) in out
    assert "serving_default ~ classification (paired: raw features as tf.Examples, outputs classes, scores" in out


def test_the_raw_export_and_its_parsing_twin_pass(pytester: pytest.Pytester, estimator_zoo: dict[str, Path]) -> None:
    result = run(pytester, *_models(estimator_zoo, "pair"), "-v")
    out = result.stdout.str()
    assert result.ret == pytest.ExitCode.OK, out
    result.assert_outcomes(passed=28)
    for key in ("serving_default", "regression", "predict"):
        assert f"savedmodel:e:parsing::{key}::parity[raw~parsing] PASSED" in out
    item = "savedmodel:e:parsing::regression::parse_spec[raw~parsing]"
    assert _risk(item, "zip_code", "''", "b''", "serving_default", "regression") in out


def test_the_missing_value_risk_fails_under_strict(pytester: pytest.Pytester, estimator_zoo: dict[str, Path]) -> None:
    result = run(pytester, *_models(estimator_zoo, "heads"), "--savedmodel-strict", "-k", "parse_spec")
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(["*risks (failing under --savedmodel-strict):*",
                                 "*feature 'zip_code': raw signature 'serving_default' treats '' as missing*"])


@pytest.mark.parametrize("name", ["heads_zip_default", "pair_zip_default"])
def test_a_parse_default_where_the_raw_path_drops_a_missing_value_fails_parity(
        pytester: pytest.Pytester, estimator_zoo: dict[str, Path], name: str) -> None:
    """zip_code parsed as FixedLen with default 'UNK': a client leaving zip_code out gets 'UNK' hashed, where the
    raw path drops a missing zip code. Sending b'' instead (the old comparison) hid it: the parsing graph drops
    b'' too."""
    result = run(pytester, *_models(estimator_zoo, name), "-k", "parity")
    result.assert_outcomes(failed=2 if name.startswith("heads") else 3)
    result.stdout.fnmatch_lines([
        "*raw and parsing disagree (signature 'regression')*",
        "(left out of the tf.Examples as missing: *zip_code = '' in row 0*; the graph of raw signature "
        "'serving_default' drops these values)"])
    result = run(pytester, *_models(estimator_zoo, name), "-k", "parse_spec and regression")
    result.stdout.fnmatch_lines(["*risk: feature 'zip_code': parsing signature 'regression' fills a missing value "
                                 "with [[]b'UNK'[]], and training declares no default for it*"])
    assert "feature 'zip_code': raw signature" not in result.stdout.str()  # both graphs drop b'': no literal risk


@pytest.mark.parametrize("name", ["heads_age_scale", "pair_age_scale"])
def test_a_two_percent_scale_in_the_parsing_path_fails_parity(
        pytester: pytest.Pytester, estimator_zoo: dict[str, Path], name: str) -> None:
    result = run(pytester, *_models(estimator_zoo, name), "-k", "parity")
    result.assert_outcomes(failed=2 if name.startswith("heads") else 3)
    result.stdout.fnmatch_lines(["*raw and parsing disagree (signature 'regression')*"])
