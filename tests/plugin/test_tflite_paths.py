"""The TFLite paths: a .tflite you ship (--savedmodel-tflite) and the SavedModel converted on the fly
(--savedmodel-convert-tflite=MODE), against the SavedModel; their error words; how far each mode may move outputs."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from pytest_savedmodel.compare import Tolerance
from pytest_savedmodel.errors import ModelCheckFailure, ModelLoadError, ModelNotFound, RunnerError, UsageError
from pytest_savedmodel.locate import find_model
from pytest_savedmodel.runners._tflite import mode_tolerance
from pytest_savedmodel.runners.convert_tflite import ConvertTFLiteRunner, calibration_rows, converter_message
from pytest_savedmodel.runners.raw import RawRunner
from pytest_savedmodel.runners.tflite import TFLiteRunner
from pytest_savedmodel.signatures import inspect_model

try:  # imported before any pytester run: its compiled modules cannot be imported twice in one process
    import ai_edge_litert.interpreter  # noqa: F401
except ImportError:  # pragma: no cover - the tf.lite fallback is tested below
    pass

ARGS = ["-p", "no:cacheprovider", "--savedmodel-examples=30", "--savedmodel-server=none", "-k", "tflite"]
FEATURES = ("PetalLength", "PetalWidth", "SepalLength", "SepalWidth")
IN_CALIBRATION = [f"--savedmodel-range={f}=-5..5" for f in FEATURES]


@pytest.fixture(scope="module")
def iris_tflite(zoo_dir: Path, iris_pair: tuple[Path, Path]) -> dict[str, Path]:
    """The Iris raw export, its float .tflite, and a .tflite converted from weights scaled by 1.1 (a defect)."""
    from tests import modelzoo, zoo_tflite

    w = modelzoo.iris_weights()
    scaled = {k: (v * np.float32(1.1)).astype(np.float32) for k, v in w.items()}
    return {"raw": iris_pair[0], "ok": zoo_tflite.tflite_of(iris_pair[0] / "1", zoo_dir / "tflite" / "iris.tflite"),
            "scaled": zoo_tflite.iris_tflite(zoo_dir / "tflite_scaled", scaled)}


@pytest.fixture(scope="module")
def string_op(zoo_dir: Path) -> Path:
    from tests import zoo_tflite

    return zoo_tflite.string_op(zoo_dir / "string_op")


@pytest.fixture(scope="module")
def sig(iris_pair: tuple[Path, Path]) -> object:
    return inspect_model(find_model(iris_pair[0])).signature("serving_default")


def test_iris_converted_on_the_fly_passes(pytester: pytest.Pytester, iris_pair: tuple[Path, Path]) -> None:
    result = pytester.runpytest(*ARGS, f"--savedmodel=iris={iris_pair[0]}", "--savedmodel-convert-tflite=float")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*iris:convert-tflite*load*ok*",
                                 "*iris:convert-tflite*serving_default*parity[[]raw~convert-tflite[]]*31*ok*"])


@pytest.mark.parametrize("mode", ["dynamic", "int8"])
def test_quantized_conversions_pass_with_their_tolerance(pytester: pytest.Pytester, iris_pair: tuple[Path, Path],
                                                         mode: str) -> None:
    # int8 is calibrated over [-5, 5]: the inputs are bounded to where it was calibrated
    ranges = IN_CALIBRATION if mode == "int8" else []
    result = pytester.runpytest(*ARGS, f"--savedmodel=iris={iris_pair[0]}", f"--savedmodel-convert-tflite={mode}",
                                *ranges)
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*iris:convert-tflite*serving_default*parity[[]raw~convert-tflite[]]*ok*"])


def test_int8_outside_its_calibration_range_is_a_finding(pytester: pytest.Pytester,
                                                         iris_pair: tuple[Path, Path]) -> None:
    result = pytester.runpytest(*ARGS, f"--savedmodel=iris={iris_pair[0]}", "--savedmodel-convert-tflite=int8")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*raw and convert-tflite disagree (signature 'serving_default')*",
                                 "*output '*': * elements differ; max abs error *(rtol=0.2, atol=*"])


def test_a_mode_tolerance_can_be_overridden(pytester: pytest.Pytester, iris_pair: tuple[Path, Path]) -> None:
    base = [*ARGS, f"--savedmodel=iris={iris_pair[0]}", "--savedmodel-convert-tflite=int8"]
    # outside its calibration range int8 fails at 0.2 (above); a team that accepts more says so
    pytester.runpytest(*base, "--savedmodel-tflite-tolerance=int8=1000,1000").assert_outcomes(passed=2)
    tight = pytester.runpytest(*base, *IN_CALIBRATION, "--savedmodel-tflite-tolerance=int8=0,0.000001")
    tight.assert_outcomes(passed=1, failed=1)
    tight.stdout.fnmatch_lines(["*output '*': * elements differ; max abs error *(rtol=0.0001, atol=*"])


@pytest.mark.parametrize(("value", "words"), [
    ("int9=0.1,0.1", "--savedmodel-tflite-tolerance=int9=0.1,0.1: no quantization mode 'int9'. Did you mean int8? "
                     "Give MODE=RTOL,ATOL with MODE one of float, float16, dynamic, int8, e.g. int8=0.3,0.05"),
    ("int8=0.1", "--savedmodel-tflite-tolerance=int8=0.1: give MODE=RTOL,ATOL with two numbers of 0 or more, "
                 "e.g. int8=0.3,0.05"),
    ("dynamic=-1,0", "--savedmodel-tflite-tolerance=dynamic=-1,0: give MODE=RTOL,ATOL"),
])
def test_a_bad_mode_tolerance_is_a_usage_error(pytester: pytest.Pytester, value: str, words: str) -> None:
    result = pytester.runpytest("--savedmodel=/a", f"--savedmodel-tflite-tolerance={value}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert words in result.stderr.str()


def test_a_given_tflite_passes_and_one_from_other_weights_is_caught(pytester: pytest.Pytester,
                                                                     iris_tflite: dict[str, Path]) -> None:
    t = iris_tflite
    result = pytester.runpytest(*ARGS, f"--savedmodel=iris={t['raw']}", f"--savedmodel=old={t['raw']}",
                                f"--savedmodel-tflite=iris={t['ok']}", f"--savedmodel-tflite=old={t['scaled']}")
    result.assert_outcomes(passed=3, failed=1)
    result.stdout.fnmatch_lines(["*iris:tflite*serving_default*parity[[]raw~tflite[]]*31*ok*"])
    result.stdout.fnmatch_lines(["*savedmodel:old:tflite::serving_default::parity[[]raw~tflite[]]*",
                                 "*raw and tflite disagree (signature 'serving_default')*",
                                 "*output '*': * elements differ; max abs error*"])


def test_an_op_tflite_cannot_convert_is_a_finding_quoting_the_converter(pytester: pytest.Pytester,
                                                                        string_op: Path) -> None:
    result = pytester.runpytest(*ARGS, f"--savedmodel=m={string_op}", "--savedmodel-convert-tflite=float")
    result.assert_outcomes(failed=2)  # the load item and the parity item, each quoting the converter
    out = result.stdout.str()
    result.stdout.fnmatch_lines([
        "*[[]finding[]] m v1 signature 'serving_default' does not convert to TFLite (float); "
        "tf.lite.TFLiteConverter says:",
        "*'tf.StringLength' op is neither a custom op nor a flex op",
        "*TF Select ops: StringLength",
    ])
    assert "Traceback" not in out and "func.func" not in out  # the converter's words, not its MLIR dump


def test_bad_words_are_load_errors_or_usage_errors(pytester: pytest.Pytester, iris_pair: tuple[Path, Path]) -> None:
    garbage = pytester.path / "model.tflite"
    garbage.write_bytes(b"\x08\x00\x00\x00GRPH" + bytes(64))
    raw = iris_pair[0]
    result = pytester.runpytest(*ARGS, f"--savedmodel=a={raw}", f"--savedmodel=b={raw}", f"--savedmodel=c={raw}",
                                "--savedmodel-tflite=a=missing.tflite", f"--savedmodel-tflite=b={garbage}",
                                "--savedmodel-convert-tflite=c=int9")
    out = result.stdout.str()
    assert result.ret == 1
    assert "TFLite model " in out and "missing.tflite: not found (give the .tflite file itself)" in out
    assert "model.tflite is not a TFLite flatbuffer (bytes 4..8 are b'GRPH', a .tflite has b'TFL3')" in out
    assert ("--savedmodel-convert-tflite='int9': unknown mode; use one of float, float16, dynamic, int8. "
            "Did you mean int8?") in out
    assert "Traceback" not in out
    usage = pytester.runpytest("-p", "no:cacheprovider", f"--savedmodel=iris={raw}",
                               "--savedmodel-convert-tflite=nope=int8")
    assert usage.ret == 4
    assert "--savedmodel-convert-tflite=nope=int8: no --savedmodel named 'nope'; models: iris" in usage.stderr.str()


# --------------------------------------------------------------------------- the runners themselves


def test_a_tflite_runner_takes_any_batch_and_detects_its_mode(iris_tflite: dict[str, Path], sig: object) -> None:
    runner = TFLiteRunner(iris_tflite["ok"], sig)  # type: ignore[arg-type]
    raw = RawRunner(find_model(iris_tflite["raw"]), sig)  # type: ignore[arg-type]
    assert runner.mode == "float"
    rng = np.random.default_rng(0)
    for n in (1, 4, 2):
        features = {f: rng.uniform(0, 8, n).astype(np.float32) for f in FEATURES}
        got, want = runner.predict(features), raw.predict(features)
        assert got["probabilities"].shape == (n, 3) and got["class_ids"].tolist() == want["class_ids"].tolist()
        np.testing.assert_allclose(got["logits"], want["logits"], rtol=1e-4, atol=1e-4)


def test_a_flatbuffer_without_signatures_and_one_row_is_called_by_tensor_names_row_by_row(
        zoo_dir: Path, iris_tflite: dict[str, Path], sig: object) -> None:
    from tests import modelzoo, zoo_tflite

    path = zoo_tflite.iris_from_session(zoo_dir / "tflite" / "session.tflite", modelzoo.iris_weights())
    runner = TFLiteRunner(path, sig)  # type: ignore[arg-type]
    assert runner.interpreter.get_signature_list() == {}
    features = {f: np.arange(3, dtype=np.float32) + i for i, f in enumerate(FEATURES)}
    got, want = runner.predict(features), RawRunner(find_model(iris_tflite["raw"]), sig).predict(features)  # type: ignore[arg-type]
    assert got["logits"].shape == (3, 3) and got["class_ids"].tolist() == want["class_ids"].tolist()
    np.testing.assert_allclose(got["probabilities"], want["probabilities"], rtol=1e-4, atol=1e-6)


def test_a_tflite_without_the_signature_names_the_ones_it_has(tmp_path: Path, iris_tflite: dict[str, Path],
                                                              sig: object) -> None:
    other = dataclasses.replace(sig, key="predict")  # type: ignore[type-var]
    with pytest.raises(RunnerError) as info:
        TFLiteRunner(iris_tflite["ok"], other)
    assert "has no signature 'predict' (its signatures: ['serving_default'])" in str(info.value)
    with pytest.raises(ModelNotFound, match="a directory"):
        TFLiteRunner(iris_tflite["raw"], sig)  # type: ignore[arg-type]
    (tmp_path / "saved_model.pb").write_bytes(b"\x08\x01\x12\x00" * 4)
    with pytest.raises(ModelLoadError, match="It looks like a SavedModel: give it with --savedmodel"):
        TFLiteRunner(tmp_path / "saved_model.pb", sig)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def wide(zoo_dir: Path) -> Path:
    from tests import zoo_tflite

    return zoo_tflite.wide(zoo_dir / "wide")


@pytest.mark.parametrize("mode", ["float16", "dynamic", "int8"])
def test_a_given_file_gets_the_tolerance_of_its_quantization(tmp_path: Path, wide: Path, mode: str) -> None:
    from pytest_savedmodel.runners.convert_tflite import convert

    model = find_model(wide)
    wide_sig = inspect_model(model).signature("serving_default")
    path = tmp_path / f"{mode}.tflite"
    path.write_bytes(convert(model, wide_sig, mode))
    assert TFLiteRunner(path, wide_sig).mode == mode


def test_quantized_tolerances_scale_with_each_output_and_skip_integer_outputs() -> None:
    ref = {"logits": np.array([[10.0, -30.0]]), "p": np.array([[0.5, 0.5]]), "class_ids": np.array([[0]])}
    run = Tolerance(1e-4, 1e-5)
    tol = mode_tolerance("int8", run, ref)
    assert (tol["logits"].rtol, tol["logits"].atol) == pytest.approx((0.2, 6.0)) and tol["class_ids"] is None
    assert (tol["p"].rtol, tol["p"].atol) == pytest.approx((0.2, 0.1))
    same = mode_tolerance("float", run, ref)
    assert same["class_ids"] == run and (same["logits"].rtol, same["logits"].atol) == pytest.approx((1e-4, 3e-3))
    assert mode_tolerance("int8", Tolerance(0.5, 1.0), ref)["p"] == Tolerance(0.5, 1.0)  # the run's, when looser
    assert mode_tolerance("int8", run, {"class_ids": np.array([1])}) == run  # nothing left out: compared exactly


def test_int8_calibration_is_deterministic_and_inside_its_range(sig: object) -> None:
    rows = calibration_rows(sig)  # type: ignore[arg-type]
    again = calibration_rows(sig)  # type: ignore[arg-type]
    assert len(rows) == 64 + 32 + 128 and all(set(r) == set(FEATURES) for r in rows)
    assert all(v.shape == (1,) and -5.0 <= float(v[0]) <= 5.0 for r in rows for v in r.values())
    assert all(np.array_equal(a[f], b[f]) for a, b in zip(rows, again, strict=True) for f in FEATURES)


def test_converter_message_keeps_its_words_not_its_dump() -> None:
    text = ("Could not translate MLIR to FlatBuffer.<unknown>:0: error: loc(fused[\"A:\", \"A\"]): 'tf.A' op is "
            "neither a custom op nor a flex op\n<unknown>:0: note: see current operation: %1 = ...\n"
            "<unknown>:0: error: failed while converting: 'main': \nSome ops are not supported by the native TFLite "
            "runtime\nTF Select ops: A\nDetails:\n\ttf.A(tensor<?xf32>)\n\"func.func\"() ({...})")
    assert converter_message(RuntimeError(text)).splitlines() == [
        "  'tf.A' op is neither a custom op nor a flex op", "  Some ops are not supported by the native TFLite runtime",
        "  TF Select ops: A"]
    assert converter_message(ValueError("only this\n\nand that")) == "  only this\n  and that"


def test_an_unknown_mode_says_which_it_may_be(iris_pair: tuple[Path, Path], sig: object) -> None:
    with pytest.raises(UsageError, match="Did you mean float16"):
        ConvertTFLiteRunner(find_model(iris_pair[0]), sig, mode="flaot16")  # type: ignore[arg-type]


def test_a_conversion_that_fails_is_a_finding_kept_for_the_process(string_op: Path) -> None:
    model = find_model(string_op)
    sig = inspect_model(model).signature("serving_default")
    for _ in range(2):  # the second time from the cache
        with pytest.raises(ModelCheckFailure, match=r"'tf\.StringLength' op is neither a custom op nor a flex op"):
            ConvertTFLiteRunner(model, sig)


def test_without_litert_the_tf_lite_interpreter_runs_with_a_note(monkeypatch: pytest.MonkeyPatch,
                                                                 iris_tflite: dict[str, Path], sig: object) -> None:
    from pytest_savedmodel.runners import _tflite

    monkeypatch.setitem(sys.modules, "ai_edge_litert.interpreter", None)
    monkeypatch.setattr(_tflite, "_NOTED", [])
    with pytest.warns(UserWarning, match="ai-edge-litert is not installed; .tflite models run on TensorFlow's "
                                         "deprecated tf.lite.Interpreter"):
        runner = TFLiteRunner(iris_tflite["ok"], sig)  # type: ignore[arg-type]
    assert type(runner.interpreter).__module__.startswith("tensorflow")
    assert runner.predict({f: np.ones(2, np.float32) for f in FEATURES})["logits"].shape == (2, 3)


def test_the_plugin_imports_neither_tensorflow_nor_litert() -> None:
    code = ("import sys, pytest_savedmodel.plugin, pytest_savedmodel.runners.registry as r; r.path_options(); "
            "print(sorted(m for m in ('tensorflow', 'ai_edge_litert', 'numpy') if m in sys.modules))")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True).stdout.strip() == "[]"


def test_a_tflite_call_past_the_timeout_is_one_finding_and_the_interpreter_is_not_reused(
        iris_tflite: dict[str, Path], sig: object, monkeypatch: pytest.MonkeyPatch) -> None:
    """A TFLite interpreter cannot be cancelled: the call is left running, reported as a CallTimeout naming
    that, and the runner refuses further calls (the busy interpreter would be called from two threads)."""
    import threading

    import pytest_savedmodel.deadline as deadline
    from pytest_savedmodel.errors import CallTimeout, Unrunnable

    runner = TFLiteRunner(iris_tflite["ok"], sig)  # type: ignore[arg-type]
    release = threading.Event()
    monkeypatch.setattr(runner, "_call", lambda batch: release.wait(30) and {})  # a call that hangs
    monkeypatch.setattr(deadline, "_timeout", 0.2)
    features = {f: np.array([1.0], np.float32) for f in FEATURES}
    with pytest.raises(CallTimeout, match=r"did not answer within 0.2 s \(--savedmodel-timeout\) on inputs .*; the "
                                          r"call cannot be cancelled \(a TFLite interpreter\) and was left running"):
        runner.predict(features)
    with pytest.raises(Unrunnable, match=r"did not answer within 0\.2 s"):
        runner.predict(features)
    release.set()
