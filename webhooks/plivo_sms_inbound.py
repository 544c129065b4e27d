"""Inbound SMS: acknowledgement replies, STOP/START, and help for anything else."""

from __future__ import annotations

import logging

from flask import Blueprint, Response, current_app
from sqlalchemy import delete, select

from shared.ack_codes import alerts_for_code
from shared.alert_lifecycle import acknowledge
from shared.db import session_scope
from shared.escalation_plan import Position
from shared.events import record_event
from shared.metrics import ALERT_ACTIONS, SMS_REPLIES
from shared.models import Alert, Notification, OptOut, utcnow
from shared.oncall_routing import escalate_alert_now
from shared.phone import InvalidPhoneNumber, mask, normalize_e164
from shared.reply_codes import HELP_TEXT, Reply, parse_reply
from webhooks.plivo_callbacks import forbidden, verified_params

log = logging.getLogger(__name__)

bp = Blueprint("plivo_sms_inbound", __name__)

PLIVO_INTENTS = {"optout": "stop", "optin": "start", "help": "help"}


def _ok() -> Response:
    return Response("ok\n", status=200, mimetype="text/plain")


@bp.post("/plivo/sms/inbound")
def inbound_sms() -> Response:
    params = verified_params("sms_inbound")
    if params is None:
        return forbidden()
    try:
        sender = normalize_e164("+" + params.get("From", "").lstrip("+"))
    except InvalidPhoneNumber:
        log.warning("inbound SMS from an unusable number ignored")
        return _ok()
    reply = parse_reply(params.get("Text", ""))
    intent = PLIVO_INTENTS.get(params.get("MessageIntent", "").lower())
    action = intent or (reply.action if reply else "unknown")
    SMS_REPLIES.labels(action=action).inc()
    enqueue = current_app.config["ENQUEUE"]
    with session_scope(current_app.config["SETTINGS"].effective_database_url) as session:
        record_event(
            session,
            "sms.inbound",
            detail={
                "from": mask(sender),
                "action": action,
                "MessageUUID": params.get("MessageUUID"),
            },
            dedup_key=f"sms-inbound:{params['MessageUUID']}" if params.get("MessageUUID") else None,
        )
        answer = _act(session, sender, action, reply)
    if answer:
        enqueue.send_reply(sender, answer)
    return _ok()


def _act(session, sender: str, action: str, reply: Reply | None) -> str | None:  # type: ignore[no-untyped-def]
    """Do what the text asks; the text to answer with, if any."""
    if action == "stop":
        session.merge(OptOut(destination=sender, opted_out_at=utcnow()))
        log.error("on-call number %s opted out with STOP: it will get no alert SMS", mask(sender))
        return None  # the carrier sends the opt-out confirmation
    if action == "start":
        session.execute(delete(OptOut).where(OptOut.destination == sender))
        log.warning("number %s opted back in to alert SMS", mask(sender))
        return None
    if action in ("help", "unknown"):
        return HELP_TEXT if _may_send_help(sender) else None
    assert reply is not None
    alert_ids = alerts_for_code(session, sender, reply.code)
    if not alert_ids:
        return (
            f"No open alert with code {reply.code} for this number."
            if reply.code is not None
            else "Several alerts are open: reply with the code from the one you mean."
        )
    if action == "ack":
        acked = []
        for alert_id in alert_ids:
            if acknowledge(session, alert_id, by=mask(sender), via="sms").changed:
                ALERT_ACTIONS.labels(action="acknowledged", via="sms").inc()
                acked.append(alert_id)
        if not acked:
            return "Already acknowledged or resolved: nothing changed."
        return f"{_list_alerts(acked).capitalize()} acknowledged."
    return " ".join(_escalate(session, alert_id, sender) for alert_id in alert_ids)[:300]


def _list_alerts(alert_ids: list[int]) -> str:
    shown = ", ".join(f"#{i}" for i in alert_ids[:10])
    more = f" and {len(alert_ids) - 10} more" if len(alert_ids) > 10 else ""
    return f"alert{'s' if len(alert_ids) > 1 else ''} {shown}{more}"


def _escalate(session, alert_id: int, sender: str) -> str:  # type: ignore[no-untyped-def]
    alert = session.get(Alert, alert_id)
    if alert is None or alert.status != "triggered":
        return f"Alert #{alert_id} is not open."
    last = session.scalars(
        select(Notification)
        .where(Notification.alert_id == alert_id, Notification.destination == sender)
        .order_by(Notification.id.desc())
    ).first()
    if last is None:
        return f"Alert #{alert_id} has already moved on."
    due = escalate_alert_now(
        session,
        alert,
        after=Position(last.step, last.round),
        config_path=current_app.config["SETTINGS"].config_file,
        reason=f"{mask(sender)} replied escalate",
    )
    if due is None:
        return f"Alert #{alert_id} has already moved on."
    # The tick fires it within a second; enqueueing here could race our own commit.
    return f"Alert #{alert_id} escalated to the next step."


def _may_send_help(sender: str) -> bool:
    """At most a few help texts per number per hour: never a reply loop with a bot."""
    from shared.ratelimit import Limit, RateLimiter

    limiter = RateLimiter(current_app.config["REDIS"])
    decision = limiter.acquire([(f"help:{sender}", Limit.at_most("help-replies", 3, 3600))])
    return decision.allowed
