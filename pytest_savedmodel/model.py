"""A handle on one SavedModel for test code, notebooks and scripts. No pytest here."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pytest_savedmodel.errors import UsageError
from pytest_savedmodel.locate import find_model
from pytest_savedmodel.runners.base import Runner
from pytest_savedmodel.spec import Features, ModelRef, ModelSpec, Outputs, SignatureSpec

__all__ = ["SavedModel", "open_model"]

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

    def runner(self, kind: str = "raw", *, signature: str = "serving_default", artifact: str | Path | None = None,
               value: Any = None) -> Runner:
        """A runner of path ``kind`` for ``signature``: any registered path (``raw``, ``parsing``, ``eager``,
        ``freeze``; ``checkpoint``/``frozen`` with ``artifact=`` the file; ``reference``/``fake`` with ``value=``
        the callable). Served paths need a server: use the ``savedmodel_server`` fixture's address."""
        from pytest_savedmodel.runners.base import Target
        from pytest_savedmodel.runners.registry import names, provider

        p = provider(kind)
        if p.needs == "server":
            raise UsageError(f"the {kind} path needs a running TF Serving; in-process paths: "
                             f"{', '.join(n for n in names() if provider(n).needs != 'server')} "
                             f"(served runners come from the savedmodel_server fixture)")
        if p.needs == "artifact" and artifact is None:
            raise UsageError(f"the {kind} path compares a file with this SavedModel: give it, "
                             f"runner({kind!r}, artifact=PATH)")
        if p.needs == "fixture" and value is None:
            raise UsageError(f"the {kind} path runs a model of yours: give it, runner({kind!r}, value=MODEL)")
        return p.open(Target(self.signature(signature), ref=self.ref, artifact=Path(artifact) if artifact else None,
                             value=value, fixture=f"runner({kind!r}, value=...)"))

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
