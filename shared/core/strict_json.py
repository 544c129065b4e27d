"""The one JSON reader for everything a producer sends: request bodies and bus entries.

JSON as the standard defines it, and only what every later stage can hold:

- no NaN or Infinity, and no number too large for a finite float (`1e400`):
  Python's parser allows them, PostgreSQL's JSON type and other readers refuse them;
- nesting at most `MAX_DEPTH` (32) levels, checked by a linear scan of the
  text BEFORE the parser runs: Python's parser recurses once per level, so
  100,000 `[` would otherwise end in RecursionError, and so would storing or
  serializing a value that deep;
- no lone UTF-16 surrogate (`"\\ud800"`): it is no character, and neither
  PostgreSQL nor SQLite can store it as text.

Every refusal is a `ValueError`; `JsonRefused` (a subclass) carries a message
naming what was refused, for the client.
"""

from __future__ import annotations

import json
import math
import re
from itertools import accumulate
from typing import Any

# Levels of arrays and objects, the outermost one counting as 1. Alert bodies
# need a handful; 32 leaves producers' `details` plenty of room.
MAX_DEPTH = 32
# How much of a refused number the message quotes.
_QUOTE_CHARS = 40

# A string literal, or an unterminated one running to the end of the text.
# Every `"` outside a string starts one and this pattern always matches there,
# so each character is looked at once: no backtracking, no quadratic retries.
_STRING = re.compile(r'"(?:[^"\\]++|\\.?)*+(?:"|\Z)', re.DOTALL)
# Brackets only, objects' braces counted as arrays' (UTF-8 never has an ASCII
# byte inside a longer character, so bytes are safe to count).
_ONE_KIND = bytes.maketrans(b"{}", b"[]")
_NOT_BRACKET = bytes(set(range(256)) - set(b"[]{}"))
_STEP = {ord("["): 1, ord("]"): -1}
# A raw surrogate, or something that may be a \uD800-\uDFFF escape.
_MAYBE_SURROGATE = re.compile(r"[\ud800-\udfff]|\\u[dD][89abcdefABCDEF]")


class JsonRefused(ValueError):
    """Well-formed JSON we still refuse; the message says what, for the client."""


def nests_deeper_than(text: str, limit: int) -> bool:
    """Whether arrays and objects nest more than `limit` levels, brackets in strings not counted.

    Linear and without recursion, however deep or long the text: strings are
    cut out with one regular expression, leaving brackets only. Balanced
    brackets lose their innermost level with each `replace` pass, so at
    most `limit` fast passes decide the common case; what is left (too deep,
    or unbalanced and soon refused by the parser) gets an exact count.
    """
    outside = _STRING.sub("", text).encode("utf-8", "surrogatepass")
    brackets = outside.translate(_ONE_KIND, _NOT_BRACKET)
    remaining = brackets
    for _ in range(limit):
        if not remaining:
            return False
        reduced = remaining.replace(b"[]", b"")
        if reduced == remaining:
            break
        remaining = reduced
    if not remaining:
        return False
    return any(level > limit for level in accumulate(map(_STEP.__getitem__, brackets)))


def _refuse_constant(name: str) -> Any:
    raise JsonRefused(f"holds {name}, which is not JSON")


def _finite_float(token: str) -> float:
    value = float(token)
    if not math.isfinite(value):
        raise JsonRefused(f"holds the number {token[:_QUOTE_CHARS]}, which is not a finite number")
    return value


def _integer(token: str) -> int:
    try:
        return int(token)
    except ValueError:  # beyond Python's limit on digits (4300 by default)
        raise JsonRefused(f"holds an integer of {len(token)} digits, too many") from None


def _decode(raw: bytes | str) -> str:
    """Bytes as text, in the encoding RFC 8259 detects; raw surrogates refused."""
    if isinstance(raw, str):
        return raw
    return raw.decode(json.detect_encoding(raw))


def loads(raw: bytes | str, *, what: str = "body") -> Any:
    """Parse `raw` or raise ValueError; a JsonRefused message starts with `what`.

    UnicodeDecodeError and json.JSONDecodeError (both ValueErrors) mean the
    text is not JSON at all; the caller words that itself.
    """
    text = _decode(raw)
    if nests_deeper_than(text, MAX_DEPTH):
        raise JsonRefused(f"{what} nests deeper than {MAX_DEPTH} levels")
    try:
        value = json.loads(
            text, parse_constant=_refuse_constant, parse_float=_finite_float, parse_int=_integer
        )
        if _MAYBE_SURROGATE.search(text):
            check_value(value)
    except JsonRefused as exc:
        raise JsonRefused(f"{what} {exc}") from None
    return value


def check_value(value: Any, *, max_depth: int = MAX_DEPTH) -> None:
    """Refuse (JsonRefused) a value that could not be stored as JSON and read back.

    For values built in Python rather than parsed (the producer API): only
    JSON's types, string keys, finite numbers, storable text, at most
    `max_depth` levels. Iterative, so a deep or even cyclic value ends in a
    refusal, never in RecursionError.

    Every alert's `details` passes here (a hundred per Alertmanager body), so
    text, nearly all of any value, is checked where it is met rather than
    pushed and popped, and ASCII text (which cannot hold a surrogate; CPython
    knows it without a scan) is not encoded to find out.
    """
    stack: list[tuple[Any, int]] = []  # containers only: a leaf is checked where it is met
    _check_leaf_or_push(value, 0, stack)
    while stack:
        item, depth = stack.pop()
        if depth + 1 > max_depth:
            raise JsonRefused(f"nests deeper than {max_depth} levels")
        if isinstance(item, dict):
            for key, child in item.items():
                if not isinstance(key, str):
                    raise JsonRefused(f"has a key of type {type(key).__name__}, not a string")
                _check_text(key)
                _check_leaf_or_push(child, depth + 1, stack)
        else:
            for child in item:
                _check_leaf_or_push(child, depth + 1, stack)


def _check_leaf_or_push(item: Any, depth: int, stack: list[tuple[Any, int]]) -> None:
    if isinstance(item, dict | list | tuple):
        stack.append((item, depth))
    else:
        _check_leaf(item)


def _check_leaf(item: Any) -> None:
    if isinstance(item, str):
        _check_text(item)
    elif isinstance(item, float):
        if not math.isfinite(item):
            raise JsonRefused(f"holds {item}, which is not a finite number")
    elif item is not None and not isinstance(item, bool | int):
        raise JsonRefused(f"holds a value of type {type(item).__name__}, not JSON")


def _check_text(text: str) -> None:
    if text.isascii():
        return
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise JsonRefused("holds a lone UTF-16 surrogate, which is not text") from None
