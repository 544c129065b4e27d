"""How many SMS segments a text costs, and in which encoding it leaves.

Carriers bill and throttle per segment, and a text that falls out of GSM-7
because of one curly quote costs more than twice as much: the preview shows
both before a notice to thousands goes out. The counting follows GSM 03.38
and the concatenation headers carriers use: 160 septets in one segment, 153
per part once split (an escape sequence is never split across parts); UCS-2
70 code units, 67 per part (a surrogate pair is never split).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

# GSM 03.38 basic character set (one septet each). ESC (0x1B) is not a character.
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# The extension table: an escape septet plus one, so each counts two.
GSM7_EXTENSION = frozenset("\f^{}\\[~]|€")

GSM7_SINGLE, GSM7_PART = 160, 153
UCS2_SINGLE, UCS2_PART = 70, 67
MAX_SEGMENTS = 10


class Encoding(StrEnum):
    GSM7 = "GSM-7"
    UCS2 = "UCS-2"


@dataclass(frozen=True, slots=True)
class SmsSize:
    """A text's encoding, its length in the units of that encoding, and its segments."""

    encoding: Encoding
    units: int  # septets for GSM-7, UTF-16 code units for UCS-2
    segments: int

    def __str__(self) -> str:
        plural = "" if self.segments == 1 else "s"
        return f"{self.segments} segment{plural}, {self.encoding}, {self.units} units"


class TooManySegments(ValueError):
    """An SMS that would be split into more than MAX_SEGMENTS parts."""


def is_gsm7(text: str) -> bool:
    return all(ch in GSM7_BASIC or ch in GSM7_EXTENSION for ch in text)


def _widths(text: str, encoding: Encoding) -> list[int]:
    """What each character costs: septets, or UTF-16 code units."""
    if encoding is Encoding.GSM7:
        return [2 if ch in GSM7_EXTENSION else 1 for ch in text]
    return [2 if ord(ch) > 0xFFFF else 1 for ch in text]


def _parts(widths: list[int], per_part: int) -> int:
    """Parts needed when no character may be split across two of them."""
    parts, used = 1, 0
    for width in widths:
        if used + width > per_part:
            parts, used = parts + 1, 0
        used += width
    return parts


def sms_size(text: str) -> SmsSize:
    """The encoding Plivo will choose for `text` and the segments it will be billed for."""
    encoding = Encoding.GSM7 if is_gsm7(text) else Encoding.UCS2
    single, per_part = (
        (GSM7_SINGLE, GSM7_PART) if encoding is Encoding.GSM7 else (UCS2_SINGLE, UCS2_PART)
    )
    widths = _widths(text, encoding)
    units = sum(widths)
    segments = 1 if units <= single else _parts(widths, per_part)
    return SmsSize(encoding, units, segments)


def checked_sms_size(text: str) -> SmsSize:
    """sms_size, refusing a text over MAX_SEGMENTS: carriers drop or truncate longer ones."""
    size = sms_size(text)
    if size.segments > MAX_SEGMENTS:
        raise TooManySegments(
            f"the SMS is {size.segments} segments ({size.encoding}, {size.units} units); "
            f"at most {MAX_SEGMENTS} may be sent"
        )
    return size


def non_gsm7_characters(text: str) -> list[str]:
    """The characters that force UCS-2, each once, to tell an author what to replace."""
    return list(dict.fromkeys(ch for ch in text if ch not in GSM7_BASIC | GSM7_EXTENSION))
