"""Text the commands print that they did not write themselves: file names, messages, fields.

A file name on Linux is bytes; Python hands the bytes that are not UTF-8 over as lone surrogates
(``surrogateescape``), which a strict UTF-8 stream refuses to print. A name or a field read from
a file may also hold control characters that move the cursor, retitle the terminal or forge a
line. :func:`printable` escapes both; :func:`printable_json` does the same for JSON output, with
JSON's own escapes. Only the standard library.
"""

from __future__ import annotations

import json
import re
from typing import Any

__all__ = ["printable", "printable_json"]

# C0 controls, DEL, C1 controls (some terminals act on U+009B as CSI), and lone surrogates.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_NAMED = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}
# What json.dumps(ensure_ascii=False) leaves raw: DEL, C1 controls and lone surrogates (it
# escapes C0 itself).
_JSON_UNSAFE = re.compile("[\x7f-\x9f\ud800-\udfff]")


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    code = ord(char)
    if char in _NAMED:
        return _NAMED[char]
    if 0xDC80 <= code <= 0xDCFF:  # a byte that was not UTF-8, as surrogateescape carries it
        return f"\\x{code - 0xDC00:02x}"
    if code >= 0xD800:
        return f"\\u{code:04x}"
    return f"\\x{code:02x}"


def printable(text: str) -> str:
    """``text`` safe to print on any UTF-8 stream and terminal.

    Control characters (C0, DEL, C1) become backslash escapes (``\\t``, ``\\x1b``), a byte of a
    file name that is not UTF-8 becomes ``\\xNN`` (``lat\\xe9.jpg``) and any other lone
    surrogate ``\\udNNN``; everything else, non-ASCII letters included, is kept as it is.
    """
    return _UNSAFE.sub(_escape, text)


def printable_json(obj: Any, *, indent: int | None = None) -> str:
    """``json.dumps(obj, ensure_ascii=False)`` safe to print on any UTF-8 stream and terminal.

    Non-ASCII letters are kept as they are; the control characters and lone surrogates that
    ``ensure_ascii=False`` would print raw (DEL, C1 such as U+009B, a surrogate-escaped byte)
    become JSON ``\\u00XX`` / ``\\udcXX`` escapes, so the output stays valid JSON and
    ``json.loads`` gives back exactly ``obj``.
    """
    text = json.dumps(obj, ensure_ascii=False, indent=indent)
    # These characters can only occur inside JSON strings, where \uXXXX means the same.
    return _JSON_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
