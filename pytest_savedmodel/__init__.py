"""pytest-savedmodel: turn an exported TensorFlow SavedModel into a contract test suite.

Importing this package is cheap: names are loaded on first use, and TensorFlow
only when a model is inspected or run (the plugin loads into every pytest run).

Example:
    >>> from pytest_savedmodel import open_model, assert_parity
    >>> model = open_model("export/iris")
    >>> raw = model.runner("raw")
"""

from __future__ import annotations

import importlib
import sys
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"


def _leave_asserts_alone() -> None:
    """Take this package off the list of modules pytest rewrites on import.

    pytest rewrites the asserts of every module of a plugin's distribution, as if it were test code, unless a
    cached .pyc exists: none does under ``PYTHONDONTWRITEBYTECODE`` or in a fresh container, so every process
    (each xdist worker too) parses and rewrites our modules again, about 1.6 s. They are not tests; the user's
    are rewritten as before. The list is pytest's own (``AssertionRewritingHook._must_rewrite``); where it is
    not found, nothing changes. This module itself was loaded by pytest's hook, so a later session in the same
    process (pytester) that marks the package again does not warn that it was imported unrewritten.

    Hypothesis's modules are rewritten too (its plugin marks them), but they are imported before a nested
    session marks them again, which would then warn; they are left as pytest treats them."""
    for finder in sys.meta_path:
        marked = getattr(finder, "_must_rewrite", None)
        if isinstance(marked, set):
            marked.discard(__name__)


_leave_asserts_alone()

_EXPORTS = {
    "assert_parity": "compare",
    "compare_outputs": "compare",
    "Tolerance": "compare",
    "Contract": "contract",
    "check_contract": "contract",
    "find_model": "locate",
    "SavedModel": "model",
    "open_model": "model",
    "Runner": "runners.base",
    "FakeRunner": "runners.fake",
    "FeatureSpec": "spec",
    "ModelRef": "spec",
    "ModelSpec": "spec",
    "ParseSpec": "spec",
    "SignatureSpec": "spec",
    "TensorSpec": "spec",
    **{
        name: "errors"
        for name in (
            "ContractViolation", "EnvironmentProblem", "Finding", "InvalidArgument", "MissingExtra",
            "ModelCheckFailure", "ModelLoadError", "ModelNotFound", "ParityMismatch", "RunnerError",
            "SavedModelError", "ServerStartError", "SignatureNotFound", "TagSetNotFound", "UsageError",
        )
    },
}

__all__ = [
    "Contract",
    "ContractViolation",
    "EnvironmentProblem",
    "FakeRunner",
    "FeatureSpec",
    "Finding",
    "InvalidArgument",
    "MissingExtra",
    "ModelCheckFailure",
    "ModelLoadError",
    "ModelNotFound",
    "ModelRef",
    "ModelSpec",
    "ParityMismatch",
    "ParseSpec",
    "Runner",
    "RunnerError",
    "SavedModel",
    "SavedModelError",
    "ServerStartError",
    "SignatureNotFound",
    "SignatureSpec",
    "TagSetNotFound",
    "TensorSpec",
    "Tolerance",
    "UsageError",
    "__version__",
    "assert_parity",
    "check_contract",
    "compare_outputs",
    "find_model",
    "open_model",
]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(importlib.import_module(f"pytest_savedmodel.{_EXPORTS[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'pytest_savedmodel' has no attribute {name!r}")


def __dir__() -> list[str]:
    return __all__


if TYPE_CHECKING:
    from pytest_savedmodel.compare import Tolerance, assert_parity, compare_outputs
    from pytest_savedmodel.contract import Contract, check_contract
    from pytest_savedmodel.errors import (
        ContractViolation,
        EnvironmentProblem,
        Finding,
        InvalidArgument,
        MissingExtra,
        ModelCheckFailure,
        ModelLoadError,
        ModelNotFound,
        ParityMismatch,
        RunnerError,
        SavedModelError,
        ServerStartError,
        SignatureNotFound,
        TagSetNotFound,
        UsageError,
    )
    from pytest_savedmodel.locate import find_model
    from pytest_savedmodel.model import SavedModel, open_model
    from pytest_savedmodel.runners.base import Runner
    from pytest_savedmodel.runners.fake import FakeRunner
    from pytest_savedmodel.spec import FeatureSpec, ModelRef, ModelSpec, ParseSpec, SignatureSpec, TensorSpec
