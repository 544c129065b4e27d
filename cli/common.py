"""What every subcommand shares: settings that exit cleanly, logging, option types.

A module of its own so the subcommand modules depend on it and on nothing
else of the CLI: `cli.main` imports them all to register them, and they
never import it back.
"""

from __future__ import annotations

import sys

import click

from shared.core.settings import Settings, SettingsError, load_settings

# Every --port: a TCP port that can be bound. Out of range, the OS would take the
# number modulo 65536 and the process would listen somewhere nobody asked for.
PORT = click.IntRange(1, 65535)
# Counts (--limit, --concurrency...): zero or less is always a typing mistake.
COUNT = click.IntRange(min=1)


def settings_or_exit() -> Settings:
    """Settings, or one clear line and exit status 2 when a setting is wrong."""
    try:
        return load_settings()
    except SettingsError as exc:
        click.echo(f"alert-dispatch: configuration error: {exc}", err=True)
        sys.exit(2)


def service_settings(*, oncall_config: bool) -> Settings:
    """Settings for a long-running process: also refused (one line, exit status 2) while
    production runs on a public default secret, or, with `oncall_config`, while
    CONFIG_FILE is invalid (see shared.startup_checks)."""
    from shared.startup_checks import start_or_exit

    return start_or_exit(load_settings, oncall_config=oncall_config)


def start_logging(settings: Settings) -> None:
    from shared.core.logging_setup import configure_logging

    configure_logging(settings.log_level)
