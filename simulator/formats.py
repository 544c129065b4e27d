"""Plivo's textual conventions: ids, timestamps, numbers, billing units.

Kept in one place because clients parse these strings; a simulator that
answered in a friendlier format would hide parsing bugs until production.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime

# 8 to 15 digits, no leading zero: E.164 without the "+", as Plivo writes it.
_NUMBER = re.compile(r"^[1-9]\d{7,14}$")

# GSM 03.38 basic set plus the extension table (each extension char costs two).
_GSM_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM_EXTENDED = set("^{}\\[~]|€\f")

SMS_RATE = "0.00500"
CALL_RATE = "0.00850"


def new_uuid() -> str:
    return str(uuid.uuid4())


def plivo_number(raw: str) -> str | None:
    """The number as Plivo writes it (no "+"), or None when it is not a phone number."""
    text = str(raw).strip()
    text = text[1:] if text.startswith("+") else text
    return text if _NUMBER.match(text) else None


def api_time(epoch: float | None) -> str | None:
    """API bodies: `2017-05-22 21:36:14+00:00` (Plivo shows the account's offset; ours is UTC)."""
    if epoch is None:
        return None
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S+00:00")


def api_time_precise(epoch: float | None) -> str | None:
    """The newer message fields carry microseconds: `2024-08-21 18:28:49.244057+00:00`."""
    if epoch is None:
        return None
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S.%f+00:00")


def sms_callback_time(epoch: float | None) -> str:
    """SMS callbacks: `2022-09-29 07:21:31 +0000`; empty when the event has not happened."""
    if epoch is None:
        return ""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S +0000")


def voice_callback_time(epoch: float | None) -> str:
    """Voice callbacks: `2023-01-01 10:00:00`; empty when the event has not happened."""
    if epoch is None:
        return ""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S")


def session_start(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def sms_units(text: str) -> int:
    """Billed segments: 160/153 GSM-7 characters, else 70/67 UCS-2 characters."""
    if set(text) <= _GSM_BASIC | _GSM_EXTENDED:
        length = sum(2 if ch in _GSM_EXTENDED else 1 for ch in text)
        single, part = 160, 153
    else:
        length = len(text)
        single, part = 70, 67
    if length <= single:
        return 1
    return -(-length // part)


def money(amount: float) -> str:
    """Plivo prints amounts with five decimals, as strings."""
    return f"{amount:.5f}"
