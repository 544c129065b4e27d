"""`alert-dispatch notice create | show | update | cancel`: notices made outside the file.

The same checks, store and words as the API (shared.notices.definitions,
managed, views): a notice refused here is refused there with the same field
named. Notices of the on-call file are shown and cancelled here, never
changed: the file is their source (edit it; beat reads it anew).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from cli.notice_common import (
    config_at,
    config_or_none,
    database,
    fail,
    file_option,
    hand_over,
    refused,
    who,
)


def _read_document(source: Path) -> dict[str, Any]:
    """A notice in YAML or JSON (JSON is YAML): one mapping, as under `notices:`."""
    import yaml

    try:
        data = yaml.safe_load(source.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        fail(f"cannot read {source}: {exc}")
    except yaml.YAMLError as exc:
        fail(f"{source} is not valid YAML or JSON: {str(exc).splitlines()[0]}")
    if not isinstance(data, dict):
        fail(f"{source} must hold one notice, a mapping of name, title, window, ...")
    return data


def _with_flags(data: dict[str, Any], flags: dict[str, Any]) -> dict[str, Any]:
    """The document completed (or overridden) by the options given on the command line."""
    paths = {
        "name": ("name",),
        "title": ("title",),
        "impact": ("impact",),
        "link": ("link",),
        "start": ("window", "start"),
        "duration": ("window", "duration"),
        "time_zone": ("window", "time_zone"),
        "cron": ("window", "cron"),
        "rrule": ("window", "rrule"),
        "sms": ("templates", "sms"),
        "voice": ("templates", "voice"),
        "team": ("audience", "teams"),
        "contact": ("audience", "contacts"),
        "subscribers": ("audience", "lists"),
        "reminder": ("reminders",),
        "channel": ("channels",),
    }
    for option, value in flags.items():
        if value is None or value == ():
            continue
        *parents, leaf = paths[option]
        target = data
        for parent in parents:
            target = target.setdefault(parent, {})
            if not isinstance(target, dict):
                fail(f"`{parent}` in the document must be a mapping")
        target[leaf] = list(value) if isinstance(value, tuple) else value
    return data


_many = {"multiple": True}


@click.command("create")
@click.option("--from", "source", type=click.Path(path_type=Path), help="A YAML or JSON notice.")
@click.option("--name", help="Letters, digits, . _ -; unique across the file and the API.")
@click.option("--title")
@click.option("--start", help='Local start, like "2026-12-06 02:00", in --time-zone.')
@click.option("--duration", help="Like 2h, 90m, 1h30m.")
@click.option("--time-zone", "time_zone", help="IANA name, like Europe/Paris.")
@click.option("--cron", help="Repeat on a five-field cron expression (local time).")
@click.option("--rrule", help="Repeat on an RFC 5545 RRULE (local time).")
@click.option("--reminder", help="-24h, -1h, start, end, end+30m (repeat the option).", **_many)
@click.option("--team", help="A team of the on-call file (repeat the option).", **_many)
@click.option("--contact", help="A contact of the on-call file (repeat the option).", **_many)
@click.option("--list", "subscribers", help="A subscriber list (repeat the option).", **_many)
@click.option("--channel", help="sms, voice, whatsapp (default: each with a template).", **_many)
@click.option("--sms", help="SMS template: {title} {start} {end} {duration} {impact} {link}.")
@click.option("--voice", help="Spoken template, same placeholders.")
@click.option("--impact")
@click.option("--link")
@file_option
def create_notice(source: Path | None, path: Path | None, **flags: Any) -> None:
    """Create a notice from --from FILE and/or the options; checked like the on-call file's."""
    from shared.notices import managed
    from shared.notices.definitions import DefinitionError, check_definition

    data = _with_flags(_read_document(source) if source else {}, flags)
    config, _ = config_at(path)
    now = datetime.now(UTC)
    with database() as session:
        try:
            notice = check_definition(data, config, now, managed.stored_list_names(session))
            managed.create(session, notice, config, now, who())
        except DefinitionError as exc:
            refused(exc)
        except managed.NoticeConflict as exc:
            fail(f"refused: {exc}")
    click.echo(f"created notice {notice.name}: {notice.title}")
    for line in _window_lines(notice, now):
        click.echo(line)


def _window_lines(notice: Any, now: datetime) -> list[str]:
    from shared.notices.schedule import sends_of
    from shared.notices.templates import format_instant
    from shared.notices.views import upcoming

    zone = notice.window.zone
    lines = []
    for occurrence in upcoming(notice, now, 1):
        start, end = format_instant(occurrence.start, zone), format_instant(occurrence.end, zone)
        lines.append(f"next window: {start} to {end}")
        for due in sends_of(notice.name, notice, occurrence):
            when = format_instant(due.due_at, zone)
            note = "" if due.due_at > now else " (already past: not sent)"
            lines.append(f"  {due.reminder.key:<10} {when}{note}")
    return lines


