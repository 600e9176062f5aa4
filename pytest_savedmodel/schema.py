"""Value domains from a TensorFlow Metadata schema (``schema.pbtxt`` as TFDV writes it).

``--savedmodel-schema=FILE`` restricts what the strategies draw to what the data
team declared: int and float ranges (``int_domain``/``float_domain``), string
vocabularies (``string_domain``, inline or by ``domain: "name"``), booleans,
presence (``presence { min_fraction: 1 }`` makes a feature required: never
omitted) and value counts (``value_count { min max }`` bounds VarLen rows).

Needs the ``tensorflow-metadata`` package (``pip install pytest-savedmodel[schema]``);
importing this module does not import it, nor TensorFlow.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_savedmodel.errors import EnvironmentProblem, MissingExtra

__all__ = ["FeatureDomain", "Schema", "SchemaError", "read_schema"]

_TYPES = {0: "unknown", 1: "bytes", 2: "int", 3: "float", 4: "struct"}


class SchemaError(EnvironmentProblem):
    """The TFMD schema cannot be read or is inconsistent (names the file and the feature or line)."""


@dataclass(frozen=True)
class FeatureDomain:
    """What the schema allows for one feature."""

    name: str
    kind: str  # "int" | "float" | "bytes" | "unknown" | "struct"
    min_value: float | None = None
    max_value: float | None = None
    values: tuple[Any, ...] | None = None  # a vocabulary: bytes for strings, ints for a categorical int domain
    required: bool = False  # presence.min_fraction == 1: every example has it
    min_count: int | None = None  # values per example (value_count), for VarLen features
    max_count: int | None = None

    def describe(self) -> str:
        if self.values is not None:
            shown = ", ".join(repr(v) for v in self.values[:6]) + (", ..." if len(self.values) > 6 else "")
            return f"one of {len(self.values)} values ({shown})"
        if self.min_value is not None or self.max_value is not None:
            return f"in [{self.min_value}, {self.max_value}]"
        return f"any {self.kind}"


@dataclass(frozen=True)
class Schema:
    """The domains of a schema file, by feature name."""

    path: Path
    features: dict[str, FeatureDomain] = field(default_factory=dict)

    def domain(self, name: str) -> FeatureDomain | None:
        return self.features.get(name)


def _schema_pb2() -> Any:
    try:
        from tensorflow_metadata.proto.v0 import schema_pb2
    except ImportError:
        raise MissingExtra("tensorflow_metadata", extra="schema", purpose="--savedmodel-schema") from None
    return schema_pb2


def _parse(path: Path) -> Any:
    from google.protobuf import message, text_format

    schema_pb2 = _schema_pb2()
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise SchemaError(f"--savedmodel-schema: no such file: {path}") from None
    except OSError as exc:
        raise SchemaError(f"--savedmodel-schema: cannot read {path}: {exc.strerror or exc}") from None
    schema = schema_pb2.Schema()
    if path.suffix == ".pb":
        try:
            schema.ParseFromString(data)
        except message.DecodeError as exc:
            raise SchemaError(f"{path} is not a binary TFMD Schema protobuf ({len(data)} bytes): {exc}. A text "
                              f"schema (as TFDV's write_schema_text writes it) should end in .pbtxt") from None
        return schema
    try:
        text_format.Parse(data.decode("utf-8", errors="replace"), schema)
    except text_format.ParseError as exc:
        line, col = getattr(exc, "GetLine", lambda: None)(), getattr(exc, "GetColumn", lambda: None)()
        where = f"{path}:{line}:{col}" if line else str(path)
        reason = str(exc).split(" : ", 1)[-1] if " : " in str(exc) else str(exc)
        raise SchemaError(f"{where}: not a valid TFMD schema ({reason}). Expected text like "
                          f"'feature {{ name: \"x\" type: FLOAT float_domain {{ min: 0 max: 1 }} }}'") from None
    return schema


def _named_domains(schema: Any) -> dict[str, tuple[str, Any]]:
    out: dict[str, tuple[str, Any]] = {}
    for kind in ("string_domain", "int_domain", "float_domain"):
        for d in getattr(schema, kind):
            out[d.name] = (kind, d)
    return out


def _domain(path: Path, f: Any, named: dict[str, tuple[str, Any]]) -> FeatureDomain:
    kind = _TYPES.get(f.type, "unknown")
    which = f.WhichOneof("domain_info")
    lo = hi = None
    values: tuple[Any, ...] | None = None
    if which == "domain":
        if f.domain not in named:
            close = difflib.get_close_matches(f.domain, list(named), n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise SchemaError(f"{path}: feature {f.name!r} refers to domain {f.domain!r}, which the schema does not "
                              f"define (domains: {', '.join(sorted(named)) or 'none'}).{hint}")
        which, d = named[f.domain]
    else:
        d = getattr(f, which) if which else None
    if which == "int_domain":
        lo = d.min if d.HasField("min") else None
        hi = d.max if d.HasField("max") else None
    elif which == "float_domain":
        lo = d.min if d.HasField("min") else None
        hi = d.max if d.HasField("max") else None
    elif which == "string_domain":
        values = tuple(v.encode() for v in d.value)
        if not values:
            raise SchemaError(f"{path}: feature {f.name!r}: string_domain has no value; give at least one")
    elif which == "bool_domain":
        lo, hi = 0, 1
    if lo is not None and hi is not None and lo > hi:
        raise SchemaError(f"{path}: feature {f.name!r}: min {lo} is greater than max {hi}")
    required = f.HasField("presence") and f.presence.min_fraction >= 1.0
    min_count = max_count = None
    if f.HasField("value_count"):
        min_count = f.value_count.min if f.value_count.HasField("min") else None
        max_count = f.value_count.max if f.value_count.HasField("max") else None
    elif f.HasField("shape"):
        size = 1
        for dim in f.shape.dim:
            size *= dim.size
        min_count = max_count = size
    return FeatureDomain(f.name, kind, lo, hi, values, required, min_count, max_count)


def read_schema(path: str | Path) -> Schema:
    """Read a TFMD ``Schema`` (text ``.pbtxt``, or binary ``.pb``) into per-feature domains.

    Raises:
        SchemaError: naming the file and the line and column, or the feature, that is wrong.
        MissingExtra: when tensorflow-metadata is not installed.
    """
    p = Path(path)
    schema = _parse(p)
    named = _named_domains(schema)
    features: dict[str, FeatureDomain] = {}
    for f in schema.feature:
        if f.name in features:
            raise SchemaError(f"{p}: feature {f.name!r} is declared twice")
        features[f.name] = _domain(p, f, named)
    if not features:
        raise SchemaError(f"{p}: the schema declares no feature")
    return Schema(p, features)
