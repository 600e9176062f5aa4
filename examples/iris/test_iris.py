"""Hand-written tests beside the zero-code suite: what a team adds for its own model.

Run from the repository root after exporting (``make iris`` does both):

    pytest examples/iris --savedmodel=iris=examples/iris/export/raw \
        --savedmodel-parsing=iris=examples/iris/export/parsing
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from pytest_savedmodel import SavedModel, assert_parity, open_model

FEATURES = ("SepalLength", "SepalWidth", "PetalLength", "PetalWidth")
# The three flowers the write-up sends through saved_model_cli and TF Serving.
SAMPLES = {
    "SepalLength": np.array([5.1, 5.9, 6.9], np.float32),
    "SepalWidth": np.array([3.3, 3.0, 3.1], np.float32),
    "PetalLength": np.array([1.7, 4.2, 5.4], np.float32),
    "PetalWidth": np.array([0.5, 1.5, 2.1], np.float32),
}


@pytest.fixture(scope="session")
def parsing_export(savedmodel_settings) -> SavedModel:  # type: ignore[no-untyped-def]
    """The tf.Example-parsing export given with --savedmodel-parsing."""
    if not savedmodel_settings.parsing:
        pytest.skip("run with --savedmodel-parsing=iris=examples/iris/export/parsing")
    arg = savedmodel_settings.parsing[0]
    return open_model(arg.root / arg.path)


@pytest.mark.savedmodel_signature(
    "serving_default",
    method="tensorflow/serving/predict",
    inputs={name: ("float32", [None]) for name in FEATURES},
    outputs={"class_ids": ("int64", [None, 1]), "logits": ("float32", [None, 3]),
             "probabilities": ("float32", [None, 3])},
    exact=True,
)
def test_the_three_flowers_are_classified_as_in_the_write_up(savedmodel_runner) -> None:  # type: ignore[no-untyped-def]
    out = savedmodel_runner.predict(SAMPLES)
    assert out["class_ids"].ravel().tolist() == [0, 1, 2]  # setosa, versicolor, virginica
    np.testing.assert_allclose(out["probabilities"].sum(axis=1), 1.0, rtol=1e-6)


def test_raw_and_parsing_exports_give_the_same_logits(savedmodel: SavedModel, parsing_export: SavedModel) -> None:
    """The write-up's observation, as a test: same three inputs, same logits on both exports."""
    raw = savedmodel.runner("raw").predict(SAMPLES)
    parsed = parsing_export.runner("parsing").predict(SAMPLES)
    assert_parity(raw, parsed, names=("raw", "parsing"), features=SAMPLES, rtol=1e-6, atol=1e-6)


def test_classification_signature_ranks_classes_by_score(parsing_export: SavedModel) -> None:
    out = parsing_export.runner("parsing", signature="classification").predict(SAMPLES)
    assert [row[0] for row in out["classes"]] == [b"setosa", b"versicolor", b"virginica"]
    assert np.all(np.diff(out["scores"], axis=1) <= 0)


def test_manifest_records_accuracy(savedmodel: SavedModel) -> None:
    manifest = json.loads((Path(savedmodel.ref.base).parent / "MANIFEST.json").read_text())
    assert manifest["accuracy"] > 0.85
