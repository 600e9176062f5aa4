"""The graph paths under their former module name (kept for imports written against it)."""

from __future__ import annotations

from pytest_savedmodel.runners.checkpoint import CheckpointRunner
from pytest_savedmodel.runners.freeze import FreezeRunner
from pytest_savedmodel.runners.frozen import FrozenRunner
from pytest_savedmodel.runners.object_checkpoint import ObjectCheckpointRunner

__all__ = ["CheckpointRunner", "FreezeRunner", "FrozenRunner", "ObjectCheckpointRunner"]
