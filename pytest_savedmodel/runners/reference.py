"""The reference runner: the user's training-side model (preprocessing plus model, e.g. Keras in memory).

The user names a fixture with ``--savedmodel-reference=FIXTURE``; it returns a callable
``f(features) -> {output alias: array}`` that takes the same feature dict the raw
signature takes (numpy arrays keyed by input alias; optional features may be absent,
as for a client that leaves them out), or ``{model name: callable}`` for several
models. This is the training side of training-serving skew.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from pytest_savedmodel.errors import RunnerError, UsageError
from pytest_savedmodel.runners.base import Provider, Runner, Target, dense_inputs
from pytest_savedmodel.spec import Features, Outputs, SignatureSpec

__all__ = ["PROVIDER", "ReferenceRunner"]


class ReferenceRunner(Runner):
    """Calls a Python function of the feature dict.

    Example:
        >>> r = ReferenceRunner(lambda f: {"y": f["x"] * 0.5 + 2}, signature=sig, label="fixture 'training'")
        >>> r.predict({"x": np.array([2.0], np.float32)})["y"]
        array([3.])
    """

    name = "reference"

    def __init__(self, fn: Callable[[Features], Any], *, signature: SignatureSpec, label: str = "reference") -> None:
        if not callable(fn):
            raise UsageError(f"{label}: {type(fn).__name__} is not callable; return a function "
                             f"f(features) -> {{output: array}}")
        self.fn, self.signature, self.label = fn, signature, label

    @classmethod
    def from_fixture(cls, value: Any, *, model: str, signature: SignatureSpec, fixture: str) -> ReferenceRunner:
        """The runner for ``model`` from what fixture ``fixture`` returned (a callable, or {model: callable})."""
        label = f"the reference fixture {fixture!r}"
        if isinstance(value, Mapping):
            if model not in value:
                raise UsageError(f"{label} returned a dict without model {model!r} (it has: "
                                 f"{', '.join(map(str, value)) or 'nothing'}); key it by the names given with "
                                 f"--savedmodel=NAME=DIR, or return one callable")
            value = value[model]
        if not callable(value):
            raise UsageError(f"{label} returned {type(value).__name__}, not a callable; return a function "
                             f"f(features) -> {{output alias: array}} (or {{model name: function}})")
        return cls(value, signature=signature, label=label)

    def predict(self, features: Features) -> Outputs:
        try:
            out = self.fn(dict(features))
        except Exception as exc:
            raise RunnerError(f"{self.label} raised {type(exc).__name__}: {exc} (features: "
                              f"{sorted(features)})", runner=self.name, signature=self.signature.key) from exc
        if not isinstance(out, Mapping):
            if len(self.signature.outputs) == 1:  # a bare array stands for the only output
                out = {next(iter(self.signature.outputs)): out}
            else:
                raise RunnerError(f"{self.label} returned {type(out).__name__}; return a dict {{output alias: array}} "
                                  f"with some of: {', '.join(sorted(self.signature.outputs))}", runner=self.name,
                                  signature=self.signature.key)
        try:
            return {str(k): np.asarray(v) for k, v in out.items()}
        except Exception as exc:
            raise RunnerError(f"{self.label} returned values that are not arrays ({type(exc).__name__}: {exc})",
                              runner=self.name, signature=self.signature.key) from exc


def _open(target: Target) -> ReferenceRunner:
    model = target.ref.name if target.ref is not None else (target.model_name or "")
    return ReferenceRunner.from_fixture(target.value, model=model, signature=target.signature,
                                        fixture=target.fixture)


PROVIDER = Provider("reference", "fixture", _open, doc="your training-side model (--savedmodel-reference)",
                    option="reference", own_collector=True, leads=True, accepts=dense_inputs,
                    fixture_option="reference")
