"""How far predictions moved between two models: a retrain against the model in production. Pure numpy.

A retrain is expected to move predictions; what a reviewer needs is how far and how often. Per output,
:class:`Movement` counts the rows compared, the rows that moved beyond a tolerance (for class ids and
other exact outputs: rows whose value changed), the largest move, and a histogram of each row's largest
move (float outputs) in decades. The ``movement`` check fills one per item; the summary, the JSON report
(key ``movement`` of each result) and the HTML report (a bar per bucket) read it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from pytest_savedmodel.compare import Tolerance
    from pytest_savedmodel.context import CheckContext
    from pytest_savedmodel.spec import Features

__all__ = ["BUCKETS", "Movement", "OutputMovement", "format_movement", "run_movement"]

#: upper edges of the histogram's buckets of a row's largest absolute move; the first bucket is "exactly 0"
_EDGES = (0.0, 1e-6, 1e-4, 1e-2, 1e-1, 1.0, 10.0)
#: bucket labels, in order (the last one: above 10, NaN where one side is finite included)
BUCKETS = ("0", "<=1e-6", "<=1e-4", "<=0.01", "<=0.1", "<=1", "<=10", ">10")


@dataclass
class OutputMovement:
    """One output's movement over every row compared."""

    rows: int = 0
    moved: int = 0  # rows beyond the tolerance (exact outputs: rows whose value changed)
    exact: bool = False  # class ids, strings, booleans: a row either changed or not
    max_abs: float = 0.0
    hist: list[int] = field(default_factory=lambda: [0] * len(BUCKETS))
    note: str = ""  # why the output was not compared (a changed shape or dtype: the contract item's finding)

    @property
    def share(self) -> float:
        return self.moved / self.rows if self.rows else 0.0

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"rows": self.rows, "moved": self.moved, "share": round(self.share, 6),
                               "exact": self.exact, "max_abs": self.max_abs if np.isfinite(self.max_abs) else "inf"}
        if not self.exact:
            out["histogram"] = dict(zip(BUCKETS, self.hist, strict=True))
        if self.note:
            out["note"] = self.note
        return out


def _kind(a: np.ndarray) -> str:
    if a.dtype.kind in "fc":
        return "float"
    return "exact"


def _rows(a: np.ndarray) -> np.ndarray:
    """``a`` as (rows, elements): the first dimension is the batch; a scalar is one row."""
    return a.reshape(1, -1) if a.ndim == 0 else a.reshape(a.shape[0], -1)


def row_moves(a: np.ndarray, b: np.ndarray, tol: Tolerance) -> tuple[np.ndarray, np.ndarray]:
    """Per row of two same-shaped outputs: (largest absolute move, moved beyond ``tol``).

    NaN on both sides is no move; NaN on one side is an infinite move. Exact outputs (integers,
    strings, booleans) move by their absolute difference where numeric, by 1 where not."""
    a2, b2 = _rows(np.asarray(a)), _rows(np.asarray(b))
    if a2.shape[1] == 0:
        return np.zeros(a2.shape[0]), np.zeros(a2.shape[0], dtype=bool)
    if _kind(a2) == "float" and _kind(b2) == "float":
        af, bf = a2.astype(np.float64), b2.astype(np.float64)
        with np.errstate(invalid="ignore", over="ignore"):
            diff = np.abs(af - bf)
            diff = np.where(np.isnan(af) & np.isnan(bf), 0.0, diff)
            diff = np.where(np.isinf(af) & np.isinf(bf) & (af == bf), 0.0, diff)
            diff = np.where(np.isnan(diff), np.inf, diff)
            beyond = diff > tol.atol + tol.rtol * np.abs(np.where(np.isfinite(bf), bf, 0.0))
        return np.asarray(diff.max(axis=1)), np.asarray(beyond.any(axis=1))
    if a2.dtype.kind in "OSU" or b2.dtype.kind in "OSU":
        changed = np.asarray([[x != y for x, y in zip(ra, rb, strict=True)] for ra, rb in zip(a2, b2, strict=True)],
                             dtype=bool).reshape(a2.shape)
        rows = np.asarray(changed.any(axis=1))
        return rows.astype(np.float64), rows
    with np.errstate(over="ignore"):
        diff = np.abs(a2.astype(np.float64) - b2.astype(np.float64))
    return np.asarray(diff.max(axis=1)), np.asarray((a2 != b2).any(axis=1))


