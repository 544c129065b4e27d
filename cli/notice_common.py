"""What the `notice` subcommands share: the on-call file, the database, one-line errors.

Bad input is one line naming it and exit status 2, like every subcommand;
never a stack trace.
"""

from __future__ import annotations

import getpass
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import click

from cli.common import settings_or_exit

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from shared.notices.definitions import DefinitionError
    from shared.routing.config_models import OncallConfig

file_option = click.option(
    "--file",
    "path",
    type=click.Path(path_type=Path),
    help="The on-call file (default: CONFIG_FILE).",
)


def fail(message: str) -> NoReturn:
    click.echo(f"alert-dispatch: {message}", err=True)
    sys.exit(2)


def config_at(path: Path | None) -> tuple[OncallConfig, Path]:
    """The on-call file, loaded; one line and exit status 2 when it cannot be."""
    from shared.routing.oncall_config import ConfigError, load_config

    if path is None:
        path = settings_or_exit().config_file
        if path is None:
            fail("give --file or set CONFIG_FILE")
    try:
        return load_config(path), path
    except ConfigError as exc:
        count = len(exc.problems)
        if count == 1 and exc.problems[0].message.startswith("cannot read"):
            fail(exc.problems[0].message)
        fail(f"{path} is invalid ({count} problem(s)); run: alert-dispatch config check {path}")


def config_or_none(path: Path | None) -> OncallConfig | None:
    """The on-call file when one is given or configured; None when there is none at all
    (notices made by API are still shown, changed and cancelled without it)."""
    if path is None and settings_or_exit().config_file is None:
        return None
    return config_at(path)[0]


@contextmanager
def database() -> Iterator[Session]:
    """A session on DATABASE_URL; one line and exit status 2 when it cannot be used."""
    from sqlalchemy.exc import SQLAlchemyError

    from shared.core.db import session_scope

    url = settings_or_exit().effective_database_url
    try:
        with session_scope(url) as session:
            yield session
    except SQLAlchemyError as exc:
        reason = str(exc).splitlines()[0]
        fail(f"cannot use the database ({reason}); run: alert-dispatch db upgrade")


def refused(exc: DefinitionError) -> NoReturn:
    """Every problem of a refused notice or change, on one line."""
    fail("refused: " + "; ".join(str(problem) for problem in exc.problems))


def who() -> str:
    """Who acts, for the event log: the CLI and the local user."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def hand_over(send_ids: tuple[str, ...]) -> str:
    """Start the batch chains of new sends; a sentence saying what happened."""
    if not send_ids:
        return ""
    from worker import enqueue

    if all(enqueue.notice_send_batch(send_id) for send_id in send_ids):
        return f"{len(send_ids)} send(s) queued"
    return f"{len(send_ids)} send(s) stored; the broker is unreachable, beat hands them over"
