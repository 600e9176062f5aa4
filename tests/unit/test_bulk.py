"""The bulk phase: rows by the thousand in a few calls, one failing row found and simplified (no TensorFlow)."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pytest

from pytest_savedmodel.bulk import BulkState, bulk_batches, check_chunk, run_bulk, simplify_row
from pytest_savedmodel.errors import ModelCheckFailure
from pytest_savedmodel.spec import Domain, SignatureSpec, TensorSpec, dtype_by_name

F32, I64, STR = dtype_by_name("float32"), dtype_by_name("int64"), dtype_by_name("string")


def _sig(**inputs: TensorSpec) -> SignatureSpec:
    return SignatureSpec("serving_default", "tensorflow/serving/predict", inputs,
                         {"y": TensorSpec("y", F32, (None,), "y:0")})


def test_rows_are_seeded_chunked_and_stay_inside_domains() -> None:
    sig = dataclasses.replace(_sig(x=TensorSpec("x", F32, (None, 3), "x:0"), ids=TensorSpec("ids", I64, (None,), "i:0"),
                                   color=TensorSpec("color", STR, (None,), "c:0")),
                              domains={"ids": Domain("int", 0, 19, source="Embedding"),
                                       "color": Domain("bytes", values=(b"red", b"blue"), source="StringLookup")})
    chunks = list(bulk_batches(sig, rows=2000, seed=7, digest="item"))
    assert sum(len(c["x"]) for c in chunks) == 2000 and all(len(c["x"]) <= 512 for c in chunks)
    ids = np.concatenate([c["ids"] for c in chunks])
    assert ids.min() == 0 and ids.max() == 19  # inside the table, its bounds included
    assert set(np.concatenate([c["color"] for c in chunks])) == {b"red", b"blue"}
    x = np.concatenate([c["x"].reshape(-1) for c in chunks])
    assert x.dtype == np.float32 and np.isfinite(x).all()
    assert 0.4 < np.mean(np.abs(x) <= 5) < 0.8 and np.mean(x == 0) < 0.05  # unit scale mostly, few zeros
    again = list(bulk_batches(sig, rows=2000, seed=7, digest="item"))
    assert all(np.array_equal(a["x"], b["x"]) for a, b in zip(chunks, again, strict=True))  # a seed replays
    other = next(iter(bulk_batches(sig, rows=2000, seed=8, digest="item")))
    assert not np.array_equal(other["x"], chunks[0]["x"])


def test_a_declared_range_bounds_the_floats_and_wide_rows_get_small_chunks() -> None:
    image = TensorSpec("image", F32, (None, 96, 96, 3), "image:0")
    chunks = list(bulk_batches(_sig(image=image), rows=100, seed=1, digest="d"))
    assert sum(len(c["image"]) for c in chunks) == 100 and len(chunks[0]["image"]) == 37  # 4 MiB per call
    sig = dataclasses.replace(_sig(x=TensorSpec("x", F32, (None,), "x:0")),
                              domains={"x": Domain("float", 0, 1, source="schema")})
    x = np.concatenate([c["x"] for c in bulk_batches(sig, rows=1000, seed=1, digest="d")])
    assert x.min() == 0.0 and x.max() == 1.0 and ((x >= 0) & (x <= 1)).all()


@pytest.mark.parametrize("spec", [
    TensorSpec("x", F32, None, "x:0"),  # unknown rank
    TensorSpec("x", F32, (4,), "x:0"),  # no free batch dim
])
def test_no_bulk_where_rows_cannot_be_stacked(spec: TensorSpec) -> None:
    assert list(bulk_batches(_sig(x=spec), rows=100, seed=1, digest="d")) == []


def test_zero_rows_is_no_bulk_phase() -> None:  # --savedmodel-rows=0
    assert list(bulk_batches(_sig(x=TensorSpec("x", F32, (None,), "x:0")), rows=0, seed=1, digest="d")) == []


def test_the_time_budget_stops_the_bulk_phase() -> None:
    ticks = iter(range(100))
    chunks = list(bulk_batches(_sig(x=TensorSpec("x", F32, (None,), "x:0")), rows=10_000, seed=1, digest="d",
                               budget_s=2.5, clock=lambda: float(next(ticks))))
    assert len(chunks) == 3  # handed out at t=0, 1, 2; at t=3 the budget is spent


def _nan_band(features: dict[str, Any]) -> None:
    x = np.asarray(features["x"])
    bad = (x > 2.0) & (x < 2.05)  # about 1 row in 500 of the drawn rows
    if bad.any():
        row = int(np.argmax(bad))
        raise ModelCheckFailure(f"output 'y' is not finite for x = {float(x[row])}")


def test_a_rare_failing_row_is_found_bisected_and_shown_alone() -> None:
    sig = _sig(x=TensorSpec("x", F32, (None,), "x:0"))
    calls = []

    def body(features: dict[str, Any]) -> None:
        calls.append(len(features["x"]))
        _nan_band(features)

    with pytest.raises(ModelCheckFailure) as info:
        for chunk in bulk_batches(sig, rows=2000, seed=3, digest="d"):
            run_bulk(body, chunk)
    assert 2.0 < float(str(info.value).split("= ")[1]) < 2.05
    assert "found among 512 generated rows checked in one call (--savedmodel-rows)" in info.value.__notes__[0]
    assert len(calls) < 20  # a few chunks, then about log2(512) calls to find the row


def test_a_failing_row_is_simplified_toward_zero_and_whole_numbers() -> None:
    def fails(features: dict[str, Any]) -> bool:
        return bool(np.asarray(features["x"])[0] > 3.0)  # any x above 3 fails; the other input plays no part

    row = {"x": np.array([417.2931], dtype=np.float32), "s": np.array([b"abcdef"], dtype=object),
           "n": np.array([-77], dtype=np.int64)}
    simpler, steps = simplify_row(row, fails)
    assert simpler["s"][0] == b"" and simpler["n"][0] == 0
    assert float(simpler["x"][0]) == 417.0 and steps == 3  # 0 and 1 pass; 417 still fails
    limited, steps = simplify_row(row, fails, calls=1)  # bounded: one call (n -> 0), the rest left as it was
    assert steps == 1 and limited["n"][0] == 0 and limited["s"][0] == b"abcdef"


def test_a_largest_batch_size_is_a_risk_and_the_rest_is_checked_in_smaller_batches() -> None:
    sizes: list[int] = []

    def body(features: dict[str, Any]) -> None:  # a model that pads its batch to 64 rows
        sizes.append(len(features["x"]))
        if len(features["x"]) > 64:
            raise ModelCheckFailure("Paddings must be non-negative: 0 -448")
        _nan_band(features)

    state = BulkState()
    check_chunk(body, {"x": np.zeros(512, dtype=np.float32)}, state)
    check_chunk(body, {"x": np.zeros(512, dtype=np.float32)}, state)
    assert state.limit == 64 and max(sizes[-8:]) == 64  # the second chunk went 64 rows at a time
    assert state.risk.startswith("fails for a batch of 512 generated rows though each row passes alone "
                                 "(Paddings must be non-negative: 0 -448)")
    with pytest.raises(ModelCheckFailure, match="not finite"):  # a real row failure is still found
        check_chunk(body, {"x": np.full(100, 2.02, dtype=np.float32)}, state)
