"""An alert's bridge as people read it: who joined and left, when, and its recordings.

Pure, from the alert's event log (the `bridge.*` events of
shared.incident_bridge.reports): the timeline holds every entry, this is the
summary the alert view puts beside it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from shared.core.models import Event
from shared.incident_bridge.reports import BridgeEvent


def bridge_view(events: Iterable[Event]) -> dict[str, Any] | None:
    """`{"conference", "members": [{who, joined_at, left_at}], "recordings": [{url,
    duration_s, at}]}`; None for an alert whose bridge nobody opened."""
    conference: str | None = None
    members: dict[str, dict[str, Any]] = {}
    recordings: list[dict[str, Any]] = []
    for event in events:
        if not event.kind.startswith("bridge."):
            continue
        detail = event.detail or {}
        conference = conference or detail.get("conference")
        at = event.at.isoformat()
        member = f"{detail.get('ConferenceUUID')}:{detail.get('ConferenceMemberID')}"
        if event.kind in (BridgeEvent.JOINED, BridgeEvent.LEFT):
            entry = members.setdefault(
                member, {"who": detail.get("who"), "joined_at": None, "left_at": None}
            )
            entry["joined_at" if event.kind == BridgeEvent.JOINED else "left_at"] = at
        elif event.kind == BridgeEvent.RECORDING:
            recordings.append(
                {"url": detail.get("RecordUrl"), "duration_s": detail.get("duration_s"), "at": at}
            )
    if conference is None:
        return None
    return {"conference": conference, "members": list(members.values()), "recordings": recordings}


def bridge_line(kind: str, detail: Mapping[str, Any]) -> str | None:
    """One `bridge.*` timeline entry in words, as the CLI and the status page print it;
    None for any other kind of event."""
    room = detail.get("conference") or "the incident bridge"
    if kind == BridgeEvent.OPENED:
        recorded = ", recorded" if detail.get("recorded") else ""
        return f"incident bridge {room} opened by {detail.get('by')}{recorded}"
    if kind == BridgeEvent.JOINED:
        return f"{detail.get('who')} joined the incident bridge {room}"
    if kind == BridgeEvent.LEFT:
        return f"{detail.get('who')} left the incident bridge {room}"
    if kind == BridgeEvent.RECORDING:
        return f"bridge recording ({detail.get('duration_s')} s): {detail.get('RecordUrl')}"
    return None


def in_bridge_now(view: Mapping[str, Any] | None) -> list[str]:
    """Who is in the bridge by `bridge_view`'s summary: joined and not left yet."""
    if view is None:
        return []
    return [str(m["who"]) for m in view["members"] if m["joined_at"] and not m["left_at"]]
