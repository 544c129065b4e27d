"""Inbound SMS: acknowledgement replies, STOP/START, and help for anything else.

A reply to a maintenance notice (the last message we sent the number was a
notice) is about notices: STOP then opts out of notices only, never of pages,
and HELP or an unknown text gets the notices' instructions, within the same
answer limits as every reply.

Each inbound message (its MessageUUID) takes effect once, however often it is
posted. Answers are texts we pay for, sent at the account's rate that pages
share: only people we page or have on the rota get one, a few an hour each and
a bounded number overall. An answer is written to the event log before the
task that sends it is queued, and the task carries only that event's id, so
no phone number travels in a broker message.
"""

from __future__ import annotations

import logging
from typing import Final

from flask import Blueprint, Response, current_app
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from shared.alerts.lifecycle import acknowledge
from shared.core.db import session_scope
from shared.core.enums import AlertStatus, Channel
from shared.core.events import record_event
from shared.core.metrics import ALERT_ACTIONS, REPLIES_WITHHELD, SMS_REPLIES
from shared.core.models import Alert, Event, Notification, OptOut, utcnow
from shared.core.phone import InvalidPhoneNumber, mask, normalize_e164
from shared.escalation.hurry import escalate_alert_now
from shared.escalation.plan import Position
from shared.notices.notice_opt_outs import last_sent, opt_in_to_notices, opt_out_of_notices
from shared.replies.code_store import alerts_for_code
from shared.replies.codes import HELP_TEXT, Reply, parse_reply
from shared.replies.notice_scope import NOTICE_HELP_TEXT, ReplyScope, reply_scope
from shared.routing.route import current_config
from shared.sending.rate_limiter import Limit, RateLimiter
from webhooks.plivo_callbacks import verified_params

log = logging.getLogger(__name__)

bp = Blueprint("plivo_sms_inbound", __name__)

PLIVO_INTENTS = {"optout": "stop", "optin": "start", "help": "help"}

# The event a queued answer is recorded as; worker/tasks/send_reply.py reads its
# detail ("destination", "text") back by id.
REPLY_QUEUED: Final = "sms.reply_queued"

# Any answer, to one number: a person working an incident gets confirmations
# for a few acknowledgements, a phone that answers every text (auto-reply)
# cannot keep a conversation with us going.
REPLIES_PER_NUMBER: Final = Limit.at_most("replies-per-number", 5, 3600)
# Help texts say the same thing every time: three an hour is plenty.
HELP_PER_NUMBER: Final = Limit.at_most("help-replies", 3, 3600)
# Every answer together: they cost money and take SMS slots from pages.
REPLIES_OVERALL: Final = Limit.at_most("replies-overall", 60, 3600)


def _ok() -> Response:
    return Response("ok\n", status=200, mimetype="text/plain")


@bp.post("/plivo/sms/inbound")
def inbound_sms() -> Response:
    params = verified_params("sms_inbound")
    if isinstance(params, Response):
        return params
    message_uuid = params.get("MessageUUID", "")
    if not message_uuid:
        # Plivo always sends one; without it the message could not be applied only once.
        log.warning("inbound SMS without a MessageUUID ignored")
        return _ok()
    try:
        sender = normalize_e164("+" + params.get("From", "").lstrip("+"))
    except InvalidPhoneNumber:
        log.warning("inbound SMS from an unusable number ignored")
        return _ok()
    reply = parse_reply(params.get("Text", ""))
    intent = PLIVO_INTENTS.get(params.get("MessageIntent", "").lower())
    action = intent or (reply.action if reply else "unknown")
    reply_id = None
    with session_scope(current_app.config["SETTINGS"].effective_database_url) as session:
        first = record_event(
            session,
            "sms.inbound",
            detail={"from": mask(sender), "action": action, "MessageUUID": message_uuid},
            dedup_key=f"sms-inbound:{message_uuid}",
        )
        if not first:
            log.info("inbound SMS %s seen before: nothing done again", message_uuid)
            return _ok()
        SMS_REPLIES.labels(action=action).inc()
        answer = _act(session, sender, action, reply)
        if answer and _may_answer(session, sender, is_help=action in ("help", "unknown")):
            reply_id = _queue_reply(session, sender, answer, message_uuid)
    if reply_id is not None and not current_app.config["ENQUEUE"].send_reply(reply_id):
        log.warning("answer %s to %s not queued: broker unavailable", reply_id, mask(sender))
    return _ok()


