"""The names of an alert's lifecycle, one place for each.

`StrEnum` members compare equal to the strings stored in the database, so a
column read back as a plain string and a member test alike.
"""

from __future__ import annotations

from enum import StrEnum


class AlertStatus(StrEnum):
    """Where an alert is in its life: paging only happens while TRIGGERED."""

    TRIGGERED = "triggered"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


class EscalationState(StrEnum):
    """How far an alert's escalation chain went (`alerts.escalation`)."""

    PENDING = "pending"  # routed, first step not started yet
    ACTIVE = "active"  # a step is due or live
    STOPPED = "stopped"  # acknowledged or resolved: no further step fires
    EXHAUSTED = "exhausted"  # the policy ran out without an acknowledgement (loud)
    COMPLETED = "completed"  # explicit recipients were paged; nobody else to try


class Channel(StrEnum):
    """How a notification reaches a person."""

    SMS = "sms"
    VOICE = "voice"
