"""A planned check as plain data: where the item sits, which catalogue check it runs, on which paths."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["PlannedCheck", "Side"]


@dataclass(frozen=True)
class Side:
    """One side of a comparison: a path (registry name) on one signature of one artifact."""

    path: str
    export: str = ""  # collector of the artifact whose SavedModel it opens ("" for none)
    signature: str = ""
    artifact: str | None = None  # the file the path's option named
    method: str = "predict"
    name: str | None = None  # the runner's name when not the path's own ("parsing" for a twin's raw runner)

    @property
    def word(self) -> str:
        return self.name or self.path


@dataclass(frozen=True)
class PlannedCheck:
    """One generated item: where it sits, which check it runs, and on what."""

    collector: str
    path: tuple[str, ...]
    check: str
    model: str
    version: int | None = None
    signature: str | None = None
    pair: str | None = None
    export: str = ""  # collector of the artifact the check is about
    left: Side | None = None
    right: Side | None = None
    fixture: str | None = None  # a pytest fixture the check needs (the user's reference model)
    feed: str = "features"  # "examples": tf.Example features drawn from the parse spec (Classify/Regress)
    optional: tuple[str, ...] = ()  # features that may be left out of generated inputs
    fill_defaults: bool = False  # fill left-out features with the declared training defaults on the left side
    kind: str = ""  # latency/concurrency: the served path; golden: the path replayed on
    draw: Side | None = None  # the side whose signature generated inputs follow (default: ``right``)

    @property
    def nodeid(self) -> str:
        return "::".join((self.collector, *self.path))

    @property
    def name(self) -> str:
        return self.path[-1]

    def info(self) -> dict[str, Any]:
        """The plan's ``savedmodel.*`` properties (JUnit), None values left out."""
        out = {"model": self.model, "version": self.version, "signature": self.signature, "pair": self.pair}
        return {k: v for k, v in out.items() if v is not None}
