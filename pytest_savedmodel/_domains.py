"""Recover the values each signature input accepts from the graph ops that consume it.

An id fed to an ``Embedding(20, ...)`` must lie in ``[0, 19]``: ids from ``[-1000, 1000]`` only show that TF rejects
ids no client sends. Each dense input is followed forward through value-preserving ops (Identity, Cast, Reshape,
ExpandDims, Squeeze, StopGradient, Keras' negative-index wrap) and into called functions (nested
``(Stateful)PartitionedCall``), to the ops that bound it:

* ``GatherV2``/``ResourceGather`` on a variable or constant table: ``[0, rows - 1]``;
* ``OneHot``: ``[0, depth - 1]``; ``DenseBincount``/``Bincount`` (CategoryEncoding): ``[0, size - 1]``;
* ``LookupTableFindV2`` on a static table (StringLookup, IntegerLookup, ``tf.lookup.StaticHashTable``) that
  rejects keys it lacks (an ``Assert`` on the default, as Keras builds with ``num_oov_indices=0``, or a default a
  gather downstream rejects): the table's keys, from graph constants or the vocabulary asset file.

Bounds on one input intersect; hash ops and lookups with OOV buckets add none. Arithmetic stops the walk: a domain
bounds the model's *input*, so an ``id + 1`` before a table is still tested with ids up to the last row. In doubt
(a mutable table, an unreadable vocabulary, an empty intersection): no domain. A parsing signature's dense features
are followed the same way from the parse op's outputs.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from pytest_savedmodel.spec import Domain, DType, ParseSpec, SignatureSpec, dtype_by_name

__all__ = ["MAX_VOCAB", "dense_inputs", "find_domains"]

#: At most this many vocabulary entries are read (the first ones: a subset of valid keys is still valid).
MAX_VOCAB = 10_000
_MAX_VOCAB_BYTES = 4 << 20
_MAX_STEPS = 20_000
_MAX_DEPTH = 12

_FORWARD = ("Identity", "Snapshot", "StopGradient", "Cast", "Reshape", "ExpandDims", "Squeeze", "EnsureShape")
_BACKWARD = ("Identity", "Snapshot", "StopGradient", "ReadVariableOp", "EnsureShape")
_CALLS = ("StatefulPartitionedCall", "PartitionedCall")
_PARSE_OPS = ("ParseExampleV2", "ParseExample", "ParseSingleExample")
_LOOKUPS = ("LookupTableFindV2", "LookupTableFind")
_STATIC_TABLES = ("HashTableV2", "HashTable")
_KEY_VALUE_INIT = ("LookupTableImportV2", "InitializeTableV2", "LookupTableImport", "InitializeTable")
_TEXT_INIT = ("InitializeTableFromTextFileV2", "InitializeTableFromTextFile")
_VARIABLES = ("VarHandleOp", "VariableV2", "Variable")
_INT64 = dtype_by_name("int64")
_GATHERS = ("GatherV2", "ResourceGather", "Gather")

Ctx = tuple[tuple[str, str], ...]  # the call stack: (function name, call node name in the caller), outermost first
Terminal = tuple[Ctx, Any, int, bool]  # (ctx, consuming node, input index, reached through a negative-index wrap)
Bound = tuple[int | None, int | None, tuple[Any, ...] | None, str]  # lo, hi, values, source


def _data_inputs(node: Any) -> list[str]:
    return [i for i in node.input if not i.startswith("^")]


class _Scope:
    """The nodes of the main graph or of one function body, with who consumes what."""

    def __init__(self, nodes: Any, args: list[str] | None = None) -> None:
        self.main = args is None
        self.nodes = {n.name: n for n in nodes}
        self.args = {a: i for i, a in enumerate(args or [])}
        self._consumers: dict[str, list[tuple[Any, int, str]]] | None = None

    def split(self, ref: str) -> tuple[str, str]:
        """``node:1`` (main graph) or ``node:out:1`` (function) -> (node, port); a bare name is port 0 / ''."""
        name, _, port = ref.partition(":")
        return name, port or ("0" if self.main else "")

    def consumers(self, name: str) -> list[tuple[Any, int, str]]:
        if self._consumers is None:
            self._consumers = {}
            for node in self.nodes.values():
                for i, ref in enumerate(_data_inputs(node)):
                    src, port = self.split(ref)
                    self._consumers.setdefault(src, []).append((node, i, port))
        return self._consumers.get(name, [])


class _Graph:
    def __init__(self, meta_graph: Any, assets: Path | None) -> None:
        self.main = _Scope(meta_graph.graph_def.node)
        self.functions = {f.signature.name: f for f in meta_graph.graph_def.library.function}
        self._scopes: dict[str, _Scope] = {}
        self.assets = assets
        self.asset_files = {a.tensor_info.name: a.filename for a in meta_graph.asset_file_def}

    def scope(self, ctx: Ctx) -> _Scope:
        name = ctx[-1][0] if ctx else ""
        if ctx and name not in self._scopes:
            self._scopes[name] = _Scope(self.functions[name].node_def,
                                        [a.name for a in self.functions[name].signature.input_arg])
        return self._scopes[name] if ctx else self.main

    # ------------------------------------------------------------------ walking
    def reach(self, ctx: Ctx, name: str, port: str | None = None) -> list[Terminal]:
        """The ops a value reaches unchanged: (ctx, node, input index, wrapped) past pass-through ops and calls."""
        out: list[Terminal] = []
        queue = [(ctx, name, port, False)]
        seen: set[tuple[Ctx, str, str | None, bool]] = set()
        steps = 0
        while queue and steps < _MAX_STEPS:
            item = queue.pop()
            if item in seen:
                continue
            seen.add(item)
            c, n, p, wrapped = item
            scope = self.scope(c)
            for node, idx, ref_port in scope.consumers(n):
                steps += 1
                if p is not None and ref_port != p:
                    continue
                if node.op in _FORWARD and idx == 0:
                    queue.append((c, node.name, None, wrapped))
                elif node.op in _CALLS and "f" in node.attr and len(c) < _MAX_DEPTH:
                    fn = self.functions.get(node.attr["f"].func.name)
                    if fn is not None and idx < len(fn.signature.input_arg):
                        queue.append(((*c, (fn.signature.name, node.name)), fn.signature.input_arg[idx].name,
                                      None, wrapped))
                elif node.op in ("SelectV2", "Select") and idx == 2 and self._negative_wrap(c, node, n):
                    queue.append((c, node.name, None, True))
                else:
                    out.append((c, node, idx, wrapped))
        return out

    def _negative_wrap(self, ctx: Ctx, select: Any, name: str) -> bool:
        """Keras' ``take``: ``where(x < 0, x + rows, x)``; x passes unchanged where it is a valid row."""
        hit = self.resolve(ctx, _data_inputs(select)[0])
        if hit is None or hit[1].op != "Less":
            return False
        a, b = _data_inputs(hit[1])[:2]
        zero = self.const(hit[0], b)
        return self.scope(hit[0]).split(a)[0] == name and zero is not None and zero.size == 1 and zero.item() == 0

    def resolve(self, ctx: Ctx, ref: str) -> tuple[Ctx, Any] | None:
        """The node producing ``ref``, back through Identity-like ops and out of functions to their callers."""
        for _ in range(256):
            scope = self.scope(ctx)
            name, _port = scope.split(ref)
            node = scope.nodes.get(name)
            if node is None:
                if not ctx or name not in scope.args:
                    return None
                call = self.scope(ctx[:-1]).nodes.get(ctx[-1][1])
                inputs = _data_inputs(call) if call is not None else []
                if scope.args[name] >= len(inputs):
                    return None
                ref, ctx = inputs[scope.args[name]], ctx[:-1]
                continue
            if node.op in _BACKWARD and _data_inputs(node):
                ref = _data_inputs(node)[0]
                continue
            return ctx, node
        return None

    def const(self, ctx: Ctx, ref: str) -> np.ndarray | None:
        import tensorflow as tf

        hit = self.resolve(ctx, ref)
        return np.asarray(tf.make_ndarray(hit[1].attr["value"].tensor)) if hit and hit[1].op == "Const" else None

    def int_const(self, ctx: Ctx, ref: str) -> int | None:
        v = self.const(ctx, ref)
        return int(v.reshape(-1)[0]) if v is not None and v.size == 1 and v.dtype.kind in "iu" else None

    def lower_bound(self, ctx: Ctx, ref: str, depth: int = 6) -> int | None:
        """A lower bound of an int scalar: a Const, or Minimum/Maximum of them (CategoryEncoding's bincount size)."""
        hit = self.resolve(ctx, ref)
        if hit is None or depth == 0:
            return None
        c, node = hit
        if node.op == "Const":
            return self.int_const(c, node.name)
        parts = [self.lower_bound(c, r, depth - 1) for r in _data_inputs(node)[:2]]
        known = [v for v in parts if v is not None]
        if (node.op == "Maximum" and known) or (node.op == "Minimum" and len(known) == 2):
            return max(known) if node.op == "Maximum" else min(known)
        return None

    # ------------------------------------------------------------------ what bounds a value
    def rows(self, ctx: Ctx, ref: str) -> tuple[int, str] | None:
        """The first dimension of a gathered table (variable or constant) and its name."""
        hit = self.resolve(ctx, ref)
        node = hit[1] if hit is not None else None
        if node is None or not (node.op == "Const" or (node.op in _VARIABLES and "shape" in node.attr)):
            return None
        dims = [d.size for d in (node.attr["value"].tensor.tensor_shape if node.op == "Const"
                                 else node.attr["shape"].shape).dim]
        return (int(dims[0]), node.name) if dims and dims[0] > 0 else None

    def bound(self, t: Terminal, dtype: DType, *, lookups: bool = True) -> Bound | None:
        """What one consuming op allows for the value it takes: a range or a vocabulary; None: no bound."""
        ctx, node, idx, _wrapped = t
        inputs = _data_inputs(node)
        if node.op in _GATHERS and idx == 1:
            if "batch_dims" in node.attr and node.attr["batch_dims"].i != 0:
                return None
            if node.op == "GatherV2" and (len(inputs) < 3 or self.int_const(ctx, inputs[2]) != 0):
                return None
            rows = self.rows(ctx, inputs[0])
            return (0, rows[0] - 1, None, f"{node.op} on {rows[0]}-row table {rows[1]!r}") if rows else None
        if node.op == "OneHot" and idx == 0:
            depth = self.int_const(ctx, inputs[1])
            return (0, depth - 1, None, f"OneHot depth {depth}") if depth and depth > 0 else None
        if node.op in ("DenseBincount", "Bincount") and idx == 0:
            size = self.lower_bound(ctx, inputs[1])
            return (0, size - 1, None, f"{node.op} size {size}") if size and size > 0 else None
        if node.op in _LOOKUPS and idx == 1 and lookups:
            keys = self.closed_lookup(ctx, node, dtype)
            return (None, None, keys[0], f"{node.op} on {keys[1]}, which rejects other keys") if keys else None
        return None  # hash ops, lookups with OOV buckets, anything else: no bound

    def rejects(self, t: Terminal, value: int) -> bool:
        """Whether a consumer fails on ``value`` (a lookup default): a gather out of its rows, a negative bincount."""
        node, idx, wrapped = t[1:]
        if node.op in ("DenseBincount", "Bincount") and idx == 0:
            return value < 0
        b = self.bound(t, _INT64, lookups=False) if node.op in _GATHERS else None
        rows = b[1] + 1 if b is not None and b[1] is not None else None
        return rows is not None and not ((-rows if wrapped else 0) <= value < rows)

    def closed_lookup(self, ctx: Ctx, lookup: Any, dtype: DType) -> tuple[tuple[Any, ...], str] | None:
        """(keys, where from) of a static table whose lookup rejects missing keys; None if it accepts them."""
        inputs = _data_inputs(lookup)
        table = self.resolve(ctx, inputs[0])
        default = self.const(ctx, inputs[2]) if len(inputs) > 2 else None
        if table is None or table[1].op not in _STATIC_TABLES or default is None or default.size != 1:
            return None
        uses, d = self.reach(ctx, lookup.name), default.reshape(-1)[0]
        if not any(self._asserted(c, node, idx, d) for c, node, idx, _ in uses) and not (
                default.dtype.kind in "iu" and any(self.rejects(u, int(d)) for u in uses)):
            return None
        return self.table_keys(*table, dtype)

    def _asserted(self, ctx: Ctx, node: Any, idx: int, default: Any) -> bool:
        """``Equal(found, default)`` that leads to an ``Assert`` (Keras' ``num_oov_indices=0`` check)."""
        other = self.const(ctx, _data_inputs(node)[1 - idx]) if node.op == "Equal" and idx < 2 else None
        if other is None or other.size != 1 or other.reshape(-1)[0] != default:
            return False
        scope, frontier = self.scope(ctx), [node.name]
        for _ in range(6):
            nxt = [n for name in frontier for n, _i, _p in scope.consumers(name)]
            if any(n.op == "Assert" for n in nxt):
                return True
            frontier = [n.name for n in nxt]
        return False

    # ------------------------------------------------------------------ table keys
    def table_keys(self, ctx: Ctx, table: Any, dtype: DType) -> tuple[tuple[Any, ...], str] | None:
        inits = {(c, n.name): (c, n) for c, n, idx, _ in self.reach(ctx, table.name)
                 if idx == 0 and n.op in (*_KEY_VALUE_INIT, *_TEXT_INIT)}
        if len(inits) != 1:
            return None
        c, init = next(iter(inits.values()))
        where = f"table {table.name!r}"
        if init.op in _KEY_VALUE_INIT:
            keys = self.const(c, _data_inputs(init)[1])
            found = _keys(list(keys.reshape(-1)[:MAX_VOCAB]) if keys is not None else None, dtype)
            return (found, f"{where} keys") if found else None
        path, a = self.asset_path(c, _data_inputs(init)[1]), init.attr
        key_index = a["key_index"].i if "key_index" in a else -2
        if path is None or not (key_index == -2 or key_index >= 0):
            return None
        found = _keys(_read_vocabulary(path, key_index, a["delimiter"].s if "delimiter" in a else b"\t",
                                       a["vocab_size"].i if "vocab_size" in a else -1), dtype)
        return (found, f"{where} keys from {path.name!r}") if found else None

    def asset_path(self, ctx: Ctx, ref: str) -> Path | None:
        """The file a table is initialised from: an asset of the export (TF1 constant or TF2 asset variable)."""
        hit = self.resolve(ctx, ref)
        if hit is not None and not hit[0] and hit[1].op == "VarHandleOp":
            assigns = [n for n in self.main.nodes.values()
                       if n.op == "AssignVariableOp" and self.main.split(n.input[0])[0] == hit[1].name]
            hit = self.resolve((), _data_inputs(assigns[0])[1]) if len(assigns) == 1 else None
        if hit is None or hit[0]:
            return None
        filename = self.asset_files.get(f"{hit[1].name}:0")
        if filename is not None:
            return self.assets / str(filename) if self.assets is not None else None
        literal = self.const((), hit[1].name) if hit[1].op == "Const" else None
        path = Path(bytes(literal.reshape(-1)[0]).decode("utf-8", "replace")) if literal is not None else None
        return path if path is not None and literal is not None and literal.size == 1 and path.is_file() else None


