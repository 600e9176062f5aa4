"""tf.Examples written as bytes (``exwire``) are the per-row protobuf path's Examples.

Both write the feature map in a fixed order (without ``deterministic=True``, upb wrote map entries in its hash
table's order, so the same row's bytes could differ between runs): ours is Python's sorted key order, upb's is
byte order except that a key comes after the keys it is a prefix of. Rows are compared as protobuf writes them
back, and byte for byte where no key is a prefix of another."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from pytest_savedmodel import exwire
from pytest_savedmodel.errors import InvalidArgument
from pytest_savedmodel.exwire import encode_numeric
from pytest_savedmodel.spec import DTYPES, FeatureSpec, ParseSpec
from pytest_savedmodel.tfexample import FeatureRows, decode_example, encode_examples, example_proto

KEYS = st.text(min_size=1, max_size=12)  # any UTF-8 key, a long one needs a 2-byte length
NUMERIC = st.sampled_from([np.float32, np.float64, np.float16, np.int64, np.int32, np.uint8, np.uint64, np.bool_])


def _per_row(features: dict[str, np.ndarray], spec: ParseSpec | None, n: int) -> list[bytes]:
    return [example_proto({k: v[i] for k, v in features.items()}, spec).SerializeToString(deterministic=True)
            for i in range(n)]


def _as_protobuf_writes(rows: list[bytes] | None) -> list[bytes]:
    """Each row read back and written by protobuf's deterministic serializer: the same Example gives the same
    bytes (upb's map order puts "00" before "0", ours is Python's sorted order; the entries are the same)."""
    from tensorflow.core.example import example_pb2

    assert rows is not None
    return [example_pb2.Example.FromString(r).SerializeToString(deterministic=True) for r in rows]


@pytest.mark.filterwarnings("ignore:overflow encountered in cast:RuntimeWarning")  # the reference's float32 cast
@settings(max_examples=300, deadline=None)
@given(st.integers(0, 5), st.dictionaries(KEYS, st.tuples(NUMERIC, st.sampled_from([(), (1,), (3,), (0,), (2, 70)])),
                                          max_size=4), st.data())
def test_numeric_rows_are_the_protobuf_bytes(n: int, layout: dict[str, Any], data: st.DataObject) -> None:
    features = {key: data.draw(hnp.arrays(dtype, (n, *shape))) for key, (dtype, shape) in layout.items()}
    fast = encode_numeric(features, None, n)
    assert _as_protobuf_writes(fast) == _per_row(features, None, n)
    assert all(len(a) == len(b) for a, b in zip(fast or [], _per_row(features, None, n), strict=True))


def _spec(*features: FeatureSpec) -> ParseSpec:
    return ParseSpec(input_alias="examples", features=tuple(features))


@pytest.mark.filterwarnings("ignore:invalid value encountered in cast:RuntimeWarning")  # the reference's cast
@settings(max_examples=100, deadline=None)
@given(st.integers(1, 4), hnp.arrays(np.float64, 3, elements=st.floats(width=32) | st.integers(-2**40, 2**40)))
def test_a_spec_decides_the_kind_as_the_per_row_path_does(n: int, values: np.ndarray) -> None:
    """A float array under an int64 spec is cast as the per-row path casts it, and the other way round."""
    spec = _spec(FeatureSpec("f", "fixed", DTYPES["int64"], (3,)), FeatureSpec("g", "fixed", DTYPES["float32"], (3,)))
    rows = np.tile(values, (n, 1))
    features = {"f": np.where(np.isfinite(rows), rows, 0.0), "g": np.tile(np.arange(3, dtype=np.int64), (n, 1))}
    assert _as_protobuf_writes(encode_numeric(features, spec, n)) == _per_row(features, spec, n)


def test_many_rows_of_each_kind_are_the_same_bytes() -> None:
    rng = np.random.default_rng(0)
    features = {"x": rng.normal(size=(300, 4)).astype(np.float32), "id": rng.integers(-2**40, 2**40, (300, 2)),
                "flag": rng.integers(0, 2, (300, 1)).astype(bool)}
    assert encode_numeric(features, None, 300) == _per_row(features, None, 300)  # no key a prefix of another


@pytest.mark.parametrize("value", [2**63 - 1, -2**63, -1, 0, 127, 128, 2**35])
def test_varints_read_back(value: int) -> None:
    got, shift = 0, 0
    for byte in exwire.varint(value % 2**64):
        got |= (byte & 0x7F) << shift
        shift += 7
    assert got == value % 2**64
    assert len(exwire.varint(value % 2**64)) == (10 if value < 0 else max(1, -(-value.bit_length() // 7)))


def test_the_per_row_path_answers_what_numpy_cannot() -> None:
    spec = _spec(FeatureSpec("x", "fixed", DTYPES["float32"], (2,)))
    assert encode_numeric({"x": np.zeros((3, 3), np.float32)}, spec, 3) is None  # wrong size: the per-row words
    with pytest.raises(InvalidArgument, match=r"feature 'x': the parse spec wants 2 value\(s\) per example"):
        encode_examples({"x": np.zeros((3, 3), np.float32)}, spec)
    assert encode_numeric({"s": np.array([b"a", b"b"])}, None, 2) is None
    assert encode_numeric({"v": [np.zeros(1), np.zeros(2)]}, None, 2) is None
    absent = FeatureRows({"x": np.zeros((2, 2), np.float32)}, rows=2, absent={"x": np.array([[1, 0], [0, 0]], bool)})
    assert encode_numeric(absent, None, 2) is None
    assert encode_numeric(FeatureRows({}, rows=2), None, 2) == [b"", b""]


def test_encoded_examples_decode_to_the_values() -> None:
    features = {"age": np.array([[31], [47]], np.int64), "x": np.array([[0.5, -1.25], [3.0, np.nan]], np.float32)}
    first, second = encode_examples(features)
    assert decode_example(first)["x"].tolist() == [0.5, -1.25]
    assert decode_example(second)["age"].tolist() == [47]
    assert np.isnan(decode_example(second)["x"][1])
