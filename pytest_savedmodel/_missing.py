"""Recover the value each signature input's graph treats as *missing*: compared with it, the matches dropped.

TF feature columns turn a dense string or integer input into a SparseTensor with
``_to_sparse_input_and_drop_ignore_values``: ``Where(NotEqual(x, ignore_value))`` and a ``GatherNd`` of the kept
cells, ``''`` for strings and ``-1`` for integers unless the column says otherwise (the constant is ``Cast`` to the
input's dtype first). A dense input holding that value is a missing feature, not a value; a tf.Example holding it
is, unless the parsing graph drops it too. So the value is read from the graph, never assumed from the dtype:
each input is followed through value-preserving ops and into called functions (as
:mod:`pytest_savedmodel._domains` does) to a ``NotEqual`` with a scalar constant that feeds a ``Where`` (directly
or as a ``tf.boolean_mask``/``tf.sparse.retain`` mask), or an ``Equal`` whose ``LogicalNot`` does. A parsing
signature's features are followed the same way from the parse op's dense and sparse-values outputs. Two different
values for one input: none recorded (in doubt, nothing is left out).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pytest_savedmodel._domains import _PARSE_OPS, Ctx, _data_inputs, _Graph, _parse_outputs, dense_inputs
from pytest_savedmodel.spec import DType, SignatureSpec

__all__ = ["find_missing"]

Value = int | float | bytes


def _scalar(graph: _Graph, ctx: Ctx, ref: str, dtype: DType) -> Value | None:
    """The scalar constant behind ``ref`` (through Identity-like ops and Casts), as ``dtype`` holds it."""
    for _ in range(8):
        hit = graph.resolve(ctx, ref)
        if hit is None:
            return None
        ctx, node = hit
        if node.op == "Cast" and _data_inputs(node):
            ref = _data_inputs(node)[0]
            continue
        v = graph.const(ctx, node.name) if node.op == "Const" else None
        if v is None or v.size != 1:
            return None
        item = v.reshape(-1)[0]
        if dtype.is_string:
            return bytes(item) if isinstance(item, bytes) else None
        if dtype.is_integer and v.dtype.kind in "iuf" and float(item).is_integer():
            return int(item)
        return float(item) if dtype.is_float and v.dtype.kind in "iuf" else None
    return None


def _drops(graph: _Graph, ctx: Ctx, compare: Any) -> bool:
    """``compare`` decides which cells a ``Where`` keeps: a NotEqual directly, an Equal through a LogicalNot."""
    for c, node, idx, _ in graph.reach(ctx, compare.name):
        if compare.op == "NotEqual" and node.op == "Where" and idx == 0:
            return True
        if compare.op == "Equal" and node.op == "LogicalNot" and any(
                n.op == "Where" and i == 0 for _, n, i, _ in graph.reach(c, node.name)):
            return True
    return False


def _missing(graph: _Graph, ctx: Ctx, name: str, port: str | None, dtype: DType) -> Value | None:
    found: set[Value] = set()
    for c, node, idx, _ in graph.reach(ctx, name, port):
        if node.op in ("NotEqual", "Equal") and idx < 2:
            value = _scalar(graph, c, _data_inputs(node)[1 - idx], dtype)
            if value is not None and _drops(graph, c, node):
                found.add(value)
    return found.pop() if len(found) == 1 else None


def _sparse_values(graph: _Graph, ctx: Ctx, node: Any) -> Iterator[tuple[str, str]]:
    """(feature key, output port) of the values of each sparse (VarLen) feature of a parse op."""
    inputs, a = _data_inputs(node), node.attr

    def strings(refs: list[str]) -> list[str]:
        vals = [graph.const(ctx, r) for r in refs]
        return [bytes(x).decode("utf-8", "replace") for v in vals if v is not None for x in v.reshape(-1)]

    if node.op == "ParseExampleV2":
        keys = strings(inputs[2:3])
    elif node.op == "ParseExample":
        keys = strings(inputs[2: 2 + int(a["Nsparse"].i)])
    else:
        keys = [k.decode() for k in a["sparse_keys"].list.s]
    for i, key in enumerate(keys):
        yield key, (f"sparse_values:{i}" if ctx else str(len(keys) + i))


def _feature_missing(graph: _Graph, placeholder: str, sig: SignatureSpec) -> dict[str, Value]:
    assert sig.parse_spec is not None
    parses = [(c, n) for c, n, idx, _ in graph.reach((), placeholder) if n.op in _PARSE_OPS and idx == 0]
    if len(parses) != 1:
        return {}
    ctx, node = parses[0]
    dtypes = {f.key: f.dtype for f in sig.parse_spec.features}
    out: dict[str, Value] = {}
    for key, port in (*_parse_outputs(graph, ctx, node), *_sparse_values(graph, ctx, node)):
        if key in dtypes and (v := _missing(graph, ctx, node.name, port, dtypes[key])) is not None:
            out[key] = v
    return out


def find_missing(meta_graph: Any, signatures: dict[str, SignatureSpec]) -> dict[str, dict[str, Value]]:
    """Signature key -> {input alias (a parsing signature: feature key) -> the value its graph drops as missing};
    signatures with none left out. A graph that cannot be followed gives none rather than an error."""
    graph = _Graph(meta_graph, None)
    found: dict[str, dict[str, Value]] = {}
    for key, sig in signatures.items():
        values: dict[str, Value] = {}
        try:
            for alias, spec, node, port, examples in dense_inputs(graph, sig):
                if examples:
                    values.update(_feature_missing(graph, node, sig))
                elif (v := _missing(graph, (), node, port, spec.dtype)) is not None:
                    values[alias] = v
        except (KeyError, IndexError, ValueError, TypeError):
            continue
        if values:
            found[key] = values
    return found
