"""The tf.Example codec shared by the parsing runner, served classify/regress and the strategies.

Encoding follows a careful client: a feature named in the parse spec is
written with the spec's kind (float32 -> float_list, int64 -> int64_list with
``astype(int64)``, string -> bytes_list). That is deliberate: when an export's
parse spec declares a float feature as int64, the value a client sends loses its
fraction, and parity with the raw export shows it. A feature absent from the
dict is omitted from every Example, so the parse default applies. A :class:`FeatureRows` may also leave single
values out (``absent``): :func:`without_missing` makes the tf.Example request equivalent to raw inputs whose
graph drops a *missing* value (feature columns' ``''`` and ``-1``), a value the tf.Example then does not hold.
TensorFlow's protobuf classes are imported when a function runs, never at import.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import numpy as np

from pytest_savedmodel.errors import InvalidArgument
from pytest_savedmodel.exwire import encode_numeric, feature_kind, fixed_size
from pytest_savedmodel.spec import Features, ParseSpec, SignatureSpec

__all__ = ["FeatureRows", "decode_example", "encode_examples", "example_pb2", "example_proto", "examples_request",
           "omissions_noted", "omitted_note", "row_values", "rows_of", "without_missing"]


class FeatureRows(dict[str, Any]):
    """A feature dict that also knows how many tf.Examples it stands for.

    Needed when every feature of a batch is optional and left out: ``FeatureRows({}, rows=3)``
    encodes three empty tf.Examples (each feature takes its parse default), where a plain
    ``{}`` has no batch size. ``absent`` maps a feature to a boolean mask shaped like its
    array: the values marked are left out of their tf.Example, and a row left with none
    omits the feature (see :func:`without_missing`). Everything else treats it as the dict it is.

    Example:
        >>> encode_examples(FeatureRows({}, rows=2), spec)
        [b'', b'']
    """

    def __init__(self, features: Mapping[str, Any], *, rows: int,
                 absent: Mapping[str, np.ndarray] | None = None) -> None:
        super().__init__(features)
        self.rows = rows
        self.absent = dict(absent or {})

    def __repr__(self) -> str:
        extra = f", absent={self.absent!r}" if self.absent else ""
        return f"FeatureRows({dict.__repr__(self)}, rows={self.rows}{extra})"


def _equal(values: np.ndarray, missing: int | float | bytes) -> np.ndarray:
    """Elementwise ``values == missing``; strings compared as UTF-8 bytes."""
    if isinstance(missing, bytes):
        if values.dtype.kind not in "OSU":
            return np.zeros(values.shape, dtype=bool)
        flat = [(v.encode() if isinstance(v, str) else v) == missing for v in values.reshape(-1)]
        return np.asarray(flat, dtype=bool).reshape(values.shape)
    if values.dtype.kind not in "iufb":
        return np.zeros(values.shape, dtype=bool)
    return np.asarray(values == missing, dtype=bool)


def without_missing(features: Features, missing: Mapping[str, int | float | bytes],
                    parse_spec: ParseSpec | None = None) -> Features:
    """The tf.Example request equivalent to raw ``features`` for a graph that drops ``missing`` values.

    ``missing`` is the raw signature's :attr:`~pytest_savedmodel.spec.SignatureSpec.missing` (input -> the value
    its graph compares with and drops). A value equal to it is left out of its tf.Example, and a row left with no
    value omits the feature, as a client leaves out what it does not have: that is the request the raw one stands
    for. A FixedLen feature of ``parse_spec`` cannot lose part of a row: it is omitted only where the whole row is
    missing. ``features`` itself when nothing is left out, else a :class:`FeatureRows` with ``absent`` marks.

    Example:
        >>> rows = without_missing({"zip": np.array([b"", b"10115"], object)}, {"zip": b""})
        >>> [decode_example(e) for e in encode_examples(rows)]
        [{}, {'zip': array([b'10115'], dtype=object)}]
    """
    specs = {f.key: f for f in parse_spec.features} if parse_spec is not None else {}
    absent: dict[str, np.ndarray] = {}
    for key, value in missing.items():
        if key not in features or isinstance(features[key], (list, tuple)) or np.ndim(features[key]) == 0:
            continue
        arr = np.asarray(features[key])
        hit = _equal(arr, value)
        spec = specs.get(key)
        if spec is not None and spec.kind == "fixed":
            whole = hit.reshape(len(arr), -1).all(axis=1)
            hit = np.broadcast_to(whole.reshape((-1,) + (1,) * (arr.ndim - 1)), arr.shape).copy()
        if hit.any():
            absent[key] = hit
    if not absent:
        return features
    return FeatureRows(features, rows=rows_of(features), absent={**getattr(features, "absent", {}), **absent})


def examples_request(features: Features, raw: SignatureSpec, parsing: SignatureSpec) -> Features:
    """``features`` drawn for raw signature ``raw`` as the request a client sends parsing signature ``parsing``:
    the values ``raw``'s graph drops as missing left out (:func:`without_missing`); else ``features`` as they are."""
    if raw.parse_spec is not None or parsing.parse_spec is None or not raw.missing:
        return features
    return without_missing(features, raw.missing, parsing.parse_spec)


