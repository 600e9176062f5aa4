"""One ``--savedmodel-*`` option and its ini key, as plain data. No pytest here.

The core options live in :mod:`pytest_savedmodel.settings`; each prediction path
that needs an option declares it on its registry line
(:mod:`pytest_savedmodel.runners.registry`), so adding a path adds its option.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["Option"]


@dataclass(frozen=True)
class Option:
    """One ``--savedmodel-*`` option and its ini key (the flag without dashes, dashes as underscores).

    ``kind``: ``str``, ``int``, ``float``, ``flag`` (on/off), ``models`` (repeatable ``[NAME=]DIR``
    arguments) or ``fixture`` (the name of a pytest fixture of the user's).
    """

    flag: str
    help: str
    default: Any = None
    metavar: str = "VALUE"
    multiple: bool = False
    kind: str = "str"

    def __post_init__(self) -> None:
        if self.kind == "models":
            object.__setattr__(self, "multiple", True)

    @property
    def is_flag(self) -> bool:
        return self.kind == "flag"

    @property
    def dest(self) -> str:
        return self.flag.lstrip("-").replace("-", "_")

    @property
    def ini(self) -> str:
        return self.dest

    @property
    def key(self) -> str:
        """The name of the setting (``--savedmodel-checkpoint-model`` -> ``checkpoint_model``)."""
        return self.dest.removeprefix("savedmodel_") if self.dest != "savedmodel" else "models"
