"""Read a SavedModel's MetaGraphDefs into plain specs without running the model.

This is the only module that reads SavedModel metadata. It uses TensorFlow's
protobuf classes (imported lazily) and never loads variables or runs a graph.
The tf.Example parse spec is recovered from the ParseExample op the exported
graph contains (see :mod:`pytest_savedmodel._parsespec`).
"""

from __future__ import annotations

import functools
from dataclasses import replace
from pathlib import Path
from typing import Any

from pytest_savedmodel._domains import find_domains
from pytest_savedmodel._lazy import import_tf
from pytest_savedmodel._missing import find_missing
from pytest_savedmodel._parsespec import find_parse_specs
from pytest_savedmodel.errors import ModelLoadError, TagSetNotFound
from pytest_savedmodel.spec import (
    DType,
    ModelRef,
    ModelSpec,
    SignatureSpec,
    TensorSpec,
    dtype_by_enum,
)

__all__ = ["inspect_model", "read_saved_model", "select_meta_graph", "signature_spec"]


def read_saved_model(path: Path) -> Any:
    """Parse ``saved_model.pb`` (or ``.pbtxt``) under ``path`` into a ``SavedModel`` proto.

    Raises:
        ModelLoadError: the file is truncated, corrupt, or not a SavedModel.
    """
    import_tf()
    from google.protobuf import message, text_format
    from tensorflow.core.protobuf import saved_model_pb2

    pb, pbtxt = path / "saved_model.pb", path / "saved_model.pbtxt"
    proto = saved_model_pb2.SavedModel()
    if pb.is_file():
        data = pb.read_bytes()
        try:
            proto.ParseFromString(data)
        except message.DecodeError as exc:
            raise ModelLoadError(
                f"{pb} is not a valid SavedModel protobuf ({len(data)} bytes; {exc}). "
                f"The file may be truncated or corrupt: re-export the model.",
                path=pb,
            ) from None
        source = pb
    elif pbtxt.is_file():
        try:
            text_format.Parse(pbtxt.read_text(encoding="utf-8", errors="replace"), proto)
        except text_format.ParseError as exc:
            raise ModelLoadError(f"{pbtxt} is not a valid text SavedModel: {exc}", path=pbtxt) from None
        source = pbtxt
    else:
        raise ModelLoadError(f"{path} holds neither saved_model.pb nor saved_model.pbtxt", path=path)
    if not proto.meta_graphs:
        raise ModelLoadError(
            f"{source} parsed, but holds no MetaGraphDef: it is truncated or not a SavedModel "
            f"({source.stat().st_size} bytes). Re-export the model.",
            path=source,
        )
    return proto


def select_meta_graph(proto: Any, tags: frozenset[str], *, path: Path) -> Any:
    """The MetaGraphDef whose tag-set equals ``tags``; else :class:`TagSetNotFound` listing them."""
    for mg in proto.meta_graphs:
        if frozenset(mg.meta_info_def.tags) == tags:
            return mg
    raise TagSetNotFound(path=path, tags=tags, available=[mg.meta_info_def.tags for mg in proto.meta_graphs])


def _shape(tensor_shape: Any) -> tuple[int | None, ...] | None:
    if tensor_shape.unknown_rank:
        return None
    return tuple(None if d.size < 0 else int(d.size) for d in tensor_shape.dim)


def _tensor_spec(alias: str, info: Any) -> TensorSpec:
    kind = info.WhichOneof("encoding")
    if kind == "coo_sparse":
        return TensorSpec(alias, dtype_by_enum(info.dtype), _shape(info.tensor_shape),
                          info.coo_sparse.values_tensor_name, "sparse")
    if kind == "composite_tensor":
        comps = info.composite_tensor.components
        dtype = dtype_by_enum(comps[0].dtype) if comps else dtype_by_enum(info.dtype)
        return TensorSpec(alias, dtype, None, "", "composite")
    return TensorSpec(alias, dtype_by_enum(info.dtype), _shape(info.tensor_shape), info.name, "dense")


def _node_dtypes(graph_def: Any) -> dict[str, DType]:
    """Placeholder-like nodes of the main graph -> the dtype they take."""
    out: dict[str, DType] = {}
    for node in graph_def.node:
        if node.op in ("Placeholder", "PlaceholderWithDefault", "PlaceholderV2") and "dtype" in node.attr:
            out[node.name] = dtype_by_enum(node.attr["dtype"].type)
    return out


def signature_spec(key: str, sig: Any, *, graph_dtypes: dict[str, DType] | None = None) -> SignatureSpec:
    """One SignatureDef proto -> :class:`SignatureSpec` (parse spec not attached)."""
    inputs = {alias: _tensor_spec(alias, info) for alias, info in sorted(sig.inputs.items())}
    outputs = {alias: _tensor_spec(alias, info) for alias, info in sorted(sig.outputs.items())}
    fed: dict[str, DType] = {}
    for alias, spec in inputs.items():
        node = spec.tensor_name.split(":")[0]
        if graph_dtypes and node in graph_dtypes:
            fed[alias] = graph_dtypes[node]
    defaults = frozenset(getattr(sig, "defaults", {}).keys())
    return SignatureSpec(key=key, method_name=sig.method_name, inputs=inputs, outputs=outputs,
                         defaults=defaults, graph_dtypes=fed)


_CALLS = frozenset({"StatefulPartitionedCall", "PartitionedCall"})


