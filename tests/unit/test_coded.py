"""Wide groups drawn as codes into a value table (coded.py): the table, the draws, replay and shrinking."""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, find, settings

from pytest_savedmodel import strategies
from pytest_savedmodel.coded import SIZE, WIDE, coded_arrays, value_table
from pytest_savedmodel.spec import SignatureSpec, TensorSpec, dtype_by_name

F32, I64 = dtype_by_name("float32"), dtype_by_name("int64")
FIND = settings(max_examples=2000, database=None, suppress_health_check=list(HealthCheck))


def _wide(floats: int, ints: int = 0) -> SignatureSpec:
    ins = {f"f{i:02d}": TensorSpec(f"f{i:02d}", F32, (None, 1), f"f{i:02d}:0") for i in range(floats)}
    ins.update({f"i{i:02d}": TensorSpec(f"i{i:02d}", I64, (None, 1), f"i{i:02d}:0") for i in range(ints)})
    return SignatureSpec("serving_default", "tensorflow/serving/predict", ins, {})


@pytest.mark.parametrize(("dtype", "lo", "hi", "first"), [
    (F32, None, None, 0.0), (F32, 0.5, 2.0, 0.5), (F32, -3.0, -1.0, -1.0), (I64, None, None, 0), (I64, 10, 20, 10)])
def test_the_table_is_fixed_inside_the_domain_and_starts_at_the_simplest_value(dtype: Any, lo: Any, hi: Any,
                                                                              first: float) -> None:
    table = value_table(dtype, lo, hi)
    value_table.cache_clear()
    assert np.array_equal(table, value_table(dtype, lo, hi))  # seeded: the same table in every run
    assert table.shape == (SIZE,) and table.dtype == np.dtype(dtype.numpy) and table[0] == first
    if lo is not None:
        assert table.min() == lo and table.max() == hi  # the bounds are reached
    else:
        assert np.abs(table).max() >= 999
    hundredths = table.astype(np.float64) * 100
    simple = np.abs(hundredths - np.round(hundredths)) <= 1e-4 * np.maximum(1, np.abs(hundredths))  # float32's
    assert simple[0] and not np.any(np.diff(simple.astype(int)) > 0)  # values with two decimals come first


def test_unbounded_floats_follow_the_bulk_mixture() -> None:
    table = value_table(F32, None, None).astype(np.float64)
    assert 0.4 < np.mean(np.abs(table) <= 5) < 0.8  # mostly at unit scale
    assert np.mean(np.abs(table) > 100) > 0.05  # and some far out
    assert np.mean(table < 0) > 0.4


def test_coded_arrays_replay_from_hypothesis_randomness() -> None:
    strategy = coded_arrays(F32, None, None, (3, 20, 1))
    first = find(strategy, lambda a: bool(a.any()), settings=FIND, random=random.Random(7))
    again = find(strategy, lambda a: bool(a.any()), settings=FIND, random=random.Random(7))
    assert first.shape == (3, 20, 1) and first.dtype == np.float32 and np.array_equal(first, again)


def test_only_wide_groups_are_drawn_as_codes(monkeypatch: pytest.MonkeyPatch) -> None:
    used: list[tuple[int, ...]] = []

    def spy(dtype: Any, lo: Any, hi: Any, shape: tuple[int, ...]) -> Any:
        used.append(shape)
        return coded_arrays(dtype, lo, hi, shape)

    monkeypatch.setattr(strategies, "coded_arrays", spy)
    find(strategies.feature_dicts(_wide(WIDE - 1)), lambda f: True, settings=FIND)
    assert used == []  # narrower groups (Iris's 4 features) draw each element
    find(strategies.feature_dicts(_wide(WIDE)), lambda f: True, settings=FIND)
    assert used and all(shape[1:] == (WIDE, 1) for shape in used)


@pytest.mark.parametrize("seed", [1, 2])
def test_a_failing_wide_row_shrinks_to_zeros_but_for_the_inputs_that_matter(seed: int) -> None:
    def fails(f: dict[str, np.ndarray]) -> bool:
        return bool(np.any((f["f17"] > 3) & (f["f17"] < 3.5) & (f["i05"] > 0)))

    found = find(strategies.feature_dicts(_wide(40, 20)), fails, settings=FIND, random=random.Random(seed))
    row = int(np.argmax((found["f17"] > 3) & (found["i05"] > 0)))
    assert 3 < found["f17"][row, 0] <= 3.1 and 0 < found["i05"][row, 0] <= 10
    others = [k for k in found if k not in ("f17", "i05")]
    assert all(not found[k].any() for k in others)
