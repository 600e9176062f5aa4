"""TF Serving's JSON rules, both directions (facts from ``util/json_tensor.cc``; our own code).

Parsing follows rapidjson as TF Serving configures it: NaN/Infinity tokens
accepted, bytes after the top-level value ignored, the first of duplicate keys
kept. Request values are typed by the *signature's* dtype. Floats in responses
are printed with 6 significant digits, or 9 (float) / 17 (double) when 6 do not
read back to the same value, then ``.0`` is appended to whole numbers; NaN and
infinities become ``NaN``/``Infinity``/``-Infinity``; string outputs whose name
ends in ``_bytes`` are written as ``{"b64": ...}``.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from pytest_savedmodel.serving.emulator.json_fast import dense_array, dense_rows, fast_loads, nesting_depth
from pytest_savedmodel.serving.emulator.json_response import (
    classify_response,
    dumps,
    format_float,
    predict_response,
    regress_response,
    tensor_json,
)
from pytest_savedmodel.serving.emulator.json_spans import MIN_BYTES, Declined, Span, SpanDoc, restore, split_spans
from pytest_savedmodel.serving.emulator.status import ServingError

__all__ = ["Declined", "b64_value", "classify_response", "debug_string", "dumps", "format_float", "holds_spans",
           "inputs_of", "invalid", "is_b64", "json_type", "parse_body", "parse_dense", "predict_inputs",
           "predict_response", "regress_response", "tensor_json"]

_DTYPE_NAMES = {1: "float", 2: "double", 3: "int32", 4: "uint8", 5: "int16", 6: "int8", 7: "string", 8: "complex64",
                9: "int64", 10: "bool", 14: "bfloat16", 17: "uint16", 18: "complex128", 19: "half", 22: "uint32",
                23: "uint64"}
_INT_RANGES = {3: (-2**31, 2**31 - 1), 5: (-2**31, 2**31 - 1), 6: (-2**31, 2**31 - 1), 4: (-2**31, 2**31 - 1),
               9: (-2**63, 2**63 - 1), 22: (0, 2**32 - 1), 23: (0, 2**64 - 1)}


class _Token:
    """A JSON number that was written as a decimal (rapidjson's IsDouble)."""


def invalid(message: str) -> ServingError:
    return ServingError("INVALID_ARGUMENT", message)


def _first_wins(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        out.setdefault(k, v)
    return out


def _depth(value: Any, limit: int) -> int:
    """The nesting depth, node by node (the reference for ``json_fast.nesting_depth``)."""
    stack = [(value, 1)]
    deepest = 0
    while stack:
        v, d = stack.pop()
        deepest = max(deepest, d)
        if deepest > limit:
            return deepest
        if isinstance(v, dict):
            stack.extend((x, d + 1) for x in v.values())
        elif isinstance(v, list):
            stack.extend((x, d + 1) for x in v)
    return deepest


def parse_dense(body: bytes, *, max_depth: int = 128, min_bytes: int = MIN_BYTES) -> dict[str, Any]:
    """The request body as a JSON object, with large numeric arrays decoded straight into numpy
    (:class:`json_spans.Span` values, in a :class:`json_spans.SpanDoc`) where the body's other parts parse
    cleanly. Only ``predict_inputs`` takes Spans; where it raises anything on such a document, the caller
    parses the body again with :func:`parse_body` for the plain path's answer and words (:func:`inputs_of`)."""
    split = split_spans(body, min_bytes)
    if split is not None:
        skeleton, spans = split
        deepest = max(len(s.shape) for s in spans.values())
        value = fast_loads(skeleton, max_depth - deepest)  # a Span of rank r stands r levels deeper than its mark
        if isinstance(value, dict):
            return SpanDoc(restore(value, spans))
    return parse_body(body, max_depth=max_depth)


def holds_spans(doc: dict[str, Any]) -> bool:
    return isinstance(doc, SpanDoc)


def inputs_of(doc: dict[str, Any], body: bytes, input_dtypes: dict[str, int], *,
              max_depth: int = 128) -> tuple[str, dict[str, Any]]:
    """``predict_inputs`` of a document from :func:`parse_dense`: where it holds Spans and the fast path
    declines or anything is raised, the body is parsed again the plain way, which answers and words it."""
    try:
        return predict_inputs(doc, input_dtypes)
    except Exception:  # Declined, a ServingError, or an error message that tried to print a Span
        if not holds_spans(doc):
            raise
    return predict_inputs(parse_body(body, max_depth=max_depth), input_dtypes)


def parse_body(body: bytes, *, max_depth: int = 128) -> dict[str, Any]:
    """The request body as a JSON object, with TF Serving's error wording."""
    if not body:
        raise invalid("JSON Parse error: The document is empty")
    value = fast_loads(body, max_depth)
    if value is None:
        value = _slow_parse(body, max_depth)
        if nesting_depth(value, max_depth) > max_depth:
            raise invalid(f"JSON Parse error: nesting deeper than {max_depth} levels at offset: 0")
    if not isinstance(value, dict):
        raise invalid(f"JSON Value: {debug_string(value)} Is not object")
    return value


def _slow_parse(body: bytes, max_depth: int) -> Any:
    text = body.decode("utf-8", errors="replace")
    start = len(text) - len(text.lstrip())
    if start == len(text):
        raise invalid("JSON Parse error: The document is empty")
    decoder = json.JSONDecoder(object_pairs_hook=_first_wins)
    try:
        value, _end = decoder.raw_decode(text, start)  # bytes after the value are ignored, as rapidjson does
    except json.JSONDecodeError as exc:
        raise invalid(f"JSON Parse error: {_reason(exc.msg)} at offset: {exc.pos}") from None
    except RecursionError:
        raise invalid(f"JSON Parse error: nesting deeper than {max_depth} levels at offset: 0") from None
    return value


def _reason(msg: str) -> str:
    # rapidjson's English messages for the common cases
    if msg.startswith("Expecting value"):
        return "Invalid value."
    if msg.startswith("Expecting property name"):
        return "Missing a name for object member."
    if msg.startswith("Expecting ':'"):
        return "Missing a colon after a name of object member."
    if msg.startswith("Expecting ',' delimiter") or msg.startswith("Unterminated"):
        return "Missing a comma or '}' after an object member."
    return msg + "."


def json_type(value: Any) -> str:
    if value is None:
        return "Null"
    if value is True:
        return "True"
    if value is False:
        return "False"
    if isinstance(value, dict):
        return "Object"
    if isinstance(value, list):
        return "Array"
    if isinstance(value, str):
        return "String"
    return "Number"


def debug_string(value: Any) -> str:
    """Compact JSON of ``value`` for error messages, cut at 256 bytes like TF Serving's."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=True)
    text = text.replace("NaN", "NaN").replace("Infinity", "Infinity")
    return text[:256]


def is_b64(value: Any) -> bool:
    return isinstance(value, dict) and len(value) == 1 and isinstance(value.get("b64"), str)


def b64_value(value: Any) -> bytes:
    if not is_b64(value):
        raise invalid(f"JSON Value: {debug_string(value)} not formatted correctly for base64 data")
    try:
        return base64.b64decode(value["b64"], validate=True)
    except (binascii.Error, ValueError):
        raise invalid("Unable to base64 decode") from None


def _type_error(value: Any, dtype: int) -> ServingError:
    return invalid(f"JSON Value: {debug_string(value)} Type: {json_type(value)} is not of expected type: "
                    f"{_DTYPE_NAMES.get(dtype, str(dtype))}")


def _scalar(value: Any, dtype: int) -> Any:
    if isinstance(value, dict):
        if dtype == 7:
            return b64_value(value)
        raise _type_error(value, dtype)
    if dtype in (1, 2):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _type_error(value, dtype)
        if isinstance(value, int) and not -2**63 <= value < 2**64:
            return float(value)
        return value
    if dtype == 7:
        if not isinstance(value, str):
            raise _type_error(value, dtype)
        return value.encode("utf-8")
    if dtype == 10:
        if not isinstance(value, bool):
            raise _type_error(value, dtype)
        return value
    if dtype in _INT_RANGES:
        lo, hi = _INT_RANGES[dtype]
        if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
            raise _type_error(value, dtype)
        return value
    raise ServingError("UNIMPLEMENTED", f"Conversion of JSON Value: {debug_string(value)} to type: "
                                        f"{_DTYPE_NAMES.get(dtype, str(dtype))}")


def _dense_shape(value: Any) -> list[int]:
    shape = []
    while isinstance(value, list):
        shape.append(len(value))
        if not value:
            break
        value = value[0]
    return shape


def _fill(value: Any, level: int, shape: list[int], dtype: int, out: list[Any]) -> None:
    if not isinstance(value, list):
        if level != len(shape):
            raise invalid(f"JSON Value: {debug_string(value)} found at incorrect level: {level + 1} in the JSON DOM. "
                           f"Expected at level: {len(shape)}")
        out.append(_scalar(value, dtype))
        return
    if level >= len(shape):
        raise invalid(f"Encountered list at unexpected level: {level} expected < {len(shape)}")
    if len(value) != shape[level]:
        raise invalid(f"Encountered list at unexpected size: {len(value)} at level: {level} expected size: "
                       f"{shape[level]}")
    for v in value:
        _fill(v, level + 1, shape, dtype, out)


def _tensor(value: Any, dtype: int) -> tuple[list[int], list[Any]]:
    shape = _dense_shape(value)
    values: list[Any] = []
    _fill(value, 0, shape, dtype, values)
    return shape, values


def _proto(dtype: int, shape: list[int], values: list[Any]) -> Any:
    from tensorflow.core.framework import tensor_pb2

    p = tensor_pb2.TensorProto(dtype=dtype)
    p.tensor_shape.SetInParent()
    for d in shape:
        p.tensor_shape.dim.add(size=d)
    field = {1: "float_val", 2: "double_val", 3: "int_val", 4: "int_val", 5: "int_val", 6: "int_val",
             7: "string_val", 9: "int64_val", 10: "bool_val", 22: "uint32_val", 23: "uint64_val"}[dtype]
    getattr(p, field).extend(values)
    return p


def _status_text(err: ServingError) -> str:
    return f"{err.code}: {err.message}"


def _typed(value: Any, dtype: int, fast: bool) -> Any:
    """One tensor of a request: the numpy array of the fast path, else a TensorProto (or the path's error)."""
    arr = dense_array(value, dtype) if fast else None
    if arr is not None:
        return arr
    shape, vals = _tensor(value, dtype)
    return _proto(dtype, shape, vals)


def predict_inputs(doc: dict[str, Any], input_dtypes: dict[str, int], *,
                   fast: bool = True) -> tuple[str, dict[str, Any]]:
    """``instances`` or ``inputs`` -> ("row"|"columnar", {alias: tensor}) typed by the signature.

    A tensor is a TensorProto, or with ``fast`` (numeric tensors) the numpy array that proto would be read as:
    the same values and the same errors (``json_fast.dense_array`` declines whatever it does not decide)."""
    has_rows, has_cols = "instances" in doc, "inputs" in doc
    if has_rows and has_cols:
        raise invalid(f"JSON Value: {debug_string(doc)} Not formatted correctly expecting only one of 'inputs' or "
                       f"'instances' keys to exist ")
    names = sorted(input_dtypes)
    if has_rows:
        rows = doc["instances"]
        if isinstance(rows, Span) and len(names) == 1 and fast:
            return "row", {names[0]: rows.typed(input_dtypes[names[0]])}
        if not isinstance(rows, list):
            raise invalid(f"JSON Value: {debug_string(doc)} Expecting 'instances' to be an list/array")
        if not rows:
            raise invalid(f"JSON Value: {debug_string(doc)} No values in 'instances' array")
        return "row", _rows(rows, input_dtypes, names, fast)
    if has_cols:
        value = doc["inputs"]
        out = {}
        if not isinstance(value, dict) or is_b64(value):
            if len(names) > 1:
                raise invalid("inputs is a plain value/list, but expecting an object as multiple input tensors "
                               "required as per tensorinfo_map")
            out[names[0]] = _typed(value, input_dtypes[names[0]], fast)
        else:
            for name in names:
                if name not in value:
                    raise invalid(f"Missing named input: {name} in 'inputs' object.")
                out[name] = _typed(value[name], input_dtypes[name], fast)
        return "columnar", out
    raise invalid("Missing 'inputs' or 'instances' key")


def _rows(rows: list[Any], dtypes: dict[str, int], names: list[str], fast: bool = False) -> dict[str, Any]:
    first = rows[0]
    if not isinstance(first, dict) and len(names) > 1:
        raise invalid("instances is a plain list, but expecting list of objects as multiple input tensors required "
                       "as per tensorinfo_map")

    def is_object(v: Any) -> bool:
        return isinstance(v, dict) and not is_b64(v)

    objects = is_object(first)
    done = dense_rows(rows, dtypes, names, objects=objects) if fast else None
    if done is not None:
        return done
    shapes: dict[str, list[int]] = {}
    sizes: dict[str, int] = {}
    values: dict[str, list[Any]] = {n: [] for n in names}

    def add(item: Any, name: str) -> None:
        if name not in dtypes:
            raise invalid(f"JSON object: does not have named input: {name}")
        shape, vals = _tensor(item, dtypes[name])
        if name not in sizes:
            sizes[name], shapes[name] = len(vals), shape
        elif sizes[name] != len(vals):
            raise invalid(f"Expecting tensor size: {sizes[name]} but got: {len(vals)}")
        elif shapes[name] != shape:
            raise invalid(f"Expecting shape [{','.join(map(str, shapes[name]))}] but got: "
                           f"[{','.join(map(str, shape))}]")
        values[name].extend(vals)

    for i, row in enumerate(rows):
        if objects:
            if not is_object(row):
                raise invalid(f"Expecting object but got list at item {i} of input list")
            for key, item in row.items():
                try:
                    add(item, key)
                except ServingError as err:
                    raise invalid(f"Failed to process element: {i} key: {key} of 'instances' list. Error: "
                                   f"{_status_text(err)}") from None
            if set(row) != set(names):
                raise invalid(f"Failed to process element: {i} of 'instances' list. JSON object: {debug_string(row)}"
                               f" keys must be equal to: {','.join(names)}")
        else:
            if is_object(row):
                raise invalid(f"Expecting value/list but got object at item {i} of input list")
            try:
                add(row, names[0])
            except ServingError as err:
                raise invalid(f"Failed to process element: {i} of 'instances' list. Error: {_status_text(err)}") \
                    from None
    return {n: _proto(dtypes[n], [len(rows), *shapes[n]], values[n]) for n in names if n in shapes}
