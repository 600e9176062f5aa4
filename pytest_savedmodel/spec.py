"""Plain data describing a SavedModel: no TensorFlow, no pytest.

Everything the engine learns about a model is turned into these frozen
dataclasses once, by :mod:`pytest_savedmodel.signatures`; every other layer
works on them. The one table mapping TensorFlow's ``DataType`` enum to names
and numpy dtypes lives here too.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "DTYPES",
    "DType",
    "Domain",
    "FeatureSpec",
    "Features",
    "ModelRef",
    "ModelSpec",
    "Outputs",
    "ParseSpec",
    "SignatureSpec",
    "TensorSpec",
    "dtype_by_enum",
    "dtype_by_name",
    "format_shape",
]

#: A feature dict: input alias (or tf.Example feature key) -> numpy array.
Features = dict[str, "np.ndarray"]
#: What a runner returns: output alias -> numpy array.
Outputs = dict[str, "np.ndarray"]

Shape = tuple[int | None, ...]


@dataclass(frozen=True)
class DType:
    """One TensorFlow dtype: its enum number, TF name and numpy equivalent."""

    enum: int
    name: str  # TensorFlow's name: "float32", "string", ...
    numpy: str | None  # numpy dtype string; "object" for strings; None if numpy has none

    @property
    def proto_name(self) -> str:
        """The enum's name as protobuf prints it, e.g. ``DT_FLOAT``."""
        return _PROTO_NAMES[self.enum]

    @property
    def is_float(self) -> bool:
        return self.name in ("float16", "bfloat16", "float32", "float64")

    @property
    def is_integer(self) -> bool:
        return self.name in ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64")

    @property
    def is_complex(self) -> bool:
        return self.name in ("complex64", "complex128")

    @property
    def is_string(self) -> bool:
        return self.name == "string"

    @property
    def is_bool(self) -> bool:
        return self.name == "bool"

    @property
    def is_data(self) -> bool:
        """True for dtypes that carry values a client can send (not resource/variant)."""
        return self.numpy is not None or self.name == "bfloat16"

    def __str__(self) -> str:
        return self.name


_TABLE: list[tuple[int, str, str | None, str]] = [
    (1, "float32", "float32", "DT_FLOAT"),
    (2, "float64", "float64", "DT_DOUBLE"),
    (3, "int32", "int32", "DT_INT32"),
    (4, "uint8", "uint8", "DT_UINT8"),
    (5, "int16", "int16", "DT_INT16"),
    (6, "int8", "int8", "DT_INT8"),
    (7, "string", "object", "DT_STRING"),
    (8, "complex64", "complex64", "DT_COMPLEX64"),
    (9, "int64", "int64", "DT_INT64"),
    (10, "bool", "bool", "DT_BOOL"),
    (11, "qint8", None, "DT_QINT8"),
    (12, "quint8", None, "DT_QUINT8"),
    (13, "qint32", None, "DT_QINT32"),
    (14, "bfloat16", None, "DT_BFLOAT16"),
    (15, "qint16", None, "DT_QINT16"),
    (16, "quint16", None, "DT_QUINT16"),
    (17, "uint16", "uint16", "DT_UINT16"),
    (18, "complex128", "complex128", "DT_COMPLEX128"),
    (19, "float16", "float16", "DT_HALF"),
    (20, "resource", None, "DT_RESOURCE"),
    (21, "variant", None, "DT_VARIANT"),
    (22, "uint32", "uint32", "DT_UINT32"),
    (23, "uint64", "uint64", "DT_UINT64"),
]
_PROTO_NAMES = {enum: proto for enum, _, _, proto in _TABLE}

#: TF name -> DType, for every dtype a SignatureDef can carry.
DTYPES: dict[str, DType] = {name: DType(enum, name, np_name) for enum, name, np_name, _ in _TABLE}
_BY_ENUM = {d.enum: d for d in DTYPES.values()}
_ALIASES = {
    "float": "float32",
    "double": "float64",
    "half": "float16",
    "str": "string",
    "bytes": "string",
    "object": "string",
}
_ALIASES.update({proto.lower(): name for _, name, _, proto in _TABLE})
_ALIASES.update({proto.lower()[3:]: name for _, name, _, proto in _TABLE})


def dtype_by_enum(enum: int) -> DType:
    """The DType for a ``DataType`` enum number (``DT_INVALID`` and reference types included)."""
    if enum > 100:  # reference dtypes (DT_FLOAT_REF = 101, ...)
        enum -= 100
    if enum not in _BY_ENUM:
        return DType(enum, f"dtype_{enum}", None)
    return _BY_ENUM[enum]


