"""numpy <-> TensorProto: the fast path reads exactly what TensorFlow's make_ndarray reads."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from pytest_savedmodel.serving.tensorproto import from_proto, to_proto


def _proto(dtype: int, shape: tuple[int, ...], field: str, values: list[Any], **extra: Any) -> Any:
    from tensorflow.core.framework import tensor_pb2

    p = tensor_pb2.TensorProto(dtype=dtype, **extra)
    p.tensor_shape.SetInParent()
    for d in shape:
        p.tensor_shape.dim.add(size=d)
    getattr(p, field).extend(values)
    return p


CASES = [
    (1, (2, 2), "float_val", [0.1, -2.5, 3e38, 0.0]),  # one value per element: the fast path
    (2, (3,), "double_val", [1e-300, 2.0, -0.0]),
    (3, (), "int_val", [7]),  # a scalar
    (9, (2,), "int64_val", [2**62, -(2**63)]),
    (10, (1, 3), "bool_val", [True, False, True]),
    (1, (3,), "float_val", [4.0]),  # one value broadcast to three: TF's rule, via make_ndarray
    (9, (2, 2), "int64_val", [1, 2]),  # fewer values: padded with the last one
    (1, (0, 4), "float_val", []),  # empty
    (1, (2,), "float_val", []),  # no values: zeros
]


@pytest.mark.parametrize(("dtype", "shape", "field", "values"), CASES)
def test_from_proto_matches_tensorflow(dtype: int, shape: tuple[int, ...], field: str, values: list[Any]) -> None:
    import tensorflow as tf

    proto = _proto(dtype, shape, field, values)
    want = tf.make_ndarray(proto)
    got = from_proto(proto)
    assert got.dtype == want.dtype and got.shape == want.shape and np.array_equal(got, want)


def test_round_trip_keeps_dtype_shape_and_values() -> None:
    for arr in (np.array([[1.5, -2.25]], np.float32), np.array(3, np.int64), np.array([True, False]),
                np.array([b"a", b"\x00"], dtype=object), np.zeros((0, 3), np.float64)):
        back = from_proto(to_proto(arr))
        assert back.shape == arr.shape and back.dtype.kind == arr.dtype.kind and np.array_equal(back, arr)
    content = to_proto(np.array([1.0, 2.0], np.float32), as_content=True)
    assert content.tensor_content and from_proto(content).tolist() == [1.0, 2.0]
