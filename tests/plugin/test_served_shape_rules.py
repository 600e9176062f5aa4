"""Served Classify/Regress are compared by TF Serving's own answer rules, and a batch may leave every feature out.

TF Serving's rules, read from tensorflow/serving at 9d981c5c
(``tensorflow_serving/servables/tensorflow/``); the server checks the tensors each session run
returns, never the shapes the SignatureDef declares, so an output of unknown rank is served when the
tensor of that call passes. Every refusal is INVALID_ARGUMENT with these exact words
(shapes as ``TensorShape::DebugString``: ``[3,2]``, a scalar ``[]``; dtypes as ``DataType_Name``):

Regress, ``regressor.cc`` ``PostProcessRegressionResult``, the ``outputs`` tensor, in this order:

1. rank 1 ``[batch_size]`` or rank 2 with ``dim_size(1) == 1`` (``[batch_size, 1]``), else
   ``Expected output Tensor shape to be either [batch_size] or [batch_size, 1] but got [3,2]`` (lines 238-243);
2. ``dim_size(0)`` equals the number of examples sent, else
   ``Input batch size did not match output batch size: 3 vs. 2`` (lines 244-248);
3. DT_FLOAT, else ``Expected output Tensor of DT_FLOAT.  Got: DT_DOUBLE`` (two spaces; lines 249-253);
4. ``NumElements()`` equals the number of examples, else ``Expected output batch size to be 3.  Got: 6``
   (lines 255-259; cannot fail once 1 and 2 hold).

   The answer is one ``Regression{value}`` per example, the tensor read flat (lines 261-264): ``[N]`` and
   ``[N, 1]`` answer the same N values, so the in-process output is compared flattened to ``[N]``.

Classify, ``classifier.cc`` ``PostProcessClassificationResult`` (``PreProcessClassification`` before it
needs one or two outputs with at least one of ``classes``/``scores``, lines 188-212); ``classes`` is
checked fully, then ``scores``:

* ``classes`` (lines 256-272): rank 2, else ``Expected Tensor shape: [batch_size num_classes] but got [3]``;
  DT_STRING, else ``Expected classes Tensor of DT_STRING. Got: DT_INT64``; ``dim_size(0)`` the number of
  examples, else ``Expected classes output batch size of 3. Got: 2``;
* ``scores`` (lines 274-290): rank 2 (same words), DT_FLOAT, else
  ``Expected scores Tensor of DT_FLOAT. Got: DT_DOUBLE``; else ``Expected scores output batch size of 3. Got: 2``;
* both (lines 294-300): ``Tensors class and score should match in dim_size(1). Got 2 vs. 3``.

  The answer (lines 309-321): per example, ``dim_size(1)`` classes ``{label, score}``; label ``""`` without
  ``classes``, score 0 without ``scores``. Scores-only and classes+scores signatures are both served.

No examples at all: ``Input is empty.`` (``util.cc`` line 166); N empty tf.Examples are N examples, each
feature taking its parse default.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from pytest_savedmodel.compare import ServedRejection, served_answer
from pytest_savedmodel.errors import Finding, RunnerError
from pytest_savedmodel.serving.shape_rules import Rejection, classification_answer, regression_answer

pytestmark = pytest.mark.serving

SERVED = ("--savedmodel-server=emulator", "--savedmodel-checks=parity")


@pytest.fixture(scope="module")
def rules_model(zoo_dir: Path) -> Path:
    from tests import zoo_served

    return zoo_served.shape_rules(zoo_dir / "served_shape_rules")


@pytest.fixture(scope="module")
def spec(rules_model: Path) -> Any:
    from pytest_savedmodel.locate import find_model
    from pytest_savedmodel.signatures import inspect_model

    return inspect_model(find_model(rules_model))


@pytest.fixture(scope="module")
def server(rules_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from pytest_savedmodel.serving.launcher import ModelServer, ServedModel

    with ModelServer.create("emulator", models=[ServedModel("rules", rules_model / "1")],
                            log_dir=tmp_path_factory.mktemp("rules_server")) as s:
        yield s


def f32(*shape: int) -> np.ndarray:
    return np.arange(int(np.prod(shape)), dtype=np.float32).reshape(shape)


def strings(*shape: int) -> np.ndarray:
    out = np.empty(shape, dtype=object)
    out[...] = b"c"
    return out


# --------------------------------------------------------------------------- the rules, as words


def test_regress_answers_one_value_per_example_for_n_and_n_by_1() -> None:
    assert regression_answer(f32(3), 3).tolist() == [0.0, 1.0, 2.0]
    assert regression_answer(f32(3, 1), 3).shape == (3,)


@pytest.mark.parametrize(("output", "words"), [
    (f32(3, 2), "Expected output Tensor shape to be either [batch_size] or [batch_size, 1] but got [3,2]"),
    (f32(3, 1, 1), "Expected output Tensor shape to be either [batch_size] or [batch_size, 1] but got [3,1,1]"),
    (np.float32(1.0), "Expected output Tensor shape to be either [batch_size] or [batch_size, 1] but got []"),
    (f32(2), "Input batch size did not match output batch size: 3 vs. 2"),
    (f32(3).astype(np.float64), "Expected output Tensor of DT_FLOAT.  Got: DT_DOUBLE"),
    (np.arange(3), "Expected output Tensor of DT_FLOAT.  Got: DT_INT64"),
])
def test_regress_refusals_in_tf_servings_words(output: np.ndarray, words: str) -> None:
    with pytest.raises(Rejection) as info:
        regression_answer(output, 3)
    assert info.value.message == words and info.value.source.startswith("regressor.cc")


def test_classify_serves_scores_only_and_classes_with_scores() -> None:
    labels, scores = classification_answer(None, f32(3, 2), 3)
    assert labels is None and scores is not None and scores.shape == (3, 2)
    labels, scores = classification_answer(strings(3, 2), f32(3, 2), 3)
    assert labels is not None and labels.tolist() == [[b"c", b"c"]] * 3


@pytest.mark.parametrize(("classes", "scores", "words"), [
    (strings(3), None, "Expected Tensor shape: [batch_size num_classes] but got [3]"),
    (np.zeros((3, 2), np.int64), None, "Expected classes Tensor of DT_STRING. Got: DT_INT64"),
    (strings(2, 2), None, "Expected classes output batch size of 3. Got: 2"),
    (None, f32(3, 2, 1), "Expected Tensor shape: [batch_size num_classes] but got [3,2,1]"),
    (None, f32(3, 2).astype(np.float64), "Expected scores Tensor of DT_FLOAT. Got: DT_DOUBLE"),
    (None, f32(2, 2), "Expected scores output batch size of 3. Got: 2"),
    (strings(3, 2), f32(3, 3), "Tensors class and score should match in dim_size(1). Got 2 vs. 3"),
    (strings(3), f32(3), "Expected Tensor shape: [batch_size num_classes] but got [3]"),  # classes first
])
def test_classify_refusals_in_tf_servings_words(classes: Any, scores: Any, words: str) -> None:
    with pytest.raises(Rejection) as info:
        classification_answer(classes, scores, 3)
    assert info.value.message == words and info.value.source.startswith("classifier.cc")


def test_the_comparison_flattens_an_n_by_1_regression_and_names_a_refusal_as_a_finding() -> None:
    features = {"x": np.zeros(3, np.float32)}
    assert served_answer("regress", {"outputs": f32(3, 1)}, features)["outputs"].shape == (3,)
    assert served_answer("predict", {"outputs": f32(3, 1)}, features)["outputs"].shape == (3, 1)
    with pytest.raises(ServedRejection) as info:
        served_answer("regress", {"outputs": f32(3, 2)}, features, runner="parsing", signature="wide")
    exc = info.value
    assert isinstance(exc, Finding) and isinstance(exc, RunnerError)  # a finding, reported once per signature
    assert exc.reason == "Expected output Tensor shape to be either [batch_size] or [batch_size, 1] but got [3,2]"
    assert "TF Serving answers INVALID_ARGUMENT" in str(exc) and "regressor.cc" in str(exc)


# --------------------------------------------------------------------------- every feature left out


def test_a_batch_without_features_is_n_empty_tf_examples(spec: Any) -> None:
    from hypothesis import HealthCheck, find, settings

    from pytest_savedmodel.strategies import example_features
    from pytest_savedmodel.tfexample import FeatureRows, encode_examples, rows_of

    parse_spec = spec.signature("regress_optional").parse_spec
    drawn = find(example_features(parse_spec, batch_size=3), lambda f: not f,
                 settings=settings(database=None, suppress_health_check=list(HealthCheck)))
    assert isinstance(drawn, FeatureRows) and drawn.rows == 3 and repr(drawn) == "FeatureRows({}, rows=3)"
    assert encode_examples(drawn, parse_spec) == [b"", b"", b""] and rows_of(drawn) == 3


def test_n_empty_tf_examples_reach_the_model_on_every_path(spec: Any, server: Any, rules_model: Path) -> None:
    from pytest_savedmodel.locate import find_model
    from pytest_savedmodel.runners.grpc import GrpcRunner
    from pytest_savedmodel.runners.parsing import ParsingRunner
    from pytest_savedmodel.runners.rest import RestRunner
    from pytest_savedmodel.tfexample import FeatureRows

    empty = FeatureRows({}, rows=3)
    for key, method, out, want in [("regress_optional", "regress", "outputs", [-0.5] * 3),
                                   ("classify_optional", "classify", "scores", [[-0.5, -1.0]] * 3)]:
        sig = spec.signature(key)
        with ParsingRunner(find_model(rules_model), sig) as r:
            local = served_answer(method, r.predict(empty), empty)
        with GrpcRunner(sig, target=server.grpc_target, model_name="rules", method=method) as g, \
                RestRunner(sig, base_url=server.rest_url, model_name="rules", method=method) as h:
            assert g.predict(empty)[out].tolist() == h.predict(empty)[out].tolist() == local[out].tolist() == want
            assert h.body(empty)["examples"] == [{}, {}, {}]


# --------------------------------------------------------------------------- the emulator answers by the rules


def test_the_emulator_answers_classify_and_regress_by_the_rules(spec: Any, server: Any) -> None:
    from pytest_savedmodel.runners.grpc import GrpcRunner
    from pytest_savedmodel.runners.rest import RestRunner

    x = {"x": np.array([2.0, 4.0], np.float32)}
    for runner in (GrpcRunner, RestRunner):
        where = {"target": server.grpc_target} if runner is GrpcRunner else {"base_url": server.rest_url}
        for key in ("regress_unknown_rank", "regress_n1"):
            with runner(spec.signature(key), model_name="rules", method="regress", **where) as r:
                assert r.predict(x)["outputs"].tolist() == [3.0, 4.0]  # one value per example, whatever rank
        with runner(spec.signature("classify_labels"), model_name="rules", method="classify", **where) as r:
            got = r.predict(x)
            assert got["classes"].tolist() == [[b"low", b"high"]] * 2
            assert got["scores"].tolist() == [[3.0, -2.0], [4.0, -3.0]]
        with runner(spec.signature("classify_scores"), model_name="rules", method="classify", **where) as r:
            assert sorted(r.predict(x)) == ["scores"]
        with runner(spec.signature("regress_wide"), model_name="rules", method="regress", **where) as r, \
                pytest.raises(RunnerError) as info:
            r.predict(x)
        assert info.value.reason == ("Expected output Tensor shape to be either [batch_size] or [batch_size, 1] "
                                     "but got [2,2]")


# --------------------------------------------------------------------------- the zero-code suite


def test_clean_classify_and_regress_signatures_pass_the_served_parity_items(
    pytester: pytest.Pytester, rules_model: Path
) -> None:
    result = pytester.runpytest("-p", "no:cacheprovider", *SERVED, "--savedmodel-examples=15",
                                f"--savedmodel={rules_model}", "-k", "not regress_wide and not optional", "-v")
    result.assert_outcomes(passed=17)  # load + 4 signatures x (raw~grpc, raw~rest, parsing~grpc-M, parsing~rest-M)
    result.stdout.fnmatch_lines_random([
        f"*{key}::parity[[]parsing~{path}-{method}[]] PASSED*"
        for key, method in [("regress_unknown_rank", "regress"), ("regress_n1", "regress"),
                            ("classify_scores", "classify"), ("classify_labels", "classify")]
        for path in ("grpc", "rest")])


EMPTY_RECORDER = """
import json
from pytest_savedmodel.runners.grpc import GrpcRunner
from pytest_savedmodel.runners.rest import RestRunner

