"""The zero-code suite end to end: real models in, findings out (pytester, in-process)."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest

FAST = ["-p", "no:cacheprovider", "--savedmodel-examples=25", "--savedmodel-server=none"]


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest(*FAST, *args)


def test_half_plus_two_cpu_collects_readable_ids(pytester: pytest.Pytester, testdata: Path) -> None:
    result = run(pytester, f"--savedmodel={testdata / 'saved_model_half_plus_two_cpu'}", "--collect-only", "-q")
    result.stdout.fnmatch_lines([
        "savedmodel:saved_model_half_plus_two_cpu::load",
        "savedmodel:saved_model_half_plus_two_cpu::classify_x_to_y::signature",
        "savedmodel:saved_model_half_plus_two_cpu::serving_default::finite",
        "savedmodel:saved_model_half_plus_two_cpu::serving_default::batch",
    ])


def test_k_selects_generated_items(pytester: pytest.Pytester, testdata: Path) -> None:
    result = run(pytester, f"--savedmodel={testdata / 'saved_model_half_plus_two_cpu'}", "-k",
                 "serving_default and finite")
    result.assert_outcomes(passed=1)


@pytest.mark.parametrize("name", ["saved_model_half_plus_two_cpu", "saved_model_half_plus_two_tf2_cpu",
                                  "saved_model_half_plus_two_2_versions", "matrix_half_plus_two"])
def test_testdata_models_pass(pytester: pytest.Pytester, testdata: Path, name: str) -> None:
    result = run(pytester, f"--savedmodel={testdata / name}", "--savedmodel-examples=10")
    outcomes = result.parseoutcomes()
    assert outcomes.get("failed", 0) == 0 and outcomes.get("errors", 0) == 0, result.stdout.str()
    assert outcomes["passed"] >= 6


def test_half_plus_three_regress_signature_lies_about_its_input(pytester: pytest.Pytester, testdata: Path) -> None:
    result = run(pytester, f"--savedmodel={testdata / 'saved_model_half_plus_three'}", "--savedmodel-examples=5")
    result.stdout.fnmatch_lines([
        "*[[]finding[]] saved_model_half_plus_three v123 signature 'tensorflow/serving/regress': the SignatureDef "
        "disagrees with its graph*",
        "*input 'inputs' is declared float32 but feeds graph tensor 'tf_example:0', a string placeholder*",
    ])
    again = run(pytester, f"--savedmodel={testdata / 'saved_model_half_plus_three'}", "-v", "-k", "serving_default")
    assert "serving_default::outputs PASSED" in again.stdout.str()


def test_counter_increment_is_reported_as_nondeterministic(pytester: pytest.Pytester, testdata: Path) -> None:
    result = run(pytester, f"--savedmodel={testdata / 'saved_model_counter'}", "-k", "determinism")
    result.assert_outcomes(passed=2, failed=2)
    result.stdout.fnmatch_lines(["*incr_counter': the same inputs gave different outputs on two calls*",
                                 "*state changed by the call*"])


def test_nan_region_is_caught_with_the_input(pytester: pytest.Pytester, zoo: dict[str, Path]) -> None:
    result = run(pytester, f"--savedmodel={zoo['nan_region']}", "-k", "finite")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*output 'y' is not finite*NaN or infinite*", "*inputs of row 0: {'x': *"])
    assert FALSIFYING(result.stdout.str())


def test_batch_dependence_is_caught(pytester: pytest.Pytester, zoo: dict[str, Path]) -> None:
    result = run(pytester, f"--savedmodel={zoo['batch_dependent']}", "--savedmodel-checks=batch")
    result.assert_outcomes(passed=1, failed=1)  # load always runs
    result.stdout.fnmatch_lines(["*outputs depend on the rest of the batch*", "*in batch and *disagree*"])


def test_after_batch_dependence_the_other_checks_run_one_row_per_call_and_say_so(pytester: pytest.Pytester,
                                                                                zoo: dict[str, Path]) -> None:
    result = run(pytester, f"--savedmodel={zoo['batch_dependent']}", "-k", "serving_default")
    result.assert_outcomes(passed=4, failed=1)  # signature, outputs, finite, determinism; batch
    result.stdout.fnmatch_lines([
        "*outputs depend on the rest of the batch*",
        "The other checks of this signature ran one row per call, as one-row requests are answered*",
        "*outputs * one row per call: outputs depend on the rest of the batch (see the batch check)*ok",
        "*finite * one row per call: outputs depend*ok",
        "*batch * FAILED",
        "*determinism * one row per call: outputs depend*ok",
    ])
    clean = run(pytester, f"--savedmodel={zoo['half_plus_two']}")
    assert "one row per call" not in clean.stdout.str()


def test_batch_dependence_only_the_probe_meets_fails_the_batch_check_too(pytester: pytest.Pytester,
                                                                         zoo_dir: Path) -> None:
    from tests import modelzoo

    model = modelzoo.batch_of_eight(zoo_dir / "batch_of_eight")
    result = run(pytester, f"--savedmodel={model}", "-k", "serving_default")
    result.assert_outcomes(passed=4, failed=1)
    result.stdout.fnmatch_lines([
        "*outputs depend on the rest of the batch (batch of 8).",
        "  (found on 8 generated rows in one call, each row then alone, on the raw path)",
        "The other checks of this signature ran one row per call*",
        "*finite * one row per call: outputs depend*ok",
    ])


def test_the_batch_dependence_probe_draws_inside_the_declared_ranges(pytester: pytest.Pytester,
                                                                     zoo_dir: Path) -> None:
    from tests import modelzoo

    model = modelzoo.batch_dependent_above(zoo_dir / "batch_dependent_above")
    inside = run(pytester, f"--savedmodel=m={model}", "-k", "serving_default", "--savedmodel-range=m:x=0..5")
    inside.assert_outcomes(passed=5)  # clean where the model is used: no finding, no one-row fallback
    assert "one row per call" not in inside.stdout.str()
    outside = run(pytester, f"--savedmodel=m={model}", "-k", "serving_default")
    outside.assert_outcomes(passed=4, failed=1)
    outside.stdout.fnmatch_lines(["*outputs depend on the rest of the batch*"])


def test_dropout_at_serving_time_is_caught(pytester: pytest.Pytester, zoo: dict[str, Path]) -> None:
    result = run(pytester, f"--savedmodel={zoo['nondeterministic']}", "-k", "determinism")
    result.assert_outcomes(failed=1)


def test_a_healthy_model_passes_everything(pytester: pytest.Pytester, zoo: dict[str, Path]) -> None:
    result = run(pytester, f"--savedmodel={zoo['half_plus_two']}")
    result.assert_outcomes(passed=6)
    # 25 generated examples, then the sweep batch
    result.stdout.fnmatch_lines(["*savedmodel summary*", "*half_plus_two*serving_default*batch*26*ok*"])


def FALSIFYING(out: str) -> str:
    """Hypothesis's header before the shrunk example (its wording changed across versions)."""
    return next((h for h in ("Falsifying example", "Failing test case") if h in out), "")


