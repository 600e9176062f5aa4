"""Counterexamples people can use: the shrunk inputs of a failed parity check, saved and explained.

:func:`save_features` writes a feature dict to ``.npz`` without pickles: numeric
arrays as they are; string arrays and VarLen rows (object arrays) as flat bytes or
values plus lengths and shape, so :func:`load_features` reads them back with
``allow_pickle=False``. :func:`reproduce_block` is the text printed under the
failure: where the file is, a Hypothesis ``@example(...)`` line, a short Python
call per path, and a ``curl`` line when a REST path is involved.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from pytest_savedmodel._names import file_slug
from pytest_savedmodel.errors import UsageError
from pytest_savedmodel.spec import Features

__all__ = ["example_line", "load_features", "reproduce_block", "save_features"]

_SEP = "::"  # between a feature name and the part of its encoding in .npz keys


def _is_ragged(arr: np.ndarray) -> bool:
    return arr.dtype == object and any(isinstance(v, np.ndarray) for v in arr.reshape(-1))


def save_features(path: Path, features: Features) -> Path:
    """Write ``features`` to ``path`` (.npz, no pickles); returns the path."""
    parts: dict[str, np.ndarray] = {}
    for name, value in sorted(features.items()):
        arr = np.asarray(value) if not isinstance(value, np.ndarray) else value
        if _is_ragged(arr):  # VarLen / ragged: one 1-D array per row
            rows = [np.asarray(r) for r in arr.reshape(-1)]
            values = np.concatenate(rows) if rows else np.zeros(0)
            if values.dtype == object:
                parts.update(_bytes_parts(f"{name}{_SEP}values", values))
            else:
                parts[f"{name}{_SEP}values"] = values
            parts[f"{name}{_SEP}row_lengths"] = np.array([len(r) for r in rows], np.int64)
            parts[f"{name}{_SEP}shape"] = np.array(arr.shape, np.int64)
        elif arr.dtype == object or arr.dtype.kind in "SU":
            parts.update(_bytes_parts(name, arr))
        else:
            parts[name] = arr
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        np.savez(f, **parts)  # type: ignore[arg-type]
    return path


def _bytes_parts(name: str, arr: np.ndarray) -> dict[str, np.ndarray]:
    items = [v.encode() if isinstance(v, str) else bytes(v) for v in arr.reshape(-1)]
    return {f"{name}{_SEP}bytes": np.frombuffer(b"".join(items), np.uint8),
            f"{name}{_SEP}lengths": np.array([len(v) for v in items], np.int64),
            f"{name}{_SEP}shape": np.array(arr.shape, np.int64)}


def _strings(data: Any, key: str) -> np.ndarray:
    flat, lengths = data[f"{key}{_SEP}bytes"].tobytes(), data[f"{key}{_SEP}lengths"]
    out = np.empty(len(lengths), dtype=object)
    start = 0
    for i, n in enumerate(lengths.tolist()):
        out[i] = flat[start:start + n]
        start += n
    return out


def load_features(path: str | Path) -> Features:
    """Read a file written by :func:`save_features` (``allow_pickle=False``: nothing in it can run code)."""
    p = Path(path)
    try:
        data = np.load(p, allow_pickle=False)
    except FileNotFoundError:
        raise UsageError(f"no such counterexample file: {p}") from None
    except (ValueError, OSError) as exc:
        raise UsageError(f"{p} is not a counterexample .npz written by pytest-savedmodel ({exc})") from None
    with data:
        try:
            return _read(data)
        except (ValueError, KeyError) as exc:
            raise UsageError(f"{p} is not a counterexample .npz written by pytest-savedmodel ({exc})") from None


def _read(data: Any) -> Features:
    keys = list(data.keys())
    out: Features = {}
    for name in sorted({k.split(_SEP)[0] for k in keys}):
        if f"{name}{_SEP}row_lengths" in keys:
            values = (_strings(data, f"{name}{_SEP}values") if f"{name}{_SEP}values{_SEP}bytes" in keys
                      else data[f"{name}{_SEP}values"])
            lengths = data[f"{name}{_SEP}row_lengths"].tolist()
            rows = np.empty(len(lengths), dtype=object)
            start = 0
            for i, n in enumerate(lengths):
                rows[i] = values[start:start + n]
                start += n
            out[name] = rows.reshape(tuple(data[f"{name}{_SEP}shape"].tolist()))
        elif f"{name}{_SEP}bytes" in keys:
            out[name] = _strings(data, name).reshape(tuple(data[f"{name}{_SEP}shape"].tolist()))
        else:
            out[name] = data[name]
    return out


def _literal(value: Any) -> str:
    """Python source for nested lists of numbers, bools and bytes (NaN and infinities included)."""
    if isinstance(value, list):
        return "[" + ", ".join(_literal(v) for v in value) + "]"
    if isinstance(value, float) and not np.isfinite(value):
        return "float('nan')" if np.isnan(value) else ("float('inf')" if value > 0 else "-float('inf')")
    return repr(value)


def _array_literal(arr: np.ndarray) -> str:
    if _is_ragged(arr):
        rows = ", ".join(_array_literal(np.asarray(r)) for r in arr.reshape(-1))
        return f"np.array([{rows}] + [None], dtype=object)[:-1]"
    if arr.dtype == object:
        return f"np.array({_literal(arr.tolist())}, dtype=object)"
    dtype = "bool_" if arr.dtype == np.bool_ else arr.dtype.name  # np.bool_ exists in numpy 1 and 2
    return f"np.array({_literal(arr.tolist())}, dtype=np.{dtype})"


def example_line(features: Features) -> str:
    """A Hypothesis ``@example(...)`` line that replays ``features`` in a ``@given(features=...)`` test."""
    inner = ", ".join(f"{k!r}: {_array_literal(np.asarray(v))}" for k, v in sorted(features.items()))
    return f"@example(features={{{inner}}})"


def file_name(nodeid: str) -> str:
    """A file name for an item id, readable, safe and unique.

    ``savedmodel:iris::serving_default::parity[raw~rest]`` -> ``iris-serving_default-parity-raw-rest-1a2b3c4d.npz``:
    letters and digits of any script kept, path separators, control and shell-special characters replaced
    by ``-``, and a short hash of the exact id, so ids that read alike (``a b`` / ``a-b``) never share a file.
    """
    return file_slug(nodeid.removeprefix("savedmodel:")) + ".npz"


def reproduce_block(path: Path, features: Features, runners: tuple[Any, ...],
                    left_features: Features | None = None) -> str:
    """The text under a parity failure: the file, an ``@example`` line, Python calls, and ``curl`` for REST."""
    lines = ["Reproduce:", f"  shrunk inputs saved to {path}",
             f"  {example_line(features)}",
             "  python:",
             "    import numpy as np",
             "    from pytest_savedmodel import open_model",
             "    from pytest_savedmodel.counterexample import load_features"]
    for line in sorted({imp for r in runners for imp in getattr(r, "reproduce_imports", ())}):
        lines.append(f"    {line}")
    lines.append(f"    features = load_features({str(path)!r})")
    first_var = "features"
    if left_features is not None:
        filled = {k: v for k, v in sorted(left_features.items()) if k not in features}
        if filled:  # the first path was given the training defaults of the features the example leaves out
            inner = ", ".join(f"{k!r}: {_array_literal(np.asarray(v))}" for k, v in filled.items())
            lines.append(f"    filled = {{**features, {inner}}}  # training defaults (--savedmodel-training-default)")
            first_var = "filled"
    for i, runner in enumerate(runners):
        call = getattr(runner, "reproduce", lambda var: None)(first_var if i == 0 else "features")
        curl = getattr(runner, "curl", None)
        if call:
            lines.append(f"    print({call})")
        elif curl is not None:
            lines.append(f"    # {runner.name}: a served path; the curl line below sends the same request to a server")
        else:
            lines.append(f"    # {runner.name}: see the item id for this path")
        if curl is not None:
            try:
                lines.append(f"  curl ({runner.name}): {curl(features)}")
            except Exception:  # a best-effort hint; the saved file is the reference
                pass
    return "\n".join(lines)
