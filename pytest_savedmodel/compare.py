"""Dtype-aware comparison of runner outputs. Pure numpy; no TensorFlow.

Integers, bools and strings must be equal; floats (and complex) must satisfy
``|a - b| <= atol + rtol * |b|`` elementwise, NaN equal to NaN in the same
place. The relative error reported is ``|a - b| / max(|a|, |b|)``. A mismatch
names both runners, the output, the max abs/rel error, the worst element, its
row and that row's inputs.

A served Classify/Regress answer is compared with the in-process output as TF
Serving would answer it (:func:`served_answer`): Regress gives one value per
example, so an in-process ``[N, 1]`` output is compared as ``[N]``; an output
TF Serving refuses is a :class:`ServedRejection` quoting TF Serving's words.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from pytest_savedmodel.errors import ContractViolation, ParityMismatch, RunnerError
from pytest_savedmodel.serving.shape_rules import Rejection, classification_answer, regression_answer, shape_text
from pytest_savedmodel.spec import Features, Outputs, dtype_by_name
from pytest_savedmodel.tfexample import rows_of

__all__ = ["OutputDiff", "ParityResult", "ServedRejection", "Tolerance", "assert_parity", "compare_outputs",
           "format_mismatch", "row_of", "served_answer"]


@dataclass(frozen=True)
class Tolerance:
    """Float tolerance: ``|a - b| <= atol + rtol * |b|``."""

    rtol: float = 1e-4
    atol: float = 1e-5

    def __str__(self) -> str:
        return f"rtol={self.rtol:g}, atol={self.atol:g}"


@dataclass(frozen=True)
class OutputDiff:
    """How one output differs between two runners."""

    output: str
    ok: bool
    reason: str = ""  # "" | "shape" | "dtype" | "values" | "missing"
    max_abs: float = 0.0
    max_rel: float = 0.0
    worst_index: tuple[int, ...] = ()
    left_value: object = None
    right_value: object = None
    mismatched: int = 0
    total: int = 0


@dataclass(frozen=True)
class ParityResult:
    """Comparison of two runners' outputs on one feature dict."""

    left: str
    right: str
    diffs: tuple[OutputDiff, ...]
    tolerance: Tolerance = field(default_factory=Tolerance)

    @property
    def ok(self) -> bool:
        return all(d.ok for d in self.diffs)

    @property
    def worst(self) -> OutputDiff | None:
        bad = [d for d in self.diffs if not d.ok] or list(self.diffs)
        return max(bad, key=lambda d: (not d.ok, d.max_abs), default=None)


def _kind(a: np.ndarray) -> str:
    if a.dtype.kind in "fc":
        return "float"
    if a.dtype.kind in "OSU":
        return "string"
    return "exact"


def _as_bytes(a: np.ndarray) -> np.ndarray:
    flat = [v.encode() if isinstance(v, str) else v for v in a.reshape(-1)]
    out = np.empty(len(flat), dtype=object)
    out[:] = flat
    return out.reshape(a.shape)


