"""Out-of-domain behaviour: what a model does with a value just outside what its graph accepts.

Generation stays inside the graph's domains (an embedding's rows, a closed vocabulary: see
:mod:`pytest_savedmodel._domains`), so the other checks never feed an id the model cannot take. Clients
can, though. The ``domain`` item probes each bounded input with values just outside: the table size and
-1 for an integer range, an unseen key for a vocabulary. Each probe either is **rejected** (the call
fails: TF Serving answers INVALID_ARGUMENT) or **answered** (an OOV bucket, a zero one-hot row, or a
silent wrong lookup: the probe cannot tell them apart, so it says "answered").

``--savedmodel-domain``: ``report`` (default) lists the behaviour and passes; ``reject`` fails when an
out-of-domain value is answered (the model must refuse what it was not built for); ``accept`` fails when
one is rejected (a serving team that wants no request to error).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from pytest_savedmodel.errors import ModelCheckFailure, SavedModelError
from pytest_savedmodel.runners.base import Runner
from pytest_savedmodel.spec import Domain, Features, SignatureSpec

__all__ = ["POLICIES", "Probe", "check_policy", "probe_domains"]

POLICIES = ("report", "reject", "accept")
OOV_STRING = b"__oov__"


@dataclass(frozen=True)
class Probe:
    """One out-of-domain value fed to one input, and what the model did."""

    alias: str
    value: Any
    rejected: bool
    detail: str  # the model's reason when rejected, else a short view of the answer

    def describe(self) -> str:
        verdict = f"rejected ({self.detail})" if self.rejected else "answered"
        return f"{self.alias}={self.value!r}: {verdict}"


def _outside(domain: Domain, numeric: bool) -> list[Any]:
    if domain.values:
        if numeric:
            ints = [int(v) for v in domain.values if isinstance(v, int)]
            return [max(ints) + 1] if ints else []
        return [OOV_STRING]
    if domain.min_value is not None and domain.max_value is not None:
        return [int(domain.max_value) + 1, int(domain.min_value) - 1]
    return []


def probe_domains(runner: Runner, sig: SignatureSpec, base: Features) -> list[Probe]:
    """Feed ``base`` (one row, inside every domain) with one input at a time set just outside its domain."""
    probes = []
    for alias, domain in sorted(sig.domains.items()):
        spec = sig.inputs.get(alias)
        if spec is None or alias not in base:
            continue
        for value in _outside(domain, not spec.dtype.is_string):
            row = dict(base)
            arr = np.array(base[alias], copy=True)
            if spec.dtype.is_string:
                arr = arr.astype(object)
                arr[...] = value
            else:
                info = np.iinfo(arr.dtype) if arr.dtype.kind in "iu" else None
                if info is not None and not info.min <= value <= info.max:
                    continue  # not representable: a client cannot send it either
                arr[...] = value
            row[alias] = arr
            try:
                out = runner.predict(row)
            except SavedModelError as exc:
                reason = getattr(exc, "reason", "") or str(exc).splitlines()[0]
                probes.append(Probe(alias, value.decode() if isinstance(value, bytes) else value, True,
                                    reason[:160]))
                continue
            shown = ", ".join(f"{k}={np.asarray(v).ravel()[:3].tolist()}" for k, v in sorted(out.items()))
            probes.append(Probe(alias, value.decode() if isinstance(value, bytes) else value, False, shown[:160]))
    return probes


def check_policy(label: str, sig: SignatureSpec, probes: list[Probe], policy: str) -> str:
    """The item's note (which values were rejected, which answered); a finding when ``policy`` is ``reject`` or
    ``accept`` and a probe went the other way (with the model's reasons)."""
    rejected = ", ".join(f"{p.alias}={p.value!r}" for p in probes if p.rejected)
    answered = ", ".join(f"{p.alias}={p.value!r}" for p in probes if not p.rejected)
    note = "; ".join(part for part in (f"rejected {rejected}" if rejected else "",
                                       f"answered {answered}" if answered else "") if part)
    note = note or "no input has a domain the graph bounds"
    bad = [p for p in probes if (policy == "reject" and not p.rejected) or (policy == "accept" and p.rejected)]
    if bad:
        want = "reject" if policy == "reject" else "answer"
        raise ModelCheckFailure(
            f"{label} signature {sig.key!r} does not {want} every value outside its inputs' domains "
            f"(--savedmodel-domain={policy}):\n" + "\n".join(
                f"  {p.describe()} (domain: {sig.domains[p.alias].describe()})" for p in bad),
            signature=sig.key)
    return note
