"""The one interface every prediction path implements.

A runner turns a feature dict (numpy arrays keyed by input alias, or by
tf.Example feature key for parsing paths) into a dict of numpy outputs keyed by
output alias. Outputs are always numpy, never tensors, so comparison and
reporting stay free of TensorFlow.
"""

from __future__ import annotations

import abc
from types import TracebackType

from pytest_savedmodel.spec import Features, Outputs, SignatureSpec

__all__ = ["Runner"]


class Runner(abc.ABC):
    """A prediction path for one signature.

    Subclasses set :attr:`name` and implement :meth:`predict`; :meth:`close`
    releases sessions, channels or processes and must be idempotent.

    Example:
        >>> with FakeRunner(signature, lambda f: {"y": f["x"] * 0.5 + 2}) as r:
        ...     r.predict({"x": np.array([2.0], np.float32)})
        {'y': array([3.], dtype=float32)}
    """

    #: Short name used in item ids and reports: ``raw``, ``parsing``, ``grpc``...
    name: str = "runner"
    #: The signature this runner calls (its inputs/outputs define the feature dict).
    signature: SignatureSpec

    @abc.abstractmethod
    def predict(self, features: Features) -> Outputs:
        """Run the model on ``features``; return every output as a numpy array."""

    def reproduce(self, var: str = "features") -> str | None:
        """A Python expression that makes this path predict on ``var`` (for failure messages), if known."""
        return None

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release resources. Safe to call twice."""

    def __enter__(self) -> Runner:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        sig = getattr(self, "signature", None)
        return f"<{type(self).__name__} {self.name!r} signature={getattr(sig, 'key', '?')!r}>"