@contextmanager
def omissions_noted(sent: Features, raw: SignatureSpec) -> Iterator[None]:
    """A finding raised inside gets :func:`omitted_note`: which values of ``sent`` its tf.Examples left out."""
    try:
        yield
    except AssertionError as exc:
        note = omitted_note(sent, raw.missing, raw=f"raw signature {raw.key!r}")
        if note is not None:
            exc.add_note(note)
        raise


def _show(value: Any) -> str:
    return repr(value.decode("utf-8", "replace")) if isinstance(value, bytes) else repr(value)


def omitted_note(features: Mapping[str, Any], missing: Mapping[str, int | float | bytes], *,
                 raw: str = "the raw signature") -> str | None:
    """The words saying which values :func:`without_missing` left out of ``features``' tf.Examples (None: none)."""
    absent = getattr(features, "absent", {})
    parts = []
    for key, mask in sorted(absent.items()):
        rows = np.flatnonzero(np.asarray(mask).reshape(len(mask), -1).any(axis=1)).tolist()
        shown = ", ".join(map(str, rows[:8])) + (", ..." if len(rows) > 8 else "")
        value = f" = {_show(missing[key])}" if key in missing else ""
        parts.append(f"{key}{value} in row{'s' if len(rows) > 1 else ''} {shown}")
    if not parts:
        return None
    return f"(left out of the tf.Examples as missing: {'; '.join(parts)}; the graph of {raw} drops these values)"


def example_pb2() -> Any:
    from pytest_savedmodel._lazy import import_tf

    import_tf()
    from tensorflow.core.example import example_pb2

    return example_pb2


def row_values(value: Any) -> np.ndarray:
    """One row's values of a feature, flat (bytes kept whole)."""
    if isinstance(value, (bytes, str)):  # not np.asarray: a fixed-width bytes array drops trailing NUL bytes
        one = np.empty(1, dtype=object)
        one[0] = value
        return one
    arr = np.asarray(value, dtype=object) if isinstance(value, (list, tuple)) else np.asarray(value)
    return arr.reshape(-1)


def _fill(feature: Any, values: np.ndarray, kind: str) -> None:
    if kind == "bytes":
        feature.bytes_list.value.extend(v.encode() if isinstance(v, str) else bytes(v) for v in values)
    elif kind == "int64":
        feature.int64_list.value.extend(int(v) for v in np.asarray(values).astype(np.int64))
    else:
        feature.float_list.value.extend(float(v) for v in np.asarray(values, dtype=np.float32))


def rows_of(features: Mapping[str, Any], batch_size: int | None = None) -> int:
    """The number of tf.Examples ``features`` stands for: every feature's row count (they must agree), else
    ``batch_size``, else a :class:`FeatureRows`' ``rows``."""
    if batch_size is None and not features:
        batch_size = getattr(features, "rows", None)
    return _batch_size(features, batch_size)


