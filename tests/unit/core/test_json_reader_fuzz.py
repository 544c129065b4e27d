"""The JSON reader (shared.core.strict_json) under generated input, deep, huge and malformed.

Whatever arrives, the reader either returns a value that serializes again and
reads back equal, or raises ValueError: never RecursionError, OverflowError or
anything else, which an endpoint would turn into a 500. Where Python's own
parser agrees the text is JSON, the reader returns the same value, unless the
value nests deeper than the limit or holds what the reader refuses.
"""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.core import strict_json
from shared.core.strict_json import MAX_DEPTH

FUZZ = settings(
    max_examples=300,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**40), max_value=10**40)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=40,
)


def depth(value: Any) -> int:
    """Levels of arrays and objects, as the reader counts them (the outermost is 1)."""
    level, current = 0, [value]
    while current:
        containers = [v for v in current if isinstance(v, dict | list)]
        if not containers:
            break
        level += 1
        current = [c for v in containers for c in (v.values() if isinstance(v, dict) else v)]
    return level


def read(raw: str | bytes) -> Any:
    """The reader's value, or the ValueError it raised; anything else fails the test."""
    try:
        return strict_json.loads(raw)
    except ValueError as exc:
        return exc


def assert_reserializes(value: Any) -> None:
    text = json.dumps(value, allow_nan=False)
    assert json.loads(text) == value
    strict_json.check_value(value)


def check(raw: str | bytes) -> Any:
    """Read `raw`: the value re-serializes, and agrees with Python's parser where both accept."""
    result = read(raw)
    if isinstance(result, ValueError):
        return result
    assert_reserializes(result)
    assert depth(result) <= MAX_DEPTH
    assert json.loads(raw) == result
    return result


def nest(levels: int, kind: str) -> str:
    if kind == "array":
        return "[" * levels + "]" * levels
    return '{"k":' * levels + "0" + "}" * levels


@FUZZ
@given(
    levels=st.integers(min_value=1, max_value=100_000),
    kind=st.sampled_from(["array", "object"]),
    closed=st.booleans(),
)
def test_deep_nesting_is_refused_past_the_limit_and_read_below_it(levels, kind, closed):
    text = nest(levels, kind)
    if not closed:
        # Every level opened, about half of them closed: as deep, and not JSON.
        text = text[: len(text) - levels // 2 - 1]
    result = check(text)
    if levels > MAX_DEPTH:
        assert isinstance(result, strict_json.JsonRefused)
        assert f"nests deeper than {MAX_DEPTH} levels" in str(result)
    elif closed:
        assert depth(result) == levels


@FUZZ
@given(value=json_values, wrap=st.integers(min_value=0, max_value=40))
def test_generated_values_round_trip_or_are_refused_for_depth(value, wrap):
    text = "[" * wrap + json.dumps(value) + "]" * wrap
    result = check(text)
    if depth(value) + wrap <= MAX_DEPTH:
        assert result == json.loads(text)
    else:
        assert isinstance(result, strict_json.JsonRefused)


@FUZZ
@given(piece=st.text(min_size=1, max_size=20), times=st.integers(min_value=1, max_value=50_000))
def test_long_strings_with_brackets_and_escapes_inside_are_not_nesting(piece, times):
    long = piece * times + '[{\\"' * 40
    result = check(json.dumps({"s": long}))
    assert result == {"s": long}


@FUZZ
@given(
    digits=st.integers(min_value=1, max_value=10_000),
    exponent=st.integers(min_value=-100_000, max_value=100_000),
    sign=st.sampled_from(["", "-"]),
)
def test_huge_numbers_are_finite_values_or_refused(digits, exponent, sign):
    for text in (f"{sign}{'9' * digits}", f"{sign}1.5e{exponent}", f"{sign}{'7' * digits}.5"):
        result = check(f'{{"n": {text}}}')
        if isinstance(result, ValueError):
            assert isinstance(result, strict_json.JsonRefused), (text, result)
        else:
            assert not isinstance(result["n"], float) or math.isfinite(result["n"])


@FUZZ
@given(text=st.text(alphabet='[]{}",:\\ 0123456789-+.eEtrufalsnNINaIfiy\x00\ud800', max_size=300))
def test_json_like_garbage_raises_only_value_error(text):
    check(text)


@FUZZ
@given(raw=st.binary(max_size=300))
def test_arbitrary_bytes_raise_only_value_error(raw):
    check(raw)


@FUZZ
@given(value=json_values, deep=st.integers(min_value=33, max_value=5_000))
def test_mixed_deep_and_wide_documents(value, deep):
    inner = nest(deep, "object")
    text = json.dumps({"v": value, "deep": "X"}).replace('"X"', inner)
    assert isinstance(check(text), strict_json.JsonRefused)


@pytest.mark.parametrize(
    "text",
    [
        "NaN",
        "[Infinity]",
        "[-Infinity]",
        '{"n": 1e400}',
        '["\\ud800"]',
        '["\\udc00x"]',
        "[" + "1" * 5000 + "]",
    ],
)
def test_values_no_store_can_hold_are_refused_by_name(text):
    result = read(text)
    assert isinstance(result, strict_json.JsonRefused) and str(result).startswith("body ")


def test_surrogate_pairs_and_escaped_backslashes_are_text():
    assert check('["\\ud83d\\ude00", "\\\\ud800"]') == ["\U0001f600", "\\ud800"]


def _cyclic() -> list[Any]:
    value: list[Any] = []
    value.append(value)
    return value


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ({"a": {"b": ["ok", "caf\u00e9", "\ud800"]}}, "lone UTF-16 surrogate"),
        ({"\udfff": 1}, "lone UTF-16 surrogate"),
        ({"n": [1.0, float("nan")]}, "not a finite number"),
        ({1: "one"}, "key of type int"),
        ({"when": {1, 2}}, "value of type set"),
        ({"k": [[[[["deep"]]]]]}, "nests deeper than 4 levels"),
        (_cyclic(), "nests deeper than 4 levels"),
    ],
)
def test_values_built_in_python_are_refused_by_name(value, reason):
    with pytest.raises(strict_json.JsonRefused, match=reason):
        strict_json.check_value(value, max_depth=4)


def test_values_built_in_python_that_json_holds_pass():
    strict_json.check_value(
        {"text": "caf\u00e9 \U0001f600", "n": [1, 2.5, True, None], "pair": ("a", "b"), "": {}},
        max_depth=4,
    )
