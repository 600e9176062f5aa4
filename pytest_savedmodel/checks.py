"""The automatic model checks, as plain functions over runners. No pytest here.

Static checks look at specs only; dynamic checks draw feature dicts with
Hypothesis (so settings, profiles, seeds and shrinking apply) and raise a
:class:`~pytest_savedmodel.errors.Finding` when the model misbehaves.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from pytest_savedmodel.compare import Tolerance, compare_outputs, format_mismatch, row_of, served_answer
from pytest_savedmodel.errors import (
    ContractViolation,
    ModelCheckFailure,
    OutOfMemory,
    ParityMismatch,
    RunnerError,
    Unrunnable,
)
from pytest_savedmodel.results import CheckResult
from pytest_savedmodel.runners.base import Runner, batches
from pytest_savedmodel.spec import Features, Outputs, SignatureSpec, TensorSpec, format_shape

__all__ = [
    "Stats",
    "check_batch_invariance",
    "check_determinism",
    "check_finite",
    "check_outputs_match",
    "check_pair_spec",
    "check_parity",
    "check_signature_graph",
    "concretize",
    "run_property",
]


#: The figures a check collects (kept under its former name).
Stats = CheckResult


# --------------------------------------------------------------------------- static checks


def check_signature_graph(model: str, sig: SignatureSpec) -> None:
    """The dtypes a signature declares for its inputs are the dtypes of the graph tensors it feeds."""
    problems = []
    for alias, declared in sorted(sig.inputs.items()):
        fed = sig.graph_dtypes.get(alias)
        if fed is not None and fed != declared.dtype:
            problems.append(
                f"  input {alias!r} is declared {declared.dtype.name} but feeds graph tensor "
                f"{declared.tensor_name!r}, a {fed.name} placeholder"
            )
        if not declared.dtype.is_data:
            problems.append(f"  input {alias!r} has dtype {declared.dtype.name}, which no client can send")
    if problems:
        raise ContractViolation(
            f"{model} signature {sig.key!r}: the SignatureDef disagrees with its graph; a client that follows "
            f"the signature sends the wrong type:\n" + "\n".join(problems),
            signature=sig.key,
        )


def check_pair_spec(
    raw: SignatureSpec,
    parsing: SignatureSpec,
    *,
    names: tuple[str, str] = ("raw", "parsing"),
    training_defaults: Mapping[str, Any] | None = None,
) -> list[str]:
    """The parse spec of ``parsing`` agrees with the raw signature it should reproduce; returns its risks.

    Every raw input has a feature of the same name and a compatible dtype, and no feature gets a default
    other than the declared training default (a defect). A default where training declares none is a
    risk, not a defect: a client that leaves the feature out gets it, and whether training would have
    given the same value is not known here.
    """
    assert parsing.parse_spec is not None
    ps = parsing.parse_spec
    problems = []
    keys = set(ps.keys)
    for alias, spec in sorted(raw.inputs.items()):
        if alias not in keys:
            problems.append(f"  feature {alias!r}: a {names[0]} input, but the parse spec has no such key "
                            f"(parse spec keys: {', '.join(sorted(keys)) or '(none)'})")
            continue
        feat = ps.feature(alias)
        want = spec.dtype
        if (want.is_float and not feat.dtype.is_float) or (want.is_integer and not feat.dtype.is_integer) or (
            want.is_string != feat.dtype.is_string
        ):
            problems.append(f"  feature {alias!r}: parsed as {feat.dtype.name} but the {names[0]} input is "
                            f"{want.name} (values are converted on the way: a float feature parsed as int64 "
                            f"loses its fraction)")
    declared = dict(training_defaults or {})
    risks = []
    for feat in ps.features:
        if feat.kind != "fixed" or feat.default is None or feat.key not in raw.inputs:
            continue
        if feat.key not in declared:
            risks.append(
                f"feature {feat.key!r}: {names[1]} signature {parsing.key!r} fills a missing value with "
                f"{list(feat.default)!r}, and training declares no default for it; declare the training default "
                f"with --savedmodel-training-default={feat.key}=VALUE to check it"
            )
            continue
        want_default = np.asarray(declared[feat.key], dtype=np.float64 if feat.dtype.is_float else object).reshape(-1)
        got = np.asarray(feat.default, dtype=want_default.dtype).reshape(-1)
        if want_default.shape != got.shape or not np.all(want_default == got):
            problems.append(f"  feature {feat.key!r}: parse-spec default {list(feat.default)!r} differs from the "
                            f"training default {want_default.tolist()!r}")
    if problems:
        raise ContractViolation(
            f"the tf.Example parse spec of {names[1]} signature {parsing.key!r} disagrees with {names[0]} "
            f"signature {raw.key!r}:\n" + "\n".join(problems),
            signature=parsing.key,
        )
    return risks


def concretize(sig: SignatureSpec, shapes: Mapping[str, tuple[int | None, ...]]) -> SignatureSpec:
    """A copy of ``sig`` whose unknown-rank inputs take the probed ``shapes``."""
    inputs = {a: replace(t, shape=shapes[a]) if a in shapes else t for a, t in sig.inputs.items()}
    return replace(sig, inputs=inputs)


# --------------------------------------------------------------------------- dynamic checks


def run_property(
    body: Callable[[Features], None],
    strategy: Any,
    *,
    digest: str,
    max_examples: int | None = None,
    stats: Stats | None = None,
    database: Any = None,
    home: Any = None,
    seed: int | None = None,
    examples: Sequence[Features] = (),
    bulk: Iterable[Features] = (),
) -> None:
    """Run ``body`` on feature dicts drawn from ``strategy`` under the active Hypothesis profile, then on each
    batch of ``examples`` (the sweep) and of ``bulk`` (many rows per call, :mod:`pytest_savedmodel.bulk`).

    ``digest`` keeps Hypothesis's example database apart between checks that
    share this helper (it is mixed into the test's identity). ``database`` is the
    example database to use (None: none, so nothing is written); ``home`` is the
    directory Hypothesis may write its other files to (its default is ``./.hypothesis``).
    """
    from hypothesis import HealthCheck, given, settings

    from pytest_savedmodel.bulk import BulkState, check_chunk, run_batch

    hung: list[Unrunnable | OutOfMemory] = []

    @given(features=strategy)
    def check(features: Features) -> None:
        # A call that timed out or ran out of memory is reported with its input as drawn: shrinking would
        # wait out the deadline (or exhaust memory) again for every candidate; the other examples are passed over.
        if hung:
            return
        if stats is not None:
            stats.examples += 1
        try:
            body(features)
        except (Unrunnable, OutOfMemory) as exc:
            hung.append(exc)

    check.hypothesis.inner_test._hypothesis_internal_add_digest = digest.encode()  # type: ignore[attr-defined]
    overrides: dict[str, Any] = {
        "database": database,
        "deadline": None,
        "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
        # the explain phase points at lines inside this plugin, not at anything the user can act on
        "phases": tuple(p for p in settings().phases if p.name != "explain"),
    }
    if max_examples is not None:
        overrides["max_examples"] = max_examples
    test = settings(parent=settings.default, **overrides)(check)
    if seed is not None:
        from hypothesis import seed as with_seed

        test = with_seed(seed)(test)
    if home is None:
        test()
    else:
        import hypothesis.configuration as hc

        previous = hc.__dict__.get("__hypothesis_home_directory")  # None: Hypothesis's default, ./.hypothesis
        hc.set_hypothesis_home_dir(home)
        try:
            test()
        finally:
            hc.set_hypothesis_home_dir(previous)
    if hung:
        raise hung[0]
    for batch in examples:  # after the generated ones, which shrink well (a sweep: see pytest_savedmodel.sweep)
        if stats is not None:
            stats.examples += 1
        run_batch(body, batch)
    state = BulkState()
    for chunk in bulk:  # rows by the thousand, a few calls (the bulk phase: see pytest_savedmodel.bulk)
        if stats is not None:
            stats.examples += len(next(iter(chunk.values())))
        check_chunk(body, chunk, state)
    if state.risk and stats is not None and hasattr(stats, "risks"):
        stats.risks.append(state.risk)


def _shape_ok(declared: tuple[int | None, ...] | None, got: tuple[int, ...]) -> bool:
    if declared is None:
        return True
    return len(declared) == len(got) and all(d is None or d == g for d, g in zip(declared, got, strict=True))


def check_outputs_match(model: str, sig: SignatureSpec, outputs: Outputs, features: Features) -> None:
    """Every declared output is present with the declared dtype and a compatible shape."""
    problems = []
    for alias, spec in sorted(sig.outputs.items()):
        if alias not in outputs:
            problems.append(f"  output {alias!r}: missing (got {sorted(outputs)})")
            continue
        arr = outputs[alias]
        if spec.encoding == "dense" and not _shape_ok(spec.shape, arr.shape):
            problems.append(f"  output {alias!r}: declared shape {format_shape(spec.shape)}, got "
                            f"{format_shape(arr.shape)}")
        got_kind = "string" if arr.dtype.kind in "OSU" else arr.dtype.name
        want_kind = "string" if spec.dtype.is_string else (spec.dtype.numpy or spec.dtype.name)
        if got_kind != want_kind:
            problems.append(f"  output {alias!r}: declared {spec.dtype.name}, got {arr.dtype}")
    if problems:
        raise ContractViolation(
            f"{model} signature {sig.key!r}: outputs differ from the signature on inputs "
            f"{_summary(features)}:\n" + "\n".join(problems),
            signature=sig.key,
        )


def _summary(features: Features) -> str:
    return "{" + ", ".join(f"{k}: {np.asarray(v).dtype}{list(np.shape(v))}" for k, v in sorted(features.items())) + "}"


def check_finite(model: str, sig: SignatureSpec, outputs: Outputs, features: Features) -> None:
    """Float outputs hold no NaN or infinity for finite inputs."""
    for alias, arr in sorted(outputs.items()):
        if arr.dtype.kind not in "fc" or np.all(np.isfinite(arr)):
            continue
        bad = ~np.isfinite(arr)
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        row = idx[0] if idx and arr.ndim > 0 else 0
        raise ModelCheckFailure(
            f"{model} signature {sig.key!r}: output {alias!r} is not finite: {int(bad.sum())} of {arr.size} "
            f"values are NaN or infinite (first at index {list(idx)}: {(arr[idx] if idx else arr).item()!r}).\n"
            f"  inputs of row {row}: {row_of(features, row)}",
            signature=sig.key,
            output=alias,
        )


#: True when every input and output has a leading unknown (batch) dimension (stated once, in runners.base).
supports_batching = batches


def _take(features: Features, rows: list[int]) -> Features:
    return {k: np.asarray(v)[rows] for k, v in features.items()}


def _scale_tolerance(values: np.ndarray, tolerance: Tolerance) -> Tolerance:
    """Batch size changes which kernels and summation order run, so float noise scales with the output's
    magnitude across the batch, not with each element: near-zero elements of a large output get an absolute
    allowance of ``rtol * max|output|``. A real batch dependence moves values by their own size and still fails."""
    if values.dtype.kind not in "fc" or values.size == 0:
        return tolerance
    finite = np.abs(values[np.isfinite(values)])
    peak = float(finite.max()) if finite.size else 0.0
    return Tolerance(tolerance.rtol, max(tolerance.atol, tolerance.rtol * peak))


def check_batch_invariance(model: str, runner: Runner, features: Features, tolerance: Tolerance) -> None:
    """Each row's output alone equals its output inside the batch (and in reversed order)."""
    batch = runner.predict(features)
    n = len(next(iter(features.values())))
    order = list(range(n))[::-1]
    scaled = {k: _scale_tolerance(np.asarray(v), tolerance) for k, v in batch.items()}
    for label, rows in [("the batch reversed", order)] + [(f"row {i} alone", [i]) for i in range(n)]:
        part = runner.predict(_take(features, rows))
        expected = {k: np.asarray(v)[rows] for k, v in batch.items() if np.ndim(v) >= 1}
        result = compare_outputs(expected, part, names=("in batch", label), tolerance=scaled)
        if not result.ok:
            raise ModelCheckFailure(
                f"{model} signature {runner.signature.key!r}: outputs depend on the rest of the batch "
                f"(batch of {n}).\n" + format_mismatch(result, _take(features, rows),
                                                       context=f"{runner.name} runner"),
                signature=runner.signature.key,
                output=result.worst.output if result.worst else None,
            )


def check_determinism(model: str, runner: Runner, features: Features, tolerance: Tolerance) -> None:
    """The same inputs twice give the same outputs."""
    first = runner.predict(features)
    second = runner.predict(features)
    result = compare_outputs(first, second, names=("first call", "second call"), tolerance=tolerance)
    if not result.ok:
        raise ModelCheckFailure(
            f"{model} signature {runner.signature.key!r}: the same inputs gave different outputs on two calls "
            f"(random ops, dropout left on, or state changed by the call).\n"
            + format_mismatch(result, features, context=f"{runner.name} runner"),
            signature=runner.signature.key,
            output=result.worst.output if result.worst else None,
        )


def check_parity(
    left: Runner,
    right: Runner,
    features: Features,
    *,
    tolerance: Tolerance,
    left_features: Features | None = None,
    outputs: list[str] | None = None,
    stats: Stats | None = None,
) -> None:
    """Both runners agree on every output they share."""
    __tracebackhide__ = True
    a = left.predict(left_features if left_features is not None else features)
    # a served Classify/Regress answers by TF Serving's rule: compare the in-process output as it would answer it
    a = served_answer(getattr(right, "method", "predict"), a, features, runner=left.name, signature=right.signature.key)
    b = right.predict(features)
    tol = right.parity_tolerance(a, tolerance)  # a path that approximates by design (TFLite) loosens it per output
    per = tol if isinstance(tol, Mapping) else {}
    common = outputs if outputs is not None else sorted(k for k in set(a) & set(b) if per.get(k, 1) is not None)
    if not common:
        raise RunnerError(
            f"{left.name} and {right.name} share no output to compare ({left.name}: {sorted(a)}; "
            f"{right.name}: {sorted(b)})"
        )
    result = compare_outputs(a, b, names=(left.name, right.name), tolerance=tol, outputs=common)
    if per and result.worst is not None:  # the message gives the worst output's own tolerance
        result = replace(result, tolerance=per[result.worst.output])
    if stats is not None:
        stats.observe(result, features)
    if not result.ok:
        worst = result.worst
        raise ParityMismatch(
            format_mismatch(result, features, context=f"signature {right.signature.key!r}"),
            runners=(left.name, right.name), output=worst.output if worst else None,
            max_abs=worst.max_abs if worst else None, max_rel=worst.max_rel if worst else None,
            result=result, features=features, left_features=left_features, left_runner=left, right_runner=right,
        )


def probe_shapes(runner: Runner) -> dict[str, tuple[int | None, ...]]:
    """Pick a working shape for every unknown-rank input by trying small candidates.

    A SignatureDef with unknown rank says nothing about what the graph accepts;
    we try scalar, ``[None]`` and ``[None, 1]`` with zeros and keep the first the
    model runs on, so generation starts from inputs the model can take.
    """
    sig = runner.signature
    unknown = [a for a, t in sig.inputs.items() if t.shape is None]
    if not unknown:
        return {}
    candidates: list[tuple[int | None, ...]] = [(), (None,), (None, 1)]
    for cand in candidates:
        feats = {a: _zeros(t, cand if a in unknown else t.shape) for a, t in sig.inputs.items()}
        try:
            runner.predict(feats)
        except RunnerError:
            continue
        return {a: cand for a in unknown}
    return {}


def _zeros(t: TensorSpec, shape: tuple[int | None, ...] | None) -> np.ndarray:
    concrete = tuple(2 if d is None else d for d in (shape or ()))
    if t.dtype.is_string:
        arr = np.empty(concrete, dtype=object)
        arr[...] = b""
        return arr
    return np.zeros(concrete, dtype=t.dtype.numpy or "float32")
