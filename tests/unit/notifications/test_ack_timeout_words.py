"""What a page sent because an acknowledgement timed out says first, by SMS and by
call: who acknowledged, how long ago, and that it is not resolved (fixed clock)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

from shared.alerts.ack_timed_out import ack_timed_out
from shared.core.models import Alert
from shared.notifications.sms_text import MAX_SMS_CHARS, alert_sms_text
from shared.notifications.voice_xml import alert_call_xml

NOW = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)
ACTION = "https://hooks.example.com/plivo/voice/input?n=9"


def alert(
    status: str = "triggered",
    acked_ago: timedelta | None = timedelta(minutes=30),
    by: str = "alice",
    summary: str = "disk full on db-1",
) -> Alert:
    return Alert(
        id=42,
        summary=summary,
        severity="critical",
        source="prometheus",
        status=status,
        acknowledged_at=NOW - acked_ago if acked_ago is not None else None,
        acknowledged_by=by,
        acknowledged_via="sms",
    )


def test_the_sms_begins_with_the_timed_out_acknowledgement() -> None:
    text = alert_sms_text(alert(), reply_code=7, now=NOW)
    assert text.startswith(
        "ACK TIMED OUT (acked 30 min ago by alice, not resolved): "
        "[CRITICAL] disk full on db-1 (alert #42, prometheus)"
    )
    assert text.endswith("Reply 7A to acknowledge, 7E to escalate.")


def test_it_stays_within_the_sms_limit_keeping_the_announcement_whole() -> None:
    text = alert_sms_text(
        alert(summary="x" * 400, by="on-call phone +14155550301 " + "y" * 80),
        reply_code=12,
        changes=["deployed api v2.3 4 min ago", "z" * 200],
        now=NOW,
    )
    assert len(text) <= MAX_SMS_CHARS
    assert text.startswith("ACK TIMED OUT (acked 30 min ago by on-call phone +1********01 ")
    assert "not resolved): [CRITICAL] xxx" in text
    assert "+14155550301" not in text


def test_ages_read_as_the_recent_changes_do() -> None:
    assert "(acked just now by alice," in alert_sms_text(
        alert(acked_ago=timedelta(seconds=5)), now=NOW
    )
    assert "(acked 1 h 5 min ago by alice," in alert_sms_text(
        alert(acked_ago=timedelta(minutes=65)), now=NOW
    )


def test_any_other_page_says_nothing_of_it() -> None:
    for other in (alert(status="acknowledged"), alert(acked_ago=None), alert(status="resolved")):
        assert ack_timed_out(other, NOW) is None
        assert alert_sms_text(other, now=NOW).startswith("[CRITICAL]")
    assert alert_sms_text(alert()).startswith("[CRITICAL]")  # words planned before sending


def _spoken(xml: str) -> str:
    return ET.fromstring(xml).find("GetInput/Speak").text  # type: ignore[union-attr,return-value]


def test_the_call_says_it_first() -> None:
    timed_out = ack_timed_out(alert(by="alice <ops>"), NOW)
    spoken = _spoken(
        alert_call_xml(42, "critical", "db", "disk full", ACTION, ack_timed_out=timed_out)
    )
    assert spoken.startswith(
        "Acknowledgement timed out: acknowledged 30 minutes ago by alice <ops>, not resolved. "
        "Critical alert on db. disk full."
    )
    plain = _spoken(alert_call_xml(42, "critical", "db", "disk full", ACTION))
    assert plain.startswith("Critical alert on db.")