def _read_vocabulary(path: Path, key_index: int, delimiter: bytes, vocab_size: int) -> list[Any] | None:
    """The first keys of a vocabulary file as TensorFlow's text-file initializer reads them (blank lines left out)."""
    try:
        with path.open("rb") as f:
            data = f.read(_MAX_VOCAB_BYTES + 1)
    except OSError:
        return None
    lines = data.split(b"\n")
    if len(data) > _MAX_VOCAB_BYTES or lines[-1] == b"":
        lines.pop()  # a partial last line, or the empty string after the final newline
    lines = [line.removesuffix(b"\r") for line in lines[:vocab_size if vocab_size > 0 else None]][:MAX_VOCAB]
    cols = [line if key_index == -2 else line.split(delimiter or None) for line in lines]
    if key_index >= 0 and any(key_index >= len(c) for c in cols):
        return None
    return [k for k in (c if key_index == -2 else c[key_index] for c in cols) if k != b""]


def _keys(keys: list[Any] | None, dtype: DType) -> tuple[Any, ...] | None:
    """Keys as generation takes them: bytes for a string input, ints for an integer one; None if they do not fit."""
    try:
        if keys and dtype.is_string:
            return tuple(dict.fromkeys(k if isinstance(k, bytes) else str(k).encode() for k in keys))
        return tuple(dict.fromkeys(int(k) for k in keys)) if keys and dtype.is_integer else None
    except ValueError:
        return None


