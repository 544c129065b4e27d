"""What a notice would do, before anything is sent: words, segments, people, time, money.

Sending to thousands cannot be taken back, so `alert-dispatch notice preview`
shows every rendered message, how many SMS segments and in which encoding,
how many numbers each channel reaches and how many opted out, how long the
sending takes within the account's rates and what it costs. Durations and
costs are estimates: pages go first and take what they need of the rates,
calls last as long as people listen, and prices differ by destination.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

from shared.notices.checks import window_text
from shared.notices.model import Notice, NoticeChannel
from shared.notices.recipients import ChannelRecipients
from shared.notices.schedule import DueSend, Occurrence, next_occurrence, sends_of
from shared.notices.segments import SmsSize, sms_size
from shared.notices.templates import format_instant, render

# Text-to-speech at about 150 words a minute, after the phone rang and was answered.
SPOKEN_WORDS_PER_SECOND = 2.5
CALL_SETUP_S = 5.0


class PreviewError(ValueError):
    """The preview cannot be made (no window left); the message says why."""


@dataclass(frozen=True, slots=True)
class Prices:
    """Estimates per SMS segment and per started call minute; set your own."""

    sms_segment: float = 0.0050
    call_minute: float = 0.0100
    currency: str = "USD"


@dataclass(frozen=True, slots=True)
class Rates:
    """The account's limits (SMS_PER_SECOND, CALLS_PER_SECOND)."""

    sms_per_second: float
    calls_per_second: float


@dataclass(frozen=True, slots=True)
class ChannelPreview:
    channel: NoticeChannel
    text: str  # for WhatsApp: the template's variables, rendered
    recipients: int
    opted_out: int
    sms: SmsSize | None = None
    call_seconds: float | None = None  # the spoken text, estimated
    cost: float | None = None  # None: not estimated (WhatsApp prices per conversation)


@dataclass(frozen=True, slots=True)
class Preview:
    name: str
    notice: Notice
    occurrence: Occurrence
    sends: list[DueSend]
    channels: list[ChannelPreview]
    duration_s: float  # one reminder sent to everyone, at the account's rates
    cost: float  # one reminder, the estimated channels

    @property
    def window(self) -> str:
        zone = self.notice.window.zone
        start = format_instant(self.occurrence.start, zone)
        return f"{start} to {format_instant(self.occurrence.end, zone)}"


def spoken_seconds(text: str) -> float:
    return CALL_SETUP_S + len(text.split()) / SPOKEN_WORDS_PER_SECOND


def _channel(
    text_of: dict[NoticeChannel, str], chosen: ChannelRecipients, prices: Prices
) -> ChannelPreview:
    count, text = len(chosen.numbers), text_of[chosen.channel]
    skipped = len(chosen.opted_out)
    if chosen.channel is NoticeChannel.SMS:
        size = sms_size(text)
        cost = count * size.segments * prices.sms_segment
        return ChannelPreview(chosen.channel, text, count, skipped, sms=size, cost=cost)
    if chosen.channel is NoticeChannel.VOICE:
        seconds = spoken_seconds(text)
        cost = count * math.ceil(seconds / 60) * prices.call_minute
        return ChannelPreview(chosen.channel, text, count, skipped, call_seconds=seconds, cost=cost)
    return ChannelPreview(chosen.channel, text, count, skipped)


def _texts(notice: Notice, occurrence: Occurrence) -> dict[NoticeChannel, str]:
    values = window_text(notice, occurrence.start, occurrence.end)
    templates, texts = notice.templates, {}
    if templates.sms is not None:
        texts[NoticeChannel.SMS] = render(templates.sms, values)
    if templates.voice is not None:
        texts[NoticeChannel.VOICE] = render(templates.voice, values)
    if templates.whatsapp is not None:
        filled = [render(v, values) for v in templates.whatsapp.variables]
        texts[NoticeChannel.WHATSAPP] = " | ".join(filled)
    return texts


def estimated_seconds(channels: list[ChannelPreview], rates: Rates) -> float:
    """Messages (SMS and WhatsApp share the messaging rate) and calls go side by side;
    the last call still has to be listened to."""
    messages = sum(c.recipients for c in channels if c.channel is not NoticeChannel.VOICE)
    voice = [c for c in channels if c.channel is NoticeChannel.VOICE and c.recipients]
    calls = sum(c.recipients for c in voice) / rates.calls_per_second
    calls += max((c.call_seconds or 0.0 for c in voice), default=0.0)
    return max(messages / rates.sms_per_second, calls)


def preview(
    name: str,
    notice: Notice,
    at: datetime,
    recipients: list[ChannelRecipients],
    rates: Rates,
    prices: Prices | None = None,
) -> Preview:
    """The window running at `at` or next after it, rendered for each channel and costed."""
    prices = prices or Prices()
    occurrence = next_occurrence(notice.window, at)
    if occurrence is None:
        raise PreviewError(f'notice "{name}" has no window after {at:%Y-%m-%d %H:%M %Z}')
    texts = _texts(notice, occurrence)
    channels = [_channel(texts, chosen, prices) for chosen in recipients]
    return Preview(
        name=name,
        notice=notice,
        occurrence=occurrence,
        sends=sends_of(name, notice, occurrence),
        channels=channels,
        duration_s=estimated_seconds(channels, rates),
        cost=sum(c.cost or 0.0 for c in channels),
    )
