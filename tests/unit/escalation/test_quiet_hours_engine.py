"""Quiet hours where a step fires, on a real database: a warning for a person in their
quiet hours is planned due when they end (the tick hands it over then), a critical one is
due at once; the alert's view and `alert-dispatch alerts` show the page as held."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from click.testing import CliRunner
from sqlalchemy import select

from cli.main import cli
from shared.alerts.listing import AlertFilter, list_alerts
from shared.alerts.schemas import AlertIn
from shared.alerts.store import accept_alert
from shared.alerts.view import alert_view
from shared.core.db import session_scope
from shared.core.models import Alert, Event, Notification, utcnow
from shared.escalation.engine import FireResult, fire, start
from shared.escalation.plan import Position
from shared.routing.oncall_config import OncallConfig, parse_config
from shared.routing.route import freeze_chain, thaw_chain
from worker.sending.handover import Cutoffs
from worker.tasks.hand_over_sends import claim_due_sends


def oncall(quiet_from: str = "22:00", quiet_to: str = "07:00") -> OncallConfig:
    return parse_config(
        f"""
contacts:
  ann:
    phone: "+14155550401"
    quiet_hours: {{from: "{quiet_from}", to: "{quiet_to}", time_zone: Europe/Berlin}}
  bob:
    phone: "+14155550402"
    channels: [sms]
    quiet_hours: {{from: "{quiet_from}", to: "{quiet_to}", time_zone: Europe/Berlin}}
    quiet_hours_off: true
  lead: {{phone: "+14155550403", channels: [sms]}}
policies:
  night:
    steps:
      - {{targets: [ann, bob], channels: [sms, voice], wait: 300}}
      - {{targets: [lead], channels: [sms], wait: 300}}
default_policy: night
"""
    )


NIGHT = datetime(2026, 12, 2, 23, 0, tzinfo=UTC)  # midnight in Berlin
MORNING = datetime(2026, 12, 3, 6, 0, tzinfo=UTC)  # 07:00 in Berlin


def fire_first_step(
    url: str, severity: str, at: datetime, config: OncallConfig
) -> tuple[int, FireResult]:
    """Start an alert's (frozen) chain and fire its first step at `at`."""
    snapshot = freeze_chain(config, "night")
    frozen, policy = thaw_chain(snapshot)
    with session_scope(url) as session:
        alert_id = accept_alert(session, AlertIn(summary="disk 85%", severity=severity)).alert_id
        start(session, alert_id, "night", at, snapshot=snapshot)
        result = fire(session, alert_id, Position(0, 0), frozen, policy, at, lambda c, ch: "x")
    return alert_id, result


def aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def due_by_contact(url: str, alert_id: int) -> dict[tuple[str, str], datetime]:
    with session_scope(url) as session:
        rows = session.execute(
            select(Notification.contact, Notification.channel, Notification.due_at).where(
                Notification.alert_id == alert_id
            )
        ).all()
    return {(contact, channel): aware(due) for contact, channel, due in rows}


def tick_at(url: str, now: datetime) -> set[int]:
    """The notifications the tick hands over at `now`."""
    limits = Cutoffs(now, now, now - timedelta(seconds=60), now, now)
    with session_scope(url) as session:
        return {send.notification_id for send in claim_due_sends(session, limits)}


def test_a_warning_in_quiet_hours_is_due_when_they_end_and_the_chain_keeps_its_pace(
    database_url,
) -> None:
    alert_id, result = fire_first_step(database_url, "warning", NIGHT, oncall())
    assert due_by_contact(database_url, alert_id) == {
        ("ann", "sms"): MORNING,
        ("ann", "voice"): MORNING,
        ("bob", "sms"): NIGHT,  # quiet_hours_off: paged at any hour
    }
    assert len(result.planned) == 1 and len(result.held) == 2  # only bob's is sent now
    with session_scope(database_url) as session:
        alert = session.get(Alert, alert_id)
        assert aware(alert.next_fire_at) == NIGHT + timedelta(seconds=300)
        held = session.scalars(
            select(Event).where(
                Event.alert_id == alert_id, Event.kind == "notification.quiet_hours"
            )
        ).all()
    assert {event.notification_id for event in held} == {p.notification_id for p in result.held}
    assert {event.detail["until"] for event in held} == {MORNING.isoformat()}
    held_ids = {p.notification_id for p in result.held}
    assert not tick_at(database_url, NIGHT + timedelta(minutes=10)) & held_ids
    assert tick_at(database_url, MORNING) >= held_ids


def test_a_critical_alert_pages_at_once_in_quiet_hours(database_url) -> None:
    alert_id, result = fire_first_step(database_url, "critical", NIGHT, oncall())
    assert set(due_by_contact(database_url, alert_id).values()) == {NIGHT}
    assert len(result.planned) == 3 and result.held == ()


def test_the_alert_view_and_listing_show_the_page_held_with_its_time(database_url) -> None:
    alert_id, _ = fire_first_step(database_url, "info", NIGHT, oncall())
    with session_scope(database_url) as session:
        view = alert_view(session, alert_id, now=NIGHT)
        page = list_alerts(session, AlertFilter(), NIGHT)
        after = list_alerts(session, AlertFilter(), MORNING)
    held = {n["to"][-2:]: n["held"] for n in view["notifications"]}
    text = "held for quiet hours until 07:00 Europe/Berlin"
    assert held["01"] == {"reason": "quiet_hours", "until": MORNING.isoformat(), "text": text}
    assert held["02"] is None
    assert page.quiet_holds[alert_id] == [f"ann {text}"]
    assert alert_id not in after.quiet_holds  # once due, the tick hands it over


def test_alert_dispatch_alerts_shows_the_page_held_with_its_time(
    database_url, tmp_path: Path
) -> None:
    # The CLI lists as of the real clock: quiet hours around it, ending in two hours.
    now = utcnow().replace(second=0, microsecond=0)
    berlin = now.astimezone(ZoneInfo("Europe/Berlin"))
    start_at, end_at = berlin - timedelta(hours=1), berlin + timedelta(hours=2)
    config = oncall(f"{start_at:%H:%M}", f"{end_at:%H:%M}")
    fire_first_step(database_url, "warning", utcnow(), config)
    env = {"DATABASE_URL": database_url, "DATA_DIR": str(tmp_path)}
    done = CliRunner().invoke(cli, ["alerts"], env=env)
    assert done.exit_code == 0, done.output
    assert f"held for quiet hours until {end_at:%H:%M} Europe/Berlin" in done.output
