"""A SavedModel of Classify/Regress signatures for the served shape rules (tests/plugin/test_served_shape_rules.py).

Every signature takes ``inputs`` (serialized tf.Examples) and has TF Serving's method name. Clean ones, which TF
Serving serves: ``regress_unknown_rank`` (the output's rank is unknown in the SignatureDef; the graph gives
``[N, 1]``), ``regress_n1`` (declared ``[N, 1]``), ``classify_scores`` (``scores`` ``[N, 2]`` only),
``classify_labels`` (``classes`` and ``scores``, ``[N, 2]`` each), ``regress_optional`` and ``classify_optional``
(their only features are FixedLen with defaults, so a batch may leave all of them out). One TF Serving refuses:
``regress_wide`` (``outputs`` ``[N, 2]``).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

CLASSIFY, REGRESS = "tensorflow/serving/classify", "tensorflow/serving/regress"
CLEAN = ("regress_unknown_rank", "regress_n1", "classify_scores", "classify_labels", "regress_optional",
         "classify_optional")
#: the signatures whose features are all optional
OPTIONAL = ("regress_optional", "classify_optional")

Signatures = dict[str, tuple[str, dict[str, Any], dict[str, Any]]]


def build_signatures(base: Path, graph_fn: Callable[[Any], Signatures], *, version: int = 1) -> Path:
    """A TF1 SavedModel whose signatures ``graph_fn(tf) -> {name: (method, inputs, outputs)}`` builds in one graph
    (no ``serving_default``: every signature keeps its own name in item ids)."""
    import tensorflow as tf

    info = tf.compat.v1.saved_model.utils.build_tensor_info
    with tf.Graph().as_default(), tf.compat.v1.Session() as sess:
        sigs = graph_fn(tf)
        defs = {name: tf.compat.v1.saved_model.signature_def_utils.build_signature_def(
                    {k: info(v) for k, v in ins.items()}, {k: info(v) for k, v in outs.items()}, method)
                for name, (method, ins, outs) in sigs.items()}
        builder = tf.compat.v1.saved_model.Builder(str(base / str(version)))
        builder.add_meta_graph_and_variables(sess, ["serve"], signature_def_map=defs)
        builder.save()
    return base


def shape_rules(base: Path) -> Path:
    """The signatures listed in the module docstring, in one export (one server for all of them)."""
    def g(tf: Any) -> Signatures:
        serialized = tf.compat.v1.placeholder(tf.string, [None], name="examples")
        required = tf.io.parse_example(serialized, {"x": tf.io.FixedLenFeature([1], tf.float32)})
        x = required["x"]  # [N, 1]
        y = tf.add(0.5 * x, 2.0, name="y")  # [N, 1]
        # the same values, but the SignatureDef cannot say the rank: the target shape is only known when it runs
        target = tf.compat.v1.placeholder_with_default(tf.shape(y), shape=None, name="target_shape")
        unknown = tf.reshape(y, target, name="y_unknown_rank")
        scores = tf.concat([y, 1.0 - y], axis=1, name="scores")  # [N, 2]
        labels = tf.tile(tf.constant([["low", "high"]]), tf.stack([tf.shape(x)[0], 1]), name="labels")
        wide = tf.concat([y, y], axis=1, name="wide")  # [N, 2]: Regress refuses it
        # its own input: the parse spec is recovered per input tensor
        serialized_opt = tf.compat.v1.placeholder(tf.string, [None], name="examples_opt")
        optional = tf.io.parse_example(serialized_opt, {
            "a": tf.io.FixedLenFeature([1], tf.float32, default_value=[1.5]),
            "b": tf.io.FixedLenFeature([], tf.float32, default_value=-2.0),
        })
        total = tf.add(optional["a"][:, 0], optional["b"], name="total")  # [N]
        opt_scores = tf.stack([total, 2.0 * total], axis=1, name="opt_scores")  # [N, 2]
        ins, ins_opt = {"inputs": serialized}, {"inputs": serialized_opt}
        return {
            "regress_unknown_rank": (REGRESS, ins, {"outputs": unknown}),
            "regress_n1": (REGRESS, ins, {"outputs": y}),
            "classify_scores": (CLASSIFY, ins, {"scores": scores}),
            "classify_labels": (CLASSIFY, ins, {"classes": labels, "scores": scores}),
            "regress_optional": (REGRESS, ins_opt, {"outputs": total}),
            "classify_optional": (CLASSIFY, ins_opt, {"scores": opt_scores}),
            "regress_wide": (REGRESS, ins, {"outputs": wide}),
        }

    return build_signatures(base, g)
