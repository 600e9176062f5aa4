"""Estimator-style exports built without Estimator (gone from TF 2.16+), in seconds: a TF1 graph over
``tf.compat.v1.feature_column`` with a wide & deep body and two heads, saved with ``SavedModelBuilder``.

Features, as an Estimator's ``feature_columns`` would declare them:

* ``zip_code``: ``categorical_column_with_hash_bucket`` (50 buckets) -> an embedding (deep) and an indicator (wide);
* ``store_id``: ``categorical_column_with_identity`` (10 ids, out-of-range ids to 0), an indicator;
* ``age``: ``numeric_column``.

A raw receiver (dense placeholders ``zip_code`` string [None], ``store_id`` int64 [None], ``age`` float32 [None])
feeds them through ``input_layer``, which turns a dense string or integer input into a SparseTensor with
``_to_sparse_input_and_drop_ignore_values``: a ``''`` zip code and a ``-1`` store id are *missing* and dropped.
A parsing receiver parses serialized tf.Examples with ``make_parse_example_spec`` (``zip_code`` and ``store_id``
VarLen, ``age`` FixedLen [1] required): a tf.Example without ``zip_code`` is the raw ``''``, while one holding
``zip_code=b''`` hashes ``b''`` as a present value.

Heads: ``scores`` (softmax of 2 logits) and ``classes`` (``no``, ``yes``) for classification, ``outputs`` [N, 1]
for regression, ``logits``. Weights are fixed numpy draws, so every export holds the same model.

Planted variants (parsing side only): ``zip_default`` parses ``zip_code`` as FixedLen [1] with that default (a
client leaving zip_code out gets it hashed, where the raw path drops a missing zip code); ``age_scale`` multiplies
the parsed age.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

CLASSES = (b"no", b"yes")


def _built(path: Path) -> bool:
    return (path / "saved_model.pb").is_file()


def _columns(tf: Any) -> tuple[list[Any], list[Any]]:
    """(the columns fed to input_layer, the base columns whose parse spec a parsing receiver uses)."""
    import numpy as np

    fc = tf.compat.v1.feature_column
    zip_code = fc.categorical_column_with_hash_bucket("zip_code", 50)
    store = fc.categorical_column_with_identity("store_id", 10, default_value=0)
    age = fc.numeric_column("age")
    table = np.random.default_rng(11).normal(0.0, 0.5, (50, 4)).astype(np.float32)
    embedded = fc.embedding_column(zip_code, 4, initializer=tf.compat.v1.constant_initializer(table))
    return [embedded, fc.indicator_column(zip_code), fc.indicator_column(store), age], [zip_code, store, age]


def _heads(tf: Any, features: dict[str, Any]) -> dict[str, Any]:
    """The wide & deep body and its heads over ``features`` (raw placeholders or parsed tf.Examples)."""
    import numpy as np

    columns, _ = _columns(tf)
    net = tf.compat.v1.feature_column.input_layer(features, columns)  # [N, 1 + 10 + 4 + 50]
    rng = np.random.default_rng(5)

    def dense(x: Any, units: int, name: str) -> Any:
        w = tf.constant(rng.normal(0.0, 0.3, (int(x.shape[1]), units)).astype(np.float32), name=f"{name}_w")
        b = tf.constant(rng.normal(0.0, 0.1, units).astype(np.float32), name=f"{name}_b")
        return tf.matmul(x, w) + b

    hidden = tf.nn.relu(dense(net, 8, "hidden"))
    wide = dense(net, 2, "wide")  # the linear part
    logits = tf.identity(dense(hidden, 2, "logits") + wide, name="logits")
    scores = tf.nn.softmax(logits, name="scores")
    classes = tf.tile(tf.constant([list(CLASSES)]), tf.stack([tf.shape(logits)[0], 1]), name="classes")
    outputs = tf.identity(dense(hidden, 1, "regression"), name="outputs")
    return {"classes": classes, "scores": scores, "outputs": outputs, "logits": logits}


def _raw(tf: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """The raw receiver's placeholders and the heads over them."""
    ph = tf.compat.v1.placeholder
    inputs = {"zip_code": ph(tf.string, [None], name="zip_code"), "store_id": ph(tf.int64, [None], name="store_id"),
              "age": ph(tf.float32, [None], name="age")}
    return inputs, _heads(tf, dict(inputs))


