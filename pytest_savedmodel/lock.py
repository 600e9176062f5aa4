"""The contract lock file: a model's promises to clients, as diff-friendly JSON. No TensorFlow.

``--savedmodel-update-contract`` writes it; later runs diff the live model against
it (:mod:`pytest_savedmodel.drift`). Stable ordering, no timestamps, no absolute
paths: the same model gives the same bytes. Layout::

    {"format": "pytest-savedmodel-lock/1",
     "models": {"iris": {"tag_sets": [["serve"]], "ops": ["Add", ...],
                         "signatures": {"serving_default": {"method_name": ..., "inputs": {"x": {"dtype": "float32",
                                        "shape": [-1]}}, "outputs": {...}, "defaults": [], "parse_spec": null}},
                         "golden": {"serving_default": {"rtol": 1e-4, "atol": 1e-5, "examples": [
                                    {"inputs": {"x": {"dtype": "float32", "shape": [2], "values": [0.5, -1.25]}},
                                     "outputs": {...}}]}}}}}
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from pytest_savedmodel._files import atomic_write
from pytest_savedmodel.errors import EnvironmentProblem
from pytest_savedmodel.spec import ModelSpec, SignatureSpec, TensorSpec, dtype_by_name

__all__ = ["LOCK_FORMAT", "LockError", "decode_array", "encode_array", "model_entry", "read_lock", "write_lock"]

LOCK_FORMAT = "pytest-savedmodel-lock/1"


class LockError(EnvironmentProblem):
    """The lock file cannot be used: unreadable, malformed, or for another model."""


def _shape(shape: tuple[int | None, ...] | None) -> list[int] | None:
    return None if shape is None else [-1 if d is None else int(d) for d in shape]


def _tensor(t: TensorSpec) -> dict[str, Any]:
    out: dict[str, Any] = {"dtype": t.dtype.name, "shape": _shape(t.shape)}
    if t.encoding != "dense":
        out["encoding"] = t.encoding
    return out


def _default(values: tuple[Any, ...] | None) -> Any:
    if values is None:
        return None
    return [{"b64": base64.b64encode(v).decode()} if isinstance(v, bytes) else v for v in values]


def _feature(f: Any) -> dict[str, Any]:
    out = {"kind": f.kind, "dtype": f.dtype.name, "shape": list(f.shape), "default": _default(f.default)}
    if f.sparse_pair is not None:  # only for SparseFeature keys, so other locks keep their bytes
        out["sparse_pair"] = f.sparse_pair
        if f.index_bound is not None:
            out["size"] = f.index_bound
    return out


def signature_entry(sig: SignatureSpec) -> dict[str, Any]:
    ps = sig.parse_spec
    return {
        "method_name": sig.method_name,
        "inputs": {a: _tensor(t) for a, t in sorted(sig.inputs.items())},
        "outputs": {a: _tensor(t) for a, t in sorted(sig.outputs.items())},
        "defaults": sorted(sig.defaults),
        "parse_spec": None if ps is None else {
            "input": ps.input_alias,
            "features": {f.key: _feature(f) for f in ps.features},
        },
    }


def model_entry(spec: ModelSpec, *, golden: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The lock entry for one inspected model (plain JSON-able data)."""
    return {
        "tag_sets": sorted(sorted(t) for t in spec.tag_sets),
        "ops": sorted(spec.ops),
        "signatures": {k: signature_entry(s) for k, s in sorted(spec.callable_signatures.items())},
        "golden": dict(sorted((golden or {}).items())),
    }


