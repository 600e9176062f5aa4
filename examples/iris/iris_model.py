"""The source write-ups' Iris classifier, trained once and exported every way they show.

TensorFlow 2.16+ has no ``tf.estimator``, so this uses the ``tf.compat.v1``
graph APIs the write-ups' low-level sections use: placeholders,
``tf.io.parse_example``, ``SavedModelBuilder``, ``Saver`` and
``convert_variables_to_constants``. Data are synthesized with numpy (no
downloads) and training is deterministic, so every run exports the same model.

    python examples/iris/iris_model.py --out examples/iris/export

writes (all from ONE set of weights):

    export/raw/1/                    SavedModel: SepalLength..PetalWidth float32 [-1] -> class_ids, logits,
                                     probabilities
    export/parsing/1570635853/       SavedModel: examples string [-1] (tf.Example) -> same outputs; + classification
    export/checkpoint/model.ckpt.*   tf.compat.v1.train.Saver checkpoint of the raw graph
    export/frozen/frozen.pb          frozen GraphDef of the raw graph
    export/MANIFEST.json             what is where, tensor names, accuracy
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

FEATURES = ("SepalLength", "SepalWidth", "PetalLength", "PetalWidth")
CLASSES = (b"setosa", b"versicolor", b"virginica")
# Per class means and standard deviations of the real Iris measurements (cm).
_MEANS = np.array([[5.01, 3.43, 1.46, 0.25], [5.94, 2.77, 4.26, 1.33], [6.59, 2.97, 5.55, 2.03]])
_STDS = np.array([[0.35, 0.38, 0.17, 0.11], [0.52, 0.31, 0.47, 0.20], [0.64, 0.32, 0.55, 0.27]])
HIDDEN = (10, 10)
PARSING_VERSION = 1570635853  # an Estimator-style timestamp directory
RAW_VERSION = 1  # a TF Serving-style version directory


def synthesize(n: int = 150, seed: int = 0) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """``n`` Iris-like rows (balanced classes) and their labels, deterministic for a seed."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 3
    x = rng.normal(_MEANS[labels], _STDS[labels]).astype(np.float32)
    return {name: x[:, i] for i, name in enumerate(FEATURES)}, labels.astype(np.int64)


