"""SMS segments: GSM-7 160/153 septets, UCS-2 70/67 code units, never a character split."""

from __future__ import annotations

import pytest

from shared.notices.segments import (
    GSM7_BASIC,
    GSM7_EXTENSION,
    Encoding,
    TooManySegments,
    checked_sms_size,
    non_gsm7_characters,
    sms_size,
)


def test_the_gsm7_tables_have_their_sizes() -> None:
    assert len(GSM7_BASIC) == 127  # 128 minus the escape
    assert frozenset("\f^{}\\[~]|€") == GSM7_EXTENSION
    assert not GSM7_BASIC & GSM7_EXTENSION


@pytest.mark.parametrize(
    ("length", "segments"),
    [(0, 1), (1, 1), (160, 1), (161, 2), (306, 2), (307, 3), (1530, 10), (1531, 11)],
)
def test_gsm7_boundaries(length: int, segments: int) -> None:
    size = sms_size("a" * length)
    assert (size.encoding, size.units, size.segments) == (Encoding.GSM7, length, segments)


def test_an_extension_character_counts_two_septets() -> None:
    assert sms_size("a" * 158 + "€").segments == 1  # 160 septets
    assert sms_size("a" * 159 + "€") == sms_size("a" * 159 + "[")
    size = sms_size("a" * 159 + "€")
    assert (size.encoding, size.units, size.segments) == (Encoding.GSM7, 161, 2)


def test_an_escape_sequence_is_never_split_across_parts() -> None:
    # 152 + 2 septets do not fit a 153-septet part: the "€" starts the second one.
    assert sms_size("a" * 152 + "€" + "a" * 152).segments == 3
    assert sms_size("a" * 151 + "€" + "a" * 153).segments == 2
    assert sms_size("a" * 152 + "a" + "a" * 153).segments == 2


@pytest.mark.parametrize(
    ("length", "segments"), [(70, 1), (71, 2), (134, 2), (135, 3), (670, 10), (671, 11)]
)
def test_ucs2_boundaries(length: int, segments: int) -> None:
    size = sms_size("é" + "ж" * (length - 1))  # é is GSM-7, ж is not
    assert (size.encoding, size.units, size.segments) == (Encoding.UCS2, length, segments)


def test_an_emoji_is_two_code_units_and_never_split() -> None:
    assert sms_size("a" * 68 + "🙂") == sms_size("ж" * 70)  # 70 units, 1 segment
    size = sms_size("a" * 69 + "🙂")
    assert (size.encoding, size.units, size.segments) == (Encoding.UCS2, 71, 2)
    # 66 units + a pair cannot share a 67-unit part: the pair goes into the next.
    assert sms_size("a" * 66 + "🙂" + "a" * 66).segments == 3
    assert sms_size("a" * 65 + "🙂" + "a" * 67).segments == 2


def test_one_character_outside_gsm7_switches_the_whole_text() -> None:
    text = "Maintenance tonight ’ 02:00"
    assert sms_size(text).encoding is Encoding.UCS2
    assert non_gsm7_characters(text + "’✓") == ["’", "✓"]
    assert sms_size("Ça coute 5 € [Ü]").encoding is Encoding.GSM7
    assert sms_size("Ça coûte 5 € [Ü]").encoding is Encoding.UCS2
    assert non_gsm7_characters("Ça coûte 5 € [Ü]") == ["û"]


def test_more_than_ten_segments_is_refused() -> None:
    assert checked_sms_size("a" * 1530).segments == 10
    with pytest.raises(TooManySegments, match="11 segments"):
        checked_sms_size("a" * 1531)
    with pytest.raises(TooManySegments, match="UCS-2"):
        checked_sms_size("ж" * 671)
