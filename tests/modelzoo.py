"""Tiny SavedModels for the test suite, built in a session temp dir (each well under a second).

Each builder takes a target directory and returns the SavedModel base directory
(with a version subdirectory ``1`` unless said otherwise). Several are
deliberately defective: the auto suite must catch them.
"""

from __future__ import annotations

import functools
import importlib.util
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO = Path(__file__).resolve().parents[1]


@functools.cache
def iris() -> ModuleType:
    """examples/iris/iris_model.py, imported by path (the example is not a package)."""
    spec = importlib.util.spec_from_file_location("iris_model", REPO / "examples" / "iris" / "iris_model.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@functools.cache
def iris_weights() -> dict[str, np.ndarray]:
    return iris().train()  # type: ignore[no-any-return]


def _tf() -> Any:
    import tensorflow as tf

    return tf


def build(base: Path, graph_fn: Callable[[Any], tuple[dict[str, Any], dict[str, Any]]], *,
          version: int = 1, method: str | None = None, extra: Mapping[str, Any] | None = None) -> Path:
    """Build a one-signature (``serving_default``) SavedModel from ``graph_fn(tf) -> (inputs, outputs)``."""
    tf = _tf()
    export = base / str(version)
    with tf.Graph().as_default(), tf.compat.v1.Session() as sess:
        inputs, outputs = graph_fn(tf)
        sess.run(tf.compat.v1.global_variables_initializer())
        sig = tf.compat.v1.saved_model.signature_def_utils.build_signature_def(
            {k: tf.compat.v1.saved_model.utils.build_tensor_info(v) for k, v in inputs.items()},
            {k: tf.compat.v1.saved_model.utils.build_tensor_info(v) for k, v in outputs.items()},
            method or "tensorflow/serving/predict",
        )
        builder = tf.compat.v1.saved_model.Builder(str(export))
        builder.add_meta_graph_and_variables(sess, ["serve"], signature_def_map={"serving_default": sig,
                                                                                  **dict(extra or {})})
        builder.save()
    return base


def half_plus_two(base: Path) -> Path:
    def g(tf: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        x = tf.compat.v1.placeholder(tf.float32, [None], name="x")
        return {"x": x}, {"y": tf.add(0.5 * x, 2.0, name="y")}

    return build(base, g)


def nan_region(base: Path) -> Path:
    """y = sqrt(x + 10): NaN for x < -10, a region the default generator reaches."""
    def g(tf: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        x = tf.compat.v1.placeholder(tf.float32, [None], name="x")
        return {"x": x}, {"y": tf.sqrt(x + 10.0, name="y")}

    return build(base, g)


def batch_dependent(base: Path) -> Path:
    """y = x - mean(x over the batch): BatchNorm left in training mode, in one line."""
    def g(tf: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        x = tf.compat.v1.placeholder(tf.float32, [None, 2], name="x")
        return {"x": x}, {"y": tf.identity(x - tf.reduce_mean(x, axis=0, keepdims=True), name="y")}

    return build(base, g)


def nondeterministic(base: Path) -> Path:
    """Dropout left on at serving time."""
    def g(tf: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        x = tf.compat.v1.placeholder(tf.float32, [None, 8], name="x")
        return {"x": x}, {"y": tf.identity(tf.nn.dropout(x + 1.0, rate=0.5), name="y")}

    return build(base, g)


def iris_pair(base: Path, *, parsing_default: Mapping[str, float] | None = None,
              parsing_dtypes: Mapping[str, str] | None = None) -> tuple[Path, Path]:
    """The Iris raw and parsing exports from the same weights, optionally with a defective parse spec."""
    m, w = iris(), iris_weights()
    raw = m.export_raw(base / "raw" / "1", w).parent
    parsing = m.export_parsing(base / "parsing" / "1", w, feature_defaults=parsing_default,
                               feature_dtypes=parsing_dtypes).parent
    return raw, parsing


def wire_types(base: Path) -> Path:
    """Identity outputs for float32, float64, int64, bool and strings (one ``_bytes`` output): the JSON rules."""
    def g(tf: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        f = tf.compat.v1.placeholder(tf.float32, [None], name="f")
        d = tf.compat.v1.placeholder(tf.float64, [None], name="d")
        i = tf.compat.v1.placeholder(tf.int64, [None], name="i")
        b = tf.compat.v1.placeholder(tf.bool, [None], name="b")
        s = tf.compat.v1.placeholder(tf.string, [None], name="s")
        outs = {"f": tf.identity(f, "f_out"), "d": tf.identity(d, "d_out"), "i": tf.identity(i, "i_out"),
                "b": tf.identity(b, "b_out"), "s": tf.identity(s, "s_out"), "s_bytes": tf.identity(s, "sb_out")}
        return {"f": f, "d": d, "i": i, "b": b, "s": s}, outs

    return build(base, g)


def contract_versions(base: Path) -> dict[str, Path]:
    """v1; a v2 that renames output y to z and makes input x float64; a v3 that only adds an output; a v4 that
    only renames y to z (same function); a v5 that renames y to z and computes x * 2.5 (a rename and a retrain)."""
    def v1(tf: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        x = tf.compat.v1.placeholder(tf.float32, [None], name="x")
        return {"x": x}, {"y": tf.identity(x * 2.0, name="y")}

    def v2(tf: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        x = tf.compat.v1.placeholder(tf.float64, [None], name="x")
        return {"x": x}, {"z": tf.cast(x * 2.0, tf.float32, name="z")}

    def v3(tf: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        x = tf.compat.v1.placeholder(tf.float32, [None], name="x")
        return {"x": x}, {"y": tf.identity(x * 2.0, name="y"), "extra": tf.identity(x + 1.0, name="extra")}

    def v4(tf: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        x = tf.compat.v1.placeholder(tf.float32, [None], name="x")
        return {"x": x}, {"z": tf.identity(x * 2.0, name="z")}

    def v5(tf: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        x = tf.compat.v1.placeholder(tf.float32, [None], name="x")
        return {"x": x}, {"z": tf.identity(x * 2.5, name="z")}

    return {name: build(base / name, fn) for name, fn in (("v1", v1), ("v2", v2), ("v3", v3), ("v4", v4),
                                                             ("v5", v5))}


def shared_state(base: Path) -> Path:
    """y = the input, round-tripped through one variable all requests share: right alone, racy under load.

    Each call writes its x into a shared variable, spends a few milliseconds, then reads the variable back.
    Called one at a time (or twice in a row) y == x, so determinism and batch checks pass; two calls in
    flight at once can read each other's x. A model that keeps per-request state in a variable (or a custom
    op with a static buffer) behaves like this.
    """
    def g(tf: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        x = tf.compat.v1.placeholder(tf.float32, [None, 4], name="x")
        v = tf.compat.v1.Variable(tf.zeros([64, 4]), name="slot", use_resource=True)
        n = tf.shape(x)[0]
        padded = tf.pad(x, [[0, 64 - n], [0, 0]])
        write = v.assign(padded)
        with tf.control_dependencies([write]):
            # busy work that the read must wait for: the window in which another request overwrites the slot
            spin = _spin(tf, 3000)
        with tf.control_dependencies([spin]):
            y = tf.identity(v.read_value()[:n], name="y")
        return {"x": x}, {"y": y}

    return build(base, g)


def _spin(tf: Any, steps: int) -> Any:
    """A scalar that takes ``steps`` loop iterations to compute (about 5 us each): time spent in the graph."""
    return tf.while_loop(lambda i, a: i < steps, lambda i, a: (i + 1, a * 0.5 + 1.0),
                         [tf.constant(0), tf.constant(0.0)])[1]


def slow_identity(base: Path, *, steps: int, version: int = 1) -> Path:
    """y = x, after ``steps`` loop iterations: a model that answers the same, only slower."""
    def g(tf: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        x = tf.compat.v1.placeholder(tf.float32, [None, 4], name="x")
        with tf.control_dependencies([_spin(tf, steps)]):
            y = tf.identity(x, name="y")
        return {"x": x}, {"y": y}

    return build(base, g, version=version)


def affine_module() -> Any:
    """A fresh TF2 ``tf.Module``: y = sum(x * w) + b over x [batch, 3], with zero-initialised variables."""
    tf = _tf()

    class Affine(tf.Module):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.w = tf.Variable(tf.zeros([3], tf.float32), name="w")
            self.b = tf.Variable(0.0, name="b")

        @tf.function(input_signature=[tf.TensorSpec([None, 3], tf.float32, name="x")])
        def serve(self, x: Any) -> dict[str, Any]:
            return {"y": tf.reduce_sum(x * self.w, axis=1) + self.b}

        def __call__(self, features: dict[str, Any]) -> dict[str, Any]:
            return self.serve(features["x"])  # type: ignore[no-any-return]

    return Affine()


def tf2_object_checkpoints(base: Path) -> dict[str, Path]:
    """A TF2 SavedModel of :func:`affine_module` with trained weights, its object checkpoint, and an older one."""
    tf = _tf()
    m = affine_module()
    m.w.assign([0.5, -1.0, 2.0])
    m.b.assign(0.25)
    older = tf.train.Checkpoint(model=m).save(str(base / "old" / "ckpt"))
    m.w.assign([0.5, -1.0, 2.5])
    current = tf.train.Checkpoint(model=m).save(str(base / "current" / "ckpt"))
    tf.saved_model.save(m, str(base / "savedmodel" / "1"), signatures={"serving_default": m.serve})
    return {"savedmodel": base / "savedmodel", "checkpoint": Path(current), "older": Path(older)}


def example_kinds(base: Path) -> Path:
    """A parsing SavedModel whose parse spec has every feature kind: FixedLen with a default, required FixedLen,
    VarLen (string, int64), a SparseFeature and a RaggedFeature. y sums them per example."""
    def g(tf: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        serialized = tf.compat.v1.placeholder(tf.string, [None], name="examples")
        spec = {
            "age": tf.io.FixedLenFeature([1], tf.float32, default_value=[30.0]),
            "height": tf.io.FixedLenFeature([1], tf.float32),
            "tags": tf.io.VarLenFeature(tf.string),
            "clicks": tf.io.VarLenFeature(tf.int64),
            "sp": tf.io.SparseFeature(index_key="sp_idx", value_key="sp_val", dtype=tf.float32, size=8),
            "history": tf.io.RaggedFeature(tf.float32),
        }
        f = tf.io.parse_example(serialized, spec)
        n = tf.shape(serialized)[0]
        per_row = lambda st: tf.math.unsorted_segment_sum(  # noqa: E731
            tf.cast(st.values, tf.float32), st.indices[:, 0], n)
        y = (f["age"][:, 0] + f["height"][:, 0] + per_row(f["clicks"])
             + tf.math.unsorted_segment_sum(tf.ones_like(f["tags"].indices[:, 0], tf.float32), f["tags"].indices[:, 0],
                                            n)
             + tf.sparse.reduce_sum(f["sp"], axis=1) + tf.reduce_sum(f["history"], axis=1))
        return {"examples": serialized}, {"y": tf.identity(y, name="y")}

    return build(base, g)


def loader_skew_local_variable(base: Path) -> Path:
    """A TF1 export, no main op, whose local variable ``c`` is checkpointed as 5 but initialised to 1: TF Serving's
    session loader restores 5 and runs no initialiser; ``tf.saved_model.load`` (load_v1_in_v2) runs the default
    local initialiser after restoring, so a TF2 notebook computes with 1. y = x * c."""
    tf = _tf()
    v1 = tf.compat.v1
    export = base / "1"
    with tf.Graph().as_default(), v1.Session() as sess:
        x = v1.placeholder(tf.float32, [None], name="x")
        c = v1.get_variable("c", initializer=1.0,
                            collections=[v1.GraphKeys.GLOBAL_VARIABLES, v1.GraphKeys.LOCAL_VARIABLES])
        sess.run(c.initializer)
        sess.run(c.assign(5.0))
        builder = v1.saved_model.Builder(str(export))
        builder.add_meta_graph_and_variables(sess, ["serve"], signature_def_map={
            "serving_default": v1.saved_model.predict_signature_def({"x": x}, {"y": tf.identity(x * c, name="y")})})
        builder.save()
    return base


def looping(base: Path) -> Path:
    """``y = 2x``, but a ``tf.while_loop`` that never ends when any x < 0 (a model that hangs on some inputs)."""

    def graph(tf: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        x = tf.compat.v1.placeholder(tf.float32, [None], name="x")
        _, y = tf.while_loop(lambda i, v: tf.reduce_any(v < 0), lambda i, v: (i + 1, v), [tf.constant(0), x])
        return {"x": x}, {"y": y * 2.0}

    return build(base, graph)


def huge_input(base: Path, *, dims: tuple[int, ...] = (50_000_000,)) -> Path:
    """An input declared ``[-1, *dims]`` float32 (200 MB a row by default); ``y = sum(x)`` per row."""

    def graph(tf: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        x = tf.compat.v1.placeholder(tf.float32, [None, *dims], name="x")
        return {"x": x}, {"y": tf.reduce_sum(tf.reshape(x, [tf.shape(x)[0], -1]), axis=1)}

    return build(base, graph)


def huge_output(base: Path) -> Path:
    """``y = zeros([batch, 100000000])`` declared ``[-1, 100000000]`` float32: 400 MB a row of output."""

    def graph(tf: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        x = tf.compat.v1.placeholder(tf.float32, [None], name="x")
        y = tf.zeros(tf.stack([tf.shape(x)[0], 100_000_000]))
        return {"x": x}, {"y": tf.ensure_shape(y, [None, 100_000_000])}

    return build(base, graph)


def one_row_only(base: Path) -> Path:
    """Declares ``x`` [-1, 3] but reshapes it to [1, 3]: one row runs, two rows fail (``y`` = row sum)."""

    def graph(tf: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        x = tf.compat.v1.placeholder(tf.float32, [None, 3], name="x")
        y = tf.reduce_sum(tf.reshape(x, [1, 3]), axis=1, keepdims=True)
        return {"x": x}, {"y": tf.compat.v1.placeholder_with_default(y, [None, 1])}

    return build(base, graph)


def wide_nan_band(base: Path, *, band: bool = True) -> Path:
    """A wide tabular graph (40 float and 20 int64 inputs, each [None, 1]) whose output is NaN while f17 is in
    (3, 3.5) and i05 is positive (``band``; else clean): the groups are drawn as codes (pytest_savedmodel.coded)."""
    def g(tf: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        floats = {f"f{i:02d}": tf.compat.v1.placeholder(tf.float32, [None, 1], name=f"f{i:02d}") for i in range(40)}
        ints = {f"i{i:02d}": tf.compat.v1.placeholder(tf.int64, [None, 1], name=f"i{i:02d}") for i in range(20)}
        total = 0.01 * tf.add_n(list(floats.values())) + 0.001 * tf.cast(tf.add_n(list(ints.values())), tf.float32)
        if not band:
            return {**floats, **ints}, {"y": tf.identity(total, name="y")}
        bad = tf.logical_and(tf.logical_and(floats["f17"] > 3.0, floats["f17"] < 3.5), ints["i05"] > 0)
        y = tf.where(bad, tf.math.log(-tf.ones_like(total)), total, name="y")
        return {**floats, **ints}, {"y": y}

    return build(base, g)


def batch_of_eight(base: Path) -> Path:
    """y = x - mean(x) for a batch of exactly 8 rows, else x: batch dependence that the batch check's own
    batches (2 to 4 rows, the sweep's 64) never meet, and the one-per-signature probe (8 rows) does."""
    def g(tf: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        x = tf.compat.v1.placeholder(tf.float32, [None, 2], name="x")
        centred = x - tf.reduce_mean(x, axis=0, keepdims=True)
        return {"x": x}, {"y": tf.identity(tf.where(tf.equal(tf.shape(x)[0], 8), centred, x), name="y")}

    return build(base, g)


def batch_dependent_above(base: Path, *, limit: float = 5.5) -> Path:
    """y = x - mean(x) when a row of x exceeds ``limit``, else x: batch dependence only outside a range that
    ``--savedmodel-range`` can declare (x=0..5), where the model is clean."""
    def g(tf: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        x = tf.compat.v1.placeholder(tf.float32, [None, 2], name="x")
        centred = x - tf.reduce_mean(x, axis=0, keepdims=True)
        return {"x": x}, {"y": tf.identity(tf.where(tf.reduce_any(x > limit), centred, x), name="y")}

    return build(base, g)
