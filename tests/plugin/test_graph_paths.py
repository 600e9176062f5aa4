"""Checkpoint and frozen-graph paths against the SavedModel (pytester), and their error words."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pytest_savedmodel.errors import ModelLoadError, ModelNotFound, RunnerError
from pytest_savedmodel.locate import find_model
from pytest_savedmodel.runners.graph import CheckpointRunner, FrozenRunner
from pytest_savedmodel.signatures import inspect_model

ARGS = ["-p", "no:cacheprovider", "--savedmodel-examples=15", "--savedmodel-server=none"]


def test_checkpoint_and_frozen_agree_with_the_savedmodel(pytester: pytest.Pytester,
                                                         iris_graphs: dict[str, Path]) -> None:
    g = iris_graphs
    result = pytester.runpytest(*ARGS, f"--savedmodel=iris={g['raw']}", f"--savedmodel-checkpoint={g['checkpoint']}",
                                f"--savedmodel-frozen={g['frozen']}", "-k", "checkpoint or frozen")
    result.assert_outcomes(passed=4)
    # 15 generated examples, then the sweep batch (see pytest_savedmodel.sweep)
    result.stdout.fnmatch_lines(["*iris:checkpoint*serving_default*parity[[]raw~checkpoint[]]*16*ok*",
                                 "*iris:frozen*serving_default*parity[[]raw~frozen[]]*16*ok*"])


def test_frozen_graph_from_an_earlier_checkpoint_is_caught(pytester: pytest.Pytester,
                                                           iris_graphs: dict[str, Path]) -> None:
    g = iris_graphs
    result = pytester.runpytest(*ARGS, f"--savedmodel=iris={g['raw']}", f"--savedmodel-frozen={g['frozen_old']}",
                                "-k", "frozen")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*savedmodel:iris:frozen::serving_default::parity[[]raw~frozen[]]*",
                                 "*raw and frozen disagree (signature 'serving_default')*",
                                 "*output '*': * elements differ; max abs error*"])


def test_checkpoint_option_needs_a_savedmodel(pytester: pytest.Pytester, iris_graphs: dict[str, Path]) -> None:
    result = pytester.runpytest("--savedmodel-frozen=x.pb", "--savedmodel=iris=" + str(iris_graphs["raw"]),
                                "--savedmodel-checkpoint=nope=" + str(iris_graphs["checkpoint"]))
    assert "no --savedmodel named 'nope'; models: iris" in result.stdout.str() + result.stderr.str()


@pytest.fixture(scope="module")
def sig(iris_pair: tuple[Path, Path]) -> object:
    return inspect_model(find_model(iris_pair[0])).signature("serving_default")


def test_checkpoint_without_meta_lists_what_is_there(tmp_path: Path, sig: object,
                                                     iris_graphs: dict[str, Path]) -> None:
    prefix = tmp_path / "model.ckpt"
    for suffix in (".index", ".data-00000-of-00001"):
        (tmp_path / ("model.ckpt" + suffix)).write_bytes(b"")
    with pytest.raises(ModelNotFound) as info:
        CheckpointRunner(prefix, sig)  # type: ignore[arg-type]
    text = str(info.value)
    assert "no model.ckpt.meta, and the meta graph is needed" in text and "save_meta_graph=False?" in text
    assert "model.ckpt.index" in text


def test_frozen_file_that_is_not_a_graphdef(tmp_path: Path, sig: object) -> None:
    bad = tmp_path / "frozen.pb"
    bad.write_bytes(bytes(range(256)))
    with pytest.raises(ModelLoadError, match="is not a GraphDef"):
        FrozenRunner(bad, sig).predict({})  # type: ignore[arg-type]


def test_tensor_not_in_graph_names_alias_and_similar(sig: object, iris_graphs: dict[str, Path]) -> None:
    runner = FrozenRunner(iris_graphs["frozen"], sig, tensor_map={"logits": "logitz:0"})  # type: ignore[arg-type]
    with pytest.raises(RunnerError) as info:
        runner.predict({k: np.array([1.0], np.float32) for k in ("SepalLength", "SepalWidth", "PetalLength",
                                                                 "PetalWidth")})
    text = str(info.value)
    assert "output 'logits' is tensor 'logitz:0', which is not in the graph of frozen graph" in text
    assert "'logits'" in text and "tensor_map=" in text


def test_golden_examples_replay_on_every_path_the_user_has(pytester: pytest.Pytester, iris_graphs: dict[str, Path],
                                                            iris_pair: tuple[Path, Path]) -> None:
    g = iris_graphs
    paths = [f"--savedmodel=iris={g['raw']}", f"--savedmodel-parsing=iris={iris_pair[1]}",
             f"--savedmodel-checkpoint={g['checkpoint']}"]
    checks = "--savedmodel-checks=contract,golden"
    pytester.runpytest("-p", "no:cacheprovider", "--savedmodel-server=none", *paths, checks,
                       "--savedmodel-update-contract").assert_outcomes(passed=6)  # 2 loads, contract, 3 goldens
    # the locked goldens, replayed: raw, the parsing twin, the checkpoint, a frozen graph and both served APIs
    result = pytester.runpytest("-p", "no:cacheprovider", *paths, f"--savedmodel-frozen={g['frozen_old']}", checks)
    for path in ("raw", "parsing", "checkpoint", "grpc", "rest"):
        result.stdout.fnmatch_lines([f"*serving_default*golden[[]{path}[]]*3*ok*"])
    # the frozen graph made from older weights no longer gives the locked outputs
    result.stdout.fnmatch_lines(["*golden example 0 of *savedmodel.lock.json: models.iris.golden.serving_default "
                                 "no longer gives the locked outputs*",
                                 "*locked and frozen disagree*",
                                 "*serving_default*golden[[]frozen[]]*FAILED*"])
    result.assert_outcomes(passed=8, failed=1)  # golden[frozen]; parity items are not asked for


REFERENCE_CONFTEST = """
import importlib.util
import numpy as np
import pytest

