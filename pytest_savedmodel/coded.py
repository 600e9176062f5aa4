"""Wide groups of inputs drawn by Hypothesis in one step: bytes read as codes into a table of values.

Hypothesis draws an array element by element through its choice machinery: about 80 µs per float with the
realistic mixture of :func:`~pytest_savedmodel.values.realistic_floats`, so a tabular model with 130 inputs
paid 25 ms per generated example before its model ran. A group of :data:`WIDE` or more inputs of one
numeric dtype, row shape and domain (``strategies.feature_dicts`` groups them) is instead one draw of bytes,
read as 16-bit codes into a table of 65,536 values. The table is the bulk phase's distribution
(:func:`~pytest_savedmodel.bulk.float_values` / :func:`~pytest_savedmodel.bulk.int_values`, seeded 0: the same
table in every run), simplest first: code 0 is zero (or the bound nearest it), then values with at most two
decimals, then the rest, each part by distance from that first value.

Hypothesis shrinks bytes one by one, so the layout matters. A code is big-endian: the shrinker lowers its
high byte first, jumping to the 256 simplest entries, then walks the low byte down. The table keeps its
repeats (every integer of [-1000, 1000] about 30 times): where a code stops at a multiple of 256 because the
one below passes, its value is still small. A 60-input row failing while f17 is in (3, 3.5) and i05 > 0
shrank, on five seeds, to f17 = 3.02, i05 = 1 (or 5, 9) and every other input 0 (little-endian codes stopped
at i05 = 119; element-wise draws found 3.01 and 1, in about 34 s a seed where codes take about 1 s).

Hypothesis stays in charge of the randomness (its seed fixes the bytes: ``--savedmodel-seed`` replays them) and
of shrinking: lowering a code moves its value toward the simplest one that still fails, so a failing row
shrinks to zeros but for the values that matter, as element-wise draws do.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np
from hypothesis import strategies as st

from pytest_savedmodel.spec import DType

__all__ = ["SIZE", "WIDE", "coded_arrays", "value_table"]

#: inputs in a group from which it is drawn as codes (narrower groups draw each element: Iris's 4 features)
WIDE = 16
#: values in a table: one per 16-bit code
SIZE = 2**16


@functools.lru_cache(maxsize=64)
def value_table(dtype: DType, lo: float | None, hi: float | None) -> np.ndarray:
    """The :data:`SIZE` values codes index, simplest first (see the module's docstring)."""
    from pytest_savedmodel.bulk import float_values, int_values

    assert dtype.numpy is not None
    rng = np.random.default_rng(0)
    draw = int_values if dtype.is_integer else float_values
    values = draw(rng, SIZE, dtype.numpy, lo, hi)
    wide = values.astype(np.float64)
    first = float(np.clip(0.0, -math.inf if lo is None else lo, math.inf if hi is None else hi))
    hundredths = wide * 100.0
    simple = np.abs(hundredths - np.round(hundredths)) <= 1e-4 * np.maximum(1.0, np.abs(hundredths))
    table = values[np.lexsort((np.abs(wide - first), ~simple))]
    table[0] = np.asarray(first).astype(dtype.numpy)
    return table


def coded_arrays(dtype: DType, lo: float | None, hi: float | None,
                 shape: tuple[int, ...]) -> st.SearchStrategy[np.ndarray]:
    """Arrays of ``shape`` (``[rows, ...]``) whose elements are :func:`value_table` entries: one draw of bytes
    per row, so that a shrunk batch keeps its rows' values (one draw for the whole batch lost them whenever the
    shrinker tried fewer rows)."""
    table = value_table(dtype, lo, hi)
    rows, row_shape = shape[0], shape[1:]
    size = 2 * math.prod(row_shape)

    def decode(raw: tuple[bytes, ...]) -> Any:
        return table[np.frombuffer(b"".join(raw), dtype=">u2")].reshape(shape)

    return st.tuples(*[st.binary(min_size=size, max_size=size)] * rows).map(decode)
