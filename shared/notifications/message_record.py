"""What a message carried, written as it happens: its words and sender when it is
claimed, Plivo's uuid when a report names it before our own send heard back."""

from __future__ import annotations

from sqlalchemy.orm import Session

from shared.core.models import Notification
from shared.core.row_writes import update_row
from shared.notifications import statements


def record_text(session: Session, notification_id: int, text: str, sender: str | None) -> None:
    """The words a message carries and the number it leaves from, written as it is claimed."""
    values = {"text": text, "sender": sender}
    where = {"notification_id": notification_id}
    update_row(session, statements.RECORD_TEXT, Notification, notification_id, values, where)


def learn_provider_uuid(session: Session, notification_id: int, uuid: str) -> None:
    """Plivo's uuid for a message, unless one is recorded already."""
    values = {"provider_uuid": uuid}
    where = {"notification_id": notification_id}
    update_row(session, statements.LEARN_UUID, Notification, notification_id, values, where)
