"""Signatures of one SavedModel that belong together: identical ones (tested once) and raw/parsing pairs.

Pure: it reads :class:`~pytest_savedmodel.spec.SignatureSpec` data only (no TensorFlow).

**Identical signatures** have the same method and compute the same thing: the same function digest
(:attr:`SignatureSpec.function`, TF2 exports: Keras' ``serve`` and ``serving_default``), or, where there is none,
the same input and output tensor names under the same aliases (TF1 graphs). One of them is tested:
``serving_default`` if it is one of them, else the first alphabetically.

**The pairing rule.** A parsing signature P (a recovered tf.Example parse spec) and a raw signature R (dense
inputs, no parse spec) pair when

1. every input of R is a feature of P's parse spec with a matching dtype (floating point, integer or string on
   both sides: tf.Example holds float32, int64 and bytes);
2. every feature of P that R has no input for may be left out of an Example (it is not a required FixedLen);
3. R and P share at least one output name; the shared outputs are compared.

**Missing values.** A raw graph may drop a value as missing (feature columns drop a dense ``''`` or ``-1``:
:attr:`SignatureSpec.missing`); the equivalent tf.Example leaves that feature out (see
:func:`~pytest_savedmodel.tfexample.without_missing`). Where the parsing graph takes the value as present,
:func:`missing_risks` says so: a client sending the literal value gets two answers.

Where several raw signatures qualify for one P, the one with the most shared outputs wins, then the first
alphabetically. A ``--savedmodel-pair=RAW~PARSING`` names a pair the rule does not see (dtypes that differ, or
another choice among candidates): it needs 2 and 3 and that every input of RAW is a feature of PARSING, and
it replaces the automatic partner of PARSING.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from pytest_savedmodel._names import id_part
from pytest_savedmodel.errors import UsageError
from pytest_savedmodel.spec import DType, SignatureSpec

__all__ = ["Pairing", "SignaturePair", "explicit_pair", "identical", "missing_risks", "pair_problem", "pairing"]


@dataclass(frozen=True)
class SignaturePair:
    """A raw signature and a parsing signature of one SavedModel, compared on their shared ``outputs``."""

    raw: str
    parsing: str
    outputs: tuple[str, ...]
    explicit: bool = False

    @property
    def word(self) -> str:
        """The pair word in ids: ``raw~parsing:PARSINGSIG`` (items sit under the raw signature)."""
        return f"raw~parsing:{id_part(self.parsing)}"


@dataclass(frozen=True)
class Pairing:
    """One export's signatures once identical ones and pairs are found."""

    same: dict[str, str] = field(default_factory=dict)  # a signature tested as another -> that one
    pairs: tuple[SignaturePair, ...] = ()
    unpaired: dict[str, str] = field(default_factory=dict)  # parsing signature -> why no raw signature pairs

    def notes(self, collector: str) -> list[str]:
        """Header lines: identical signatures, pairs, parsing signatures compared with no raw one."""
        lines = []
        groups: dict[str, list[str]] = {}
        for dup, kept in sorted(self.same.items()):
            groups.setdefault(kept, []).append(dup)
        for kept, dups in sorted(groups.items()):
            lines.append(f"{collector}: {' = '.join([*dups, kept])} (tested once)")
        for p in self.pairs:
            how = "--savedmodel-pair" if p.explicit else "paired"
            lines.append(f"{collector}: {p.raw} ~ {p.parsing} ({how}: raw features as tf.Examples, outputs "
                         f"{', '.join(p.outputs)} compared)")
        for key, why in sorted(self.unpaired.items()):
            lines.append(f"{collector}: parsing signature {key} has no raw partner, no raw~parsing check ({why})")
        return lines


def _same_kind(a: DType, b: DType) -> bool:
    return (a.is_float and b.is_float) or (a.is_integer and b.is_integer) or (a.is_string and b.is_string)


def _identity(sig: SignatureSpec) -> tuple[object, ...] | None:
    if sig.function:
        return ("function", sig.method_name, sig.function)
    tensors = (*sig.inputs.values(), *sig.outputs.values())
    if not sig.outputs or any(not t.tensor_name or t.encoding != "dense" for t in tensors):
        return None
    return ("tensors", sig.method_name, tuple(sorted((a, t.tensor_name) for a, t in sig.inputs.items())),
            tuple(sorted((a, t.tensor_name) for a, t in sig.outputs.items())), tuple(sorted(sig.defaults)))


def identical(sigs: Mapping[str, SignatureSpec]) -> dict[str, str]:
    """Each signature that is the same function as another -> the one tested (``serving_default``, else the first
    alphabetically)."""
    groups: dict[tuple[object, ...], list[str]] = {}
    for key in sorted(sigs):
        ident = _identity(sigs[key])
        if ident is not None:
            groups.setdefault(ident, []).append(key)
    out: dict[str, str] = {}
    for keys in groups.values():
        kept = "serving_default" if "serving_default" in keys else keys[0]
        out.update({k: kept for k in keys if k != kept})
    return out


