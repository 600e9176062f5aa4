"""Contract drift: what changed between two lock entries, each change a named rule. Pure data.

Like ``buf breaking`` for SavedModels: every rule has an id, a severity
(``breaking`` for clients, ``compatible``, or ``risk``) and can be allowed on
purpose with ``--savedmodel-allow=RULE``.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pytest_savedmodel.errors import UsageError

__all__ = ["RULES", "Change", "diff_entries", "format_changes", "validate_rules"]

RULES: dict[str, tuple[str, str]] = {
    "SIGNATURE_REMOVED": ("breaking", "a signature clients call is gone"),
    "SIGNATURE_ADDED": ("compatible", "a new signature"),
    "METHOD_CHANGED": ("breaking", "the signature's method name changed (Classify/Regress clients depend on it)"),
    "INPUT_REMOVED": ("breaking", "an input clients send is gone"),
    "INPUT_RENAMED": ("breaking", "an input has a new name (same dtype and shape)"),
    "INPUT_ADDED_REQUIRED": ("breaking", "a new input without a default: old requests lack it"),
    "INPUT_ADDED_OPTIONAL": ("compatible", "a new input with a default"),
    "INPUT_DTYPE_CHANGED": ("breaking", "an input's dtype changed"),
    "INPUT_SHAPE_NARROWED": ("breaking", "an input accepts fewer shapes (rank changed or a dim got fixed)"),
    "INPUT_SHAPE_WIDENED": ("compatible", "an input accepts more shapes"),
    "OUTPUT_REMOVED": ("breaking", "an output clients read is gone"),
    "OUTPUT_RENAMED": ("breaking", "an output has a new name (same dtype and shape)"),
    "OUTPUT_ADDED": ("compatible", "a new output"),
    "OUTPUT_DTYPE_CHANGED": ("breaking", "an output's dtype changed"),
    "OUTPUT_SHAPE_CHANGED": ("breaking", "an output's rank or a fixed dim changed"),
    "OUTPUT_SHAPE_WIDENED": ("compatible", "a fixed output dim became unknown"),
    "PARSE_FEATURE_REMOVED": ("breaking", "a tf.Example feature is no longer parsed"),
    "PARSE_FEATURE_ADDED_REQUIRED": ("breaking", "a new required tf.Example feature: old Examples are rejected"),
    "PARSE_FEATURE_ADDED_OPTIONAL": ("compatible", "a new optional tf.Example feature"),
    "PARSE_DTYPE_CHANGED": ("breaking", "a tf.Example feature is parsed with another dtype"),
    "PARSE_SHAPE_CHANGED": ("breaking", "a tf.Example feature has another shape or kind"),
    "PARSE_DEFAULT_CHANGED": ("breaking", "a missing feature is now filled with another value"),
    "TAG_SET_REMOVED": ("breaking", "a MetaGraph tag-set is gone"),
    "OP_ADDED": ("risk", "a TensorFlow op the old graph did not use: an older TF Serving may fail with "
                         "'Op type not registered'"),
    "OP_FORBIDDEN": ("breaking", "the graph uses an op your team bans (--savedmodel-forbid-ops)"),
}


@dataclass(frozen=True)
class Change:
    """One difference, classified by a rule."""

    rule: str
    signature: str | None
    tensor: str | None
    old: Any
    new: Any

    @property
    def severity(self) -> str:
        return RULES[self.rule][0]

    def describe(self) -> str:
        where = (f"signature {self.signature!r}" if self.signature else "model") + (
            f" {self.tensor}" if self.tensor else "")
        return f"{where}: {_fmt(self.old)} -> {_fmt(self.new)}  {self.rule} ({self.severity})"


def _fmt(v: Any) -> str:
    if isinstance(v, dict) and "dtype" in v:
        shape = v.get("shape")
        return f"{v['dtype']} {'unknown rank' if shape is None else shape}"
    return "(none)" if v is None else str(v)


def _shape_relation(old: list[int] | None, new: list[int] | None) -> str:
    """'same', 'widened' (accepts a superset) or 'changed'."""
    if old == new:
        return "same"
    if new is None:
        return "widened"
    if old is None or len(old) != len(new):
        return "changed"
    if all(n == -1 or n == o for o, n in zip(old, new, strict=True)):
        return "widened"
    return "changed"


def _tensors(kind: str, sig: str, old: Mapping[str, Any], new: Mapping[str, Any],
             defaults: Iterable[str]) -> list[Change]:
    up = kind.upper()
    changes: list[Change] = []
    removed = sorted(set(old) - set(new))
    added = sorted(set(new) - set(old))
    for name in removed:  # a removed + an added tensor of the same dtype and shape is a rename
        twin = next((a for a in added if new[a] == old[name]), None)
        if twin is not None:
            added.remove(twin)
            changes.append(Change(f"{up}_RENAMED", sig, f"{kind} {name!r}", name, twin))
        else:
            changes.append(Change(f"{up}_REMOVED", sig, f"{kind} {name!r}", old[name], None))
    for name in added:
        rule = "OUTPUT_ADDED" if kind == "output" else (
            "INPUT_ADDED_OPTIONAL" if name in set(defaults) else "INPUT_ADDED_REQUIRED")
        changes.append(Change(rule, sig, f"{kind} {name!r}", None, new[name]))
    for name in sorted(set(old) & set(new)):
        o, n = old[name], new[name]
        if o["dtype"] != n["dtype"]:
            changes.append(Change(f"{up}_DTYPE_CHANGED", sig, f"{kind} {name!r}", o, n))
        rel = _shape_relation(o["shape"], n["shape"])
        if rel == "widened":
            changes.append(Change(f"{up}_SHAPE_WIDENED", sig, f"{kind} {name!r}", o, n))
        elif rel == "changed":
            changes.append(Change("INPUT_SHAPE_NARROWED" if kind == "input" else "OUTPUT_SHAPE_CHANGED", sig,
                                  f"{kind} {name!r}", o, n))
    return changes


def _parse(sig: str, old: Mapping[str, Any] | None, new: Mapping[str, Any] | None) -> list[Change]:
    of = (old or {}).get("features", {})
    nf = (new or {}).get("features", {})
    changes: list[Change] = []
    for key in sorted(set(of) - set(nf)):
        changes.append(Change("PARSE_FEATURE_REMOVED", sig, f"feature {key!r}", of[key]["dtype"], None))
    for key in sorted(set(nf) - set(of)):
        required = nf[key]["kind"] == "fixed" and nf[key]["default"] is None
        changes.append(Change("PARSE_FEATURE_ADDED_REQUIRED" if required else "PARSE_FEATURE_ADDED_OPTIONAL", sig,
                              f"feature {key!r}", None, nf[key]["dtype"]))
    for key in sorted(set(of) & set(nf)):
        o, n = of[key], nf[key]
        if o["dtype"] != n["dtype"]:
            changes.append(Change("PARSE_DTYPE_CHANGED", sig, f"feature {key!r}", o["dtype"], n["dtype"]))
        if o["shape"] != n["shape"] or o["kind"] != n["kind"]:
            changes.append(Change("PARSE_SHAPE_CHANGED", sig, f"feature {key!r}", f"{o['kind']} {o['shape']}",
                                  f"{n['kind']} {n['shape']}"))
        if o.get("default") != n.get("default"):
            changes.append(Change("PARSE_DEFAULT_CHANGED", sig, f"feature {key!r}", o.get("default"),
                                  n.get("default")))
    return changes


def diff_entries(old: Mapping[str, Any], new: Mapping[str, Any], *, forbid_ops: Iterable[str] = ()) -> list[Change]:
    """Every change from lock entry ``old`` to ``new`` (see :func:`pytest_savedmodel.lock.model_entry`)."""
    changes: list[Change] = []
    for tags in old.get("tag_sets", []):
        if tags not in new.get("tag_sets", []):
            changes.append(Change("TAG_SET_REMOVED", None, f"tag-set {','.join(tags)!r}", tags, None))
    os_, ns = old.get("signatures", {}), new.get("signatures", {})
    for key in sorted(set(os_) - set(ns)):
        changes.append(Change("SIGNATURE_REMOVED", key, None, key, None))
    for key in sorted(set(ns) - set(os_)):
        changes.append(Change("SIGNATURE_ADDED", key, None, None, key))
    for key in sorted(set(os_) & set(ns)):
        o, n = os_[key], ns[key]
        if o["method_name"] != n["method_name"]:
            changes.append(Change("METHOD_CHANGED", key, None, o["method_name"], n["method_name"]))
        changes += _tensors("input", key, o["inputs"], n["inputs"], n.get("defaults", []))
        changes += _tensors("output", key, o["outputs"], n["outputs"], ())
        changes += _parse(key, o.get("parse_spec"), n.get("parse_spec"))
    for op in sorted(set(new.get("ops", [])) - set(old.get("ops", []))):
        changes.append(Change("OP_ADDED", None, f"op {op!r}", None, op))
    for op in sorted(set(forbid_ops) & set(new.get("ops", []))):
        changes.append(Change("OP_FORBIDDEN", None, f"op {op!r}", None, op))
    return changes


def validate_rules(names: Iterable[str]) -> frozenset[str]:
    """Rule ids for ``--savedmodel-allow``; a usage error with a suggestion for unknown ones."""
    out = set()
    for name in names:
        rule = name.strip().upper()
        if rule not in RULES:
            close = difflib.get_close_matches(rule, list(RULES), n=1)
            hint = f" Did you mean {close[0]}?" if close else ""
            raise UsageError(f"--savedmodel-allow={name}: no such rule.{hint} Rules: {', '.join(sorted(RULES))}")
        out.add(rule)
    return frozenset(out)


def format_changes(changes: list[Change], *, allowed: frozenset[str] = frozenset(), against: str = "the lock") -> str:
    """A readable diff, one line per change, breaking ones first."""
    order = {"breaking": 0, "risk": 1, "compatible": 2}
    lines = []
    for c in sorted(changes, key=lambda c: (order[c.severity] if c.rule not in allowed else 3, c.signature or "")):
        mark = "  (allowed by --savedmodel-allow)" if c.rule in allowed else ""
        lines.append(f"  - {c.describe()}{mark}")
    lines.append(f"  Accept intended changes with --savedmodel-update-contract, or allow one rule with "
                 f"--savedmodel-allow=RULE (compared with {against}).")
    return "\n".join(lines)
