"""compare: dtype-aware parity and the words of a mismatch. Pure numpy."""

from __future__ import annotations

import numpy as np
import pytest

from pytest_savedmodel.compare import Tolerance, assert_parity, compare_outputs
from pytest_savedmodel.errors import ParityMismatch


def test_floats_within_tolerance_pass() -> None:
    a = {"y": np.array([1.0, 2.0], np.float32)}
    b = {"y": np.array([1.0 + 1e-7, 2.0], np.float32)}
    assert compare_outputs(a, b).ok


def test_nan_equals_nan_in_same_place_inf_equals_same_inf() -> None:
    a = {"y": np.array([np.nan, np.inf, 1.0])}
    assert compare_outputs(a, {"y": a["y"].copy()}).ok
    assert not compare_outputs(a, {"y": np.array([1.0, np.inf, 1.0])}).ok
    assert not compare_outputs(a, {"y": np.array([np.nan, -np.inf, 1.0])}).ok


def test_integers_are_exact() -> None:
    big = 2**53 + 1
    r = compare_outputs({"c": np.array([big], np.int64)}, {"c": np.array([big - 1], np.int64)},
                        tolerance=Tolerance(1.0, 10.0))
    assert not r.ok and r.diffs[0].reason == "values"


def test_strings_exact_and_str_vs_bytes_equal() -> None:
    a = {"s": np.array([b"a", b"b"], dtype=object)}
    assert compare_outputs(a, {"s": np.array(["a", "b"], dtype=object)}).ok
    assert not compare_outputs(a, {"s": np.array([b"a", b"c"], dtype=object)}).ok


def test_shape_and_dtype_kind_mismatch_reported() -> None:
    r = compare_outputs({"y": np.zeros((2, 1))}, {"y": np.zeros((2,))})
    assert r.diffs[0].reason == "shape"
    r = compare_outputs({"y": np.zeros(2)}, {"y": np.zeros(2, np.int64)})
    assert r.diffs[0].reason == "dtype"


def test_per_output_tolerance() -> None:
    a = {"p": np.array([0.5]), "q": np.array([0.5])}
    b = {"p": np.array([0.51]), "q": np.array([0.51])}
    r = compare_outputs(a, b, tolerance={"p": Tolerance(0.1, 0.0)})
    assert [d.ok for d in r.diffs] == [True, False]


def test_assert_parity_message_names_runners_output_errors_row_and_inputs() -> None:
    features = {"x": np.array([1.0, 2.0, 3.0], np.float32)}
    a = {"y": np.array([[1.0], [2.0], [3.0]], np.float32), "k": np.array([1, 2, 3])}
    b = {"y": np.array([[1.0], [2.5], [3.0]], np.float32), "k": np.array([1, 2, 3])}
    with pytest.raises(ParityMismatch) as info:
        assert_parity(a, b, names=("raw", "grpc"), features=features, rtol=1e-6, atol=0.0)
    text = str(info.value)
    assert "raw and grpc disagree" in text
    assert "output 'y': 1 of 3 elements differ; max abs error 0.5, max rel error 0.2" in text
    assert "(rtol=1e-06, atol=0)" in text
    assert "worst element at index [1, 0]: raw=2.0 grpc=2.5" in text
    assert "inputs of row 1: {'x': 2.0}" in text
    exc = info.value
    assert exc.output == "y" and exc.runners == ("raw", "grpc") and exc.max_abs == pytest.approx(0.5)
    assert isinstance(exc, AssertionError)


def test_missing_output_named() -> None:
    with pytest.raises(ParityMismatch, match="output 'z': missing from right"):
        assert_parity({"z": np.zeros(1)}, {}, outputs=["z"])


def test_worst_element_is_the_one_that_breaks_the_tolerance_most() -> None:
    # a large value with a larger absolute error but within rtol, and a small one far outside it
    a = {"y": np.array([1000.0, 0.001])}
    b = {"y": np.array([1000.05, 0.002])}
    r = compare_outputs(a, b, tolerance=Tolerance(1e-4, 1e-5))
    assert not r.ok and r.diffs[0].worst_index == (1,) and r.diffs[0].mismatched == 1
    assert r.diffs[0].max_abs == pytest.approx(0.05)


def test_batch_invariance_allows_noise_at_the_scale_of_the_output_but_not_a_real_dependence() -> None:
    from pytest_savedmodel.checks import check_batch_invariance
    from pytest_savedmodel.errors import ModelCheckFailure
    from pytest_savedmodel.runners.fake import FakeRunner
    from pytest_savedmodel.spec import SignatureSpec, TensorSpec, dtype_by_name

    sig = SignatureSpec("s", "m", {"x": TensorSpec("x", dtype_by_name("float32"), (None,))},
                        {"y": TensorSpec("y", dtype_by_name("float32"), (None,))})
    x = np.array([600.0, 0.2], np.float32)

    def noisy(f: dict[str, np.ndarray]) -> dict[str, np.ndarray]:  # kernel noise: 7e-5 on an element near zero
        y = f["x"].astype(np.float32).copy()
        return {"y": y + np.float32(7e-5) * (len(y) > 1)}

    check_batch_invariance("m", FakeRunner(sig, noisy), {"x": x}, Tolerance(1e-4, 1e-5))

    def centred(f: dict[str, np.ndarray]) -> dict[str, np.ndarray]:  # BatchNorm in training mode
        return {"y": f["x"] - f["x"].mean()}

    with pytest.raises(ModelCheckFailure, match="outputs depend on the rest of the batch"):
        check_batch_invariance("m", FakeRunner(sig, centred), {"x": np.array([1.0, 3.0], np.float32)},
                               Tolerance(1e-4, 1e-5))
