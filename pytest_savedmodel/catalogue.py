"""The check catalogue: each automatic check is a named function over a
:class:`~pytest_savedmodel.context.CheckContext`, registered once.

``--savedmodel-checks`` is derived from :data:`CHECKS` (collection order).
Importing this module is light: numpy, Hypothesis and TensorFlow load when a
check runs. The model, parity and contract checks run on fake runners without
TensorFlow (see ``tests/unit/test_catalogue.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pytest_savedmodel.context import CheckContext
from pytest_savedmodel.errors import RunnerError, UsageError
from pytest_savedmodel.results import CheckResult

if TYPE_CHECKING:
    from pytest_savedmodel.spec import Features

__all__ = ["CATALOGUE", "CHECKS", "Check", "run_check"]


@dataclass(frozen=True)
class Check:
    """A named check and the function that runs it (``calls_model``: it feeds the signature inputs)."""

    name: str
    doc: str
    run: Callable[[CheckContext], None]
    calls_model: bool = True


CATALOGUE: dict[str, Check] = {}


def _register(name: str, doc: str, *, calls_model: bool = True) -> Callable[[Callable[[CheckContext], None]],
                                                                            Callable[[CheckContext], None]]:
    def deco(fn: Callable[[CheckContext], None]) -> Callable[[CheckContext], None]:
        CATALOGUE[name] = Check(name, doc, fn, calls_model)
        return fn

    return deco


def run_check(ctx: CheckContext) -> CheckResult:
    """Run the catalogue check ``ctx.planned.check``; its figures land in ``ctx.result``, findings are raised."""
    check = CATALOGUE.get(ctx.planned.check)
    if check is None:
        raise UsageError(f"unknown check {ctx.planned.check!r}; known checks: {', '.join(CHECKS)}")
    if ctx.result.samples is None and ctx.planned.check == "parity":
        ctx.result.samples = []
    if check.calls_model and ctx.signature is not None:  # before anything is drawn or allocated
        from pytest_savedmodel.sizes import DEFAULT_MAX_INPUT_BYTES, check_sizes

        bound = getattr(ctx.settings, "max_input_bytes", DEFAULT_MAX_INPUT_BYTES)
        check_sizes(ctx.signature, bound=bound, label=ctx.label)
    check.run(ctx)
    return ctx.result


# --------------------------------------------------------------------------- model checks


@_register("load", "the SavedModel (or the path's artifact) loads and has a callable signature", calls_model=False)
def load(ctx: CheckContext) -> None:
    side = ctx.planned.right
    if side is None:
        ctx.session.load_export(ctx.planned.export)
    elif side.signature:
        ctx.open(side).load()


@_register("signature", "the SignatureDef's dtypes match the graph it feeds", calls_model=False)
def signature(ctx: CheckContext) -> None:
    from pytest_savedmodel.checks import check_signature_graph

    assert ctx.signature is not None
    check_signature_graph(ctx.label, ctx.signature)
    why = ctx.session.unpaired(ctx.planned) if ctx.session is not None else None
    if why is not None:  # its parsing is compared with nothing: a skew there goes unseen
        key = ctx.signature.key
        ctx.risks([f"parsing signature {key!r} has no raw partner, so its tf.Example parsing is compared with "
                   f"no raw path ({why}); its own checks and served Classify/Regress parity still run. A raw "
                   f"signature with an output name in common can be paired with --savedmodel-pair=RAWSIG~{key}"])


def _per_input(ctx: CheckContext, body: Callable[[Features], None], *, min_batch: int = 1, bulk: bool = True) -> None:
    assert ctx.signature is not None
    if not ctx.signature.inputs:
        ctx.result.examples = 1
        body({})
        return
    sig = ctx.generation_signature(ctx.draw)
    ctx.prove(body, ctx.strategy(sig, min_batch=min_batch), sweep=sig, bulk=bulk)


@_register("outputs", "outputs have the declared dtypes and shapes")
def outputs(ctx: CheckContext) -> None:
    from pytest_savedmodel.checks import check_outputs_match

    runner, sig = ctx.open(ctx.draw), ctx.signature
    assert sig is not None
    _per_input(ctx, lambda f: check_outputs_match(ctx.label, sig, runner.predict(f), f))


@_register("finite", "no NaN or infinity for finite inputs")
def finite(ctx: CheckContext) -> None:
    from pytest_savedmodel.checks import check_finite

    runner, sig = ctx.open(ctx.draw), ctx.signature
    assert sig is not None
    _per_input(ctx, lambda f: check_finite(ctx.label, sig, runner.predict(f), f))


@_register("batch", "a row alone equals the row inside a batch (and reversed)")
def batch(ctx: CheckContext) -> None:
    from pytest_savedmodel.checks import check_batch_invariance

    runner = ctx.open(ctx.draw)
    why = ctx.one_row_only()
    if why is not None:
        from pytest_savedmodel.errors import ModelCheckFailure

        raise ModelCheckFailure(
            f"{ctx.label} signature {runner.signature.key!r} declares a dynamic batch (-1) but fails for a batch of "
            f"2 while one row runs: {why}\nThe other checks of this signature ran one row at a time. Clients that "
            f"send several rows, and TF Serving's request batching (--enable_batching), will fail the same way",
            signature=runner.signature.key)
    # not in bulk: it calls the model once per row of a batch (its sweep of 64 rows is the batch of 64)
    probed = ctx.batch_dependence()
    single = ("The other checks of this signature ran one row per call, as one-row requests are answered (their "
              "summary rows say so).")
    try:
        _per_input(ctx, lambda f: check_batch_invariance(ctx.label, runner, f, ctx.tolerance), min_batch=2,
                   bulk=False)
    except AssertionError as exc:
        if probed:
            exc.add_note(single)
        raise
    if probed:  # the probe's 8 rows showed what the generated batches did not: one verdict for both
        from pytest_savedmodel.errors import ModelCheckFailure

        raise ModelCheckFailure(f"{probed}\n  (found on 8 generated rows in one call, each row then alone, on the "
                                f"raw path)\n{single}", signature=runner.signature.key)


@_register("determinism", "the same inputs twice give the same outputs")
def determinism(ctx: CheckContext) -> None:
    from pytest_savedmodel.checks import check_determinism

    runner = ctx.open(ctx.draw)
    _per_input(ctx, lambda f: check_determinism(ctx.label, runner, f, ctx.tolerance))


@_register("domain", "values just outside each bounded input's domain: rejected or answered (a policy)")
def domain(ctx: CheckContext) -> None:
    from pytest_savedmodel.domain import check_policy, probe_domains
    from pytest_savedmodel.golden import golden_inputs

    runner = ctx.open(ctx.draw)
    sig = ctx.generation_signature(ctx.draw)
    base = {k: v[:1] for k, v in golden_inputs(sig, count=1)[0].items()}  # one row inside every domain
    runner.predict(base)  # a failure here is not about the domain: reported as what it is
    probes = probe_domains(runner, sig, base)
    ctx.result.examples = len(probes) + 1
    policy = getattr(ctx.settings, "domain", "report")
    ctx.result.note = check_policy(ctx.label, sig, probes, policy)
    if policy == "report":  # an answer to a value the model was not built for: a client's bad id goes unnoticed
        ctx.risks([f"{p.alias}={p.value!r} is outside its domain ({sig.domains[p.alias].describe()}) and is "
                   f"answered, not rejected" for p in probes if not p.rejected])


# --------------------------------------------------------------------------- pairs of paths


@_register("parse_spec", "the tf.Example parse spec agrees with the raw inputs")
def parse_spec(ctx: CheckContext) -> None:
    from pytest_savedmodel.checks import check_pair_spec
    from pytest_savedmodel.pairs import missing_risks

    left, right = ctx.planned.left, ctx.planned.right
    assert left is not None and right is not None
    raw, parsing, names = ctx.side_signature(left), ctx.side_signature(right), (left.word, right.word)
    ctx.risks([*check_pair_spec(raw, parsing, names=names, training_defaults=ctx.settings.training_defaults),
               *missing_risks(raw, parsing, names=names)])


@_register("parity", "two paths give the same outputs on the same generated inputs")
def parity(ctx: CheckContext) -> None:
    from pytest_savedmodel.checks import check_parity
    from pytest_savedmodel.tfexample import examples_request, omissions_noted

    p = ctx.planned
    assert p.left is not None and p.right is not None
    left, right = ctx.open(p.left), ctx.open(p.right)
    fill: dict[str, Any] = {}
    if p.fill_defaults:  # raw~parsing: a feature the client leaves out gets the training default on the raw side
        parsing = right.signature
        assert parsing.parse_spec is not None
        missing = sorted(set(left.signature.inputs) - set(parsing.parse_spec.keys))
        if missing:
            raise UsageError(f"cannot compare: raw inputs {missing} have no feature in the parse spec of "
                             f"{p.model} signature {parsing.key!r} (see the parse_spec check)")
        fill = {k: ctx.settings.training_defaults[k] for k in p.optional}

    def body(features: Features) -> None:  # raw features sent as tf.Examples: what the raw graph drops left out
        sent = examples_request(features, left.signature, right.signature) if p.feed != "examples" else features
        try:
            with omissions_noted(sent, left.signature):
                check_parity(left, right, sent, tolerance=ctx.tolerance, stats=ctx.result,
                             left_features=_filled(features, fill, left.signature) if fill else None)
        except RunnerError as exc:
            raise ctx.served(exc) from None

    if p.feed == "examples":
        strategy = ctx.example_strategy(left.signature)
    elif not ctx.side_signature(ctx.draw).inputs:
        ctx.result.examples = 1
        body({})
        return
    else:
        sig = ctx.generation_signature(ctx.draw)
        ctx.prove(body, ctx.strategy(sig, optional=p.optional), sweep=sig)
        return
    ctx.prove(body, strategy)


@_register("movement", "how far predictions moved from the baseline (a retrain's evidence); a gate only with "
                       "--savedmodel-baseline-rtol/atol/max-moved")
def movement(ctx: CheckContext) -> None:
    from pytest_savedmodel.movement import run_movement

    run_movement(ctx)


def _filled(features: Features, defaults: dict[str, Any], sig: Any) -> Features:
    """``features`` with each left-out key filled with its training default, batched like the rest."""
    import numpy as np

    filled = dict(features)
    n = len(next(iter(features.values()))) if features else 1
    for k, value in defaults.items():
        if k not in filled:
            spec = sig.inputs[k]
            arr = np.asarray(value, dtype=spec.dtype.numpy or "float32").reshape(-1)
            filled[k] = np.broadcast_to(arr[:1] if spec.rank == 1 else arr,
                                        (n,) if spec.rank == 1 else (n, *arr.shape)).copy()
    return filled


# --------------------------------------------------------------------------- the lock, golden examples, load


@_register("contract", "the contract lock (or the baseline): drift by named rules", calls_model=False)
def contract(ctx: CheckContext) -> None:
    from pytest_savedmodel.drift import RULES, diff_entries, format_changes
    from pytest_savedmodel.errors import ContractViolation

    s, p = ctx.settings, ctx.planned
    missing = getattr(ctx.session, "not_in_lock", lambda planned: None)(p)
    if missing is not None:  # a model new since the lock: nothing to compare yet (the op ban still applies)
        ctx.risks([missing])
    old, new, against, label = ctx.session.contract_entries(p)
    changes = diff_entries(old, new, forbid_ops=s.forbid_ops)
    allowed = s.allow
    ctx.result.changes = [{"rule": c.rule, "severity": c.severity, "change": c.describe(), "against": against,
                           "allowed": c.rule in allowed} for c in changes]
    breaking = [c for c in changes if c.severity == "breaking" and c.rule not in allowed]
    if changes:
        ctx.result.note = f"{len(changes)} change(s), {len(breaking)} breaking"
    if breaking:
        raise ContractViolation(f"{label}: {len(breaking)} breaking change(s) against {against}:\n"
                                + format_changes(changes, allowed=allowed, against=against),
                                model=p.model.split(":")[0], changes=changes)
    ctx.risks([f"{c.describe()}: {RULES[c.rule][1]}" for c in changes
               if c.severity == "risk" and c.rule not in allowed])  # an op added since the lock: a reviewer's look


@_register("golden", "locked golden examples replayed on every path")
def golden(ctx: CheckContext) -> None:
    """The lock's golden inputs on this path, against the locked outputs. Golden items are about behaviour
    (the contract item is about the interface): ``--savedmodel-golden-rtol/atol`` set their tolerance, and
    renames allowed in the contract are carried through. With a baseline, the baseline is the behavioural
    reference: golden items report how far the locked examples moved and pass, unless a golden tolerance
    is set."""
    from pytest_savedmodel.compare import Tolerance
    from pytest_savedmodel.golden import replay_golden

    p, s = ctx.planned, ctx.settings
    assert p.right is not None and p.signature is not None
    examples, where = ctx.session.golden_examples(p)
    explicit = s.golden_rtol is not None or s.golden_atol is not None
    tolerance = Tolerance(s.golden_rtol if s.golden_rtol is not None else float(examples.get("rtol", 1e-4)),
                          s.golden_atol if s.golden_atol is not None else float(examples.get("atol", 1e-5)))
    gate = explicit or not ctx.session.has_baseline(p)
    ins, outs = ctx.session.allowed_renames(p)
    runner = ctx.open(p.right)
    try:
        ctx.result.examples, moved = replay_golden(runner, examples, where=where, observe=ctx.result.observe,
                                                   tolerance=tolerance, renamed_inputs=ins, renamed_outputs=outs,
                                                   gate=gate)
    except RunnerError as exc:
        raise ctx.served(exc) from None
    notes = [f"compared under new names: {', '.join(f'{a} -> {b}' for a, b in sorted({**ins, **outs}.items()))}"
             ] if ins or outs else []
    if moved:
        notes.append(f"{len(moved)} of {ctx.result.examples} locked examples moved (the baseline is the reference)")
    ctx.result.note = "; ".join(notes)


@_register("latency", "cold and warm p50/p99 per served path (budget, regression against the baseline)")
def latency(ctx: CheckContext) -> None:
    from pytest_savedmodel import latency as L
    from pytest_savedmodel.golden import golden_inputs

    p, s = ctx.planned, ctx.settings
    assert p.right is not None
    features = golden_inputs(ctx.generation_signature(p.right), count=1)[0]
    seed = getattr(s, "seed", None) or 0  # the round order and the bootstrap: the same for the same timings
    compared: L.Comparison | None = None
    try:
        base = ctx.session.baseline_side(p)
        if base is not None:  # both together, interleaved in rounds, new connections every 2 rounds
            compared = L.compare_latency(lambda: ctx.session.new_runner(p.right), lambda: ctx.session.new_runner(base),
                                         features, requests=s.latency_requests, ratio=s.latency_regression, seed=seed)
            got = compared.candidate
        else:  # on a new connection
            runner = ctx.session.new_runner(p.right)
            try:
                got = L.measure_latency(lambda: runner.predict(features), requests=s.latency_requests)
            finally:
                runner.close()
    except RunnerError as exc:
        raise ctx.served(exc) from None
    ctx.result.examples = got.requests + 1
    ctx.result.note = compared.describe() if compared is not None else got.describe()
    ctx.result.figures.update(compared.figures() if compared is not None else
                              {"cold_ms": got.cold_ms, "p50_ms": got.p50_ms, "p99_ms": got.p99_ms})
    L.check_latency(f"{ctx.label} signature {p.signature!r} over {p.kind}", got, budget_p99_ms=s.max_p99_ms,
                    baseline=compared, ratio=s.latency_regression)


@_register("concurrency", "answers under concurrent load equal the answers alone")
def concurrency(ctx: CheckContext) -> None:
    from pytest_savedmodel import latency as L
    from pytest_savedmodel.golden import golden_inputs

    p, s = ctx.planned, ctx.settings
    assert p.right is not None
    right = p.right
    requests = golden_inputs(ctx.generation_signature(right), count=8)
    try:
        ctx.result.examples = L.check_concurrency(lambda: ctx.session.new_runner(right), requests,
                                                  threads=s.concurrency, tolerance=ctx.tolerance)
    except RunnerError as exc:
        raise ctx.served(exc) from None
    ctx.result.note = f"{len(requests)} requests x 2 from {s.concurrency} threads: same answers"


@_register("rollout", "the candidate rolls in over the baseline on a live TF Serving: no request fails or gets a "
                      "half-loaded answer (--savedmodel-rollout)")
def rollout(ctx: CheckContext) -> None:
    from pytest_savedmodel.rollout import run_rollout

    run_rollout(ctx)


#: Every check, in collection order.
CHECKS: tuple[str, ...] = ("load", "signature", "outputs", "finite", "batch", "determinism", "domain", "parse_spec",
                           "parity", "movement", "contract", "golden", "latency", "concurrency",
                           "rollout")
assert set(CHECKS) == set(CATALOGUE), "every registered check has its place in the order"