def pair_problem(raw: SignatureSpec, parsing: SignatureSpec, *, explicit: bool = False) -> str | None:
    """Why ``raw`` and ``parsing`` do not pair, in a few words (None: they do). ``explicit``: dtypes may differ."""
    ps = parsing.parse_spec
    if ps is None:
        return f"{parsing.key} has no tf.Example parse spec"
    if raw.parse_spec is not None:
        return f"{raw.key} parses tf.Examples itself"
    if not raw.inputs:
        return f"{raw.key} has no inputs"
    sparse = sorted(a for a, t in raw.inputs.items() if t.encoding != "dense")
    if sparse:
        return f"inputs {sparse} are not dense tensors"
    keys = set(ps.keys)
    alien = sorted(set(raw.inputs) - keys)
    if alien:
        return (f"input{'s' if len(alien) > 1 else ''} {', '.join(map(repr, alien))} "
                f"{'are not features' if len(alien) > 1 else 'is not a feature'} of the parse spec "
                f"(features: {', '.join(sorted(keys))})")
    if not explicit:
        differ = [f"{a!r} is {t.dtype.name}, the feature {ps.feature(a).dtype.name}" for a, t in
                  sorted(raw.inputs.items()) if not _same_kind(t.dtype, ps.feature(a).dtype)]
        if differ:
            return f"dtypes differ: {'; '.join(differ)}"
    needed = sorted(f.key for f in ps.features if f.key not in raw.inputs
                    and (f.required or (f.sparse_pair is not None and f.sparse_pair in raw.inputs)))
    if needed:
        return f"the parse spec requires {needed}, which {raw.key} has no input for"
    if not set(raw.outputs) & set(parsing.outputs):
        return (f"no output name in common ({', '.join(sorted(raw.outputs))} / "
                f"{', '.join(sorted(parsing.outputs))})")
    return None


def _literal(value: object) -> str:
    return repr(value.decode("utf-8", "replace")) if isinstance(value, bytes) else repr(value)


def missing_risks(raw: SignatureSpec, parsing: SignatureSpec, *, names: tuple[str, str] = ("raw", "parsing")
                  ) -> list[str]:
    """Features whose missing value (the raw graph drops it) the parsing graph takes as a present value: the two
    answer a client's literal value differently (the comparison leaves it out of the tf.Example; clients must too)."""
    ps = parsing.parse_spec
    risks = []
    for key, value in sorted(raw.missing.items()):
        if ps is None or key not in ps.keys or parsing.missing.get(key) == value:
            continue
        risks.append(f"feature {key!r}: {names[0]} signature {raw.key!r} treats {_literal(value)} as missing (its "
                     f"graph compares {key} with {_literal(value)} and drops the matches), while {names[1]} signature "
                     f"{parsing.key!r} reads a tf.Example holding {key}={value!r} as a present value; clients must "
                     f"leave {key} out of the tf.Example instead of sending {value!r}")
    return risks


def _pair(raw: SignatureSpec, parsing: SignatureSpec, *, explicit: bool = False) -> SignaturePair:
    return SignaturePair(raw.key, parsing.key, tuple(sorted(set(raw.outputs) & set(parsing.outputs))), explicit)


def pairing(sigs: Iterable[SignatureSpec], *, same: Mapping[str, str] | None = None,
            explicit: Iterable[SignaturePair] = ()) -> Pairing:
    """Pairs among ``sigs`` (the signatures checked) by the rule; ``explicit`` pairs replace the rule's choice for
    their parsing signatures."""
    sigs = sorted(sigs, key=lambda s: s.key)
    chosen = list(dict.fromkeys(explicit))
    named = {p.parsing for p in chosen}
    raws = [s for s in sigs if s.parse_spec is None]
    unpaired: dict[str, str] = {}
    for p in sigs:
        if p.parse_spec is None or p.key in named:
            continue
        fits = [r for r in raws if pair_problem(r, p) is None]
        if fits:
            best = min(fits, key=lambda r: (-len(set(r.outputs) & set(p.outputs)), r.key))
            chosen.append(_pair(best, p))
            continue
        why = [f"{r.key}: {pair_problem(r, p)}" for r in raws[:3]]
        more = f"; and {len(raws) - 3} more" if len(raws) > 3 else ""
        unpaired[p.key] = "; ".join(why) + more if why else "no raw signature"
    chosen.sort(key=lambda x: (x.raw, x.parsing))
    return Pairing(dict(same or {}), tuple(chosen), unpaired)


def explicit_pair(text: str, model: str, raw: str, parsing: str, sigs: Mapping[str, SignatureSpec]) -> SignaturePair:
    """A ``--savedmodel-pair`` checked against ``model``'s signatures (a usage error naming what is wrong)."""
    for key, role in ((raw, "raw"), (parsing, "parsing")):
        if key not in sigs:
            close = difflib.get_close_matches(key, list(sigs), n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise UsageError(f"{text}: model {model!r} has no signature {key!r} (the {role} side).{hint} "
                             f"Signatures: {', '.join(sorted(sigs)) or '(none)'}")
    r, p = sigs[raw], sigs[parsing]
    if p.parse_spec is None:
        parsers = sorted(k for k, s in sigs.items() if s.parse_spec is not None)
        raise UsageError(f"{text}: signature {parsing!r} of model {model!r} has no tf.Example parse spec (the right "
                         f"side must parse tf.Examples). Parsing signatures: {', '.join(parsers) or '(none)'}")
    problem = pair_problem(r, p, explicit=True)
    if problem is not None:
        raise UsageError(f"{text}: {raw!r} and {parsing!r} of model {model!r} cannot be compared: {problem}. "
                         f"A raw~parsing pair feeds the raw inputs as tf.Example features of the same names and "
                         f"compares the outputs of the same names")
    return _pair(r, p, explicit=True)
