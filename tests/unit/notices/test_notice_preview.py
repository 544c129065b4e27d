"""What a notice would send: recipients per channel, words, segments, time and cost."""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime

import pytest

from shared.notices.model import NoticeChannel
from shared.notices.preview import (
    CALL_SETUP_S,
    PreviewError,
    Prices,
    Rates,
    preview,
    spoken_seconds,
)
from shared.notices.recipients import recipients
from shared.notices.segments import Encoding
from shared.routing.oncall_config import OncallConfig, parse_config

CONFIG = textwrap.dedent(
    """\
    contacts:
      alice: {phone: "+14155550101"}
      bob: {phone: "+14155550102", channels: [voice]}
      carol: {phone: "+14155550103", channels: [sms]}
    teams:
      db: {members: [alice, carol]}
    policies:
      p:
        steps:
          - {targets: [alice], channels: [sms], wait: 5m}
    default_policy: p
    subscriber_lists:
      customers:
        numbers: ["+14155550103", "+14155550111", "+14155550112", "+14155550111"]
    notices:
      db-upgrade:
        title: DB upgrade
        impact: read-only
        window: {start: "2026-12-06 02:00", duration: 2h, time_zone: Europe/Paris}
        reminders: [-24h, start, end]
        audience: {teams: [db], contacts: [bob, alice], lists: [customers]}
        templates:
          sms: "{title} {start} to {end} ({duration}): {impact}"
          voice: "{title} starts {start} for {duration}."
          whatsapp: {template: maintenance, variables: ["{title}", "{start}"]}
    """
)


@pytest.fixture(scope="module")
def config() -> OncallConfig:
    return parse_config(CONFIG)


def by_channel(config: OncallConfig, opted_out: frozenset[str] = frozenset()) -> dict:
    notice = config.notices["db-upgrade"]
    found = recipients(notice, config.contacts, config.teams, config.subscriber_lists, opted_out)
    return {r.channel: r for r in found}


def test_each_number_once_per_channel_on_the_channels_people_accept(config) -> None:
    chosen = by_channel(config)
    subscribers = ("+14155550111", "+14155550112")
    # alice (team and contact) once; carol (team and list) once; bob only by voice.
    assert chosen[NoticeChannel.SMS].numbers == ("+14155550101", "+14155550103", *subscribers)
    assert chosen[NoticeChannel.VOICE].numbers == (
        "+14155550101",
        "+14155550102",
        "+14155550103",  # carol accepts only SMS, but is on the list as a subscriber
        *subscribers,
    )
    assert chosen[NoticeChannel.WHATSAPP].numbers == chosen[NoticeChannel.SMS].numbers


def test_opted_out_numbers_are_skipped_on_every_channel(config) -> None:
    chosen = by_channel(config, frozenset({"+14155550111", "+14155550102"}))
    assert chosen[NoticeChannel.SMS].opted_out == ("+14155550111",)
    assert "+14155550111" not in chosen[NoticeChannel.SMS].numbers
    assert chosen[NoticeChannel.VOICE].opted_out == ("+14155550102", "+14155550111")
    assert len(chosen[NoticeChannel.VOICE].numbers) == 3


def test_the_preview_renders_counts_and_estimates(config) -> None:
    notice = config.notices["db-upgrade"]
    chosen = list(by_channel(config, frozenset({"+14155550111"})).values())
    shown = preview(
        "db-upgrade", notice, datetime(2026, 12, 1, tzinfo=UTC), chosen, Rates(2.0, 1.0)
    )
    assert shown.window == "Sun 6 Dec 02:00 CET to Sun 6 Dec 04:00 CET"
    assert [s.id for s in shown.sends] == [
        "db-upgrade/20261206T010000Z/-24h",
        "db-upgrade/20261206T010000Z/start",
        "db-upgrade/20261206T010000Z/end",
    ]
    sms, voice, whatsapp = shown.channels
    assert sms.text == "DB upgrade Sun 6 Dec 02:00 CET to Sun 6 Dec 04:00 CET (2 hours): read-only"
    assert (sms.sms.encoding, sms.sms.segments) == (Encoding.GSM7, 1)
    assert (sms.recipients, sms.opted_out) == (3, 1)
    assert voice.text == "DB upgrade starts Sun 6 Dec 02:00 CET for 2 hours."
    assert voice.call_seconds == spoken_seconds(voice.text) == CALL_SETUP_S + 11 / 2.5
    assert whatsapp.text == "DB upgrade | Sun 6 Dec 02:00 CET"
    assert whatsapp.cost is None
    # Messages: 3 SMS + 3 WhatsApp at 2/s = 3 s; calls: 4 at 1/s, then the last one's 9.4 s.
    assert shown.duration_s == pytest.approx(4 + 9.4)
    assert shown.cost == pytest.approx(3 * 0.0050 + 4 * 0.0100)


def test_segments_and_prices_multiply(config) -> None:
    notice = config.notices["db-upgrade"]
    longer = notice.model_copy(
        update={"templates": notice.templates.model_copy(update={"sms": "{title} ✓ " * 10})}
    )
    chosen = list(by_channel(config).values())[:1]
    shown = preview(
        "db-upgrade", longer, datetime(2026, 12, 1, tzinfo=UTC), chosen, Rates(1, 1), Prices(0.1)
    )
    (sms,) = shown.channels
    assert (sms.sms.encoding, sms.sms.units, sms.sms.segments) == (Encoding.UCS2, 130, 2)
    assert shown.cost == pytest.approx(4 * 2 * 0.1)
    assert shown.duration_s == 4


def test_no_window_left_is_said(config) -> None:
    notice = config.notices["db-upgrade"]
    with pytest.raises(PreviewError, match="no window after"):
        preview("db-upgrade", notice, datetime(2026, 12, 6, 3, tzinfo=UTC), [], Rates(1, 1))
