"""Recover tf.Example parse specs from the ParseExample ops of an exported graph.

Where the op lives:

* TF1 graphs and Estimator exports: a ``ParseExample``/``ParseExampleV2``/
  ``ParseSingleExample`` node in ``graph_def.node``; its serialized input leads
  back (through Identity-like ops) to the signature's placeholder.
* TF2 ``tf.saved_model.save``: the node sits in a function body of
  ``graph_def.library``, reached from the signature's placeholder through
  ``(Stateful)PartitionedCall`` nodes and nested function calls.

Keys are ``Const`` inputs (V2) or attributes (single-example); defaults are one
input per dense key, a ``Const`` reached through Identity/Reshape. An empty
default means the feature is required.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from pytest_savedmodel.spec import DType, FeatureSpec, ParseSpec, SignatureSpec, dtype_by_enum

__all__ = ["find_parse_specs"]

_PARSE_OPS = ("ParseExampleV2", "ParseExample", "ParseSingleExample")
_PASS_THROUGH = ("Identity", "Reshape", "Snapshot", "StopGradient", "IdentityN", "EnsureShape", "Squeeze")


class _Scope:
    """Nodes of the main graph or of one function body, by name."""

    def __init__(self, nodes: Any, fn_name: str | None = None) -> None:
        self.fn_name = fn_name
        self.nodes = {n.name: n for n in nodes}

    def node_of(self, ref: str) -> Any | None:
        name = ref.lstrip("^").split(":")[0]
        return self.nodes.get(name)

    def follow(self, ref: str) -> Any | None:
        """The producing node of ``ref``, skipping pass-through ops."""
        node = self.node_of(ref)
        seen = 0
        while node is not None and node.op in _PASS_THROUGH and node.input and seen < 50:
            node = self.node_of(node.input[0])
            seen += 1
        return node

    def const(self, ref: str) -> np.ndarray | None:
        node = self.follow(ref)
        if node is None or node.op != "Const":
            return None
        import tensorflow as tf

        return np.asarray(tf.make_ndarray(node.attr["value"].tensor))


def _strings(values: np.ndarray | None) -> list[str]:
    if values is None:
        return []
    return [v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v) for v in values.reshape(-1)]


def _default(values: np.ndarray | None, dtype: DType) -> tuple[float | int | bytes, ...] | None:
    if values is None or values.size == 0:
        return None
    flat = values.reshape(-1)
    if dtype.is_string:
        return tuple(bytes(v) if isinstance(v, bytes) else str(v).encode() for v in flat)
    if dtype.is_integer:
        return tuple(int(v) for v in flat)
    return tuple(float(v) for v in flat)


def _shapes(attr: Any) -> list[tuple[int, ...]]:
    return [tuple(int(d.size) for d in s.dim) for s in attr.list.shape]


def _types(attr: Any) -> list[DType]:
    return [dtype_by_enum(t) for t in attr.list.type]


def _parse_node(scope: _Scope, node: Any, input_alias: str) -> ParseSpec:
    a = node.attr
    inputs = [i for i in node.input if not i.startswith("^")]
    tdense = _types(a["Tdense"]) if "Tdense" in a else []
    shapes = _shapes(a["dense_shapes"]) if "dense_shapes" in a else []
    sparse_types = _types(a["sparse_types"]) if "sparse_types" in a else []
    ragged_types = _types(a["ragged_value_types"]) if "ragged_value_types" in a else []
    if node.op == "ParseExampleV2":
        sparse_keys = _strings(scope.const(inputs[2]))
        dense_keys = _strings(scope.const(inputs[3]))
        ragged_keys = _strings(scope.const(inputs[4]))
        default_refs = inputs[5:]
    elif node.op == "ParseExample":
        ns, nd = int(a["Nsparse"].i), int(a["Ndense"].i)
        sparse_keys = [k for ref in inputs[2 : 2 + ns] for k in _strings(scope.const(ref))]
        dense_keys = [k for ref in inputs[2 + ns : 2 + ns + nd] for k in _strings(scope.const(ref))]
        ragged_keys = []
        default_refs = inputs[2 + ns + nd :]
    else:  # ParseSingleExample: keys are attributes
        sparse_keys = [k.decode() for k in a["sparse_keys"].list.s]
        dense_keys = [k.decode() for k in a["dense_keys"].list.s]
        ragged_keys = []
        default_refs = inputs[1:]
    features: list[FeatureSpec] = []
    for i, key in enumerate(dense_keys):
        dtype = tdense[i] if i < len(tdense) else dtype_by_enum(1)
        shape = shapes[i] if i < len(shapes) else ()
        default = _default(scope.const(default_refs[i]), dtype) if i < len(default_refs) else None
        features.append(FeatureSpec(key, "fixed", dtype, shape, default))
    pairs = _sparse_feature_pairs(scope, node, len(sparse_keys))
    for i, key in enumerate(sparse_keys):
        pair = pairs.get(i)
        features.append(FeatureSpec(key, "varlen", sparse_types[i] if i < len(sparse_types) else dtype_by_enum(1),
                                    sparse_pair=sparse_keys[pair[0]] if pair else None,
                                    index_bound=pair[1] if pair else None))
    for i, key in enumerate(ragged_keys):
        features.append(FeatureSpec(key, "ragged", ragged_types[i] if i < len(ragged_types) else dtype_by_enum(1)))
    return ParseSpec(input_alias=input_alias, features=tuple(sorted(features, key=lambda f: f.key)), op=node.op)


def _scalar_const(scope: _Scope, ref: str, depth: int = 4) -> int | None:
    """An int scalar ``Const`` behind ``ref`` through Pack/Cast/pass-through ops (the size of a SparseFeature)."""
    node = scope.follow(ref)
    while node is not None and node.op in ("Pack", "Cast") and node.input and depth > 0:
        node = scope.follow(node.input[0])
        depth -= 1
    if node is None or node.op != "Const":
        return None
    value = scope.const(node.name)
    return int(value.reshape(-1)[0]) if value is not None and value.size == 1 and value.dtype.kind in "iu" else None


def _sparse_feature_pairs(scope: _Scope, parse: Any, ns: int) -> dict[int, tuple[int, int | None]]:
    """The ``tf.io.SparseFeature``s among the sparse keys: {key index: (other key index, size or None)}.

    A SparseFeature is parsed as two VarLen keys and joined by ``SparseReorder(indices=concat(..., ExpandDims(
    index values)), values=value values, shape=concat(..., size))``; the index key gets the size, the value key None.
    """
    if ns == 0:
        return {}
    values_out = {f"{parse.name}:{ns + i}": i for i in range(ns)}

    def key_of(ref: str, hops: int = 3) -> int | None:
        node_ref = ref
        for _ in range(hops):
            if node_ref.split("^")[-1] in values_out:
                return values_out[node_ref]
            node = scope.node_of(node_ref)
            if node is None or node.op not in (*_PASS_THROUGH, "Cast", "ExpandDims") or not node.input:
                return None
            node_ref = node.input[0]
        return values_out.get(node_ref)

    pairs: dict[int, tuple[int, int | None]] = {}
    for node in scope.nodes.values():
        if node.op != "SparseReorder" or len(node.input) < 3:
            continue
        value_key = key_of(node.input[1])
        indices = scope.follow(node.input[0])
        if value_key is None or indices is None or not indices.op.startswith("Concat"):
            continue
        index_keys = [k for k in (key_of(r) for r in indices.input) if k is not None]
        if len(index_keys) != 1:
            continue
        shape = scope.follow(node.input[2])
        size = None
        if shape is not None and shape.op.startswith("Concat"):
            sizes = [v for v in (_scalar_const(scope, r) for r in shape.input[1:-1]) if v is not None and v > 0]
            size = sizes[-1] if sizes else None
        pairs[index_keys[0]] = (value_key, size)
        pairs[value_key] = (index_keys[0], None)
    return pairs


def _called_functions(node: Any) -> list[str]:
    names = []
    for value in node.attr.values():
        if value.HasField("func") and value.func.name:
            names.append(value.func.name)
        names.extend(f.name for f in value.list.func)
    return names


def _trace_placeholder(scope: _Scope, ref: str) -> str | None:
    node = scope.follow(ref)
    return node.name if node is not None and node.op.startswith("Placeholder") else None


def find_parse_specs(meta_graph: Any, signatures: dict[str, SignatureSpec]) -> dict[str, ParseSpec]:
    """Signature key -> the parse spec applied to its serialized tf.Example input."""
    main = _Scope(meta_graph.graph_def.node)
    functions = {f.signature.name: f for f in meta_graph.graph_def.library.function}
    fn_scopes: dict[str, _Scope] = {}

    def scope_of(name: str) -> _Scope | None:
        if name not in functions:
            return None
        if name not in fn_scopes:
            fn_scopes[name] = _Scope(functions[name].node_def, name)
        return fn_scopes[name]

    # TF1: parse nodes in the main graph, keyed by the placeholder feeding them.
    tf1 = {}
    for node in main.nodes.values():
        if node.op in _PARSE_OPS and node.input:
            ph = _trace_placeholder(main, node.input[0])
            if ph is not None and ph not in tf1:
                tf1[ph] = node

    def search_functions(start: list[str]) -> tuple[_Scope, Any] | None:
        queue, seen = list(start), set()
        while queue:
            name = queue.pop(0)
            if name in seen:
                continue
            seen.add(name)
            scope = scope_of(name)
            if scope is None:
                continue
            for n in scope.nodes.values():
                if n.op in _PARSE_OPS:
                    return scope, n
            for n in scope.nodes.values():
                queue.extend(_called_functions(n))
        return None

    found: dict[str, ParseSpec] = {}
    for key, sig in signatures.items():
        string_inputs = [s for s in sig.inputs.values() if s.dtype.is_string and s.tensor_name]
        for spec in string_inputs:
            ph = spec.tensor_name.split(":")[0]
            if ph in tf1:
                found[key] = _parse_node(main, tf1[ph], spec.alias)
                break
            consumers = [n for n in main.nodes.values() if any(i.split(":")[0] == ph for i in n.input)]
            called = [f for n in consumers for f in _called_functions(n)]
            hit = search_functions(called) if called else None
            if hit is not None:
                found[key] = _parse_node(hit[0], hit[1], spec.alias)
                break
    return found
