"""numpy fast paths of the JSON codec for large numeric tensors, byte for byte the element-wise rules' answers.

Decoding (:func:`dense_array`): a request value whose nesting is regular and whose leaves are all of the JSON
types the signature's dtype accepts becomes the numpy array the element-wise path (``json_codec._tensor`` into a
TensorProto, read back by ``from_proto``) would give; anything else (a string in a float tensor, ragged lists,
ints a float cannot hold exactly, string dtypes) returns ``None`` and the element-wise path answers, errors
included. Encoding (:func:`leaf_texts`, :func:`nest`): every number printed by ``format`` with TF Serving's
rules (``format_float`` in ``json_response``), vectorised: one ``format`` pass, the read-back check in numpy,
a second pass only for the values that need 9 (float) / 17 (double) digits.

Parsing (:func:`fast_loads`): orjson, where it is installed and its answer is the standard library's with
the first of duplicate keys kept (``json_codec.parse_body``'s rules); ``None`` sends the body to that slower
parse, which also words every error.
"""

from __future__ import annotations

from itertools import chain, repeat
from typing import Any

import numpy as np

from pytest_savedmodel._json import long_integer, orjson
from pytest_savedmodel.serving.emulator.json_spans import STRINGS, Span, stack

__all__ = ["dense_array", "dense_rows", "fast_loads", "json_walk", "leaf_texts", "nest", "nesting_depth"]

# dtype enum -> numpy dtype of the tensor the element-wise path builds (the dtypes json_codec._scalar accepts)
_NUMPY: dict[int, Any] = {1: np.float32, 2: np.float64, 3: np.int32, 4: np.uint8, 5: np.int16, 6: np.int8,
                          9: np.int64, 10: np.bool_, 22: np.uint32, 23: np.uint64}
# JSON ints in float tensors: exact in float32 / float64 up to these magnitudes (beyond, the element-wise path)
_EXACT_INT = {1: 2.0**24, 2: 2.0**53}
_CONTAINERS = (list, dict)


def fast_loads(body: bytes, max_depth: int) -> Any | None:
    """``body`` parsed by orjson, or None where the standard library must parse it: orjson missing, a parse
    error (the slow parse words it; it also accepts NaN/Infinity and ignores bytes after the value, as rapidjson
    does), 19-digit numbers (orjson reads a huge integer as a float), nesting deeper than ``max_depth``, or a
    duplicate key (orjson keeps the last, TF Serving the first: the members the text names must all be in the
    parsed objects)."""
    if orjson is None or long_integer(body):
        return None
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    depth, members = json_walk(value, max_depth)
    if depth > max_depth or members != sum(1 for colon in STRINGS.findall(body) if colon):
        return None
    return value


def nesting_depth(value: Any, limit: int) -> int:
    """The depth of a parsed JSON value (a scalar is 1, ``[1]`` is 2), counted level by level; stops above
    ``limit``. The same number as a node-by-node walk, at C speed for wide levels."""
    return json_walk(value, limit)[0]


def json_walk(value: Any, limit: int) -> tuple[int, int]:
    """(nesting depth, object members in all) of a parsed JSON value, level by level; stops once the depth
    is above ``limit`` (the members then counted so far)."""
    depth, members = 1, 0
    level = [value] if isinstance(value, _CONTAINERS) else []
    while level:
        if any(issubclass(k, dict) for k in set(map(type, level))):
            members += sum(len(v) for v in level if isinstance(v, dict))
            level = [list(v.values()) if isinstance(v, dict) else v for v in level]
        children = list(chain.from_iterable(level))
        if not children:
            break
        depth += 1
        if depth > limit:
            return depth, members
        kinds = set(map(type, children))
        if all(issubclass(k, _CONTAINERS) for k in kinds):
            level = children
        elif any(issubclass(k, _CONTAINERS) for k in kinds):
            level = [c for c in children if isinstance(c, _CONTAINERS)]
        else:
            break
    return depth, members


def _leaves(value: Any) -> tuple[list[int], list[Any]] | None:
    """(shape, leaves in row-major order) of a regular nest of lists, or None where it is not one."""
    shape: list[int] = []
    v = value
    while isinstance(v, list):
        shape.append(len(v))
        if not v:
            break
        v = v[0]
    level: list[Any] = [value]
    for size in shape:
        if set(map(type, level)) != {list} or set(map(len, level)) != {size}:
            return None
        level = list(chain.from_iterable(level))
    return shape, level


