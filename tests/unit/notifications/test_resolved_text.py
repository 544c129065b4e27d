"""The resolved-before-paged line: short, most severe first, shortened before the open alerts."""

from dataclasses import dataclass

from shared.notifications.bundling import bundle_sms_text
from shared.notifications.resolved_text import (
    SEPARATOR,
    resolved_line,
    room_for_open,
    shortest_resolved_line,
    with_resolved_line,
)
from shared.notifications.sms_text import MAX_SMS_CHARS


@dataclass
class A:
    id: int
    severity: str
    summary: str


def test_one_alert_is_named_as_the_issue_words_it():
    line = resolved_line([A(12, "warning", "disk full")], MAX_SMS_CHARS)
    assert line == "Resolved before you were paged: [WARNING] disk full (#12)."


def test_several_are_named_most_severe_first():
    line = resolved_line(
        [A(12, "warning", "disk full"), A(9, "critical", "db down")], MAX_SMS_CHARS
    )
    assert line == (
        "Resolved before you were paged: [CRITICAL] db down (#9); [WARNING] disk full (#12)."
    )


def test_what_does_not_fit_is_counted():
    alerts = [A(i, "warning", f"volume {i} degraded") for i in range(1, 11)]
    line = resolved_line(alerts, 120)
    assert len(line) <= 120
    assert line.startswith("Resolved before you were paged: [WARNING] volume 1 degraded (#1)")
    named = line.count("(#")
    assert named >= 1
    assert line.endswith(f"; and {10 - named} more.")


def test_a_long_summary_is_cut_rather_than_dropped():
    line = resolved_line([A(3, "critical", "x" * 500), A(4, "info", "y")], 90)
    assert len(line) <= 90
    assert line.startswith("Resolved before you were paged: [CRITICAL] xxxxxxxx")
    assert "…" in line and "(#3)" in line and line.endswith("; and 1 more.")


def test_with_little_room_only_a_count_or_a_number():
    three = [A(1, "info", "a" * 50), A(2, "info", "b" * 50), A(3, "info", "c" * 50)]
    assert resolved_line(three, 45) == "Resolved before you were paged: 3 alerts."
    assert resolved_line([A(77, "info", "z" * 80)], 40) == "Resolved before you were paged: #77."
    assert resolved_line(three, 20) == ""
    assert resolved_line([], 300) == ""


def test_the_open_text_is_kept_whole_and_the_line_takes_what_is_left():
    open_text = "o" * 200
    resolved = [A(i, "warning", f"volume {i} degraded") for i in range(1, 6)]
    message = with_resolved_line(open_text, resolved)
    assert message is not None
    assert message.startswith(open_text + SEPARATOR + "Resolved before you were paged: ")
    assert len(message) <= MAX_SMS_CHARS
    assert "more." in message


def test_no_room_at_all_leaves_the_text_alone():
    assert with_resolved_line("o" * (MAX_SMS_CHARS - 10), [A(1, "info", "gone")]) is None


def test_a_full_bundle_leaves_room_for_the_shortest_line():
    firing = [A(i, "critical", f"replica {i} lagging behind") for i in range(100, 160)]
    resolved = [A(i, "warning", f"disk {i} full") for i in range(1, 4)]
    text = bundle_sms_text(firing, 7, limit=room_for_open(resolved))
    message = with_resolved_line(text, resolved)
    assert message is not None and len(message) <= MAX_SMS_CHARS
    assert message.startswith("60 alerts firing: ")
    assert "Reply 7A to acknowledge all" in message
    open_part, line = message.split(SEPARATOR)
    assert open_part == text  # the open alerts' text as composed, whole
    assert line.startswith("Resolved before you were paged: ")
    assert len(line) >= len(shortest_resolved_line(resolved))


def test_no_resolved_alerts_take_no_room():
    assert room_for_open([]) == MAX_SMS_CHARS
