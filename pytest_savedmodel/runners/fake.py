"""An in-memory runner for tests and docs (like httpx's MockTransport)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from pytest_savedmodel.runners.base import Provider, Runner, Target
from pytest_savedmodel.spec import Features, Outputs, SignatureSpec

__all__ = ["PROVIDER", "FakeRunner"]


class FakeRunner(Runner):
    """Answers with a plain Python function of the feature dict.

    Example:
        >>> r = FakeRunner(sig, lambda f: {"y": f["x"] * 2}, name="double")
    """

    def __init__(
        self,
        signature: SignatureSpec,
        fn: Callable[[Features], Outputs],
        *,
        name: str = "fake",
    ) -> None:
        self.signature = signature
        self.name = name
        self._fn = fn
        self.calls: list[Features] = []
        self.closed = False

    def predict(self, features: Features) -> Outputs:
        self.calls.append(features)
        return {k: np.asarray(v) for k, v in self._fn(features).items()}

    def close(self) -> None:
        self.closed = True


def _open(target: Target) -> FakeRunner:
    """A fake path answers with ``target.value``, a function of the feature dict (for engine tests)."""
    return FakeRunner(target.signature, target.value, name=target.name or "fake")


PROVIDER = Provider("fake", "fixture", _open, doc="a Python function standing in for a path (tests)")
