"""`alert-dispatch`: the one entry point for people.

The group is defined here and every subcommand is registered here, from the
modules that hold them; those modules import `cli.common`, never this one.
"""

from __future__ import annotations

import click

from cli.alert_commands import ack, list_alerts, resolve
from cli.alert_show import show_alert
from cli.bridge_command import bridge
from cli.config_commands import config
from cli.demo_notice import with_notice_demo
from cli.dev_commands import demo, simulator
from cli.notice_commands import notice
from cli.oncall_commands import oncall
from cli.service_commands import beat, db, web, worker
from cli.subscriber_commands import subscribers


@click.group()
def cli() -> None:
    """On-call paging over SMS and voice through Plivo."""


for command in (db, web, worker, beat, simulator, demo, list_alerts, ack, resolve, config, bridge):
    cli.add_command(command)
cli.add_command(show_alert)
cli.add_command(notice)
cli.add_command(subscribers)
cli.add_command(oncall)
cli.add_command(with_notice_demo(demo))  # `demo` alone as before; `demo notice` too

if __name__ == "__main__":
    cli()