def _batch_size(features: Mapping[str, Any], batch_size: int | None) -> int:
    sizes = {k: len(v) if isinstance(v, (list, tuple)) else (np.shape(v)[0] if np.ndim(v) else 1)
             for k, v in features.items()}
    distinct = set(sizes.values())
    if len(distinct) > 1:
        raise InvalidArgument(f"features disagree on the batch size: {dict(sorted(sizes.items()))}; every feature "
                              f"needs one row per tf.Example")
    if distinct:
        n = distinct.pop()
        if batch_size is not None and batch_size != n:
            raise InvalidArgument(f"batch_size={batch_size} but the features have {n} rows")
        return n
    if batch_size is None:
        raise InvalidArgument("no features given: pass batch_size=N (or FeatureRows({}, rows=N)) to encode N empty "
                              "tf.Examples")
    return batch_size


def example_proto(row: Mapping[str, Any], parse_spec: ParseSpec | None = None) -> Any:
    """One ``tf.train.Example`` proto from one row ``{feature: value(s)}``."""
    pb = example_pb2()
    ex = pb.Example()
    specs = {f.key: f for f in parse_spec.features} if parse_spec else {}
    for key, value in sorted(row.items()):
        spec = specs.get(key)
        values = row_values(value)
        want = fixed_size(spec)
        if spec is not None and want is not None and values.size != want:
            raise InvalidArgument(
                f"feature {key!r}: the parse spec wants {want} value(s) per example (shape "
                f"{list(spec.shape)}), got {values.size} ({values.tolist()!r})"
            )
        _fill(ex.features.feature[key], values, feature_kind(values, spec))
    return ex


def encode_examples(
    features: Mapping[str, Any],
    parse_spec: ParseSpec | None = None,
    *,
    batch_size: int | None = None,
) -> list[bytes]:
    """Row ``i`` of every feature -> one serialized tf.Example.

    Args:
        features: ``{key: array}`` with one row per example; for a fixed feature of
            shape ``[1]`` a ``[batch]`` array is fine; VarLen/ragged features take an
            object array (or list) of per-row 1-D arrays.
        parse_spec: the spec whose dtypes decide each feature's kind; keys not in it
            are written by their numpy dtype. A :class:`FeatureRows`' ``absent`` values are left out
            (:func:`without_missing`), so every path that encodes tf.Examples this way sends the same request.
        batch_size: required only when ``features`` is empty (and not a :class:`FeatureRows`).

    Example:
        >>> encode_examples({"x": np.array([2.0], np.float32)}, spec)[0].hex()
        '0a0f0a0d0a017812081206...'
    """
    n = rows_of(features, batch_size)
    fast = encode_numeric(features, parse_spec, n)  # numeric arrays: written as bytes, no message per row
    if fast is not None:
        return fast
    absent: Mapping[str, np.ndarray] = getattr(features, "absent", {})
    out = []
    for i in range(n):
        row = {}
        for k, v in features.items():
            value = v[i] if isinstance(v, (list, tuple)) else np.asarray(v)[i] if np.ndim(v) else v
            if k in absent:
                keep = ~np.asarray(absent[k][i], dtype=bool).reshape(-1)
                if not keep.any():
                    continue  # the feature is left out of this row's Example
                value = value if keep.all() else row_values(value)[keep]
            row[k] = value
        out.append(example_proto(row, parse_spec).SerializeToString(deterministic=True))  # map order fixed
    return out


def decode_example(data: bytes) -> dict[str, np.ndarray]:
    """A serialized tf.Example back to ``{key: values}`` (float32, int64 or object bytes arrays)."""
    pb = example_pb2()
    ex = pb.Example.FromString(data)
    out: dict[str, np.ndarray] = {}
    for key, feat in ex.features.feature.items():
        kind = feat.WhichOneof("kind")
        if kind == "float_list":
            out[key] = np.asarray(feat.float_list.value, dtype=np.float32)
        elif kind == "int64_list":
            out[key] = np.asarray(feat.int64_list.value, dtype=np.int64)
        else:
            arr = np.empty(len(feat.bytes_list.value), dtype=object)
            arr[:] = list(feat.bytes_list.value)
            out[key] = arr
    return out
