"""Bundle wording: most severe first, fits two SMS units, counts what did not fit."""

from dataclasses import dataclass

from shared.notifications.bundling import bundle_sms_text, most_severe_first
from shared.notifications.sms_text import MAX_SMS_CHARS


@dataclass
class A:
    id: int
    severity: str
    summary: str


def test_most_severe_first_then_oldest():
    alerts = [
        A(3, "warning", "w"),
        A(2, "critical", "c2"),
        A(1, "critical", "c1"),
        A(4, "info", "i"),
    ]
    assert [a.id for a in most_severe_first(alerts)] == [1, 2, 3, 4]


def test_small_bundle_lists_every_alert_and_the_code():
    text = bundle_sms_text([A(5, "warning", "disk 91%"), A(6, "critical", "db down")], 7)
    assert text == (
        "2 alerts firing: [CRITICAL] db down (#6); [WARNING] disk 91% (#5). "
        "Reply 7A to acknowledge all, 7E to escalate all."
    )


def test_storm_bundle_fits_two_units_and_counts_the_rest():
    alerts = [
        A(i, "critical" if i % 7 == 0 else "warning", f"replica {i} lagging behind")
        for i in range(1, 201)
    ]
    text = bundle_sms_text(alerts, 12)
    assert len(text) <= MAX_SMS_CHARS
    assert text.startswith("200 alerts firing: [CRITICAL] replica 7 lagging")
    shown = text.count("(#")
    assert f"and {200 - shown} more." in text
    assert text.endswith("Reply 12A to acknowledge all, 12E to escalate all.")


def test_one_huge_summary_still_names_the_alert():
    text = bundle_sms_text([A(1, "critical", "x" * 2000), A(2, "info", "y" * 2000)], 3)
    assert len(text) <= MAX_SMS_CHARS
    assert "#1" in text and "and 1 more" in text
