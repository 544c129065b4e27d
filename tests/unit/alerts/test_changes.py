"""Which recent changes an alert shows, and their words in the view, an SMS and a call."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest

from shared.alerts.changes import (
    DEFAULT_WINDOW,
    MAX_SHOWN,
    age_text,
    alert_service_keys,
    change_note,
    recent_changes,
    service_key,
)
from shared.core.models import Alert
from shared.notifications.sms_text import MAX_CHANGES_CHARS, MAX_SMS_CHARS, alert_sms_text
from shared.notifications.voice_xml import alert_call_xml

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


@dataclass
class FakeAlert:
    source: str = "api"
    labels: dict[str, str] = field(default_factory=dict)
    integration: str = "api"
    created_at: datetime = NOW - timedelta(minutes=1)
    resolved_at: datetime | None = None


@dataclass
class FakeChange:
    id: int
    summary: str = "deployed api v2.3"
    source: str | None = None
    service: str | None = "api"
    scope: str = "api"
    changed_at: datetime = NOW - timedelta(minutes=4)


# --------------------------------------------------------------------------- age


@pytest.mark.parametrize(
    ("seconds", "short", "spoken"),
    [
        (0, "just now", "just now"),
        (59.9, "just now", "just now"),
        (-30, "just now", "just now"),
        (60, "1 min ago", "1 minute ago"),
        (4 * 60 + 59, "4 min ago", "4 minutes ago"),
        (59 * 60, "59 min ago", "59 minutes ago"),
        (3600, "1 h ago", "1 hour ago"),
        (3600 + 5 * 60, "1 h 5 min ago", "1 hour 5 minutes ago"),
        (2 * 3600 + 60, "2 h 1 min ago", "2 hours 1 minute ago"),
        (86400 + 3600, "1 d ago", "1 day ago"),
        (3 * 86400, "3 d ago", "3 days ago"),
    ],
)
def test_age_is_said_in_whole_units(seconds, short, spoken):
    assert age_text(seconds) == short
    assert age_text(seconds, spoken=True) == spoken


def test_note_is_the_summary_and_its_age():
    assert change_note(FakeChange(1), NOW) == "deployed api v2.3 4 min ago"
    assert change_note(FakeChange(1), NOW, spoken=True) == "deployed api v2.3 4 minutes ago"


def test_long_summary_is_shortened_on_one_line():
    note = change_note(FakeChange(1, summary="rolled\nout " + "x" * 200), NOW)
    assert note == "rolled out " + "x" * 48 + "… 4 min ago"


# --------------------------------------------------------------------------- matching


def test_service_names_compare_case_insensitively_with_spaces_folded():
    assert service_key("  Checkout  API ") == service_key("checkout api") == "checkout api"
    assert service_key("") is None and service_key("   ") is None and service_key(None) is None


def test_an_alert_goes_by_its_service_label_source_label_and_source():
    alert = FakeAlert(source="pagerduty", labels={"service": "API", "source": "web-1", "x": "y"})
    assert alert_service_keys(alert) == {"api", "web-1", "pagerduty"}


@pytest.mark.parametrize(
    ("alert", "change"),
    [
        (FakeAlert(source="API"), FakeChange(1, service="api")),
        (FakeAlert(labels={"service": "Api"}), FakeChange(1, service=None, source="API ")),
        (
            FakeAlert(source="x", labels={"source": "db1.example.com"}),
            FakeChange(1, source="DB1.example.com", service=None),
        ),
    ],
)
def test_a_change_to_the_same_service_is_shown(alert, change):
    assert recent_changes(alert, [change], now=NOW) == [change]


@pytest.mark.parametrize(
    "change",
    [
        FakeChange(1, service="billing"),
        FakeChange(2, service=None, source=None),
        FakeChange(3, scope="pagerduty"),
        FakeChange(
            4, changed_at=NOW - timedelta(minutes=1) - DEFAULT_WINDOW - timedelta(seconds=1)
        ),
        FakeChange(5, changed_at=NOW + timedelta(seconds=1)),
    ],
    ids=["other service", "no service", "other scope", "before the window", "after now"],
)
def test_other_changes_are_not_shown(change):
    assert recent_changes(FakeAlert(), [change], now=NOW) == []


def test_window_reaches_back_from_when_the_alert_began():
    alert = FakeAlert(created_at=NOW - timedelta(hours=2))
    inside = FakeChange(1, changed_at=alert.created_at - timedelta(minutes=29))
    outside = FakeChange(2, changed_at=alert.created_at - timedelta(minutes=31))
    assert recent_changes(alert, [inside, outside], now=NOW) == [inside]
    assert recent_changes(alert, [outside], now=NOW, window=timedelta(minutes=45)) == [outside]


def test_a_resolved_alert_does_not_collect_later_changes():
    alert = FakeAlert(created_at=NOW - timedelta(hours=2), resolved_at=NOW - timedelta(hours=1))
    before = FakeChange(1, changed_at=NOW - timedelta(minutes=90))
    after = FakeChange(2, changed_at=NOW - timedelta(minutes=30))
    assert recent_changes(alert, [before, after], now=NOW) == [before]


def test_newest_first_and_at_most_three():
    changes = [FakeChange(i, changed_at=NOW - timedelta(minutes=10 - i)) for i in range(6)]
    shown = recent_changes(FakeAlert(), changes, now=NOW)
    assert [c.id for c in shown] == [5, 4, 3]
    assert len(shown) == MAX_SHOWN


# --------------------------------------------------------------------------- SMS and voice


def sms_alert(summary: str = "Disk full on db1") -> Alert:
    return Alert(id=42, severity="critical", summary=summary, source="api")


def test_sms_without_changes_is_unchanged():
    expected = (
        "[CRITICAL] Disk full on db1 (alert #42, api) Reply 3A to acknowledge, 3E to escalate."
    )
    assert alert_sms_text(sms_alert(), reply_code=3) == expected
    assert alert_sms_text(sms_alert(), reply_code=3, changes=[]) == expected
    assert alert_sms_text(sms_alert(), reply_code=3, changes=None) == expected


def test_sms_says_recent_changes_on_one_line_before_the_reply_instructions():
    text = alert_sms_text(
        sms_alert(), reply_code=3, changes=["deployed api v2.3 4 min ago", "config x 9 min ago"]
    )
    assert text == (
        "[CRITICAL] Disk full on db1 (alert #42, api)\n"
        "Recent changes: deployed api v2.3 4 min ago; config x 9 min ago."
        " Reply 3A to acknowledge, 3E to escalate."
    )
    single = alert_sms_text(sms_alert(), changes=["deployed api v2.3 4 min ago"])
    assert single.endswith("\nRecent change: deployed api v2.3 4 min ago.")


def test_sms_stays_within_its_budget_and_keeps_the_instructions():
    notes = ["x" * 60 + " 4 min ago", "y" * 60 + " 9 min ago", "z" * 60 + " 12 min ago"]
    text = alert_sms_text(sms_alert("s" * 2000), reply_code=123456, changes=notes)
    assert len(text) <= MAX_SMS_CHARS
    assert text.endswith("Reply 123456A to acknowledge, 123456E to escalate.")
    line = text.split("\n")[1].split(" Reply ")[0]
    # The first change always shows (shortened if need be); the others only when they fit.
    assert line == "Recent change: " + notes[0] + "."
    assert len(line) <= MAX_CHANGES_CHARS
    long_one = alert_sms_text(sms_alert(), changes=["w" * 300])
    assert len(long_one.split("\n")[1]) == MAX_CHANGES_CHARS


def test_call_says_recent_changes_after_the_alert_and_before_the_menu():
    root = ET.fromstring(
        alert_call_xml(
            7,
            "critical",
            "api",
            "Errors up",
            "https://x/in?n=1",
            changes=["deploy <v2> & co 4 minutes ago"],
        )
    )
    said = root.find("GetInput/Speak").text  # type: ignore[union-attr]
    assert said == (
        "Critical alert on api. Errors up. Alert 7. "
        "Recent change: deploy <v2> & co 4 minutes ago. "
        "Press 1 to acknowledge, 2 to escalate, or 9 to repeat."
    )
    plain = alert_call_xml(7, "critical", "api", "Errors up", "https://x/in?n=1")
    assert "Recent change" not in plain
