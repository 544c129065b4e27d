"""The on-call phone line: `/plivo/voice/inbound`, the answer URL of the inbound number.

A caller whose number is a contact's in the on-call file hears how many alerts
are open and the most severe one, then a menu: 1 reads the open alerts one by
one, most severe first, each acknowledged with 1 (through the lifecycle every
way in uses, `acknowledged_via` "phone_line") or skipped with 2; 2 says who is
on call; 3 puts the caller through to the person on call with `<Dial>`. Any
other caller hears one neutral sentence and is hung up on, counted and logged
with the number masked.

Every request is a Plivo callback: signature and nonce are checked first
(webhooks.plivo_callbacks.verified_params), then the caller is identified again
from the signed `From`, so a key can only act for a known caller. Where the
call is (which alert, second time asking) travels in the signed URLs Plivo
posts back; nothing about the call is kept between requests.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Final
from urllib.parse import urlencode

from flask import Blueprint, Response, current_app, request
from sqlalchemy.orm import Session

from shared.alerts.lifecycle import acknowledge
from shared.core.db import session_scope
from shared.core.enums import AlertStatus
from shared.core.events import record_event
from shared.core.metrics import ALERT_ACTIONS, PHONE_LINE_CALLS
from shared.core.models import Alert, utcnow
from shared.core.phone import mask
from shared.phone_line.on_call_now import OnCall, dial_target, on_call_now
from shared.phone_line.open_alerts import next_open_alert, open_alerts
from shared.phone_line.words import (
    NO_MORE,
    NOBODY_TO_CALL,
    NOT_AN_OPTION,
    ONLY_YOU,
    Prompt,
    ack_sentence,
    alert_xml,
    dial_xml,
    goodbye_xml,
    menu_xml,
    refused_xml,
    status_sentence,
    who_sentence,
)
from shared.routing.oncall_config import Contact, OncallConfig
from shared.routing.route import current_config
from shared.schedules.override_store import active_overrides
from webhooks.plivo_callbacks import verified_params

log = logging.getLogger(__name__)

bp = Blueprint("plivo_phone_line", __name__)

ANSWER: Final = "/plivo/voice/inbound"
MENU: Final = "/plivo/voice/inbound/menu"
ALERT: Final = "/plivo/voice/inbound/alert"
# `acknowledged_via` and the `via` label of an acknowledgement made here.
VIA: Final = "phone_line"
CALLED: Final = "phone_line.call"
CONNECTED: Final = "phone_line.connect"
# A callback from a contact: its verified params, the on-call file, the contact.
Known = tuple[dict[str, str], OncallConfig, Contact]


def _xml(body: str) -> Response:
    return Response(body, status=200, mimetype="application/xml")


def _database_url() -> str:
    return str(current_app.config["SETTINGS"].effective_database_url)


def _url(path: str, **query: str | int) -> str:
    base = current_app.config["SETTINGS"].public_base_url.rstrip("/")
    return f"{base}{path}" + (f"?{urlencode(query)}" if query else "")


def _prompt(path: str, **query: str | int) -> Prompt:
    """A question asked afresh: keys go to `path`, and so does silence, without a digit,
    to be asked once more (`_again`)."""
    url = _url(path, **query)
    return Prompt(url, url)


def _again(path: str, **query: str | int) -> Prompt:
    """The same question a second and last time: silence now says goodbye. The key's URL
    carries `try=2`, so a post with no digit (Plivo's timeout) also ends the call."""
    return Prompt(_url(path, **query, **{"try": 2}), None)


def _second_try() -> bool:
    return request.args.get("try") == "2"


def _number(params: dict[str, str]) -> str:
    """The caller as E.164 (Plivo writes numbers without the +)."""
    return "+" + params.get("From", "").strip().lstrip("+")


def _config() -> OncallConfig | None:
    return current_config(current_app.config["SETTINGS"].config_file)


def _caller(config: OncallConfig | None, params: dict[str, str]) -> Contact | None:
    """The contact calling, from the signed `From`; None for any other number."""
    return config.contact_for_phone(_number(params)) if config is not None else None


def _digit(params: dict[str, str]) -> str:
    return (params.get("Digits") or "").strip()[:1]


@bp.post(ANSWER)
def answer() -> Response:
    params = verified_params("phone_line_answer")
    if isinstance(params, Response):
        return params
    caller = _caller(_config(), params)
    call_uuid = params.get("CallUUID", "")
    with session_scope(_database_url()) as session:
        first = record_event(
            session,
            CALLED,
            detail={
                "caller": caller.name if caller else None,
                "from": mask(_number(params)),
                "CallUUID": call_uuid,
            },
            dedup_key=f"phone-line:{call_uuid}" if call_uuid else None,
        )
        said = _status(session) if caller is not None else ""
    if first:
        PHONE_LINE_CALLS.labels(caller="known" if caller else "unknown").inc()
    if caller is None:
        log.warning("phone line: call from %s refused, not a contact", mask(_number(params)))
        return _xml(refused_xml())
    log.info("phone line: %s called from %s", caller.name, mask(_number(params)))
    return _xml(menu_xml(said, _prompt(MENU)))


def _status(session: Session) -> str:
    """How many alerts are open and the most severe one, as said on answering."""
    found = open_alerts(session)
    return status_sentence(found.count, found.unacknowledged, found.most_severe)


def _known_caller(endpoint: str) -> Known | Response:
    """The verified params, the file and the calling contact, or the answer that ends
    the call: the signature first, then the caller, before anything is read."""
    params = verified_params(endpoint)
    if isinstance(params, Response):
        return params
    config = _config()
    caller = _caller(config, params)
    if config is None or caller is None:
        log.warning(
            "phone line: %s from %s refused, not a contact", endpoint, mask(_number(params))
        )
        return _xml(refused_xml())
    return params, config, caller


@bp.post(MENU)
def menu() -> Response:
    known = _known_caller("phone_line_menu")
    if isinstance(known, Response):
        return known
    params, config, caller = known
    digit = _digit(params)
    if not digit:
        return _xml(goodbye_xml() if _second_try() else menu_xml("", _again(MENU)))
    choices: dict[str, Callable[[Session, OncallConfig, Contact], str]] = {
        "1": _first_alert,
        "2": _who,
        "3": _connect,
    }
    choice = choices.get(digit)
    if choice is None:
        return _xml(menu_xml(NOT_AN_OPTION, _prompt(MENU)))
    with session_scope(_database_url()) as session:
        return _xml(choice(session, config, caller))


def _first_alert(session: Session, config: OncallConfig, caller: Contact) -> str:
    alert = next_open_alert(session, None)
    if alert is None:
        return menu_xml("No open alerts.", _prompt(MENU))
    return alert_xml("", alert, _prompt(ALERT, a=alert.id))


def _who(session: Session, config: OncallConfig, caller: Contact) -> str:
    return menu_xml(who_sentence(_on_call(session, config)), _prompt(MENU))


def _connect(session: Session, config: OncallConfig, caller: Contact) -> str:
    people = _on_call(session, config)
    target = dial_target(people, caller)
    if target is None:
        alone = any(entry.contact.name == caller.name for entry in people)
        return menu_xml(ONLY_YOU if alone else NOBODY_TO_CALL, _prompt(MENU))
    record_event(session, CONNECTED, detail={"caller": caller.name, "to": target.name})
    log.info("phone line: %s put through to %s (%s)", caller.name, target.name, mask(target.phone))
    return dial_xml(target.name, target.phone)


def _on_call(session: Session, config: OncallConfig) -> list[OnCall]:
    now = utcnow()
    return on_call_now(config, now, active_overrides(session, now))


def _alert_id() -> int | None:
    raw = request.args.get("a", "")
    if not raw.isascii() or not raw.isdigit():
        return None
    value = int(raw)
    return value if 0 < value < 2**63 else None


@bp.post(ALERT)
def alert_input() -> Response:
    known = _known_caller("phone_line_alert")
    if isinstance(known, Response):
        return known
    params, _config_in_force, caller = known
    digit, alert_id = _digit(params), _alert_id()
    with session_scope(_database_url()) as session:
        alert = session.get(Alert, alert_id) if alert_id is not None else None
        if alert is None:
            return _xml(menu_xml("", _prompt(MENU)))
        if not digit:
            if _second_try():
                return _xml(goodbye_xml())
            return _xml(alert_xml("", alert, _again(ALERT, a=alert.id)))
        if digit not in ("1", "2"):
            return _xml(alert_xml(NOT_AN_OPTION, alert, _prompt(ALERT, a=alert.id)))
        said = _acknowledge(session, alert, caller) if digit == "1" else ""
        following = next_open_alert(session, alert)
        if following is None:
            return _xml(menu_xml(f"{said} {NO_MORE}".strip(), _prompt(MENU)))
        return _xml(alert_xml(said, following, _prompt(ALERT, a=following.id)))


def _acknowledge(session: Session, alert: Alert, caller: Contact) -> str:
    """Acknowledge as every way in does; what to say about it."""
    result = acknowledge(session, alert.id, by=caller.name, via=VIA)
    if result.changed:
        ALERT_ACTIONS.labels(action=AlertStatus.ACKNOWLEDGED, via=VIA).inc()
        log.info("alert %s acknowledged by %s on the phone line", alert.id, caller.name)
    return ack_sentence(result.changed, result.status)
