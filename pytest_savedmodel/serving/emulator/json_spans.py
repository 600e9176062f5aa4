"""Large numeric arrays of a request body decoded straight into numpy, never as nested Python lists.

An image request is mostly one array literal: ``{"instances": [[[[0.51, 0.95, 0.14], ...]]]}`` is 580 KB of
text for 27,648 floats. Parsing it into nested lists, walking them and stacking them into an array cost about
6.5 ms; the session run itself costs about 1.3 ms. Here (:func:`split_spans`) every array literal of at least
``min_bytes`` that stands as an object member's value is a candidate; :func:`decode` checks it in a few C
passes over its bytes:

- its brackets and commas (numbers and white space deleted) must be exactly those of a regular array of the
  shape its first descent gives;
- no number may stand on the outer side of a bracket (``]1``, ``1 [``);
- orjson must read it, brackets blanked, as a flat list of as many JSON numbers as that shape holds.

A literal that passes is cut out of the body and replaced by a placeholder string, and the rest (the skeleton)
is parsed as before; one that does not (ragged or empty lists, a stray token, a number orjson refuses) stays in
the body. :class:`Span` values only ever reach ``json_codec``'s fast path, which either consumes each one with
the plain path's answer or raises :class:`Declined`; on that, or on any error, the caller parses the body the
plain way, answers and words included.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from pytest_savedmodel._json import orjson

__all__ = ["STRINGS", "Declined", "Span", "SpanDoc", "restore", "split_spans", "stack"]

MIN_BYTES = 2048
# every JSON string token, and the colon that makes it an object member's name: outside strings JSON has no
# quotes, so matching strings one after the other from the start tokenises them exactly
STRINGS = re.compile(rb'"(?:[^"\\]|\\.)*"(\s*:)?', re.S)
_MARK = b"pytest-savedmodel-span-"


class SpanDoc(dict):  # type: ignore[type-arg]
    """A parsed request body that holds :class:`Span` values."""


class Declined(Exception):
    """A :class:`Span` the fast path cannot decide: parse the body the plain way."""


_WS = b" \t\n\r"
_BLANK_BRACKETS = bytes.maketrans(b"[]", b"  ")
_DELETE = b"0123456789.eE+-" + _WS  # what the skeleton of a literal leaves out
_OPEN, _CLOSE, _COMMA, _QUOTE = ord("["), ord("]"), ord(","), ord('"')
_COLON = re.compile(rb"\s*:")


@dataclass(frozen=True, eq=False)
class Span:
    """A regular array literal of JSON numbers: the numbers as orjson read them (row-major), and its shape."""

    numbers: list[Any]
    shape: tuple[int, ...]

    def typed(self, dtype: int) -> np.ndarray:
        """The array the plain path's ``json_fast.dense_array`` gives for this literal, or :class:`Declined`."""
        if dtype in (1, 2):
            wide = np.fromiter(self.numbers, dtype=np.float64, count=len(self.numbers))
            if float(np.max(np.abs(wide))) > (2.0**24 if dtype == 1 else 2.0**53) and int in set(
                    map(type, self.numbers)):
                raise Declined  # an integer a float may not hold exactly: the element-wise path decides
            if dtype == 2:
                return wide.reshape(self.shape)
            with np.errstate(over="ignore"):
                return wide.astype(np.float32).reshape(self.shape)
        ints: Any = {3: np.int32, 4: np.uint8, 5: np.int16, 6: np.int8, 9: np.int64}.get(dtype)
        if ints is None or set(map(type, self.numbers)) != {int}:
            raise Declined
        try:
            v = np.array(self.numbers, dtype=np.int64)
        except OverflowError:
            raise Declined from None
        info = np.iinfo(ints)
        if int(v.min()) < max(info.min, -2**31) or int(v.max()) > info.max:
            raise Declined
        return v.astype(ints).reshape(self.shape)


def _shape(skeleton: bytes) -> tuple[int, ...] | None:
    """The shape of the regular array whose brackets and commas are ``skeleton`` (numbers and white space
    deleted), read off its first list at each depth; None where the skeleton is not exactly that array's."""
    rank = len(skeleton) - len(skeleton.lstrip(b"["))
    if rank == 0:
        return None
    shape: list[int] = []
    inner = 0  # the length of one list one level down (none below the numbers)
    for depth in range(rank, 0, -1):
        end = skeleton.find(b"]" * (rank - depth + 1))  # the first list at ``depth`` closes there
        if end < 0:
            return None
        length = end + (rank - depth + 1) - (depth - 1)
        size, rest = divmod(length - 1, inner + 1)
        if rest or size < 1:
            return None
        shape.insert(0, size)
        inner = length
    return tuple(shape) if _regular(tuple(shape)) == skeleton else None


def _regular(shape: tuple[int, ...]) -> bytes:
    """The brackets and commas of a regular array of ``shape``."""
    text = b""
    for size in reversed(shape):
        text = b"[" + b",".join([text] * size) + b"]"
    return text


_WS_CODES = np.array([ord(c) for c in " \t\n\r"], dtype=np.uint8)


def _neighbours_ok(text: np.ndarray, at: np.ndarray, step: int, allowed: tuple[int, int]) -> bool:
    """Whether the first byte other than white space from each position ``at`` in direction ``step`` (+1 or
    -1) is one of ``allowed``; positions whose search leaves the text pass."""
    at = at + step
    while at.size:
        at = at[(at >= 0) & (at < text.size)]
        b = text[at]
        ws = np.isin(b, _WS_CODES)
        if not ((b == allowed[0]) | (b == allowed[1]) | ws).all():
            return False
        at = at[ws] + step
    return True


