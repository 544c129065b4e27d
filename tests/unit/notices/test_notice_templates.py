"""Notice templates: known placeholders only, times in the window's own zone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from shared.notices.templates import (
    TemplateError,
    WindowText,
    format_duration,
    format_instant,
    missing_values,
    placeholders_in,
    render,
)

PARIS = ZoneInfo("Europe/Paris")


def window(**overrides: object) -> WindowText:
    values: dict = {
        "title": "DB upgrade",
        "start": datetime(2025, 12, 7, 1, 0, tzinfo=UTC),
        "end": datetime(2025, 12, 7, 3, 30, tzinfo=UTC),
        "zone": PARIS,
        "impact": "read-only",
        "link": "https://status.example.com",
    }
    return WindowText(**{**values, **overrides})


def test_instants_are_written_in_the_window_zone_with_its_abbreviation() -> None:
    assert format_instant(datetime(2025, 12, 7, 1, 0, tzinfo=UTC), PARIS) == "Sun 7 Dec 02:00 CET"
    summer = datetime(2026, 7, 14, 20, 5, tzinfo=UTC)
    assert format_instant(summer, PARIS) == "Tue 14 Jul 22:05 CEST"
    assert format_instant(summer, ZoneInfo("America/New_York")) == "Tue 14 Jul 16:05 EDT"


@pytest.mark.parametrize(
    ("minutes", "text"),
    [
        (30, "30 minutes"),
        (60, "1 hour"),
        (150, "2 hours 30 minutes"),
        (61, "1 hour 1 minute"),
        (24 * 60 + 60, "1 day 1 hour"),
    ],
)
def test_durations_read_aloud_as_well_as_texted(minutes: int, text: str) -> None:
    assert format_duration(timedelta(minutes=minutes)) == text


def test_every_placeholder_is_rendered() -> None:
    text = render("{title}: {start} to {end} ({duration}). {impact}. {link}", window())
    assert text == (
        "DB upgrade: Sun 7 Dec 02:00 CET to Sun 7 Dec 04:30 CET (2 hours 30 minutes). "
        "read-only. https://status.example.com"
    )
    assert render("{{literal}} {title}", window()) == "{literal} DB upgrade"


def test_an_unknown_placeholder_is_refused_by_name() -> None:
    with pytest.raises(TemplateError, match=r'unknown placeholder "\{strat\}"'):
        render("{title} at {strat}", window())
    with pytest.raises(TemplateError, match=r'unknown placeholder "\{title.upper\}"'):
        placeholders_in("{title.upper}")
    with pytest.raises(TemplateError, match="takes no format"):
        placeholders_in("{start:%H}")
    with pytest.raises(TemplateError, match="literal braces"):
        placeholders_in("a { b")


def test_placeholders_are_listed_once_in_order() -> None:
    assert placeholders_in("{end} {title} {end}") == ["end", "title"]


def test_optional_values_left_empty_are_named() -> None:
    assert missing_values("{title} {impact} {link}", {"impact": None, "link": "x"}) == ["impact"]
