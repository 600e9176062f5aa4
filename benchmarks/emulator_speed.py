"""The emulator's Predict hot paths, as ratios measured in one run. Not part of the test suite.

    python benchmarks/emulator_speed.py [--quick]

Builds two models into a temporary directory in a few seconds (the Iris raw export, and a small CNN: three
Conv2D layers on a 96x96x3 float32 image, about MobileNetV2's compute at that size, random weights, saved with
``tf.saved_model.save``, whose second signature ``echo`` returns a 96x96x3 tensor so that the JSON encoder is
exercised too), serves them with the emulator and prints a Markdown table. Every ratio compares two things
timed in the same run, interleaved round by round (the median of each side over the rounds), so that a shared
machine's noise falls on both sides.

Baselines: the bare TF signature call (``tf.saved_model.load(dir).signatures[key](**tensors)``) and the session
run the emulator itself does (its ``Servable.run``, in this process).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

SIDE = 96


def paired(a: Callable[[], object], b: Callable[[], object], *, seconds: float) -> tuple[float, float]:
    """Median seconds per call of ``a`` and of ``b``, timed in alternating rounds."""
    for _ in range(3):
        a()
        b()
    ta: list[float] = []
    tb: list[float] = []
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline or len(ta) < 5:
        for fn, out in ((a, ta), (b, tb)):
            t = time.perf_counter()
            fn()
            out.append(time.perf_counter() - t)
    return statistics.median(ta), statistics.median(tb)


def build_cnn(export_dir: Path) -> None:
    import tensorflow as tf

    rng = np.random.default_rng(0)

    def weight(*shape: int) -> tf.Variable:
        return tf.Variable(rng.normal(0, 0.1, shape).astype(np.float32))

    class Cnn(tf.Module):
        def __init__(self) -> None:
            super().__init__()
            # about 90 M multiply-adds per image, of the order of MobileNetV2 at 96x96 (about 55 M)
            self.k1, self.k2, self.k3 = weight(3, 3, 3, 32), weight(3, 3, 32, 64), weight(3, 3, 64, 128)
            self.dense = weight(128, 10)

        @tf.function(input_signature=[tf.TensorSpec([None, SIDE, SIDE, 3], tf.float32, name="image")])
        def classify(self, image: tf.Tensor) -> dict[str, tf.Tensor]:
            x = image
            for k, stride in ((self.k1, 2), (self.k2, 1), (self.k3, 2)):
                x = tf.nn.relu(tf.nn.conv2d(x, k, strides=stride, padding="SAME"))
            logits = tf.matmul(tf.reduce_mean(x, axis=[1, 2]), self.dense)
            return {"probabilities": tf.nn.softmax(logits)}

        @tf.function(input_signature=[tf.TensorSpec([None, SIDE, SIDE, 3], tf.float32, name="image")])
        def echo(self, image: tf.Tensor) -> dict[str, tf.Tensor]:
            return {"scaled": image * 0.5 + 1.0}

    m = Cnn()
    tf.saved_model.save(m, str(export_dir), signatures={"serving_default": m.classify, "echo": m.echo})


def build_iris(export_dir: Path) -> dict[str, np.ndarray]:
    import importlib.util

    spec = importlib.util.spec_from_file_location("iris_model", REPO / "examples" / "iris" / "iris_model.py")
    assert spec and spec.loader
    iris = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(iris)
    iris.export_raw(export_dir, iris.train(steps=50))
    return {"SepalLength": np.array([5.1, 5.9], np.float32), "SepalWidth": np.array([3.3, 3.0], np.float32),
            "PetalLength": np.array([1.7, 4.2], np.float32), "PetalWidth": np.array([0.5, 1.5], np.float32)}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="shorter rounds")
    args = parser.parse_args()
    secs = 2.0 if args.quick else 5.0
    tmp = Path(tempfile.mkdtemp(prefix="savedmodel-emubench-"))
    try:
        return run(tmp, secs)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def run(tmp: Path, secs: float) -> int:
    import tensorflow as tf

    from pytest_savedmodel import open_model
    from pytest_savedmodel.runners._http import HttpClient
    from pytest_savedmodel.runners.grpc import GrpcRunner
    from pytest_savedmodel.runners.rest import RestRunner
    from pytest_savedmodel.serving.emulator.servables import Servable
    from pytest_savedmodel.serving.launcher import ModelServer, ServedModel

    t0 = time.perf_counter()
    build_cnn(tmp / "cnn" / "1")
    iris_feats = build_iris(tmp / "iris" / "1")
    built = time.perf_counter() - t0
    rng = np.random.default_rng(1)
    image = rng.uniform(0, 1, (1, SIDE, SIDE, 3)).astype(np.float32)
    rows: list[tuple[str, str, str, str]] = []

    def add(what: str, ours: float, base: float, base_name: str) -> None:
        rows.append((what, f"{ours * 1e3:.2f} ms", f"{base * 1e3:.2f} ms ({base_name})", f"{ours / base:.2f}×"))

    server = ModelServer.create("emulator", models=[ServedModel("cnn", tmp / "cnn" / "1", 1),
                                                    ServedModel("iris", tmp / "iris" / "1", 1)],
                                log_dir=tmp / "server").start()
    try:
        for model, feats in (("iris", iris_feats), ("cnn", {"image": image})):
            sig = open_model(tmp / model).signature("serving_default")
            bare_fn = tf.saved_model.load(str(tmp / model / "1")).signatures["serving_default"]
            tensors = {k: tf.constant(v) for k, v in feats.items()}
            servable = Servable(model, 1, tmp / model / "1", ["serve"])
            sig_def = servable.signature_def("serving_default")
            feeds = {sig_def.inputs[k].name: v for k, v in feats.items()}
            fetches = [sig_def.outputs[k].name for k in sorted(sig_def.outputs)]
            g = GrpcRunner(sig, target=server.grpc_target, model_name=model)
            what = "Iris (2 rows)" if model == "iris" else f"CNN, {SIDE}x{SIDE}x3 image"
            ours, base = paired(lambda g=g, f=feats: g.predict(f), lambda b=bare_fn, t=tensors: b(**t), seconds=secs)
            add(f"gRPC Predict round trip, {what}", ours, base, "bare TF call")
            ours, base = paired(lambda g=g, f=feats: g.predict(f),
                                lambda s=servable, fd=feeds, ft=fetches: s.run(fd, ft), seconds=secs)
            add(f"gRPC Predict round trip, {what}", ours, base, "emulator's session run")
            servable.close()

        cnn = open_model(tmp / "cnn")
        client = HttpClient()  # the REST runner's client: one kept-alive connection, stdlib http.client
        for key, label in (("serving_default", "CNN, 10 outputs"), ("echo", "echo, 96x96x3 out")):
            sig = cnn.signature(key)
            g = GrpcRunner(sig, target=server.grpc_target, model_name="cnn")
            r = RestRunner(sig, base_url=server.rest_url, model_name="cnn")
            feats = {"image": image}
            ours, base = paired(lambda r=r, f=feats: r.predict(f), lambda g=g, f=feats: g.predict(f), seconds=secs)
            add(f"REST predict (RestRunner) vs gRPC, {label}", ours, base, "gRPC Predict")
            body = json.dumps({"signature_name": key, "instances": image.tolist()})
            url = f"{server.rest_url}/v1/models/cnn:predict"

            def post(body: bytes = body.encode(), url: str = url) -> Any:
                status, content = client.request("POST", url, body=body, headers={"Content-Type": "application/json"})
                assert status == 200, content[:300]
                return content

            ours, base = paired(post, lambda g=g, f=feats: g.predict(f), seconds=secs)
            add(f"REST predict, body prebuilt, reply unparsed, {label}", ours, base, "gRPC Predict")
    finally:
        server.stop()

    print(f"\nMachine: {platform.platform()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
          f"TensorFlow {tf.__version__}, numpy {np.__version__}; models built in {built:.1f} s\n")
    print("| what | ours | baseline (same run, interleaved) | ratio |")
    print("|---|---|---|---|")
    for r_ in rows:
        print("| " + " | ".join(r_) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
