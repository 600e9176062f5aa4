"""The Iris example's tests read the exports named on the command line (see README.md).

``iris_training_model`` is the training side for ``--savedmodel-reference=iris_training_model``:
the numpy forward pass the model was trained with, on the same deterministic weights, taking
the feature dict a client sends. The plugin compares it with the raw and parsing exports.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest


@pytest.fixture(scope="session")
def iris_training_model() -> Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]]:
    spec = importlib.util.spec_from_file_location("iris_model", Path(__file__).parent / "iris_model.py")
    assert spec is not None and spec.loader is not None
    iris = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(iris)
    weights = iris.train()  # deterministic: the weights every export was made from

    def predict(features: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return iris.predict(weights, features)  # type: ignore[no-any-return]

    return predict
