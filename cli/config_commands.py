"""`alert-dispatch config check [FILE]`: every problem in an on-call file, with where it is."""

from __future__ import annotations

import sys
from pathlib import Path

import click


@click.group("config")
def config() -> None:
    """The on-call configuration (contacts, teams, policies, routes)."""


@config.command("check")
@click.argument("path", required=False, type=click.Path(path_type=Path))
def check(path: Path | None) -> None:
    """Validate FILE (default: CONFIG_FILE); exit 1 and list every problem if any."""
    from shared.routing.oncall_config import check_config, problem_lines

    if path is None:
        from shared.core.settings import SettingsError, load_settings

        try:
            path = load_settings().config_file
        except SettingsError as exc:
            click.echo(f"alert-dispatch: configuration error: {exc}", err=True)
            sys.exit(2)
        if path is None:
            click.echo("alert-dispatch: give a FILE or set CONFIG_FILE", err=True)
            sys.exit(2)
    problems = check_config(path)
    if not problems:
        click.echo(f"{path}: OK")
        return
    for line in problem_lines(path, problems):
        click.echo(line, err=True)
    sys.exit(1)
