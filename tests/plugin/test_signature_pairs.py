"""Signatures of one SavedModel compared with each other: raw~parsing pairs found by the rule or named with
--savedmodel-pair, identical signatures (Keras' serve and serving_default) tested once (pytester, in-process)."""

from __future__ import annotations

from pathlib import Path

import pytest

FAST = ["-p", "no:cacheprovider", "--savedmodel-examples=15", "--savedmodel-server=none"]
PAIR = "raw~parsing:parse_examples"


@pytest.fixture(scope="session")
def pairs_zoo(zoo_dir: Path) -> dict[str, Path]:
    from tests import zoo_pairs

    base = zoo_dir / "pairs"
    return {
        "clean": zoo_pairs.two_signatures(base / "clean"),
        "defaulted": zoo_pairs.two_signatures(base / "defaulted", x_default=0.0),
        "skewed": zoo_pairs.two_signatures(base / "skewed", scale=1.05),
        "k_float": zoo_pairs.two_signatures(base / "k_float", k_as_float=True),
        "renamed": zoo_pairs.two_signatures(base / "renamed", rename_outputs=True),
    }


@pytest.fixture(scope="session")
def keras_export(zoo_dir: Path) -> Path:
    from tests import zoo_pairs

    return zoo_pairs.keras_export(zoo_dir / "keras_export")


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest(*FAST, *args)


def test_a_clean_two_signature_module_passes_with_its_pair_items(pytester: pytest.Pytester,
                                                                 pairs_zoo: dict[str, Path]) -> None:
    result = run(pytester, f"--savedmodel=m={pairs_zoo['clean']}", "-v")
    out = result.stdout.str()
    assert result.ret == pytest.ExitCode.OK, out
    assert f"savedmodel:m::serving_default::parse_spec[{PAIR}] PASSED" in out
    assert f"savedmodel:m::serving_default::parity[{PAIR}] PASSED" in out
    assert "savedmodel:m: serving_default ~ parse_examples (paired: raw features as tf.Examples, outputs k2, y " \
           "compared)" in out
    assert "no raw partner" not in out


def test_a_parse_spec_default_is_a_risk_until_the_training_default_is_declared(pytester: pytest.Pytester,
                                                                               pairs_zoo: dict[str, Path]) -> None:
    model = f"--savedmodel=m={pairs_zoo['defaulted']}"
    result = run(pytester, model, "-k", "serving_default and parse_examples")
    result.assert_outcomes(passed=2)  # a risk, shown in the summary; not a defect by itself
    result.stdout.fnmatch_lines([
        f"m *serving_default  parse_spec[[]{PAIR}[]]*risk",
        f"savedmodel:m::serving_default::parse_spec[[]{PAIR}[]]: risk: feature 'x': parsing signature "
        f"'parse_examples' fills a missing value with [[]0.0[]], and training declares no default for it; declare "
        f"the training default with --savedmodel-training-default=x=VALUE to check it",
        "(risks pass; --savedmodel-strict makes them fail)"])
    result = run(pytester, model, "--savedmodel-strict", "-k", "serving_default and parse_examples")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*risks (failing under --savedmodel-strict):*", "*feature 'x': parsing signature*"])
    result = run(pytester, model, "--savedmodel-training-default=x=0.0", "-k", "serving_default and parse_examples")
    result.assert_outcomes(passed=2)  # x may now be left out of an Example: filled with 0.0 on the raw side


def test_a_skewed_parsing_signature_fails_its_pair_parity_naming_both_signatures(pytester: pytest.Pytester,
                                                                                 pairs_zoo: dict[str, Path]) -> None:
    result = run(pytester, f"--savedmodel=m={pairs_zoo['skewed']}", "-k",
                 "serving_default and parse_examples or finite")
    result.assert_outcomes(passed=3, failed=1)
    out = result.stdout.str()
    assert f"FAILED savedmodel:m::serving_default::parity[{PAIR}]" in out
    assert "raw and parsing disagree (signature 'parse_examples')" in out and "output 'y'" in out
    assert "runner('raw', signature='serving_default')" in out
    assert "runner('parsing', signature='parse_examples')" in out


def test_the_rule_leaves_differing_dtypes_unpaired_and_says_so(pytester: pytest.Pytester,
                                                              pairs_zoo: dict[str, Path]) -> None:
    result = run(pytester, f"--savedmodel=m={pairs_zoo['k_float']}", "--collect-only", "-q")
    assert "raw~parsing" not in result.stdout.str()
    result = run(pytester, f"--savedmodel=m={pairs_zoo['k_float']}", "--collect-only")
    result.stdout.fnmatch_lines(["*savedmodel:m: parsing signature parse_examples has no raw partner, no "
                                 "raw~parsing check (serving_default: dtypes differ: 'k' is int64, the feature "
                                 "float32)*"])


