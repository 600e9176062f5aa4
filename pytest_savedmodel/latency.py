"""Latency and concurrency checks of a served path. No TensorFlow, no pytest.

* :func:`measure_latency`: the cold first request, then warm p50/p99 over a bounded
  number of requests, all through one runner (one client connection).
* :func:`compare_latency`: the candidate and its baseline measured together, in rounds that
  interleave their requests on the same server (new connections every 2 rounds), so that both see
  the same load; then :func:`ratio_of_quantiles`: the ratio of their fast-end (p3) warm round
  trips and a bootstrap confidence interval over the rounds (a seeded generator: the same
  timings, the same interval). An unclear first answer gets a second look (as many rounds again).
* :func:`check_latency`: a finding when the warm p99 is over a budget, or when the candidate is
  slower than its baseline beyond doubt (:func:`is_regression`): the interval's lower bound over
  the allowed ratio *and* more than a floor slower (1 ms by default).
* :func:`check_concurrency`: the same requests sent one by one and then at once from
  several client threads must give the same answers (TF Serving users have seen
  answers change under load: batching, shared state, racy custom ops).

Why the fast end and not the median or the p99: load on the machine only ever adds time (a request waits
for a core, in whole scheduler ticks), and on a busy machine it adds it to most requests, so the median of 50
jumps between "ran" and "waited" (beside two busy loops on 2 CPUs, the same model measured up to 1.59x its own
median, and a model twice as slow as little as 1.2x), while the fastest few requests are what a request costs
when it gets to run: the cost of the model. benchmarks/latency_rule.py measures the rule under load.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from pytest_savedmodel.compare import Tolerance, compare_outputs, format_mismatch
from pytest_savedmodel.errors import ModelCheckFailure, ParityMismatch
from pytest_savedmodel.runners.base import Runner
from pytest_savedmodel.spec import Features, Outputs

__all__ = ["QUANTILE", "Comparison", "Latency", "Ratio", "check_concurrency", "check_latency", "compare_latency",
           "is_regression", "measure_latency", "ratio_of_quantiles", "round_plan"]

Clock = Callable[[], float]

#: The percentile of the warm round trips that the regression rule compares (see the module docstring).
QUANTILE = 3.0


@dataclass(frozen=True)
class Latency:
    """Round-trip times of one served path, in milliseconds."""

    cold_ms: float
    p50_ms: float
    p99_ms: float
    requests: int

    def describe(self) -> str:
        return f"cold {self.cold_ms:.1f} ms, p50 {self.p50_ms:.2f} ms, p99 {self.p99_ms:.2f} ms ({self.requests} warm)"

    @classmethod
    def of(cls, cold_ms: float, warm_ms: np.ndarray) -> Latency:
        arr = np.asarray(warm_ms, dtype=np.float64).ravel()
        return cls(cold_ms, float(np.percentile(arr, 50)), float(np.percentile(arr, 99)), int(arr.size))


@dataclass(frozen=True)
class Ratio:
    """The candidate's warm ``p{quantile}`` over the baseline's, with a bootstrap confidence interval."""

    candidate_ms: float  # the warm round trip at the quantile
    baseline_ms: float
    ratio: float
    low: float
    high: float
    confidence: float
    rounds: int
    quantile: float = QUANTILE

    @property
    def difference_ms(self) -> float:
        return self.candidate_ms - self.baseline_ms

    @property
    def label(self) -> str:
        return f"p{self.quantile:g}"

    def describe(self) -> str:
        return (f"{self.label} ratio {self.ratio:.2f}x ({self.confidence:.0%} CI {self.low:.2f}-{self.high:.2f}x, "
                f"{self.rounds} interleaved rounds)")


@dataclass(frozen=True)
class Comparison:
    """The candidate and its baseline, measured interleaved on the same server; ``rounds_ms``: the warm times,
    candidate and baseline, each ``(rounds, per_round)``."""

    candidate: Latency
    baseline: Latency
    ratio: Ratio
    rounds_ms: tuple[np.ndarray, np.ndarray] | None = field(default=None, compare=False, repr=False)

    def describe(self) -> str:
        return (f"{self.candidate.describe()}; baseline p50 {self.baseline.p50_ms:.2f} ms, "
                f"p99 {self.baseline.p99_ms:.2f} ms; {self.ratio.describe()}")

    def figures(self) -> dict[str, float]:
        c, b, r = self.candidate, self.baseline, self.ratio
        return {"cold_ms": c.cold_ms, "p50_ms": c.p50_ms, "p99_ms": c.p99_ms, "baseline_cold_ms": b.cold_ms,
                "baseline_p50_ms": b.p50_ms, "baseline_p99_ms": b.p99_ms, f"{r.label}_ms": r.candidate_ms,
                f"baseline_{r.label}_ms": r.baseline_ms, "ratio": r.ratio, "ratio_low": r.low, "ratio_high": r.high}


def measure_latency(call: Callable[[], object], *, requests: int, cold_ms: float | None = None,
                    deadline_s: float = 30.0, clock: Clock = time.perf_counter) -> Latency:
    """Time ``call``: the first call is the cold one (unless ``cold_ms`` was seen earlier), then ``requests`` warm.

    Bounded in time as well as count: it stops after ``deadline_s`` with what it has (at least 2 warm calls).
    """
    if requests < 2:
        raise ValueError(f"requests={requests}: need at least 2 warm requests for percentiles")
    t0 = clock()
    call()
    first = (clock() - t0) * 1e3
    times = []
    stop = time.monotonic() + deadline_s
    for _ in range(requests):
        t = clock()
        call()
        times.append((clock() - t) * 1e3)
        if len(times) >= 2 and time.monotonic() > stop:
            break
    return Latency.of(cold_ms if cold_ms is not None else first, np.asarray(times))


def round_plan(requests: int) -> tuple[int, int]:
    """``(rounds, per_round)`` for ``requests`` warm requests per model: rounds of up to 5 requests each (50 →
    10 rounds of 5, 8 → 4 of 2); at least 2 rounds. ``rounds * per_round <= requests``."""
    if requests < 2:
        raise ValueError(f"requests={requests}: need at least 2 warm requests for percentiles")
    per_round = max(1, min(5, requests // 4))
    return requests // per_round, per_round


def compare_latency(open_candidate: Callable[[], Runner], open_baseline: Callable[[], Runner], features: Features,
                    *, requests: int, ratio: float = 1.5, floor_ms: float = 1.0, seed: int = 0, warmup: int = 1,
                    reconnect_every: int = 2, second_look: bool = True, deadline_s: float = 60.0,
                    confidence: float = 0.95, clock: Clock = time.perf_counter) -> Comparison:
    """Time the candidate and the baseline together, each answering ``features`` through runners opened by
    ``open_candidate`` / ``open_baseline``: one cold call each (candidate first), ``warmup`` untimed calls each, then
    rounds (see :func:`round_plan`) of ``per_round`` calls to each, alternating, the side that starts a round drawn
    from ``seed``: both models see the same load, on the same server, at the same time.

    Every ``reconnect_every`` rounds (0: never) both talk over new connections (the last ones closed; the first call
    on each untimed): a server that serves one connection faster than another for a while (a thread per connection,
    as a REST server has, on a busy machine) favours neither model for long. With ``second_look``, when
    the interval of the ratio holds ``ratio`` (it may be a regression, or not) and the candidate is more than
    ``floor_ms`` slower, as many rounds again are measured and the decision is made on all of them. Bounded in
    time: it stops after ``deadline_s`` with the rounds it has (at least 2).
    """
    rounds, per_round = round_plan(requests)
    rng = np.random.default_rng(abs(seed))
    openers = (open_candidate, open_baseline)
    runners: list[Runner] = []
    stop = time.monotonic() + deadline_s
    got: list[np.ndarray] = []  # one (2, per_round) array per round

    def timed(side: int) -> float:
        t = clock()
        runners[side].predict(features)
        return (clock() - t) * 1e3

    def measure(n: int) -> None:
        for _ in range(n):
            first = int(rng.integers(2))
            order = (first, 1 - first)
            if reconnect_every and got and len(got) % reconnect_every == 0:
                for side in order:
                    fresh = openers[side]()
                    runners[side].close()
                    runners[side] = fresh
                    timed(side)
            one = np.zeros((2, per_round))
            for j in range(per_round):
                for side in order:
                    one[side, j] = timed(side)
            got.append(one)
            if len(got) >= 2 and time.monotonic() > stop:
                return

    try:
        for side in (0, 1):
            runners.append(openers[side]())
        cold = (timed(0), timed(1))
        for _ in range(warmup):
            for side in (0, 1):
                timed(side)
        measure(rounds)
        r = ratio_of_quantiles(*_sides(got), seed=seed, confidence=confidence)
        if (second_look and r.low <= ratio < r.high and r.difference_ms > floor_ms
                and time.monotonic() < stop and len(got) == rounds):
            measure(rounds)
            r = ratio_of_quantiles(*_sides(got), seed=seed, confidence=confidence)
    finally:
        for runner in runners:
            runner.close()
    cand, base = _sides(got)
    return Comparison(Latency.of(cold[0], cand), Latency.of(cold[1], base), r, (cand, base))


def _sides(got: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Rounds of (2, per_round) arrays → the candidate's and the baseline's (rounds, per_round) arrays."""
    both = np.stack(got)
    return both[:, 0], both[:, 1]


