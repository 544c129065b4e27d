"""Checks on notices that need more than one field, or the time of the check.

Each finding is (path in the file, message), placed on its line by the
on-call file's checker like every other problem. `notice_problems` holds
for the file whenever it is read; `stale_notice_problems` depends on `now`
and is asked only by `config check`: a notice whose window passed must not
stop paging from starting, yet the person editing the file should hear of it.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping
from datetime import datetime

from shared.notices.model import Notice, NoticeChannel, SubscriberList
from shared.notices.schedule import first_occurrence
from shared.notices.segments import TooManySegments, checked_sms_size, non_gsm7_characters
from shared.notices.subscribers import SubscriberCsv
from shared.notices.templates import WindowText, missing_values, render

Loc = tuple[str | int, ...]
Finding = tuple[Loc, str]


def notice_problems(
    notices: Mapping[str, Notice], list_names: Collection[str]
) -> Iterator[Finding]:
    """Channels without their template, empty placeholders, oversized SMS, unknown lists."""
    for name, notice in notices.items():
        at: Loc = ("notices", name)
        yield from _channels(notice, at)
        yield from _empty_placeholders(notice, at)
        yield from _sms_size(notice, at)
        for index, wanted in enumerate(notice.audience.lists):
            if wanted not in list_names:
                yield (*at, "audience", "lists", index), f'unknown subscriber list "{wanted}"'


def _channels(notice: Notice, at: Loc) -> Iterator[Finding]:
    given = notice.templates.given()
    if notice.channels is None:
        if not given:
            yield (*at, "templates"), "give a template for at least one of sms, voice, whatsapp"
        return
    for index, channel in enumerate(notice.channels):
        if channel not in given:
            yield (*at, "channels", index), f"no `templates.{channel}` for this channel"
    for channel in given:
        if channel not in notice.channels:
            yield (*at, "templates", channel.value), f"{channel} is not in `channels`"


def _texts(notice: Notice) -> Iterator[tuple[Loc, str]]:
    """Every template text of a notice, with its path under the notice."""
    templates = notice.templates
    for channel in (NoticeChannel.SMS, NoticeChannel.VOICE):
        text = getattr(templates, channel.value)
        if text is not None:
            yield ("templates", channel.value), text
    if templates.whatsapp is not None:
        for index, text in enumerate(templates.whatsapp.variables):
            yield ("templates", "whatsapp", "variables", index), text


def _empty_placeholders(notice: Notice, at: Loc) -> Iterator[Finding]:
    values = {"impact": notice.impact, "link": notice.link}
    for loc, text in _texts(notice):
        for name in missing_values(text, values):
            yield (*at, *loc), f'uses "{{{name}}}" but the notice has no `{name}`'


def window_text(notice: Notice, start: datetime, end: datetime) -> WindowText:
    zone = notice.window.zone
    return WindowText(notice.title, start, end, zone, notice.impact, notice.link)


def _sms_size(notice: Notice, at: Loc) -> Iterator[Finding]:
    """Counted on the first window: later ones differ by a digit of the day at most."""
    if notice.templates.sms is None:
        return
    first = first_occurrence(notice.window)
    text = render(notice.templates.sms, window_text(notice, first.start, first.end))
    try:
        checked_sms_size(text)
    except TooManySegments as exc:
        wide = non_gsm7_characters(text)
        hint = f" (UCS-2 because of {' '.join(repr(c) for c in wide[:5])})" if wide else ""
        yield (*at, "templates", "sms"), f"{exc}{hint}"


def stale_notice_problems(notices: Mapping[str, Notice], now: datetime) -> Iterator[Finding]:
    """One-off windows already over at `now`: nothing of them would ever be sent."""
    for name, notice in notices.items():
        window = notice.window
        if window.recurring:
            continue
        occurrence = first_occurrence(window)
        if occurrence.end <= now:
            ended = f"{occurrence.end.astimezone(window.zone):%Y-%m-%d %H:%M %Z}"
            yield ("notices", name, "window", "start"), f"the window is in the past (ended {ended})"


def subscriber_csv_problems(
    lists: Mapping[str, SubscriberList], read: Mapping[str, SubscriberCsv]
) -> Iterator[Finding]:
    """Bad rows of each list's CSV, with the file and the row's line (the rest is kept)."""
    for name, parsed in read.items():
        for row in parsed.bad:
            yield ("subscriber_lists", name, "csv"), f"{lists[name].csv} {row}"
