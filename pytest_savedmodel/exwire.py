"""Serialized tf.Examples of numeric features written straight from numpy, without a protobuf per row.

``tfexample.encode_examples`` built one ``tf.train.Example`` message per generated row and serialized it: about
50 us a row, the largest cost of the parsing path's checks (a three-model run encodes some 30,000 rows). The
wire form is simple enough to assemble for every row at once::

    Example    = 0x0A len Features
    Features   = (0x0A len Entry)*                        one map entry per feature, in key order
    Entry      = 0x0A len key 0x12 len Feature
    Feature    = 0x12 len FloatList | 0x1A len Int64List  (0x12 0x00: an empty list, still present)
    FloatList  = 0x0A len float32-le*                     packed; left out when empty
    Int64List  = 0x0A len varint*                         packed; a negative value is 10 bytes

Every length is a varint. :func:`encode_numeric` gives the bytes of
``example_proto(row).SerializeToString(deterministic=True)`` (tests compare them) where every feature is a
numeric or bool array with one row per example; anything else (strings, ragged or per-row lists, values left
out, a fixed feature of the wrong size) returns None and the per-row path answers, its errors included.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from pytest_savedmodel.spec import ParseSpec

__all__ = ["encode_numeric", "varints"]

_SHIFTS = np.arange(10, dtype=np.uint64) * np.uint64(7)
_LIMITS = np.uint64(1) << _SHIFTS[1:]


def varint_lengths(values: np.ndarray) -> np.ndarray:
    """The byte count of each value's varint (``values`` as uint64: a negative int64 takes 10)."""
    v = values.astype(np.uint64, copy=False).reshape(-1)
    lengths: np.ndarray = 1 + (v[:, None] >= _LIMITS[None, :]).sum(axis=1)
    return lengths


def varints(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(every value's varint, concatenated, as uint8; each varint's length)."""
    v = values.astype(np.uint64, copy=False).reshape(-1)
    lengths = varint_lengths(v)
    groups = ((v[:, None] >> _SHIFTS[None, :]) & np.uint64(0x7F)).astype(np.uint8)
    position = np.arange(10)[None, :]
    groups |= np.where(position < lengths[:, None] - 1, np.uint8(0x80), np.uint8(0))
    return groups[position < lengths[:, None]], lengths


class _Rows:
    """Per-row byte segments, laid out row after row: ``add`` appends one segment to every row."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.parts: list[tuple[np.ndarray, np.ndarray]] = []  # (bytes of all rows, each row's length)

    def const(self, data: bytes) -> None:
        if data:
            self.parts.append((np.tile(np.frombuffer(data, dtype=np.uint8), self.n), np.full(self.n, len(data))))

    def varint(self, values: np.ndarray) -> None:
        self.parts.append(varints(values))

    def block(self, data: np.ndarray) -> None:
        """``data``: uint8 [rows, width], one row's segment per row."""
        self.parts.append((data.reshape(-1), np.full(self.n, data.shape[1])))

    def lengths(self) -> np.ndarray:
        return sum((lens for _, lens in self.parts), np.zeros(self.n, dtype=np.int64))

    def rows(self) -> list[bytes]:
        lengths = self.lengths()
        ends = np.cumsum(lengths)
        out = np.empty(int(ends[-1]) if self.n else 0, dtype=np.uint8)
        offset = ends - lengths  # where each row's next segment goes
        for flat, lens in self.parts:
            starts = np.cumsum(lens) - lens
            out[np.repeat(offset - starts, lens) + np.arange(flat.size)] = flat
            offset = offset + lens
        data = out.tobytes()
        bounds = [0, *ends.tolist()]
        return [data[bounds[i]:bounds[i + 1]] for i in range(self.n)]


def _feature(key: str, values: np.ndarray, kind: str, n: int) -> tuple[_Rows, np.ndarray]:
    """One feature's map entries, row after row, and their lengths."""
    m = values.shape[1]
    body = _Rows(n)  # the list's packed field
    if kind == "float":
        with np.errstate(over="ignore", invalid="ignore"):  # beyond float32: inf, as the proto's float stores it
            data = values.astype(np.float32).astype(np.float64).astype(np.float32)  # float() then the proto's
        payload = np.full(n, 4 * m, dtype=np.int64)
        if m:
            body.const(b"\x0a")
            body.varint(payload)
            body.block(data.astype("<f4").view(np.uint8).reshape(n, 4 * m))
        tag = b"\x12"
    else:
        flat, lens = varints(values.astype(np.int64).reshape(-1))
        payload = lens.reshape(n, m).sum(axis=1) if m else np.zeros(n, dtype=np.int64)
        if m:
            body.const(b"\x0a")
            body.varint(payload)
            body.parts.append((flat, payload))
        tag = b"\x1a"
    list_len = body.lengths()
    key_bytes = key.encode()
    feature_len = 1 + varint_lengths(list_len) + list_len
    entry_len = 1 + len(varints(np.array([len(key_bytes)]))[0]) + len(key_bytes) + 1 + varint_lengths(
        feature_len) + feature_len
    entry = _Rows(n)
    entry.const(b"\x0a")
    entry.varint(entry_len)
    entry.const(b"\x0a" + bytes(varints(np.array([len(key_bytes)]))[0]) + key_bytes + b"\x12")
    entry.varint(feature_len)
    entry.const(tag)
    entry.varint(list_len)
    entry.parts += body.parts
    return entry, entry.lengths()


def _kind(values: np.ndarray, spec: Any) -> str | None:
    if spec is not None:
        return None if spec.dtype.is_string else ("int64" if spec.dtype.is_integer else "float")
    return {"b": "int64", "i": "int64", "u": "int64", "f": "float"}.get(values.dtype.kind)


def encode_numeric(features: Mapping[str, Any], parse_spec: ParseSpec | None, n: int) -> list[bytes] | None:
    """Row ``i`` of every feature as one serialized tf.Example, or None where the per-row path must answer."""
    if any(np.asarray(mask).any() for mask in getattr(features, "absent", {}).values()):
        return None
    specs = {f.key: f for f in parse_spec.features} if parse_spec else {}
    if not features or not n:
        return [b""] * n
    out = _Rows(n)
    entries: list[_Rows] = []
    total = np.zeros(n, dtype=np.int64)
    for key in sorted(features):
        value = features[key]
        if (not isinstance(value, np.ndarray) or value.ndim == 0 or value.shape[0] != n
                or value.dtype.kind not in "biuf"):
            return None
        rows = value.reshape(n, -1)
        spec = specs.get(key)
        kind = _kind(rows, spec)
        if kind is None:
            return None
        want = (int(np.prod(spec.shape)) if spec.shape else 1) if spec is not None and spec.kind == "fixed" else None
        if want is not None and rows.shape[1] != want:
            return None  # the per-row path words the error
        entry, lengths = _feature(key, rows, kind, n)
        entries.append(entry)
        total += lengths
    out.const(b"\x0a")
    out.varint(total)
    for entry in entries:
        out.parts += entry.parts
    return out.rows()
