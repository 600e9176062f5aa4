"""contract + markers: declared signatures vs inspected ones, and a table of bad marker arguments."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pytest_savedmodel.contract import check_contract
from pytest_savedmodel.errors import ContractViolation, UsageError
from pytest_savedmodel.locate import find_model
from pytest_savedmodel.markers import contract_from_marker
from pytest_savedmodel.signatures import inspect_model


def mark(*args: Any, **kwargs: Any) -> pytest.Mark:
    return pytest.mark.savedmodel_signature(*args, **kwargs).mark


@pytest.fixture(scope="module")
def half(testdata: Path) -> Any:
    return inspect_model(find_model(testdata / "saved_model_half_plus_two_cpu"))


def test_matching_contract_passes(half: Any) -> None:
    c = contract_from_marker(mark("serving_default", method="tensorflow/serving/predict",
                                  inputs={"x": ("float32", [None, 1])}, outputs={"y": "float32"}))
    check_contract(half, c)


def test_mismatch_lists_each_tensor_expected_vs_got(half: Any) -> None:
    c = contract_from_marker(mark(inputs={"x": ("float64", [-1])}, outputs={"y": "float32", "z": "int64"},
                                  method="tensorflow/serving/classify"))
    with pytest.raises(ContractViolation) as info:
        check_contract(half, c)
    text = str(info.value)
    assert "saved_model_half_plus_two_cpu v123 signature 'serving_default' does not match the declared contract" \
        in text
    assert "method name: expected 'tensorflow/serving/classify', got 'tensorflow/serving/predict'" in text
    assert "input 'x': expected dtype float64, got float32" in text
    assert "input 'x': expected shape [-1], got [-1, 1]" in text
    assert "output 'z': declared int64, but the signature has no such output" in text
    assert "outputs that exist: y" in text


def test_exact_rejects_undeclared(half: Any) -> None:
    with pytest.raises(ContractViolation, match="output 'y': not declared"):
        check_contract(half, contract_from_marker(mark(inputs={"x": "float32"}, exact=True)))


def test_unknown_signature_in_marker(half: Any) -> None:
    with pytest.raises(Exception, match="signature 'nope' not found"):
        check_contract(half, contract_from_marker(mark("nope")))


BAD = [
    ((), {"input": {"x": "float32"}}, "unexpected keyword argument 'input'"),
    ((), {"outputs": ["y"]}, "outputs=['y']: give a dict"),
    ((), {"inputs": {"x": "flaot32"}}, "Did you mean 'float32'"),
    ((), {"inputs": {"x": ("float32", 3)}}, "a shape is a list of dims"),
    ((), {"inputs": {"x": ("float32", [None, -2])}}, "dim -2 must be an int >= 0, None or -1"),
    ((), {"inputs": {"x": ("float32", [None], "extra")}}, "give a dtype, a (dtype, shape) pair"),
    ((), {"inputs": {"x": {"dtype": "float32", "shap": [1]}}}, "unknown key(s) ['shap']"),
    ((3,), {}, "signature=3: give the signature key"),
    (("a", "b"), {}, "takes from 0 to 1 positional arguments"),
    ((), {"exact": "yes"}, "exact='yes': must be True or False"),
    ((), {"method": 1}, "method=1"),
    ((), {"model": 2}, "model=2"),
]


@pytest.mark.parametrize(("args", "kwargs", "words"), BAD)
def test_bad_marker_arguments_are_usage_errors(args: tuple[Any, ...], kwargs: dict[str, Any], words: str) -> None:
    with pytest.raises(UsageError) as info:
        contract_from_marker(mark(*args, **kwargs))
    assert words in str(info.value)
    assert str(info.value).startswith("@pytest.mark.savedmodel_signature: ")