def _act(session: Session, sender: str, action: str, reply: Reply | None) -> str | None:
    """Do what the text asks; the text to answer with, if any."""
    if action in ("stop", "help", "unknown") and _about_notices(session, sender):
        return _act_on_notices(session, sender, action)
    if action == "stop":
        session.merge(OptOut(destination=sender, opted_out_at=utcnow()))
        log.error("on-call number %s opted out with STOP: it will get no alert SMS", mask(sender))
        return None  # the carrier sends the opt-out confirmation
    if action == "start":
        session.execute(delete(OptOut).where(OptOut.destination == sender))
        opt_in_to_notices(session, sender)
        log.warning("number %s opted back in to alert SMS and notices", mask(sender))
        return None
    if action in ("help", "unknown") or reply is None:
        # Only a parsed reply acks or escalates; anything else gets the instructions.
        return HELP_TEXT
    alert_ids = alerts_for_code(session, sender, reply)
    if not alert_ids:
        return (
            f"No open alert with code {reply.code} for this number."
            if reply.code is not None
            else "Several alerts are open: reply with the code from the one you mean."
        )
    if action == "ack":
        acked = []
        for alert_id in alert_ids:
            if acknowledge(session, alert_id, by=mask(sender), via=Channel.SMS).changed:
                ALERT_ACTIONS.labels(action=AlertStatus.ACKNOWLEDGED, via=Channel.SMS).inc()
                acked.append(alert_id)
        if not acked:
            return "Already acknowledged or resolved: nothing changed."
        return f"{_list_alerts(acked).capitalize()} acknowledged."
    return " ".join(_escalate(session, alert_id, sender) for alert_id in alert_ids)[:300]


def _about_notices(session: Session, sender: str) -> bool:
    """A reply to a maintenance notice: the last message we sent the number was one."""
    return reply_scope(*last_sent(session, sender)) is ReplyScope.NOTICES


def _act_on_notices(session: Session, sender: str, action: str) -> str | None:
    """STOP to a notice stops notices only: the number's pages still go (and stay loud)."""
    if action == "stop":
        opt_out_of_notices(session, sender, utcnow())
        log.warning("number %s opted out of maintenance notices; pages still go", mask(sender))
        return None  # the carrier sends the opt-out confirmation
    return NOTICE_HELP_TEXT


def _list_alerts(alert_ids: list[int]) -> str:
    shown = ", ".join(f"#{i}" for i in alert_ids[:10])
    more = f" and {len(alert_ids) - 10} more" if len(alert_ids) > 10 else ""
    return f"alert{'s' if len(alert_ids) > 1 else ''} {shown}{more}"


def _escalate(session: Session, alert_id: int, sender: str) -> str:
    alert = session.get(Alert, alert_id)
    if alert is None or alert.status != AlertStatus.TRIGGERED:
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


def _is_known_contact(session: Session, sender: str) -> bool:
    """Someone we have paged or sent a notice, or who is on the rota: the only numbers
    we ever answer.

    Anyone can text our number; answering strangers would let them spend our
    money and our sending rate, and make us a relay for texts to any number.
    """
    config = current_config(current_app.config["SETTINGS"].config_file)
    if config is not None and config.contact_for_phone(sender) is not None:
        return True
    if last_sent(session, sender)[1] is not None:
        return True  # we sent it a notice
    paged = session.scalar(
        select(Notification.id)
        .where(Notification.destination == sender, Notification.send_attempts > 0)
        .limit(1)
    )
    return paged is not None


def _may_answer(session: Session, sender: str, *, is_help: bool) -> bool:
    """Whether an answer may go to `sender` now; a withheld one is logged and counted."""
    if not _is_known_contact(session, sender):
        REPLIES_WITHHELD.labels(reason="unknown_number").inc()
        log.warning("no answer to %s: not a number we page", mask(sender))
        return False
    checks = [(f"reply:{sender}", REPLIES_PER_NUMBER), ("reply:all", REPLIES_OVERALL)]
    if is_help:
        checks.append((f"help:{sender}", HELP_PER_NUMBER))
    decision = RateLimiter(current_app.config["REDIS"]).acquire(checks)
    if not decision.allowed:
        REPLIES_WITHHELD.labels(reason=decision.blocked_by or "limit").inc()
        log.warning("no answer to %s: reply limit %s reached", mask(sender), decision.blocked_by)
    return decision.allowed


def _queue_reply(session: Session, sender: str, text: str, message_uuid: str) -> int | None:
    """Record the answer (the task reads it back by id); its event id, None if not stored.

    Keyed by the inbound message, so one message is answered at most once.
    """
    key = f"sms-reply:{message_uuid}"
    record_event(
        session,
        REPLY_QUEUED,
        detail={"destination": sender, "text": text, "in_reply_to": message_uuid},
        dedup_key=key,
    )
    event_id = session.scalar(select(Event.id).where(Event.dedup_key == key))
    if event_id is None:
        # Recorded (or found recorded) just above in this transaction: missing, the
        # answer is dropped, while what the reply did still takes effect.
        log.error("answer to %s not recorded: no answer sent", mask(sender))
    return event_id
