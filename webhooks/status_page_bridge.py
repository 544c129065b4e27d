"""An open alert's incident bridge as the status page shows it: live or not, who is in it,
who came and went, and the recordings with their links.

Read from all of the alert's `bridge.*` events (not the page's latest events,
which may leave an early join out), summed up by shared.incident_bridge.view as
the API's `bridge` is. Names pass through the number masking: a person not in
the on-call file is named by their number.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from shared.core.phone import mask_numbers_in
from shared.incident_bridge.store import bridge_events
from shared.incident_bridge.view import bridge_view, in_bridge_now


@dataclass(frozen=True)
class BridgeMember:
    who: str
    joined_at: datetime | None
    left_at: datetime | None


@dataclass(frozen=True)
class BridgeRecording:
    url: str
    duration_s: int
    at: datetime


@dataclass(frozen=True)
class BridgeCard:
    """The bridge of one alert: `live` while someone is in it."""

    conference: str
    inside: list[str]
    members: list[BridgeMember]
    recordings: list[BridgeRecording]

    @property
    def live(self) -> bool:
        return bool(self.inside)


def _at(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def bridge_card(session: Session, alert_id: int) -> BridgeCard | None:
    """The alert's bridge; None when nobody ever opened it."""
    view = bridge_view(bridge_events(session, alert_id))
    if view is None:
        return None
    return BridgeCard(
        conference=str(view["conference"]),
        inside=[mask_numbers_in(who) for who in in_bridge_now(view)],
        members=[
            BridgeMember(
                who=mask_numbers_in(str(m["who"])),
                joined_at=_at(m["joined_at"]),
                left_at=_at(m["left_at"]),
            )
            for m in view["members"]
        ],
        recordings=[
            BridgeRecording(
                url=str(r["url"]),
                duration_s=int(r["duration_s"] or 0),
                at=datetime.fromisoformat(r["at"]),
            )
            for r in view["recordings"]
            if r["url"]
        ],
    )
