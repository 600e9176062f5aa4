"""The latency regression rule under load: false alarms and catches. Not part of the test suite.

    python benchmarks/latency_rule.py [--runs 20] [--busy 2] [--requests 50]

Serves on one emulator: a small model twice (``slow_identity(steps=1)``, about 1 ms a round trip: the
noisiest case, where loopback jitter is the whole latency), a medium one twice (``steps=1000``, a few ms),
and a slow one calibrated, per transport, to take twice the medium one's round trip (measured before the busy
loops start).
While ``--busy`` busy-loop processes hog the CPUs, each run is one ``latency`` item as the plugin runs it
(new connections, ``--savedmodel-latency-requests`` warm requests per model, the default 1.5x), over gRPC
and over REST, judged by these rules in the same run (the measured ones one after the other):

* new rule (``pytest_savedmodel.latency.compare_latency``): interleaved rounds (10 of 5 requests to each
  model, new connections every 2 rounds), the ratio of the p3 warm round trips with a 95% bootstrap interval
  over the rounds (10 more rounds when the interval holds 1.5x); a regression when the lower bound is over
  1.5x and the p3s are more than 1 ms apart;
* the same rule on the medians of the same timings (``ratio_of_quantiles(..., quantile=50)``): no extra
  requests, it shows why the rule compares the fast end;
* old rule (the baseline): candidate's 50 requests, then the baseline's, each on its own connection;
  a regression when the warm p99 is over 1.5x the baseline's and at least 1 ms slower.

A false alarm is a regression reported for a model against itself; a catch is one reported for the 2x slower
model against the medium one. Exit status 1 if the new rule has any false alarm or misses any catch.

Figures (2 CPUs shared with other jobs, 2 busy-loop processes, 20 runs per row, Python 3.11, TensorFlow 2.21;
the slow model 1.92x the medium one over gRPC, 2.00x over REST, measured before the busy loops; 1 min 54 s):

| case (under load) | transport | new rule (p3) | on medians | old rule (p99) | p3 ratio (range) | s/item new, old |
|---|---|---|---|---|---|---|
| same ~1 ms model vs itself | grpc | 0/20 false alarms | 0/20 | 3/20 | 1.00x (0.96x-1.04x) | 0.13, 0.09 |
| same ~1 ms model vs itself | rest | 0/20 false alarms | 0/20 | 0/20 | 1.00x (0.99x-1.01x) | 0.19, 0.15 |
| same ~4 ms model vs itself | grpc | 0/20 false alarms | 0/20 | 4/20 | 1.00x (0.99x-1.01x) | 0.41, 0.36 |
| same ~4 ms model vs itself | rest | 0/20 false alarms | 0/20 | 1/20 | 1.00x (0.99x-1.03x) | 0.52, 0.48 |
| 2x slower model vs the ~4 ms one | grpc | 20/20 catches | 20/20 | 13/20 | 1.96x (1.94x-2.01x) | 0.64, 0.60 |
| 2x slower model vs the ~4 ms one | rest | 20/20 catches | 19/20 | 16/20 | 1.98x (1.89x-2.01x) | 0.77, 0.72 |

The figures move with the other jobs on the machine. At a busier moment (load average near 6 with the busy
loops), an earlier version of the rule (p5, new connections every round, with the second look) had no false
alarm but caught the 2x model in 15 of 20 REST runs (gRPC: 20 of 20): on a machine that busy a 4 ms request
runs clean in about 1 of 10 to 20 tries and the others wait whole scheduler ticks (4 ms), so the fast end
thins out. On timings stored
from busy runs (two and four busy loops; 104 runs of the 2x model, 168 of a model against itself), p3 with the
second look caught 104 of 104 with no false alarm; p5 missed one and, with connections kept for the whole item,
raised 2 false alarms where p3 raised none.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

RATIO, FLOOR_MS = 1.5, 1.0
MEDIUM_STEPS = 1000


@dataclass
class Tally:
    """One row: the decisions and figures of both rules over the runs."""

    new: int = 0
    median: int = 0
    old: int = 0
    second: int = 0  # runs of the new rule that took a second look
    ratios: list[float] = field(default_factory=list)
    widths: list[float] = field(default_factory=list)
    new_s: list[float] = field(default_factory=list)
    old_s: list[float] = field(default_factory=list)


def old_rule(open_cand: Callable[[], Any], open_base: Callable[[], Any], features: dict[str, np.ndarray],
             requests: int) -> bool:
    """The rule before: the candidate's warm p99 on a new connection, then the baseline's on another; a regression
    when the p99 is over 1.5x the baseline's and at least 1 ms slower."""
    from pytest_savedmodel.latency import measure_latency

    p99 = []
    for opener in (open_cand, open_base):
        runner = opener()
        try:
            p99.append(measure_latency(partial(runner.predict, features), requests=requests).p99_ms)
        finally:
            runner.close()
    return p99[0] > p99[1] * RATIO and p99[0] - p99[1] >= FLOOR_MS


