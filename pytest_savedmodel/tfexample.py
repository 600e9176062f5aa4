"""The tf.Example codec shared by the parsing runner, served classify/regress and the strategies.

Encoding follows a careful client: a feature named in the parse spec is
written with the spec's kind (float32 -> float_list, int64 -> int64_list with
``astype(int64)``, string -> bytes_list). That is deliberate: when an export's
parse spec declares a float feature as int64, the value a client sends loses its
fraction, and parity with the raw export shows it. A feature absent from the
dict is omitted from every Example, so the parse default applies.
TensorFlow's protobuf classes are imported when a function runs, never at import.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from pytest_savedmodel.errors import InvalidArgument
from pytest_savedmodel.spec import FeatureSpec, ParseSpec

__all__ = ["FeatureRows", "decode_example", "encode_examples", "example_pb2", "example_proto", "rows_of"]


class FeatureRows(dict[str, Any]):
    """A feature dict that also knows how many tf.Examples it stands for.

    Needed when every feature of a batch is optional and left out: ``FeatureRows({}, rows=3)``
    encodes three empty tf.Examples (each feature takes its parse default), where a plain
    ``{}`` has no batch size. Everything else treats it as the dict it is.

    Example:
        >>> encode_examples(FeatureRows({}, rows=2), spec)
        [b'', b'']
    """

    def __init__(self, features: Mapping[str, Any], *, rows: int) -> None:
        super().__init__(features)
        self.rows = rows

    def __repr__(self) -> str:
        return f"FeatureRows({dict.__repr__(self)}, rows={self.rows})"


def example_pb2() -> Any:
    from pytest_savedmodel._lazy import import_tf

    import_tf()
    from tensorflow.core.example import example_pb2

    return example_pb2


def _row_values(value: Any) -> np.ndarray:
    arr = np.asarray(value, dtype=object) if isinstance(value, (list, tuple)) else np.asarray(value)
    return arr.reshape(-1)


def _kind_of(values: np.ndarray, spec: FeatureSpec | None) -> str:
    if spec is not None:
        return "bytes" if spec.dtype.is_string else ("int64" if spec.dtype.is_integer else "float")
    if values.dtype.kind in "OSU":
        return "bytes"
    if values.dtype.kind in "iub":
        return "int64"
    return "float"


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
        values = _row_values(value)
        if spec is not None and spec.kind == "fixed":
            want = int(np.prod(spec.shape)) if spec.shape else 1
            if values.size != want:
                raise InvalidArgument(
                    f"feature {key!r}: the parse spec wants {want} value(s) per example (shape "
                    f"{list(spec.shape)}), got {values.size} ({values.tolist()!r})"
                )
        _fill(ex.features.feature[key], values, _kind_of(values, spec))
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
            are written by their numpy dtype.
        batch_size: required only when ``features`` is empty (and not a :class:`FeatureRows`).

    Example:
        >>> encode_examples({"x": np.array([2.0], np.float32)}, spec)[0].hex()
        '0a0f0a0d0a017812081206...'
    """
    n = rows_of(features, batch_size)
    out = []
    for i in range(n):
        row = {k: (v[i] if isinstance(v, (list, tuple)) else np.asarray(v)[i] if np.ndim(v) else v)
               for k, v in features.items()}
        out.append(example_proto(row, parse_spec).SerializeToString())
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
