"""Lazy imports of heavy or optional packages, with install hints when missing."""

from __future__ import annotations

import importlib
import os
import sys
from types import ModuleType
from typing import Any

from pytest_savedmodel.errors import MissingExtra

__all__ = ["import_optional", "import_tf", "tf_version"]

_QUIETED = "_pytest_savedmodel_quieted"  # set on the tensorflow module once its logger is quieted


def import_optional(module: str, *, extra: str | None = None, purpose: str = "") -> ModuleType:
    """Import ``module`` or raise :class:`MissingExtra` with the ``pip install`` line that fixes it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        if exc.name and not module.startswith(exc.name.split(".")[0]):
            raise  # the module exists but one of its own imports failed: show that
        raise MissingExtra(module, extra=extra, purpose=purpose) from exc


def import_tf() -> Any:
    """Import TensorFlow quietly (C++ INFO/WARNING logs off unless the user set the level). The quieting is
    done once per process: ``Logger.setLevel`` clears the cache of every logger, about 30 us with TF's loggers,
    and hot paths (one tf.Example per generated row) call this tens of thousands of times per run."""
    tf = sys.modules.get("tensorflow")
    if tf is not None and getattr(tf, _QUIETED, False):
        return tf
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    tf = import_optional("tensorflow", purpose="loading and running SavedModels")
    try:
        tf.get_logger().setLevel("ERROR")
    except Exception:  # pragma: no cover - logger API differences across TF versions
        pass
    setattr(tf, _QUIETED, True)
    return tf


def tf_version() -> str:
    """TensorFlow's version without importing it when it is not loaded yet."""
    from importlib import metadata

    for dist in ("tensorflow", "tensorflow-cpu", "tf-nightly", "tensorflow-intel", "tensorflow-macos"):
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return "not installed"