def one_run(open_runner: Callable[[str], Any], cand: str, base: str, features: dict[str, np.ndarray],
            requests: int, seed: int, tally: Tally) -> None:
    from pytest_savedmodel.latency import compare_latency, is_regression, ratio_of_quantiles, round_plan

    for rule in ("new", "old") if seed % 2 == 0 else ("old", "new"):  # neither always runs first
        t = time.perf_counter()
        if rule == "new":
            got = compare_latency(partial(open_runner, cand), partial(open_runner, base), features,
                                  requests=requests, ratio=RATIO, floor_ms=FLOOR_MS, seed=seed)
            r = got.ratio
            tally.new += is_regression(r, ratio=RATIO, floor_ms=FLOOR_MS)
            tally.second += r.rounds > round_plan(requests)[0]
            tally.ratios.append(r.ratio)
            tally.widths.append(r.high - r.low)
            tally.new_s.append(time.perf_counter() - t)
            assert got.rounds_ms is not None  # the same rule on the medians of the same interleaved timings
            medians = ratio_of_quantiles(*got.rounds_ms, quantile=50, seed=seed)
            tally.median += is_regression(medians, ratio=RATIO, floor_ms=FLOOR_MS)
        else:
            tally.old += old_rule(partial(open_runner, cand), partial(open_runner, base), features, requests)
            tally.old_s.append(time.perf_counter() - t)


