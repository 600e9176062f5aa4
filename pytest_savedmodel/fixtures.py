"""Fixtures: thin wrappers over the engine. Documented in ``pytest --fixtures``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from pytest_savedmodel.errors import UsageError
from pytest_savedmodel.model import SavedModel
from pytest_savedmodel.runners.base import Runner
from pytest_savedmodel.settings import Settings
from pytest_savedmodel.spec import ModelSpec

__all__ = [
    "SETTINGS_KEY",
    "savedmodel",
    "savedmodel_models",
    "savedmodel_runner",
    "savedmodel_server",
    "savedmodel_settings",
    "savedmodel_spec",
]

SETTINGS_KEY = pytest.StashKey[Settings]()
SUITE_KEY = pytest.StashKey[Any]()
MODELS_KEY = pytest.StashKey[dict[str, SavedModel]]()


def models_for(config: pytest.Config) -> dict[str, SavedModel]:
    """The ``--savedmodel`` models by name (located once per session; inspected lazily)."""
    if MODELS_KEY not in config.stash:
        from pytest_savedmodel.locate import find_model

        settings = config.stash[SETTINGS_KEY]
        models: dict[str, SavedModel] = {}
        for arg in settings.models:
            ref = find_model(arg.path, name=arg.name, version=settings.version, tags=settings.tags, root=arg.root)
            models.setdefault(ref.name, SavedModel(ref))
        config.stash[MODELS_KEY] = models
    return config.stash[MODELS_KEY]


def model_for(config: pytest.Config, name: str | None) -> SavedModel:
    """The model named ``name``, or the first ``--savedmodel``; a clear usage error if there is none."""
    models = models_for(config)
    if not models:
        raise UsageError("no model to test: run pytest with --savedmodel=DIR (or set savedmodel = DIR in the ini "
                         "file) to tell pytest-savedmodel which SavedModel this test is about")
    if name is None:
        return next(iter(models.values()))
    if name not in models:
        raise UsageError(f"no --savedmodel named {name!r}; models: {', '.join(sorted(models))}. "
                         f"Name one with --savedmodel={name}=DIR")
    return models[name]


@pytest.fixture(scope="session")
def savedmodel_settings(pytestconfig: pytest.Config) -> Settings:
    """Scope: session. The resolved ``--savedmodel-*`` options and ini keys (a frozen Settings)."""
    return pytestconfig.stash[SETTINGS_KEY]


@pytest.fixture(scope="session")
def savedmodel_models(pytestconfig: pytest.Config) -> dict[str, SavedModel]:
    """Scope: session. Every ``--savedmodel`` as {name: SavedModel}."""
    return models_for(pytestconfig)


@pytest.fixture(scope="session")
def savedmodel(pytestconfig: pytest.Config) -> SavedModel:
    """Scope: session. The first ``--savedmodel`` as a SavedModel handle (.ref, .spec, .runner(), .predict())."""
    return model_for(pytestconfig, None)


@pytest.fixture(scope="session")
def savedmodel_spec(savedmodel: SavedModel) -> ModelSpec:
    """Scope: session. The inspected signatures of the first ``--savedmodel`` (a ModelSpec)."""
    return savedmodel.spec


@pytest.fixture(scope="session")
def savedmodel_server(pytestconfig: pytest.Config) -> Iterator[object]:
    """Scope: session. A TF Serving (per --savedmodel-server; default auto) serving every --savedmodel under its name
    (parsing exports as NAME-parsing), started on first request and stopped at session end. Shared with the
    zero-code suite. Use ``.grpc_target``, ``.rest_url``, ``.describe()``, ``.log_tail()``."""
    from pytest_savedmodel.session import Session

    suite = pytestconfig.stash.get(SUITE_KEY, None)
    owned = suite is None
    if suite is None:
        settings = pytestconfig.stash[SETTINGS_KEY]
        if not settings.models and not settings.parsing:
            raise UsageError("savedmodel_server needs a model: run pytest with --savedmodel=DIR")
        suite = Session(settings)
    if not suite.serves:
        pytest.skip("served paths are off (--savedmodel-server=none)")
    try:
        yield suite.server()
    finally:
        if owned:
            suite.close()


@pytest.fixture
def savedmodel_runner(request: pytest.FixtureRequest) -> Iterator[Runner]:
    """Scope: function. A raw runner for the signature named by ``@pytest.mark.savedmodel_signature``
    (default ``serving_default``) of its model (default: the first ``--savedmodel``)."""
    from pytest_savedmodel.markers import contract_from_marker

    mark = request.node.get_closest_marker("savedmodel_signature")
    contract = contract_from_marker(mark) if mark else None
    model = model_for(request.config, contract.model if contract else None)
    with model.runner("raw", signature=contract.signature if contract else "serving_default") as runner:
        yield runner
