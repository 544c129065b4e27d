"""The words for alerts resolved before a person's page left: one short line at the
end of the next message that goes to them anyway.

Pure. The open alerts are what the person must act on, so their text is
composed first and this line takes the room that is left: it is shortened
first (fewer alerts named, the rest counted; then one summary cut; then only a
count), and a bundle leaves room for its shortest form (`room_for_open`).
"""

from __future__ import annotations

from collections.abc import Sequence

from shared.notifications.bundling import BundledAlert, most_severe_first
from shared.notifications.sms_text import MAX_SMS_CHARS

LABEL = "Resolved before you were paged: "
SEPARATOR = "\n"
# A summary cut shorter than this says nothing; the line falls back to a count.
MIN_SUMMARY_CHARS = 8


def _entry(alert: BundledAlert, summary: str | None = None) -> str:
    text = alert.summary if summary is None else summary
    return f"[{alert.severity.upper()}] {text} (#{alert.id})"


def _worded(entries: Sequence[str], rest: int) -> str:
    more = f"; and {rest} more." if rest else "."
    return LABEL + "; ".join(entries) + more


def shortest_resolved_line(alerts: Sequence[BundledAlert]) -> str:
    """The line at its shortest: the one alert's number, or how many there were."""
    if len(alerts) == 1:
        return f"{LABEL}#{alerts[0].id}."
    return f"{LABEL}{len(alerts)} alerts."


def _greedy(ordered: Sequence[BundledAlert], room: int) -> str:
    """As many whole entries as fit, most severe first, the rest counted; "" if none."""
    entries: list[str] = []
    for alert in ordered:
        candidate = [*entries, _entry(alert)]
        if len(_worded(candidate, len(ordered) - len(candidate))) > room:
            break
        entries.append(candidate[-1])
    return _worded(entries, len(ordered) - len(entries)) if entries else ""


def _first_cut(ordered: Sequence[BundledAlert], room: int) -> str:
    """The first entry with its summary cut to fit, the rest counted; "" if too little fits."""
    first, rest = ordered[0], len(ordered) - 1
    overhead = len(_worded([_entry(first, "")], rest)) + 1  # one char for the "…"
    keep = room - overhead
    if keep < MIN_SUMMARY_CHARS:
        return ""
    return _worded([_entry(first, first.summary[:keep] + "…")], rest)


def resolved_line(alerts: Sequence[BundledAlert], room: int) -> str:
    """'Resolved before you were paged: [WARNING] disk full (#12); and 2 more.' within
    `room` characters, the most severe named first; "" when nothing fits (or no alerts)."""
    if not alerts:
        return ""
    ordered = most_severe_first(alerts)
    for line in (_greedy(ordered, room), _first_cut(ordered, room)):
        if line:
            return line
    shortest = shortest_resolved_line(alerts)
    return shortest if len(shortest) <= room else ""


def room_for_open(alerts: Sequence[BundledAlert], limit: int = MAX_SMS_CHARS) -> int:
    """How long the open alerts' text of a bundle may be, so the resolved line
    still fits in its shortest form; the whole `limit` when there is none."""
    if not alerts:
        return limit
    return limit - len(SEPARATOR) - len(shortest_resolved_line(alerts))


def with_resolved_line(
    text: str, alerts: Sequence[BundledAlert], limit: int = MAX_SMS_CHARS
) -> str | None:
    """The message with the line added after the open alerts' text (which is kept
    whole); None when not even the shortest line fits beside it."""
    line = resolved_line(alerts, limit - len(text) - len(SEPARATOR))
    return text + SEPARATOR + line if line else None
