"""Latency and concurrency checks of a served path. No TensorFlow, no pytest.

* :func:`measure_latency`: the cold first request, then warm p50/p99 over a bounded
  number of requests, all through one runner (one client connection).
* :func:`check_latency`: a finding when the warm p99 is over a budget, or regressed
  against the baseline model served beside the candidate.
* :func:`check_concurrency`: the same requests sent one by one and then at once from
  several client threads must give the same answers (TF Serving users have seen
  answers change under load: batching, shared state, racy custom ops).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from pytest_savedmodel.compare import Tolerance, compare_outputs, format_mismatch
from pytest_savedmodel.errors import ModelCheckFailure, ParityMismatch
from pytest_savedmodel.runners.base import Runner
from pytest_savedmodel.spec import Features, Outputs

__all__ = ["Latency", "check_concurrency", "check_latency", "measure_latency"]


@dataclass(frozen=True)
class Latency:
    """Round-trip times of one served path, in milliseconds."""

    cold_ms: float
    p50_ms: float
    p99_ms: float
    requests: int

    def describe(self) -> str:
        return f"cold {self.cold_ms:.1f} ms, p50 {self.p50_ms:.2f} ms, p99 {self.p99_ms:.2f} ms ({self.requests} warm)"


def measure_latency(call: Callable[[], object], *, requests: int, cold_ms: float | None = None,
                    deadline_s: float = 30.0) -> Latency:
    """Time ``call``: the first call is the cold one (unless ``cold_ms`` was seen earlier), then ``requests`` warm.

    Bounded in time as well as count: it stops after ``deadline_s`` with what it has (at least 2 warm calls).
    """
    if requests < 2:
        raise ValueError(f"requests={requests}: need at least 2 warm requests for percentiles")
    t0 = time.perf_counter()
    call()
    first = (time.perf_counter() - t0) * 1e3
    times = []
    stop = time.monotonic() + deadline_s
    for _ in range(requests):
        t = time.perf_counter()
        call()
        times.append((time.perf_counter() - t) * 1e3)
        if len(times) >= 2 and time.monotonic() > stop:
            break
    arr = np.asarray(times)
    return Latency(cold_ms if cold_ms is not None else first, float(np.percentile(arr, 50)),
                   float(np.percentile(arr, 99)), len(times))


def check_latency(what: str, got: Latency, *, budget_p99_ms: float | None = None,
                  baseline: Latency | None = None, ratio: float = 1.5, floor_ms: float = 1.0) -> None:
    """A :class:`ModelCheckFailure` when the warm p99 is over budget or regressed beyond ``ratio`` x the baseline.

    A regression must also be at least ``floor_ms`` slower, so sub-millisecond jitter on loopback is not a finding.
    """
    __tracebackhide__ = True
    problems = []
    if budget_p99_ms is not None and got.p99_ms > budget_p99_ms:
        problems.append(f"  warm p99 {got.p99_ms:.2f} ms is over the budget of {budget_p99_ms:g} ms "
                        f"(--savedmodel-max-p99-ms)")
    if baseline is not None and got.p99_ms > baseline.p99_ms * ratio and got.p99_ms - baseline.p99_ms >= floor_ms:
        problems.append(f"  warm p99 {got.p99_ms:.2f} ms vs the baseline's {baseline.p99_ms:.2f} ms on the same "
                        f"server: {got.p99_ms / baseline.p99_ms:.2f}x, over the allowed {ratio:g}x "
                        f"(--savedmodel-latency-regression)")
    if problems:
        base = f"\n  baseline: {baseline.describe()}" if baseline is not None else ""
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