def decode(literal: bytes) -> Span | None:
    """A numeric array literal (``[`` to its matching ``]``) as a :class:`Span`, or None where it is not a
    regular array of JSON numbers.

    The literal is that array when (1) its brackets and commas are those of a regular array (its skeleton,
    numbers and white space deleted, compared with the one :func:`_regular` builds), (2) orjson reads the
    literal with its brackets blanked as a flat list of as many JSON numbers as the shape holds (so exactly
    one valid number between commas), and (3) only a bracket or a comma stands next to the outer side of a
    bracket (``]1`` or ``1 [`` is refused): then every number stands in its own slot."""
    shape = _shape(literal.translate(None, _DELETE))
    if shape is None:
        return None
    text = np.frombuffer(literal, dtype=np.uint8)
    if not (_neighbours_ok(text, np.flatnonzero(text == _CLOSE), 1, (_CLOSE, _COMMA))
            and _neighbours_ok(text, np.flatnonzero(text == _OPEN), -1, (_OPEN, _COMMA))):
        return None
    try:
        numbers = orjson.loads(b"[" + literal.translate(_BLANK_BRACKETS) + b"]")
    except orjson.JSONDecodeError:
        return None
    if len(numbers) != int(np.prod(shape)):
        return None
    return Span(numbers, shape)


def split_spans(body: bytes, min_bytes: int = MIN_BYTES) -> tuple[bytes, dict[str, Span]] | None:
    """(the body with each large numeric member value replaced by a placeholder string, {placeholder: Span}),
    or None where no such value is found or orjson is missing.

    Candidates are read between string tokens: a member name's colon followed, before the next string or
    brace, by at least ``min_bytes`` that begin with ``[``. A candidate :func:`decode` refuses stays in the
    body (the skeleton's parse reads it as before)."""
    if orjson is None or len(body) < min_bytes or _MARK in body:
        return None
    cuts: list[tuple[int, int, Span]] = []
    for colon_end, end in _member_gaps(body, min_bytes):
        _cut(body, colon_end, end, min_bytes, cuts)
    if not cuts:
        return None
    pieces: list[bytes] = []
    spans: dict[str, Span] = {}
    done = 0
    for start, stop, span in cuts:
        key = f"{_MARK.decode()}{len(spans)}"
        spans[key] = span
        pieces += [body[done:start], b'"', key.encode(), b'"']
        done = stop
    pieces.append(body[done:])
    return b"".join(pieces), spans


def _member_gaps(body: bytes, min_bytes: int) -> list[tuple[int, int]]:
    """(just after a member name's colon, the next string's start or the body's end) where that stretch is
    longer than ``min_bytes``. Without a backslash in the body, quotes simply alternate (opening, closing), and
    numpy finds them; else the string tokens are matched one after the other."""
    if b"\\" in body:
        tokens = [(m.start(), m.end(), bool(m.group(1))) for m in STRINGS.finditer(body)]
    else:
        quotes = np.flatnonzero(np.frombuffer(body, dtype=np.uint8) == _QUOTE)
        wide = np.flatnonzero(np.diff(quotes, append=len(body)) > min_bytes)
        gaps = []
        for k in wide[wide % 2 == 1].tolist():  # after a closing quote
            colon = _COLON.match(body, int(quotes[k]) + 1)
            if colon:
                gaps.append((colon.end(), int(quotes[k + 1]) if k + 1 < len(quotes) else len(body)))
        return gaps
    return [(after, tokens[i + 1][0] if i + 1 < len(tokens) else len(body))
            for i, (_, after, member) in enumerate(tokens)
            if member and (tokens[i + 1][0] if i + 1 < len(tokens) else len(body)) - after > min_bytes]


def _cut(body: bytes, after_colon: int, end: int, min_bytes: int, cuts: list[tuple[int, int, Span]]) -> None:
    """The numeric array literal a member's value begins with, between ``after_colon`` and ``end``, if any."""
    start = after_colon
    while start < end and body[start] in _WS:
        start += 1
    if start >= end or body[start] != _OPEN:
        return
    # a numeric literal holds no brace: the value ends before the first one (or the next string)
    for brace in (b"{", b"}"):
        found = body.find(brace, start, end)
        if found >= 0:
            end = found
    stop = body.rfind(b"]", start, end) + 1
    if stop - start < min_bytes:
        return
    span = decode(body[start:stop])
    if span is not None:
        cuts.append((start, stop, span))


def stack(values: list[Any], dtype: int) -> np.ndarray:
    """Items that are all :class:`Span` of one shape, typed and stacked (an input of ``instances`` objects);
    :class:`Declined` where only some are, or their shapes differ."""
    spans = [v for v in values if isinstance(v, Span)]
    if len(spans) != len(values) or len({s.shape for s in spans}) != 1:
        raise Declined
    return np.stack([s.typed(dtype) for s in spans])


def restore(value: Any, spans: dict[str, Span]) -> Any:
    """The parsed skeleton with each placeholder (always an object member's value) replaced by its Span."""
    left = len(spans)
    todo: list[Any] = [value]
    while todo and left:
        node = todo.pop()
        if isinstance(node, dict):
            for k, v in node.items():
                if isinstance(v, str):
                    span = spans.get(v)
                    if span is not None:
                        node[k] = span
                        left -= 1
                elif isinstance(v, (dict, list)):
                    todo.append(v)
        elif isinstance(node, list):
            todo.extend(v for v in node if isinstance(v, (dict, list)))
    return value
