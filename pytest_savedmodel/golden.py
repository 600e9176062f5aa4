"""Golden examples: a few deterministic inputs and the outputs the model gave, kept in the contract lock."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from pytest_savedmodel.compare import ParityResult, Tolerance, compare_outputs, format_mismatch
from pytest_savedmodel.errors import ParityMismatch, SavedModelError
from pytest_savedmodel.lock import decode_array, encode_array
from pytest_savedmodel.runners.base import Runner
from pytest_savedmodel.spec import Domain, Features, SignatureSpec, TensorSpec

__all__ = ["golden_inputs", "make_golden", "probe_batch", "replay_golden"]


def _array(t: TensorSpec, rng: np.random.Generator, domain: Domain | None = None) -> np.ndarray:
    """Deterministic values for ``t``, inside the values the graph accepts for it (``domain``) when known."""
    shape = tuple(2 if d is None else d for d in (t.shape if t.shape is not None else (None,)))
    size = int(np.prod(shape))
    if domain is not None and domain.values:  # a vocabulary: its members (a lookup without OOV buckets)
        picks = [domain.values[int(i)] for i in rng.integers(0, len(domain.values), size)]
        out = np.empty(size, dtype=object)
        out[:] = [v.encode() if isinstance(v, str) else v for v in picks]
        return out.reshape(shape) if t.dtype.is_string else out.astype(t.dtype.numpy).reshape(shape)
    if t.dtype.is_string:
        out = np.empty(size, dtype=object)
        out[:] = [f"s{i}".encode() for i in range(size)]
        return out.reshape(shape)
    if t.dtype.is_bool:
        return rng.integers(0, 2, shape).astype(bool)
    if t.dtype.is_integer:
        lo, hi = 0, 5
        if domain is not None and domain.min_value is not None and domain.max_value is not None:
            lo, hi = int(domain.min_value), int(min(domain.max_value, domain.min_value + 5))  # an id table: 0..5
        return rng.integers(lo, hi + 1, shape).astype(t.dtype.numpy)  # type: ignore[arg-type]
    dtype = np.dtype(t.dtype.numpy or "float32")
    if dtype.kind == "f" and dtype.itemsize <= 4:  # drawn in the input's own dtype: no float64 copy
        return np.round(rng.random(shape, dtype=np.float32) * 4 - 2, 3).astype(dtype)
    return np.round(rng.uniform(-2.0, 2.0, shape), 3).astype(dtype)


def golden_inputs(sig: SignatureSpec, *, count: int = 3) -> list[Features]:
    """``count`` deterministic feature dicts for ``sig`` (tf.Examples from the parse spec for parsing inputs)."""
    out = []
    for i in range(count):
        rng = np.random.default_rng(1000 + i)
        feats: Features = {}
        for alias, t in sorted(sig.inputs.items()):
            if sig.parse_spec is not None and alias == sig.parse_spec.input_alias:
                from pytest_savedmodel.tfexample import encode_examples

                rows: Features = {}
                for f in sig.parse_spec.features:
                    if f.kind == "fixed":
                        spec = TensorSpec(f.key, f.dtype, (None, *f.shape) if f.shape not in ((), (1,)) else (None,))
                        rows[f.key] = _array(spec, rng, sig.parse_spec.domains.get(f.key))
                encoded = encode_examples(rows, sig.parse_spec, batch_size=2)
                arr = np.empty(len(encoded), dtype=object)
                arr[:] = encoded
                feats[alias] = arr
            else:
                feats[alias] = _array(t, rng, sig.domains.get(alias))
        out.append(feats)
    return out


def make_golden(runner: Runner, sig: SignatureSpec, tolerance: Tolerance, *, count: int = 3) -> dict[str, Any] | None:
    """Golden examples for the lock, or None when the model does not run on them."""
    examples = []
    for feats in golden_inputs(sig, count=count):
        try:
            outs = runner.predict(feats)
        except SavedModelError:
            return None
        examples.append({"inputs": {k: encode_array(v) for k, v in sorted(feats.items())},
                         "outputs": {k: encode_array(v) for k, v in sorted(outs.items())}})
    return {"rtol": tolerance.rtol, "atol": tolerance.atol, "examples": examples}


def replay_golden(runner: Runner, golden: dict[str, Any], *, where: str,
                  observe: Callable[[ParityResult, Features], None] | None = None,
                  tolerance: Tolerance | None = None, renamed_inputs: dict[str, str] | None = None,
                  renamed_outputs: dict[str, str] | None = None, gate: bool = True) -> tuple[int, list[int]]:
    """Run the locked inputs again and compare with the locked outputs: (examples replayed, those that moved).

    ``tolerance`` overrides the locked one. ``renamed_inputs``/``renamed_outputs`` (locked name -> name now)
    carry renames the user allowed in the contract through: a renamed output is compared under its new name.
    With ``gate`` (the default), an example that moved beyond the tolerance raises :class:`ParityMismatch`."""
    tol = tolerance or Tolerance(float(golden.get("rtol", 1e-4)), float(golden.get("atol", 1e-5)))
    ins, outs = renamed_inputs or {}, renamed_outputs or {}
    moved: list[int] = []
    for i, ex in enumerate(golden.get("examples", [])):
        feats = {ins.get(k, k): decode_array(v, where=f"{where}.examples[{i}].inputs.{k}")
                 for k, v in ex["inputs"].items()}
        want = {outs.get(k, k): decode_array(v, where=f"{where}.examples[{i}].outputs.{k}")
                for k, v in ex["outputs"].items()}
        got = runner.predict(feats)
        common = sorted(k for k in want if k in got)  # a removed output is the contract item's finding
        if not common:
            raise ParityMismatch(f"golden example {i} of {where}: the {runner.name} path returns none of the locked "
                                 f"outputs {sorted(want)} (it returns {sorted(got)})", runners=("locked", runner.name))
        result = compare_outputs(want, got, names=("locked", runner.name), tolerance=tol, outputs=common)
        if observe is not None:
            observe(result, feats)
        if result.ok:
            continue
        moved.append(i)
        if gate:
            worst = result.worst
            raise ParityMismatch(
                f"golden example {i} of {where} no longer gives the locked outputs:\n"
                + format_mismatch(result, feats),
                runners=("locked", runner.name), output=worst.output if worst else None, result=result)
    return len(golden.get("examples", [])), moved


def probe_batch(runner: Runner, sig: SignatureSpec) -> str | None:
    """Why ``sig`` fails for a batch of 2 while it runs a batch of 1 (None when both run, or batch 1 fails too).

    A signature that declares a dynamic batch (-1) but works for one row only (a reshape to [1, ...], a
    squeeze of the batch dim) would fail every check that draws larger batches with the same error; it is
    probed once, reported once (on the ``batch`` item), and the other checks draw one row at a time.
    """
    two = golden_inputs(sig, count=1)[0]  # two rows of deterministic values
    one = {k: np.asarray(v)[:1] for k, v in two.items()}
    try:
        runner.predict(one)
    except SavedModelError:
        return None  # not a batch problem: the checks report it
    try:
        runner.predict(two)
    except SavedModelError as exc:
        return str(exc).strip().splitlines()[0][:400]
    return None
