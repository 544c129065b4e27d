"""`alert-dispatch bridge`: alerts from the event bus (Redis Streams and pub/sub)."""

from __future__ import annotations

import signal
import socket
import sys
from types import FrameType

import click

from cli.common import service_settings, start_logging


def _names(value: str) -> tuple[str, ...]:
    return tuple(name.strip() for name in value.split(",") if name.strip())


@click.command()
@click.option(
    "--streams",
    envvar="BRIDGE_STREAMS",
    default="alert-dispatch:events",
    show_default=True,
    help="Comma-separated Redis Streams to consume; empty for none.",
)
@click.option(
    "--group",
    envvar="BRIDGE_GROUP",
    default="alert-dispatch",
    show_default=True,
    help="Consumer group shared by every bridge.",
)
@click.option(
    "--consumer",
    envvar="BRIDGE_CONSUMER",
    default=None,
    help="This bridge's name in the group, stable across restarts [default: the host name].",
)
@click.option(
    "--channels",
    envvar="BRIDGE_CHANNEL_PATTERNS",
    default="if.bus:*",
    show_default=True,
    help="Comma-separated pub/sub channel patterns; empty for none.",
)
@click.option(
    "--channel-dead-letter",
    envvar="BRIDGE_CHANNEL_DEAD_LETTER",
    default="alert-dispatch:channels:dead",
    show_default=True,
    help="Stream that receives channel messages that cannot be used.",
)
@click.option(
    "--claim-idle-ms",
    envvar="BRIDGE_CLAIM_IDLE_MS",
    default=60_000,
    type=click.IntRange(min=1),
    show_default=True,
    help="Take over another consumer's entries after they were pending this long.",
)
@click.option(
    "--batch",
    envvar="BRIDGE_BATCH",
    default=50,
    type=click.IntRange(1, 1000),
    show_default=True,
    help="Entries read per call.",
)
def bridge(
    streams: str,
    group: str,
    consumer: str | None,
    channels: str,
    channel_dead_letter: str,
    claim_idle_ms: int,
    batch: int,
) -> None:
    """Turn event-bus messages into alerts until SIGTERM (docs/producers.md has the format)."""
    from shared.core.embedded_redis import resolve_redis_url
    from worker.bridge import Bridge, BridgeConfig

    settings = service_settings(oncall_config=False)
    start_logging(settings)
    config = BridgeConfig(
        streams=_names(streams),
        group=group,
        consumer=consumer or socket.gethostname(),
        channel_patterns=_names(channels),
        channel_dead_letter=channel_dead_letter,
        claim_idle_ms=claim_idle_ms,
        batch=batch,
    )
    if not config.streams and not config.channel_patterns:
        raise click.UsageError("nothing to consume: give --streams or --channels")
    runner = Bridge(config, settings, resolve_redis_url(settings.redis_url, settings.data_dir))

    def _stop(signum: int, _frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        click.echo(f"bridge: {name}, finishing the current message", err=True)
        runner.stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    sys.exit(0 if runner.run() else 1)