class Movement:
    """Per-output movement, accumulated over batches (:meth:`add`)."""

    def __init__(self, tolerance: Tolerance) -> None:
        self.tolerance = tolerance
        self.outputs: dict[str, OutputMovement] = {}

    def add(self, left: Mapping[str, Any], right: Mapping[str, Any], outputs: list[str]) -> np.ndarray:
        """Fold one batch in; the indices of the rows that moved beyond the tolerance on any output."""
        moved_any: np.ndarray | None = None
        for name in outputs:
            a, b = np.asarray(left[name]), np.asarray(right[name])
            m = self.outputs.setdefault(name, OutputMovement())
            if a.shape != b.shape or (_kind(a) == "float") != (_kind(b) == "float"):
                m.note = (f"not compared: shape {a.shape} vs {b.shape}" if a.shape != b.shape
                          else f"not compared: dtype {a.dtype} vs {b.dtype}")
                continue
            m.exact = _kind(a) != "float"
            move, beyond = row_moves(a, b, self.tolerance)
            m.rows += int(move.shape[0])
            m.moved += int(beyond.sum())
            if move.size:
                m.max_abs = max(m.max_abs, float(move.max()))
            if not m.exact:
                bucket = np.searchsorted(np.asarray(_EDGES), move, side="left")  # 0: exactly 0; 7: above 10
                for i, n in zip(*np.unique(bucket, return_counts=True), strict=True):
                    m.hist[int(i)] += int(n)
            moved_any = beyond if moved_any is None else (moved_any | beyond if moved_any.shape == beyond.shape
                                                          else moved_any)
        return np.flatnonzero(moved_any) if moved_any is not None else np.zeros(0, dtype=int)

    @property
    def rows(self) -> int:
        return max((m.rows for m in self.outputs.values()), default=0)

    def worst_share(self) -> tuple[str, float]:
        """The output with the largest share of moved rows, and that share; decisions (class ids, labels: exact
        outputs) first, since a retrain moves every score a little and a changed decision is what users see."""
        if not self.outputs:
            return "", 0.0
        name = max(sorted(self.outputs), key=lambda k: (self.outputs[k].exact and self.outputs[k].moved > 0,
                                                        self.outputs[k].share))
        return name, self.outputs[name].share

    def to_dict(self) -> dict[str, Any]:
        return {"rtol": self.tolerance.rtol, "atol": self.tolerance.atol,
                "outputs": {k: m.to_dict() for k, m in sorted(self.outputs.items())}}

    def note(self) -> str:
        """One line for the summary: the output that moved most often."""
        name, share = self.worst_share()
        if not name:
            return "no output compared"
        m = self.outputs[name]
        if m.moved == 0:
            return f"{self.rows} rows: no output moved beyond tolerance"
        what = "changed" if m.exact else "moved"
        return f"{name}: {m.moved} of {m.rows} rows {what} ({share:.1%}), largest {m.max_abs:.3g}"


def format_movement(nodeid: str, movement: Mapping[str, Any]) -> list[str]:
    """The summary's block for one movement item (from :meth:`Movement.to_dict`, as results carry it)."""
    outs = movement.get("outputs", {})
    tol = f"rtol={movement.get('rtol')} atol={movement.get('atol')}"
    lines = [f"{nodeid}: how far predictions moved ({tol})"]
    for name, m in sorted(outs.items(), key=lambda kv: (-float(kv[1].get("share", 0)), kv[0])):
        if m.get("note"):
            lines.append(f"  {name}: {m['note']}")
            continue
        what = "changed" if m.get("exact") else "moved beyond tolerance"
        largest = m["max_abs"] if isinstance(m["max_abs"], str) else f"{float(m['max_abs']):.6g}"
        line = f"  {name}: {m['moved']} of {m['rows']} rows {what} ({float(m['share']):.1%}), largest move {largest}"
        hist = m.get("histogram")
        if hist:
            line += "; rows by largest move: " + " ".join(f"{k}:{v}" for k, v in hist.items() if v)
        lines.append(line)
    return lines


def run_movement(ctx: CheckContext) -> None:
    """Production (left) and the candidate (right) on the same generated rows: per output, the rows that moved
    beyond the baseline tolerance, the largest move and a histogram. A retrain moves predictions by design, so
    by default this reports and passes; with a baseline tolerance or budget set, it fails beyond them (with
    no budget, on the first moved row, shrunk like a parity failure)."""
    from pytest_savedmodel.compare import compare_outputs, format_mismatch
    from pytest_savedmodel.errors import ParityMismatch, RunnerError

    p, s = ctx.planned, ctx.settings
    assert p.left is not None and p.right is not None
    left, right = ctx.open(p.left), ctx.open(p.right)
    tolerance = s.baseline_tolerance()
    tally = Movement(tolerance)
    fail_fast = s.baseline_gates and not s.baseline_max_moved  # a tolerance and no budget: any moved row fails

    def body(features: Features) -> None:
        try:
            a, b = left.predict(features), right.predict(features)
        except RunnerError as exc:
            raise ctx.served(exc) from None
        common = sorted(set(a) & set(b))
        tally.add(a, b, common)
        result = compare_outputs(a, b, names=(left.name, right.name), tolerance=tolerance, outputs=common)
        ctx.result.observe(result, features)
        if fail_fast and not result.ok:
            worst = result.worst
            raise ParityMismatch(format_mismatch(result, features, context=f"signature {right.signature.key!r}"),
                                 runners=(left.name, right.name), output=worst.output if worst else None,
                                 result=result, features=features, left_runner=left, right_runner=right)

    sig = ctx.generation_signature(ctx.draw)
    try:
        ctx.prove(body, ctx.strategy(sig), sweep=sig)
    finally:
        ctx.result.movement = tally.to_dict()
        ctx.result.note = tally.note()
    over = {k: (m, budget) for k, m in sorted(tally.outputs.items())
            if (budget := s.max_moved(k)) is not None and m.share > budget}
    if over:
        lines = [f"  {k}: {m.moved} of {m.rows} rows {'changed' if m.exact else 'moved'} ({m.share:.1%}), the budget "
                 f"is {budget:.1%}; largest move {m.max_abs:.6g}" for k, (m, budget) in over.items()]
        raise ParityMismatch(
            f"predictions moved from the baseline beyond --savedmodel-baseline-max-moved (tolerance rtol="
            f"{tolerance.rtol} atol={tolerance.atol}, {tally.rows} generated rows):\n" + "\n".join(lines),
            runners=(left.name, right.name), output=max(over, key=lambda k: over[k][0].share))
