"""`alert-dispatch simulator | demo`: Plivo's stand-in and the whole stack on one machine."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from cli.common import PORT
from simulator import config as sim_config


@click.command()
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


@click.command()
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