def test_savedmodel_pair_pairs_what_the_rule_does_not(pytester: pytest.Pytester,
                                                      pairs_zoo: dict[str, Path]) -> None:
    result = run(pytester, f"--savedmodel=m={pairs_zoo['k_float']}",
                 "--savedmodel-pair=m:serving_default~parse_examples", "-k", "serving_default and parse_examples")
    result.assert_outcomes(passed=1, failed=1)  # parity agrees (small ints survive float32); the parse spec does not
    out = result.stdout.str()
    assert f"FAILED savedmodel:m::serving_default::parse_spec[{PAIR}]" in out
    assert "feature 'k': parsed as float32 but the raw input is int64" in out
    result = run(pytester, f"--savedmodel=m={pairs_zoo['k_float']}", "--collect-only",
                 "--savedmodel-pair=serving_default~parse_examples")
    result.stdout.fnmatch_lines(["*savedmodel:m: serving_default ~ parse_examples (--savedmodel-pair: *"])


@pytest.mark.parametrize(("pair", "words"), [
    ("serving_default", "--savedmodel-pair='serving_default': expected [NAME:]RAWSIG~PARSINGSIG"),
    ("nope:serving_default~parse_examples", "--savedmodel-pair=nope:serving_default~parse_examples: no --savedmodel "
                                            "named 'nope'. Models: m"),
    ("serving_defualt~parse_examples", "model 'm' has no signature 'serving_defualt' (the raw side). Did you mean "
                                       "'serving_default'? Signatures: parse_examples, serving_default"),
    ("serving_default~parse_example", "has no signature 'parse_example' (the parsing side). Did you mean "
                                      "'parse_examples'?"),
    ("parse_examples~serving_default", "signature 'serving_default' of model 'm' has no tf.Example parse spec (the "
                                       "right side must parse tf.Examples). Parsing signatures: parse_examples"),
])
def test_bad_pairs_are_usage_errors(pytester: pytest.Pytester, pairs_zoo: dict[str, Path], pair: str,
                                    words: str) -> None:
    result = run(pytester, f"--savedmodel=m={pairs_zoo['clean']}", f"--savedmodel-pair={pair}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert words in result.stderr.str()


def test_pairs_whose_inputs_or_outputs_cannot_correspond_are_usage_errors(
        pytester: pytest.Pytester, pairs_zoo: dict[str, Path], testdata: Path) -> None:
    result = run(pytester, f"--savedmodel=m={pairs_zoo['renamed']}", "--savedmodel-pair=serving_default~parse_examples")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert ("'serving_default' and 'parse_examples' of model 'm' cannot be compared: no output name in common "
            "(k2, y / score, score_k2)") in result.stderr.str()
    result = run(pytester, f"--savedmodel=h={testdata / 'saved_model_half_plus_two_cpu'}",
                 "--savedmodel-pair=regress_x2_to_y3~regress_x_to_y")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert ("'regress_x2_to_y3' and 'regress_x_to_y' of model 'h' cannot be compared: input 'inputs' is not a "
            "feature of the parse spec (features: x, x2)") in result.stderr.str()


def test_keras_serve_and_serving_default_run_once(pytester: pytest.Pytester, keras_export: Path) -> None:
    result = run(pytester, f"--savedmodel=k={keras_export}", "-v")
    out = result.stdout.str()
    assert result.ret == pytest.ExitCode.OK, out
    assert "savedmodel:k: serve = serving_default (tested once)" in out
    assert "savedmodel:k::serving_default::finite PASSED" in out and "::serve::" not in out
    result = run(pytester, f"--savedmodel=k={keras_export}", "--savedmodel-signature=serve", "--collect-only", "-q")
    assert "savedmodel:k::serve::finite" in result.stdout.str()
    assert "::serving_default::" not in result.stdout.str()


@pytest.mark.parametrize("suffix", ["", "/1"])
def test_savedmodel_parsing_at_the_same_savedmodel_is_a_usage_error(pytester: pytest.Pytester,
                                                                     pairs_zoo: dict[str, Path], suffix: str) -> None:
    model = pairs_zoo["clean"]
    result = run(pytester, f"--savedmodel=m={model}", f"--savedmodel-parsing={model}{suffix}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    err = result.stderr.str()
    assert f"--savedmodel-parsing={model}{suffix} is the same SavedModel as --savedmodel=m={model}" in err
    assert "Drop --savedmodel-parsing and rely on the pairing inside one SavedModel" in err
