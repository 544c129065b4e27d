"""`alert-dispatch alert ID`: one alert as the API shows it, read from a shell.

The same view as GET /api/v1/alerts/<id> (shared.alerts.view.alert_view), so the
CLI and scripts never disagree: the alert, its incident bridge (who is in it
now, who joined and left when, its recordings with their URL and length), and
its timeline, one line per event, bridge entries in words.
"""

from __future__ import annotations

import sys
from datetime import datetime
from typing import Any

import click

from cli.common import COUNT, settings_or_exit


def _clock(at: str | None) -> str:
    """An ISO time from the view as `HH:MM:SS` (UTC), or `-`."""
    return datetime.fromisoformat(at).strftime("%H:%M:%S") if at else "-"


def bridge_lines(bridge: dict[str, Any] | None) -> list[str]:
    """The bridge summary: live or ended, each member's times, each recording."""
    if bridge is None:
        return []
    from shared.incident_bridge.view import in_bridge_now

    inside = in_bridge_now(bridge)
    state = f"live, {len(inside)} in it" if inside else "nobody in it"
    lines = [f"incident bridge {bridge['conference']}: {state}"]
    for member in bridge["members"]:
        left = f"left {_clock(member['left_at'])}" if member["left_at"] else "still in"
        lines.append(f"  {member['who']:<20} joined {_clock(member['joined_at'])}  {left}")
    for recording in bridge["recordings"]:
        lines.append(
            f"  recording at {_clock(recording['at'])}, {recording['duration_s']} s: "
            f"{recording['url']}"
        )
    return lines


def timeline_lines(timeline: list[dict[str, Any]]) -> list[str]:
    """`HH:MM:SS.mmm  +s  what happened` per event; bookkeeping left out as in the demo."""
    from cli.demo import describe
    from shared.incident_bridge.view import bridge_line

    lines = []
    started: datetime | None = None
    for event in timeline:
        at = datetime.fromisoformat(event["at"])
        started = started or at
        line = bridge_line(event["kind"], event["detail"]) or describe(event)
        if line:
            offset = (at - started).total_seconds()
            lines.append(f"  {at.strftime('%H:%M:%S.%f')[:12]}  {offset:>7.1f}s  {line}")
    return lines


@click.command("alert")
@click.argument("alert_id", type=COUNT)
def show_alert(alert_id: int) -> None:
    """One alert: its state, its incident bridge and its timeline."""
    from shared.alerts.view import alert_view
    from shared.core.db import session_scope

    settings = settings_or_exit()
    with session_scope(settings.effective_database_url) as session:
        view = alert_view(session, alert_id)
    if view is None:
        click.echo(f"alert-dispatch: no alert {alert_id}", err=True)
        sys.exit(1)
    click.echo(f"alert {view['id']}  {view['status']}  {view['severity']}  {view['summary']}")
    click.echo(f"from {view['source']}, since {view['created_at']}")
    if view["acknowledged_by"]:
        click.echo(f"acknowledged by {view['acknowledged_by']} via {view['acknowledged_via']}")
    for line in bridge_lines(view["bridge"]):
        click.echo(line)
    click.echo("timeline:")
    for line in timeline_lines(view["timeline"]):
        click.echo(line)