SENT = []
_grpc_input, _rest_examples = GrpcRunner._input, RestRunner._examples


def _input(self, features, target):
    _grpc_input(self, features, target)
    if not features:
        SENT.append([self.signature.key, "grpc", len(target.example_list.examples)])


def _examples(self, features):
    out = _rest_examples(self, features)
    if not features:
        SENT.append([self.signature.key, "rest", len(out)])
    return out


GrpcRunner._input, RestRunner._examples = _input, _examples


def pytest_sessionfinish(session):
    GrpcRunner._input, RestRunner._examples = _grpc_input, _rest_examples
    with open("empty_batches.json", "w") as f:
        json.dump(SENT, f)
"""


def test_all_optional_features_left_out_send_n_empty_tf_examples_and_pass(
    pytester: pytest.Pytester, rules_model: Path
) -> None:
    pytester.makeconftest(EMPTY_RECORDER)
    result = pytester.runpytest("-p", "no:cacheprovider", *SERVED, "--savedmodel-examples=60", "--savedmodel-seed=3",
                                f"--savedmodel={rules_model}", "-k", "optional and parsing", "-v")
    result.assert_outcomes(passed=4)
    sent = json.loads((pytester.path / "empty_batches.json").read_text())
    assert {(key, path) for key, path, _ in sent} == {(k, p) for k in ("regress_optional", "classify_optional")
                                                      for p in ("grpc", "rest")}
    assert all(n >= 1 for _, _, n in sent)


def test_a_regression_tf_serving_refuses_is_one_finding_in_its_words(pytester: pytest.Pytester,
                                                                     rules_model: Path) -> None:
    result = pytester.runpytest("-p", "no:cacheprovider", *SERVED, "--savedmodel-examples=5",
                                f"--savedmodel={rules_model}", "-k", "regress_wide", "-rs")
    result.assert_outcomes(passed=2, failed=1, skipped=1)  # raw~grpc, raw~rest: Predict does not check shapes
    result.stdout.fnmatch_lines([
        "*[[]finding[]] signature 'regress_wide' cannot be served by TF Serving's Regress API: on * tf.Example(s) "
        "the parsing call outputs 'outputs' float32 [[]*,2[]], and TF Serving answers INVALID_ARGUMENT \"Expected "
        "output Tensor shape to be either [[]batch_size[]] or [[]batch_size, 1[]] but got [[]*,2[]]\" "
        "(tensorflow_serving/servables/tensorflow/regressor.cc PostProcessRegressionResult, lines 238-243)",
        "*SKIPPED*same cause as *regress_wide::parity[[]parsing~grpc-regress[]]*",
    ])
