"""`alert-dispatch alerts | ack ID | resolve ID`: the on-call engineer's view from a shell."""

from __future__ import annotations

import getpass
import sys
from typing import TYPE_CHECKING

import click

from cli.common import COUNT, settings_or_exit
from shared.core.enums import AlertStatus

if TYPE_CHECKING:
    from shared.core.models import Alert


def _by_default() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "cli"


@click.command("alerts")
@click.option("--all", "show_all", is_flag=True, help="Include resolved alerts.")
@click.option("--limit", default=50, show_default=True, type=COUNT)
def list_alerts(show_all: bool, limit: int) -> None:
    """Open alerts with their escalation state (or the maintenance window holding them),
    and any page held by its person's quiet hours, with the time it goes."""
    from shared.alerts.listing import OPEN, STATUSES, AlertFilter
    from shared.alerts.listing import list_alerts as query_alerts
    from shared.alerts.maintenance import describe
    from shared.core.db import session_scope
    from shared.core.models import utcnow

    settings = settings_or_exit()
    wanted = AlertFilter(statuses=STATUSES if show_all else OPEN, limit=limit)
    with session_scope(settings.effective_database_url) as session:
        now = utcnow()
        page = query_alerts(session, wanted, now)
        alerts, counts = page.alerts, page.notification_counts
        if not alerts:
            click.echo("no open alerts")
            return
        rows = []
        for alert in alerts:
            note = describe(alert.maintenance, alert.held_until, alert.status, now)
            escalation = _escalation(alert, note)
            summary = alert.summary[:60] + (f" [{note}]" if note and note != escalation else "")
            if alert.id in page.quiet_holds:  # "[ann held for quiet hours until 07:00 ...]"
                summary += f" [{'; '.join(page.quiet_holds[alert.id])}]"
            rows.append((alert, escalation, summary))
        width = max(26, *(len(escalation) for _, escalation, _ in rows))
        heading = f"{'ID':>5}  {'STATUS':<12} {'SEVERITY':<9} {'ESCALATION':<{width}} {'PAGES':>5}"
        click.echo(f"{heading}  SUMMARY")
        for alert, escalation, summary in rows:
            click.echo(
                f"{alert.id:>5}  {alert.status:<12} {alert.severity:<9} "
                f"{escalation:<{width}} {counts.get(alert.id, 0):>5}  {summary}"
            )


def _escalation(alert: Alert, maintenance: str | None) -> str:
    """Where paging for the alert is; a hold is shown whole, "held (maintenance X until
    HH:MM)", since it says when paging starts."""
    if alert.status == AlertStatus.ACKNOWLEDGED:
        return f"ack by {alert.acknowledged_by} ({alert.acknowledged_via})"[:26]
    if alert.held_until is not None and maintenance is not None:
        return maintenance
    if alert.escalation == "active":
        due = alert.next_fire_at.strftime("%H:%M:%S") if alert.next_fire_at else "-"
        return f"{alert.policy} step {alert.esc_step + 1} at {due}"[:26]
    return f"{alert.policy or '-'} {alert.escalation}"[:26]


def _lifecycle(action: str, alert_id: int, by: str) -> None:
    from shared.alerts import after_close
    from shared.alerts.lifecycle import acknowledge, resolve
    from shared.core.db import session_scope
    from shared.core.metrics import ALERT_ACTIONS
    from worker import enqueue

    after_close.register("hang_up_calls", enqueue.hang_up_calls)  # its ringing calls stop

    settings = settings_or_exit()
    act = acknowledge if action == AlertStatus.ACKNOWLEDGED else resolve
    with session_scope(settings.effective_database_url) as session:
        result = act(session, alert_id, by=by, via="cli")
    if result.status is None:
        click.echo(f"alert-dispatch: no alert {alert_id}", err=True)
        sys.exit(1)
    if result.changed:
        ALERT_ACTIONS.labels(action=action, via="cli").inc()
        click.echo(
            f"alert {alert_id} {action} by {by}; {result.cancelled} pending notifications cancelled"
        )
    else:
        click.echo(f"alert {alert_id} is already {result.status}; nothing changed")


@click.command("ack")
@click.argument("alert_id", type=COUNT)
@click.option("--by", default=_by_default, show_default="your user name")
def ack(alert_id: int, by: str) -> None:
    """Acknowledge an alert: paging for it stops at once."""
    _lifecycle(AlertStatus.ACKNOWLEDGED, alert_id, by)


@click.command("resolve")
@click.argument("alert_id", type=COUNT)
@click.option("--by", default=_by_default, show_default="your user name")
def resolve(alert_id: int, by: str) -> None:
    """Resolve an alert: paging stops and its dedup key may open a new alert."""
    _lifecycle(AlertStatus.RESOLVED, alert_id, by)