def _combine(bounds: list[Bound], dtype: DType) -> Domain | None:
    """The intersection of every bound on one value, as a :class:`Domain`; None when none applies or it is empty."""
    if dtype.is_string:
        bounds = [b for b in bounds if b[2] is not None]
    elif not (dtype.is_integer or dtype.is_float):
        return None
    if not bounds:
        return None
    lo = max((b[0] for b in bounds if b[0] is not None), default=None)
    hi = min((b[1] for b in bounds if b[1] is not None), default=None)
    vocabs = [b[2] for b in bounds if b[2] is not None]
    source = "; ".join(dict.fromkeys(b[3] for b in bounds))
    if vocabs:
        if dtype.is_float:
            return None
        keep = set.intersection(*(set(v) for v in vocabs))
        values = tuple(v for v in vocabs[0] if v in keep and (lo is None or v >= lo) and (hi is None or v <= hi))
        return Domain("bytes" if dtype.is_string else "int", values=values, source=source) if values else None
    if lo is None or hi is None or lo > hi:
        return None
    return Domain("float" if dtype.is_float else "int", min_value=lo, max_value=hi, source=source)


def _domain(graph: _Graph, ctx: Ctx, name: str, port: str | None, dtype: DType) -> Domain | None:
    return _combine([b for t in graph.reach(ctx, name, port) if (b := graph.bound(t, dtype)) is not None], dtype)


