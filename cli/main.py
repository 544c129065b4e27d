"""`alert-dispatch`: the one entry point for people."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path

import click

from shared.core.settings import Settings, SettingsError, load_settings
from simulator import config as sim_config


def _settings() -> Settings:
    """Settings, or one clear line and exit status 2 when a setting is wrong."""
    try:
        return load_settings()
    except SettingsError as exc:
        click.echo(f"alert-dispatch: configuration error: {exc}", err=True)
        sys.exit(2)


def _service_settings(*, oncall_config: bool) -> Settings:
    """Settings for a long-running process: also refused (one line, exit status 2) while
    production runs on a public default secret, or, with `oncall_config`, while
    CONFIG_FILE is invalid (see shared.startup_checks)."""
    from shared.startup_checks import start_or_exit

    return start_or_exit(load_settings, oncall_config=oncall_config)


# Every --port: a TCP port that can be bound. Out of range, the OS would take the
# number modulo 65536 and the process would listen somewhere nobody asked for.
PORT = click.IntRange(1, 65535)
# Counts (--limit, --concurrency...): zero or less is always a typing mistake.
COUNT = click.IntRange(min=1)


def _logging(settings: Settings) -> None:
    from shared.core.logging_setup import configure_logging

    configure_logging(settings.log_level)


@click.group()
def cli() -> None:
    """On-call paging over SMS and voice through Plivo."""


@cli.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the database schema to the newest version."""
    settings = _settings()
    from shared.core.db import upgrade

    upgrade(settings.effective_database_url)
    click.echo("database schema is up to date")


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=PORT)
def web(host: str, port: int) -> None:
    """Run the HTTP receiver (development server; use gunicorn in production)."""
    settings = _service_settings(oncall_config=True)
    _logging(settings)
    from werkzeug.serving import make_server

    from shared.core.db import upgrade
    from webhooks.app import create_app

    upgrade(settings.effective_database_url)
    server = make_server(host, port, create_app(settings), threaded=True)
    click.echo(f"receiver listening on http://{host}:{server.server_port}")
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()


@cli.command()
@click.option("--concurrency", "-c", default=2, show_default=True, type=COUNT)
@click.option("--queues", "-Q", default="ingest,notify,callbacks", show_default=True)
@click.option("--name", default="worker", show_default=True, help="Node name (unique per host).")
@click.option("--beat/--no-beat", default=False, help="Also run the scheduler in this worker.")
@click.option(
    "--supervise/--no-supervise",
    default=True,
    show_default=True,
    help="Start the worker again if it dies of an error it cannot recover from.",
)
def worker(concurrency: int, queues: str, name: str, beat: bool, supervise: bool) -> None:
    """Run a Celery worker process pool."""
    settings = _service_settings(oncall_config=True)
    _logging(settings)
    from cli.supervise import celery_command, run_supervised
    from shared.core.embedded_redis import resolve_redis_url

    # Start (or find) the embedded Redis here, so a restarted worker finds it too.
    resolve_redis_url(settings.redis_url, settings.data_dir)
    argv = [
        "worker",
        "-Q",
        queues,
        "-c",
        str(concurrency),
        "-n",
        f"{name}@%h",
        "--loglevel",
        settings.log_level,
    ]
    if beat:
        argv += ["--beat", "--schedule", str(Path(settings.data_dir) / "beat-schedule")]
    if supervise:
        sys.exit(run_supervised(celery_command(*argv), name))
    from worker.celery_app import app

    app.worker_main(argv)


@cli.command()
def beat() -> None:
    """Run the scheduler (exactly one per deployment)."""
    settings = _service_settings(oncall_config=False)
    _logging(settings)
    from worker.celery_app import app

    app.start(
        [
            "beat",
            "--loglevel",
            settings.log_level,
            "--schedule",
            str(Path(settings.data_dir) / "beat-schedule"),
        ]
    )


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8010, show_default=True, type=PORT)
@click.option(
    "--auth-id",
    envvar=sim_config.AUTH_ID_ENV,
    default=sim_config.DEFAULT_AUTH_ID,
    show_default=True,
    help=f"The simulated account [env: {sim_config.AUTH_ID_ENV}].",
)
@click.option(
    "--auth-token",
    envvar=sim_config.AUTH_TOKEN_ENV,
    default=sim_config.DEFAULT_AUTH_TOKEN,
    help=f"Its token, which signs callbacks [env: {sim_config.AUTH_TOKEN_ENV}; default: "
    "the public simulator token].",
)
@click.option(
    "--receiver-url",
    envvar=sim_config.RECEIVER_URL_ENV,
    default=sim_config.DEFAULT_RECEIVER_URL,
    show_default=True,
    help="The only origin the simulator sends callbacks and inbound texts to "
    f"[env: {sim_config.RECEIVER_URL_ENV}].",
)
def simulator(host: str, port: int, auth_id: str, auth_token: str, receiver_url: str) -> None:
    """Run the Plivo simulator: the Plivo of development, the demo and the tests.

    It has its own credentials, never PLIVO_AUTH_TOKEN, so it cannot sign for a real account.
    """
    from shared.core.logging_setup import configure_logging
    from simulator.server import start_in_thread

    try:
        config = sim_config.SimulatorConfig(
            auth_id=auth_id, auth_token=auth_token, receiver_url=receiver_url
        )
    except ValueError as exc:
        click.echo(f"alert-dispatch: simulator: {exc}", err=True)
        sys.exit(2)
    configure_logging("INFO")
    # Bound first (werkzeug says in one line why it cannot), then said, as bound.
    running = start_in_thread(config, host=host, port=port, quiet=False)
    click.echo(
        f"Plivo simulator on {running.url} (account {auth_id}, "
        f"callbacks only to {config.receiver_url})"
    )
    try:
        while running.thread.is_alive():
            running.thread.join(timeout=1)
    except KeyboardInterrupt:
        pass
    finally:
        running.stop()


@cli.command()
@click.option("--serve", is_flag=True, help="Keep everything running after the demo alert.")
@click.option(
    "--data-dir",
    type=click.Path(path_type=Path),
    default=None,
    help="Where the demo keeps its database and logs (default: a new temporary one).",
)
@click.option(
    "--timeout",
    default=60.0,
    show_default=True,
    type=click.FloatRange(min=0, min_open=True),
    help="Seconds to wait for delivery.",
)
def demo(serve: bool, data_dir: Path | None, timeout: float) -> None:
    """Start embedded Redis, a worker, the receiver and the simulator; page once."""
    from cli.demo import run_demo

    sys.exit(run_demo(serve=serve, data_dir=data_dir, timeout=timeout))


from cli.alert_commands import ack, list_alerts, resolve  # noqa: E402
from cli.config_commands import config  # noqa: E402

cli.add_command(list_alerts)
cli.add_command(ack)
cli.add_command(resolve)
cli.add_command(config)

from cli.bridge_command import bridge  # noqa: E402

cli.add_command(bridge)

if __name__ == "__main__":
    cli()