def dense_array(value: Any, dtype: int) -> np.ndarray | None:
    """``value`` typed by ``dtype`` as the element-wise path would build it, or None (then that path answers)."""
    if isinstance(value, Span):  # a large literal decoded by json_spans (its own rules, or Declined)
        return value.typed(dtype)
    if isinstance(value, list) and value and isinstance(value[0], Span):
        return stack(value, dtype)
    target = _NUMPY.get(dtype)
    found = _leaves(value) if target is not None else None
    if found is None:
        return None
    shape, leaves = found
    kinds = set(map(type, leaves))
    try:
        if dtype in _EXACT_INT:
            if not kinds <= {float, int}:
                return None
            wide = np.array(leaves, dtype=np.float64)
            if int in kinds and wide.size and np.nanmax(np.abs(wide)) > _EXACT_INT[dtype]:
                return None
            if dtype == 2:
                return wide.reshape(shape)
            with np.errstate(over="ignore"):  # protobuf's float_val stores an out-of-range double as +-inf too
                return wide.astype(np.float32).reshape(shape)
        if dtype == 10:
            return np.array(leaves, dtype=np.bool_).reshape(shape) if kinds <= {bool} else None
        if not kinds <= {int}:
            return None
        ints = np.array(leaves, dtype=np.int64)
    except (OverflowError, ValueError, TypeError):
        return None
    info = np.iinfo(target)
    if ints.size and (int(ints.min()) < max(info.min, -2**31) or int(ints.max()) > info.max):
        return None  # the element-wise path's ranges and TF's casts decide
    return ints.astype(target).reshape(shape)


def dense_rows(rows: list[Any], dtypes: dict[str, int], names: list[str], *,
               objects: bool) -> dict[str, np.ndarray] | None:
    """``instances`` as one array per input, when every row holds exactly the inputs (``objects``: named, not
    ``{"b64": ...}``) and each input's rows stack into one array; else None."""
    if not objects:
        arr = dense_array(rows, dtypes[names[0]])
        return None if arr is None else {names[0]: arr}
    wanted = set(names)
    if not all(isinstance(r, dict) and set(r) == wanted and not (len(r) == 1 and isinstance(r.get("b64"), str))
               for r in rows):
        return None
    out = {}
    for name in names:
        arr = dense_array([r[name] for r in rows], dtypes[name])
        if arr is None:
            return None
        out[name] = arr
    return out


# ---------------------------------------------------------------------------- encoding


def _formatted(values: list[float], spec: str) -> list[str]:
    return list(map(format, values, repeat(spec)))


def _float_texts(flat: np.ndarray, double: bool) -> list[str]:
    wide = flat.astype(np.float64)
    finite = np.isfinite(wide)
    every = bool(finite.all())
    fin = wide if every else wide[finite]
    texts = _formatted(fin.tolist(), "g")
    back = np.array(list(map(float, texts)), dtype=np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        bad = back != fin if double else back.astype(np.float32) != fin.astype(np.float32)
    redo = np.flatnonzero(bad)
    if redo.size:
        for i, text in zip(redo.tolist(), _formatted(fin[redo].tolist(), ".17g" if double else ".9g"), strict=True):
            texts[i] = text
    # only a whole number can print without '.' or 'e' (every printed text reads back to its value)
    for i in np.flatnonzero(fin == np.trunc(fin)).tolist():
        text = texts[i]
        if "." not in text and "e" not in text:
            texts[i] = text + ".0"
    if every:
        return texts
    out = np.empty(wide.size, dtype=object)
    out[finite] = texts
    out[np.isnan(wide)] = "NaN"
    out[wide == np.inf] = "Infinity"
    out[wide == -np.inf] = "-Infinity"
    return list(out.tolist())


def leaf_texts(arr: np.ndarray, kind: str) -> list[str]:
    """Every element of a numeric/bool array printed as TF Serving does, in row-major order (kind: f d i b)."""
    flat = arr.reshape(-1)
    if kind in "fd":
        return _float_texts(flat, kind == "d")
    if kind == "b":
        return np.where(flat, "true", "false").tolist()  # type: ignore[no-any-return]
    return list(map(str, flat.tolist()))


def _brackets(shape: tuple[int, ...]) -> tuple[list[str], list[str]]:
    """Per element of a ``shape`` array: the brackets opened before it and what follows it (closers, ', ')."""
    n = int(np.prod(shape))
    index = np.arange(n)
    opens = np.zeros(n, dtype=np.int64)
    closes = np.zeros(n, dtype=np.int64)
    still_open = np.ones(n, dtype=bool)
    still_close = np.ones(n, dtype=bool)
    stride = 1
    for size in reversed(shape):
        pos = (index // stride) % size
        still_open &= pos == 0
        still_close &= pos == size - 1
        opens += still_open
        closes += still_close
        stride *= size
    rank = len(shape)
    before = np.array(["[" * k for k in range(rank + 1)], dtype=object)[opens]
    after = np.array(["]" * k + ", " for k in range(rank + 1)], dtype=object)[closes]
    after[-1] = after[-1][:-2]
    return before.tolist(), after.tolist()


def nest(leaves: list[str], shape: tuple[int, ...], rows: int = 0) -> list[str]:
    """Leaves of an array of ``shape`` as nested JSON lists; with ``rows``, one text per row of a
    ``(rows, *shape)`` array. Every dimension of ``shape`` is positive."""
    if not shape:
        return leaves if rows else ["".join(leaves)]
    before, after = _brackets(shape)
    width = len(before)
    count = rows or 1
    return ["".join(chain.from_iterable(zip(before, leaves[r * width:(r + 1) * width], after, strict=True)))
            for r in range(count)]