def _num(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf")
    return v


def encode_array(arr: np.ndarray) -> dict[str, Any]:
    """An array as exact JSON: floats by repr (float32 round-trips), int64 as ints, bytes as b64."""
    a = np.asarray(arr)
    if a.dtype.kind in "OSU":
        values: list[Any] = [{"b64": base64.b64encode(v if isinstance(v, bytes) else str(v).encode()).decode()}
                             for v in a.reshape(-1)]
        dtype = "string"
    elif a.dtype == np.float32:  # shortest decimal that reads back to the same float32: readable and exact
        values = [_num(float(str(v))) for v in a.reshape(-1)]
        dtype = "float32"
    else:
        values = [_num(v) for v in a.reshape(-1).tolist()]
        dtype = dtype_by_name(a.dtype).name
    return {"dtype": dtype, "shape": list(a.shape), "values": values}


def decode_array(doc: Mapping[str, Any], *, where: str = "") -> np.ndarray:
    """Inverse of :func:`encode_array`."""
    try:
        dtype = dtype_by_name(doc["dtype"])
        shape = tuple(int(d) for d in doc["shape"])
        values = doc["values"]
        if dtype.is_string:
            out = np.empty(len(values), dtype=object)
            out[:] = [base64.b64decode(v["b64"]) for v in values]
            return out.reshape(shape)
        vals = [float(v) if isinstance(v, str) else v for v in values]
        return np.asarray(vals, dtype=dtype.numpy).reshape(shape)
    except (KeyError, TypeError, ValueError) as exc:
        raise LockError(f"{where}: not a valid encoded array ({type(exc).__name__}: {exc}); expected "
                        f'{{"dtype": ..., "shape": [...], "values": [...]}}') from None


def dumps(models: Mapping[str, Any]) -> str:
    return json.dumps({"format": LOCK_FORMAT, "models": dict(models)}, indent=2, sort_keys=True,
                      ensure_ascii=False, allow_nan=False) + "\n"


def write_lock(path: Path, models: Mapping[str, Any]) -> bool:
    """Write (atomically) unless the content is identical; returns whether the file changed."""
    text = dumps(models)
    if path.is_file() and path.read_text(encoding="utf-8") == text:
        return False
    atomic_write(path, text.encode("utf-8"))  # with the user's umask (0644 typically), not mkstemp's 0600
    return True


def _expect(cond: bool, path: Path, key: str, what: str) -> None:
    if not cond:
        raise LockError(f"{path}: {key}: {what}. Fix the file or regenerate it with --savedmodel-update-contract")


def _check_tensors(path: Path, where: str, tensors: Any) -> None:
    _expect(isinstance(tensors, dict), path, where, "expected an object {name: {dtype, shape}}")
    for name, t in tensors.items():
        key = f"{where}.{name}"
        _expect(isinstance(t, dict) and "dtype" in t and "shape" in t, path, key,
                'expected {"dtype": ..., "shape": ...}')
        try:
            dtype_by_name(t["dtype"])
        except ValueError as exc:
            raise LockError(f"{path}: {key}.dtype: {exc} Fix the file or regenerate it with "
                            f"--savedmodel-update-contract") from None
        shape = t["shape"]
        _expect(shape is None or (isinstance(shape, list) and all(isinstance(d, int) and d >= -1 for d in shape)),
                path, f"{key}.shape", f"expected a list of ints (-1 for unknown) or null, got {shape!r}")


def read_lock(path: Path) -> dict[str, Any]:
    """Read and validate a lock file: ``{model name: entry}``. Errors name the file and line or key."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise LockError(f"cannot read contract lock {path}: {exc.strerror or exc}") from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise LockError(f"{path}:{exc.lineno}:{exc.colno}: not valid JSON ({exc.msg}). Fix the file or regenerate "
                        f"it with --savedmodel-update-contract") from None
    _expect(isinstance(doc, dict), path, "(top level)", "expected a JSON object")
    _expect(doc.get("format") == LOCK_FORMAT, path, "format",
            f"expected {LOCK_FORMAT!r}, got {doc.get('format')!r}")
    models = doc.get("models")
    _expect(isinstance(models, dict), path, "models", "expected an object {model name: entry}")
    for name, entry in models.items():
        base = f"models.{name}"
        _expect(isinstance(entry, dict), path, base, "expected an object")
        for key, kind in (("signatures", dict), ("ops", list), ("tag_sets", list), ("golden", dict)):
            _expect(isinstance(entry.get(key), kind), path, f"{base}.{key}",
                    f"missing or not a{'n object' if kind is dict else ' list'}")
        for sname, sig in entry["signatures"].items():
            where = f"{base}.signatures.{sname}"
            _expect(isinstance(sig, dict), path, where, "expected an object")
            _expect(isinstance(sig.get("method_name"), str), path, f"{where}.method_name", "missing or not a string")
            _check_tensors(path, f"{where}.inputs", sig.get("inputs"))
            _check_tensors(path, f"{where}.outputs", sig.get("outputs"))
    return dict(models)


def locked_model(models: Mapping[str, Any], name: str, path: Path) -> dict[str, Any]:
    """The entry for ``name``; a clear error listing the models the lock has."""
    if name not in models:
        raise LockError(f"contract lock {path} has no model {name!r} (it locks: {', '.join(sorted(models)) or 'none'})"
                        f". Name the model with --savedmodel={next(iter(sorted(models)), name)}=DIR, or add it with "
                        f"--savedmodel-update-contract")
    return dict(models[name])
