"""Tiny models with several signatures in one SavedModel (raw/parsing pairs, identical signatures), built in seconds.

Each builder writes a SavedModel under ``base`` (version ``1``) once and returns ``base``; a second call with the
same ``base`` reuses it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _built(base: Path) -> bool:
    return (base / "1" / "saved_model.pb").is_file()


def two_signatures(base: Path, *, scale: float = 1.0, x_default: float | None = None, k_as_float: bool = False,
                   rename_outputs: bool = False) -> Path:
    """A ``tf.Module`` with two signatures over one computation ``y = 2x + k + sum(tags)`` (and ``k2 = 2k``):

    * ``serving_default`` (raw): ``x`` float32 [None], ``k`` int64 [None], ``tags`` int64 [None, 2];
    * ``parse_examples`` (parsing): ``examples`` string [None], parsed with ``tf.io.parse_example``:
      ``x`` FixedLen float32 (default ``x_default``, else required), ``k`` FixedLen int64 (required),
      ``tags`` VarLen int64 (made dense), then the same computation.

    Planted variants: ``scale`` multiplies the parsed x (1.05: a skew); ``k_as_float`` parses ``k`` as a float
    feature (the pairing rule needs matching dtypes, so only ``--savedmodel-pair`` pairs it);
    ``rename_outputs`` names the parsing outputs ``score``/``score_k2`` (no output name in common).
    """
    if _built(base):
        return base
    import tensorflow as tf

    class TwoSignatures(tf.Module):
        def __init__(self) -> None:
            super().__init__()
            self.w = tf.Variable(2.0)

        def compute(self, x: Any, k: Any, tags: Any) -> dict[str, Any]:
            y = self.w * x + tf.cast(k, tf.float32) + tf.cast(tf.reduce_sum(tags, axis=1), tf.float32)
            return {"y": y, "k2": k * 2}

        @tf.function(input_signature=[tf.TensorSpec([None], tf.float32, "x"), tf.TensorSpec([None], tf.int64, "k"),
                                      tf.TensorSpec([None, 2], tf.int64, "tags")])
        def serve(self, x: Any, k: Any, tags: Any) -> dict[str, Any]:
            return self.compute(x, k, tags)

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, "examples")])
        def parse(self, examples: Any) -> dict[str, Any]:
            f = tf.io.parse_example(examples, {
                "x": tf.io.FixedLenFeature([], tf.float32, default_value=x_default),
                "k": tf.io.FixedLenFeature([], tf.float32 if k_as_float else tf.int64),
                "tags": tf.io.VarLenFeature(tf.int64),
            })
            k = tf.cast(f["k"], tf.int64)
            out = self.compute(f["x"] * scale, k, tf.sparse.to_dense(f["tags"]))
            return {"score": out["y"], "score_k2": out["k2"]} if rename_outputs else out

    module = TwoSignatures()
    tf.saved_model.save(module, str(base / "1"), signatures={
        "serving_default": module.serve.get_concrete_function(),
        "parse_examples": module.parse.get_concrete_function(),
    })
    return base


def keras_export(base: Path) -> Path:
    """A small Keras 3 model exported with ``model.export()``: ``serve`` and ``serving_default`` are one function."""
    from tests.zoo_keras import require_keras3

    require_keras3()
    if _built(base):
        return base
    import keras

    keras.utils.set_random_seed(5)
    x = keras.Input(shape=(3,), name="x")
    y = keras.layers.Dense(2, name="y")(keras.layers.Dense(4, activation="relu")(x))
    keras.Model(x, y).export(str(base / "1"), verbose=False)
    return base