PAIR = ["--savedmodel-checks=parse_spec,parity", "-k", "serving_default"]


def test_iris_raw_and_parsing_agree(pytester: pytest.Pytester, iris_pair: tuple[Path, Path]) -> None:
    raw, parsing = iris_pair
    result = run(pytester, f"--savedmodel=iris={raw}", f"--savedmodel-parsing={parsing}", *PAIR)
    result.assert_outcomes(passed=2)


def test_parse_default_that_differs_from_training_is_caught_with_a_shrunk_example(
    pytester: pytest.Pytester, iris_pair_default_skew: tuple[Path, Path]
) -> None:
    raw, parsing = iris_pair_default_skew
    result = run(pytester, f"--savedmodel=iris={raw}", f"--savedmodel-parsing={parsing}", *PAIR,
                 "--savedmodel-training-default=PetalWidth=0.0")
    result.assert_outcomes(failed=2)
    out = result.stdout.str()
    assert "feature 'PetalWidth': parse-spec default [-1.0] differs from the training default [0.0]" in out
    assert "raw and parsing disagree" in out
    falsifying = out[out.index(FALSIFYING(out)):]
    # the shrunk example omits the feature whose default differs
    assert "'PetalWidth'" not in falsifying.split("\n\n")[0]


def test_parse_default_without_a_declared_training_default_is_a_risk(
    pytester: pytest.Pytester, iris_pair_default_skew: tuple[Path, Path]
) -> None:
    """A default is worth a reviewer's look, not a defect by itself: the item passes, the risk is in the summary
    and the JSON report; --savedmodel-strict fails it. (With the training default declared, a default that
    differs from it is a defect: the test above.)"""
    import json

    raw, parsing = iris_pair_default_skew
    args = [f"--savedmodel=iris={raw}", f"--savedmodel-parsing={parsing}", "--savedmodel-checks=parse_spec",
            "-k", "serving_default", "--savedmodel-report=r.json"]
    result = run(pytester, *args)
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*parse_spec[[]raw~parsing[]]*risk",
                                 "*: risk: feature 'PetalWidth': parsing signature 'serving_default' fills a missing "
                                 "value with [[]-1.0[]], and training declares no default for it; declare the training "
                                 "default with --savedmodel-training-default=PetalWidth=VALUE to check it"])
    row = next(r for r in json.loads((pytester.path / "r.json").read_text())["results"] if r["kind"] == "parse_spec")
    assert row["verdict"] == "risk" and len(row["risks"]) == 1 and "'PetalWidth'" in row["risks"][0]
    result = run(pytester, *args, "--savedmodel-strict")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*risks (failing under --savedmodel-strict):*"])