def ratio_of_quantiles(candidate_ms: np.ndarray, baseline_ms: np.ndarray, *, quantile: float = QUANTILE,
                       seed: int = 0, confidence: float = 0.95, resamples: int = 2000) -> Ratio:
    """The candidate's ``quantile`` percentile over the baseline's, over all warm requests, and its ``confidence``
    percentile-bootstrap interval: the rounds (rows; each candidate row is paired with the baseline row timed
    beside it) resampled with replacement ``resamples`` times by a generator seeded with ``seed``.
    """
    cand = np.atleast_2d(np.asarray(candidate_ms, dtype=np.float64))
    base = np.atleast_2d(np.asarray(baseline_ms, dtype=np.float64))
    if cand.shape != base.shape or cand.size == 0:
        raise ValueError(f"paired rounds needed: candidate {cand.shape}, baseline {base.shape}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence={confidence}: must be between 0 and 1")
    tiny = 1e-9  # ms: a clock that reads the same twice must not divide by zero
    c_q, b_q = float(np.percentile(cand, quantile)), float(np.percentile(base, quantile))
    rounds = cand.shape[0]
    idx = np.random.default_rng(abs(seed)).integers(0, rounds, size=(resamples, rounds))
    c_boot = np.percentile(cand[idx].reshape(resamples, -1), quantile, axis=1)
    b_boot = np.percentile(base[idx].reshape(resamples, -1), quantile, axis=1)
    boot = c_boot / np.maximum(b_boot, tiny)
    alpha = 1 - confidence
    low, high = (float(q) for q in np.quantile(boot, [alpha / 2, 1 - alpha / 2]))
    return Ratio(c_q, b_q, c_q / max(b_q, tiny), low, high, confidence, rounds, quantile)


