"""A TF1 checkpoint whose variables were saved under other names: the error lists both sides."""

from __future__ import annotations

from pathlib import Path

import pytest


def test_variables_saved_under_other_names_are_listed_against_the_graphs(tmp_path: Path) -> None:
    import tensorflow as tf

    from pytest_savedmodel.errors import ModelLoadError
    from pytest_savedmodel.runners.checkpoint import CheckpointRunner
    from pytest_savedmodel.spec import SignatureSpec, TensorSpec, dtype_by_name

    prefix = tmp_path / "model.ckpt"
    with tf.Graph().as_default(), tf.compat.v1.Session() as sess:  # trained under the name "dense/kernel"
        w = tf.compat.v1.get_variable("dense/kernel", initializer=tf.ones([1]))
        sess.run(tf.compat.v1.global_variables_initializer())
        tf.compat.v1.train.Saver([w]).save(sess, str(prefix), write_meta_graph=False)
    with tf.Graph().as_default():  # the serving graph names it "tower/dense/kernel"
        x = tf.compat.v1.placeholder(tf.float32, [None], name="x")
        v = tf.compat.v1.get_variable("tower/dense/kernel", initializer=tf.zeros([1]))
        tf.identity(x * v, name="y")
        tf.compat.v1.train.export_meta_graph(str(prefix) + ".meta", saver_def=tf.compat.v1.train.Saver().saver_def)
    f32 = dtype_by_name("float32")
    sig = SignatureSpec("serving_default", "tensorflow/serving/predict", {"x": TensorSpec("x", f32, (None,), "x:0")},
                        {"y": TensorSpec("y", f32, (None,), "y:0")})
    with pytest.raises(ModelLoadError) as info:
        CheckpointRunner(prefix, sig).load()
    text = str(info.value)
    assert f"could not restore checkpoint {prefix}: NotFoundError: " in text
    assert ("The graph's variables not in the checkpoint: tower/dense/kernel; the checkpoint's variables not in the "
            "graph: dense/kernel. Were they saved under other names (another name scope, or "
            "tf.train.Saver(var_list={...}))?") in text