def test_float_parsed_as_int_is_caught_with_a_shrunk_example(
    pytester: pytest.Pytester, iris_pair_int_cast: tuple[Path, Path]
) -> None:
    raw, parsing = iris_pair_int_cast
    result = run(pytester, f"--savedmodel=iris={raw}", f"--savedmodel-parsing={parsing}", *PAIR)
    result.assert_outcomes(failed=2)
    out = result.stdout.str()
    assert "feature 'PetalLength': parsed as int64 but the raw input is float32" in out
    assert "raw and parsing disagree" in out and FALSIFYING(out)


def test_a_schema_keeps_generated_values_in_the_declared_domain(pytester: pytest.Pytester,
                                                                zoo: dict[str, Path]) -> None:
    # sqrt(x + 10) is NaN below -10; the data team's schema says x is never negative, so no finding
    pytester.path.joinpath("schema.pbtxt").write_text(
        'feature {\n  name: "x"\n  type: FLOAT\n  float_domain { min: 0 max: 100 }\n}\n')
    args = ["-p", "no:cacheprovider", "--savedmodel-server=none", f"--savedmodel={zoo['nan_region']}",
            "--savedmodel-checks=finite"]
    pytester.runpytest(*args).assert_outcomes(failed=1, passed=1)
    pytester.runpytest(*args, "--savedmodel-schema=schema.pbtxt").assert_outcomes(passed=2)
    pytester.path.joinpath("bad.pbtxt").write_text('feature {\n  name: "x"\n  type: FLOT\n}\n')
    result = pytester.runpytest(*args, "--savedmodel-schema=bad.pbtxt")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "bad.pbtxt:3:9: not a valid TFMD schema" in result.stderr.str()


def test_a_parity_failure_saves_its_shrunk_inputs_and_says_how_to_reproduce(
    pytester: pytest.Pytester, iris_pair_default_skew: tuple[Path, Path], tmp_path: Path
) -> None:
    from pytest_savedmodel.counterexample import file_name, load_features

    raw, parsing = iris_pair_default_skew
    args = ["--savedmodel-server=none", "--savedmodel-examples=30", "--savedmodel-seed=7", f"--savedmodel=iris={raw}",
            f"--savedmodel-parsing={parsing}", "--savedmodel-checks=parity", "-k", "serving_default",
            "--savedmodel-training-default=PetalWidth=0.0", "--savedmodel-report=r.json"]
    result = pytester.runpytest(*args)  # with pytest's cache: the file goes there
    result.assert_outcomes(failed=1)
    saved = pytester.path / ".pytest_cache" / "d" / "savedmodel-counterexamples" / \
        file_name("savedmodel:iris:parsing::serving_default::parity[raw~parsing]")
    assert saved.name.startswith("iris-parsing-serving_default-parity-raw-parsing-")
    result.stdout.fnmatch_lines([
        "Reproduce:", f"  shrunk inputs saved to {saved}", "  @example(features={'PetalLength': np.array(*",
        "  python:", "*features = load_features(*", "*filled = {**features, 'PetalWidth': np.array([[]0.0[]], "
        "dtype=np.float32)}*", "*print(open_model(*raw/1').runner('raw', signature='serving_default')"
        ".predict(filled))", "*print(open_model(*parsing/1').runner('parsing', signature='serving_default')"
        ".predict(features))"])
    features = load_features(saved)
    assert "PetalWidth" not in features and set(features) == {"PetalLength", "SepalLength", "SepalWidth"}
    report = json.loads((pytester.path / "r.json").read_text())
    assert report["counterexamples"] == {"savedmodel:iris:parsing::serving_default::parity[raw~parsing]": str(saved)}
    # without the cache: a temporary directory, never the working directory; or where the user says
    before = sorted(p.name for p in pytester.path.iterdir())
    result = pytester.runpytest("-p", "no:cacheprovider", *args[:-1])
    assert "shrunk inputs saved to " + tempfile.gettempdir() in result.stdout.str()
    assert sorted(p.name for p in pytester.path.iterdir()) == before
    result = pytester.runpytest("-p", "no:cacheprovider", *args, f"--savedmodel-counterexamples={tmp_path / 'cx'}")
    assert (tmp_path / "cx" / saved.name).is_file()


def test_a_model_parsing_every_feature_kind_passes_with_generated_examples(pytester: pytest.Pytester,
                                                                         zoo: dict[str, Path]) -> None:
    result = pytester.runpytest("-p", "no:cacheprovider", "--savedmodel-examples=20",
                                f"--savedmodel=kinds={zoo['example_kinds']}",
                                "--savedmodel-checks=load,signature,outputs,finite,determinism,batch,parity")
    result.assert_outcomes(passed=8)  # load, signature, outputs, finite, determinism, batch, raw~grpc, raw~rest