def is_regression(r: Ratio, *, ratio: float, floor_ms: float = 1.0) -> bool:
    """The rule: slower beyond doubt (the interval's lower bound over ``ratio``) and by more than ``floor_ms``."""
    return r.low > ratio and r.difference_ms > floor_ms


def check_latency(what: str, got: Latency, *, budget_p99_ms: float | None = None,
                  baseline: Comparison | None = None, ratio: float = 1.5, floor_ms: float = 1.0) -> None:
    """A :class:`ModelCheckFailure` when the warm p99 is over budget, or when the candidate is slower than the
    baseline beyond doubt (see :func:`is_regression`). The budget is absolute; the comparison is not made on the
    p99, which in 50 requests is one or two of them, and a busy machine moves those by itself.
    """
    __tracebackhide__ = True
    problems = []
    if budget_p99_ms is not None and got.p99_ms > budget_p99_ms:
        problems.append(f"  warm p99 {got.p99_ms:.2f} ms is over the budget of {budget_p99_ms:g} ms "
                        f"(--savedmodel-max-p99-ms)")
    r = baseline.ratio if baseline is not None else None
    if r is not None and is_regression(r, ratio=ratio, floor_ms=floor_ms):
        problems.append(f"  warm {r.label} {r.candidate_ms:.2f} ms vs the baseline's {r.baseline_ms:.2f} ms, "
                        f"interleaved on the same server: {r.ratio:.2f}x ({r.confidence:.0%} CI {r.low:.2f}x to "
                        f"{r.high:.2f}x over {r.rounds} rounds), {r.difference_ms:.2f} ms slower; even the lower "
                        f"bound is over the allowed {ratio:g}x (--savedmodel-latency-regression)")
    if problems:
        base = f"\n  baseline: {baseline.baseline.describe()}" if baseline is not None else ""
        raise ModelCheckFailure(f"{what}: latency finding:\n" + "\n".join(problems)
                                + f"\n  measured: {got.describe()}{base}", latency=got, baseline=baseline)