def train(*, seed: int = 0, init_seed: int | None = None, steps: int = 300, lr: float = 0.05) -> dict[str, np.ndarray]:
    """Train the 4-10-10-3 MLP with full-batch gradient descent in numpy (deterministic).

    ``seed`` draws the data; ``init_seed`` (default ``seed + 1``) the initial weights: the same data with
    another ``init_seed`` is a retrain, the model a team exports next week.

    Training in numpy keeps the weights bit-identical across machines and TF
    versions; the exported graphs below then reproduce the forward pass in TF.
    """
    feats, labels = synthesize(150, seed)
    x = np.stack([feats[f] for f in FEATURES], axis=1).astype(np.float64)
    rng = np.random.default_rng(seed + 1 if init_seed is None else init_seed)
    sizes = (4, *HIDDEN, 3)
    w = [rng.normal(0, np.sqrt(2.0 / a), (a, b)) for a, b in itertools.pairwise(sizes)]
    b = [np.zeros(s) for s in sizes[1:]]
    onehot = np.eye(3)[labels]
    for _ in range(steps):
        acts = [x]
        for i in range(len(w)):
            z = acts[-1] @ w[i] + b[i]
            acts.append(np.maximum(z, 0) if i < len(w) - 1 else z)
        logits = acts[-1]
        p = np.exp(logits - logits.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        grad = (p - onehot) / len(x)
        for i in reversed(range(len(w))):
            gw, gb = acts[i].T @ grad, grad.sum(0)
            if i > 0:
                grad = (grad @ w[i].T) * (acts[i] > 0)
            w[i] -= lr * gw
            b[i] -= lr * gb
    out = {}
    for i in range(len(w)):
        out[f"w{i}"], out[f"b{i}"] = w[i].astype(np.float32), b[i].astype(np.float32)
    return out


def predict(weights: Mapping[str, np.ndarray], features: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The training-side forward pass in numpy: {feature: [batch]} -> the exported outputs (float32 math)."""
    h = np.stack([np.asarray(features[f], np.float32).reshape(-1) for f in FEATURES], axis=1)
    for i in range(len(HIDDEN) + 1):
        h = h @ weights[f"w{i}"] + weights[f"b{i}"]
        h = np.maximum(h, 0) if i < len(HIDDEN) else h
    e = np.exp(h - h.max(1, keepdims=True))
    return {"logits": h, "probabilities": e / e.sum(1, keepdims=True), "class_ids": h.argmax(1)[:, None]}


def accuracy(weights: Mapping[str, np.ndarray], seed: int = 0) -> float:
    """Accuracy of the numpy forward pass on the synthetic data."""
    feats, labels = synthesize(150, seed)
    return float((predict(weights, feats)["class_ids"][:, 0] == labels).mean())


def _tf() -> Any:
    import tensorflow as tf

    return tf


def _model(tf: Any, x: Any, weights: Mapping[str, np.ndarray]) -> dict[str, Any]:
    """The forward pass on a [batch, 4] float tensor, with weights as Variables."""
    h = x
    for i in range(len(HIDDEN) + 1):
        w = tf.compat.v1.get_variable(f"dense_{i}/kernel", initializer=weights[f"w{i}"])
        b = tf.compat.v1.get_variable(f"dense_{i}/bias", initializer=weights[f"b{i}"])
        h = tf.matmul(h, w) + b
        h = tf.nn.relu(h) if i < len(HIDDEN) else h
    logits = tf.identity(h, name="logits")
    return {
        "class_ids": tf.expand_dims(tf.argmax(logits, axis=1), -1, name="class_ids"),
        "logits": logits,
        "probabilities": tf.nn.softmax(logits, name="probabilities"),
    }


def _raw_graph(tf: Any, weights: Mapping[str, np.ndarray], order: tuple[str, ...] = FEATURES) -> tuple[dict, dict]:
    inputs = {f: tf.compat.v1.placeholder(tf.float32, [None], name=f) for f in FEATURES}
    x = tf.stack([inputs[f] for f in order], axis=1)
    return inputs, _model(tf, x, weights)


def _save(tf: Any, sess: Any, export_dir: Path, signatures: Mapping[str, Any]) -> Path:
    builder = tf.compat.v1.saved_model.Builder(str(export_dir))
    builder.add_meta_graph_and_variables(sess, [tf.compat.v1.saved_model.tag_constants.SERVING],
                                         signature_def_map=dict(signatures), strip_default_attrs=True)
    builder.save()
    return export_dir


def _predict_sig(tf: Any, inputs: Mapping[str, Any], outputs: Mapping[str, Any]) -> Any:
    return tf.compat.v1.saved_model.predict_signature_def(dict(inputs), dict(outputs))


def export_raw(export_dir: Path, weights: Mapping[str, np.ndarray]) -> Path:
    """A raw-receiver SavedModel: one float32 [-1] input per feature."""
    tf = _tf()
    with tf.Graph().as_default(), tf.compat.v1.Session() as sess:
        inputs, outputs = _raw_graph(tf, weights)
        sess.run(tf.compat.v1.global_variables_initializer())
        return _save(tf, sess, export_dir, {"serving_default": _predict_sig(tf, inputs, outputs)})


def export_parsing(
    export_dir: Path,
    weights: Mapping[str, np.ndarray],
    *,
    feature_defaults: Mapping[str, float] | None = None,
    feature_dtypes: Mapping[str, str] | None = None,
) -> Path:
    """A tf.Example-parsing SavedModel, as ``build_parsing_serving_input_receiver_fn`` made them.

    ``feature_defaults`` gives features a FixedLenFeature default; ``feature_dtypes``
    (e.g. ``{"PetalLength": "int64"}``) parses a feature with another dtype and
    casts it to float for the model. Both exist to build defective exports in tests.
    """
    tf = _tf()
    defaults, dtypes = dict(feature_defaults or {}), dict(feature_dtypes or {})
    with tf.Graph().as_default(), tf.compat.v1.Session() as sess:
        serialized = tf.compat.v1.placeholder(tf.string, [None], name="input_example_tensor")
        spec = {}
        for f in FEATURES:
            dtype = tf.as_dtype(dtypes.get(f, "float32"))
            default = [dtype.as_numpy_dtype(defaults[f])] if f in defaults else None
            spec[f] = tf.io.FixedLenFeature([1], dtype, default_value=default)
        parsed = tf.io.parse_example(serialized, spec)
        x = tf.concat([tf.cast(parsed[f], tf.float32) for f in FEATURES], axis=1)
        outputs = _model(tf, x, weights)
        sess.run(tf.compat.v1.global_variables_initializer())
        top = tf.math.top_k(outputs["probabilities"], k=3)
        classes = tf.gather(tf.constant(list(CLASSES)), top.indices)
        sigs = {
            "serving_default": _predict_sig(tf, {"examples": serialized}, outputs),
            "predict": _predict_sig(tf, {"examples": serialized}, outputs),
            "classification": tf.compat.v1.saved_model.classification_signature_def(
                serialized, classes, top.values),
        }
        return _save(tf, sess, export_dir, sigs)


def _single_vector_graph(tf: Any, weights: Mapping[str, np.ndarray],
                         feature_order: tuple[str, ...] = FEATURES) -> tuple[dict, dict]:
    """One ``x`` float32 [-1, 4] input whose columns are read as the features in ``feature_order``."""
    x = tf.compat.v1.placeholder(tf.float32, [None, 4], name="x")
    cols = [x[:, feature_order.index(f)] for f in FEATURES]
    return {"x": x}, _model(tf, tf.stack(cols, axis=1), weights)


def export_single_vector(export_dir: Path, weights: Mapping[str, np.ndarray], *,
                         feature_order: tuple[str, ...] = FEATURES) -> Path:
    """A SavedModel with one input vector read in ``feature_order`` (the write-up's pitfall when it differs)."""
    tf = _tf()
    with tf.Graph().as_default(), tf.compat.v1.Session() as sess:
        inputs, outputs = _single_vector_graph(tf, weights, feature_order)
        sess.run(tf.compat.v1.global_variables_initializer())
        return _save(tf, sess, export_dir, {"serving_default": _predict_sig(tf, inputs, outputs)})


def export_checkpoint(prefix: Path, weights: Mapping[str, np.ndarray], *, single_vector: bool = False) -> Path:
    """A Saver checkpoint (``.meta``, ``.index``, ``.data-*``) of the raw graph (or the one-vector training graph)."""
    tf = _tf()
    prefix.parent.mkdir(parents=True, exist_ok=True)
    with tf.Graph().as_default(), tf.compat.v1.Session() as sess:
        (_single_vector_graph if single_vector else _raw_graph)(tf, weights)
        sess.run(tf.compat.v1.global_variables_initializer())
        tf.compat.v1.train.Saver().save(sess, str(prefix))
    return prefix


def export_frozen(path: Path, weights: Mapping[str, np.ndarray]) -> Path:
    """The raw graph with variables folded into constants, as a binary GraphDef."""
    tf = _tf()
    path.parent.mkdir(parents=True, exist_ok=True)
    with tf.Graph().as_default(), tf.compat.v1.Session() as sess:
        _raw_graph(tf, weights)
        sess.run(tf.compat.v1.global_variables_initializer())
        frozen = tf.compat.v1.graph_util.convert_variables_to_constants(
            sess, sess.graph.as_graph_def(), ["class_ids", "logits", "probabilities"])
    path.write_bytes(frozen.SerializeToString())
    return path


def export_all(out_dir: Path, *, weights: Mapping[str, np.ndarray] | None = None) -> dict[str, Path]:
    """Train (unless ``weights`` are given) and write every export under ``out_dir``."""
    weights = dict(weights) if weights is not None else train()
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {
        "raw": export_raw(out_dir / "raw" / str(RAW_VERSION), weights).parent,
        "parsing": export_parsing(out_dir / "parsing" / str(PARSING_VERSION), weights).parent,
        "checkpoint": export_checkpoint(out_dir / "checkpoint" / "model.ckpt", weights),
        "frozen": export_frozen(out_dir / "frozen" / "frozen.pb", weights),
    }
    manifest = {
        "accuracy": round(accuracy(weights), 4),
        "features": list(FEATURES),
        "exports": {k: str(v.relative_to(out_dir)) for k, v in paths.items()},
        "tensors": {"inputs": {f: f"{f}:0" for f in FEATURES},
                    "outputs": {"class_ids": "class_ids:0", "logits": "logits:0", "probabilities": "probabilities:0"},
                    "parsing_input": "input_example_tensor:0"},
        "versions": {"raw": RAW_VERSION, "parsing": PARSING_VERSION},
    }
    (out_dir / "MANIFEST.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return paths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", required=True, type=Path, help="directory to write the exports into")
    parser.add_argument("--seed", type=int, default=None,
                        help="seed of the initial weights (default 1); another seed is a retrain on the same data")
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if args.out.exists() and any(args.out.iterdir()):
        import shutil

        for sub in ("raw", "parsing", "checkpoint", "frozen"):  # refresh only what we write
            shutil.rmtree(args.out / sub, ignore_errors=True)
    paths = export_all(args.out, weights=train(init_seed=args.seed) if args.seed is not None else None)
    for kind, path in paths.items():
        print(f"{kind:10s} {path}")
    print(f"accuracy   {json.loads((args.out / 'MANIFEST.json').read_text())['accuracy']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
