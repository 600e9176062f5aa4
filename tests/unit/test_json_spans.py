"""Large numeric arrays decoded straight into numpy (``json_spans``) give the plain parse's values and errors.

The plain path (``parse_body`` then ``predict_inputs``) is the reference: for any body, the dense path
(``parse_dense`` then ``inputs_of``, as the REST API runs it) must give the same tensors, byte for byte, or
the same error in the same words. Bodies are written here token by token with varied white space, and broken
on purpose (ragged, empty, misplaced or invalid numbers, other JSON values inside the array), with the size
threshold at 1 byte so that every array is a candidate.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from pytest_savedmodel.serving.emulator import json_codec as J
from pytest_savedmodel.serving.emulator import json_spans
from pytest_savedmodel.serving.emulator.core import proto_to_ndarray
from pytest_savedmodel.serving.emulator.status import ServingError

pytest.importorskip("orjson", reason="the dense path needs orjson (the 'serving' extra); without it the plain "
                                     "parse does all the work")


@dataclass(frozen=True)
class Raw:
    """Text written as is in place of an element."""

    text: str


BROKEN = ["", "01", "+1", ".5", "1.", "-", "1e", "NaN", "Infinity", "true", "null", '"7"', "1 2", "[]", "[]2",
          "2[]", "[3", "4]", "1e400", "18446744073709551616", "-0", "{}", '{"b64": "aGk="}', "[1, 2]"]
NUMBER = (st.floats(allow_nan=False, allow_infinity=False) | st.floats(width=32, allow_nan=False, allow_infinity=False)
          | st.integers(-300, 300) | st.integers(-2**64, 2**64) | st.sampled_from([2**24 + 1, 2**31, -2**31 - 1, -0.0]))


def _render(value: Any, draw: Any) -> str:
    if isinstance(value, Raw):
        return value.text
    if isinstance(value, list):
        sep = draw(st.sampled_from([",", ", ", " ,", ",\n  ", "\t,\r\n"]))
        pad = draw(st.sampled_from(["", " ", "\n "]))
        return "[" + pad + sep.join(_render(v, draw) for v in value) + pad + "]"
    text = json.dumps(value)
    return text.upper() if draw(st.booleans()) else text  # 1e-05 and 1E-05


@st.composite
def arrays(draw: Any) -> str:
    """A regular nested list of numbers, written with varied white space; sometimes broken."""
    shape = draw(st.lists(st.integers(1, 3), min_size=1, max_size=4))

    def build(dims: list[int]) -> Any:
        return [build(dims[1:]) for _ in range(dims[0])] if dims else draw(NUMBER)

    value = build(shape)
    for _ in range(draw(st.sampled_from([0, 0, 0, 1, 2]))):  # replace, drop or add an element at some depth
        target = value
        for _ in range(draw(st.integers(0, len(shape) - 1))):
            if isinstance(target, list) and target and isinstance(target[-1], list):
                target = target[-1]
        action = draw(st.sampled_from(["replace", "drop", "add"]))
        if not target:
            continue
        i = draw(st.integers(0, len(target) - 1))
        if action == "replace":
            target[i] = Raw(draw(st.sampled_from(BROKEN)))
        elif action == "drop":
            del target[i]
        else:
            target.insert(i, draw(NUMBER) if draw(st.booleans()) else Raw(draw(st.sampled_from(BROKEN))))
    return _render(value, draw)


@st.composite
def bodies(draw: Any) -> tuple[bytes, dict[str, int]]:
    layout = draw(st.sampled_from(["instances", "inputs", "inputs-object", "rows", "rows-two"]))
    dtype = draw(st.sampled_from([1, 1, 2, 3, 9, 10, 7]))
    a, b = draw(arrays()), draw(arrays())
    dtypes = {"x": dtype}
    if layout == "instances":
        doc = f'"instances": {a}'
    elif layout == "inputs":
        doc = f'"inputs":{a}'
    elif layout == "inputs-object":
        doc = f'"inputs": {{"x" :  {a}}}'
    elif layout == "rows":
        doc = f'"instances": [{{"x": {a}}}, {{"x": {b}}}]'
    else:
        dtypes = {"x": dtype, "y": 9}
        doc = f'"instances": [{{"x": {a}, "y": 1}}, {{"y": 2, "x": {b}}}]'
    before = draw(st.sampled_from(["", '"signature_name": "serving_default", ', '"s": "a: [1, 2]\\" x", ',
                                   '"instances": [1], ', '"signature_name": [1, 2], ', ", "]))
    after = draw(st.sampled_from(["", "", "", ', "q": "\\u005b"', ', "inputs": [1]', "]", ' "x"']))
    return ("{" + before + doc + after + "}").encode(), dtypes


def _outcome(fn: Any) -> tuple[Any, ...]:
    try:
        fmt, tensors = fn()
        out = []
        for alias, t in sorted(tensors.items()):
            arr = t if isinstance(t, np.ndarray) else proto_to_ndarray(alias, t)
            out.append((alias, arr.dtype.str, arr.shape, arr.tobytes() if arr.dtype != object else arr.tolist()))
    except ServingError as exc:
        return ("error", exc.code, exc.message)
    return ("ok", fmt, *out)


def _dense(body: bytes, dtypes: dict[str, int]) -> tuple[Any, ...]:
    return _outcome(lambda: J.inputs_of(J.parse_dense(body, min_bytes=1), body, dtypes))


def _plain(body: bytes, dtypes: dict[str, int]) -> tuple[Any, ...]:
    return _outcome(lambda: J.predict_inputs(J.parse_body(body), dtypes))


@settings(max_examples=800, deadline=None)
@given(bodies())
@example((b'{"instances": [[1],[]2,[3]]}', {"x": 1}))  # brackets and commas regular, a number misplaced
@example((b'{"instances": [[1,2],5[,3]]}', {"x": 1}))
@example((b'{"instances": [[1,2,3],[4]]}', {"x": 1}))  # ragged, as many numbers as a 2x2
@example((b'{"instances": [[1,[2]],[3,4]]}', {"x": 1}))
@example((b'{"instances": [[1,2]], "instances": [3]}', {"x": 1}))  # the first of duplicate keys wins
@example((b'{"instances": [[16777217, 1.5]]}', {"x": 1}))  # an int a float32 cannot hold: element-wise
@example((b'{"inputs": [100000000000000000000, 1]}', {"x": 1}))
@example((b'{"inputs": [100000000000000000000, 1]}', {"x": 9}))
@example((b'{"inputs": [[1.5, 2]]}', {"x": 3}))
def test_any_body_decodes_or_fails_as_the_plain_parse(case: tuple[bytes, dict[str, int]]) -> None:
    body, dtypes = case
    assert _dense(body, dtypes) == _plain(body, dtypes)


def _image_body(layout: str) -> bytes:
    rng = np.random.default_rng(0)
    image = rng.uniform(0, 1, (2, 32, 32, 3)).astype(np.float32).tolist()
    if layout == "rows":
        return json.dumps({"instances": [{"image": row, "k": 1} for row in image]}).encode()
    if layout == "compact":
        return json.dumps({"signature_name": "s", "inputs": {"image": image, "k": [1, 2]}},
                          separators=(",", ":")).encode()
    return json.dumps({"instances": image}, indent=2).encode()


@pytest.mark.parametrize("layout", ["rows", "compact", "pretty"])
def test_an_image_body_takes_the_dense_path_with_the_plain_values(layout: str) -> None:
    body = _image_body(layout)
    dtypes = {"image": 1} if layout == "pretty" else {"image": 1, "k": 9}
    doc = J.parse_dense(body)
    assert J.holds_spans(doc)  # the default threshold (2 KB) is met by each 32x32x3 image
    assert _dense(body, dtypes) == _plain(body, dtypes)
    _, tensors = J.predict_inputs(doc, dtypes)  # no retry needed: Spans consumed by the fast path
    assert tensors["image"].shape == (2, 32, 32, 3) and tensors["image"].dtype == np.float32


def test_a_literal_inside_a_string_is_not_cut() -> None:
    inner = json.dumps([[0.5] * 600])
    body = json.dumps({"note": "x: " + inner, "instances": [[1.0]]}).encode()
    assert json_spans.split_spans(body, 64) is None
    escaped = json.dumps({"note": 'say "x": ' + inner, "instances": [[1.0]]}).encode()  # backslashes: regex path
    assert json_spans.split_spans(escaped, 64) is None


def test_the_placeholder_text_in_a_body_turns_the_dense_path_off() -> None:
    body = json.dumps({"note": "pytest-savedmodel-span-0", "instances": [[0.5] * 600]}).encode()
    assert json_spans.split_spans(body, 64) is None
    assert not J.holds_spans(J.parse_dense(body, min_bytes=64))


@pytest.mark.parametrize(("literal", "shape"), [
    (b"[1]", (1,)), (b"[[1, 2, 3]]", (1, 3)), (b"[[[1],[2]],[[3],[4]]]", (2, 2, 1)), (b" [ [1 ,2] , [3, 4] ] ", (2, 2)),
    (b"[[1,2],[3,4]]", (2, 2)), (b"[[1,2],[3]]", None), (b"[]", None), (b"[[]]", None), (b"[1,,2]", None),
    (b"[1 2]", None), (b"[[1]2]", None), (b"[1e400]", None), (b"[NaN]", None), (b"[[1],[2]]]", None),
])
def test_decode_accepts_only_regular_arrays_of_json_numbers(literal: bytes, shape: tuple[int, ...] | None) -> None:
    span = json_spans.decode(literal)
    assert (span.shape if span else None) == shape
