"""Which notifications ride in a bundle lead's message: read once per batch of reports.

A bundle's members follow every move of their lead, so applying a delivery
report asks for the lead's members; a batch of reports asked once per report,
a statement each (three or more per page). `remember_members` notes the
leads of a batch; the first `members_of` for one of them reads the members of
them all in one SELECT, and the rest of that transaction is answered from it.
The members of a lead are fixed once its message left (its claim set them,
before the request); the only writes of `bundle_lead_id` are moves (a claim,
a failed send's release), which call `forget_members`.
"""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import select
from sqlalchemy.orm import Session

from shared.core.models import Notification

# session.info keys: the leads whose members a batch may ask for (remember_members),
# and {lead id: its members' ids} once read.
_WANTED = "bundle_leads_wanted"
_MEMBERS = "bundle_members"


def remember_members(session: Session, lead_ids: Collection[int]) -> None:
    """Note the leads of a batch: the first `members_of` for any of them reads the members
    of them all in one SELECT (a batch that moves nothing, Plivo's repeats, reads none)."""
    session.info.setdefault(_WANTED, set()).update(lead_ids)


def members_of(session: Session, lead_id: int) -> list[int]:
    """The notifications that ride in `lead_id`'s message (remembered, else read)."""
    known: dict[int, list[int]] = session.info.setdefault(_MEMBERS, {})
    wanted: set[int] = session.info.get(_WANTED, set())
    if lead_id not in known and lead_id in wanted:
        known.update(_read_members(session, wanted - known.keys()))
    if lead_id in known:
        return list(known[lead_id])
    return _read_members(session, [lead_id])[lead_id]


def _read_members(session: Session, lead_ids: Collection[int]) -> dict[int, list[int]]:
    """The members of each lead (none is an answer too), in one SELECT."""
    found: dict[int, list[int]] = {lead: [] for lead in lead_ids}
    rows = session.execute(
        select(Notification.bundle_lead_id, Notification.id)
        .where(Notification.bundle_lead_id.in_(lead_ids))
        .order_by(Notification.id)
    )
    for lead, member in rows:
        found[lead].append(member)
    return found


def forget_members(session: Session) -> None:
    """A move changed some notification's lead: what was remembered may be wrong now."""
    session.info.pop(_WANTED, None)
    session.info.pop(_MEMBERS, None)
