"""The zero-code suite's speed on the models teams ship, now and with the defaults before the bulk phase.

    python benchmarks/suite_speed.py [--quick]

Builds, in a temporary directory, a wide tabular Keras 3 model (120 float32 and 10 int64 inputs) and a small
CNN (96x96x3, three conv layers, random weights), exports them with ``model.export()``, and the Iris example.
Then runs ``pytest --savedmodel=...`` as a user would (a fresh process each time, the emulator for the
served paths) and prints a Markdown table: the ``finite`` item alone and the whole suite, with this
version's defaults ("now": 25 Hypothesis examples, the sweep, 2,000 bulk rows) and with the defaults before
the bulk phase ("before": ``--savedmodel-examples=100 --savedmodel-rows=0``), and the rows each checked.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BEFORE = ["--savedmodel-examples=100", "--savedmodel-rows=0"]


def build(out: Path) -> dict[str, Path]:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import numpy as np

    keras.utils.set_random_seed(0)
    floats = [keras.Input((1,), name=f"f{i}", dtype="float32") for i in range(120)]
    ints = [keras.Input((1,), name=f"i{i}", dtype="int64") for i in range(10)]
    x = keras.layers.Concatenate()([*floats, *[keras.ops.cast(i, "float32") for i in ints]])
    x = keras.layers.Dense(64, activation="relu")(x)
    wide = keras.Model([*floats, *ints], keras.layers.Dense(1, activation="sigmoid", name="p")(x))
    wide.export(str(out / "wide" / "1"), verbose=False)
    image = keras.Input((96, 96, 3), name="image")
    y = image
    for filters in (8, 16, 32):
        y = keras.layers.Conv2D(filters, 3, strides=2, activation="relu")(y)
    y = keras.layers.GlobalAveragePooling2D()(y)
    cnn = keras.Model(image, keras.layers.Dense(10, activation="softmax", name="scores")(y))
    cnn.export(str(out / "cnn" / "1"), verbose=False)
    subprocess.run([sys.executable, str(REPO / "examples" / "iris" / "iris_model.py"), "--out", str(out / "iris")],
                   check=True, capture_output=True)
    del np
    return {"wide": out / "wide", "cnn": out / "cnn", "iris": out / "iris" / "raw"}


def run(model: Path, *extra: str, cwd: Path) -> tuple[float, str]:
    """Wall time of one pytest process, and its output."""
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", f"--savedmodel={model}",
                           "--savedmodel-seed=1", *extra], cwd=cwd, capture_output=True, text=True)
    took = time.perf_counter() - start
    if proc.returncode not in (0, 1):
        raise SystemExit(f"pytest failed on {model}: {proc.stdout[-1000:]}\n{proc.stderr[-2000:]}")
    return took, proc.stdout


def item_seconds(out: str, check: str) -> str:
    """The call time of the ``check`` item, from pytest's ``--durations`` table."""
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[1] == "call" and parts[2].endswith(f"::{check}"):
            return parts[0].removesuffix("s")
    return "?"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="the finite items only")
    args = parser.parse_args()
    import tensorflow as tf

    print(f"machine: {os.cpu_count()} CPUs, {platform.python_version()}, TF {tf.__version__}\n")
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        (base / "run").mkdir()
        models = build(base / "models")
        print("| model | what | before | now |")
        print("|---|---|---|---|")
        for name, path in models.items():
            finite = ["--savedmodel-server=none", "-k", "finite and not parsing", "--durations=0", "-vv"]
            _, out_before = run(path, *finite, *BEFORE, cwd=base / "run")
            _, out_now = run(path, *finite, cwd=base / "run")
            print(f"| {name} | `finite` item alone (pytest's call time, the model's load included) | "
                  f"{item_seconds(out_before, 'finite')} s "
                  f"| {item_seconds(out_now, 'finite')} s |")
            if args.quick:
                continue
            timed = ["--durations=0", "-vv"]
            t_before, whole_before = run(path, *BEFORE, *timed, cwd=base / "run")
            t_now, whole_now = run(path, *timed, cwd=base / "run")
            print(f"| {name} | `finite` item inside the whole suite (the model loaded by the items before it) | "
                  f"{item_seconds(whole_before, 'finite')} s | {item_seconds(whole_now, 'finite')} s |")
            print(f"| {name} | whole zero-code suite, served paths included (one pytest process) | "
                  f"{t_before:.1f} s | {t_now:.1f} s |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
