"""How often a defect confined to about 1 row in 500 of the input space is caught, over 20 seeds.

    python benchmarks/rare_region.py

The model is a fake runner (no TensorFlow): ``y = x`` for four float inputs, except NaN where
2.0 < x0 < 2.05, a band that holds about 1 in 500 of the rows the bulk phase draws (measured below). The gate's
own ``finite`` check runs through the catalogue, as in the plugin, with the defaults of this version (25
Hypothesis examples, the sweep, 2,000 bulk rows) and with the defaults before the bulk phase (100 Hypothesis
examples and the sweep). Prints a Markdown table.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pytest_savedmodel.bulk import bulk_batches
from pytest_savedmodel.spec import SignatureSpec, TensorSpec, dtype_by_name

F32 = dtype_by_name("float32")
SIG = SignatureSpec("serving_default", "tensorflow/serving/predict",
                    {f"x{i}": TensorSpec(f"x{i}", F32, (None,), f"x{i}:0") for i in range(4)},
                    {"y": TensorSpec("y", F32, (None,), "y:0")})


def model(features: dict[str, Any]) -> dict[str, np.ndarray]:
    x0 = np.asarray(features["x0"], dtype=np.float32)
    return {"y": np.where((x0 > 2.0) & (x0 < 2.05), np.float32(np.nan), x0)}


def caught(seed: int, **overrides: Any) -> tuple[bool, int]:
    from pytest_savedmodel.catalogue import run_check
    from pytest_savedmodel.context import CheckContext
    from pytest_savedmodel.planned import PlannedCheck, Side
    from pytest_savedmodel.runners.fake import FakeRunner
    from pytest_savedmodel.settings import Settings

    planned = PlannedCheck("savedmodel:m", ("serving_default", "finite"), "finite", "m", signature="serving_default",
                           right=Side("raw"))
    settings = dataclasses.replace(Settings(), seed=seed, **overrides)
    ctx = CheckContext(planned, settings, signature=SIG, runners={"raw": FakeRunner(SIG, model, name="raw")})
    try:
        run_check(ctx)
    except AssertionError:
        return True, ctx.result.examples
    return False, ctx.result.examples


def main() -> int:
    rows = np.concatenate([c["x0"] for c in bulk_batches(SIG, rows=200_000, seed=1, digest="share", budget_s=60)])
    share = float(np.mean((rows > 2.0) & (rows < 2.05)))
    print(f"share of drawn rows in the band: 1 in {1 / share:.0f}\n")
    print("| defaults | caught on seeds | inputs checked per item | seconds per item |")
    print("|---|---|---|---|")
    for label, overrides in (("before: 100 Hypothesis examples + sweep", {"examples": 100, "rows": 0}),
                             ("now: 25 Hypothesis examples + sweep + 2,000 bulk rows", {})):
        hits, inputs, start = 0, 0, time.perf_counter()
        for seed in range(20):
            ok, n = caught(seed, **overrides)
            hits, inputs = hits + ok, inputs + n
        print(f"| {label} | {hits} of 20 | {inputs / 20:.0f} | {(time.perf_counter() - start) / 20:.3f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