def _parse_outputs(graph: _Graph, ctx: Ctx, node: Any) -> Iterator[tuple[str, str]]:
    """(feature key, output port) for each dense feature of a parse op."""
    inputs, a = _data_inputs(node), node.attr

    def strings(ref: str) -> list[str]:
        v = graph.const(ctx, ref)
        return [] if v is None else [bytes(x).decode("utf-8", "replace") for x in v.reshape(-1)]

    if node.op == "ParseExampleV2":
        ns, dense = len(strings(inputs[2])), strings(inputs[3])
    elif node.op == "ParseExample":
        ns, nd = int(a["Nsparse"].i), int(a["Ndense"].i)
        dense = [k for ref in inputs[2 + ns: 2 + ns + nd] for k in strings(ref)]
    else:
        ns, dense = int(a["num_sparse"].i), [k.decode() for k in a["dense_keys"].list.s]
    for i, key in enumerate(dense):
        yield key, (f"dense_values:{i}" if ctx else str(3 * ns + i))


def _feature_domains(graph: _Graph, placeholder: str, parse_spec: ParseSpec) -> dict[str, Domain]:
    parses = [(c, n) for c, n, idx, _ in graph.reach((), placeholder) if n.op in _PARSE_OPS and idx == 0]
    if len(parses) != 1:
        return {}
    ctx, node = parses[0]
    by_key = {f.key: f for f in parse_spec.features}
    out: dict[str, Domain] = {}
    for key, port in _parse_outputs(graph, ctx, node):
        if key in by_key and (d := _domain(graph, ctx, node.name, port, by_key[key].dtype)) is not None:
            out[key] = d
    return out


