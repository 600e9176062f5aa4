"""The parsing runner: encode a feature dict as tf.Examples by the recovered parse spec, feed the bytes."""

from __future__ import annotations

import numpy as np

from pytest_savedmodel.errors import UsageError
from pytest_savedmodel.runners.base import Provider, Target
from pytest_savedmodel.runners.raw import RawRunner
from pytest_savedmodel.spec import Features, ModelRef, Outputs, SignatureSpec

__all__ = ["PROVIDER", "ParsingRunner"]


class ParsingRunner(RawRunner):
    """Calls a parsing signature (serialized tf.Example input) with features keyed by feature name.

    Features absent from the dict are omitted from every Example, so the parse
    spec's default applies, exactly as for a client that leaves a feature out. A
    :class:`~pytest_savedmodel.tfexample.FeatureRows` leaves its ``absent`` values out
    too: the raw~parsing comparison sends a raw request whose graph drops a missing
    value (``''``, ``-1``) as the tf.Example without it (``without_missing``).

    Example:
        >>> with ParsingRunner(ref, spec.signature("classify_x_to_y")) as r:
        ...     r.predict({"x": np.array([2.0], np.float32)})["scores"]
        array([[3.]], dtype=float32)
    """

    name = "parsing"

    def __init__(self, ref: ModelRef, signature: SignatureSpec, *, name: str | None = None) -> None:
        if signature.parse_spec is None:
            raise UsageError(
                f"{ref.label()} signature {signature.key!r} has no tf.Example parse spec "
                f"(no ParseExample op reachable from a string input); use the raw runner for it"
            )
        super().__init__(ref, signature, name=name)
        self.parse_spec = signature.parse_spec

    def serialize(self, features: Features) -> np.ndarray:
        """The 1-D object array of serialized tf.Examples fed for ``features``."""
        from pytest_savedmodel.tfexample import encode_examples

        encoded = encode_examples(features, self.parse_spec)
        out = np.empty(len(encoded), dtype=object)
        out[:] = encoded
        return out

    def predict(self, features: Features) -> Outputs:
        serialized = self.serialize(features)
        return super().predict({self.parse_spec.input_alias: serialized})


def _open(target: Target) -> ParsingRunner:
    assert target.ref is not None
    return ParsingRunner(target.ref, target.signature, name=target.name)


def _parses(sig: SignatureSpec) -> str | None:
    return None if sig.parse_spec is not None else "it has no tf.Example parse spec"


PROVIDER = Provider("parsing", "export", _open, doc="features encoded as tf.Examples by the recovered parse spec",
                    option="parsing", golden=True, accepts=_parses)
