"""``--savedmodel-server=MODE``: its forms, read without starting anything (see ``serving.launcher``)."""

from __future__ import annotations

import shutil

from pytest_savedmodel.errors import UsageError

__all__ = ["BINARY", "MODES", "parse_mode", "resolve_mode"]

MODES = "auto, emulator, binary[:PATH], docker[:IMAGE], url:GRPC_TARGET,REST_URL or none"
BINARY = "tensorflow_model_server"


def parse_mode(mode: str) -> tuple[str, str]:
    """``"binary:/opt/tfs"`` -> ``("binary", "/opt/tfs")``; a usage error for anything else."""
    kind, _, arg = mode.strip().partition(":")
    kind = kind.lower()
    if kind in ("auto", "emulator", "none") and not arg:
        return kind, ""
    if kind in ("binary", "docker"):
        return kind, arg
    if kind == "url":
        grpc_target, sep, rest = arg.partition(",")
        if sep and grpc_target and rest.startswith(("http://", "https://")):
            return kind, arg
        raise UsageError(f"--savedmodel-server={mode!r}: url: needs GRPC_TARGET,REST_URL, e.g. "
                         f"url:localhost:8500,http://localhost:8501 or url:unix:/tmp/tfs.sock,http://localhost:8501")
    import difflib

    close = difflib.get_close_matches(kind, ["auto", "emulator", "binary", "docker", "url", "none"], n=1)
    hint = f"did you mean --savedmodel-server={close[0]}{':' + arg if arg else ''}? " if close else ""
    raise UsageError(f"--savedmodel-server={mode!r}: unknown mode; {hint}use one of {MODES} "
                     f"(e.g. --savedmodel-server=binary:/usr/bin/tensorflow_model_server)")


def resolve_mode(mode: str) -> tuple[str, str]:
    """:func:`parse_mode` with ``auto`` resolved: the real binary where it is on PATH, else the emulator."""
    kind, arg = parse_mode(mode)
    if kind != "auto":
        return kind, arg
    found = shutil.which(BINARY)
    return ("binary", found) if found else ("emulator", "")