@click.command("show")
@click.argument("name")
@file_option
def show_notice(name: str, path: Path | None) -> None:
    """Notice NAME: its definition, its next windows and reminders, its sends so far."""
    from shared.notices import managed
    from shared.notices.definitions import to_definition
    from shared.notices.views import show_view

    config = config_or_none(path)
    now = datetime.now(UTC)
    with database() as session:
        record = managed.find(session, name)
        notice = managed.notice_of(record, config, name)
        if notice is None:
            fail(f'no notice "{name}"')
        source = record.source if record is not None else "file"
        view = show_view(session, name, source, notice, to_definition(notice), record, now)
    for line in _show_lines(view, notice.window.zone):
        click.echo(line)


def _show_lines(view: dict[str, Any], zone: Any) -> list[str]:
    """`notice show` as printed: times in the notice's own zone, as its messages say them."""
    import yaml

    from shared.notices.templates import format_instant

    def local(text: str | None) -> str:
        return format_instant(datetime.fromisoformat(text), zone) if text else "-"

    cancelled = f", cancelled {local(view['cancelled_at'])}" if view["cancelled_at"] else ""
    lines = [f"notice {view['name']} ({view['source']}{cancelled})"]
    lines += yaml.safe_dump(view["definition"], sort_keys=False, allow_unicode=True).splitlines()
    for window in view["next_windows"]:
        lines.append(f"window {local(window['start'])} to {local(window['end'])}")
        lines += [
            f"  {item['reminder']:<10} {local(item['due_at']):<22} {item['state']}"
            for item in window["reminders"]
        ]
    lines.append("sends:" if view["sends"] else "sends: none yet")
    for send in view["sends"]:
        counts = ", ".join(f"{k} {v}" for k, v in send["deliveries"].items() if v)
        lines.append(
            f"  {send['id']}  {send['kind']}  {send['state']}  {counts or 'no deliveries'}"
        )
    return lines


@click.command("update")
@click.argument("name")
@click.option("--extend", help="Make the window longer: 30m, 1h.")
@click.option("--start", help='New local start, like "2026-12-06 03:00" (one-off windows).')
@click.option("--duration", help="New length: 2h, 90m.")
@click.option("--title")
@click.option("--impact")
@click.option("--link")
@click.option("--sms", help="New SMS template.")
@click.option("--voice", help="New spoken template.")
@file_option
def update_notice(name: str, path: Path | None, **flags: Any) -> None:
    """Change notice NAME's window or words. People already told get a correction; those
    not yet told get the new words. A refused change leaves everything as it was."""
    from pydantic import ValidationError

    from shared.notices import managed
    from shared.notices.definitions import DefinitionError, model_problems
    from shared.notices.updates import NoticeChange

    window = {k: flags.pop(k) for k in ("start", "duration") if flags.get(k) is not None}
    templates = {k: flags.pop(k) for k in ("sms", "voice") if flags.get(k) is not None}
    body: dict[str, Any] = {k: v for k, v in flags.items() if v is not None}
    if window:
        body["window"] = window
    if templates:
        body["templates"] = templates
    try:
        change = NoticeChange.model_validate(body)
    except ValidationError as exc:
        refused(DefinitionError(model_problems(exc)))
    config = config_or_none(path)
    now = datetime.now(UTC)
    with database() as session:
        try:
            notice, applied = managed.update_notice(session, name, change, config, now, who())
        except LookupError:
            fail(f'no notice "{name}"')
        except managed.NoticeConflict as exc:
            fail(f"refused: {exc}")
        except DefinitionError as exc:
            refused(exc)
    click.echo(f"updated notice {name}: {notice.title}")
    for line in _window_lines(notice, now)[:1]:
        click.echo(line)
    click.echo(
        f"correction to {applied.corrected} already told; new words for {applied.rewritten} "
        "not yet sent"
    )
    queued = hand_over(applied.new_sends)
    if queued:
        click.echo(queued)


@click.command("cancel")
@click.argument("name")
@file_option
def cancel_notice(name: str, path: Path | None) -> None:
    """Cancel notice NAME: nothing more of it is sent. Safe to repeat."""
    from shared.notices import managed

    config = config_or_none(path)
    now = datetime.now(UTC)
    with database() as session:
        record = managed.find(session, name)
        if record is None and (config is None or name not in config.notices):
            fail(f'no notice "{name}"')
        outcome = managed.cancel(session, record, name, now, who())
    if not outcome.changed:
        click.echo(f"notice {name} was already cancelled")
        return
    click.echo(
        f"cancelled notice {name}: {outcome.sends} send(s) stopped, "
        f"{outcome.skipped} message(s) will not be sent"
    )
