"""Latency and concurrency checks on in-memory runners: the measurements, the findings and their words."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from pytest_savedmodel.compare import Tolerance
from pytest_savedmodel.errors import ModelCheckFailure, ParityMismatch
from pytest_savedmodel.latency import (
    Comparison,
    Latency,
    Ratio,
    check_concurrency,
    check_latency,
    compare_latency,
    is_regression,
    measure_latency,
    ratio_of_quantiles,
    round_plan,
)
from pytest_savedmodel.runners.fake import FakeRunner
from pytest_savedmodel.spec import SignatureSpec, TensorSpec, dtype_by_name

SIG = SignatureSpec("serving_default", "tensorflow/serving/predict",
                    {"x": TensorSpec("x", dtype_by_name("float32"), (None,))},
                    {"y": TensorSpec("y", dtype_by_name("float32"), (None,))})
REQUESTS = [{"x": np.array([float(i), -float(i)], np.float32)} for i in range(6)]


def test_measure_latency_separates_the_cold_call_and_counts_warm_ones() -> None:
    calls: list[int] = []

    def call() -> None:
        time.sleep(0.03 if not calls else 0.001)
        calls.append(1)

    lat = measure_latency(call, requests=10)
    assert len(calls) == 11 and lat.requests == 10
    assert lat.cold_ms >= 25 and lat.p50_ms < 10 and lat.p50_ms <= lat.p99_ms


def test_measure_latency_is_bounded_in_time() -> None:
    lat = measure_latency(lambda: time.sleep(0.02), requests=1000, deadline_s=0.1)
    assert 2 <= lat.requests < 20


def test_measure_latency_needs_two_warm_requests() -> None:
    with pytest.raises(ValueError, match="need at least 2 warm requests"):
        measure_latency(lambda: None, requests=1)


def test_latency_over_budget_is_a_finding_naming_the_budget_option() -> None:
    with pytest.raises(ModelCheckFailure) as info:
        check_latency("iris signature 'serving_default' over grpc", Latency(30.0, 4.0, 12.5, 50), budget_p99_ms=10)
    text = str(info.value)
    assert text.startswith("iris signature 'serving_default' over grpc: latency finding:")
    assert "warm p99 12.50 ms is over the budget of 10 ms (--savedmodel-max-p99-ms)" in text
    assert "measured: cold 30.0 ms, p50 4.00 ms, p99 12.50 ms (50 warm)" in text
    check_latency("m", Latency(30.0, 4.0, 9.0, 50), budget_p99_ms=10)  # within budget


# ------------------------------------------------------------------ the regression rule, on fake timings
# No test here measures real time: timings are drawn from a seeded generator or made by a fake clock.

def rounds(rng: np.random.Generator, ms: float, *, n: int = 10, k: int = 5, load: float = 0.0,
           loaded: float = 0.0) -> np.ndarray:
    """``n`` rounds of ``k`` round trips of about ``ms`` (1% jitter); a fraction ``loaded`` of them waited
    ``load`` ms more for a core (the shape of timings on a busy machine: load only adds time)."""
    t = ms * rng.lognormal(0.0, 0.01, (n, k))
    return t + load * (rng.random((n, k)) < loaded)


def test_same_distributions_are_no_regression() -> None:
    rng = np.random.default_rng(1)
    r = ratio_of_quantiles(rounds(rng, 4.0), rounds(rng, 4.0))
    assert r.low < 1.0 < r.high and abs(r.ratio - 1) < 0.03 and r.rounds == 10 and r.quantile == 3
    assert not is_regression(r, ratio=1.5)


def test_a_model_twice_as_slow_is_a_regression() -> None:
    rng = np.random.default_rng(2)
    r = ratio_of_quantiles(rounds(rng, 8.0), rounds(rng, 4.0))
    assert r.low > 1.9 and r.high < 2.1 and r.difference_ms == pytest.approx(4.0, abs=0.2)
    assert is_regression(r, ratio=1.5)
    # under load too: half the requests of either model wait up to 6 ms more
    r = ratio_of_quantiles(rounds(rng, 8.0, load=6.0, loaded=0.5), rounds(rng, 4.0, load=6.0, loaded=0.5))
    assert is_regression(r, ratio=1.5), r


def test_noisy_but_equal_is_no_regression() -> None:
    rng = np.random.default_rng(3)
    for seed in range(20):  # a busy machine: 30-60% of the requests of either side wait 2 to 5 ms more
        cand = rounds(rng, 4.0, load=2.0 + rng.random() * 3, loaded=0.3 + rng.random() * 0.3)
        base = rounds(rng, 4.0, load=2.0 + rng.random() * 3, loaded=0.3 + rng.random() * 0.3)
        assert not is_regression(ratio_of_quantiles(cand, base, seed=seed), ratio=1.5)


def test_the_median_of_a_busy_machine_jumps_but_the_fast_end_does_not() -> None:
    # 26 of the candidate's 50 requests waited 4 ms for a core, 24 of the baseline's: the medians say 2x
    cand = np.where(np.arange(50) < 26, 8.0, 4.0).reshape(10, 5)
    base = np.where(np.arange(50) < 24, 8.0, 4.0).reshape(10, 5)
    assert np.median(cand) / np.median(base) == 2.0
    r = ratio_of_quantiles(cand, base)
    assert r.ratio == 1.0 and not is_regression(r, ratio=1.5)


def test_a_tiny_absolute_difference_under_the_floor_is_no_regression() -> None:
    rng = np.random.default_rng(4)
    r = ratio_of_quantiles(rounds(rng, 0.2), rounds(rng, 0.1))  # 2x, beyond doubt, but 0.1 ms: loopback jitter
    assert r.low > 1.5 and r.difference_ms < 1.0
    assert not is_regression(r, ratio=1.5)
    assert is_regression(r, ratio=1.5, floor_ms=0.05)


def test_a_ratio_over_the_limit_with_a_wide_interval_is_no_regression() -> None:
    # four rounds; the machine was quiet for two of the baseline's: 1.6x, but one round more or less says 1x
    cand = np.full((4, 5), 10.0)
    base = np.array([6.2] * 10 + [10.0] * 10).reshape(4, 5)
    r = ratio_of_quantiles(cand, base)
    assert 1.55 < r.ratio < 1.7 and r.low < 1.5 < r.high
    assert not is_regression(r, ratio=1.5)
    # the same 1.6x in every round is beyond doubt
    r = ratio_of_quantiles(np.full((10, 5), 10.0), np.full((10, 5), 6.2))
    assert r.low == r.high == pytest.approx(1.61, abs=0.01) and is_regression(r, ratio=1.5)


def test_the_interval_is_the_same_for_the_same_seed() -> None:
    rng = np.random.default_rng(5)
    cand, base = rounds(rng, 4.0, load=3.0, loaded=0.5), rounds(rng, 4.0, load=3.0, loaded=0.5)
    assert ratio_of_quantiles(cand, base, seed=7) == ratio_of_quantiles(cand, base, seed=7)
    assert ratio_of_quantiles(cand, base, seed=7).ratio == ratio_of_quantiles(cand, base, seed=8).ratio


def test_ratio_of_quantiles_needs_paired_rounds() -> None:
    with pytest.raises(ValueError, match="paired rounds needed"):
        ratio_of_quantiles(np.ones((3, 5)), np.ones((2, 5)))
    with pytest.raises(ValueError, match="confidence=1: must be between 0 and 1"):
        ratio_of_quantiles(np.ones((3, 5)), np.ones((3, 5)), confidence=1)


def test_round_plan() -> None:
    assert round_plan(50) == (10, 5) and round_plan(8) == (4, 2) and round_plan(2) == (2, 1)
    assert round_plan(1000) == (200, 5) and round_plan(19) == (4, 4)
    with pytest.raises(ValueError, match="need at least 2 warm requests"):
        round_plan(1)


class FakeServer:
    """A fake clock and fake served models: time moves only when a model answers. A model takes ``ms``, plus
    ``penalty(k)`` on its ``k``-th connection (a connection the server serves slower, for as long as it lasts),
    plus ``load`` on every third answer of the server (the machine is busy)."""

    def __init__(self, load: float = 0.0) -> None:
        self.now, self.load, self.answers = 0.0, load, 0
        self.events: list[str] = []
        self.runners: list[FakeRunner] = []

    def __call__(self) -> float:
        return self.now

    def model(self, name: str, ms: float, penalty: Callable[[int], float] = lambda k: 0.0) -> Callable[[], FakeRunner]:
        opened: list[int] = []

        def open_connection() -> FakeRunner:
            extra = penalty(len(opened))
            opened.append(1)
            self.events.append(f"open {name}")

            def answer(f: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
                self.answers += 1
                self.events.append(name)
                self.now += (ms + extra + (self.load if self.answers % 3 == 0 else 0.0)) / 1e3
                return {"y": f["x"]}

            self.runners.append(FakeRunner(SIG, answer))
            return self.runners[-1]

        return open_connection

    def compare(self, cand: Callable[[], FakeRunner], base: Callable[[], FakeRunner], **kwargs: Any) -> Comparison:
        kwargs.setdefault("requests", 50)
        return compare_latency(cand, base, REQUESTS[0], clock=self, **kwargs)


def test_compare_latency_interleaves_rounds_on_new_connections() -> None:
    server = FakeServer(load=5.0)
    got = server.compare(server.model("c", 8.0), server.model("b", 4.0), seed=3)
    assert server.events[:6] == ["open c", "open b", "c", "b", "c", "b"]  # cold each, then a warm-up call each
    rounds, rest = [], server.events[6:]
    for r in range(10):  # new connections every second round, each first called once, untimed
        fresh = r and r % 2 == 0
        assert not fresh or rest[:4] in (["open c", "c", "open b", "b"], ["open b", "b", "open c", "c"])
        rounds.append(rest[4:14] if fresh else rest[:10])
        rest = rest[14:] if fresh else rest[10:]
    assert rest == []
    for one in rounds:  # each round alternates, starting with either model
        assert one in (["c", "b"] * 5, ["b", "c"] * 5)
    assert {one[0] for one in rounds} == {"c", "b"}
    assert len(server.runners) == 10 and all(r.closed for r in server.runners)
    assert got.candidate.requests == got.baseline.requests == 50
    assert got.candidate.cold_ms == 8.0 and got.baseline.cold_ms == 4.0
    assert got.ratio.ratio == pytest.approx(2.0) and is_regression(got.ratio, ratio=1.5)
    assert got.rounds_ms is not None and got.rounds_ms[0].shape == (10, 5)
    # the same seed, the same order of calls and the same figures
    again = FakeServer(load=5.0)
    assert again.compare(again.model("c", 8.0), again.model("b", 4.0), seed=3) == got
    assert again.events == server.events


def test_compare_latency_of_a_model_with_itself_under_load_is_no_regression() -> None:
    server = FakeServer(load=6.0)
    got = server.compare(server.model("c", 4.0), server.model("b", 4.0))
    assert got.ratio.ratio == pytest.approx(1.0) and not is_regression(got.ratio, ratio=1.5)


def test_new_connections_keep_a_slow_connection_from_faking_a_regression() -> None:
    # the server serves every other connection 6 ms slower; the candidate got a slow one first, the baseline not
    def model(server: FakeServer, name: str, first_slow: bool) -> Callable[[], FakeRunner]:
        return server.model(name, 4.0, lambda k: 6.0 if (k % 2 == 0) == first_slow else 0.0)

    server = FakeServer()
    kept = server.compare(model(server, "c", True), model(server, "b", False), reconnect_every=0)
    assert kept.ratio.ratio == pytest.approx(2.5) and is_regression(kept.ratio, ratio=1.5)  # a false alarm
    server = FakeServer()
    got = server.compare(model(server, "c", True), model(server, "b", False))
    assert got.ratio.ratio == pytest.approx(1.0) and not is_regression(got.ratio, ratio=1.5)


def test_an_unclear_answer_gets_a_second_look() -> None:
    # twice as slow, but the machine let the baseline run clean on its first connection (2 rounds of 10) only:
    # 2x, yet 1x is likely; then it quietens
    def busy_then_quiet(k: int) -> float:
        return 0.0 if k == 0 or k >= 5 else 4.0

    server = FakeServer()
    once = server.compare(server.model("c", 8.0), server.model("b", 4.0, busy_then_quiet), second_look=False)
    assert once.ratio.rounds == 10 and once.ratio.ratio == pytest.approx(2.0) and once.ratio.low <= 1.5
    assert not is_regression(once.ratio, ratio=1.5)
    server = FakeServer()
    got = server.compare(server.model("c", 8.0), server.model("b", 4.0, busy_then_quiet))
    assert got.ratio.rounds == 20 and got.candidate.requests == 100 and is_regression(got.ratio, ratio=1.5)
    # a clear answer gets none, nor one that cannot be a regression for the floor
    server = FakeServer(load=6.0)
    assert server.compare(server.model("c", 4.0), server.model("b", 4.0)).ratio.rounds == 10
    server = FakeServer()
    tiny = server.compare(server.model("c", 0.8), server.model("b", 0.4, lambda k: 0.0 if k == 0 else 0.4))
    assert tiny.ratio.rounds == 10 and tiny.ratio.low <= 1.5 < tiny.ratio.high


def test_compare_latency_is_bounded_in_time() -> None:
    server = FakeServer()
    got = server.compare(server.model("c", 1.0), server.model("b", 1.0), requests=1000, deadline_s=0)
    assert got.ratio.rounds == 2 and got.candidate.requests == 10 and all(r.closed for r in server.runners)


def comparison(cand_ms: float, base_ms: float, low: float, high: float) -> Comparison:
    r = Ratio(cand_ms, base_ms, cand_ms / base_ms, low, high, 0.95, 10)
    return Comparison(Latency(9.0, cand_ms + 0.5, cand_ms + 2, 50), Latency(5.0, base_ms + 0.5, base_ms + 2, 50), r)


def test_latency_regression_against_the_baseline_words_and_figures() -> None:
    slow = comparison(8.0, 4.0, 1.9, 2.1)
    with pytest.raises(ModelCheckFailure) as info:
        check_latency("m", slow.candidate, baseline=slow, ratio=1.5)
    text = str(info.value)
    assert ("warm p3 8.00 ms vs the baseline's 4.00 ms, interleaved on the same server: 2.00x (95% CI 1.90x to "
            "2.10x over 10 rounds), 4.00 ms slower; even the lower bound is over the allowed 1.5x "
            "(--savedmodel-latency-regression)") in text
    assert "measured: cold 9.0 ms, p50 8.50 ms, p99 10.00 ms (50 warm)" in text
    assert "baseline: cold 5.0 ms, p50 4.50 ms, p99 6.00 ms (50 warm)" in text
    assert info.value.baseline is slow
    assert slow.describe() == ("cold 9.0 ms, p50 8.50 ms, p99 10.00 ms (50 warm); baseline p50 4.50 ms, p99 6.00 ms; "
                               "p3 ratio 2.00x (95% CI 1.90-2.10x, 10 interleaved rounds)")
    assert slow.figures() == {"cold_ms": 9.0, "p50_ms": 8.5, "p99_ms": 10.0, "baseline_cold_ms": 5.0,
                              "baseline_p50_ms": 4.5, "baseline_p99_ms": 6.0, "p3_ms": 8.0, "baseline_p3_ms": 4.0,
                              "ratio": 2.0, "ratio_low": 1.9, "ratio_high": 2.1}
    unsure = comparison(8.0, 4.0, 1.4, 2.6)  # 2x, but the interval reaches under 1.5x
    check_latency("m", unsure.candidate, baseline=unsure, ratio=1.5)
    tiny = comparison(0.2, 0.1, 1.9, 2.1)  # 2x, but 0.1 ms: under the 1 ms floor
    check_latency("m", tiny.candidate, baseline=tiny, ratio=1.5)
    # the p99 budget still applies with a baseline, on the candidate's p99
    with pytest.raises(ModelCheckFailure, match=r"warm p99 2\.20 ms is over the budget of 1 ms"):
        check_latency("m", tiny.candidate, baseline=tiny, budget_p99_ms=1)


def test_concurrency_passes_for_a_stateless_model() -> None:
    made = []

    def make() -> FakeRunner:
        made.append(FakeRunner(SIG, lambda f: {"y": f["x"] * 2}))
        return made[-1]

    calls = check_concurrency(make, REQUESTS, threads=4, tolerance=Tolerance())
    assert calls == 6 + 12 and len(made) == 5 and all(r.closed for r in made)  # one alone, one per thread


def test_concurrency_catches_answers_that_change_under_load() -> None:
    slot = {}

    def racy(f: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        slot["x"] = f["x"]  # shared state across requests
        time.sleep(0.005)
        return {"y": slot["x"] * 2}

    with pytest.raises(ParityMismatch) as info:
        check_concurrency(lambda: FakeRunner(SIG, racy), REQUESTS, threads=4, tolerance=Tolerance())
    text = str(info.value)
    assert ("of 6 gave another answer when sent concurrently (4 client threads, 12 requests) than when sent "
            "alone") in text
    assert "alone and concurrent disagree" in text and "inputs of row" in text


def test_a_request_that_fails_only_under_load_is_a_finding() -> None:
    busy = threading.Semaphore(1)

    def one_at_a_time(f: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        if not busy.acquire(blocking=False):
            raise RuntimeError("resource exhausted: too many requests in flight")
        try:
            time.sleep(0.005)
            return {"y": f["x"]}
        finally:
            busy.release()

    with pytest.raises(ModelCheckFailure, match="failed when sent concurrently \\(4 threads\\) but not when sent "
                                                 "alone: resource exhausted"):
        check_concurrency(lambda: FakeRunner(SIG, one_at_a_time), REQUESTS, threads=4, tolerance=Tolerance())


def test_a_server_that_stalls_under_load_times_out_with_a_finding() -> None:
    gate = threading.Event()
    alone: list[int] = []

    def stalls(f: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        if len(alone) >= len(REQUESTS):
            gate.wait(5)
        alone.append(1)
        return {"y": f["x"]}

    try:
        with pytest.raises(ModelCheckFailure, match=r"12 concurrent requests from 3 threads did not finish within "
                                                     r"0.3 s \(0 answered\): the server stalls under load"):
            check_concurrency(lambda: FakeRunner(SIG, stalls), REQUESTS, threads=3, tolerance=Tolerance(),
                              timeout_s=0.3)
    finally:
        gate.set()
