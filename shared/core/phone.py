"""Phone numbers: E.164 validation for input, masking for logs."""

from __future__ import annotations

import re
from functools import lru_cache

import phonenumbers


class InvalidPhoneNumber(ValueError):
    """Not a valid E.164 number."""


def normalize_e164(raw: str) -> str:
    """Return `raw` as E.164 (`+14155550100`), or raise InvalidPhoneNumber.

    Only full international numbers are accepted: an on-call rota shared by
    people in several countries must not depend on a default region.
    """
    return _normalized(raw.strip() if isinstance(raw, str) else "")


@lru_cache(maxsize=4096)
def _normalized(text: str) -> str:
    """Parsing a number costs about 0.2 ms, and the same few numbers come back on every
    page (validated by the receiver, the routing, the frozen chain): parsed once each.
    A refusal is raised, never cached, so invalid input cannot fill the cache."""
    if not text.startswith("+"):
        raise InvalidPhoneNumber("must be an E.164 number starting with + and a country code")
    try:
        parsed = phonenumbers.parse(text, None)
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhoneNumber(f"not a phone number ({exc})") from None
    if not phonenumbers.is_valid_number(parsed):
        raise InvalidPhoneNumber("not a valid phone number for its country")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def plivo_format(e164: str) -> str:
    """Plivo writes numbers without the leading +."""
    return e164.lstrip("+")


def mask(number: str | None) -> str:
    """Keep the country code and last two digits: enough to tell people apart in a log."""
    if not number:
        return "?"
    digits = number.lstrip("+")
    if len(digits) <= 4:
        return "*" * len(digits)
    return f"+{digits[:1]}{'*' * (len(digits) - 3)}{digits[-2:]}"


# Where a written number may start: "+", its URL encoding, or its JSON escape.
_PLUS = r"(?:\+|%2[bB]|\\u002[bB])"
# What people and encoders put between digit groups: spaces, dots, dashes,
# parentheses, and in URLs `%20`, `+`, `%28`, `%29`. At most two in a row, so
# "+14155550100 - 3 retries" stops before the count.
_GAP = r"(?:[ .\-()\u00a0]|%20|%28|%29|\+)"
# "+14155550100", "+1 415 555 0100", "+44 (0)20 7946 0958", "%2B14155550100".
_INTERNATIONAL = rf"{_PLUS}(?P<written>(?:{_GAP}{{0,2}}\d)+)"
# Plivo's form, digits only: "14155550100". Not inside a word, an id such as
# a UUID's last group, or a Redis stream id ("1732675048123-0").
_BARE = r"(?<![\w\-])\d{10,15}(?![\w\-])"
# A North American number as people write it: "(415) 555-0100", "1-415-555-0100".
_OPEN, _CLOSE, _SEP = r"(?:\(|%28)", r"(?:\)|%29)", r"(?:[ .\-\u00a0]|%20|\+)"
_NATIONAL = (
    rf"(?<![\w\-.])(?:1{_SEP}{{0,2}})?"
    rf"{_OPEN}?\d{{3}}{_CLOSE}?{_SEP}{{0,2}}\d{{3}}{_SEP}\d{{4}}(?![\w\-])"
)
_NUMBER = re.compile(
    rf"(?P<international>{_INTERNATIONAL})|(?P<bare>{_BARE})|(?P<national>{_NATIONAL})"
)
_URL_ESCAPE = re.compile(r"%[0-9A-Fa-f]{2}")
# Fewer digits than this after a "+" is a time zone or a sum, not a number.
_MIN_DIGITS = 7


def _digits(text: str) -> str:
    return "".join(ch for ch in _URL_ESCAPE.sub("", text) if ch.isdigit())


def _masked(match: re.Match[str]) -> str:
    if match.group("international"):
        digits = _digits(match.group("written"))  # not the 2 of "%2B"
        return mask("+" + digits) if len(digits) >= _MIN_DIGITS else match.group(0)
    digits = _digits(match.group(0))
    if match.group("bare"):
        return mask(digits)
    return "*" * (len(digits) - 2) + digits[-2:]


def mask_numbers_in(text: str) -> str:
    """`text` with every phone number in it masked, however it is written.

    For log lines, exception messages and stored reasons, where a number may
    arrive as E.164, in Plivo's digits-only form, grouped for people, inside
    a repr or JSON string, or URL-encoded in a query string. Masking a digit
    run that was no phone number costs a log reader little; a number left in
    a log is a leak.
    """
    return _NUMBER.sub(_masked, text)
