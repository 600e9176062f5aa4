"""The settings under their former module name (kept for imports written against it).

The pytest layer resolves them from pytest's config; see :mod:`pytest_savedmodel.settings`.
"""

from __future__ import annotations

from pytest_savedmodel.settings import CHECKS, OPTIONS, ModelArg, Option, Settings

__all__ = ["CHECKS", "OPTIONS", "ModelArg", "Option", "Settings"]