def _compare_one(name: str, a: np.ndarray, b: np.ndarray, tol: Tolerance) -> OutputDiff:
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        return OutputDiff(name, False, "shape", left_value=a.shape, right_value=b.shape, total=max(a.size, b.size))
    if _kind(a) != _kind(b):
        return OutputDiff(name, False, "dtype", left_value=str(a.dtype), right_value=str(b.dtype), total=a.size)
    if a.size == 0:
        return OutputDiff(name, True, total=0)
    kind = _kind(a)
    if kind == "float":
        af, bf = a.astype(np.complex128 if a.dtype.kind == "c" else np.float64), b.astype(
            np.complex128 if b.dtype.kind == "c" else np.float64
        )
        both_nan = np.isnan(af) & np.isnan(bf)
        same_inf = np.isinf(af) & np.isinf(bf) & (af == bf)
        with np.errstate(invalid="ignore", over="ignore"):
            diff = np.abs(af - bf)
            diff = np.where(both_nan | same_inf, 0.0, diff)
            diff = np.where(np.isnan(diff), np.inf, diff)
            allowed = tol.atol + tol.rtol * np.abs(np.where(np.isfinite(bf), bf, 0))
            bad = diff > allowed
            scale = np.maximum(np.abs(np.where(np.isfinite(af), af, 0)), np.abs(np.where(np.isfinite(bf), bf, 0)))
            rel = np.where(diff == 0, 0.0, diff / np.where(scale == 0, 1.0, scale))
        # the element that breaks the tolerance most (or, when all pass, the largest difference)
        excess = np.where(np.isinf(diff), np.inf, diff - allowed) if bad.any() else diff
        idx = np.unravel_index(int(np.argmax(excess)), diff.shape) if diff.size else ()
        return OutputDiff(
            name,
            not bool(bad.any()),
            "values" if bad.any() else "",
            max_abs=float(np.max(diff)),
            max_rel=float(np.max(rel)),
            worst_index=tuple(int(i) for i in idx),
            left_value=a[idx].item() if idx else a.item(),
            right_value=b[idx].item() if idx else b.item(),
            mismatched=int(bad.sum()),
            total=int(a.size),
        )
    if kind == "string":
        a, b = _as_bytes(a), _as_bytes(b)
    neq = a != b
    if not np.any(neq):
        return OutputDiff(name, True, total=int(a.size))
    first = np.unravel_index(int(np.argmax(neq.reshape(-1))), a.shape) if a.ndim else ()
    la, lb = (a[first], b[first]) if first else (a.item(), b.item())
    la, lb = (v.item() if isinstance(v, np.generic) and kind == "exact" else v for v in (la, lb))
    abs_err = 0.0
    if kind == "exact" and a.dtype.kind in "iub":
        with np.errstate(over="ignore"):
            abs_err = float(np.max(np.abs(a.astype(np.float64) - b.astype(np.float64))))
    return OutputDiff(
        name, False, "values", max_abs=abs_err, max_rel=float("inf") if kind == "string" else 0.0,
        worst_index=tuple(int(i) for i in first), left_value=la, right_value=lb,
        mismatched=int(np.sum(neq)), total=int(a.size),
    )


def compare_outputs(
    left: Outputs,
    right: Outputs,
    *,
    names: tuple[str, str] = ("left", "right"),
    tolerance: Tolerance | Mapping[str, Tolerance] | None = None,
    outputs: list[str] | None = None,
) -> ParityResult:
    """Compare two output dicts, output by output.

    Args:
        left, right: outputs of two runners.
        names: the runners' names for messages.
        tolerance: one :class:`Tolerance`, or one per output name (missing names use the default).
        outputs: compare only these; default: the outputs both sides have (an output only one
            side has is reported as missing when ``outputs`` names it).
    """
    # duck-typed: a Tolerance from another import of this module (pytester re-imports) must still count
    is_one = tolerance is not None and hasattr(tolerance, "rtol") and hasattr(tolerance, "atol")
    default = Tolerance(tolerance.rtol, tolerance.atol) if is_one else Tolerance()  # type: ignore[union-attr]
    per = tolerance if isinstance(tolerance, Mapping) else {}
    keys = outputs if outputs is not None else sorted(set(left) & set(right))
    diffs = []
    for k in keys:
        if k not in left or k not in right:
            where = names[0] if k not in left else names[1]
            diffs.append(OutputDiff(k, False, "missing", left_value=where))
            continue
        diffs.append(_compare_one(k, left[k], right[k], per.get(k, default)))
    return ParityResult(names[0], names[1], tuple(diffs), default)


def row_of(features: Features, row: int) -> dict[str, object]:
    """The inputs of one batch row, as plain Python values (for messages)."""
    out: dict[str, object] = {}
    for k, v in sorted(features.items()):
        arr = np.asarray(v, dtype=object) if not isinstance(v, np.ndarray) else v
        if arr.ndim and row < arr.shape[0]:
            item = arr[row]
            out[k] = item.tolist() if isinstance(item, np.ndarray) else (item.item() if hasattr(item, "item") else item)
        else:
            out[k] = arr.tolist()
    return out


def format_mismatch(result: ParityResult, features: Features | None = None, *, context: str = "") -> str:
    """The assertion text for a failed :class:`ParityResult`."""
    lines = [f"{result.left} and {result.right} disagree{f' ({context})' if context else ''}:"]
    for d in result.diffs:
        if d.ok:
            continue
        if d.reason == "missing":
            lines.append(f"  output {d.output!r}: missing from {d.left_value}")
        elif d.reason in ("shape", "dtype"):
            lines.append(f"  output {d.output!r}: {d.reason} {d.left_value} ({result.left}) vs {d.right_value} "
                         f"({result.right})")
        else:
            lines.append(
                f"  output {d.output!r}: {d.mismatched} of {d.total} elements differ; "
                f"max abs error {d.max_abs:.6g}, max rel error {d.max_rel:.6g} ({result.tolerance}); "
                f"worst element at index {list(d.worst_index)}: {result.left}={d.left_value!r} "
                f"{result.right}={d.right_value!r}"
            )
            if features and d.worst_index:
                lines.append(f"    inputs of row {d.worst_index[0]}: {row_of(features, d.worst_index[0])}")
    return "\n".join(lines)


