"""sizes: bytes per row from declared shapes, and the words of the finding. No TensorFlow."""

from __future__ import annotations

import pytest

from pytest_savedmodel.errors import TooLarge, Unrunnable
from pytest_savedmodel.sizes import check_sizes, human_bytes, row_bytes
from pytest_savedmodel.spec import SignatureSpec, TensorSpec, dtype_by_name


def _t(alias: str, dtype: str, shape: tuple[int | None, ...] | None) -> TensorSpec:
    return TensorSpec(alias, dtype_by_name(dtype), shape, f"{alias}:0")


@pytest.mark.parametrize(("dtype", "shape", "expected"), [
    ("float32", (None, 50_000_000), 200_000_000),
    ("float64", (None, 3, None), 24),  # a free dim counts as 1
    ("int8", (None,), 1),
    ("string", (None, 4), 64),
    ("float32", None, 4),  # unknown rank: one element
    ("float32", (), 4),
])
def test_row_bytes(dtype: str, shape: tuple[int | None, ...] | None, expected: int) -> None:
    assert row_bytes(_t("x", dtype, shape)) == expected


def test_a_signature_over_the_bound_names_each_tensor_and_what_to_do() -> None:
    sig = SignatureSpec("serving_default", "tensorflow/serving/predict",
                        {"x": _t("x", "float32", (None, 50_000_000)), "k": _t("k", "int64", (None,))},
                        {"y": _t("y", "float32", (None, 100_000_000))})
    with pytest.raises(TooLarge) as info:
        check_sizes(sig, bound=64 * 2**20, label="big v3")
    assert isinstance(info.value, Unrunnable)
    assert str(info.value) == (
        "big v3 signature 'serving_default' is not called: input 'x' declares [-1, 50000000] float32: 200 MB per "
        "row, over the 67.1 MB bound; output 'y' declares [-1, 100000000] float32: 400 MB per row, over the 67.1 MB "
        "bound. Nothing was allocated. If such sizes are intended, raise --savedmodel-max-input-bytes (bytes; now "
        "67108864); else fix the declared shape")
    check_sizes(sig, bound=10**9)  # under a larger bound: nothing raised


def test_human_bytes() -> None:
    assert [human_bytes(n) for n in (12, 1500, 2_500_000, 1.6e9)] == ["12 bytes", "1.5 kB", "2.5 MB", "1.6 GB"]
