"""`alert-dispatch oncall [SCHEDULE] [--at TIME] [--next N] [--json]`,
`alert-dispatch oncall override add | list | remove` and `alert-dispatch oncall feed`:
who is on call, overrides, and the calendar feed URLs of schedules and people.

The rotation comes from the on-call file (`schedules:`); overrides ("Bob covers
for Alice from Friday 18:00 to Monday 09:00") are kept in the database
(shared.schedules.override_store) and applied on top, here as in paging. A time
is ISO 8601 with an offset, or "YYYY-MM-DD HH:MM" read in the schedule's own
time zone. Bad input is one line naming it and exit status 2, like every
subcommand.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from cli.notice_common import config_at, database, fail, file_option, who

if TYPE_CHECKING:
    from shared.routing.config_models import OncallConfig
    from shared.schedules.model import Schedule
    from shared.schedules.overrides import Override

MAX_NEXT = 50


class _OncallGroup(click.Group):
    """`oncall [SCHEDULE]` shows who is on call; `oncall override ...` manages overrides.

    A first word that is not a subcommand is the schedule (or an option) of the
    hidden `show`, so `oncall`, `oncall primary --at ...` and `oncall --next 3` work.
    """

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if not args or (args[0] not in self.commands and args[0] != "--help"):
            args = ["show", *args]
        return super().parse_args(ctx, args)


@click.group("oncall", cls=_OncallGroup)
def oncall() -> None:
    """Who is on call: `oncall [SCHEDULE] [--at TIME] [--next N] [--json]`; overrides
    with `oncall override add | list | remove`."""


def _schedules(config: OncallConfig, name: str | None) -> list[Schedule]:
    if name is None:
        found = [config.schedules[key] for key in sorted(config.schedules)]
        if not found:
            fail("the on-call file has no schedules")
        return found
    schedule = config.schedule_named(name)
    if schedule is None:
        known = ", ".join(sorted(config.schedules)) or "none"
        fail(f'unknown schedule "{name}" (schedules: {known})')
    return [schedule]


def _moment(text: str | None, schedule: Schedule, option: str) -> datetime:
    """A time given on the command line, in UTC; now without one."""
    from shared.schedules.override_store import read_moment

    if text is None:
        return datetime.now(UTC)
    try:
        return read_moment(text, schedule.zone)
    except ValueError as exc:
        fail(f"{option}: {exc}")


def _local(moment: datetime | str, schedule: Schedule) -> str:
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    return f"{moment.astimezone(schedule.zone):%a %Y-%m-%d %H:%M %Z}"


def _people(names: list[str]) -> str:
    return ", ".join(names) if names else "nobody (a gap in the schedule)"


def _print_view(view: dict[str, Any], schedule: Schedule) -> None:
    forced = ", ".join(f"#{i}" for i in view["overrides"])
    because = f"  (override {forced})" if forced else ""
    click.echo(f"{schedule.name} ({schedule.time_zone})")
    click.echo(f"  on call at {_local(view['at'], schedule)}: {_people(view['on_call'])}{because}")
    if view["next"]:
        click.echo("  next hand-offs:")
    for handoff in view["next"]:
        click.echo(f"    {_local(handoff['start'], schedule)}  {_people(handoff['on_call'])}")


@oncall.command("show")
@click.argument("schedule", required=False)
@click.option("--at", "at_text", metavar="TIME", help="When (default: now).")
@click.option(
    "--next",
    "count",
    type=click.IntRange(0, MAX_NEXT),
    default=3,
    show_default=True,
    help="How many hand-offs to show after TIME.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON, as the API answers.")
@file_option
def show(
    schedule: str | None, at_text: str | None, count: int, as_json: bool, path: Path | None
) -> None:
    """Who is on call in SCHEDULE (every schedule when none is named) at TIME, and the
    next hand-offs, overrides included."""
    from shared.schedules.override_store import oncall_view

    config, _ = config_at(path)
    chosen = _schedules(config, schedule)
    moments = [_moment(at_text, item, "--at") for item in chosen]
    with database() as session:
        views = [
            oncall_view(session, item, at, count) for item, at in zip(chosen, moments, strict=True)
        ]
    if as_json:
        click.echo(json.dumps({"schedules": views} if schedule is None else views[0], indent=2))
        return
    for item, view in zip(chosen, views, strict=True):
        _print_view(view, item)


@oncall.command("feed")
@click.argument("schedule", required=False)
@click.option("--person", metavar="CONTACT", help="The feed of one person's shifts instead.")
@file_option
def feed(schedule: str | None, person: str | None, path: Path | None) -> None:
    """The iCalendar feed URL of SCHEDULE, or of --person CONTACT, to subscribe to in a
    calendar app (PUBLIC_BASE_URL, the path and its token from ICAL_SECRET)."""
    from cli.common import settings_or_exit
    from shared.schedules.ical import FeedKind, feed_url

    if (schedule is None) == (person is None):
        fail("give a SCHEDULE or --person CONTACT (one of them)")
    config, _ = config_at(path)
    if schedule is not None:
        _schedules(config, schedule)
    elif person not in config.contacts:
        fail(f'unknown contact "{person}"')
    settings = settings_or_exit()
    if settings.ical_secret is None:
        fail("set ICAL_SECRET (16 characters or more) to serve calendar feeds")
    kind, name = (FeedKind.PERSON, person) if person is not None else (FeedKind.SCHEDULE, schedule)
    click.echo(feed_url(settings.public_base_url, settings.ical_secret, kind, str(name)))


@oncall.group("override")
def override() -> None:
    """Overrides of a schedule kept in the database: someone covers for a while."""


@override.command("add")
@click.argument("schedule")
@click.option("--covering", required=True, metavar="CONTACT", help="Who is on call instead.")
@click.option(
    "--replaces",
    metavar="CONTACT",
    help="Only in place of this person, while the rotation has them on call "
    "(default: instead of whoever it has).",
)
@click.option("--from", "start_text", required=True, metavar="TIME", help="From (inclusive).")
@click.option("--to", "end_text", required=True, metavar="TIME", help="Until (exclusive).")
@file_option
def add_override(
    schedule: str,
    covering: str,
    replaces: str | None,
    start_text: str,
    end_text: str,
    path: Path | None,
) -> None:
    """CONTACT covers SCHEDULE from --from to --to (times in the schedule's zone unless
    they carry an offset)."""
    from shared.core.models import utcnow
    from shared.schedules.override_store import (
        OverrideRefused,
        checked_override,
        create_override,
        override_view,
    )

    config, _ = config_at(path)
    [found] = _schedules(config, schedule)
    start = _moment(start_text, found, "--from")
    end = _moment(end_text, found, "--to")
    try:
        wanted = checked_override(config, schedule, covering, start, end, replaces)
    except OverrideRefused as exc:
        option = {"start": "--from", "end": "--to"}.get(exc.field, f"--{exc.field}")
        fail(f"{option}: {exc.message}")
    with database() as session:
        stored = create_override(session, wanted, utcnow(), who())
    view = override_view(stored)
    instead = f" for {wanted.replaces}" if wanted.replaces else ""
    click.echo(
        f"override #{view['id']}: {wanted.covering} covers{instead} in {schedule} "
        f"from {_local(wanted.start, found)} to {_local(wanted.end, found)}"
    )


@override.command("list")
@click.argument("schedule", required=False)
@click.option("--all", "include_past", is_flag=True, help="Also those over or removed.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON, as the API answers.")
@file_option
def list_overrides(
    schedule: str | None, include_past: bool, as_json: bool, path: Path | None
) -> None:
    """Overrides in force or to come (of SCHEDULE, or every schedule), by start."""
    from shared.core.models import utcnow
    from shared.schedules.override_store import list_overrides as stored_overrides
    from shared.schedules.override_store import override_view

    config, _ = config_at(path)
    if schedule is not None:
        _schedules(config, schedule)
    with database() as session:
        found = stored_overrides(session, utcnow(), schedule, include_past=include_past)
    views = [override_view(item) for item in found]
    if as_json:
        click.echo(json.dumps({"overrides": views}, indent=2))
        return
    if not views:
        click.echo("no overrides" + ("" if include_past else " in force or to come"))
        return
    for item, view in zip(found, views, strict=True):
        click.echo(_override_line(config, item.override, view))


def _override_line(config: OncallConfig, override: Override, view: dict[str, Any]) -> str:
    """One override on one line, its times in its schedule's zone (UTC for a schedule no
    longer in the file)."""
    schedule = config.schedule_named(override.schedule)

    def when(moment: datetime) -> str:
        return _local(moment, schedule) if schedule else f"{moment:%a %Y-%m-%d %H:%M} UTC"

    instead = f" for {override.replaces}" if override.replaces else ""
    removed = "  (removed)" if view["removed_at"] else ""
    return (
        f"#{override.id:<5} {override.schedule:<16} {override.covering}{instead}  "
        f"{when(override.start)} -> {when(override.end)}  by {view['created_by']}{removed}"
    )


@override.command("remove")
@click.argument("override_id", metavar="ID", type=click.IntRange(min=1))
def remove_override(override_id: int) -> None:
    """Take override ID back (it stays listed with --all)."""
    from shared.core.models import utcnow
    from shared.schedules.override_store import OverrideNotFound
    from shared.schedules.override_store import remove_override as remove_stored

    try:
        with database() as session:
            removed = remove_stored(session, override_id, utcnow(), who())
    except OverrideNotFound as exc:
        fail(str(exc))
    click.echo(
        f"override #{override_id} removed: {removed.override.covering} no longer covers "
        f"{removed.override.schedule}"
    )