def clean_ms(open_runner: Callable[[str], Any], name: str, features: dict[str, np.ndarray]) -> float:
    """The p3 of 60 round trips on one connection, before the busy loops start: the cost of a request that got
    to run (other jobs share the machine too; a median would move with them)."""
    r = open_runner(name)
    try:
        for _ in range(5):
            r.predict(features)
        times = []
        for _ in range(60):
            t = time.perf_counter()
            r.predict(features)
            times.append((time.perf_counter() - t) * 1e3)
        return float(np.percentile(times, 3))
    finally:
        r.close()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=20, help="runs per row and transport")
    parser.add_argument("--busy", type=int, default=2, help="busy-loop processes running beside the runs")
    parser.add_argument("--requests", type=int, default=50, help="--savedmodel-latency-requests")
    parser.add_argument("--transports", default="grpc,rest")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="savedmodel-latency-"))
    try:
        return run(tmp, args.runs, args.busy, args.requests, args.transports.split(","))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def run(tmp: Path, runs: int, busy: int, requests: int, transports: list[str]) -> int:
    import tensorflow as tf

    from pytest_savedmodel import open_model
    from pytest_savedmodel.runners.grpc import GrpcRunner
    from pytest_savedmodel.runners.rest import RestRunner
    from pytest_savedmodel.serving.launcher import ModelServer, ServedModel
    from tests import modelzoo

    features = {"x": np.array([[1.0, 2.0, 3.0, 4.0]], np.float32)}
    dirs = {"small": modelzoo.slow_identity(tmp / "small", steps=1),
            "small_twin": modelzoo.slow_identity(tmp / "small_twin", steps=1),
            "medium": modelzoo.slow_identity(tmp / "medium", steps=MEDIUM_STEPS),
            "medium_twin": modelzoo.slow_identity(tmp / "medium_twin", steps=MEDIUM_STEPS)}
    sig = open_model(dirs["small"]).runner("raw").signature

    def serve(names: dict[str, Path], log: str) -> ModelServer:
        return ModelServer.create("emulator", models=[ServedModel(n, d / "1", 1) for n, d in names.items()],
                                  log_dir=tmp / log).start()

    def opener(server: ModelServer, transport: str) -> Callable[[str], Any]:
        if transport == "grpc":
            return lambda name: GrpcRunner(sig, target=server.grpc_target, model_name=name)
        return lambda name: RestRunner(sig, base_url=server.rest_url, model_name=name)

    # calibrate before the busy loops, per transport (REST adds more than gRPC): round trip = a + b * steps;
    # the slow model of a transport takes twice the medium model's round trip over it
    slow_steps: dict[str, int] = {}
    with serve({"small": dirs["small"], "medium": dirs["medium"]}, "calibrate") as server:
        for tr in transports:
            t1, tn = (clean_ms(opener(server, tr), name, features) for name in ("small", "medium"))
            slow_steps[tr] = round(MEDIUM_STEPS + tn / ((tn - t1) / (MEDIUM_STEPS - 1)))
            dirs[f"slow_{tr}"] = modelzoo.slow_identity(tmp / f"slow_{tr}", steps=slow_steps[tr])
    rows: list[tuple[str, str, Tally]] = []
    hogs: list[subprocess.Popen[bytes]] = []
    with serve(dirs, "server") as server:
        calibrated = {tr: clean_ms(opener(server, tr), f"slow_{tr}", features)
                      / clean_ms(opener(server, tr), "medium", features) for tr in transports}
        try:
            hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(busy)]
            for case, cand, base in (("same ~1 ms model vs itself", "small", "small_twin"),
                                     ("same ~4 ms model vs itself", "medium", "medium_twin"),
                                     ("2x slower model vs the ~4 ms one", "slow_{t}", "medium")):
                for transport in transports:
                    tally = Tally()
                    for seed in range(runs):
                        one_run(opener(server, transport), cand.format(t=transport), base, features, requests, seed,
                                tally)
                    rows.append((case, transport, tally))
                    print(f"  {case} [{transport}]: new {tally.new}/{runs}, medians {tally.median}/{runs}, "
                          f"old {tally.old}/{runs}", file=sys.stderr)
        finally:
            for h in hogs:
                h.kill()
                h.wait()

    print(f"\nMachine: {platform.platform()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
          f"TensorFlow {tf.__version__}; {busy} busy-loop processes; {requests} warm requests per model; "
          f"slow models: " + ", ".join(f"{tr} {slow_steps[tr]} loop steps vs {MEDIUM_STEPS}, {calibrated[tr]:.2f}x "
                                       "before the busy loops" for tr in transports) + "\n")
    print("| case (under load) | transport | new rule (p3) | same rule on medians | old rule (p99) | "
          "new: p3 ratio, median (range) | new: mean 95% CI width | new: second looks | s per item new / old |")
    print("|---|---|---|---|---|---|---|---|---|")
    ok = True
    for case, transport, t in rows:
        what = "catches" if case.startswith("2x") else "false alarms"
        ok &= (t.new == runs) if what == "catches" else (t.new == 0)
        new_s, old_s = float(np.median(t.new_s)), float(np.median(t.old_s))
        print(f"| {case} | {transport} | {t.new}/{runs} {what} | {t.median}/{runs} | {t.old}/{runs} | "
              f"{np.median(t.ratios):.2f}x ({min(t.ratios):.2f}x to {max(t.ratios):.2f}x) | "
              f"{np.mean(t.widths):.2f} | {t.second}/{runs} | {new_s:.2f} / {old_s:.2f} ({new_s / old_s:.2f}×) |")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
