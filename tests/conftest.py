"""Shared fixtures: the TF Serving test data (from ../shared) and tiny models built once per session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO = Path(__file__).resolve().parents[1]
TESTDATA = REPO.parent / "shared" / "tfserving-testdata"


@pytest.fixture(autouse=True)
def own_servers(monkeypatch: pytest.MonkeyPatch) -> None:
    """A pytest run nested in a test (pytester, in-process) starts its own servers, also when this suite runs
    under xdist: as a worker of the outer run it would share that run's server with the nested runs of the other
    worker's tests (serving/shared.py keys a server by run and models), and a test that kills its server, or
    stops it at its end, would take it from them. Tests of the sharing set these variables themselves."""
    monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)


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


@pytest.fixture(scope="session")
def iris_pair(zoo_dir: Path) -> tuple[Path, Path]:
    """Raw and parsing Iris exports from one set of weights."""
    from tests import modelzoo

    return modelzoo.iris_pair(zoo_dir / "iris_ok")


@pytest.fixture(scope="session")
def iris_pair_default_skew(zoo_dir: Path) -> tuple[Path, Path]:
    """The parsing export fills a missing PetalWidth with -1.0 (training used 0.0)."""
    from tests import modelzoo

    return modelzoo.iris_pair(zoo_dir / "iris_default", parsing_default={"PetalWidth": -1.0})


@pytest.fixture(scope="session")
def iris_pair_int_cast(zoo_dir: Path) -> tuple[Path, Path]:
    """The parsing export parses PetalLength as int64 and casts it to float."""
    from tests import modelzoo

    return modelzoo.iris_pair(zoo_dir / "iris_int", parsing_dtypes={"PetalLength": "int64"})


@pytest.fixture(scope="session")
def zoo(zoo_dir: Path) -> dict[str, Path]:
    """Small single-signature models, some defective on purpose."""
    from tests import modelzoo

    return {name: getattr(modelzoo, name)(zoo_dir / name)
            for name in ("half_plus_two", "nan_region", "batch_dependent", "nondeterministic", "example_kinds",
                         "wide_nan_band")}


@pytest.fixture(scope="session")
def iris_graphs(zoo_dir: Path, iris_pair: tuple[Path, Path]) -> dict[str, Path]:
    """Checkpoint and frozen graph of the Iris weights, plus a frozen graph from an earlier training state."""
    import numpy as np

    from tests import modelzoo

    m, w = modelzoo.iris(), modelzoo.iris_weights()
    earlier = {k: (v * np.float32(0.97)).astype(np.float32) for k, v in w.items()}
    base = zoo_dir / "iris_graphs"
    return {
        "raw": iris_pair[0],
        "checkpoint": m.export_checkpoint(base / "ckpt" / "model.ckpt", w),
        "frozen": m.export_frozen(base / "frozen.pb", w),
        "frozen_old": m.export_frozen(base / "frozen_old.pb", earlier),
    }


@pytest.fixture(scope="session")
def keras_dir(zoo_dir: Path) -> Path:
    """A clean Keras 3 model with Embedding, StringLookup, Hashing, CategoryEncoding, IntegerLookup."""
    from tests import zoo_keras

    return zoo_keras.keras_features(zoo_dir / "keras_features")


@pytest.fixture(scope="session")
def keras_off_by_one_dir(zoo_dir: Path) -> Path:
    from tests import zoo_keras

    return zoo_keras.keras_features(zoo_dir / "keras_off_by_one", off_by_one=True)


@pytest.fixture(scope="session")
def gather_dir(zoo_dir: Path) -> Path:
    from tests import zoo_keras

    return zoo_keras.gather_module(zoo_dir / "gather_module")


@pytest.fixture(scope="session")
def parsing_dir(zoo_dir: Path) -> Path:
    from tests import zoo_keras

    return zoo_keras.parsing_module(zoo_dir / "parsing_module")


@pytest.fixture(scope="session")
def estimator_zoo(zoo_dir: Path) -> dict[str, Path]:
    """Estimator-style exports (tests/zoo_estimator.py): ``heads*`` one SavedModel with raw and parsing signatures,
    ``pair*`` a dir holding the ``raw`` and ``parsing`` exports; ``*_zip_default``, ``*_age_scale``: planted."""
    from tests import zoo_estimator as z

    base, out = zoo_dir / "estimator", {}
    for suffix, zip_default, age_scale in (("", None, 1.0), ("_zip_default", "UNK", 1.0), ("_age_scale", None, 1.02)):
        out[f"heads{suffix}"] = z.estimator_heads(base / f"heads{suffix}", zip_default=zip_default, age_scale=age_scale)
        z.estimator_pair(base / f"pair{suffix}", zip_default=zip_default, age_scale=age_scale)
        out[f"pair{suffix}"] = base / f"pair{suffix}"
    return out
