"""Voice notices placed as calls: what a call says, whose callback it is, how it ended.

A notice call is one request per recipient (`POST /Call/`), claimed before it
leaves and paced within the calls per second pages leave
(worker/tasks/notice_call_batch.py). Its answer and hangup URLs name its batch
(`?nb=`): one call per batch, so the batch names the delivery.

Answered, the call speaks the send's rendered voice text, once and again, and
hangs up: a notice asks nothing, so there is nothing to press. The hang-up
says whether anyone answered: `completed` (or an AnswerTime) is delivered;
anything else (`no-answer`, `busy`, `failed`, `timeout`, `cancel`) is failed,
with that status as the error code. The hang-up is logged once per CallUUID
and applied once, by compare-and-set: a retried or replayed hang-up changes
nothing. It also stores the CallUUID, the id Plivo's call list shows.

A claim abandoned mid-request is settled against Plivo's call list, never by
a second call on a guess. Plivo lists a call once it has ended, and a notice
call may ring and talk for `ring_timeout + CALL_TIME_LIMIT_S`: a claim counts
as abandoned only once it is older than that and the request's own timeouts.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from shared.core.events import record_event
from shared.core.models import NoticeDelivery, NoticeSend
from shared.notices.delivery_state import DeliveryState, sources_for
from shared.sending.reconcile import find_sent

CHANNEL: Final = "voice"
# Where Plivo fetches a notice call's words, and reports its end (webhooks/notice_voice.py).
ANSWER_PATH: Final = "/plivo/voice/notice"
HANGUP_PATH: Final = "/plivo/voice/notice/hangup"
VOICE: Final = "WOMAN"
LANGUAGE: Final = "en-US"
# A notice call ends on its own after this long, however long its text.
CALL_TIME_LIMIT_S: Final = 120
# About 40 seconds of speech; said twice, it fits the time limit.
SPOKEN_MAX: Final = 600
GOODBYE: Final = "This call is not about a maintenance notice. Goodbye."
HANGUP_EVENT: Final = "callback.notice_call_hangup"
ANSWERED = "answered"
NOT_ANSWERED = "not_answered"
# Characters XML 1.0 cannot carry, escaped or not.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_KEPT = ("CallUUID", "RequestUUID", "CallStatus", "HangupCause", "Duration", "AnswerTime")


def call_settle_after(request_timeout: timedelta, ring_timeout_s: float) -> timedelta:
    """How old a call's claim is before Plivo's call list must show it, had it left."""
    return request_timeout + timedelta(seconds=ring_timeout_s + CALL_TIME_LIMIT_S)


def _speakable(text: str) -> str:
    clean = " ".join(_NOT_XML.sub(" ", text or "").split())
    if len(clean) <= SPOKEN_MAX:
        return clean
    cut = clean[:SPOKEN_MAX]
    return cut[: cut.rfind(" ")] if " " in cut else cut


def _spoken(texts: Iterable[str]) -> str:
    """A `<Response>` saying each text in turn, then hanging up (built with ElementTree:
    a notice's words may hold `<` or `&`)."""
    root = ET.Element("Response")
    for index, text in enumerate(texts):
        if index:
            ET.SubElement(root, "Wait", length="1")
        ET.SubElement(root, "Speak", voice=VOICE, language=LANGUAGE).text = text
    ET.SubElement(root, "Hangup")
    return ET.tostring(root, encoding="unicode")


def notice_call_xml(text: str) -> str:
    """The answer to a notice call: its words, said twice (a person who picked up late
    hears them whole), then the end of the call."""
    spoken = _speakable(text)
    return _spoken([spoken, f"Again: {spoken}"])


def goodbye_xml() -> str:
    return _spoken([GOODBYE])


def is_this_call(provider_uuid: str | None, state: str, request_uuid: str, call_uuid: str) -> bool:
    """Whether a callback is about the call its batch placed.

    The delivery holds the create-call answer's RequestUUID, or the CallUUID
    (found in Plivo's list, or stored at hang-up); a callback carries both. A
    call Plivo answered before we stored its id is recognised while the row is
    still claimed.
    """
    uuids = {uuid for uuid in (request_uuid, call_uuid) if uuid}
    if not uuids:
        return False
    if provider_uuid is None:
        return state == DeliveryState.CLAIMED and bool(request_uuid)
    return provider_uuid in uuids


def hangup_outcome(status: str, answer_time: str) -> tuple[DeliveryState, str | None]:
    """Delivered when someone (or a voicemail) answered; else failed, with the CallStatus."""
    status = (status or "").strip().lower()
    if status == "completed" or (answer_time or "").strip():
        return DeliveryState.DELIVERED, None
    return DeliveryState.FAILED, (status or "unknown")[:32]


def call_delivery(session: Session, batch_id: str | None) -> NoticeDelivery | None:
    if batch_id is None:
        return None
    return session.scalars(
        select(NoticeDelivery).where(
            NoticeDelivery.batch_id == batch_id, NoticeDelivery.channel == CHANNEL
        )
    ).first()


def _ours(
    session: Session, batch_id: str | None, params: Mapping[str, str]
) -> NoticeDelivery | None:
    row = call_delivery(session, batch_id)
    if row is None:
        return None
    request_uuid, call_uuid = params.get("RequestUUID", ""), params.get("CallUUID", "")
    return row if is_this_call(row.provider_uuid, row.state, request_uuid, call_uuid) else None


def words_for_call(session: Session, batch_id: str | None, params: Mapping[str, str]) -> str | None:
    """The voice text of the send whose call this is; None for a call that is not one."""
    row = _ours(session, batch_id, params)
    send = session.get(NoticeSend, row.send_id) if row is not None else None
    text = (send.texts or {}).get(CHANNEL) if send is not None else None
    return text if isinstance(text, str) and text else None


def record_hangup(
    session: Session, batch_id: str | None, params: Mapping[str, str], now: datetime
) -> str:
    """Log a notice call's hang-up once and apply it: answered, not_answered, stale
    (already settled), duplicate (seen before) or unknown_call."""
    row = _ours(session, batch_id, params)
    detail: dict[str, Any] = {k: params[k] for k in _KEPT if params.get(k)}
    if row is None:
        record_event(session, "callback.unknown_call", detail={**detail, "notice_batch": batch_id})
        return "unknown_call"
    call_uuid = params.get("CallUUID") or params.get("RequestUUID", "")
    detail.update({"delivery_id": row.id, "send_id": row.send_id})
    if not record_event(
        session, HANGUP_EVENT, detail=detail, dedup_key=f"notice-call-hangup:{call_uuid}"
    ):
        return "duplicate"
    target, error = hangup_outcome(params.get("CallStatus", ""), params.get("AnswerTime", ""))
    values: dict[str, Any] = {"state": target.value, "updated_at": now, "provider_uuid": call_uuid}
    if error is not None:
        values["error_code"] = error
    moved = session.execute(
        update(NoticeDelivery)
        .where(
            NoticeDelivery.id == row.id,
            NoticeDelivery.state.in_([s.value for s in sources_for(target)]),
        )
        .values(**values)
    ).rowcount
    if not moved:
        return "stale"
    return ANSWERED if target is DeliveryState.DELIVERED else NOT_ANSWERED


def match_call(
    records: Iterable[Mapping[str, Any]], *, number: str, since: datetime, taken: set[str]
) -> str | None:
    """The CallUUID of the oldest call to `number` Plivo lists at or after `since`, not
    owned by another page or notice already."""
    found = find_sent(
        records,
        destination=number,
        since=since,
        uuid_field="call_uuid",
        time_field="initiation_time",
        taken=taken,
    )
    return found.provider_uuid if found is not None else None
