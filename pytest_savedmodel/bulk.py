"""The bulk phase: thousands of generated rows checked in a few batched calls, then one failing row simplified.

Hypothesis draws inputs one small batch at a time, through a strategy per element: it shrinks well and
finds edge cases, but spends about 2 ms per example on the strategies, while a model like Iris runs 1,000
rows in 0.3 ms. Checks that hold row by row (finite, outputs, determinism, parity between paths) therefore
also run on ``--savedmodel-rows`` rows (default 2,000) drawn here with numpy, from the same value
distributions as :mod:`pytest_savedmodel.values` and inside the same domains (explicit ranges, the schema,
the graph), in chunks of at most 4 MiB of inputs and 512 rows, within a time budget per item. A defect
confined to one row in 500 of the input space is then found on 98% of seeds instead of 18%.

Rows come from a numpy generator seeded with the run's seed and the item's id: the same seed draws the
same rows. When a chunk fails, the first row that fails alone is found, then simplified element by element
toward 0, whole numbers and fewer decimals (the way Hypothesis shrinks floats) while it fails the same way,
within :data:`SHRINK_CALLS` calls. Hypothesis cannot shrink a value it did not draw (it has no public way to
start from a given input), so the simplification is ours; the row is then the failing example reported.

Signatures without a free batch dimension, of unknown rank, fed serialized tf.Examples, or that work for
one row only get no bulk phase: their generated examples and the sweep alone.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from pytest_savedmodel.errors import OutOfMemory, SavedModelError, Unrunnable, cause_shape
from pytest_savedmodel.spec import Features, SignatureSpec, TensorSpec

__all__ = ["DEFAULT_ROWS", "SHRINK_CALLS", "BatchOnly", "BulkState", "bulk_batches", "check_chunk", "float_values",
           "int_values", "run_batch", "run_bulk", "simplify_row"]

DEFAULT_ROWS = 2000
SHRINK_CALLS = 150
_CHUNK_BYTES = 4 * 2**20
_CHUNK_ROWS = 512
_STRINGS = (b"", b"a", b"0", b"-1", b"NaN", "\u00e9t\u00e9".encode(), "\u6570\u636e".encode(), b"\xff\xfe")


def float_values(rng: np.random.Generator, n: int, dtype: Any, lo: float | None, hi: float | None) -> np.ndarray:
    """Floats as :func:`pytest_savedmodel.values.realistic_floats` draws them, or uniform in a declared range
    with its bounds now and then."""
    if lo is not None or hi is not None:
        a = lo if lo is not None else (hi - 12.0 if hi is not None else -6.0)
        b = hi if hi is not None else a + 12.0
        out = rng.uniform(a, b, n)
        edge = rng.random(n) < 0.02
        out[edge] = rng.choice(np.array([a, b]), int(edge.sum()))
        return np.clip(out, a, b).astype(dtype)
    pick = rng.random(n)
    unit = rng.integers(-500, 501, n) / 100.0  # two decimals in [-5, 5]
    decades = np.where(rng.random(n) < 0.5, -1.0, 1.0) * rng.integers(100, 1000, n) / 100.0 * 10.0 ** rng.integers(
        -3, 3, n)
    wide = rng.uniform(-1000.0, 1000.0, n)
    special = rng.choice(np.array([0.0, -0.0, 1.0, -1.0, 1000.0, -1000.0, 1e-6]), n)
    out = np.where(pick < 0.5, unit, np.where(pick < 0.83, decades, np.where(pick < 0.97, wide, special)))
    return out.astype(dtype)


def int_values(rng: np.random.Generator, n: int, dtype: Any, lo: float | None, hi: float | None) -> np.ndarray:
    info = np.iinfo(dtype)
    a = int(max(info.min, -1000 if lo is None else lo))
    b = int(min(info.max, 1000 if hi is None else hi))
    out = rng.integers(a, b + 1, n, dtype=np.int64)
    edge = rng.random(n) < 0.02
    out[edge] = rng.choice(np.array([a, b]), int(edge.sum()))
    return out.astype(dtype)


def _column(rng: np.random.Generator, t: TensorSpec, n: int, domain: Any) -> np.ndarray | None:
    """``n`` values of one input's elements (flat), inside ``domain`` when given."""
    values = getattr(domain, "values", None)
    if values:
        vals = np.empty(len(values), dtype=object)
        vals[:] = [v.encode() if isinstance(v, str) else v for v in values]
        picked = vals[rng.integers(0, len(vals), n)]
        return picked if t.dtype.is_string else np.asarray(picked.astype(t.dtype.numpy))
    if t.dtype.is_string:
        out = np.empty(n, dtype=object)
        out[:] = [_STRINGS[i] for i in rng.integers(0, len(_STRINGS), n)]
        return out
    if t.dtype.is_bool:
        return rng.random(n) < 0.5
    if t.dtype.numpy is None or t.dtype.is_complex:
        return None
    lo, hi = getattr(domain, "min_value", None), getattr(domain, "max_value", None)
    if t.dtype.is_integer:
        return int_values(rng, n, t.dtype.numpy, lo, hi)
    return float_values(rng, n, t.dtype.numpy, None if lo is None else float(lo), None if hi is None else float(hi))


