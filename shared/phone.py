"""Phone numbers: E.164 validation for input, masking for logs."""

from __future__ import annotations

import phonenumbers


class InvalidPhoneNumber(ValueError):
    """Not a valid E.164 number."""


def normalize_e164(raw: str) -> str:
    """Return `raw` as E.164 (`+14155550100`), or raise InvalidPhoneNumber.

    Only full international numbers are accepted: an on-call rota shared by
    people in several countries must not depend on a default region.
    """
    text = raw.strip() if isinstance(raw, str) else ""
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
