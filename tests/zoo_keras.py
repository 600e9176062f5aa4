"""Tiny models whose inputs the graph bounds (embedding ids, vocabularies, one-hot depths), built in seconds.

Each builder writes a SavedModel under ``base`` once and returns its directory; a second call with the same
``base`` reuses it (unit and plugin tests share the session's zoo directory).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

VOCABULARY = ("red", "green", "blue")
INT_VOCABULARY = (3, 7, 42)


def _built(export: Path) -> bool:
    return (export / "saved_model.pb").is_file()


def require_keras3() -> None:
    """Skip the calling test where TensorFlow ships Keras 2 (TF 2.15): these models use Keras 3's
    ``model.export()`` and ``keras.ops``."""
    import keras
    import pytest

    if int(keras.__version__.split(".")[0]) < 3:
        pytest.skip(f"builds a Keras 3 model (model.export, keras.ops); this TensorFlow has Keras {keras.__version__}")


def keras_features(base: Path, *, off_by_one: bool = False) -> Path:
    """A Keras 3 functional model exported with ``model.export``; its inputs:

    * ``ids`` int64 -> ``Embedding(20, 4)`` (and, with ``off_by_one``, also ``ids + 1`` -> the same embedding:
      a planted defect, id 19 looks up row 20);
    * ``color`` string -> ``StringLookup(vocabulary=FILE, num_oov_indices=0)`` (other strings are rejected);
    * ``shade`` string -> ``StringLookup(vocabulary=FILE, num_oov_indices=1)`` (any string is fine);
    * ``city`` string -> ``Hashing(num_bins=8)`` (any string is fine);
    * ``cat`` int64 -> ``CategoryEncoding(num_tokens=5, output_mode="multi_hot")``;
    * ``code`` int64 -> ``IntegerLookup(vocabulary=[3, 7, 42], num_oov_indices=0)``.
    """
    require_keras3()
    export = base / "1"
    if _built(export):
        return base
    import keras

    base.mkdir(parents=True, exist_ok=True)
    vocab = base / "colors.txt"
    vocab.write_text("".join(f"{w}\n" for w in VOCABULARY))
    keras.utils.set_random_seed(7)
    ids = keras.Input(shape=(1,), dtype="int64", name="ids")
    color = keras.Input(shape=(1,), dtype="string", name="color")
    shade = keras.Input(shape=(1,), dtype="string", name="shade")
    city = keras.Input(shape=(1,), dtype="string", name="city")
    cat = keras.Input(shape=(1,), dtype="int64", name="cat")
    code = keras.Input(shape=(1,), dtype="int64", name="code")
    embedding = keras.layers.Embedding(20, 4)
    parts = [keras.layers.Flatten()(embedding(ids))]
    if off_by_one:
        parts.append(keras.layers.Flatten()(embedding(keras.ops.add(ids, 1))))
    for layer, x in (
        (keras.layers.StringLookup(vocabulary=str(vocab), num_oov_indices=0, output_mode="one_hot"), color),
        (keras.layers.StringLookup(vocabulary=str(vocab), num_oov_indices=1, output_mode="one_hot"), shade),
        (keras.layers.Hashing(num_bins=8, output_mode="one_hot"), city),
        (keras.layers.CategoryEncoding(num_tokens=5, output_mode="multi_hot"), cat),
        (keras.layers.IntegerLookup(vocabulary=list(INT_VOCABULARY), num_oov_indices=0, output_mode="one_hot"), code),
    ):
        parts.append(keras.ops.cast(layer(x), "float32"))
    out = keras.layers.Dense(1)(keras.layers.Concatenate()(parts))
    model = keras.Model([ids, color, shade, city, cat, code], out)
    model.export(str(export), verbose=False)
    return base


def _tf() -> Any:
    import tensorflow as tf

    return tf


def gather_module(base: Path) -> Path:
    """A ``tf.Module`` (``tf.saved_model.save``) whose ``serving_default`` takes:

    * ``i`` int64 -> ``tf.gather`` on a 7-row ``tf.Variable`` table;
    * ``j`` int64 -> the same gather and ``tf.one_hot(depth=4)``: the tighter bound wins;
    * ``d`` int32 -> ``tf.one_hot(depth=6)``;
    * ``k`` int64 -> ``tf.gather(table, k mod 7)``: arithmetic first, so no domain (any id is fine);
    * ``w`` string -> a ``StaticHashTable`` (keys p, q, r; default -1) whose ids are gathered (-1 fails);
    * ``h`` string -> ``tf.strings.to_hash_bucket_fast(8)`` then gathered: any string is fine.
    """
    export = base / "1"
    if _built(export):
        return base
    tf = _tf()
    tf.random.set_seed(3)

    class Gather(tf.Module):
        def __init__(self) -> None:
            super().__init__()
            self.table = tf.Variable(tf.random.normal([7, 3]))
            self.words = tf.lookup.StaticHashTable(
                tf.lookup.KeyValueTensorInitializer(tf.constant([b"p", b"q", b"r"]), tf.constant([0, 1, 2], tf.int64)),
                default_value=-1)

        @tf.function(input_signature=[tf.TensorSpec([None], tf.int64, "i"), tf.TensorSpec([None], tf.int64, "j"),
                                      tf.TensorSpec([None], tf.int32, "d"), tf.TensorSpec([None], tf.int64, "k"),
                                      tf.TensorSpec([None], tf.string, "w"), tf.TensorSpec([None], tf.string, "h")])
        def serve(self, i: Any, j: Any, d: Any, k: Any, w: Any, h: Any) -> dict[str, Any]:
            y = (tf.gather(self.table, i) + tf.gather(self.table, j) + tf.one_hot(j, 4)[:, :3]
                 + tf.one_hot(d, 6)[:, :3] + tf.gather(self.table, tf.math.floormod(k, 7))
                 + tf.gather(self.table, self.words.lookup(w))
                 + tf.gather(self.table, tf.strings.to_hash_bucket_fast(h, 7)))
            return {"y": y}

    m = Gather()
    tf.saved_model.save(m, str(export), signatures={"serving_default": m.serve})
    return base


def parsing_module(base: Path) -> Path:
    """A ``tf.Module`` whose ``serving_default`` parses tf.Examples: ``id`` (int64) gathers a 9-row table,
    ``w`` (string, default ``a``) is looked up in a closed table (keys a, b), ``x`` (float) is added."""
    export = base / "1"
    if _built(export):
        return base
    tf = _tf()

    class Parse(tf.Module):
        def __init__(self) -> None:
            super().__init__()
            self.table = tf.Variable(tf.reshape(tf.range(18, dtype=tf.float32), [9, 2]))
            self.words = tf.lookup.StaticHashTable(
                tf.lookup.KeyValueTensorInitializer(tf.constant([b"a", b"b"]), tf.constant([0, 1], tf.int64)),
                default_value=-1)

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, "examples")])
        def serve(self, examples: Any) -> dict[str, Any]:
            f = tf.io.parse_example(examples, {
                "id": tf.io.FixedLenFeature([], tf.int64),
                "w": tf.io.FixedLenFeature([], tf.string, default_value=b"a"),
                "x": tf.io.FixedLenFeature([], tf.float32),
            })
            y = tf.gather(self.table, f["id"]) + tf.gather(self.table, self.words.lookup(f["w"])) + f["x"][:, None]
            return {"y": y}

    m = Parse()
    tf.saved_model.save(m, str(export), signatures={"serving_default": m.serve})
    return base
