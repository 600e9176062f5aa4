"""The eager path: tf.saved_model.load(dir).signatures[KEY], as a TF2 notebook calls it, against TF Serving's loader.

The fact it guards (read in TF 2.21's loaders, seen on the model below): for a TF1 export with no main op,
``loader_impl.SavedModelLoader.run_init_ops`` runs nothing after restoring the variables, while
``load_v1_in_v2._EagerSavedModelLoader.load`` runs ``get_init_op(...) or Scaffold.default_local_init_op()``, so
local variables and tables are initialised again over their restored values.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests import modelzoo

ARGS = ["-p", "no:cacheprovider", "--savedmodel-server=none", "--savedmodel-examples=10"]


@pytest.fixture(scope="module")
def tf2_model(zoo_dir: Path) -> Path:
    return modelzoo.tf2_object_checkpoints(zoo_dir / "eager_tf2")["savedmodel"]


@pytest.fixture(scope="module")
def local_variable_skew(zoo_dir: Path) -> Path:
    return modelzoo.loader_skew_local_variable(zoo_dir / "eager_skew")


def test_a_tf2_export_agrees_on_the_eager_path_by_default(pytester: pytest.Pytester, tf2_model: Path) -> None:
    result = pytester.runpytest(*ARGS, f"--savedmodel=affine={tf2_model}", "-k", "eager", "-v")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*savedmodel:affine::serving_default::parity[[]raw~eager[]] PASSED*"])


def test_a_tf1_export_gets_the_eager_path_only_when_asked(pytester: pytest.Pytester,
                                                          local_variable_skew: Path) -> None:
    result = pytester.runpytest(*ARGS, f"--savedmodel=m={local_variable_skew}", "--collect-only", "-q")
    assert "eager" not in result.stdout.str()
    result = pytester.runpytest(*ARGS, f"--savedmodel=m={local_variable_skew}", "--savedmodel-eager", "-k", "eager")
    result.assert_outcomes(failed=1)
    out = result.stdout.str()
    assert "savedmodel:m::serving_default::parity[raw~eager]" in out
    # x * 5 served, x * 1 in the notebook: shrunk to the smallest x that shows it
    assert "raw" in out and "eager" in out and "Reproduce:" in out
    assert "tf.saved_model.load(" in out and "import tensorflow as tf" in out
    saved = Path(out.split("shrunk inputs saved to ", 1)[1].split()[0])
    assert saved.is_file() and "parity-raw-eager-" in saved.name


def test_open_model_runs_the_eager_path(local_variable_skew: Path, tf2_model: Path) -> None:
    from pytest_savedmodel import open_model

    x = np.array([1.0, 2.0], np.float32)
    skewed = open_model(local_variable_skew)
    with skewed.runner("raw") as raw, skewed.runner("eager") as eager:
        np.testing.assert_array_equal(raw.predict({"x": x})["y"], [5.0, 10.0])  # what TF Serving answers
        np.testing.assert_array_equal(eager.predict({"x": x})["y"], [1.0, 2.0])  # what a TF2 notebook gets
    clean = open_model(tf2_model)
    feats = {"x": np.array([[1.0, 2.0, 3.0]], np.float32)}
    with clean.runner("raw") as raw, clean.runner("eager") as eager:
        np.testing.assert_allclose(raw.predict(feats)["y"], eager.predict(feats)["y"], rtol=1e-6)


def test_bad_eager_and_runner_requests_say_what_to_do(tf2_model: Path, tmp_path: Path) -> None:
    from pytest_savedmodel import open_model
    from pytest_savedmodel.errors import ModelLoadError, RunnerError, UsageError
    from pytest_savedmodel.locate import find_model
    from pytest_savedmodel.runners.eager import EagerRunner

    model = open_model(tf2_model)
    with pytest.raises(UsageError, match=r"unknown prediction path 'nope'; paths: raw, parsing, checkpoint"):
        model.runner("nope")
    with pytest.raises(UsageError, match=r"the frozen path compares a file with this SavedModel: give it, "
                                         r"runner\('frozen', artifact=PATH\)"):
        model.runner("frozen")
    with pytest.raises(UsageError, match=r"the grpc path needs a running TF Serving; in-process paths: raw, parsing"):
        model.runner("grpc")
    with model.runner("eager") as eager, pytest.raises(RunnerError) as info:
        eager.predict({"z": np.zeros(1, np.float32)})
    assert "eager runner, savedmodel v1 signature 'serving_default': unknown input(s) ['z']; the signature's inputs " \
           "are ['x']" in str(info.value)
    broken = tmp_path / "broken" / "1"
    broken.mkdir(parents=True)
    (broken / "saved_model.pb").write_bytes((tf2_model / "1" / "saved_model.pb").read_bytes()[:300])
    with pytest.raises(ModelLoadError, match=r"tf.saved_model.load could not load .*broken/1 \(tags serve\): "):
        EagerRunner(find_model(broken.parent), model.signature()).load()
