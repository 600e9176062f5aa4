"""Parsers of single option values: each turns one string into a typed value or a UsageError naming the
option, the value and what to give instead (``settings.py`` reads options; this module reads values)."""

from __future__ import annotations

import json
from typing import Any

from pytest_savedmodel.errors import UsageError

__all__ = ["domain_policy", "identifier", "max_moved", "tflite_tolerance", "training_default"]


def training_default(text: str) -> tuple[str, Any]:
    key, sep, raw = text.partition("=")
    if not sep or not key:
        raise UsageError(f"--savedmodel-training-default={text!r}: expected KEY=VALUE, e.g. PetalWidth=0.0")
    try:
        value = json.loads(raw)
    except ValueError:
        value = raw
    return key.strip(), value


def identifier(flag: str, value: str | None) -> str | None:
    if not value:
        return None
    if not value.isidentifier():
        raise UsageError(f"{flag}={value!r}: give the name of a fixture (a Python identifier), e.g. "
                         f"{flag}=training_model")
    return value


def max_moved(text: str) -> tuple[str | None, float]:
    """``[OUTPUT=]FRACTION`` of --savedmodel-baseline-max-moved."""
    name, eq, value = str(text).rpartition("=")
    try:
        share = float(value)
    except ValueError:
        share = -1.0
    if not 0 <= share <= 1:
        raise UsageError(f"--savedmodel-baseline-max-moved={text}: give [OUTPUT=]FRACTION with a share of rows from "
                         f"0 to 1 (class_ids=0.05 allows 5% of class ids to change)")
    return (name.strip() or None) if eq else None, share


def domain_policy(value: object) -> str:
    policy = str(value or "report").strip().lower()
    if policy not in ("report", "reject", "accept"):
        import difflib

        close = difflib.get_close_matches(policy, ["report", "reject", "accept"], n=1)
        hint = f" Did you mean {close[0]}?" if close else ""
        raise UsageError(f"--savedmodel-domain={value!r}: use report, reject or accept.{hint}")
    return policy


def tflite_tolerance(text: str) -> tuple[str, tuple[float, float]]:
    """``MODE=RTOL,ATOL`` of --savedmodel-tflite-tolerance (MODE: float, float16, dynamic or int8)."""
    import difflib

    modes = ("float", "float16", "dynamic", "int8")
    mode, eq, values = str(text).partition("=")
    mode = mode.strip().lower()
    if mode not in modes:
        close = difflib.get_close_matches(mode, modes, n=1)
        hint = f" Did you mean {close[0]}?" if close else ""
        raise UsageError(f"--savedmodel-tflite-tolerance={text}: no quantization mode {mode!r}.{hint} Give "
                         f"MODE=RTOL,ATOL with MODE one of {', '.join(modes)}, e.g. int8=0.3,0.05")
    try:
        rtol, atol = (float(v) for v in values.split(","))
    except ValueError:
        rtol = atol = -1.0
    if not eq or rtol < 0 or atol < 0:
        raise UsageError(f"--savedmodel-tflite-tolerance={text}: give MODE=RTOL,ATOL with two numbers of 0 or more, "
                         f"e.g. {mode}=0.3,0.05")
    return mode, (rtol, atol)