spec = importlib.util.spec_from_file_location("iris_model", {path!r})
iris = importlib.util.module_from_spec(spec)
spec.loader.exec_module(iris)
WEIGHTS = iris.train()

@pytest.fixture(scope="session")
def training_model():
    # the notebook's preprocessing: a missing PetalWidth is imputed with {impute}
    def predict(features):
        n = len(next(iter(features.values())))
        filled = {{f: features.get(f, np.full(n, {impute}, np.float32)) for f in iris.FEATURES}}
        return iris.predict(WEIGHTS, filled)
    return predict
"""


@pytest.mark.parametrize("impute", [-1.0, 1.2])
def test_a_reference_that_imputes_differently_from_the_parse_spec_is_caught(
        pytester: pytest.Pytester, iris_pair_default_skew: tuple[Path, Path], impute: float) -> None:
    from tests.modelzoo import REPO

    raw, parsing = iris_pair_default_skew  # the parsing export fills a missing PetalWidth with -1.0
    pytester.makeconftest(REFERENCE_CONFTEST.format(path=str(REPO / "examples" / "iris" / "iris_model.py"),
                                                    impute=impute))
    result = pytester.runpytest(*ARGS, f"--savedmodel=iris={raw}", f"--savedmodel-parsing={parsing}",
                                "--savedmodel-reference=training_model", "-k", "reference")
    if impute == -1.0:  # the same imputation on both sides: every pair agrees
        result.assert_outcomes(passed=2)
        result.stdout.fnmatch_lines_random(["*iris:reference*serving_default*parity[[]reference~raw[]]*ok*",
                                            "*iris:reference*serving_default*parity[[]reference~parsing[]]*ok*"])
        return
    result.assert_outcomes(passed=1, failed=1)  # reference~raw agrees: the raw export always gets PetalWidth
    result.stdout.fnmatch_lines([
        "*savedmodel:iris:reference::serving_default::parity[[]reference~parsing[]]*",
        "*reference and parsing disagree*", "*output '*': * elements differ*",
    ])
    out = result.stdout.str()
    shrunk = out[out.index("Falsifying example") if "Falsifying example" in out else out.index("Failing test case"):]
    assert "'PetalWidth'" not in shrunk.split(")")[0], "the shrunk example should leave PetalWidth out"


def test_reference_fixture_errors_are_clear(pytester: pytest.Pytester, iris_pair: tuple[Path, Path]) -> None:
    pytester.makeconftest("""
        import pytest

        @pytest.fixture
        def not_callable():
            return [1, 2]

        @pytest.fixture
        def other_models():
            return {"fraud": lambda f: {}}

        @pytest.fixture
        def raises():
            def predict(features):
                raise KeyError("PetalWidth")
            return predict
    """)
    raw = f"--savedmodel=iris={iris_pair[0]}"
    out = pytester.runpytest(*ARGS, raw, "--savedmodel-reference=not_callable", "-k", "reference").stdout.str()
    assert "the reference fixture 'not_callable' returned list, not a callable" in out
    out = pytester.runpytest(*ARGS, raw, "--savedmodel-reference=other_models", "-k", "reference").stdout.str()
    assert "returned a dict without model 'iris' (it has: fraud)" in out
    out = pytester.runpytest(*ARGS, raw, "--savedmodel-reference=raises", "-k", "reference").stdout.str()
    assert "the reference fixture 'raises' raised KeyError: 'PetalWidth'" in out
    result = pytester.runpytest(*ARGS, raw, "--savedmodel-reference=missing_fixture", "-k", "reference")
    result.stdout.fnmatch_lines(["*fixture 'missing_fixture' not found*"])
    result = pytester.runpytest(*ARGS, raw, "--savedmodel-reference=not-a-name")
    assert "--savedmodel-reference='not-a-name': give the name of a fixture" in result.stderr.str()


def test_a_single_vector_export_reading_features_in_another_order_than_the_checkpoint_is_caught(
        pytester: pytest.Pytester, zoo_dir: Path) -> None:
    from tests import modelzoo

    m, w = modelzoo.iris(), modelzoo.iris_weights()
    base = zoo_dir / "single_vector"
    # training fed x = [SepalLength, SepalWidth, PetalLength, PetalWidth]; the export reads the columns sorted by name
    ckpt = m.export_checkpoint(base / "ckpt" / "model.ckpt", w, single_vector=True)
    good = m.export_single_vector(base / "good" / "1", w).parent
    swapped = m.export_single_vector(base / "sorted" / "1", w, feature_order=tuple(sorted(m.FEATURES))).parent
    pytester.runpytest(*ARGS, f"--savedmodel=iris={good}", f"--savedmodel-checkpoint={ckpt}",
                       "-k", "checkpoint").assert_outcomes(passed=2)
    result = pytester.runpytest(*ARGS, f"--savedmodel=iris={swapped}", f"--savedmodel-checkpoint={ckpt}",
                                "-k", "checkpoint")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*savedmodel:iris:checkpoint::serving_default::parity[[]raw~checkpoint[]]*",
                                 "*raw and checkpoint disagree*", "*output '*': * elements differ*",
                                 "Failing test case: check(", "*features={'x': array([[[]*",
                                 "Reproduce:", "*CheckpointRunner(*model.ckpt*"])
    out = result.stdout.str()
    shrunk = out[out.index("Failing test case"):out.index("Reproduce:")]
    row = shrunk[shrunk.index("[[") + 2:shrunk.index("]]")]
    values = [abs(float(v)) for v in row.split(",")]
    assert values.count(0.0) >= 2 and max(values) <= 1.0, row  # shrunk to a few small values among zeros


def test_freezing_on_the_fly_preserves_outputs_or_says_why_it_cannot(pytester: pytest.Pytester, testdata: Path,
                                                                      iris_graphs: dict[str, Path]) -> None:
    result = pytester.runpytest(*ARGS, f"--savedmodel=iris={iris_graphs['raw']}", "--savedmodel-freeze",
                                "-k", "freeze")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*iris:freeze*serving_default*parity[[]raw~freeze[]]*16*ok*"])
    # a graph that increments a variable cannot be frozen: a clear error, not TF's traceback
    result = pytester.runpytest(*ARGS, f"--savedmodel=counter={testdata / 'saved_model_counter'}",
                                "--savedmodel-freeze", "-k", "freeze and incr_counter_by")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*[[]ModelLoadError[]] counter v123 signature 'incr_counter_by': the frozen graph "
                                 "does not import: ValueError: Input 0 of node incr_counter_by_op/AssignAdd was "
                                 "passed float from counter:0 incompatible with expected float_ref. A graph that "
                                 "assigns to its variables cannot be frozen*"])
    assert "Traceback" not in result.stdout.str()


def test_tf2_object_checkpoint_restored_into_the_users_model(pytester: pytest.Pytester, zoo_dir: Path) -> None:
    from tests import modelzoo

    paths = modelzoo.tf2_object_checkpoints(zoo_dir / "tf2_ckpt")
    pytester.makeconftest("""
        import pytest

        @pytest.fixture
        def fresh_model():
            from tests.modelzoo import affine_module
            return affine_module()
    """)
    args = [*ARGS, f"--savedmodel=affine={paths['savedmodel']}", "--savedmodel-checkpoint-model=fresh_model",
            "-k", "checkpoint"]
    result = pytester.runpytest(*args, f"--savedmodel-checkpoint={paths['checkpoint']}")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*affine:checkpoint*serving_default*parity[[]raw~checkpoint[]]*16*ok*"])
    # the checkpoint of an earlier training state: the output differs
    result = pytester.runpytest(*args, f"--savedmodel-checkpoint={paths['older']}")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*raw and checkpoint disagree*", "*output 'y': * elements differ*"])
    # golden examples are replayed on the paths that need no fixture; the object checkpoint is not one of them
    result = pytester.runpytest(*args[:-2], f"--savedmodel-checkpoint={paths['checkpoint']}",
                                "--savedmodel-update-contract", "--savedmodel-checks=contract,golden")
    result.assert_outcomes(passed=4)  # load, contract, golden[raw], golden[eager] (a TF2 export): no parity item
    result.stdout.fnmatch_lines(["*affine*serving_default*golden[[]raw[]]*ok*",
                                 "*affine*serving_default*golden[[]eager[]]*ok*"])
    assert "golden[checkpoint]" not in result.stdout.str()
    # without the fixture option a TF2 checkpoint is read as TF1 and the error says what to do
    result = pytester.runpytest(*ARGS, f"--savedmodel=affine={paths['savedmodel']}",
                                f"--savedmodel-checkpoint={paths['checkpoint']}", "-k", "checkpoint")
    assert "A TF2 object checkpoint (tf.train.Checkpoint) has no meta graph: name a fixture that returns the model " \
           "to restore into with --savedmodel-checkpoint-model=FIXTURE" in result.stdout.str()


def test_a_reference_fixture_in_the_tested_directorys_conftest_is_found(pytester: pytest.Pytester,
                                                                         iris_pair: tuple[Path, Path]) -> None:
    """As in examples/iris: the fixture lives in the conftest of the directory pytest runs, not the rootdir."""
    from tests.modelzoo import REPO

    sub = pytester.mkdir("models_tests")
    (sub / "conftest.py").write_text(REFERENCE_CONFTEST.format(
        path=str(REPO / "examples" / "iris" / "iris_model.py"), impute=0.0))
    (sub / "test_mine.py").write_text("def test_mine():\n    pass\n")
    result = pytester.runpytest(*ARGS, f"--savedmodel=iris={iris_pair[0]}", "--savedmodel-reference=training_model",
                                "models_tests", "-k", "reference or mine")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*iris:reference*serving_default*parity[[]reference~raw[]]*ok*"])
