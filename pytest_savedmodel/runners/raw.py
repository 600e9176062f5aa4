"""The raw runner: feed numpy arrays to a signature's input tensors, as a Predict client would."""

from __future__ import annotations

from typing import Any

import numpy as np

from pytest_savedmodel._lazy import import_tf
from pytest_savedmodel.deadline import TimedOut, out_of_memory, timeout_finding
from pytest_savedmodel.errors import RunnerError, SavedModelError, UsageError
from pytest_savedmodel.runners._session import LoadedModel, load_session, tf_reason
from pytest_savedmodel.runners.base import Provider, Runner, Target, dense_tensors
from pytest_savedmodel.spec import Features, ModelRef, Outputs, SignatureSpec, TensorSpec

__all__ = ["CALL_ERRORS", "PROVIDER", "RawRunner", "as_input_array", "call_failure", "describe_features"]


def as_input_array(value: Any, spec: TensorSpec) -> np.ndarray:
    """``value`` as a numpy array of the input's dtype (strings become object arrays of bytes)."""
    if spec.dtype.is_string:
        arr = np.asarray(value, dtype=object)
        flat = [v.encode() if isinstance(v, str) else bytes(v) for v in arr.reshape(-1)]
        out = np.empty(len(flat), dtype=object)
        out[:] = flat
        return out.reshape(arr.shape)
    if spec.dtype.numpy is None:
        raise UsageError(f"input {spec.alias!r} has dtype {spec.dtype.name}, which numpy cannot hold")
    return np.asarray(value, dtype=spec.dtype.numpy)


def describe_features(features: Features) -> str:
    """``{'x': float32[3]}``-style one-line summary used in error messages."""
    parts = [f"{k!r}: {np.asarray(v).dtype}{list(np.shape(v))}" for k, v in sorted(features.items())]
    return "{" + ", ".join(parts) + "}"


#: What a model call may raise besides TF's own errors: past the deadline, or out of memory.
CALL_ERRORS: tuple[type[BaseException], ...] = (TimedOut, MemoryError)


def call_failure(exc: BaseException, features: Features, *, path: str, label: str, signature: str, where: str,
                 what: str | None = None) -> SavedModelError:
    """The error a failed model call becomes, the same on every in-process path.

    Past ``--savedmodel-timeout``: a :class:`~pytest_savedmodel.errors.CallTimeout` finding; out of memory
    (MemoryError, TF's ResourceExhausted): :class:`~pytest_savedmodel.errors.OutOfMemory`; anything else the
    model raised: a :class:`RunnerError` ``"{where} failed on inputs ..."`` carrying TF's one-line reason.
    ``what`` names the call in the out-of-memory message (default: ``"{label} signature '{signature}'"``).
    """
    tf = import_tf()
    if isinstance(exc, TimedOut):
        return timeout_finding(path, label, signature, features)
    if isinstance(exc, (MemoryError, tf.errors.ResourceExhaustedError)):
        return out_of_memory(path, what or f"{label} signature {signature!r}", features, exc)
    reason = tf_reason(exc)
    return RunnerError(f"{where} failed on inputs {describe_features(features)}: {type(exc).__name__}: {reason}",
                       runner=path, signature=signature, reason=reason)


class RawRunner(Runner):
    """Calls a SavedModel signature in-process with tensors (TF Serving's session loader).

    Example:
        >>> with RawRunner(ref, spec.signature("serving_default")) as r:
        ...     r.predict({"x": np.array([2.0], np.float32)})["y"]
        array([3.], dtype=float32)
    """

    name = "raw"

    def __init__(self, ref: ModelRef, signature: SignatureSpec, *, name: str | None = None) -> None:
        self.ref = ref
        self.signature = signature
        if name:
            self.name = name
        for spec in signature.inputs.values():
            if spec.encoding != "dense":
                raise UsageError(
                    f"{ref.label()} signature {signature.key!r}: input {spec.alias!r} is {spec.encoding}; "
                    f"the raw runner feeds dense tensors only"
                )
        self._model: LoadedModel | None = None
        self._defaults: dict[str, np.ndarray] | None = None

    def reproduce(self, var: str = "features") -> str | None:
        kind = "parsing" if self.signature.parse_spec is not None else "raw"
        return f"open_model({str(self.ref.path)!r}).runner({kind!r}, signature={self.signature.key!r}).predict({var})"

    @property
    def model(self) -> LoadedModel:
        if self._model is None:
            self._model = load_session(self.ref)
        return self._model

    def load(self) -> None:
        _ = self.model

    def _signature_defaults(self) -> dict[str, np.ndarray]:
        if self._defaults is None:
            tf = import_tf()
            sig = self.model.meta_graph.signature_def[self.signature.key]
            defaults = getattr(sig, "defaults", {})
            self._defaults = {k: np.asarray(tf.make_ndarray(v)) for k, v in defaults.items()}
        return self._defaults

    def feeds(self, features: Features) -> dict[str, np.ndarray]:
        """Graph tensor name -> array for ``features``, filling signature defaults."""
        sig = self.signature
        unknown = sorted(set(features) - set(sig.inputs))
        missing = sorted(set(sig.inputs) - set(features))
        if missing:
            defaults = self._signature_defaults()
            missing = [m for m in missing if m not in defaults]
        if unknown or missing:
            raise RunnerError(
                f"{self.name} runner, {self.ref.label()} signature {sig.key!r}: "
                + (f"unknown input(s) {unknown}; " if unknown else "")
                + (f"missing input(s) {missing}; " if missing else "")
                + f"the signature's inputs are {sorted(sig.inputs)}.",
                runner=self.name,
                signature=sig.key,
            )
        feeds = {}
        for alias, spec in sig.inputs.items():
            value = features[alias] if alias in features else self._signature_defaults()[alias]
            feeds[spec.tensor_name] = as_input_array(value, spec)
        return feeds

    def predict(self, features: Features) -> Outputs:
        feeds = self.feeds(features)
        aliases = sorted(self.signature.outputs)
        fetches = [self.signature.outputs[a].tensor_name for a in aliases]
        tf = import_tf()
        try:
            values = self.model.run(feeds, fetches)
        except (*CALL_ERRORS, tf.errors.OpError, ValueError, TypeError) as exc:
            raise call_failure(exc, features, path=self.name, label=self.ref.label(), signature=self.signature.key,
                               where=f"{self.name} runner: {self.ref.label()} signature {self.signature.key!r}") \
                from None
        return {a: np.asarray(v) for a, v in zip(aliases, values, strict=True)}


def _open(target: Target) -> RawRunner:
    assert target.ref is not None
    return RawRunner(target.ref, target.signature, name=target.name)


PROVIDER = Provider("raw", "export", _open, doc="the signature called in-process with TF Serving's session loader",
                    golden=True, accepts=dense_tensors)
