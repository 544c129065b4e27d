"""`alert-dispatch notice status ID|NAME [--watch]`: how far a notice's sending has gone.

NAME follows the notice's sends still going out (else its latest ones: a
reminder, or an update's correction and new words); ID (`name/window/reminder`,
as `notice show` lists them) follows one send. On a terminal the figures are a
bar redrawn in place (cli.notice_progress); elsewhere a plain line, one per
refresh with --watch. --watch stops once nothing of them is left to send.
"""

from __future__ import annotations

import shutil
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import click

from cli.common import settings_or_exit
from cli.notice_common import database, fail

DEFAULT_WIDTH = 100


@dataclass(frozen=True, slots=True)
class Reading:
    """One look at the followed sends: their figures as a bar and as a plain line."""

    bar: str
    plain: str
    done: bool  # none of them has anything left to send


def _read(name: str, followed: list[str], width: int) -> Reading:
    from cli.notice_progress import render_plain, render_progress
    from shared.core.models import NoticeSend
    from shared.notices.views import progress_of, sending_rate, status_view

    settings = settings_or_exit()
    rate = sending_rate(
        settings.sms_per_second, settings.sender_sms_per_second, len(settings.sender_numbers)
    )
    now = datetime.now(UTC)
    with database() as session:
        sends = [s for s in (session.get(NoticeSend, i) for i in followed) if s is not None]
        progress = progress_of(session, sends, rate, now)
        done = status_view(name, sends, progress)["done"]
    return Reading(render_progress(progress, width, now=now), render_plain(progress, now), done)


def _followed(name: str, send_id: str | None) -> list[str]:
    """The send ids to follow, fixed at the start: the bar then never jumps to other sends."""
    from shared.notices.views import status_sends

    with database() as session:
        return [send.id for send in status_sends(session, notice=name, send_id=send_id)]


def _known(name: str) -> bool:
    from shared.core.models import NoticeRecord

    settings = settings_or_exit()
    if settings.config_file is not None:
        from shared.routing.route import current_config

        config = current_config(settings.config_file)
        if config is not None and name in config.notices:
            return True
    with database() as session:
        return session.get(NoticeRecord, name) is not None


@click.command("status")
@click.argument("target", metavar="ID|NAME")
@click.option("--watch", is_flag=True, help="Refresh until nothing is left to send.")
@click.option(
    "--interval", type=click.FloatRange(min=0.1), default=1.0, show_default=True, help="Seconds."
)
def notice_status(target: str, watch: bool, interval: float) -> None:
    """Progress of a notice's sending: handed off, delivered, failed, skipped, ETA."""
    name, _, rest = target.partition("/")
    send_id = target if rest else None
    if not _known(name):
        fail(f'no notice "{name}"')
    followed = _followed(name, send_id)
    if send_id is not None and not followed:
        fail(f'no send "{send_id}" (see: alert-dispatch notice show {name})')
    if not followed:
        click.echo(f"notice {name} has sent nothing yet (see: alert-dispatch notice show {name})")
        return
    click.echo(f"notice {name}: {', '.join(followed)}")
    tty = sys.stdout.isatty()
    width = shutil.get_terminal_size((DEFAULT_WIDTH, 24)).columns - 1 if tty else DEFAULT_WIDTH
    while True:
        reading = _read(name, followed, width)
        if tty:
            click.echo(f"\r\x1b[2K{reading.bar}", nl=not watch or reading.done)
        else:
            click.echo(reading.plain)
        if not watch or reading.done:
            return
        time.sleep(interval)
