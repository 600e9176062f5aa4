"""Hypothesis strategies that draw model inputs straight from a signature or a tf.Example parse spec.

In the style of :mod:`hypothesis.extra.numpy` (which does the array drawing):
keyword-only arguments, checked when the strategy is built, with an
:class:`~pytest_savedmodel.errors.InvalidArgument` that repeats ``name=value``
and says what is allowed.

Defaults keep inputs in a range models are built for (scalar values come from
:mod:`pytest_savedmodel.values`): floats mostly at unit scale and a few decades
around it, integers in [-1000, 1000] clipped to the dtype, finite values only,
short strings. Where the model's graph bounds an input (an embedding id, a one-hot
depth, a closed vocabulary: ``SignatureSpec.domains``), values stay inside that
domain; a TFMD schema's domain wins over it, and ``ranges`` win over both.
Importing this module does not import TensorFlow.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from dataclasses import replace
from typing import Any

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from pytest_savedmodel.coded import WIDE, coded_arrays
from pytest_savedmodel.errors import InvalidArgument
from pytest_savedmodel.schema import FeatureDomain, Schema
from pytest_savedmodel.spec import (
    Domain,
    DType,
    Features,
    FeatureSpec,
    ParseSpec,
    SignatureSpec,
    TensorSpec,
)
from pytest_savedmodel.tfexample import FeatureRows
from pytest_savedmodel.values import check_range, elements

__all__ = ["elements", "example_features", "feature_dicts", "tensors", "tf_examples"]

DEFAULT_BATCH = st.integers(1, 4)
Range = tuple[float | None, float | None]


def _dims(shape: tuple[int | None, ...] | None, batch_size: int | None,
          dim_size: st.SearchStrategy[int]) -> st.SearchStrategy[tuple[int, ...]]:
    if shape is None:  # unknown rank: a batch dim plus 0..1 more
        first = st.just(batch_size) if batch_size is not None else dim_size
        return st.tuples(first, st.lists(dim_size, max_size=1)).map(lambda t: (t[0], *t[1]))
    parts = []
    for i, d in enumerate(shape):
        if d is not None:
            parts.append(st.just(d))
        elif i == 0 and batch_size is not None:
            parts.append(st.just(batch_size))
        else:
            parts.append(dim_size)
    return st.tuples(*parts)


def tensors(
    spec: TensorSpec,
    *,
    batch_size: int | None = None,
    dim_size: st.SearchStrategy[int] | None = None,
    min_value: float | None = None,
    max_value: float | None = None,
    allow_nan: bool = False,
    allow_infinity: bool = False,
    values: Collection[Any] | None = None,
    fill_above: int | None = None,
) -> st.SearchStrategy[np.ndarray]:
    """Arrays for one signature input: its dtype, its shape with unknown dims drawn.

    Arrays of more than 64 elements (``fill_above``: the size that decides, when several inputs are drawn as
    one array) draw a few elements and fill the rest with one value.

    The first unknown dim is the batch dim and takes ``batch_size`` when given.

    Example:
        >>> tensors(sig.inputs["x"], batch_size=3).example().shape
        (3, 1)
    """
    if batch_size is not None and (not isinstance(batch_size, int) or batch_size < 0):
        raise InvalidArgument(f"{spec.alias}: batch_size={batch_size!r} must be an int >= 0")
    if spec.shape is not None and any(d is not None and (not isinstance(d, int) or d < 0) for d in spec.shape):
        raise InvalidArgument(f"{spec.alias}: shape={list(spec.shape)!r} has a negative dim; use None (not -1) "
                              f"for an unknown dim")
    elems = elements(spec.dtype, min_value=min_value, max_value=max_value, allow_nan=allow_nan,
                     allow_infinity=allow_infinity, values=values)
    np_dtype: Any = object if spec.dtype.is_string else spec.dtype.numpy
    # A free non-batch dim is 1 to 3 wide, and sometimes 0 (an empty sequence: models that crash on [B, 0]).
    # Small arrays draw every element (Hypothesis' fill value would make most of them one repeated value).
    dims = _dims(spec.shape, batch_size, dim_size or st.sampled_from((1, 2, 3, 0)))
    # Large arrays (an image) draw a few elements and fill the rest with one value Hypothesis can reuse.
    plain = elements(spec.dtype, min_value=min_value, max_value=max_value, allow_nan=allow_nan,
                     allow_infinity=allow_infinity, values=values, plain=True)
    built: dict[tuple[int, ...], st.SearchStrategy[np.ndarray]] = {}  # one arrays strategy per shape: building
    # (and validating) one per draw cost about as much as drawing its elements

    def arrays(shape: tuple[int, ...]) -> st.SearchStrategy[np.ndarray]:
        if shape not in built:
            size = math.prod(shape) if fill_above is None else fill_above
            built[shape] = hnp.arrays(np_dtype, shape, elements=elems, fill=st.nothing() if size <= 64 else plain)
        return built[shape]

    return dims.flatmap(arrays)


def _batch_strategy(batch_size: int | st.SearchStrategy[int]) -> st.SearchStrategy[int]:
    if isinstance(batch_size, st.SearchStrategy):
        return batch_size
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
        raise InvalidArgument(f"batch_size={batch_size!r} must be an int >= 1 or a strategy of ints")
    return st.just(batch_size)


def _check_names(what: str, names: Collection[str], known: Collection[str]) -> None:
    unknown = sorted(set(names) - set(known))
    if unknown:
        raise InvalidArgument(f"{what}={unknown!r}: no such input; inputs that exist: {', '.join(sorted(known))}")


def _fits(value: Any, dtype: DType) -> bool:
    """Whether a vocabulary value can be fed as ``dtype`` (bytes for strings, ints for integers)."""
    if dtype.is_string:
        return isinstance(value, bytes)
    return dtype.is_integer and isinstance(value, int) and not isinstance(value, bool)


def _schema_domain(schema: Schema | None, name: str, dtype: DType, r: Range,
                   graph: Domain | None = None) -> tuple[Range, Any, Any]:
    """(range, vocabulary, domain) for ``name``: explicit ``ranges`` win over the schema, which wins over ``graph``.

    ``graph`` is what the model's own ops accept (:class:`~pytest_savedmodel.spec.Domain`); it is read as a schema
    domain of the same name, so one mechanism bounds both.
    """
    d = schema.domain(name) if schema is not None else None
    want = "bytes" if dtype.is_string else "int" if (dtype.is_integer or dtype.is_bool) else "float"
    if d is not None and schema is not None and d.kind in ("bytes", "int", "float") and d.kind != want:
        raise InvalidArgument(f"{name}: the schema {schema.path} declares it {d.kind.upper()} but the model takes it "
                              f"as {dtype.name}; one of them is wrong (a training-serving skew)")
    if graph is not None and graph.kind == want:  # what the schema leaves open, the graph's domain bounds
        g = FeatureDomain(name, graph.kind, graph.min_value, graph.max_value, graph.values)
        d = g if d is None else replace(
            d, min_value=g.min_value if d.min_value is None else d.min_value,
            max_value=g.max_value if d.max_value is None else d.max_value,
            values=d.values if d.values is not None or d.min_value is not None or d.max_value is not None
            else g.values)
    if d is None:
        return r, None, None
    lo = r[0] if r[0] is not None else d.min_value
    hi = r[1] if r[1] is not None else d.max_value
    values = d.values if r == (None, None) else None
    if values is not None and not all(_fits(v, dtype) for v in values):
        values = None
    return (lo, hi), values, d


def feature_dicts(
    signature: SignatureSpec,
    *,
    batch_size: int | st.SearchStrategy[int] = DEFAULT_BATCH,
    ranges: Mapping[str, Range] | None = None,
    allow_nan: bool = False,
    allow_infinity: bool = False,
    optional: Collection[str] = (),
    schema: Schema | None = None,
) -> st.SearchStrategy[Features]:
    """Feature dicts for ``signature``: one array per input, one drawn batch size shared by all.

    A parsing signature's serialized-Example input gets tf.Examples drawn from its
    recovered parse spec. Inputs named in ``optional`` are sometimes left out,
    unless a ``schema`` (:func:`pytest_savedmodel.schema.read_schema`) says they are
    required; the schema's domains bound the values drawn for inputs and features of
    the same name.

    Example:
        >>> @given(feature_dicts(spec.signature("serving_default"), ranges={"SepalLength": (4.0, 8.0)}))
        ... def test_finite(features): ...
    """
    ranges = dict(ranges or {})
    _check_names("ranges", ranges, signature.inputs)
    _check_names("optional", optional, signature.inputs)
    for name, r in ranges.items():
        if not isinstance(r, tuple) or len(r) != 2:
            raise InvalidArgument(f"ranges[{name!r}]={r!r}: give a (min_value, max_value) pair; None leaves a side "
                                  f"at its default")
        check_range(name, *r)
    sizes = _batch_strategy(batch_size)
    parse_input = signature.parse_spec.input_alias if signature.parse_spec else None
    # Build every per-input strategy now, so argument errors surface when the strategy is built.
    domains: dict[str, tuple[Range, Any]] = {}
    for alias, spec in signature.inputs.items():
        if alias != parse_input:
            r, vocab, d = _schema_domain(schema, alias, spec.dtype, ranges.get(alias, (None, None)),
                                         signature.domains.get(alias))
            domains[alias] = (r, vocab)
            if d is not None and d.required:
                optional = [o for o in optional if o != alias]
            elements(spec.dtype, min_value=r[0], max_value=r[1], allow_nan=allow_nan, allow_infinity=allow_infinity,
                     values=vocab)

    cache: dict[tuple[str, int], st.SearchStrategy[Any]] = {}  # building array strategies is costly

    def strategy_for(alias: str, spec: TensorSpec, n: int) -> st.SearchStrategy[Any]:
        if (alias, n) not in cache:
            if alias == parse_input and signature.parse_spec is not None:
                cache[alias, n] = tf_examples(signature.parse_spec, batch_size=n, allow_nan=allow_nan, schema=schema)
            else:
                (lo, hi), vocab = domains[alias]
                batched = spec.shape is None or (len(spec.shape) > 0 and spec.shape[0] is None)
                cache[alias, n] = tensors(spec, batch_size=n if batched else None, min_value=lo, max_value=hi,
                                          allow_nan=allow_nan, allow_infinity=allow_infinity, values=vocab)
        return cache[alias, n]

    # Inputs of one dtype, row shape and domain are drawn as one array and split (a wide tabular model has a
    # hundred [B, 1] float inputs: one draw instead of a hundred costs a tenth of the time).
    groups: dict[tuple[Any, ...], list[str]] = {}
    for alias, spec in sorted(signature.inputs.items()):
        if alias == parse_input or alias in optional or spec.shape is None or not spec.shape \
                or spec.shape[0] is not None or any(d is None for d in spec.shape[1:]):
            continue
        (lo, hi), vocab = domains[alias]
        key = (spec.dtype.name, tuple(spec.shape[1:]), lo, hi, tuple(sorted(map(repr, vocab))) if vocab else None)
        groups.setdefault(key, []).append(alias)
    grouped = {a: members for members in groups.values() if len(members) > 1 for a in members}

    def group_strategy(members: list[str], n: int) -> st.SearchStrategy[Any]:
        key = ("|".join(members), n)
        if key not in cache:
            first = signature.inputs[members[0]]
            (lo, hi), vocab = domains[members[0]]
            rest = tuple(int(d or 0) for d in first.shape[1:]) if first.shape else ()
            stacked = replace(first, shape=(n, len(members), *rest))
            if len(members) >= WIDE and not (vocab or allow_nan or allow_infinity) and first.dtype.numpy is not None \
                    and (first.dtype.is_integer or first.dtype.is_float):  # one draw for the group (coded.py)
                cache[key] = coded_arrays(first.dtype, lo, hi, (n, len(members), *rest))
            else:
                cache[key] = tensors(stacked, min_value=lo, max_value=hi, allow_nan=allow_nan,
                                     allow_infinity=allow_infinity, values=vocab, fill_above=n * math.prod(rest))
        return cache[key]

    @st.composite
    def draw_features(draw: st.DrawFn) -> Features:
        n = draw(sizes)
        out: Features = {}
        left_out = {a for a in sorted(signature.inputs) if a in optional and draw(st.booleans())}
        for alias, spec in sorted(signature.inputs.items()):
            if alias in out or alias in left_out:
                continue
            if alias in grouped:
                members = grouped[alias]
                block = draw(group_strategy(members, n))
                for j, member in enumerate(members):
                    out[member] = np.ascontiguousarray(block[:, j])
                continue
            value = draw(strategy_for(alias, spec, n))
            if isinstance(value, list):  # serialized tf.Examples
                arr = np.empty(len(value), dtype=object)
                arr[:] = value
                value = arr
            out[alias] = value
        return dict(sorted(out.items()))

    return draw_features()


def _feature_values(spec: FeatureSpec, n: int, r: Range, allow_nan: bool, vocab: Any = None,
                    counts: tuple[int, int] = (0, 3)) -> st.SearchStrategy[Any]:
    elems = elements(spec.dtype, min_value=r[0], max_value=r[1], allow_nan=allow_nan, values=vocab)
    np_dtype: Any = object if spec.dtype.is_string else spec.dtype.numpy
    if spec.kind == "fixed":
        shape = (n,) if spec.shape in ((), (1,)) else (n, *spec.shape)
        return hnp.arrays(np_dtype, shape, elements=elems)
    row = hnp.arrays(np_dtype, st.integers(*counts).map(lambda k: (k,)), elements=elems)

    def as_object(rows: list[np.ndarray]) -> np.ndarray:
        out = np.empty(len(rows), dtype=object)
        out[:] = rows
        return out

    return st.lists(row, min_size=n, max_size=n).map(as_object)


def example_features(
    parse_spec: ParseSpec,
    *,
    batch_size: int | st.SearchStrategy[int] = DEFAULT_BATCH,
    ranges: Mapping[str, Range] | None = None,
    omit_optional: bool = True,
    allow_nan: bool = False,
    schema: Schema | None = None,
) -> st.SearchStrategy[Features]:
    """Feature dicts keyed by tf.Example feature key, shaped for :func:`encode_examples`.

    Fixed features of shape ``[]`` or ``[1]`` come as ``[batch]`` arrays, others as
    ``[batch, *shape]``; VarLen and ragged features as object arrays of per-row 1-D
    arrays (0 to 3 values). Features with a default (and VarLen ones) are sometimes
    omitted when ``omit_optional``; required features never are, nor features a
    ``schema`` marks present in every example. The schema's domains bound values and
    its ``value_count`` bounds VarLen row lengths.
    """
    ranges = dict(ranges or {})
    _check_names("ranges", ranges, parse_spec.keys)
    for name, r in ranges.items():
        check_range(name, *r)
    sizes = _batch_strategy(batch_size)
    plan: dict[str, tuple[Range, Any, tuple[int, int], bool]] = {}
    for f in parse_spec.features:
        r, vocab, d = _schema_domain(schema, f.key, f.dtype, ranges.get(f.key, (None, None)),
                                     parse_spec.domains.get(f.key))
        counts = (0, 3)
        if d is not None and (d.min_count is not None or d.max_count is not None):
            lo_c = d.min_count or 0
            counts = (lo_c, max(lo_c, d.max_count if d.max_count is not None else lo_c + 3))
        plan[f.key] = (r, vocab, counts, bool(d is not None and d.required))
        elements(f.dtype, min_value=r[0], max_value=r[1], values=vocab)

    cache: dict[tuple[str, int], st.SearchStrategy[Any]] = {}

    by_key = {f.key: f for f in parse_spec.features}

    def draw_sparse_feature(draw: st.DrawFn, index: FeatureSpec, values: FeatureSpec, n: int) -> tuple[Any, Any]:
        """A tf.io.SparseFeature: per example, as many indices (in [0, size)) as values."""
        r, vocab, counts, _ = plan[values.key]
        lengths = draw(st.lists(st.integers(*counts), min_size=n, max_size=n))
        hi = (index.index_bound or 1) - 1
        idx = np.empty(n, dtype=object)
        val = np.empty(n, dtype=object)
        elems = elements(values.dtype, min_value=r[0], max_value=r[1], allow_nan=allow_nan, values=vocab)
        np_dtype: Any = object if values.dtype.is_string else values.dtype.numpy
        for i, k in enumerate(lengths):
            idx[i] = np.asarray(draw(st.lists(st.integers(0, hi), min_size=k, max_size=k)), index.dtype.numpy)
            val[i] = draw(hnp.arrays(np_dtype, (k,), elements=elems))
        return idx, val

    @st.composite
    def draw_features(draw: st.DrawFn) -> Features:
        n = draw(sizes)
        out: Features = {}
        for f in parse_spec.features:
            if f.key in out:
                continue  # drawn with its SparseFeature pair
            r, vocab, counts, present = plan[f.key]
            if omit_optional and not f.required and not present and draw(st.booleans()):
                continue
            other = by_key.get(f.sparse_pair) if f.sparse_pair else None
            if other is not None:
                index, values = (f, other) if f.index_bound is not None else (other, f)
                out[index.key], out[values.key] = draw_sparse_feature(draw, index, values, n)
                continue
            if (f.key, n) not in cache:
                cache[f.key, n] = _feature_values(f, n, r, allow_nan, vocab, counts)
            out[f.key] = draw(cache[f.key, n])
        # every feature left out: the batch still has n (empty) tf.Examples
        return out if out else FeatureRows({}, rows=n)

    return draw_features()


def tf_examples(
    parse_spec: ParseSpec,
    *,
    batch_size: int | st.SearchStrategy[int] = DEFAULT_BATCH,
    ranges: Mapping[str, Range] | None = None,
    omit_optional: bool = True,
    allow_nan: bool = False,
    schema: Schema | None = None,
) -> st.SearchStrategy[list[bytes]]:
    """Serialized tf.Examples that ``parse_spec`` accepts (see :func:`example_features`)."""
    from pytest_savedmodel.tfexample import encode_examples, example_pb2

    example_pb2()  # import TensorFlow's protos now, not during a draw (Hypothesis forbids touching `random` there)
    sizes = _batch_strategy(batch_size)
    features = example_features(parse_spec, batch_size=sizes, ranges=ranges, omit_optional=omit_optional,
                                allow_nan=allow_nan, schema=schema)

    @st.composite
    def draw_examples(draw: st.DrawFn) -> list[bytes]:
        feats = draw(features)
        n = len(next(iter(feats.values()))) if feats else draw(sizes)
        return encode_examples(feats, parse_spec, batch_size=n)

    return draw_examples()