def _functions(mg: Any) -> dict[str, str]:
    """Signature key -> a digest of what it computes, for signatures whose every output is an output of a
    function call in the main graph (TF2 exports: one call per signature). Two signatures of one traced
    function (Keras' ``serve`` and ``serving_default``) get the same digest: their wrapper functions have the
    same body, call the same function and feed it the same inputs, though their tensor names differ."""
    import hashlib

    nodes = {n.name: n for n in mg.graph_def.node}
    library = {f.signature.name: f for f in mg.graph_def.library.function}
    bodies: dict[str, str] = {}

    def body(name: str) -> str:
        if name not in bodies:
            fn = type(library[name])()
            fn.CopyFrom(library[name])
            fn.signature.name = ""
            for arg in fn.arg_attr.values():  # names of captured tensors, numbered per trace
                if "_user_specified_name" in arg.attr:
                    del arg.attr["_user_specified_name"]
            bodies[name] = hashlib.sha256(fn.SerializeToString(deterministic=True)).hexdigest()
        return bodies[name]

    out: dict[str, str] = {}
    for key, sig in mg.signature_def.items():
        if any(i.WhichOneof("encoding") != "name" for i in (*sig.inputs.values(), *sig.outputs.values())):
            continue
        fed = {info.name.split(":")[0]: alias for alias, info in sig.inputs.items()}
        parts = [sig.method_name, *sorted(getattr(sig, "defaults", {}))]
        parts += [f"in {a} {i.dtype} {_shape(i.tensor_shape)}" for a, i in sorted(sig.inputs.items())]
        for alias, info in sorted(sig.outputs.items()):
            name, _, index = info.name.partition(":")
            node = nodes.get(name)
            func = node.attr["f"].func.name if node is not None and "f" in node.attr else ""
            if node is None or node.op not in _CALLS or func not in library:
                break
            args = [f"<{fed[i.split(':')[0]]}>:{i.partition(':')[2]}" if i.split(":")[0] in fed else i
                    for i in node.input]
            parts.append(f"out {alias} {info.dtype} {_shape(info.tensor_shape)} {body(func)}:{index or 0} {args}")
        else:
            if sig.outputs:
                out[key] = hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]
    return out


def _ops(meta_graph: Any) -> frozenset[str]:
    ops = {n.op for n in meta_graph.graph_def.node}
    for fn in meta_graph.graph_def.library.function:
        ops.update(n.op for n in fn.node_def)
    return frozenset(ops)


def _with_domains(ref: ModelRef, mg: Any, sigs: dict[str, SignatureSpec]) -> dict[str, SignatureSpec]:
    """The signatures with the input domains and missing values the graph implies (see
    :mod:`pytest_savedmodel._domains`, :mod:`pytest_savedmodel._missing`)."""
    try:
        found = find_domains(mg, sigs, assets=ref.path / "assets")
        missing = find_missing(mg, sigs)
    except Exception as exc:  # recovery is best effort; never block inspection
        import warnings

        warnings.warn(f"{ref.label()}: could not recover input domains from the graph: {exc}", stacklevel=3)
        return sigs
    out = dict(sigs)
    for key, (inputs, features) in found.items():
        s = sigs[key]
        ps = replace(s.parse_spec, domains=features) if s.parse_spec is not None and features else s.parse_spec
        out[key] = replace(s, domains=inputs, parse_spec=ps)
    for key, values in missing.items():
        out[key] = replace(out[key], missing=values)
    return out


@functools.lru_cache(maxsize=64)
def _inspect_cached(ref: ModelRef) -> ModelSpec:
    proto = read_saved_model(ref.path)
    mg = select_meta_graph(proto, ref.tags, path=ref.path)
    placeholders = _node_dtypes(mg.graph_def)
    sigs = {k: signature_spec(k, s, graph_dtypes=placeholders) for k, s in sorted(mg.signature_def.items())}
    try:
        parse_specs = find_parse_specs(mg, sigs)
    except Exception as exc:  # recovery is best effort; never block inspection
        import warnings

        warnings.warn(f"{ref.label()}: could not recover the tf.Example parse spec: {exc}", stacklevel=2)
        parse_specs = {}
    for key, ps in parse_specs.items():
        sigs[key] = replace(sigs[key], parse_spec=ps)
    try:
        functions = _functions(mg)
    except Exception:  # best effort: without it, identical signatures are found by tensor names only
        functions = {}
    for key, digest in functions.items():
        sigs[key] = replace(sigs[key], function=digest)
    sigs = _with_domains(ref, mg, sigs)
    return ModelSpec(
        ref=ref,
        tag_sets=tuple(frozenset(m.meta_info_def.tags) for m in proto.meta_graphs),
        signatures=sigs,
        tf_version=mg.meta_info_def.tensorflow_version,
        ops=_ops(mg),
        object_graph=len(mg.object_graph_def.nodes) > 0,
    )


def inspect_model(ref: ModelRef) -> ModelSpec:
    """Read every signature of ``ref`` (for its tag-set) into a :class:`ModelSpec`.

    Raises:
        ModelLoadError: unreadable ``saved_model.pb``.
        TagSetNotFound: ``ref.tags`` is not a tag-set of the model.

    Example:
        >>> spec = inspect_model(find_model("export/iris"))
        >>> spec.signature("serving_default").inputs["SepalLength"].describe()
        'float32 [-1]'
    """
    return _inspect_cached(ref)