def dtype_by_name(name: object) -> DType:
    """Resolve a dtype given as TF name, numpy dtype/name, ``DT_*`` name or ``tf.DType``.

    Raises:
        ValueError: unknown name, with the closest known names.
    """
    text = getattr(name, "name", None) if not isinstance(name, str) else name
    if text is None:
        import numpy as np

        try:
            text = np.dtype(name).name  # type: ignore[call-overload]
        except TypeError:
            text = str(name)
    key = str(text).lower().removeprefix("tf.").removeprefix("np.")
    if key in ("str", "bytes", "object") or key.startswith(("<u", "<s", "|s", "bytes", "str")):
        key = "string"
    key = _ALIASES.get(key, key)
    if key in DTYPES:
        return DTYPES[key]
    import difflib

    close = difflib.get_close_matches(key, list(DTYPES), n=3)
    hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    raise ValueError(f"unknown dtype {name!r}.{hint} Known dtypes: {', '.join(sorted(DTYPES))}.")


def format_shape(shape: Shape | None) -> str:
    """``(None, 3)`` -> ``[-1, 3]``; unknown rank -> ``unknown rank``."""
    if shape is None:
        return "unknown rank"
    return "[" + ", ".join("-1" if d is None else str(d) for d in shape) + "]"


@dataclass(frozen=True)
class TensorSpec:
    """One input or output of a signature.

    Attributes:
        alias: the key in the SignatureDef's inputs/outputs map (what clients use).
        dtype: its dtype.
        shape: dims with ``None`` for unknown; ``None`` for unknown rank.
        tensor_name: the graph tensor behind it (``x:0``); empty for composites.
        encoding: ``dense``, ``sparse`` (COO) or ``composite`` (ragged, ...).
    """

    alias: str
    dtype: DType
    shape: Shape | None
    tensor_name: str = ""
    encoding: Literal["dense", "sparse", "composite"] = "dense"

    @property
    def rank(self) -> int | None:
        return None if self.shape is None else len(self.shape)

    def describe(self) -> str:
        """``float32 [-1, 3]``."""
        extra = "" if self.encoding == "dense" else f" ({self.encoding})"
        return f"{self.dtype.name} {format_shape(self.shape)}{extra}"


@dataclass(frozen=True)
class FeatureSpec:
    """One tf.Example feature of a parse spec recovered from a ParseExample op.

    ``kind`` is ``fixed`` (FixedLenFeature), ``varlen`` (VarLenFeature /
    sparse keys), or ``ragged``. ``default`` is ``None`` for a required fixed
    feature, else the flattened default values. The two varlen keys of a
    ``tf.io.SparseFeature`` name each other in ``sparse_pair`` (their lists must
    have equal lengths per example); its index key has ``index_bound`` (the
    feature's size: indices lie in ``[0, index_bound)``).
    """

    key: str
    kind: Literal["fixed", "varlen", "ragged"]
    dtype: DType  # float32, int64 or string
    shape: tuple[int, ...] = ()
    default: tuple[float | int | bytes, ...] | None = None
    sparse_pair: str | None = None
    index_bound: int | None = None

    @property
    def required(self) -> bool:
        return self.kind == "fixed" and self.default is None

    def describe(self) -> str:
        if self.kind != "fixed":
            pair = ""
            if self.sparse_pair is not None:
                pair = (f" (SparseFeature index, size {self.index_bound}, values in {self.sparse_pair!r})"
                        if self.index_bound is not None
                        else f" (SparseFeature values, indices in {self.sparse_pair!r})")
            return f"{self.kind} {self.dtype.name}{pair}"
        d = "required" if self.default is None else f"default={list(self.default)!r}"
        return f"fixed {self.dtype.name} {format_shape(self.shape)} {d}"


@dataclass(frozen=True)
class Domain:
    """The values an input (or tf.Example feature) accepts, recovered from the graph ops that consume it.

    ``kind`` is ``int`` or ``float`` (a range ``[min_value, max_value]``, bounds included; the id of an
    embedding or gather table, the depth of a one-hot, the size of a bincount) or ``bytes``/``int`` with
    ``values`` (the keys of a lookup table that rejects other keys). ``source`` names the ops, for messages.
    Generation reads it as a schema domain of the same name: explicit ranges and a schema win over it.
    """

    kind: Literal["int", "float", "bytes"]
    min_value: int | None = None
    max_value: int | None = None
    values: tuple[int | bytes, ...] | None = None
    source: str = ""

    def describe(self) -> str:
        if self.values is not None:
            shown = ", ".join(repr(v) for v in self.values[:6]) + (", ..." if len(self.values) > 6 else "")
            return f"one of {len(self.values)} values ({shown}) from {self.source}"
        return f"in [{self.min_value}, {self.max_value}] from {self.source}"


