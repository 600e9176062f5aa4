"""Rows per second through the bulk phase of one ``finite`` item, against the bare model call, on Iris.

    python benchmarks/bulk_rows.py

Exports the Iris example into a temporary directory, then times, in alternating rounds: the bulk phase as a
check runs it (2,000 rows drawn with numpy in chunks, each chunk through the raw runner and the finite check)
and one raw runner call on the same 2,000 rows (the model's own limit). Prints a Markdown table with the ratio.
"""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main() -> int:
    import numpy as np
    import tensorflow as tf

    from pytest_savedmodel import open_model
    from pytest_savedmodel.bulk import BulkState, bulk_batches, check_chunk
    from pytest_savedmodel.checks import check_finite

    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, str(REPO / "examples" / "iris" / "iris_model.py"), "--out", tmp],
                       check=True, capture_output=True)
        runner = open_model(str(Path(tmp) / "raw")).runner("raw", signature="serving_default")
        sig = runner.signature
        rows = {k: np.concatenate([c[k] for c in bulk_batches(sig, rows=2000, seed=1, digest="bare")])
                for k in sig.inputs}

        def bulk() -> int:
            n = 0
            for chunk in bulk_batches(sig, rows=2000, seed=1, digest="finite"):
                check_chunk(lambda f: check_finite("iris", sig, runner.predict(f), f), chunk, BulkState())
                n += len(next(iter(chunk.values())))
            return n

        bulk()
        runner.predict(rows)
        ours, bare = [], []
        for _ in range(30):
            start = time.perf_counter()
            n = bulk()
            ours.append(time.perf_counter() - start)
            start = time.perf_counter()
            runner.predict(rows)
            bare.append(time.perf_counter() - start)
        o, b = statistics.median(ours), statistics.median(bare)
        print(f"machine: {os.cpu_count()} CPUs, Python {platform.python_version()}, TF {tf.__version__}\n")
        print("| what | time (median of 30) | rows per second |")
        print("|---|---|---|")
        print(f"| bulk phase of a `finite` item: {n} rows drawn, run in chunks, checked | {o * 1000:.1f} ms | "
              f"{n / o:,.0f} |")
        print(f"| one raw runner call on {n} rows (the model's limit) | {b * 1000:.1f} ms | {n / b:,.0f} |")
        print(f"| ratio | {o / b:.1f}x | |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
