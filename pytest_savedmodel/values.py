"""Scalar value strategies: one dtype -> strategy table for model inputs. No TensorFlow here.

:func:`elements` draws the values of one element of an input: integers in ``[-1000, 1000]`` clipped to the
dtype, booleans, strings as clients send them, and floats where models live (:func:`realistic_floats`).
:mod:`pytest_savedmodel.strategies` builds arrays and feature dicts from them.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any, Literal

import numpy as np
from hypothesis import strategies as st

from pytest_savedmodel.errors import InvalidArgument
from pytest_savedmodel.spec import DType

__all__ = ["DEFAULT_LIMIT", "check_range", "elements", "realistic_floats"]

DEFAULT_LIMIT = 1000.0


def check_range(name: str, lo: float | None, hi: float | None) -> None:
    for label, v in (("min_value", lo), ("max_value", hi)):
        if v is not None and (not isinstance(v, (int, float)) or isinstance(v, bool) or v != v):
            raise InvalidArgument(f"{name}: {label}={v!r} must be a number (or None for the default bound)")
    if lo is not None and hi is not None and lo > hi:
        raise InvalidArgument(f"{name}: min_value={lo!r} is greater than max_value={hi!r}")


def elements(
    dtype: DType,
    *,
    min_value: float | None = None,
    max_value: float | None = None,
    allow_nan: bool = False,
    allow_infinity: bool = False,
    values: Collection[Any] | None = None,
    plain: bool = False,
) -> st.SearchStrategy[Any]:
    """Scalar values of ``dtype`` (the one dtype -> strategy table); only ``values`` when given (a vocabulary).

    ``plain``: Hypothesis' own strategies only (floats over the whole range, bytes), which it can reuse as the
    fill value of a large array; the default mixes in realistic magnitudes and typical strings.

    Example:
        >>> elements(dtype_by_name("int8"), min_value=0).example() in range(0, 128)
        True
    """
    check_range(dtype.name, min_value, max_value)
    if values is not None:
        vocab = sorted(set(values), key=repr)
        if not vocab:
            raise InvalidArgument(f"{dtype.name}: values=[] is empty; give at least one value")
        if dtype.is_string:
            if not all(isinstance(v, (bytes, str)) for v in vocab):
                raise InvalidArgument(f"{dtype.name}: values={vocab[:4]!r}: strings or bytes expected")
            return st.sampled_from([v.encode() if isinstance(v, str) else v for v in vocab])
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in vocab):
            raise InvalidArgument(f"{dtype.name}: values={vocab[:4]!r}: numbers expected for a {dtype.name} input")
        return st.sampled_from(vocab)
    if dtype.is_bool:
        return st.booleans()
    if dtype.is_string:  # text as clients send it (empty and non-ASCII included), now and then raw bytes
        if plain:
            return st.binary(max_size=8)
        text = st.text(max_size=8).map(lambda s: s.encode("utf-8"))
        return st.one_of(text, text, st.just(b""), st.binary(max_size=8))
    if dtype.is_integer:
        info = np.iinfo(dtype.numpy)  # type: ignore[arg-type]
        lo = int(max(info.min, -DEFAULT_LIMIT if min_value is None else min_value))
        hi = int(min(info.max, DEFAULT_LIMIT if max_value is None else max_value))
        if lo > hi:
            raise InvalidArgument(f"{dtype.name}: no integer in [{min_value}, {max_value}] fits the dtype "
                                  f"(range {info.min}..{info.max})")
        return st.integers(lo, hi)
    if dtype.is_complex:
        return st.complex_numbers(max_magnitude=DEFAULT_LIMIT if max_value is None else abs(max_value),
                                  allow_nan=allow_nan, allow_infinity=allow_infinity,
                                  width=64 if dtype.name == "complex64" else 128)
    if dtype.is_float and dtype.numpy is not None:
        width: Literal[16, 32, 64] = 16 if dtype.name == "float16" else 32 if dtype.name == "float32" else 64
        lo_f = -DEFAULT_LIMIT if min_value is None else _inward(float(min_value), dtype.numpy, up=True)
        hi_f = DEFAULT_LIMIT if max_value is None else _inward(float(max_value), dtype.numpy, up=False)
        if lo_f > hi_f:
            raise InvalidArgument(f"{dtype.name}: no {dtype.name} value in [{min_value}, {max_value}]")
        finite = st.floats(lo_f, hi_f, width=width, allow_nan=False, allow_infinity=False)
        if min_value is None and max_value is None:
            finite = finite if plain else realistic_floats(width, finite)
        specials = ([st.just(float("nan"))] if allow_nan else []) + (
            [st.sampled_from([float("inf"), -float("inf")])] if allow_infinity else [])
        return st.one_of(finite, *specials) if specials else finite
    raise InvalidArgument(f"dtype {dtype.name} has no numpy equivalent to draw values from "
                          f"(resource, variant, quantized and bfloat16 inputs are not generated)")


def _inward(bound: float, numpy_dtype: Any, *, up: bool) -> float:
    """``bound`` as the nearest value of the input's float dtype inside the range (0.1 is not a float32:
    a lower bound becomes the next float32 above it, an upper bound the one below)."""
    kind = np.dtype(numpy_dtype).type
    near = kind(bound)
    if not np.isfinite(near):
        near = kind(np.finfo(kind).max if bound > 0 else np.finfo(kind).min)
    if up and float(near) < bound:
        near = np.nextafter(near, kind(np.inf))
    elif not up and float(near) > bound:
        near = np.nextafter(near, kind(-np.inf))
    return float(near)


def realistic_floats(width: Literal[16, 32, 64], extremes: st.SearchStrategy[float]) -> st.SearchStrategy[float]:
    """Floats for an input without a declared range, drawn where models live.

    Half at unit scale (uniform in [-5, 5], two decimals), a third spread over decades around it (sign
    times 1.00..9.99 times 10**e, e in -3..2), the rest Hypothesis' own floats in [-1000, 1000] (zero,
    -0.0, subnormals, the bounds, large magnitudes). Hypothesis' floats alone gave about a third exact zeros and
    half beyond 100, where a sigmoid saturates and a small skew or a narrow NaN band goes unseen.
    """
    cast: Any = {16: np.float16, 32: np.float32, 64: np.float64}[width]

    # Hypothesis draws an integer from a range of about a thousand uniformly (wider ranges lean to small
    # values), and shrinks it to 0: values with two decimals, shrinking to 0.0 and 1.0, read well in reports.
    unit = st.integers(-500, 500).map(lambda i: float(cast(i / 100)))
    mantissa = st.integers(100, 999).map(lambda i: i / 100)
    decades = st.tuples(st.booleans(), mantissa, st.integers(-3, 2)).map(
        lambda t: float(cast((-1.0 if t[0] else 1.0) * t[1] * 10.0 ** t[2])))
    return st.one_of(unit, unit, unit, decades, decades, extremes)
