"""The escalation engine on a real database: firing, ending, and what counts as still live."""

from __future__ import annotations

from datetime import timedelta

import pytest

from shared.alerts.schemas import AlertIn
from shared.alerts.store import accept_alert
from shared.core.db import session_scope
from shared.core.models import Alert, Notification, utcnow
from shared.escalation.engine import (
    END_OF_CHAIN,
    claim_due_steps,
    escalate_now,
    fire,
    live_in_step,
    start,
)
from shared.escalation.plan import Position
from shared.notifications.planning import plan_notification
from shared.notifications.state import NotificationState as S
from shared.routing.oncall_config import parse_config
from shared.routing.route import freeze_chain

CONFIG = parse_config(
    """
contacts:
  ann: {phone: "+14155550301", channels: [sms, voice]}
policies:
  one:
    steps:
      - {targets: [ann], channels: [sms], wait: 5}
default_policy: one
"""
)
POLICY = CONFIG.policies["one"]


def _started(session) -> int:
    alert_id = accept_alert(session, AlertIn(summary="disk full")).alert_id
    assert start(session, alert_id, "one", utcnow(), snapshot=freeze_chain(CONFIG, "one"))
    return alert_id


def _fire(session, alert_id: int, position: Position, **kwargs):
    return fire(session, alert_id, position, CONFIG, POLICY, utcnow(), lambda c, ch: "x", **kwargs)


def test_a_position_the_chain_does_not_have_is_refused_not_clamped(database_url):
    with session_scope(database_url) as session:
        alert_id = _started(session)
        session.get(Alert, alert_id).esc_step = 3
        with pytest.raises(ValueError):
            _fire(session, alert_id, Position(3, 0))
        assert session.get(Alert, alert_id).escalation == "active"


def test_the_last_step_then_its_wait_ends_the_chain(database_url):
    with session_scope(database_url) as session:
        alert_id = _started(session)
        result = _fire(session, alert_id, Position(0, 0))
        assert (result.fired, result.step, len(result.planned)) == (True, 0, 1)
        alert = session.get(Alert, alert_id)
        assert (alert.esc_step, alert.esc_round) == (END_OF_CHAIN, 0)
        alert.next_fire_at = utcnow()
        assert not _fire(session, alert_id, Position(0, 0)).fired  # already moved on
        ended = _fire(session, alert_id, Position(END_OF_CHAIN, 0), report_exhaustion=False)
        assert (ended.fired, ended.exhausted) == (True, False)
        assert session.get(Alert, alert_id).escalation == "completed"


def test_explicit_recipients_with_no_wait_complete_as_their_step_fires(database_url):
    """Nothing follows a page to explicit recipients: no task a tick later to end the chain."""
    direct = parse_config(
        """
contacts:
  ann: {phone: "+14155550301", channels: [sms]}
policies:
  direct:
    steps:
      - {targets: [ann], channels: [sms], wait: 0}
default_policy: direct
"""
    )
    policy = direct.policies["direct"]
    with session_scope(database_url) as session:
        alert_id = accept_alert(session, AlertIn(summary="disk full")).alert_id
        start(session, alert_id, "direct", utcnow(), snapshot=freeze_chain(direct, "direct"))
        fired = fire(
            session,
            alert_id,
            Position(0, 0),
            direct,
            policy,
            utcnow(),
            lambda c, ch: "x",
            report_exhaustion=False,
        )
        assert (fired.fired, len(fired.planned)) == (True, 1)
        alert = session.get(Alert, alert_id)
        assert (alert.escalation, alert.next_fire_at) == ("completed", None)
        assert claim_due_steps(session, utcnow() + timedelta(seconds=1), utcnow()) == []


@pytest.mark.parametrize(
    ("state", "counts"),
    [
        (S.PENDING, True),
        (S.SENDING, True),
        (S.UNKNOWN, True),
        (S.QUEUED, True),
        (S.SENT, True),
        (S.DELIVERED, True),  # reached: its person may still answer
        (S.UNDELIVERED, False),
        (S.FAILED, False),
        (S.CANCELLED, False),
    ],
)
def test_what_may_still_reach_someone_in_the_step(database_url, state, counts):
    with session_scope(database_url) as session:
        alert_id = accept_alert(session, AlertIn(summary="disk full")).alert_id

        def planned(destination: str, channel: str = "sms", step: int = 0) -> Notification:
            notification_id = plan_notification(
                session,
                alert_id=alert_id,
                channel=channel,
                destination=destination,
                text="x",
                step=step,
            )
            return session.get(Notification, notification_id)

        failed = planned("+14155550301")
        failed.state = S.FAILED.value
        other = planned("+14155550302")
        other.state = state.value
        planned("+14155550303", step=1)  # another step: never counted
        planned("+14155550304", channel="voice")  # counted only when voice is asked about
        session.flush()
        assert live_in_step(session, failed, ("sms",)) == int(counts)
        assert live_in_step(session, failed, ("sms", "voice")) == int(counts) + 1


LOST_AFTER = timedelta(seconds=90)


def _claim(session, at):
    return claim_due_steps(session, at, at - LOST_AFTER)


def test_a_handed_over_step_goes_again_only_when_lost_and_a_hurried_one_at_once(database_url):
    with session_scope(database_url) as session:
        alert_id = _started(session)
        now = utcnow()
        assert _claim(session, now) == [(alert_id, 0, 0)]
        assert _claim(session, now + timedelta(seconds=89)) == []  # still in the queue
        assert _claim(session, now + timedelta(seconds=91)) == [(alert_id, 0, 0)]  # lost
        assert _fire(session, alert_id, Position(0, 0)).fired
        hurried = escalate_now(
            session, alert_id, after=Position(0, 0), policy=POLICY, now=utcnow(), reason="busy"
        )
        assert hurried == Position(END_OF_CHAIN, 0)
        assert _claim(session, utcnow()) == [(alert_id, END_OF_CHAIN, 0)]
