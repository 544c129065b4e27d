"""What a message carried, written as it happens: its words and sender when it is
claimed, Plivo's uuid when a report names it before our own send heard back."""

from __future__ import annotations

from sqlalchemy.orm import Session

from shared.core.models import Notification
from shared.core.row_writes import set_params, sync_loaded
from shared.notifications import statements


def record_text(session: Session, notification_id: int, text: str, sender: str | None) -> None:
    """The words a message carries and the number it leaves from, written as it is claimed."""
    values = {"text": text, "sender": sender}
    session.execute(
        statements.RECORD_TEXT, {"notification_id": notification_id, **set_params(values)}
    )
    sync_loaded(session, Notification, notification_id, values)


def learn_provider_uuid(session: Session, notification_id: int, uuid: str) -> None:
    """Plivo's uuid for a message, unless one is recorded already."""
    learned = session.execute(
        statements.LEARN_UUID, {"notification_id": notification_id, "uuid": uuid}
    )
    if learned.rowcount == 1:
        sync_loaded(session, Notification, notification_id, {"provider_uuid": uuid})
