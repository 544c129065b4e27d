"""Everyone one send reaches, as rows to write: number, channel, contact, sender, opted out.

Pure. Built on shared.notices.recipients (who is told on which channel, each
number once). The on-call file is the directory: a notice created by API may
name a team, contact or list since removed from the file; those names are
left out (and reported) rather than stopping the send for everyone else.
Each number is given its sender from the pool (`sender_for`), the number pages
to that person also come from.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

from shared.notices.model import Notice, NoticeChannel
from shared.notices.recipients import audience_contacts, recipients
from shared.routing.config_models import OncallConfig
from shared.sending.limits import sender_for


@dataclass(frozen=True, slots=True)
class Reach:
    """One number on one channel."""

    channel: NoticeChannel
    number: str
    contact: str | None
    sender: str | None
    opted_out: bool


@dataclass(frozen=True, slots=True)
class Reached:
    items: tuple[Reach, ...]
    channels: tuple[NoticeChannel, ...]
    unknown_names: tuple[str, ...]  # audience names the file no longer has

    def sendable(self, channels: Collection[NoticeChannel]) -> list[Reach]:
        return [item for item in self.items if item.channel in channels]

    def channels_other_than(self, channels: Collection[NoticeChannel]) -> tuple[str, ...]:
        return tuple(c.value for c in self.channels if c not in channels)


def known_audience(notice: Notice, config: OncallConfig) -> tuple[Notice, tuple[str, ...]]:
    """The notice with only the teams, contacts and lists the file has; the names dropped."""
    audience = notice.audience
    teams = tuple(t for t in audience.teams if t in config.teams)
    contacts = tuple(c for c in audience.contacts if c in config.contacts)
    lists = tuple(name for name in audience.lists if name in config.subscriber_lists)
    dropped = tuple(
        name
        for name in (*audience.teams, *audience.contacts, *audience.lists)
        if name not in (*teams, *contacts, *lists)
    )
    if not dropped:
        return notice, ()
    kept = audience.model_copy(update={"teams": teams, "contacts": contacts, "lists": lists})
    return notice.model_copy(update={"audience": kept}), dropped


def reach(
    notice: Notice, config: OncallConfig, opted_out: Collection[str], senders: Sequence[str]
) -> Reached:
    """Every (channel, number) the notice reaches, opted-out ones marked, in audience order."""
    usable, unknown = known_audience(notice, config)
    per_channel = recipients(
        usable, config.contacts, config.teams, config.subscriber_lists, opted_out
    )
    names = {c.phone: c.name for c in audience_contacts(usable, config.contacts, config.teams)}
    items = []
    for chosen in per_channel:
        for number, skipped in [
            *((n, False) for n in chosen.numbers),
            *((n, True) for n in chosen.opted_out),
        ]:
            sender = sender_for(number, senders) if senders else None
            items.append(Reach(chosen.channel, number, names.get(number), sender, skipped))
    return Reached(tuple(items), tuple(c.channel for c in per_channel), unknown)