def _parsing(tf: Any, *, zip_default: str | None, age_scale: float) -> tuple[Any, dict[str, Any]]:
    """The parsing receiver's serialized-Example placeholder and the heads over the parsed features."""
    _, base = _columns(tf)
    spec = tf.compat.v1.feature_column.make_parse_example_spec(base)
    if zip_default is not None:
        spec["zip_code"] = tf.io.FixedLenFeature([1], tf.string, default_value=[zip_default])
    serialized = tf.compat.v1.placeholder(tf.string, [None], name="input_example_tensor")
    features = dict(tf.compat.v1.io.parse_example(serialized, spec))
    if age_scale != 1.0:
        features["age"] = features["age"] * age_scale
    return serialized, _heads(tf, features)


def _save(path: Path, build: Any) -> Path:
    import tensorflow as tf

    v1 = tf.compat.v1
    with tf.Graph().as_default(), v1.Session() as sess:
        defs = build(tf)
        sess.run(v1.global_variables_initializer())
        builder = v1.saved_model.Builder(str(path))
        builder.add_meta_graph_and_variables(sess, ["serve"], signature_def_map=defs,
                                             main_op=v1.tables_initializer())
        builder.save()
    return path


def _raw_defs(tf: Any) -> dict[str, Any]:
    inputs, heads = _raw(tf)
    predict = tf.compat.v1.saved_model.predict_signature_def(inputs, heads)
    return {"serving_default": predict, "predict": predict}


def _parsing_defs(tf: Any, *, zip_default: str | None, age_scale: float, predict: bool) -> dict[str, Any]:
    sm = tf.compat.v1.saved_model
    serialized, heads = _parsing(tf, zip_default=zip_default, age_scale=age_scale)
    out = {"classification": sm.classification_signature_def(serialized, heads["classes"], heads["scores"]),
           "regression": sm.regression_signature_def(serialized, heads["outputs"])}
    if predict:
        out["predict"] = sm.predict_signature_def({"examples": serialized}, heads)
    return out


def estimator_heads(base: Path, *, zip_default: str | None = None, age_scale: float = 1.0) -> Path:
    """ONE SavedModel with both receivers, as a multi-head export: ``serving_default`` and ``predict`` (raw,
    the same tensors: tested once), ``classification`` (classify: classes, scores) and ``regression`` (regress:
    outputs) over tf.Examples. The pairing rule pairs each parsing signature with ``serving_default``."""
    if _built(base / "1"):
        return base

    def build(tf: Any) -> dict[str, Any]:
        return {**_raw_defs(tf), **_parsing_defs(tf, zip_default=zip_default, age_scale=age_scale, predict=False)}

    _save(base / "1", build)
    return base


def estimator_pair(base: Path, *, zip_default: str | None = None, age_scale: float = 1.0) -> tuple[Path, Path]:
    """An Estimator's two exports of one model: ``raw`` (``serving_default`` = ``predict``, raw inputs) and
    ``parsing`` (``serving_default`` = ``classification``, ``regression``, ``predict`` over tf.Examples), for
    ``--savedmodel=NAME=raw --savedmodel-parsing=NAME=parsing``."""
    raw, parsing = base / "raw", base / "parsing"
    if not _built(raw / "1"):
        _save(raw / "1", _raw_defs)
    if not _built(parsing / "1"):
        def build(tf: Any) -> dict[str, Any]:
            defs = _parsing_defs(tf, zip_default=zip_default, age_scale=age_scale, predict=True)
            return {"serving_default": defs["classification"], **defs}

        _save(parsing / "1", build)
    return raw, parsing
