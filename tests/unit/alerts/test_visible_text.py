"""The visible-text rule: has_visible_text (which decides most texts in C) agrees with
the rule spelled out character by character (is_invisible), for every code point."""

from __future__ import annotations

import sys

from shared.alerts.schemas import has_visible_text, invisible_ranges, is_invisible


def test_every_code_point_is_judged_by_the_rule() -> None:
    """Alone and beside spaces: every code point of the first two planes and of plane 14
    (tags), every invisible one, and every 97th of the rest (unassigned or private)."""
    invisible = {p for first, last in invisible_ranges() for p in range(first, last + 1)}
    assert all(is_invisible(chr(p)) for p in invisible)
    points = {*range(0x20000), *range(0xE0000, 0xF0000), *invisible}
    points |= set(range(0x20000, sys.maxunicode + 1, 97))
    disagree = [
        hex(point)
        for point in sorted(points)
        if has_visible_text(chr(point)) is (point in invisible)
        or has_visible_text(f" {chr(point)} ") is (point in invisible)
    ]
    assert disagree == []


def test_what_a_person_can_read_and_what_they_cannot() -> None:
    assert has_visible_text("disk full")
    assert has_visible_text("  é ")
    assert has_visible_text("\x00db1\u200b")
    assert not has_visible_text("")
    assert not has_visible_text("   ")
    assert not has_visible_text("\u200b\u200e \u2028\x1f")
