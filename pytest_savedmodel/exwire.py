"""Serialized tf.Examples of numeric features written as bytes, without a protobuf message per row.

``tfexample.encode_examples`` built one ``tf.train.Example`` message per generated row and serialized it: about
20 us a row for Iris's 4 features (a three-model run encodes some 30,000 rows). The wire form is simple enough
to write directly, 3 us a row: the values of a row are one numpy slice (float32 bytes as they stand, int64 as
varints), the rest a few constant bytes and lengths::

    Example    = 0x0A len Features
    Features   = (0x0A len Entry)*                        one map entry per feature, in key order
    Entry      = 0x0A len key 0x12 len Feature
    Feature    = 0x12 len FloatList | 0x1A len Int64List  (0x12 0x00: an empty list, still present)
    FloatList  = 0x0A len float32-le*                     packed; left out when empty
    Int64List  = 0x0A len varint*                         packed; a negative value is 10 bytes

Every length is a varint. :func:`encode_numeric` gives the Example ``example_proto(row)`` is (tests compare
them), its map entries in Python's sorted key order (protobuf's deterministic order differs only where one key
is a prefix of another: upb writes "00" before "0"), where every feature is a numeric or bool array with one row
per example; anything else (strings, ragged or per-row lists, values left out, a fixed feature of the wrong size)
returns None and the per-row path answers, its errors included.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from pytest_savedmodel.spec import FeatureSpec, ParseSpec

__all__ = ["encode_numeric", "feature_kind", "fixed_size", "varint"]


def feature_kind(values: np.ndarray, spec: FeatureSpec | None) -> str:
    """The list a feature's values go in: ``bytes``, ``int64`` or ``float`` (the spec's dtype, else the array's)."""
    if spec is not None:
        return "bytes" if spec.dtype.is_string else ("int64" if spec.dtype.is_integer else "float")
    if values.dtype.kind in "OSU":
        return "bytes"
    if values.dtype.kind in "iub":
        return "int64"
    return "float"


def fixed_size(spec: FeatureSpec | None) -> int | None:
    """How many values a fixed feature holds per example (None: not a fixed feature of the spec)."""
    if spec is None or spec.kind != "fixed":
        return None
    return int(np.prod(spec.shape)) if spec.shape else 1


def varint(n: int) -> bytes:
    """One varint (``n`` >= 0)."""
    if n < 0x80:
        return _SMALL[n]
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


_SMALL = [bytes((i,)) for i in range(0x80)]
_U64 = 2**64 - 1


def _rows(columns: list[tuple[str, np.ndarray, str]], n: int) -> list[bytes]:
    """Each row's bytes: a float row's values are its float32 bytes as they stand, an int row's its varints."""
    heads = [(b"\x0a" + varint(len(k.encode())) + k.encode() + b"\x12", b"\x12" if kind == "float" else b"\x1a",
              values, kind) for k, values, kind in columns]
    out = []
    for i in range(n):
        entries = []
        for head, tag, values, kind in heads:
            row = values[i]
            if kind == "float":
                payload = row.tobytes()
            else:
                payload = b"".join([varint(v & _U64) for v in row.tolist()])
            packed = b"\x0a" + varint(len(payload)) + payload if row.size else b""
            feature = tag + varint(len(packed)) + packed
            body = head + varint(len(feature)) + feature
            entries.append(b"\x0a" + varint(len(body)) + body)
        features = b"".join(entries)
        out.append(b"\x0a" + varint(len(features)) + features)
    return out


def encode_numeric(features: Mapping[str, Any], parse_spec: ParseSpec | None, n: int) -> list[bytes] | None:
    """Row ``i`` of every feature as one serialized tf.Example, or None where the per-row path must answer."""
    if any(np.asarray(mask).any() for mask in getattr(features, "absent", {}).values()):
        return None
    specs = {f.key: f for f in parse_spec.features} if parse_spec else {}
    if not features or not n:
        return [b""] * n
    columns: list[tuple[str, np.ndarray, str]] = []
    for key in sorted(features):
        value = features[key]
        if (not isinstance(value, np.ndarray) or value.ndim == 0 or value.shape[0] != n
                or value.dtype.kind not in "biuf"):
            return None
        rows = value.reshape(n, -1)
        spec = specs.get(key)
        kind = feature_kind(rows, spec)
        want = fixed_size(spec)
        if kind == "bytes" or (want is not None and rows.shape[1] != want):
            return None  # strings; a wrong size, which the per-row path words
        if kind == "float":
            with np.errstate(over="ignore", invalid="ignore"):  # beyond float32: inf, as the proto's float stores
                rows = rows.astype(np.float32).astype(np.float64).astype("<f4")  # float(), then the proto's float
        else:
            with np.errstate(invalid="ignore"):  # a float beyond int64 casts as the per-row path casts it
                rows = rows.astype(np.int64)
        columns.append((key, np.ascontiguousarray(rows), kind))
    return _rows(columns, n)
