"""Shared fixtures: the TF Serving test data (from ../shared) and tiny models built once per session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO = Path(__file__).resolve().parents[1]
TESTDATA = REPO.parent / "shared" / "tfserving-testdata"


@pytest.fixture(scope="session")
def testdata() -> Path:
    """The real SavedModels from TF Serving's repository (../shared/tfserving-testdata)."""
    if not TESTDATA.is_dir():
        pytest.fail(f"TF Serving test data not found at {TESTDATA}: the repository expects ../shared beside it")
    return TESTDATA


@pytest.fixture(scope="session")
def zoo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A session directory where tiny models are built once."""
    return tmp_path_factory.mktemp("zoo")
