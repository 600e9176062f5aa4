"""Names from outside (a model name taken from a directory name, a signature key) written where they end up.

A directory may be named ``m;touch PWNED;x``, ``a"b``, ``a::b`` or ``数据``: every place such a name
is written escapes it for that place, here, and nowhere else.

* :func:`shell_line`: a command line to print (``curl ...``), every argument ``shlex``-quoted;
* :func:`proto_text_string`: a text-format protobuf string literal (TF Serving's ``models.config``);
* :func:`url_segment`: one percent-encoded URL path segment (the model name in REST URLs; TF Serving and the
  emulator decode it, as TF Serving's ``DecodeArg`` does with ``curl_easy_unescape``);
* :func:`id_part`: a model name in pytest ids: letters, digits, ``_``, ``-`` and ``.`` (the characters
  ``--savedmodel=NAME=DIR`` allows) as they are, every other character as ``%XX`` of its UTF-8 bytes, so an
  id never gains a ``::``, ``:``, ``[``, ``/``, space or control character from a directory name;
* :func:`file_slug`: a readable, unique file name stem (a slug plus a hash of the exact text).

Nothing here imports TensorFlow, numpy or pytest.
"""

from __future__ import annotations

import hashlib
import re
import shlex
import unicodedata
import urllib.parse
from collections.abc import Iterable

__all__ = ["file_slug", "id_part", "proto_text_string", "shell_line", "url_segment"]

_PROTO_ESCAPES = {ord("\\"): "\\\\", ord('"'): '\\"', ord("'"): "\\'", ord("\n"): "\\n", ord("\r"): "\\r",
                  ord("\t"): "\\t"}
_SLUG_DROP = re.compile(r"[^\w.-]+")  # \w is Unicode: letters and digits of every script are kept


def _utf8(text: str) -> bytes:
    """UTF-8 bytes; a name read from an undecodable directory name (surrogate escapes) gives its original bytes."""
    return text.encode("utf-8", "surrogateescape")


def shell_line(argv: Iterable[str]) -> str:
    """``argv`` as one line a POSIX shell runs as exactly those arguments (each one ``shlex.quote``-d)."""
    return " ".join(shlex.quote(a) for a in argv)


def proto_text_string(text: str) -> str:
    """``text`` as a double-quoted protobuf text-format string literal, ASCII only.

    Backslash, quotes, newline, carriage return and tab get their C escapes; every other control
    character and every non-ASCII byte of the UTF-8 encoding a three-digit octal escape (``é`` ->
    ``\\303\\251``), which both TF Serving's C++ parser and ``google.protobuf.text_format`` decode.

    Example:
        >>> proto_text_string('m"q;x')
        '"m\\\\"q;x"'
    """
    out = []
    for byte in _utf8(text):
        if byte in _PROTO_ESCAPES:
            out.append(_PROTO_ESCAPES[byte])
        elif 0x20 <= byte < 0x7F:
            out.append(chr(byte))
        else:
            out.append(f"\\{byte:03o}")
    return '"' + "".join(out) + '"'


def url_segment(text: str) -> str:
    """``text`` as one URL path segment: every byte but ``A-Z a-z 0-9 _ . - ~`` percent-encoded.

    ``.`` and ``..`` alone are encoded too (``%2E``), so a client cannot read them as dot segments.
    """
    quoted = urllib.parse.quote(_utf8(text), safe="")
    return quoted.replace(".", "%2E") if quoted in (".", "..") else quoted


def _id_safe(char: str) -> bool:
    return char in "-." or ("_" + char).isidentifier()


def id_part(name: str) -> str:
    """``name`` for a pytest id: unchanged if ``--savedmodel=NAME=DIR`` would accept it, else ``%XX``-escaped.

    Example:
        >>> id_part("iris"), id_part("数据-v1.2"), id_part("a::b"), id_part("m;x y")
        ('iris', '数据-v1.2', 'a%3A%3Ab', 'm%3Bx%20y')
    """
    return "".join(c if _id_safe(c) else "".join(f"%{b:02X}" for b in _utf8(c)) for c in name)


def file_slug(text: str, *, max_bytes: int = 120) -> str:
    """A file name stem for ``text``: readable, safe to paste into a shell unquoted, and unique.

    Letters and digits of any script (NFC-normalised), ``_``, ``.`` and ``-`` are kept; every run of other
    characters (path separators, control and format characters, spaces, shell-special characters)
    becomes one ``-``; the slug is cut to ``max_bytes`` of UTF-8 and never starts with ``.`` or ``-``. A
    short hash of the exact ``text`` follows, so two texts that slug alike (``a b`` and ``a-b``) never
    share a name.

    Example:
        >>> file_slug("savedmodel:café::数::parity[raw~rest]")
        'savedmodel-café-数-parity-raw-rest-1b83a8b4'
    """
    digest = hashlib.sha256(_utf8(text)).hexdigest()[:8]
    slug = _SLUG_DROP.sub("-", unicodedata.normalize("NFC", text))
    while len(slug.encode("utf-8", "surrogateescape")) > max_bytes:
        slug = slug[:-1]
    slug = slug.strip("-.")
    return f"{slug}-{digest}" if slug else digest
