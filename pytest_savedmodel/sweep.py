"""A sweep: one deterministic batch that covers each input's range, tried before the generated examples.

Hypothesis draws well-shrinking examples but reuses values: 100 examples hold about 80 distinct values of
an input. A defect confined to a narrow band (a NaN only for 3.7 < x < 4.2, a log of a negative number)
is then missed on some seeds. The sweep closes that gap on every seed: a batch of 64 rows where each float
input takes 48 evenly spaced values over [-6, 6] (0.26 apart) and 16 magnitudes from 1e-3 to 1e3 of both
signs, each input in its own fixed order so inputs vary independently. Integers run over their graph domain
(or 0..63), strings over their vocabulary (or a few typical strings: empty, ASCII, non-ASCII).

It runs after the generated examples (which shrink well); when it fails, the first row that fails alone is
reported, so the input shown is one row, not 64.
Signatures without a free batch dimension, of unknown rank, or fed serialized tf.Examples get no sweep.
"""

from __future__ import annotations

import zlib
from typing import Any

import numpy as np

from pytest_savedmodel.spec import Domain, Features, SignatureSpec, TensorSpec

__all__ = ["ROWS", "float_sweep", "sweep_inputs"]

ROWS = 64
_STRINGS = (b"", b"a", b"s0", "\u00e9t\u00e9".encode(), "\u6570\u636e".encode(), b"0", b"-1", b"NaN")


def float_sweep(lo: float = -6.0, hi: float = 6.0) -> np.ndarray:
    """The 64 float values of a sweep: 48 evenly spaced over ``[lo, hi]``, 16 signed magnitudes 1e-3..1e3
    (those only when the range is the default one)."""
    if (lo, hi) != (-6.0, 6.0):
        return np.linspace(lo, hi, ROWS)
    mags = np.logspace(-3, 3, 8)
    return np.concatenate([np.linspace(lo, hi, 48), mags, -mags])


def _values(t: TensorSpec, domain: Domain | Any | None) -> np.ndarray | None:
    if domain is not None and domain.values:
        vals = list(domain.values)
        out = np.empty(ROWS, dtype=object)
        out[:] = [vals[i % len(vals)] for i in range(ROWS)]
        return out if t.dtype.is_string else np.asarray(out.astype(t.dtype.numpy))
    if t.dtype.is_string:
        out = np.empty(ROWS, dtype=object)
        out[:] = [_STRINGS[i % len(_STRINGS)] for i in range(ROWS)]
        return out
    if t.dtype.is_bool:
        return np.asarray(np.arange(ROWS) % 2 == 0)
    if t.dtype.numpy is None or t.dtype.is_complex:
        return None
    d_lo = None if domain is None or domain.min_value is None else float(domain.min_value)
    d_hi = None if domain is None or domain.max_value is None else float(domain.max_value)
    if t.dtype.is_integer:
        lo, hi = 0, ROWS - 1
        if d_lo is not None or d_hi is not None:  # one side given: 64 values from it
            lo = int(d_lo) if d_lo is not None else int(d_hi) - (ROWS - 1)  # type: ignore[arg-type]
            hi = int(d_hi) if d_hi is not None else lo + ROWS - 1
        info = np.iinfo(t.dtype.numpy)  # type: ignore[arg-type]
        lo, hi = max(lo, int(info.min)), min(hi, int(info.max))
        return (lo + np.arange(ROWS) % (hi - lo + 1)).astype(t.dtype.numpy)  # type: ignore[arg-type]
    if d_lo is None and d_hi is None:
        return float_sweep().astype(t.dtype.numpy)
    lo_f = d_lo if d_lo is not None else d_hi - 12.0  # type: ignore[operator]
    hi_f = d_hi if d_hi is not None else lo_f + 12.0
    return float_sweep(lo_f, hi_f).astype(t.dtype.numpy)


def sweep_inputs(sig: SignatureSpec, *, domains: dict[str, Any] | None = None) -> Features | None:
    """The sweep batch for ``sig`` (see the module docstring), or None where it does not apply.

    ``domains`` (a schema's, by input) win over the graph's (``sig.domains``); anything with ``values``,
    ``min_value`` and ``max_value`` will do.
    """
    if not sig.inputs or sig.parse_spec is not None:
        return None
    given = {**dict(sig.domains), **(domains or {})}
    out: Features = {}
    for alias, t in sorted(sig.inputs.items()):
        if t.shape is None or not t.shape or t.shape[0] is not None:
            return None  # unknown rank or no free batch dim: the generated examples alone
        if any(d is None for d in t.shape[1:]):
            return None
        values = _values(t, given.get(alias))
        if values is None:
            return None
        order = np.random.default_rng(zlib.crc32(alias.encode())).permutation(ROWS)  # inputs vary independently
        row_shape = tuple(int(d or 0) for d in t.shape[1:])
        width = int(np.prod(row_shape)) if row_shape else 1
        if ROWS * width > 2**18:  # wide rows (images): the generated examples alone
            return None
        idx = (order[:, None] + 7 * np.arange(width)[None, :]) % ROWS  # elements of a row differ as well
        arr: Any = values[idx]
        out[alias] = arr.reshape((ROWS, *row_shape))
    return out
