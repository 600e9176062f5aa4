"""Prediction paths behind one interface (:class:`~pytest_savedmodel.runners.base.Runner`).

Runner modules are imported lazily: ``raw``/``parsing`` need TensorFlow,
``grpc``/``rest`` need a server, ``fake`` needs numpy.
"""

from __future__ import annotations

from typing import Any

from pytest_savedmodel.runners.base import Runner

__all__ = ["FakeRunner", "Runner"]


def __getattr__(name: str) -> Any:
    if name == "FakeRunner":
        from pytest_savedmodel.runners.fake import FakeRunner

        return FakeRunner
    raise AttributeError(name)
