"""The eager path: the signature as a TensorFlow 2 program calls it, ``tf.saved_model.load(dir).signatures[KEY]``.

Notebooks and Python services load a SavedModel with TF2's object loader and call
the restored concrete function with tensors. TF Serving (and the raw path) load
the same directory with the TF1 session loader and run the SignatureDef's
tensors. The two loaders restore variables, initialise resources and apply
signature defaults by different code, so this path compares the notebook's
answer with the served one (``parity[raw~eager]``).

Example:
    >>> with EagerRunner(find_model("export/iris"), spec.signature("serving_default")) as r:
    ...     r.predict(features)["probabilities"]
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from pytest_savedmodel._lazy import import_tf
from pytest_savedmodel.deadline import eager_call
from pytest_savedmodel.errors import ModelLoadError, RunnerError
from pytest_savedmodel.runners._session import tf_reason
from pytest_savedmodel.runners.base import Provider, Runner, Target, dense_tensors, sendable_inputs
from pytest_savedmodel.runners.raw import CALL_ERRORS, as_input_array, call_failure
from pytest_savedmodel.spec import Features, ModelRef, ModelSpec, Outputs, SignatureSpec

__all__ = ["PROVIDER", "EagerRunner", "close_all"]

_LOCK = threading.Lock()
_LOADED: dict[tuple[str, frozenset[str]], Any] = {}


def _load(ref: ModelRef) -> Any:
    """``tf.saved_model.load`` once per directory and tag-set in this process."""
    key = (str(ref.path), ref.tags)
    with _LOCK:
        if key not in _LOADED:
            tf = import_tf()
            try:
                _LOADED[key] = tf.saved_model.load(str(ref.path), tags=sorted(ref.tags))
            except (tf.errors.OpError, ValueError, OSError, KeyError, TypeError, RuntimeError) as exc:
                raise ModelLoadError(f"tf.saved_model.load could not load {ref.path} (tags "
                                     f"{','.join(sorted(ref.tags))}): {type(exc).__name__}: {tf_reason(exc)}",
                                     path=ref.path) from None
        return _LOADED[key]


def close_all() -> None:
    """Forget every loaded object (their functions and resources are released with them)."""
    with _LOCK:
        _LOADED.clear()


class EagerRunner(Runner):
    """Calls ``tf.saved_model.load(dir).signatures[KEY](**tensors)``, as TF2 code in a notebook does."""

    name = "eager"
    reproduce_imports = ("import tensorflow as tf",)

    def __init__(self, ref: ModelRef, signature: SignatureSpec, *, name: str | None = None) -> None:
        self.ref, self.signature = ref, signature
        if name:
            self.name = name
        self._fn: Any = None

    def reproduce(self, var: str = "features") -> str | None:
        return (f"tf.saved_model.load({str(self.ref.path)!r}).signatures[{self.signature.key!r}]"
                f"(**{{k: tf.constant(v) for k, v in {var}.items()}})")

    @property
    def function(self) -> Any:
        if self._fn is None:
            loaded = _load(self.ref)
            signatures = getattr(loaded, "signatures", {})
            if self.signature.key not in signatures:
                raise RunnerError(f"{self.name} runner: tf.saved_model.load({self.ref.path}) has no signature "
                                  f"{self.signature.key!r}; it has {sorted(signatures)}", runner=self.name,
                                  signature=self.signature.key)
            self._fn = signatures[self.signature.key]
        return self._fn

    def load(self) -> None:
        _ = self.function

    def predict(self, features: Features) -> Outputs:
        tf = import_tf()
        unknown = sorted(set(features) - set(self.signature.inputs))
        if unknown:
            raise RunnerError(f"{self.name} runner, {self.ref.label()} signature {self.signature.key!r}: unknown "
                              f"input(s) {unknown}; the signature's inputs are {sorted(self.signature.inputs)}.",
                              runner=self.name, signature=self.signature.key)
        fn = self.function
        try:
            tensors = {a: tf.constant(as_input_array(v, self.signature.inputs[a])) for a, v in features.items()}
            out = eager_call(fn, **tensors)
        except (*CALL_ERRORS, tf.errors.OpError, ValueError, TypeError) as exc:
            raise call_failure(exc, features, path=self.name, label=self.ref.label(), signature=self.signature.key,
                               where=f"{self.name} runner: {self.ref.label()} signature {self.signature.key!r}") \
                from None
        return {str(k): np.asarray(v) for k, v in out.items()}

    def close(self) -> None:
        self._fn = None


def _open(target: Target) -> EagerRunner:
    assert target.ref is not None
    return EagerRunner(target.ref, target.signature, name=target.name)


def _tf2(spec: ModelSpec) -> str | None:
    return None if spec.object_graph else ("a TF1 export (no object graph): TF2 code loads it through "
                                           "load_v1_in_v2; --savedmodel-eager compares it too")


def _accepts(sig: SignatureSpec) -> str | None:
    return dense_tensors(sig) or sendable_inputs(sig)


PROVIDER = Provider(
    "eager", "export", _open, doc="tf.saved_model.load(dir).signatures[KEY], as a TF2 notebook calls it",
    option="eager", default_on=True, on_twins=True, golden=True, applies=_tf2, accepts=_accepts,
)
