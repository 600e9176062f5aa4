"""The error hierarchy of pytest-savedmodel.

Three kinds, one base class::

    SavedModelError
    ├── UsageError                 you configured it wrong (option, marker, strategy argument)
    │   └── InvalidArgument        a strategy or API argument is out of range
    ├── EnvironmentProblem         the model, file or server could not be used
    │   ├── ModelNotFound          no SavedModel where you pointed
    │   ├── ModelLoadError         a SavedModel that exists but cannot be read or loaded
    │   ├── SignatureNotFound      no such signature (lists the ones that exist)
    │   ├── TagSetNotFound         no such tag-set (lists the ones that exist)
    │   ├── RunnerError            a runner could not produce outputs
    │   │   └── OutOfMemory        the call ran out of memory (MemoryError, TF ResourceExhausted)
    │   ├── ServerStartError       a model server did not start or become AVAILABLE
    │   └── MissingExtra           an optional package is not installed
    ├── SameCause                  this check would fail for a cause another item reported (a skip)
    └── Finding (AssertionError)   the model is wrong: a test failure, not a crash
        ├── ContractViolation      signature/dtype/shape differs from what was declared
        ├── ModelCheckFailure      non-finite output, batch dependence, nondeterminism
        │   └── Unrunnable         holds for every check of the signature (the others are skipped)
        │       ├── CallTimeout    a call did not finish within --savedmodel-timeout
        │       └── TooLarge       declared shapes need more than --savedmodel-max-input-bytes
        └── ParityMismatch         two runners disagree

Findings carry structured fields besides their text so reports can be built
from data.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

#: A ModelRef (anything with ``label()``), a name or a path: errors stay below spec in the layers.
ModelRef = Any

__all__ = [
    "CallTimeout",
    "ContractViolation",
    "EnvironmentProblem",
    "Finding",
    "InvalidArgument",
    "MissingExtra",
    "ModelCheckFailure",
    "ModelLoadError",
    "ModelNotFound",
    "OutOfMemory",
    "ParityMismatch",
    "RunnerError",
    "SameCause",
    "SavedModelError",
    "ServerStartError",
    "SignatureNotFound",
    "TagSetNotFound",
    "TooLarge",
    "Unrunnable",
    "UsageError",
    "cause_shape",
]


def _listing(items: Iterable[object]) -> str:
    items = list(items)
    return ", ".join(repr(str(i)) for i in items) if items else "(none)"


def _model_label(model: ModelRef | str | Path | None) -> str:
    if model is None:
        return "the model"
    if isinstance(model, (str, Path)):
        return str(model)
    return f"{model.label()} at {model.path}"


class SavedModelError(Exception):
    """Base class of every error pytest-savedmodel raises on purpose."""


class UsageError(SavedModelError):
    """The test author configured something wrongly (an option, a marker, an argument)."""


class InvalidArgument(UsageError, ValueError):
    """An argument to a strategy or API function is outside what it accepts."""


class EnvironmentProblem(SavedModelError):
    """The model, a file or a server could not be used as asked."""


class ModelNotFound(EnvironmentProblem):
    """No SavedModel at the path given."""

    def __init__(self, message: str, *, path: Path | str | None = None) -> None:
        super().__init__(message)
        self.path = path


class ModelLoadError(EnvironmentProblem):
    """A SavedModel exists but cannot be parsed or loaded."""

    def __init__(self, message: str, *, path: Path | str | None = None) -> None:
        super().__init__(message)
        self.path = path


class TagSetNotFound(EnvironmentProblem):
    """The requested tag-set is not in the SavedModel."""

    def __init__(self, *, path: Path | str, tags: Iterable[str], available: Iterable[Iterable[str]]) -> None:
        self.path = path
        self.tags = sorted(tags)
        self.available = [sorted(t) for t in available]
        shown = "; ".join(",".join(t) or "(empty tag-set)" for t in self.available) or "(none)"
        super().__init__(
            f"SavedModel {path} has no MetaGraph with tag-set {','.join(self.tags)!r}. "
            f"Tag-sets in this SavedModel: {shown}. "
            f"Pass one of them with --savedmodel-tags=TAG[,TAG]."
        )


class SignatureNotFound(EnvironmentProblem):
    """The requested signature is not in the model."""

    def __init__(self, *, model: ModelRef | str | Path | None, signature: str, available: Iterable[str]) -> None:
        self.model = model
        self.signature = signature
        self.available = list(available)
        import difflib

        close = difflib.get_close_matches(signature, self.available, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        super().__init__(
            f"signature {signature!r} not found in {_model_label(model)}.{hint} "
            f"Signatures that exist: {_listing(self.available)}."
        )


class RunnerError(EnvironmentProblem):
    """A runner failed to produce outputs (the model raised, a server refused...)."""

    def __init__(self, message: str, *, runner: str = "", signature: str = "", reason: str = "") -> None:
        super().__init__(message)
        self.runner = runner
        self.signature = signature
        #: the model's (or server's) own one-line reason, when the model rejected the inputs: the session
        #: reports one item per reason and signature, the others as skipped "same cause as ..."
        self.reason = reason


class ServerStartError(EnvironmentProblem):
    """A model server failed to start or to make its models AVAILABLE."""

    def __init__(self, message: str, *, log_tail: str = "") -> None:
        if log_tail:
            message = f"{message}\n--- server log (last lines) ---\n{log_tail.rstrip()}"
        super().__init__(message)
        self.log_tail = log_tail


class MissingExtra(EnvironmentProblem, ImportError):
    """An optional dependency is not installed."""

    def __init__(self, module: str, *, extra: str | None = None, purpose: str = "") -> None:
        pkg = f"pytest-savedmodel[{extra}]" if extra else module
        why = f" (needed for {purpose})" if purpose else ""
        super().__init__(f"the optional package {module!r} is not installed{why}. Install it with: pip install {pkg}")
        self.module = module


class Finding(AssertionError, SavedModelError):
    """A test failure about the model itself. Subclasses carry structured fields."""

    def __init__(self, message: str, **fields: Any) -> None:
        super().__init__(message)
        self.fields = fields

    def __getattr__(self, name: str) -> Any:
        fields = self.__dict__.get("fields", {})
        if name in fields:
            return fields[name]
        raise AttributeError(name)


class ContractViolation(Finding):
    """The model differs from the declared or locked contract (signature, dtype, shape...)."""


class ModelCheckFailure(Finding):
    """An automatic model check failed: non-finite outputs, batch dependence, nondeterminism."""


class ParityMismatch(Finding):
    """Two runners gave different outputs for the same inputs."""


class Unrunnable(ModelCheckFailure):
    """A finding that holds for every check of a signature: the first item reports it, the others are skipped
    naming that item, and generated inputs are not shrunk (each attempt would cost as much again)."""


class CallTimeout(Unrunnable):
    """A model call did not finish within ``--savedmodel-timeout``: the model may loop forever on the input.

    Fields: ``path``, ``signature``, ``seconds``, ``features`` (the inputs of the call that hung).
    """


class TooLarge(Unrunnable):
    """Declared shapes need more memory per row than ``--savedmodel-max-input-bytes``: nothing is allocated."""


class OutOfMemory(RunnerError):
    """A call ran out of memory (MemoryError, TensorFlow's ResourceExhausted): the machine, not a finding."""


class SameCause(SavedModelError):
    """This check would fail for a cause another item already reported: it is skipped, naming that item."""

    def __init__(self, message: str, *, item: str = "") -> None:
        super().__init__(message)
        self.item = item


def cause_shape(reason: str) -> str:
    """A failure's reason with its numbers blanked: ``indices[1,0] = 25 is not in [0, 20)`` and
    ``indices[0,0] = 20 ...`` are the same cause (one cause, one red; a simplified row that fails the same way)."""
    import re

    return re.sub(r"-?\d+(\.\d+)?(e-?\d+)?", "#", reason.strip())[:300]
