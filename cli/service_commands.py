"""`alert-dispatch db upgrade | web | worker | beat`: the long-running services."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path

import click

from cli.common import COUNT, PORT, service_settings, settings_or_exit, start_logging


@click.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the database schema to the newest version."""
    settings = settings_or_exit()
    from shared.core.db import upgrade

    upgrade(settings.effective_database_url)
    click.echo("database schema is up to date")


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=PORT)
def web(host: str, port: int) -> None:
    """Run the HTTP receiver (development server; use gunicorn in production)."""
    settings = service_settings(oncall_config=True)
    start_logging(settings)
    from werkzeug.serving import make_server

    from shared.core.db import upgrade
    from webhooks.app import create_app

    upgrade(settings.effective_database_url)
    app = create_app(settings, route_on_arrival=settings.route_on_arrival)
    if settings.route_on_arrival:
        from worker.route_on_arrival import warm

        warm()
    server = make_server(host, port, app, threaded=True)
    click.echo(f"receiver listening on http://{host}:{server.server_port}")
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()


@click.command()
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
    settings = service_settings(oncall_config=True)
    start_logging(settings)
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
        # Mingle waits a second at every start for other workers' revoked tasks and
        # clocks, and gossip follows their events: nothing here revokes a task or reads
        # another worker's events, and a worker restarted after a death pages again
        # that second sooner.
        "--without-mingle",
        "--without-gossip",
    ]
    if beat:
        argv += ["--beat", "--schedule", str(Path(settings.data_dir) / "beat-schedule")]
    if supervise:
        sys.exit(run_supervised(celery_command(*argv), name))
    from worker.celery_app import app

    app.worker_main(argv)


@click.command()
def beat() -> None:
    """Run the scheduler (exactly one per deployment)."""
    settings = service_settings(oncall_config=False)
    start_logging(settings)
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
