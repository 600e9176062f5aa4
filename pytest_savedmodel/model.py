"""A handle on one SavedModel for test code, notebooks and scripts. No pytest here."""

from __future__ import annotations

from pathlib import Path

from pytest_savedmodel.errors import UsageError
from pytest_savedmodel.locate import find_model
from pytest_savedmodel.runners.base import Runner
from pytest_savedmodel.spec import Features, ModelRef, ModelSpec, Outputs, SignatureSpec

__all__ = ["SavedModel", "open_model"]

RUNNER_KINDS = ("raw", "parsing")


class SavedModel:
    """A located SavedModel: its spec (read lazily) and runners for its signatures.

    Example:
        >>> model = open_model("export/iris")
        >>> model.signature("serving_default").inputs.keys()
        dict_keys(['PetalLength', 'PetalWidth', 'SepalLength', 'SepalWidth'])
        >>> with model.runner("raw") as raw:
        ...     raw.predict(features)["probabilities"]
    """

    def __init__(self, ref: ModelRef) -> None:
        self.ref = ref
        self._spec: ModelSpec | None = None

    @property
    def spec(self) -> ModelSpec:
        if self._spec is None:
            from pytest_savedmodel.signatures import inspect_model

            self._spec = inspect_model(self.ref)
        return self._spec

    @property
    def name(self) -> str:
        return self.ref.name

    def signature(self, key: str = "serving_default") -> SignatureSpec:
        """The signature ``key``; :class:`SignatureNotFound` lists the ones that exist."""
        return self.spec.signature(key)

    def runner(self, kind: str = "raw", *, signature: str = "serving_default") -> Runner:
        """A runner of ``kind`` (``raw`` or ``parsing``) for ``signature``."""
        sig = self.signature(signature)
        if kind == "raw":
            from pytest_savedmodel.runners.raw import RawRunner

            return RawRunner(self.ref, sig)
        if kind == "parsing":
            from pytest_savedmodel.runners.parsing import ParsingRunner

            return ParsingRunner(self.ref, sig)
        raise UsageError(f"unknown runner kind {kind!r}; in-process runners: {', '.join(RUNNER_KINDS)} "
                         f"(served runners come from the savedmodel_server fixture)")

    def predict(self, features: Features, *, signature: str = "serving_default") -> Outputs:
        """One raw call of ``signature``."""
        return self.runner("raw", signature=signature).predict(features)

    def __repr__(self) -> str:
        return f"<SavedModel {self.ref.label()} at {self.ref.path}>"


def open_model(
    path: str | Path,
    *,
    name: str | None = None,
    version: int | None = None,
    tags: frozenset[str] | set[str] = frozenset({"serve"}),
) -> SavedModel:
    """Locate a SavedModel (see :func:`pytest_savedmodel.locate.find_model`) and return a handle."""
    return SavedModel(find_model(path, name=name, version=version, tags=frozenset(tags)))
