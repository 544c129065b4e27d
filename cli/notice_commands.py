"""`alert-dispatch notice ...`: maintenance notices of the on-call file and of the API.

`list` and `preview` are here: nothing in them sends. `preview` shows what a
notice would send, to whom, how long it would take and what it would cost,
before anyone is told anything. `create | show | update | cancel` are in
cli.notice_manage, `status` in cli.notice_status. Bad input is one line
naming it and exit status 2, like every subcommand.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

from cli.common import settings_or_exit
from cli.notice_common import config_at, fail, file_option
from cli.notice_manage import cancel_notice, create_notice, show_notice, update_notice
from cli.notice_status import notice_status

if TYPE_CHECKING:
    from collections.abc import Collection

    from shared.notices.model import Notice
    from shared.notices.preview import Preview, Prices, Rates
    from shared.routing.config_models import OncallConfig


@click.group("notice")
def notice() -> None:
    """Maintenance notices: the on-call file's (`notices:`) and those made by API or here."""


@notice.command("list")
@file_option
def list_notices(path: Path | None) -> None:
    """Every notice, the file's and those made by API, with its next window."""
    config, path = config_at(path)
    now = datetime.now(UTC)
    found = {name: ("file", item, None) for name, item in config.notices.items()}
    found.update(_api_notices(set(found)))
    if not found:
        click.echo(f"no notices in {path} and none made by API")
        return
    click.echo(
        f"{'NAME':<24} {'SOURCE':<6} {'KIND':<8} {'CHANNELS':<20} {'REMINDERS':<22} NEXT WINDOW"
    )
    for name, (source, item, cancelled) in found.items():
        when = f"cancelled {cancelled:%Y-%m-%d %H:%M} UTC" if cancelled else _next_window(item, now)
        channels = ",".join(item.sending_channels)
        reminders = ",".join(r.key for r in item.ordered_reminders)
        kind = item.window.kind
        click.echo(f"{name:<24} {source:<6} {kind:<8} {channels:<20} {reminders:<22} {when}")


def _next_window(item: Notice, now: datetime) -> str:
    from shared.notices.schedule import next_occurrence
    from shared.notices.templates import format_duration, format_instant

    window = item.window
    upcoming = next_occurrence(window, now)
    if upcoming is None:
        return "none: all windows are over"
    start = format_instant(upcoming.start, window.zone)
    return f"{start} for {format_duration(window.length)} ({window.time_zone})"


def _api_notices(
    file_names: set[str],
) -> dict[str, tuple[str, Notice, datetime | None]]:
    """Notices made by API, from the database; none (said on stderr) when it cannot be read."""
    from pydantic import ValidationError
    from sqlalchemy import select
    from sqlalchemy.exc import SQLAlchemyError

    from shared.core.db import session_scope
    from shared.core.models import NoticeRecord
    from shared.notices.definitions import stored_notice
    from shared.notices.store import API

    found: dict[str, tuple[str, Notice, datetime | None]] = {}
    try:
        with session_scope(settings_or_exit().effective_database_url) as session:
            rows = session.scalars(select(NoticeRecord).where(NoticeRecord.source == API)).all()
    except SQLAlchemyError as exc:
        reason = str(exc).splitlines()[0]
        click.echo(f"alert-dispatch: notices made by API not listed ({reason})", err=True)
        return found
    for row in sorted(rows, key=lambda r: r.name):
        if row.name in file_names or row.definition is None:
            continue
        try:
            found[row.name] = (API, stored_notice(row.definition), row.cancelled_at)
        except ValidationError:
            click.echo(f"alert-dispatch: notice {row.name}: stored definition unreadable", err=True)
    return found


def _at(text: str | None, item: Notice) -> datetime:
    """--at: an ISO time; without an offset, a wall time in the notice's own zone."""
    if text is None:
        return datetime.now(UTC)
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        fail(f'--at "{text}" is not an ISO time like 2026-12-05T09:00 or 2026-12-05T08:00Z')
    return at.replace(tzinfo=item.window.zone) if at.tzinfo is None else at


def _audience_from_database(
    database_url: str, config: OncallConfig, lists: Collection[str]
) -> tuple[OncallConfig, frozenset[str]]:
    """What a send would read at its start: the subscriber lists kept in the database
    added to the file's, and every number opted out of notices (STOP to a page or to
    a notice), so the preview counts the recipients the send will have."""
    from sqlalchemy.exc import SQLAlchemyError

    from shared.core.db import session_scope
    from shared.notices.store import opted_out_numbers
    from shared.notices.subscriber_store import with_stored_lists

    try:
        with session_scope(database_url) as session:
            return with_stored_lists(session, config, lists), opted_out_numbers(session)
    except SQLAlchemyError as exc:
        reason = str(exc).splitlines()[0]
        fail(f"cannot read opt-outs and lists ({reason}); run: alert-dispatch db upgrade")