def dense_inputs(graph: _Graph, sig: SignatureSpec) -> Iterator[tuple[str, Any, str, str | None, bool]]:
    parse_input = sig.parse_spec.input_alias if sig.parse_spec is not None else None
    for alias, spec in sig.inputs.items():
        if spec.encoding == "dense" and spec.tensor_name:  # (alias, spec, node, port, fed serialized tf.Examples)
            yield alias, spec, *graph.main.split(spec.tensor_name), alias == parse_input


def find_domains(meta_graph: Any, signatures: dict[str, SignatureSpec], *,
                 assets: Path | None = None) -> dict[str, tuple[dict[str, Domain], dict[str, Domain]]]:
    """Signature key -> (input alias -> Domain, tf.Example feature key -> Domain); signatures with none left out.
    ``assets``: the export's ``assets/`` (vocabulary files). A graph that cannot be followed gives no domain."""
    graph = _Graph(meta_graph, assets)
    found: dict[str, tuple[dict[str, Domain], dict[str, Domain]]] = {}
    for key, sig in signatures.items():
        inputs: dict[str, Domain] = {}
        features: dict[str, Domain] = {}
        try:
            for alias, spec, node, port, examples in dense_inputs(graph, sig):
                if examples and sig.parse_spec is not None:  # the serialized tf.Examples: the parse op's features
                    features = _feature_domains(graph, node, sig.parse_spec)
                elif (d := _domain(graph, (), node, port, spec.dtype)) is not None:
                    inputs[alias] = d
        except (KeyError, IndexError, ValueError, TypeError):
            continue  # a graph shaped in a way not foreseen: no domain rather than a wrong one
        if inputs or features:
            found[key] = (inputs, features)
    return found
