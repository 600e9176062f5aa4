"""Typed results: what one check saw, serialised once for pytest-xdist and JUnit and read back typed.

The planner knows what an item is (model, signature, check, pair); the check
adds what it saw (examples, the largest deviation per output, notes, contract
changes, the counterexample file). The summary, the report files and the
baseline movers read these fields, never node ids.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, fields
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pytest_savedmodel.compare import ParityResult
    from pytest_savedmodel.spec import Features

__all__ = ["PROPERTY", "CheckResult"]

#: The user property an item's result travels in (JSON).
PROPERTY = "savedmodel.result"


def _num(x: float) -> float | str:
    return x if math.isfinite(x) else str(x)


@dataclass
class CheckResult:
    """One generated item's identity (from the plan) and what its check saw."""

    check: str = ""
    item: str = ""  # the item's name: "finite", "parity[raw~grpc]"
    nodeid: str = ""
    model: str = ""
    version: int | None = None
    signature: str = ""
    pair: str = ""  # "raw~grpc": the two paths compared, left~right
    examples: int = 0
    max_abs: float = 0.0
    max_rel: float = 0.0
    worst_output: str = ""
    worst_rel: float = 0.0  # the largest relative error of ``worst_output`` (``max_rel`` is over every output)
    #: per output, every example's deviation (output, abs, rel), for plots; None for checks that compare nothing
    samples: list[tuple[str, float, float]] | None = None
    #: per output: the largest difference seen, both values and the inputs of the row that moved it most
    movers: dict[str, dict[str, Any]] = field(default_factory=dict)
    note: str = ""  # a one-line result for checks without a numeric deviation (latency, concurrency)
    figures: dict[str, float] = field(default_factory=dict)  # latency: cold_ms, p50_ms, p3_ms, ratio...
    changes: list[dict[str, Any]] | None = None  # contract items: every classified change
    counterexample: str = ""  # the .npz file a failing parity check saved its shrunk inputs to
    #: risks: worth a reviewer's look, not a defect by themselves (the item passes; --savedmodel-strict fails it)
    risks: list[str] = field(default_factory=list)
    #: movement items (and golden items that report): per output, rows moved, largest move, histogram
    movement: dict[str, Any] | None = None
    #: the TF Serving that answered this run's served paths, as the summary names it (read back under xdist,
    #: where the server runs in a worker)
    served_by: str = ""

    @property
    def left(self) -> str:
        return self.pair.partition("~")[0]

    @property
    def right(self) -> str:
        return self.pair.partition("~")[2]

    @property
    def export(self) -> str:
        """The export as the summary names it: ``iris``, ``iris:parsing``, ``iris:baseline``, ``iris:frozen``."""
        head = self.nodeid.split("::")[0]
        return head.removeprefix("savedmodel:") if head.startswith("savedmodel:") else self.model

    @property
    def compares(self) -> bool:
        """True when the check compared outputs (it has a worst deviation)."""
        return bool(self.worst_output)

    def observe(self, result: ParityResult, features: Features | None = None) -> None:
        """Fold one comparison into the figures: worst deviation, per-output movers, samples."""
        from pytest_savedmodel.compare import row_of

        for d in result.diffs:
            seen = self.movers.get(d.output, {}).get("max_abs", -1.0)
            if d.reason in ("", "values") and d.total and d.max_abs > seen:
                row = d.worst_index[0] if d.worst_index else 0
                self.movers[d.output] = {
                    "max_abs": d.max_abs, "max_rel": d.max_rel, "index": list(d.worst_index),
                    result.left: d.left_value, result.right: d.right_value,
                    "inputs": row_of(features, row) if features is not None else None,
                }
            if self.samples is not None and d.reason in ("", "values"):
                self.samples.append((d.output, d.max_abs, d.max_rel))
            if d.max_abs > self.max_abs or not self.worst_output:
                if d.output != self.worst_output:
                    self.worst_rel = 0.0
                self.max_abs, self.worst_output = max(self.max_abs, d.max_abs), d.output
            if d.output == self.worst_output:
                self.worst_rel = max(self.worst_rel, d.max_rel)
            self.max_rel = max(self.max_rel, d.max_rel)

    def ranked_movers(self) -> list[dict[str, Any]]:
        """Outputs that moved, largest first."""
        return [{"output": k, **v} for k, v in sorted(self.movers.items(), key=lambda kv: -kv[1]["max_abs"])
                if v["max_abs"] > 0]

    # ------------------------------------------------------------------ serialisation
    def to_json(self, *, max_samples: int = 500) -> str:
        data = asdict(self)
        data["max_abs"], data["max_rel"] = _num(self.max_abs), _num(self.max_rel)
        data["worst_rel"] = _num(self.worst_rel)
        if self.samples is not None:
            data["samples"] = [[o, _num(float(a)), _num(float(r))] for o, a, r in self.samples[:max_samples]]
        data["movers"] = self.ranked_movers()
        return json.dumps(data, default=str)

    @classmethod
    def from_json(cls, text: str) -> CheckResult:
        data = json.loads(text)
        known = {f.name for f in fields(cls)}
        data = {k: v for k, v in data.items() if k in known}
        for key in ("max_abs", "max_rel", "worst_rel"):
            data[key] = float(data.get(key, 0.0))
        if data.get("samples") is not None:
            data["samples"] = [(str(o), float(a), float(r)) for o, a, r in data["samples"]]
        data["movers"] = {m["output"]: {k: v for k, v in m.items() if k != "output"} for m in data.get("movers", [])}
        return cls(**data)

    def properties(self) -> list[tuple[str, str]]:
        """The ``savedmodel.*`` JUnit properties (one value per property, as strings)."""
        props = [("savedmodel.examples", str(self.examples))]
        if self.worst_output:
            props += [("savedmodel.max_abs", f"{self.max_abs:.6g}"), ("savedmodel.max_rel", f"{self.max_rel:.6g}"),
                      ("savedmodel.worst_output", self.worst_output)]
        if self.changes is not None:
            props.append(("savedmodel.changes", json.dumps(self.changes)))
        if self.note:
            props.append(("savedmodel.note", self.note))
        props += [(f"savedmodel.{k}", f"{v:.3f}") for k, v in sorted(self.figures.items())]
        if self.movers:
            props.append(("savedmodel.movers", json.dumps(self.ranked_movers(), default=str)))
        if self.counterexample:
            props.append(("savedmodel.counterexample", self.counterexample))
        if self.risks:
            props.append(("savedmodel.risks", json.dumps(self.risks)))
        if self.movement is not None:
            props.append(("savedmodel.movement", json.dumps(self.movement)))
        return props