def _row_shapes(sig: SignatureSpec, rng: np.random.Generator) -> dict[str, tuple[int, ...]] | None:
    """Each input's row shape for one chunk (free non-batch dims drawn 0 to 3); None when no bulk applies."""
    shapes: dict[str, tuple[int, ...]] = {}
    free: dict[int, int] = {}  # inputs often share a free dim (a sequence length): one size per position
    for alias, t in sorted(sig.inputs.items()):
        if t.shape is None or not t.shape or t.shape[0] is not None:
            return None
        dims = []
        for pos, d in enumerate(t.shape[1:]):
            if d is None:
                d = free.setdefault(pos, int(rng.choice([1, 1, 2, 3, 0])))
            dims.append(int(d))
        shapes[alias] = tuple(dims)
    return shapes


def _as_dense(sig: SignatureSpec) -> SignatureSpec | None:
    """For a parsing signature, its FixedLen features as dense inputs (VarLen ones are left out of the bulk
    Examples, which a parse spec allows); None when another input stands beside the serialized Examples."""
    ps = sig.parse_spec
    assert ps is not None
    if set(sig.inputs) != {ps.input_alias}:
        return None
    inputs = {f.key: TensorSpec(f.key, f.dtype, (None, *f.shape), f.key) for f in ps.features if f.kind == "fixed"}
    if not inputs:
        return None
    return SignatureSpec(sig.key, sig.method_name, inputs, {}, domains=dict(ps.domains))


