"""Whom a notice reaches on each channel: rota people and subscribers, each number once.

People of the on-call file are told only on channels they agreed to
(`channels` of the contact); WhatsApp counts as a text message, so it
follows their `sms`. Subscribers put themselves on a list to be told, on
every channel the notice uses. Opted-out numbers (STOP) are left out of
every channel: a notice is not a page, and STOP to notices is honoured.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass

from shared.notices.model import Notice, NoticeChannel, SubscriberList
from shared.routing.config_models import Channel, Contact, Team

# The rota channel a contact must accept to get a notice on each channel.
_AGREED = {
    NoticeChannel.SMS: Channel.SMS,
    NoticeChannel.VOICE: Channel.VOICE,
    NoticeChannel.WHATSAPP: Channel.SMS,
}


@dataclass(frozen=True, slots=True)
class ChannelRecipients:
    """Numbers to send to on one channel, and the opted-out ones left out."""

    channel: NoticeChannel
    numbers: tuple[str, ...]
    opted_out: tuple[str, ...]


def audience_contacts(
    notice: Notice, contacts: Mapping[str, Contact], teams: Mapping[str, Team]
) -> list[Contact]:
    """The people of the rota a notice names, teams expanded, each once, in order."""
    names = [member for team in notice.audience.teams for member in teams[team].members]
    names += notice.audience.contacts
    return [contacts[name] for name in dict.fromkeys(names)]


def recipients(
    notice: Notice,
    contacts: Mapping[str, Contact],
    teams: Mapping[str, Team],
    lists: Mapping[str, SubscriberList],
    opted_out: Collection[str] = frozenset(),
) -> list[ChannelRecipients]:
    """Per channel of the notice: the numbers it goes to and the opted-out numbers skipped."""
    people = audience_contacts(notice, contacts, teams)
    subscribers = [number for name in notice.audience.lists for number in lists[name].numbers]
    found = []
    for channel in notice.sending_channels:
        wanted = [c.phone for c in people if c.accepts(_AGREED[channel])] + subscribers
        unique = list(dict.fromkeys(wanted))
        found.append(
            ChannelRecipients(
                channel,
                tuple(n for n in unique if n not in opted_out),
                tuple(n for n in unique if n in opted_out),
            )
        )
    return found