def assert_parity(
    left: Outputs,
    right: Outputs,
    *,
    names: tuple[str, str] = ("left", "right"),
    features: Features | None = None,
    rtol: float = 1e-4,
    atol: float = 1e-5,
    tolerances: Mapping[str, Tolerance] | None = None,
    outputs: list[str] | None = None,
    context: str = "",
) -> ParityResult:
    """Assert two runners' outputs agree; raise :class:`ParityMismatch` naming what differs.

    Example:
        >>> features = {"x": np.array([1.0, 2.0], np.float32)}
        >>> assert_parity(raw.predict(features), grpc.predict(features),
        ...               names=("raw", "grpc"), features=features, rtol=1e-6)
    """
    __tracebackhide__ = True
    tol: Tolerance | Mapping[str, Tolerance] = Tolerance(rtol, atol)
    if tolerances:
        tol = {**{k: Tolerance(rtol, atol) for k in set(left) | set(right)}, **tolerances}
    result = compare_outputs(left, right, names=names, tolerance=tol, outputs=outputs)
    if isinstance(tol, Mapping):
        result = ParityResult(result.left, result.right, result.diffs, Tolerance(rtol, atol))
    if not result.ok:
        worst = result.worst
        raise ParityMismatch(
            format_mismatch(result, features, context=context),
            runners=names,
            output=worst.output if worst else None,
            max_abs=worst.max_abs if worst else None,
            max_rel=worst.max_rel if worst else None,
            result=result,
            features=features,
        )
    return result


class ServedRejection(ContractViolation, RunnerError):
    """A finding: TF Serving's Classify/Regress would refuse what the signature outputs (quoted in the message).

    It is also a :class:`~pytest_savedmodel.errors.RunnerError` whose ``reason`` is TF Serving's one-line
    answer, so the session reports it once per signature, as when the server itself answers it: the other
    served path's item is skipped naming the first ("one cause, one red").
    """

    def __init__(self, message: str, *, runner: str, signature: str, output: str, reason: str) -> None:
        ContractViolation.__init__(self, message, signature=signature, output=output)
        self.runner, self.signature, self.reason = runner, signature, reason


def served_answer(method: str, outputs: Outputs, features: Features, *, runner: str = "",
                  signature: str = "") -> Outputs:
    """``outputs`` of an in-process call as TF Serving's Classify/Regress answers them for the tf.Examples of
    ``features`` (see :mod:`pytest_savedmodel.serving.shape_rules`); ``predict``: ``outputs`` unchanged.

    Regress: ``outputs`` becomes ``[N]`` float32 (from ``[N]`` or ``[N, 1]``). Classify: ``classes`` and
    ``scores`` stay ``[N, num_classes]``, labels as bytes.

    Raises:
        ServedRejection: TF Serving would answer INVALID_ARGUMENT; the message quotes it.
    """
    if method not in ("classify", "regress"):
        return outputs
    n = rows_of(features)
    out = dict(outputs)
    try:
        if method == "regress":
            if "outputs" in out:
                out["outputs"] = regression_answer(out["outputs"], n)
        elif "classes" in out or "scores" in out:
            labels, scores = classification_answer(out.get("classes"), out.get("scores"), n)
            if labels is not None:
                out["classes"] = labels
            if scores is not None:
                out["scores"] = scores
    except Rejection as exc:
        api = "Regress" if method == "regress" else "Classify"
        shown = ", ".join(f"{k!r} {_dtype_word(np.asarray(v))} {shape_text(np.shape(v))}"
                          for k, v in sorted(outputs.items()) if k in ("outputs", "classes", "scores"))
        raise ServedRejection(
            f"signature {signature!r} cannot be served by TF Serving's {api} API: on {n} tf.Example(s) the "
            f"{runner or 'in-process'} call outputs {shown}, and TF Serving answers INVALID_ARGUMENT "
            f"\"{exc.message}\" (tensorflow_serving/servables/tensorflow/{exc.source})",
            runner=runner, signature=signature, output=exc.output, reason=exc.message) from None
    return out


def _dtype_word(a: np.ndarray) -> str:
    if a.dtype.kind in "OSU":
        return "string"
    try:
        return dtype_by_name(a.dtype).name
    except ValueError:
        return str(a.dtype)
