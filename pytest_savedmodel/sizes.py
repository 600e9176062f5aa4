"""Size bounds, computed from declared shapes before anything is allocated. No TensorFlow here.

A signature input declared ``[-1, 50000000]`` float32 needs 200 MB for one row: drawing a batch of them
would take gigabytes before the model even runs. Before a check calls a model, the bytes one row of each
input and of each statically shaped output would take are computed (free non-batch dimensions at 1,
strings at 16 bytes an element); one over ``--savedmodel-max-input-bytes`` is a finding naming the
tensor, its declared shape and what to do, and nothing is allocated.

    check_sizes(signature, bound=64 * 2**20)      # raises TooLarge naming every tensor over the bound
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from pytest_savedmodel.errors import TooLarge
from pytest_savedmodel.spec import SignatureSpec, TensorSpec, format_shape

__all__ = ["DEFAULT_MAX_INPUT_BYTES", "STRING_BYTES", "check_sizes", "human_bytes", "row_bytes"]

DEFAULT_MAX_INPUT_BYTES = 64 * 2**20
STRING_BYTES = 16  # an estimate per string element (object pointer plus a short value)


def row_bytes(spec: TensorSpec) -> int:
    """Bytes of one row of ``spec``: the dims after the first (free ones at 1) times the element size."""
    if spec.shape is None:
        return _itemsize(spec)
    dims = spec.shape[1:] if spec.shape else ()
    return math.prod(1 if d is None or d < 0 else d for d in dims) * _itemsize(spec)


def _itemsize(spec: TensorSpec) -> int:
    if spec.dtype.is_string or spec.dtype.numpy is None:
        return STRING_BYTES
    import numpy as np

    return int(np.dtype(spec.dtype.numpy).itemsize)


def human_bytes(n: float) -> str:
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= size:
            return f"{n / size:.3g} {unit}"
    return f"{int(n)} bytes"


def _over(kind: str, tensors: Iterable[TensorSpec], bound: int) -> list[str]:
    out = []
    for t in tensors:
        n = row_bytes(t)
        if n > bound:
            out.append(f"{kind} {t.alias!r} declares {format_shape(t.shape)} {t.dtype.name}: {human_bytes(n)} per "
                       f"row, over the {human_bytes(bound)} bound")
    return out


def check_sizes(sig: SignatureSpec, *, bound: int, label: str = "") -> None:
    """Raise :class:`TooLarge` if one row of an input, or of a statically shaped output, is over ``bound``."""
    problems = _over("input", (t for a, t in sorted(sig.inputs.items())), bound)
    problems += _over("output", (t for a, t in sorted(sig.outputs.items())), bound)
    if problems:
        where = f"{label} signature {sig.key!r}" if label else f"signature {sig.key!r}"
        raise TooLarge(f"{where} is not called: " + "; ".join(problems) + ". Nothing was allocated. If such "
                       f"sizes are intended, raise --savedmodel-max-input-bytes (bytes; now {bound}); else fix the "
                       f"declared shape", signature=sig.key, bound=bound)
