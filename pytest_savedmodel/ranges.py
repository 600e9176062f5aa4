"""Ranges and vocabularies given on the command line, and the schema each model's inputs are drawn from.

    --savedmodel-range=age=0..120               every model's input or feature ``age``
    --savedmodel-range=iris:SepalLength=4..8    model ``iris`` only
    --savedmodel-range=clicks=0..               an open upper bound
    --savedmodel-range=color=red|green|blue     a vocabulary (strings, or integers for an integer input)
    --savedmodel-schema=fraud=schema.pbtxt      a TFMD schema for model ``fraud`` (a bare FILE: every model)

They all become schema domains, so one mechanism bounds generation: a range wins over the model's schema,
which wins over the domains read from the graph, which win over the defaults. No TensorFlow here.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from pytest_savedmodel.errors import EnvironmentProblem, SavedModelError, UsageError
from pytest_savedmodel.schema import FeatureDomain, Schema

__all__ = ["GenerationDomains", "RangeArg", "check_range_names", "merged_schema", "parse_range", "parse_schema_arg"]


@dataclass(frozen=True)
class RangeArg:
    """One ``--savedmodel-range`` value."""

    text: str
    model: str | None
    feature: str
    min_value: float | None = None
    max_value: float | None = None
    values: tuple[str, ...] | None = None

    def domain(self, numeric: bool) -> FeatureDomain:
        if self.values is not None:
            vocab: tuple[object, ...] = tuple(int(v) for v in self.values) if numeric else tuple(
                v.encode() for v in self.values)
            return FeatureDomain(self.feature, "unknown", values=vocab)
        return FeatureDomain(self.feature, "unknown", self.min_value, self.max_value)


def _number(text: str, arg: str) -> float | None:
    if not text.strip():
        return None
    try:
        value = float(text)
    except ValueError:
        raise UsageError(f"--savedmodel-range={arg!r}: {text!r} is not a number; give FEATURE=LO..HI (either side "
                         f"may be left out) or FEATURE=a|b|c") from None
    if not math.isfinite(value):
        raise UsageError(f"--savedmodel-range={arg!r}: bounds must be finite numbers")
    return value


def parse_range(text: str) -> RangeArg:
    """``[NAME:]FEATURE=LO..HI`` or ``[NAME:]FEATURE=a|b|c``; a usage error that quotes the value otherwise."""
    target, sep, spec = text.partition("=")
    if not sep or not target.strip() or not spec.strip():
        raise UsageError(f"--savedmodel-range={text!r}: expected [NAME:]FEATURE=LO..HI or [NAME:]FEATURE=a|b|c, "
                         f"e.g. --savedmodel-range=iris:SepalLength=4..8")
    model, colon, feature = target.rpartition(":")
    name = model.strip() if colon else None
    feature = feature.strip()
    if ".." in spec:
        lo_text, _, hi_text = spec.partition("..")
        lo, hi = _number(lo_text, text), _number(hi_text, text)
        if lo is None and hi is None:
            raise UsageError(f"--savedmodel-range={text!r}: give at least one bound (LO.. or ..HI)")
        if lo is not None and hi is not None and lo > hi:
            raise UsageError(f"--savedmodel-range={text!r}: LO {lo:g} is greater than HI {hi:g}")
        return RangeArg(text, name, feature, lo, hi)
    values = tuple(v.strip() for v in spec.split("|"))
    if not all(values):
        raise UsageError(f"--savedmodel-range={text!r}: an empty vocabulary entry; give FEATURE=a|b|c with no "
                         f"empty value")
    return RangeArg(text, name, feature, values=values)


def parse_schema_arg(text: str) -> tuple[str | None, str]:
    """``[NAME=]FILE``: the model a schema belongs to (None: every model) and the file."""
    name, sep, path = text.partition("=")
    if sep and name and "/" not in name and name.replace("-", "_").replace(".", "_").isidentifier():
        return name, path
    return None, text


def check_range_names(ranges: Iterable[RangeArg], inputs: Mapping[str, Mapping[str, bool]]) -> None:
    """A usage error for a range naming a model or feature that does not exist (with a did-you-mean).

    ``inputs``: per model name, every input alias and parse-spec feature key -> whether it is numeric.
    """
    for r in ranges:
        models = [r.model] if r.model is not None else list(inputs)
        if r.model is not None and r.model not in inputs:
            close = difflib.get_close_matches(r.model, list(inputs), n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise UsageError(f"--savedmodel-range={r.text!r}: no model named {r.model!r}.{hint} Models: "
                             f"{', '.join(sorted(inputs)) or '(none)'}")
        known = {k: v for m in models for k, v in inputs[m].items()}
        if r.feature not in known:
            close = difflib.get_close_matches(r.feature, list(known), n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise UsageError(f"--savedmodel-range={r.text!r}: no input or feature {r.feature!r} in "
                             f"{r.model or 'any model'}.{hint} Inputs and features: {', '.join(sorted(known))}")
        numeric = known[r.feature]
        if r.values is None and not numeric:
            raise UsageError(f"--savedmodel-range={r.text!r}: {r.feature!r} is a string input; give its vocabulary "
                             f"as {r.feature}=a|b|c")
        if r.values is not None and numeric:
            try:
                [int(v) for v in r.values]
            except ValueError:
                raise UsageError(f"--savedmodel-range={r.text!r}: {r.feature!r} is numeric; a vocabulary for it "
                                 f"holds integers, or give a range LO..HI") from None


def merged_schema(base: Schema | None, ranges: Iterable[RangeArg], model: str,
                  numeric: Mapping[str, bool]) -> Schema | None:
    """``base`` with the ranges that apply to ``model`` laid over it (a range wins over the schema's domain)."""
    mine = [r for r in ranges if r.model in (None, model) and r.feature in numeric]
    if not mine:
        return base
    features = dict(base.features) if base is not None else {}
    for r in mine:
        own = r.domain(numeric[r.feature])
        old = features.get(r.feature)
        features[r.feature] = own if old is None else replace(
            old, min_value=own.min_value, max_value=own.max_value, values=own.values,
            kind=old.kind if old.kind in ("int", "float", "bytes") else own.kind)
    return Schema(base.path if base is not None else Path("--savedmodel-range"), features)


class GenerationDomains:
    """The schemas (``--savedmodel-schema``) and ranges (``--savedmodel-range``) of a run, by model name.

    Reading the schema files and checking every model and feature name happen when it is made: usage
    errors at start-up.
    """

    def __init__(self, settings: Any, artifacts: Any) -> None:
        from pytest_savedmodel.schema import read_schema

        self.settings, self.artifacts = settings, artifacts
        self.schemas: dict[str | None, Schema] = {}
        for name, path in settings.schemas:
            try:
                self.schemas[name] = read_schema(path)
            except EnvironmentProblem as exc:
                raise UsageError(str(exc)) from None
        self._inputs: dict[str, dict[str, bool]] | None = None
        self._merged: dict[str, Schema | None] = {}
        models = sorted({e.model for e in artifacts.exports})
        for name in self.schemas:
            if name is not None and name not in models:
                close = difflib.get_close_matches(name, models, n=1)
                hint = f" Did you mean {close[0]!r}?" if close else ""
                raise UsageError(f"--savedmodel-schema={name}=...: no model named {name!r}.{hint} Models: "
                                 f"{', '.join(models)}")
        if settings.ranges:
            check_range_names(settings.ranges, self.model_inputs())

    def model_inputs(self) -> dict[str, dict[str, bool]]:
        """Per model name: every input alias and parse-spec feature key -> whether it is numeric."""
        if self._inputs is None:
            self._inputs = {}
            for export in self.artifacts.exports:
                known = self._inputs.setdefault(export.model, {})
                try:
                    spec = export.inspect()
                except SavedModelError:
                    continue
                for sig in spec.signatures.values():
                    for alias, t in sig.inputs.items():
                        if sig.parse_spec is None or alias != sig.parse_spec.input_alias:
                            known[alias] = not t.dtype.is_string
                    for f in sig.parse_spec.features if sig.parse_spec is not None else ():
                        known[f.key] = not f.dtype.is_string
        return self._inputs

    def schema_for(self, model: str) -> Schema | None:
        """``model``'s schema (its own, else every model's) with the ranges for it laid over."""
        if model not in self._merged:
            base = self.schemas.get(model, self.schemas.get(None))
            if self.settings.ranges:
                base = merged_schema(base, self.settings.ranges, model, self.model_inputs().get(model, {}))
            self._merged[model] = base
        return self._merged[model]
