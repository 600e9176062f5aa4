"""Markers: registration text and validation by calling real Python signatures."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from pytest_savedmodel.contract import Contract, tensor_contract
from pytest_savedmodel.errors import InvalidArgument, UsageError

__all__ = ["MARKERS", "contract_from_marker"]

MARKERS = [
    "savedmodel_signature(signature='serving_default', *, method=None, inputs=None, outputs=None, exact=False, "
    "model=None): declare a signature's method name and its inputs/outputs as {name: dtype | (dtype, shape)}; "
    "checked against the model before the test runs (pytest-savedmodel)",
]


def _savedmodel_signature(
    signature: str = "serving_default",
    *,
    method: str | None = None,
    inputs: Mapping[str, Any] | None = None,
    outputs: Mapping[str, Any] | None = None,
    exact: bool = False,
    model: str | None = None,
) -> Contract:
    """The real signature of the ``savedmodel_signature`` marker."""
    if not isinstance(signature, str) or not signature:
        raise InvalidArgument(f"signature={signature!r}: give the signature key as a non-empty string, "
                              f"e.g. 'serving_default'")
    if method is not None and not isinstance(method, str):
        raise InvalidArgument(f"method={method!r}: give a method name string such as 'tensorflow/serving/predict'")
    for name, value in (("inputs", inputs), ("outputs", outputs)):
        if value is not None and not isinstance(value, Mapping):
            raise InvalidArgument(f"{name}={value!r}: give a dict {{tensor name: dtype or (dtype, shape)}}")
    if not isinstance(exact, bool):
        raise InvalidArgument(f"exact={exact!r}: must be True or False")
    if model is not None and not isinstance(model, str):
        raise InvalidArgument(f"model={model!r}: give the model's name as given by --savedmodel=NAME=DIR")
    return Contract(
        signature=signature,
        method=method,
        inputs={k: tensor_contract(k, v, where="inputs") for k, v in (inputs or {}).items()},
        outputs={k: tensor_contract(k, v, where="outputs") for k, v in (outputs or {}).items()},
        exact=exact,
        model=model,
    )


def contract_from_marker(mark: pytest.Mark) -> Contract:
    """Validate a ``savedmodel_signature`` marker; misspelt or wrong arguments are usage errors."""
    try:
        return _savedmodel_signature(*mark.args, **mark.kwargs)
    except TypeError as exc:
        raise UsageError(
            f"@pytest.mark.savedmodel_signature: {str(exc).replace('_savedmodel_signature()', 'marker')}. "
            f"Accepted: savedmodel_signature(signature='serving_default', *, method=, inputs=, outputs=, exact=, "
            f"model=)"
        ) from None
    except InvalidArgument as exc:
        raise UsageError(f"@pytest.mark.savedmodel_signature: {exc}") from None
