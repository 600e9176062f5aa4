"""Benchmarks, each a ratio against a baseline measured in the same run. Not part of the test suite.

    python benchmarks/run.py [--quick]        (or: make bench)

Prints a Markdown table. Baselines: the bare TF signature call
(``tf.saved_model.load(dir).signatures[key](**tensors)``) and ``saved_model_cli run``.
Uses the Iris example (exported into a temporary directory).
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

ROWS: list[tuple[str, str, str, str]] = []


def per_call(fn: Callable[[], object], *, seconds: float = 2.0, warmup: int = 20) -> float:
    """Median seconds per call over repeated batches."""
    for _ in range(warmup):
        fn()
    samples = []
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        t = time.perf_counter()
        for _ in range(20):
            fn()
        samples.append((time.perf_counter() - t) / 20)
    return statistics.median(samples)


def row(what: str, ours: float, base: float, base_name: str, unit: str = "µs") -> None:
    scale = 1e6 if unit == "µs" else 1e3 if unit == "ms" else 1.0
    ROWS.append((what, f"{ours * scale:.1f} {unit}", f"{base * scale:.1f} {unit} ({base_name})", f"{ours / base:.2f}×"))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    args = parser.parse_args()
    secs = 1.0 if args.quick else 3.0
    import importlib.util

    spec = importlib.util.spec_from_file_location("iris_model", REPO / "examples" / "iris" / "iris_model.py")
    assert spec and spec.loader
    iris = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(iris)
    tmp = Path(tempfile.mkdtemp(prefix="savedmodel-bench-"))
    try:
        paths = iris.export_all(tmp)  # type: ignore[attr-defined]
        return run(paths, tmp, secs)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def run(paths: dict[str, Path], tmp: Path, secs: float) -> int:
    import tensorflow as tf

    from pytest_savedmodel import open_model
    from pytest_savedmodel.tfexample import encode_examples

    feats = {  # two rows, as tf-facts.md measured the bare call
        "SepalLength": np.array([5.1, 5.9], np.float32), "SepalWidth": np.array([3.3, 3.0], np.float32),
        "PetalLength": np.array([1.7, 4.2], np.float32), "PetalWidth": np.array([0.5, 1.5], np.float32)}
    raw_dir = next(paths["raw"].iterdir())
    parsing_dir = next(paths["parsing"].iterdir())

    # baseline: bare TF2 signature call
    bare_fn = tf.saved_model.load(str(raw_dir)).signatures["serving_default"]
    tensors = {k: tf.constant(v) for k, v in feats.items()}
    bare = per_call(lambda: bare_fn(**tensors), seconds=secs)
    raw = open_model(paths["raw"]).runner("raw")
    row("raw runner predict (2 rows)", per_call(lambda: raw.predict(feats), seconds=secs), bare, "bare TF call")

    pbare_fn = tf.saved_model.load(str(parsing_dir)).signatures["serving_default"]
    parsing = open_model(paths["parsing"]).runner("parsing")
    assert parsing.signature.parse_spec is not None
    encoded = encode_examples(feats, parsing.signature.parse_spec)
    serialized = tf.constant(encoded)
    pbare = per_call(lambda: pbare_fn(examples=serialized), seconds=secs)
    ser_np = np.empty(len(encoded), dtype=object)
    ser_np[:] = encoded
    from pytest_savedmodel.runners.raw import RawRunner

    fed = RawRunner(parsing.ref, parsing.signature)
    row("parsing signature, serialized examples fed", per_call(lambda: fed.predict({"examples": ser_np}),
                                                                seconds=secs), pbare, "bare TF call")
    row("parsing runner incl. tf.Example encoding", per_call(lambda: parsing.predict(feats), seconds=secs), pbare,
        "bare TF call")

    # served: emulator round trips
    from pytest_savedmodel.runners.grpc import GrpcRunner
    from pytest_savedmodel.runners.rest import RestRunner
    from pytest_savedmodel.serving.launcher import ModelServer, ServedModel

    t0 = time.monotonic()
    server = ModelServer.create("emulator", models=[ServedModel("iris", raw_dir, 1)], log_dir=tmp / "server").start()
    ready = time.monotonic() - t0
    try:
        g = GrpcRunner(raw.signature, target=server.grpc_target, model_name="iris")
        r = RestRunner(raw.signature, base_url=server.rest_url, model_name="iris")
        row("emulator gRPC Predict round trip", per_call(lambda: g.predict(feats), seconds=secs), bare, "bare TF call")
        row("emulator REST predict round trip", per_call(lambda: r.predict(feats), seconds=secs), bare,
            "bare TF call")
        for name, runner in (("gRPC", g), ("REST", r)):
            lat: list[float] = []

            def one(_: int, runner: object = runner, lat: list[float] = lat) -> None:
                t = time.perf_counter()
                runner.predict(feats)  # type: ignore[attr-defined]
                lat.append(time.perf_counter() - t)

            with ThreadPoolExecutor(8) as pool:
                list(pool.map(one, range(400)))
            lat.sort()
            ROWS.append((f"emulator {name} under 8 concurrent clients, 400 requests",
                         f"p50 {lat[len(lat) // 2] * 1e3:.2f} ms, p99 {lat[int(len(lat) * 0.99)] * 1e3:.2f} ms",
                         f"{bare * 1e3:.2f} ms (bare TF call)", f"{lat[len(lat) // 2] / bare:.1f}× at p50"))
    finally:
        server.stop()
    ROWS.append(("fixture request to model AVAILABLE (emulator)", f"{ready:.2f} s", "-", "-"))

    # auto suite per checked input vs saved_model_cli run
    cli = shutil.which("saved_model_cli", path=str(Path(sys.executable).parent))
    inputs_expr = "SepalLength=[5.1];SepalWidth=[3.3];PetalLength=[1.7];PetalWidth=[0.5]"
    cli_times = []
    for _ in range(3):
        t = time.perf_counter()
        subprocess.run([cli or "saved_model_cli", "run", "--dir", str(raw_dir), "--tag_set", "serve",
                        "--signature_def", "serving_default", "--input_exprs", inputs_expr],
                       capture_output=True, check=False)
        cli_times.append(time.perf_counter() - t)
    cli_per_input = statistics.median(cli_times)
    from hypothesis import strategies as st

    from pytest_savedmodel import checks as C
    from pytest_savedmodel.strategies import feature_dicts

    stats = C.Stats()
    checked = [0]

    def body(f: dict[str, np.ndarray]) -> None:
        checked[0] += len(next(iter(f.values())))
        C.check_finite("iris", raw.signature, raw.predict(f), f)

    t = time.perf_counter()
    C.run_property(body, feature_dicts(raw.signature, batch_size=st.integers(1, 4)), digest="bench",
                   max_examples=200, stats=stats)
    suite = (time.perf_counter() - t) / max(checked[0], 1)
    ROWS.append(("auto suite check (finite), per checked input", f"{suite * 1e3:.2f} ms",
                 f"{cli_per_input * 1e3:.0f} ms (saved_model_cli run)", f"{cli_per_input / suite:.0f}× cheaper"))

    # plugin import cost in an unrelated pytest run
    d = tmp / "plain"
    d.mkdir()
    (d / "test_plain.py").write_text("def test_ok():\n    assert True\n")

    def pytest_run(*extra: str) -> float:
        times = []
        for _ in range(9):  # interleaved runs; the minimum is the least noisy estimate of a process's cost
            t = time.perf_counter()
            subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *extra, str(d)],
                           capture_output=True, check=True)
            times.append(time.perf_counter() - t)
        return min(times)

    without = pytest_run("-p", "no:savedmodel")
    with_plugin = pytest_run()
    ROWS.append(("unrelated pytest run, plugin loaded vs disabled (min of 9)", f"{with_plugin * 1e3:.0f} ms",
                 f"{without * 1e3:.0f} ms (-p no:savedmodel)", f"+{(with_plugin - without) * 1e3:.0f} ms"))
    res = subprocess.run([sys.executable, "-X", "importtime", "-c", "import pytest_savedmodel.plugin"],
                         capture_output=True, text=True, check=True)
    ours = sum(int(line.split("|")[0].split(":")[1]) for line in res.stderr.splitlines()
               if "pytest_savedmodel" in line.split("|")[-1])
    ROWS.append(("import pytest_savedmodel.plugin (our modules, -X importtime)", f"{ours / 1e3:.1f} ms", "-", "-"))

    print(f"\nMachine: {platform.platform()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
          f"TensorFlow {tf.__version__}\n")
    print("| what | ours | baseline (same run) | ratio |")
    print("|---|---|---|---|")
    for r_ in ROWS:
        print("| " + " | ".join(r_) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
