"""TF Serving's JSON responses (facts from ``util/json_tensor.cc``; our own code).

Floats are printed with 6 significant digits, or 9 (float) / 17 (double) when 6
do not read back to the same value, then ``.0`` is appended to whole numbers;
NaN and infinities become ``NaN``/``Infinity``/``-Infinity``; string outputs
whose name ends in ``_bytes`` are written as ``{"b64": ...}``.
"""

from __future__ import annotations

import base64
import json
import math
from typing import Any

import numpy as np

from pytest_savedmodel.serving.emulator.json_fast import leaf_texts, nest
from pytest_savedmodel.serving.emulator.status import ServingError


def _invalid(message: str) -> ServingError:
    return ServingError("INVALID_ARGUMENT", message)


__all__ = ["classify_response", "dumps", "format_float", "predict_response", "regress_response", "tensor_json"]


# ---------------------------------------------------------------------------- responses


def format_float(value: float, *, double: bool = False) -> str:
    """TF Serving's float printing: %g with 6 digits, 9/17 if that does not round-trip, then '.0'."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "-Infinity" if value < 0 else "Infinity"
    text = f"{value:g}"
    cast = float if double else np.float32
    if cast(float(text)) != cast(value):
        text = f"{value:.{17 if double else 9}g}"
    if "." not in text and "e" not in text:
        text += ".0"
    return text


def _value_json(v: Any, kind: str, as_b64: bool) -> str:
    if kind == "f":
        return format_float(float(v))
    if kind == "d":
        return format_float(float(v), double=True)
    if kind == "b":
        return "true" if v else "false"
    if kind == "s":
        raw = v if isinstance(v, bytes) else str(v).encode()
        if as_b64:
            return '{"b64": ' + json.dumps(base64.b64encode(raw).decode()) + "}"
        return json.dumps(raw.decode("utf-8", errors="replace"), ensure_ascii=False)
    if kind == "i":
        return str(int(v))
    raise ServingError("INVALID_ARGUMENT", "Failed to write JSON value for tensor type")


def _kind(arr: np.ndarray, name: str) -> str:
    k = arr.dtype.kind
    if k in "OSU":
        return "s"
    if k == "b":
        return "b"
    if k in "iu":
        return "i"
    if arr.dtype == np.float32:
        return "f"
    if arr.dtype == np.float64:
        return "d"
    raise ServingError("INVALID_ARGUMENT", f"Failed to write JSON value for tensor type: {arr.dtype.name}")


def _walk(a: Any, kind: str, as_b64: bool) -> str:
    if not isinstance(a, np.ndarray):  # an element of an object (string) array
        return _value_json(a, kind, as_b64)
    if a.ndim == 0:
        return _value_json(a.item() if kind != "s" else a[()], kind, as_b64)
    return "[" + ", ".join(_walk(a[i], kind, as_b64) for i in range(a.shape[0])) + "]"


def tensor_json(arr: np.ndarray, name: str, part: Any = None, *, fast: bool = True) -> str:
    """Output ``name`` (or ``part`` of it, e.g. one row) as nested JSON lists; a bare value for a scalar.

    Numbers and bools go through the vectorised printer (``json_fast``) unless ``fast`` is false: the same
    bytes as the element-wise walk, which strings and empty tensors keep."""
    kind, as_b64 = _kind(arr, name), arr.dtype.kind in "OSU" and name.endswith("_bytes")
    value = arr if part is None else part
    if fast and kind != "s":
        dense = np.asarray(value)
        if dense.size:
            return nest(leaf_texts(dense, kind), dense.shape)[0]
    return _walk(value, kind, as_b64)


def _row_texts(arr: np.ndarray, name: str) -> list[str]:
    """Each row of output ``name`` as JSON, as ``tensor_json(arr, name, arr[i])`` writes it."""
    if not arr.shape[0]:
        return []
    kind = _kind(arr, name)
    if kind == "s" or not arr.size:
        return [tensor_json(arr, name, arr[i]) for i in range(arr.shape[0])]
    return nest(leaf_texts(arr, kind), arr.shape[1:], rows=arr.shape[0])


def predict_response(outputs: dict[str, np.ndarray], fmt: str) -> str:
    """``{"predictions": ...}`` (row) or ``{"outputs": ...}`` (columnar), as TF Serving writes them."""
    names = list(outputs)
    if fmt == "columnar":
        if len(names) == 1:
            return '{"outputs": ' + tensor_json(outputs[names[0]], names[0]) + "}"
        body = ", ".join(json.dumps(n) + ": " + tensor_json(outputs[n], n) for n in names)
        return '{"outputs": {' + body + "}}"
    batch = -1
    for n in names:
        if outputs[n].ndim == 0:
            raise _invalid(f"Tensor name: {n} has no shape information ")
        if batch >= 0 and outputs[n].shape[0] != batch:
            raise _invalid(f"Tensor name: {n} has inconsistent batch size: {outputs[n].shape[0]} expecting: {batch}")
        batch = outputs[n].shape[0]
    if len(names) == 1:
        return '{"predictions": ' + tensor_json(outputs[names[0]], names[0]) + "}"
    texts = {n: _row_texts(np.asarray(outputs[n]), n) for n in names}
    rows = ["{" + ", ".join(json.dumps(n) + ": " + texts[n][i] for n in names) + "}" for i in range(batch)]
    return '{"predictions": [' + ", ".join(rows) + "]}"


def dumps(value: Any) -> str:
    """Plain JSON for status/metadata/error bodies."""
    return json.dumps(value, indent=4, ensure_ascii=False)


# ---------------------------------------------------------------------------- classify / regress


def classify_response(result: Any) -> str:
    rows = []
    for c in result.classifications:
        rows.append("[" + ", ".join("[" + json.dumps(cl.label, ensure_ascii=False) + ", " +
                                    format_float(cl.score) + "]" for cl in c.classes) + "]")
    return '{"results": [' + ", ".join(rows) + "]}"


def regress_response(result: Any) -> str:
    return '{"results": [' + ", ".join(format_float(r.value) for r in result.regressions) + "]}"