def bulk_batches(sig: SignatureSpec, *, rows: int, seed: int, digest: str, domains: Mapping[str, Any] | None = None,
                 budget_s: float = 2.0, clock: Callable[[], float] = time.monotonic) -> Iterator[Features]:
    """Chunks of generated rows for ``sig`` (see the module docstring), ``rows`` in all, stopping early once
    ``budget_s`` seconds have passed since the first chunk was handed out. Nothing when no bulk applies.

    A parsing signature gets serialized tf.Examples holding its FixedLen features."""
    if rows <= 0 or not sig.inputs:
        return
    if sig.parse_spec is not None:
        dense = _as_dense(sig)
        if dense is None:
            return
        from pytest_savedmodel.tfexample import encode_examples

        alias, ps = sig.parse_spec.input_alias, sig.parse_spec
        for rows_of_features in bulk_batches(dense, rows=rows, seed=seed, digest=digest, domains=domains,
                                             budget_s=budget_s, clock=clock):
            encoded = encode_examples(rows_of_features, ps)
            arr = np.empty(len(encoded), dtype=object)
            arr[:] = encoded
            yield {alias: arr}
        return
    given = {**dict(sig.domains), **dict(domains or {})}
    rng = np.random.default_rng([seed & 0xFFFFFFFF, zlib.crc32(digest.encode())])
    done, started = 0, None
    while done < rows:
        shapes = _row_shapes(sig, rng)
        if shapes is None:
            return
        row_bytes = sum(max(1, int(np.prod(s)) if s else 1) * _itemsize(sig.inputs[a]) for a, s in shapes.items())
        n = max(1, min(rows - done, _CHUNK_ROWS, _CHUNK_BYTES // row_bytes))
        chunk: Features = {}
        for alias, shape in shapes.items():
            t = sig.inputs[alias]
            width = int(np.prod(shape)) if shape else 1
            col = _column(rng, t, n * width, given.get(alias))
            if col is None:
                return
            chunk[alias] = col.reshape((n, *shape))
        if started is None:
            started = clock()
        elif clock() - started > budget_s:
            return
        done += n
        yield chunk


def _itemsize(t: TensorSpec) -> int:
    return 8 if t.dtype.is_string or t.dtype.numpy is None else max(1, np.dtype(t.dtype.numpy).itemsize)


def _candidates(v: Any) -> list[Any]:
    """Simpler values than ``v``, simplest first (what Hypothesis would shrink toward)."""
    if isinstance(v, (bytes, str)):
        empty = b"" if isinstance(v, bytes) else ""
        return [c for c in (empty, v[:1], v[: len(v) // 2]) if len(c) < len(v)]
    if isinstance(v, (bool, np.bool_)):
        return [False] if v else []
    if isinstance(v, (int, np.integer)):
        x = int(v)
        return [c for c in dict.fromkeys((0, 1 if x > 0 else -1, x // 2 if x > 0 else -((-x) // 2))) if abs(c) < abs(x)]
    f = float(v)
    if not np.isfinite(f) or f == 0.0:
        return []
    out = [0.0, 1.0 if f > 0 else -1.0, float(np.trunc(f)), round(f, 1), round(f, 2)]
    return [c for c in dict.fromkeys(out) if c != f and (abs(c) <= abs(f) or len(repr(c)) < len(repr(f)))]


def simplify_row(row: Features, fails: Callable[[Features], bool], *,
                 calls: int = SHRINK_CALLS) -> tuple[Features, int]:
    """``row`` (one row, a batch of 1) with elements replaced by simpler values while ``fails`` holds; the
    simpler row and the number of replacements kept. At most ``calls`` calls of ``fails``."""
    current = {k: np.array(v, copy=True) for k, v in row.items()}
    kept = 0
    for alias in sorted(current):
        arr = current[alias]
        for idx in np.ndindex(arr.shape):
            for cand in _candidates(arr[idx].item() if hasattr(arr[idx], "item") else arr[idx]):
                if calls <= 0:
                    return current, kept
                trial = {k: np.array(v, copy=True) for k, v in current.items()}
                try:
                    trial[alias][idx] = cand
                except (ValueError, OverflowError, TypeError):
                    continue
                calls -= 1
                if fails(trial):
                    current, kept = trial, kept + 1
                    break
    return current, kept


def _fails(body: Callable[[Features], None], features: Features) -> BaseException | None:
    try:
        body(features)
    except (Unrunnable, OutOfMemory):
        raise
    except (AssertionError, SavedModelError) as exc:
        return exc
    return None


def _same_failure(a: BaseException, b: BaseException | None) -> bool:
    """Two failures of one kind: the same class and the same first line, numbers aside."""
    if b is None or type(a) is not type(b):
        return False
    first_line = [(str(e).strip().splitlines() or [""])[0] for e in (a, b)]
    return cause_shape(first_line[0]) == cause_shape(first_line[1])


def run_bulk(body: Callable[[Features], None], chunk: Features) -> None:
    """``body(chunk)``; on a failure, the first row that fails alone (bisected), simplified, is reported."""
    first = _fails(body, chunk)
    if first is None:
        return
    n = len(next(iter(chunk.values())))
    lo, hi = 0, n  # a row in [lo, hi) fails alone, if any does: halve while the first half fails
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if _fails(body, {k: np.asarray(v)[lo:mid] for k, v in chunk.items()}) is not None:
            hi = mid
        else:
            lo = mid
    row = {k: np.asarray(v)[lo:lo + 1] for k, v in chunk.items()}
    found = _fails(body, row)
    if found is None:  # the failure needs the batch (a batch-size limit): the caller checks smaller batches
        raise BatchOnly(first, n)
    simpler, steps = simplify_row(row, lambda f: _same_failure(found, _fails(body, f)))
    final = _fails(body, simpler) if steps else found
    final = final if final is not None else found
    final.add_note(f"(found among {n} generated rows checked in one call (--savedmodel-rows); the failing row"
                   + (f", simplified in {steps} step(s)" if steps else "") + ", is the input shown)")
    raise final


class BatchOnly(Exception):
    """A batch failed though none of its rows fails alone."""

    def __init__(self, error: BaseException, rows: int) -> None:
        super().__init__(str(error))
        self.error, self.rows = error, rows


@dataclass
class BulkState:
    """What the bulk phase of one item learnt: the largest batch that runs, and the risk to report."""

    limit: int | None = None
    risk: str = ""


def check_chunk(body: Callable[[Features], None], chunk: Features, state: BulkState) -> None:
    """:func:`run_bulk` on ``chunk``; a failure that needs the whole batch (a model with a largest batch size,
    an output that depends on the batch) halves the batch size for the rest of the item and becomes a risk,
    not a failure of this row-wise check (the ``batch`` check is about batches)."""
    n = len(next(iter(chunk.values())))
    if state.limit is not None and n > state.limit:
        for start in range(0, n, state.limit):
            check_chunk(body, {k: np.asarray(v)[start:start + state.limit] for k, v in chunk.items()}, state)
        return
    try:
        run_bulk(body, chunk)
    except BatchOnly as exc:
        if n <= 1:
            raise exc.error from None
        half = n // 2
        state.limit = half if state.limit is None else min(state.limit, half)
        if not state.risk:
            line = (str(exc.error).strip().splitlines() or [type(exc.error).__name__])[0][:300]
            state.risk = (f"fails for a batch of {n} generated rows though each row passes alone ({line}); the bulk "
                          f"rows were checked in smaller batches. A largest batch size, or outputs that depend on the "
                          f"batch: see the batch check, and TF Serving's --enable_batching max_batch_size")
        check_chunk(body, chunk, state)


def run_batch(body: Callable[[Features], None], batch: Features) -> None:
    """``body(batch)``; if it fails, the first row that fails alone is reported instead (a minimal input)."""
    try:
        body(batch)
    except (Unrunnable, OutOfMemory):
        raise  # narrowing it down would wait out the deadline (or exhaust memory) once a row
    except (AssertionError, SavedModelError) as exc:
        rows = len(next(iter(batch.values())))
        for i in range(rows):
            try:
                body({k: np.asarray(v)[i:i + 1] for k, v in batch.items()})
            except (AssertionError, SavedModelError) as row_exc:
                row_exc.add_note(f"(found by the sweep batch of {rows} rows covering each input's range: row {i})")
                raise row_exc from None
        exc.add_note(f"(found by the sweep batch of {rows} rows covering each input's range; no row fails alone)")
        raise