def check_concurrency(make_runner: Callable[[], Runner], requests: Sequence[Features], *, threads: int,
                      tolerance: Tolerance, repeats: int = 2, timeout_s: float = 60.0) -> int:
    """Send ``requests`` one by one, then all at once from ``threads`` client threads (each with its own runner,
    each request ``repeats`` times); every concurrent answer must match the sequential one. Returns the calls made.
    """
    __tracebackhide__ = True
    if threads < 1:
        raise ValueError(f"threads={threads}: must be at least 1")
    sequential_runner = make_runner()
    try:
        expected = [sequential_runner.predict(f) for f in requests]
    finally:
        sequential_runner.close()
    jobs = [i for _ in range(repeats) for i in range(len(requests))]
    results: list[tuple[int, Outputs | Exception]] = []
    lock = threading.Lock()
    start = threading.Barrier(threads)

    def worker(mine: list[int]) -> None:
        runner = make_runner()
        try:
            try:
                start.wait(timeout=timeout_s)
            except threading.BrokenBarrierError:
                pass
            for i in mine:
                try:
                    out: Outputs | Exception = runner.predict(requests[i])
                except Exception as exc:  # reported below with the request that failed
                    out = exc
                with lock:
                    results.append((i, out))
        finally:
            runner.close()

    pool = [threading.Thread(target=worker, args=(jobs[t::threads],), daemon=True, name=f"savedmodel-load-{t}")
            for t in range(threads)]
    for t in pool:
        t.start()
    deadline = time.monotonic() + timeout_s
    for t in pool:
        t.join(max(0.0, deadline - time.monotonic()))
    if any(t.is_alive() for t in pool):
        raise ModelCheckFailure(f"{len(jobs)} concurrent requests from {threads} threads did not finish within "
                                f"{timeout_s:g} s ({len(results)} answered): the server stalls under load")
    for i, out in results:
        if isinstance(out, Exception):
            raise ModelCheckFailure(f"request {i} failed when sent concurrently ({threads} threads) but not when "
                                    f"sent alone: {out}") from out
        result = compare_outputs(expected[i], out, names=("alone", "concurrent"), tolerance=tolerance,
                                 outputs=sorted(expected[i]))
        if not result.ok:
            worst = result.worst
            raise ParityMismatch(
                f"request {i} of {len(requests)} gave another answer when sent concurrently ({threads} client "
                f"threads, {len(jobs)} requests) than when sent alone:\n" + format_mismatch(result, requests[i]),
                runners=("alone", "concurrent"), output=worst.output if worst else None, result=result)
    return len(requests) + len(jobs)
