"""orjson's fast parse and write give the standard library's answers (``_json``, ``json_fast.fast_loads``).

The emulator parses request bodies as TF Serving's rapidjson does: the first of duplicate keys kept,
NaN/Infinity tokens read, bytes after the value ignored, integers of any size kept exact. orjson keeps the
last duplicate, refuses NaN and trailing bytes, and reads an integer beyond 64 bits as a float; each of those
bodies must take the standard library's path, and every other body must parse to the same value.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from pytest_savedmodel import _json
from pytest_savedmodel.serving.emulator import json_codec as J
from pytest_savedmodel.serving.emulator import json_fast
from pytest_savedmodel.serving.emulator.status import ServingError

pytestmark = pytest.mark.skipif(_json.orjson is None, reason="orjson is not installed (the serving extra)")

SCALARS = (st.none() | st.booleans() | st.floats() | st.integers() | st.integers(-2**70, 2**70)
           | st.text(max_size=6) | st.sampled_from(["[", "}", '"', "\\", "1234567890123456789012"]))
KEYS = st.sampled_from(["a", "b", "instances", "signature_name", "[", ""])
VALUES = st.recursive(SCALARS, lambda kids: st.lists(kids, max_size=4) | st.dictionaries(KEYS, kids, max_size=3),
                      max_leaves=20)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or (a == b and math.copysign(1, a) == math.copysign(1, b))
    if type(a) is not type(b):
        return False
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    return bool(a == b)


def _slow(body: bytes, max_depth: int = 128) -> Any:
    saved = json_fast.orjson
    json_fast.orjson = None  # type: ignore[assignment]
    try:
        return J.parse_body(body, max_depth=max_depth)
    except ServingError as exc:
        return exc.message
    finally:
        json_fast.orjson = saved


def _fast(body: bytes, max_depth: int = 128) -> Any:
    try:
        return J.parse_body(body, max_depth=max_depth)
    except ServingError as exc:
        return exc.message


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(KEYS, VALUES, max_size=4), st.sampled_from(["", " ", "\n"]))
@example({"instances": [[1.5, 2**64 + 1]]}, "")
@example({"a": [float("nan")]}, "")
def test_any_body_parses_as_the_standard_library(doc: dict[str, Any], space: str) -> None:
    body = (space + json.dumps(doc, allow_nan=True)).encode()
    assert _same(_fast(body), _slow(body))


@pytest.mark.parametrize(("body", "why"), [
    (b'{"a": 1, "a": 2}', "orjson keeps the last duplicate, TF Serving the first"),
    (b'{"instances": [{"x": 1, "x": 2}]}', "a duplicate inside a row"),
    (b'{"a": [123456789012345678901234567890]}', "orjson would read it as a float"),
    (b'{"a": [-9223372036854775809]}', "below int64"),
    (b'{"a": NaN, "b": -Infinity}', "orjson refuses NaN"),
    (b'{"a": 1} trailing', "rapidjson ignores bytes after the value"),
    (b'{"a": "\\ud800"}', "a lone surrogate escape"),
    (b"[" * 130 + b"]" * 130, "deeper than the limit"),
])
def test_bodies_orjson_reads_otherwise_take_the_slow_path(body: bytes, why: str) -> None:
    assert json_fast.fast_loads(body, 128) is None, why
    assert _same(_fast(body), _slow(body))


def test_the_first_duplicate_wins_and_huge_integers_stay_exact() -> None:
    assert J.parse_body(b'{"a": 1, "a": 2}') == {"a": 1}
    assert J.parse_body(b'{"a": [123456789012345678901234567890]}')["a"][0] == 123456789012345678901234567890


def test_an_image_body_takes_the_fast_path() -> None:
    image = np.random.default_rng(0).uniform(0, 1, (1, 96, 96, 3)).astype(np.float32)
    body = json.dumps({"signature_name": "serving_default", "instances": image.tolist()}).encode()
    value = json_fast.fast_loads(body, 128)
    assert value is not None and np.array_equal(np.array(value["instances"], np.float32), image)


@pytest.mark.parametrize(("text", "long"), [
    (b"1234567890123456789", True), (b"[1, -1234567890123456789]", True), (b"[0.12345678901234567890123]", False),
    (b"[123456789012345678]", False), (b"[1e1234567890123456789]", True), (b'["12345678901234567890"]', True)])
def test_long_integer_runs(text: bytes, long: bool) -> None:
    assert _json.long_integer(text) is long


@settings(max_examples=200, deadline=None)
@given(VALUES)
def test_client_json_round_trips_as_the_standard_library(value: Any) -> None:
    text = _json.dumps(value)
    assert _same(json.loads(text), json.loads(json.dumps(value, allow_nan=True)))
    assert _same(_json.loads(text), json.loads(text))


ARRAYS = st.one_of(
    hnp.arrays(st.sampled_from([np.float32, np.float64]), hnp.array_shapes(min_dims=0, max_dims=3),
               elements=st.floats(width=32) | st.sampled_from([1e-5, 1e16, 3.4e38, -0.0, math.nan, math.inf])),
    hnp.arrays(np.float16, hnp.array_shapes(min_dims=0, max_dims=2), elements=st.floats(width=16)),
    hnp.arrays(st.sampled_from([np.int8, np.int32, np.int64, np.uint8, np.uint64, np.bool_]),
               hnp.array_shapes(min_dims=0, max_dims=3)))


@settings(max_examples=200, deadline=None)
@given(ARRAYS, st.booleans())
def test_arrays_are_written_as_their_lists(arr: np.ndarray, sliced: bool) -> None:
    """The REST runner hands numeric arrays to ``_json.dumps`` as arrays (``to_json_value(arrays=True)``):
    the text means what the list body meant (the same value once read), NaN and infinities included."""
    from pytest_savedmodel.runners.rest import to_json_value

    if sliced and arr.ndim:
        arr = arr[::-1]  # not C-contiguous: made so before orjson sees it
    listed = json.dumps({"x": to_json_value(arr)}, allow_nan=True)
    text = _json.dumps({"x": to_json_value(arr, arrays=True)})
    assert _same(json.loads(text), json.loads(listed))
    if arr.dtype.kind == "f" and np.isfinite(arr).all():
        assert text == _json.dumps({"x": to_json_value(arr)})  # orjson writes both: the same bytes
