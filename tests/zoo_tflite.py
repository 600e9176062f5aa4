"""Models for the TFLite paths, built in seconds: .tflite files of the Iris example, a model wide enough for
dynamic-range quantization to quantize its weights, and one whose string op TFLite cannot convert."""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from tests import modelzoo


def tflite_of(export: Path, out: Path, *, signature: str = "serving_default") -> Path:
    """The float TFLite conversion of the SavedModel ``export`` (a version directory), written to ``out``."""
    import tensorflow as tf

    out.parent.mkdir(parents=True, exist_ok=True)
    converter = tf.lite.TFLiteConverter.from_saved_model(str(export), signature_keys=[signature])
    out.write_bytes(converter.convert())
    return out


def iris_tflite(base: Path, weights: Mapping[str, np.ndarray]) -> Path:
    """The Iris raw export of ``weights`` (under ``base``) converted to ``base/iris.tflite``."""
    export = modelzoo.iris().export_raw(base / "raw" / "1", weights)
    return tflite_of(export, base / "iris.tflite")


def iris_from_session(out: Path, weights: Mapping[str, np.ndarray]) -> Path:
    """The Iris graph converted from a TF1 session with every input fixed at one row: a flatbuffer without
    signatures (inputs and outputs by tensor name) and without a free batch dimension."""
    import tensorflow as tf

    m = modelzoo.iris()
    out.parent.mkdir(parents=True, exist_ok=True)
    with tf.Graph().as_default(), tf.compat.v1.Session() as sess:
        inputs, outputs = m._raw_graph(tf, weights)
        sess.run(tf.compat.v1.global_variables_initializer())
        for t in inputs.values():
            t.set_shape([1])
        converter = tf.compat.v1.lite.TFLiteConverter.from_session(
            sess, [inputs[f] for f in m.FEATURES], [outputs[k] for k in sorted(outputs)])
        out.write_bytes(converter.convert())
    return out


def wide(base: Path, *, width: int = 64, seed: int = 3) -> Path:
    """An Iris-shaped MLP (4 float inputs [-1] -> ``width`` -> ``width`` -> 3) with seeded random weights: its
    ``width x width`` kernel is over the 1024 elements dynamic-range quantization leaves in float."""
    rng = np.random.default_rng(seed)
    sizes = (4, width, width, 3)
    weights = [(rng.normal(0, np.sqrt(2.0 / a), (a, b)).astype(np.float32), rng.normal(0, 0.1, b).astype(np.float32))
               for a, b in itertools.pairwise(sizes)]

    def graph(tf: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        inputs = {f: tf.compat.v1.placeholder(tf.float32, [None], name=f) for f in modelzoo.iris().FEATURES}
        h = tf.stack([inputs[f] for f in sorted(inputs)], axis=1)
        for i, (w, b) in enumerate(weights):
            h = tf.matmul(h, tf.compat.v1.get_variable(f"w{i}", initializer=w)) + tf.compat.v1.get_variable(
                f"b{i}", initializer=b)
            h = tf.nn.relu(h) if i < len(weights) - 1 else h
        logits = tf.identity(h, name="logits")
        return inputs, {"logits": logits, "probabilities": tf.nn.softmax(logits, name="probabilities"),
                        "class_ids": tf.expand_dims(tf.argmax(logits, axis=1), -1, name="class_ids")}

    return modelzoo.build(base, graph)


def string_op(base: Path) -> Path:
    """``y = x + len(s)``: the StringLength op has no TFLite kernel (it needs TF Select, "Flex")."""
    def graph(tf: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        s = tf.compat.v1.placeholder(tf.string, [None], name="s")
        x = tf.compat.v1.placeholder(tf.float32, [None], name="x")
        return {"s": s, "x": x}, {"y": tf.identity(tf.cast(tf.strings.length(s), tf.float32) + x, name="y")}

    return modelzoo.build(base, graph)
