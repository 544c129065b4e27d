"""The Python producer API: page from inside a service, with no HTTP in between.

    from worker.producer import submit_alert, resolve_alert

    alert_id = submit_alert({"summary": "payments queue stuck", "severity": "critical",
                             "dedup_key": "payments-queue", "recipients": ["+14155550101"]})
    ...
    resolve_alert("payments-queue")

Guarantees:

- `submit_alert` returns only after the alert is committed to the database:
  the id it returns names a stored alert, whatever happens next.
- Routing is then handed to the workers. If the broker is down the call still
  returns the id; the periodic tick hands over every alert never dispatched,
  so a broker outage delays a page, never loses it.
- A trigger with a `dedup_key` that is already open adds an occurrence to that
  alert and returns its id: calling twice for one problem pages once.
- Invalid input raises `InvalidAlert` naming each field, before anything is stored.

The process needs the same settings as the receiver (DATABASE_URL, REDIS_URL,
CONFIG_FILE) in its environment, or a `Settings` passed in, and a database
migrated with `alert-dispatch db upgrade`. The broker is always the one this
process's environment names (the Celery app is configured once per process).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select

from shared.alerts import after_close
from shared.alerts.formats import fields_of
from shared.alerts.ingest import IngestResult, ingest
from shared.alerts.schemas import AlertAction, AlertIn
from shared.core.db import session_scope
from shared.core.events import record_event
from shared.core.metrics import count_accepted
from shared.core.models import Event
from shared.core.settings import Settings, load_settings

log = logging.getLogger(__name__)


class InvalidAlert(ValueError):
    """The alert was refused before anything was stored; `fields` names each problem."""

    def __init__(self, message: str, fields: list[dict[str, str]] | None = None) -> None:
        self.fields = fields or []
        detail = "; ".join(f"{f['field'] or '(alert)'}: {f['message']}" for f in self.fields)
        super().__init__(f"{message}: {detail}" if detail else message)


@dataclass(frozen=True)
class StoredEvent:
    """What storing one event did. `duplicate`: its marker was seen, nothing was done again."""

    result: IngestResult
    queued: bool = False
    duplicate: bool = False


class _AlreadyStored(Exception):
    """Raised inside the transaction to roll it back when another consumer won the race."""


@lru_cache(maxsize=1)
def _default_settings() -> Settings:
    return load_settings()


def store_event(
    alert_in: AlertIn,
    *,
    settings: Settings | None = None,
    via: str,
    marker: str | None = None,
) -> StoredEvent:
    """Store one event in its own transaction, then enqueue routing for a new alert.

    `marker` makes a redelivered message harmless: it is written to the event
    log (unique) in the same transaction as the alert, so a message seen
    before changes nothing, even if the process died between storing it and
    acknowledging it to the bus.
    """
    from worker import enqueue

    after_close.register("hang_up_calls", enqueue.hang_up_calls)  # a resolve hangs up calls
    settings = settings or _default_settings()
    url = settings.effective_database_url
    try:
        with session_scope(url) as session:
            if marker and session.scalar(select(Event.id).where(Event.dedup_key == marker)):
                return StoredEvent(IngestResult(None, "duplicate"), duplicate=True)
            result = ingest(session, alert_in, via=via)
            if marker and not record_event(
                session,
                f"{via}.received",
                alert_id=result.alert_id,
                detail={"marker": marker, "outcome": result.outcome},
                dedup_key=marker,
            ):
                raise _AlreadyStored
    except _AlreadyStored:
        return StoredEvent(IngestResult(None, "duplicate"), duplicate=True)
    count_accepted(via, result.outcome)
    queued = False
    if result.needs_dispatch and result.alert_id is not None:
        from worker import enqueue

        queued = enqueue.dispatch_alert(result.alert_id)
    log.info(
        "alert event from %s via %s: %s (alert %s)",
        alert_in.source,
        via,
        result.outcome,
        result.alert_id,
    )
    return StoredEvent(result, queued)


def _validated(alert: AlertIn | Mapping[str, Any]) -> AlertIn:
    if isinstance(alert, AlertIn):
        return alert
    if not isinstance(alert, Mapping):
        raise InvalidAlert(f"an alert is an AlertIn or a mapping, not {type(alert).__name__}")
    try:
        return AlertIn.model_validate(dict(alert))
    except ValidationError as exc:
        raise InvalidAlert("invalid alert", fields_of(exc)) from None


def submit_alert(alert: AlertIn | Mapping[str, Any], *, settings: Settings | None = None) -> int:
    """Store a new alert (or an occurrence of the open one with its key) and queue its routing.

    Returns the alert's id once it is committed. Raises InvalidAlert for a
    malformed alert, for an action other than trigger (use acknowledge_alert
    or resolve_alert), and for an alert with no recipients while no on-call
    configuration (CONFIG_FILE) routes alerts: the same rules as POST /api/v1/alerts.
    """
    settings = settings or _default_settings()
    alert_in = _validated(alert)
    if alert_in.action is not AlertAction.TRIGGER:
        raise InvalidAlert(
            "submit_alert triggers alerts",
            [{"field": "action", "message": "use acknowledge_alert or resolve_alert"}],
        )
    if not alert_in.recipients and settings.config_file is None:
        raise InvalidAlert(
            "invalid alert",
            [
                {
                    "field": "recipients",
                    "message": "at least one is required when no on-call "
                    "configuration (CONFIG_FILE) routes alerts",
                }
            ],
        )
    stored = store_event(alert_in, settings=settings, via="producer")
    if stored.result.alert_id is None:  # a trigger always lands on an alert: a bug if not
        raise RuntimeError("a trigger was stored without an alert id")
    return stored.result.alert_id


def _close(
    action: AlertAction, dedup_key: str, source: str, settings: Settings | None
) -> int | None:
    alert_in = _validated(
        {
            "summary": f"{action.value} {dedup_key}",
            "dedup_key": dedup_key,
            "source": source,
            "action": action.value,
        }
    )
    stored = store_event(alert_in, settings=settings, via="producer")
    return stored.result.alert_id if stored.result.outcome != "ignored" else None


def acknowledge_alert(
    dedup_key: str, *, source: str = "producer", settings: Settings | None = None
) -> int | None:
    """Acknowledge the open alert with this key: paging for it stops.

    Returns its id, or None when no alert with that key is open (or it was
    already acknowledged): there is nothing to stop, which is not an error.
    """
    return _close(AlertAction.ACKNOWLEDGE, dedup_key, source, settings)


def resolve_alert(
    dedup_key: str, *, source: str = "producer", settings: Settings | None = None
) -> int | None:
    """Resolve the open alert with this key; its key is free for a new alert afterwards.

    Returns its id, or None when no alert with that key is open.
    """
    return _close(AlertAction.RESOLVE, dedup_key, source, settings)