@dataclass(frozen=True)
class ParseSpec:
    """The tf.Example parse spec a parsing signature applies to one string input."""

    input_alias: str
    features: tuple[FeatureSpec, ...]
    op: str = "ParseExampleV2"
    #: feature key -> the values the graph accepts for it (dense features only); see :class:`Domain`
    domains: Mapping[str, Domain] = field(default_factory=dict, compare=False)

    def feature(self, key: str) -> FeatureSpec:
        for f in self.features:
            if f.key == key:
                return f
        raise KeyError(key)

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(f.key for f in self.features)


@dataclass(frozen=True)
class SignatureSpec:
    """One SignatureDef, as plain data."""

    key: str
    method_name: str
    inputs: dict[str, TensorSpec]
    outputs: dict[str, TensorSpec]
    parse_spec: ParseSpec | None = None
    defaults: frozenset[str] = frozenset()  # inputs that a TF2 function gives a default
    graph_dtypes: dict[str, DType] = field(default_factory=dict)  # input alias -> dtype of the graph tensor fed
    #: input alias -> the values the graph accepts for it (see :class:`Domain`; filled when inspected)
    domains: Mapping[str, Domain] = field(default_factory=dict, compare=False)
    #: input alias (or, for a parsing signature, tf.Example feature key) -> the value its graph drops as missing:
    #: compared with a scalar constant, the matches dropped (feature columns' '' and -1); read from the graph
    missing: Mapping[str, int | float | bytes] = field(default_factory=dict, compare=False)
    #: a digest of what the signature computes when every output comes from one traced function (TF2 exports):
    #: two signatures of the same function share it though their tensor names differ ("" when not known)
    function: str = field(default="", compare=False)

    @property
    def is_parsing(self) -> bool:
        """True when the signature takes serialized tf.Examples through a recovered parse spec."""
        return self.parse_spec is not None

    def describe(self) -> str:
        lines = [f"signature {self.key!r} ({self.method_name or 'no method name'})"]
        for title, tensors in (("inputs", self.inputs), ("outputs", self.outputs)):
            lines.append(f"  {title}:")
            for alias, t in sorted(tensors.items()):
                lines.append(f"    {alias}: {t.describe()}")
        return "\n".join(lines)


@dataclass(frozen=True)
class ModelRef:
    """Where a model is: the SavedModel directory actually loaded and how it was picked.

    Attributes:
        name: the model's name (``NAME=DIR`` on the command line, else the base dir's name).
        path: the directory holding ``saved_model.pb``/``.pbtxt``.
        base: the directory the user named (a SavedModel dir or a base with versions).
        version: the numeric version directory used, if any.
        versions: every numeric version found under ``base``.
        tags: the tag-set to load.
    """

    name: str
    path: Path
    base: Path
    version: int | None = None
    versions: tuple[int, ...] = ()
    tags: frozenset[str] = frozenset({"serve"})

    def label(self) -> str:
        v = f" v{self.version}" if self.version is not None else ""
        return f"{self.name}{v}"


@dataclass(frozen=True)
class ModelSpec:
    """Everything inspected from one SavedModel for one tag-set."""

    ref: ModelRef
    tag_sets: tuple[frozenset[str], ...]
    signatures: dict[str, SignatureSpec]
    tf_version: str = ""
    ops: frozenset[str] = frozenset()
    object_graph: bool = False  # a TF2 export: tf.saved_model.load restores its objects (not load_v1_in_v2)

    def signature(self, key: str) -> SignatureSpec:
        """The signature ``key``; raises :class:`SignatureNotFound` listing the ones that exist."""
        from pytest_savedmodel.errors import SignatureNotFound

        if key not in self.signatures:
            raise SignatureNotFound(model=self.ref, signature=key, available=sorted(self.signatures))
        return self.signatures[key]

    @property
    def callable_signatures(self) -> dict[str, SignatureSpec]:
        """Signatures a client can call (``__saved_model_init_op`` and the like excluded)."""
        return {k: s for k, s in self.signatures.items() if not k.startswith("__")}
