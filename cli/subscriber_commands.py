"""`alert-dispatch subscribers list | show | import | add | remove`: subscriber lists kept in
the database, besides those of the on-call file.

A notice's audience names either kind (shared.notices.subscriber_store). Every
number is checked as an international number and kept once per list. `import`
reads a CSV (one number a line, or a `phone`/`number` column): each bad line is
reported with its line number and the others are imported; the command then
exits with status 1, so a script sees that some were refused.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import NoReturn

import click

from cli.common import settings_or_exit


def _fail(message: str) -> NoReturn:
    click.echo(f"alert-dispatch: {message}", err=True)
    sys.exit(1)


def _list_name(name: str) -> str:
    from shared.notices.subscriber_input import ListNameError, checked_list_name

    try:
        return checked_list_name(name)
    except ListNameError as exc:
        _fail(str(exc))


def _file_lists() -> dict[str, tuple[str, ...]]:
    """The on-call file's lists (CONFIG_FILE), numbers included; none without a file."""
    from shared.routing.oncall_config import ConfigError, load_config

    path = settings_or_exit().config_file
    if path is None:
        return {}
    try:
        config = load_config(path)
    except ConfigError as exc:
        _fail(f"{path} is invalid; run `alert-dispatch config check {path}`:\n{exc}")
    return {name: entry.numbers for name, entry in config.subscriber_lists.items()}


def _database_url() -> str:
    return settings_or_exit().effective_database_url


@click.group("subscribers")
def subscribers() -> None:
    """Subscriber lists managed here (and shown with those of the on-call file)."""


@subscribers.command("list")
def list_lists() -> None:
    """Every list, stored here or in the on-call file, with how many numbers it holds."""
    from shared.core.db import session_scope
    from shared.notices.subscriber_store import stored_lists

    with session_scope(_database_url()) as session:
        stored = stored_lists(session)
    in_file = _file_lists()
    if not stored and not in_file:
        click.echo("no subscriber lists")
        return
    click.echo(f"{'LIST':<32} {'STORED':>7} {'IN FILE':>8}")
    for name in sorted({*stored, *in_file}):
        file_count = str(len(in_file[name])) if name in in_file else "-"
        stored_count = str(stored[name]) if name in stored else "-"
        click.echo(f"{name:<32} {stored_count:>7} {file_count:>8}")


@subscribers.command("show")
@click.argument("name")
def show_list(name: str) -> None:
    """The numbers of list NAME, each with where it comes from."""
    from shared.core.db import session_scope
    from shared.notices.subscriber_store import stored_numbers

    with session_scope(_database_url()) as session:
        stored = stored_numbers(session, _list_name(name))
    in_file = _file_lists().get(name)
    if stored is None and in_file is None:
        _fail(f'no subscriber list "{name}"')
    both = dict.fromkeys((*(in_file or ()), *(stored or ())))
    click.echo(f"list {name}: {len(both)} number(s)")
    for number in both:
        where = [
            w for w, found in (("file", in_file), ("stored", stored)) if number in (found or ())
        ]
        click.echo(f"  {number}  ({', '.join(where)})")


def _added_line(name: str, added: int, already: int, total: int) -> str:
    return f"{name}: {added} number(s) added, {already} already on it, {total} now"


@subscribers.command("import")
@click.argument("name")
@click.argument("csv_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def import_csv(name: str, csv_file: Path) -> None:
    """Add the numbers of CSV_FILE to list NAME (created if new); bad lines are reported
    with their line number and the rest imported."""
    from shared.core.db import session_scope
    from shared.core.models import utcnow
    from shared.notices.subscriber_store import add_numbers, create_list
    from shared.notices.subscribers import parse_subscriber_csv

    name = _list_name(name)
    try:
        parsed = parse_subscriber_csv(csv_file.read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError) as exc:
        _fail(f"cannot read {csv_file}: {exc}")
    for row in parsed.bad:
        click.echo(f"{csv_file}: {row}", err=True)
    now = utcnow()
    with session_scope(_database_url()) as session:
        create_list(session, name, now)
        added = add_numbers(session, name, parsed.numbers, now)
    if added is None:  # deleted between the two statements: nothing was imported
        _fail(f'subscriber list "{name}" was removed meanwhile; nothing imported')
    click.echo(_added_line(name, added.added, added.already, added.total))
    if parsed.duplicates:
        click.echo(f"{parsed.duplicates} duplicate line(s) in {csv_file} counted once")
    if parsed.bad:
        _fail(f"{len(parsed.bad)} bad line(s) in {csv_file} not imported (listed above)")


def _checked(numbers: tuple[str, ...]) -> tuple[str, ...]:
    from shared.notices.subscriber_input import checked_numbers

    checked = checked_numbers(numbers)
    if checked.bad:
        _fail("; ".join(str(bad) for bad in checked.bad) + " (nothing changed)")
    return checked.numbers


@subscribers.command("add")
@click.argument("name")
@click.argument("numbers", nargs=-1, required=True)
def add(name: str, numbers: tuple[str, ...]) -> None:
    """Add NUMBERS (+ and country code) to list NAME (created if new); one bad number
    and nothing changes."""
    from shared.core.db import session_scope
    from shared.core.models import utcnow
    from shared.notices.subscriber_store import add_numbers, create_list

    name, checked, now = _list_name(name), _checked(numbers), utcnow()
    with session_scope(_database_url()) as session:
        create_list(session, name, now)
        added = add_numbers(session, name, checked, now)
    if added is None:
        _fail(f'subscriber list "{name}" was removed meanwhile; nothing added')
    click.echo(_added_line(name, added.added, added.already, added.total))


@subscribers.command("remove")
@click.argument("name")
@click.argument("numbers", nargs=-1)
@click.option("--all", "whole", is_flag=True, help="Remove the whole list.")
def remove(name: str, numbers: tuple[str, ...], whole: bool) -> None:
    """Take NUMBERS off stored list NAME, or remove the list with --all. Lists in the
    on-call file are edited there."""
    from shared.core.db import session_scope
    from shared.core.models import utcnow
    from shared.notices.subscriber_store import delete_list, remove_numbers

    name = _list_name(name)
    if whole == bool(numbers):
        _fail("give the numbers to remove, or --all to remove the whole list")
    checked = () if whole else _checked(numbers)
    with session_scope(_database_url()) as session:
        if whole:
            gone = delete_list(session, name)
        else:
            removed = remove_numbers(session, name, checked, utcnow())
    if whole:
        if gone is None:
            _fail(f'no stored subscriber list "{name}"')
        click.echo(f"{name}: removed, with its {gone} number(s)")
        return
    if removed is None:
        _fail(f'no stored subscriber list "{name}"')
    click.echo(
        f"{name}: {removed.removed} number(s) removed, {removed.missing} not on it, "
        f"{removed.total} now"
    )