@notice.command("preview")
@click.argument("name")
@click.option(
    "--at",
    "at_text",
    help="Preview the window running then or next (default: now); an ISO time, "
    "in the notice's time zone unless it carries an offset.",
)
@file_option
@click.option(
    "--sms-price",
    type=click.FloatRange(min=0),
    help="Price per SMS segment in USD, for the estimate (default: printed with it).",
)
@click.option(
    "--minute-price",
    type=click.FloatRange(min=0),
    help="Price per started call minute in USD, for the estimate (default: printed with it).",
)
def preview_notice(
    name: str,
    at_text: str | None,
    path: Path | None,
    sms_price: float | None,
    minute_price: float | None,
) -> None:
    """What notice NAME would send, to whom, in how long, at what cost. Sends nothing."""
    from shared.notices.preview import PreviewError, Prices, Rates, preview
    from shared.notices.recipients import recipients

    config, path = config_at(path)
    item = config.notices.get(name)
    if item is None:
        made = {key: found[1] for key, found in _api_notices(set(config.notices)).items()}
        item = made.get(name)
        if item is None:
            known = ", ".join([*config.notices, *made]) or "none"
            fail(f'no notice "{name}" in {path} nor made by API (known: {known})')
    at = _at(at_text, item)
    settings = settings_or_exit()
    config, opted_out = _audience_from_database(
        settings.effective_database_url, config, item.audience.lists
    )
    chosen = recipients(item, config.contacts, config.teams, config.subscriber_lists, opted_out)
    # Each sender number has its own pace too: a small pool may be slower than the account.
    senders_rate = settings.sender_sms_per_second * len(settings.sender_numbers)
    rates = Rates(min(settings.sms_per_second, senders_rate), settings.calls_per_second)
    prices = Prices()
    prices = Prices(
        sms_price if sms_price is not None else prices.sms_segment,
        minute_price if minute_price is not None else prices.call_minute,
    )
    try:
        shown = preview(name, item, at, chosen, rates, prices)
    except PreviewError as exc:
        fail(str(exc))
    for line in preview_lines(shown, rates, prices):
        click.echo(line)


def preview_lines(shown: Preview, rates: Rates, prices: Prices) -> list[str]:
    """The preview as printed: the window, each channel's words and reach, the estimates."""
    from shared.notices.templates import format_duration, format_instant

    zone = shown.notice.window.zone
    lines = [
        f"notice {shown.name}: {shown.notice.title}",
        f"window: {shown.window} ({format_duration(shown.notice.window.length)}, "
        f"{shown.notice.window.time_zone})",
        "reminders: "
        + "; ".join(f"{s.reminder.key} at {format_instant(s.due_at, zone)}" for s in shown.sends),
    ]
    for channel in shown.channels:
        detail = f"{channel.recipients} recipient(s), {channel.opted_out} opted out skipped"
        if channel.sms is not None:
            detail = f"{channel.sms}; {detail}"
        if channel.call_seconds is not None:
            detail = f"about {channel.call_seconds:.0f} s spoken; {detail}"
        if channel.channel == "whatsapp":
            template = shown.notice.templates.whatsapp
            if template is not None:
                detail = f"template {template.template} ({template.language}); {detail}"
        lines += [f"{channel.channel}: {detail}", f"  {channel.text}"]
    return lines + _estimate_lines(shown, rates, prices)


def _estimate_lines(shown: Preview, rates: Rates, prices: Prices) -> list[str]:
    """Duration and cost, said to be estimates: pages go first and prices vary."""
    sends = len(shown.sends)
    unpriced = [c.channel for c in shown.channels if c.cost is None]
    unit = prices.currency
    cost = f"{shown.cost:.4f} {unit} per reminder, {shown.cost * sends:.4f} {unit} for its {sends}"
    cost += (
        f", at {prices.sms_segment:g} {unit} per SMS segment and {prices.call_minute:g} {unit} "
        "per call minute, every call listened to the end"
    )
    if unpriced:
        cost += f" (not counted: {', '.join(unpriced)})"
    return [
        f"estimated duration: about {shown.duration_s:.0f} s per reminder at "
        f"{rates.sms_per_second:g} messages/s and {rates.calls_per_second:g} calls/s "
        "(longer while pages use the rate)",
        f"estimated cost: {cost}",
        "durations and costs are estimates; nothing has been sent",
    ]


for _command in (create_notice, show_notice, update_notice, cancel_notice, notice_status):
    notice.add_command(_command)
