"""WhatsApp notices: the template a send keeps, its status reports, and settling a claim.

A notice's WhatsApp words are an approved template (shared.notices.model's
`WhatsAppTemplate`): its name, its language and the texts of its
placeholders, rendered once per send for every recipient. Each recipient gets
one request (shared.plivo.channels), paced on the account's message rate
behind pages; its status URL names its batch (`?nb=`), as a notice SMS's does.

Reports: Plivo posts `queued`, `sent`, `delivered`, `read` (WhatsApp only,
when the reader has read receipts on), `undelivered` and `failed`. Only the
final ones are recorded, once each, in the event log, and applied with the
SMS reports' compare-and-set (shared.notices.reports): `read` counts as
delivered, and arriving after `delivered` it changes nothing.

A claim abandoned mid-request is settled from Plivo's message list, like a
notice SMS (shared.notices.provider_match), looking at WhatsApp messages only.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from shared.core.events import record_event
from shared.notices.model import WhatsAppTemplate as TemplateDefinition
from shared.notices.provider_match import match_numbers
from shared.notices.reports import Received, apply_report, find_delivery
from shared.notices.templates import WindowText, render

TEXTS_KEY = "whatsapp"
# Where Plivo posts a notice WhatsApp message's status (webhooks/notice_whatsapp.py).
STATUS_PATH = "/plivo/whatsapp/status"
REPORT_EVENT = "callback.notice_whatsapp_status"
# Final statuses, as the SMS reports' states name them (shared.notices.delivery_state).
FINAL = {
    "delivered": "delivered",
    "read": "delivered",
    "undelivered": "undelivered",
    "failed": "failed",
}
PROGRESS = ("queued", "sent")
# Fields of a report kept in the event log: never the numbers.
_KEPT = ("MessageUUID", "Status", "ErrorCode", "ConversationID", "ConversationOrigin")


def whatsapp_texts(template: TemplateDefinition, window: WindowText) -> dict[str, Any]:
    """What a send keeps for its WhatsApp messages: the template and its filled placeholders."""
    return {
        "template": template.template,
        "language": template.language,
        "variables": [render(text, window) for text in template.variables],
    }


@dataclass(frozen=True, slots=True)
class WhatsAppWords:
    template: str
    language: str
    variables: tuple[str, ...]


def whatsapp_words(texts: Mapping[str, Any] | None) -> WhatsAppWords | None:
    """The send's template, or None when it has no WhatsApp words (or an older shape)."""
    kept = (texts or {}).get(TEXTS_KEY)
    if not isinstance(kept, Mapping) or not isinstance(kept.get("template"), str):
        return None
    variables = kept.get("variables") or []
    return WhatsAppWords(
        str(kept["template"]), str(kept.get("language") or "en"), tuple(map(str, variables))
    )


def not_recorded(params: Mapping[str, str]) -> str | None:
    """Why a report is answered without the database (`progress`, `unknown_status`), or None."""
    status = params.get("Status", "").strip().lower()
    if status in FINAL:
        return None
    return "progress" if status in PROGRESS else "unknown_status"


def receive_whatsapp_report(
    session: Session, batch_id: str, params: dict[str, str], now: datetime
) -> Received:
    """Find a final report's delivery, log the report once and apply it."""
    uuid = params.get("MessageUUID") or None
    delivery = find_delivery(session, batch_id=batch_id, provider_uuid=uuid, to=params.get("To"))
    if delivery is None or delivery.channel != TEXTS_KEY:
        record_event(
            session,
            "callback.unknown_message",
            detail={"MessageUUID": uuid, "Status": params.get("Status"), "notice_batch": batch_id},
        )
        return Received("unknown_message")
    status = params.get("Status", "").strip().lower()
    detail: dict[str, Any] = {k: params[k] for k in _KEPT if params.get(k)}
    detail.update({"delivery_id": delivery.id, "send_id": delivery.send_id})
    key = f"notice-whatsapp-status:{uuid or delivery.id}:{status}"
    if not record_event(session, REPORT_EVENT, detail=detail, dedup_key=key):
        return Received("duplicate")
    applied = apply_report(session, delivery.id, {**params, "Status": FINAL[status]}, now)
    return Received("recorded", applied)


def match_whatsapp(
    records: Iterable[Mapping[str, Any]],
    *,
    numbers: Collection[str],
    since: datetime,
    taken: Collection[str],
) -> dict[str, str]:
    """number -> uuid of its WhatsApp message at or after `since` (never an SMS to it)."""
    whatsapp = [r for r in records if str(r.get("message_type", "")).lower() == TEXTS_KEY]
    return match_numbers(whatsapp, numbers=numbers, since=since, taken=taken)
