"""The vectorised JSON paths (``json_fast``) give the element-wise paths' bytes, values and errors."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from pytest_savedmodel.serving.emulator import json_codec as J
from pytest_savedmodel.serving.emulator.core import proto_to_ndarray
from pytest_savedmodel.serving.emulator.json_fast import nesting_depth
from pytest_savedmodel.serving.emulator.json_response import predict_response
from pytest_savedmodel.serving.emulator.status import ServingError
from pytest_savedmodel.serving.tensorproto import from_proto, to_proto

# values that need 9 digits, print as whole numbers, sit at the ends of float32's range, or are not numbers
F32_EDGES = [0.1, 1 / 3, 16777216.0, 16777217.0, 1435774336.0, 555557.5, 9000000.0, 999999.0, 999999.4, 0.0003,
             3e-05, 3.4028234663852886e38, -3.4028234663852886e38, 1.401298464324817e-45, 1.1754942106924411e-38,
             -0.0, 0.0, 1e16, 123456789.0, math.nan, math.inf, -math.inf]
SHAPES = hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4)


def _encodings(arr: np.ndarray, name: str = "y") -> tuple[str, str]:
    return J.tensor_json(arr, name, fast=True), J.tensor_json(arr, name, fast=False)


@settings(max_examples=300, deadline=None)
@given(hnp.arrays(np.float32, SHAPES,  # each edge as the float32 it becomes (older numpy refuses 0.1 itself)
                  elements=st.floats(width=32) | st.sampled_from([float(np.float32(v)) for v in F32_EDGES])))
@example(np.array(F32_EDGES, np.float32))
def test_float32_bytes_match_element_wise(arr: np.ndarray) -> None:
    fast, slow = _encodings(arr)
    assert fast == slow


@settings(max_examples=200, deadline=None)
@given(hnp.arrays(np.float64, SHAPES, elements=st.floats() | st.sampled_from([0.1, 2.0**53 + 2, 5e-324, 1e300])))
def test_float64_bytes_match_element_wise(arr: np.ndarray) -> None:
    fast, slow = _encodings(arr)
    assert fast == slow


@settings(max_examples=150, deadline=None)
@given(st.one_of(hnp.arrays(np.int64, SHAPES, elements=st.integers(-2**63, 2**63 - 1)),
                 hnp.arrays(np.uint64, SHAPES, elements=st.integers(0, 2**64 - 1)),
                 hnp.arrays(np.int8, SHAPES), hnp.arrays(np.bool_, SHAPES)))
def test_int_and_bool_bytes_match_element_wise(arr: np.ndarray) -> None:
    fast, slow = _encodings(arr)
    assert fast == slow


def test_large_image_matches_element_wise() -> None:
    rng = np.random.default_rng(0)
    arr = rng.normal(0, 100, (2, 24, 24, 3)).astype(np.float32)
    arr.flat[:len(F32_EDGES)] = F32_EDGES
    fast, slow = _encodings(arr)
    assert fast == slow


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 4), hnp.array_shapes(min_dims=0, max_dims=2, min_side=0, max_side=3), st.data())
def test_row_responses_match_element_wise(batch: int, inner: tuple[int, ...], data: st.DataObject) -> None:
    outputs = {"a": data.draw(hnp.arrays(np.float32, (batch, *inner), elements=st.floats(width=32))),
               "b": data.draw(hnp.arrays(np.int64, (batch,))),
               "c_bytes": np.array([b"x%d" % i for i in range(batch)], dtype=object)}
    slow_rows = ["{" + ", ".join(json.dumps(n) + ": " + J.tensor_json(v, n, v[i], fast=False)
                                 for n, v in outputs.items()) + "}" for i in range(batch)]
    assert predict_response(outputs, "row") == '{"predictions": [' + ", ".join(slow_rows) + "]}"


# ---------------------------------------------------------------------------- decoding


def _outcome(fn: Any) -> tuple[Any, ...]:
    """What a request value becomes: each tensor's dtype, shape and bytes, or the error's type and words."""
    try:
        fmt, tensors = fn()
        out = []
        for alias, t in sorted(tensors.items()):  # as the server feeds them (core: tensor parsing errors too)
            arr = t if isinstance(t, np.ndarray) else proto_to_ndarray(alias, t)
            out.append((alias, arr.dtype.str, arr.shape, arr.tobytes() if arr.dtype != object else arr.tolist()))
    except ServingError as exc:
        return ("error", exc.code, exc.message)
    except Exception as exc:  # e.g. OverflowError for an int too large for a double, as before
        return ("crash", type(exc).__name__, str(exc))
    return ("ok", fmt, *out)


def _same(doc: dict[str, Any], dtypes: dict[str, int]) -> None:
    fast = _outcome(lambda: J.predict_inputs(doc, dtypes, fast=True))
    slow = _outcome(lambda: J.predict_inputs(doc, dtypes, fast=False))
    assert fast == slow


DTYPES = [1, 2, 3, 4, 5, 6, 7, 9, 10, 17, 22, 23]
NUMBERS = (st.floats(width=32) | st.floats() | st.integers(-2**70, 2**70) | st.integers(-300, 300)
           | st.sampled_from([*F32_EDGES, 2**24 + 1, 2**53 + 1, 2**63, 2**64 - 1, -2**63, 2**31, -2**31 - 1]))
SCALARS = NUMBERS | st.booleans() | st.none() | st.text(max_size=3) | st.just({"b64": "aGk="})


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(DTYPES), st.sampled_from(["inputs", "instances"]),
       st.recursive(SCALARS, lambda c: st.lists(c, max_size=3), max_leaves=12))
def test_any_value_decodes_or_fails_as_element_wise(dtype: int, key: str, value: Any) -> None:
    _same({key: value}, {"x": dtype})


@settings(max_examples=200, deadline=None)
@given(st.sampled_from([1, 2, 3, 9, 10]), st.sampled_from(["inputs", "instances"]),
       st.data(), hnp.array_shapes(min_dims=1, max_dims=4, min_side=1, max_side=4))
def test_regular_arrays_decode_as_element_wise(dtype: int, key: str, data: st.DataObject,
                                               shape: tuple[int, ...]) -> None:
    kind = {1: np.float32, 2: np.float64, 3: np.int32, 9: np.int64, 10: np.bool_}[dtype]
    arr = data.draw(hnp.arrays(kind, shape))
    value = json.loads(json.dumps(arr.tolist()))  # NaN/Infinity tokens included
    _same({key: value}, {"x": dtype})


@settings(max_examples=150, deadline=None)
@given(st.lists(st.fixed_dictionaries({"a": st.lists(NUMBERS, min_size=2, max_size=2), "b": NUMBERS | st.text()},
                                      optional={"c": st.integers()}), min_size=1, max_size=4))
def test_named_instances_decode_as_element_wise(rows: list[dict[str, Any]]) -> None:
    _same({"instances": rows}, {"a": 1, "b": 9})
    _same({"inputs": {"a": [r["a"] for r in rows], "b": [r["b"] for r in rows]}}, {"a": 2, "b": 3})


@pytest.mark.parametrize(("value", "dtype"), [
    ([[1.0, 2.0], [3.0]], 1), ([[1.0, "2"]], 1), ([[True, 1.0]], 1), ([[1, 2.5]], 3), ([1, [2]], 1),
    ([[1], 2], 1), ([None], 2), ([{"b64": "aGk="}], 1), ([2**31], 3), ([10**400], 1), ([[], [1.0]], 1),
])
def test_malformed_values_give_the_same_errors(value: Any, dtype: int) -> None:
    _same({"inputs": value}, {"x": dtype})
    _same({"instances": value}, {"x": dtype})


JSON_VALUES = st.recursive(st.integers() | st.text(max_size=2) | st.none(),
                           lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=2), c, max_size=3),
                           max_leaves=30)


@settings(max_examples=300, deadline=None)
@given(JSON_VALUES, st.integers(1, 8))
def test_nesting_depth_matches_node_walk(value: Any, limit: int) -> None:
    walked = J._depth(value, 10**6)
    assert nesting_depth(value, 10**6) == walked
    assert (nesting_depth(value, limit) > limit) == (walked > limit)


# ---------------------------------------------------------------------------- TensorProto


def _extended(arr: np.ndarray, dtype_enum: int, field: str) -> Any:
    from tensorflow.core.framework import tensor_pb2

    proto = tensor_pb2.TensorProto(dtype=dtype_enum)
    proto.tensor_shape.SetInParent()
    for d in arr.shape:
        proto.tensor_shape.dim.add(size=int(d))
    getattr(proto, field).extend(arr.reshape(-1).tolist())
    return proto


@settings(max_examples=100, deadline=None)
@given(st.one_of(hnp.arrays(np.float32, SHAPES, elements=st.floats(width=32, allow_nan=False)),
                 hnp.arrays(np.float64, SHAPES, elements=st.floats(allow_nan=False)),
                 hnp.arrays(np.bool_, SHAPES)))
def test_packed_fields_are_the_extended_message(arr: np.ndarray) -> None:
    enum, field = {"f4": (1, "float_val"), "f8": (2, "double_val"), "b1": (10, "bool_val")}[arr.dtype.str[1:]]
    made = to_proto(arr)
    want = _extended(arr, enum, field)
    assert made == want and made.SerializeToString() == want.SerializeToString()
    assert from_proto(made).tobytes() == arr.tobytes()
