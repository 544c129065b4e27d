"""Which limits a send must pass: account, sender number, and the person paged.

One place decides the checks, so SMS and calls, first pages and repeats are
all paced by the same rules and the same Redis keys.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass

from shared.ratelimit import Limit
from shared.settings import Settings

Checks = Sequence[tuple[str, Limit]]


@dataclass(frozen=True)
class SendLimits:
    """Limits from settings. Account and sender limits pace with no burst; a person's
    limits are hard caps over their windows (GoAlert's 5 per 15 min, 11 per hour)."""

    account_sms: Limit
    account_calls: Limit
    sender_sms: Limit
    person_sms: tuple[Limit, ...]
    person_calls: tuple[Limit, ...]

    @classmethod
    def from_settings(cls, settings: Settings) -> SendLimits:
        return cls(
            account_sms=Limit("account-sms", 1, 1.0 / settings.sms_per_second, burst=1),
            account_calls=Limit("account-calls", 1, 1.0 / settings.calls_per_second, burst=1),
            sender_sms=Limit("sender-sms", 1, 1.0 / settings.sender_sms_per_second, burst=1),
            person_sms=(
                Limit.at_most("person-sms-15m", settings.person_sms_per_15m, 900),
                Limit.at_most("person-sms-1h", settings.person_sms_per_hour, 3600),
            ),
            person_calls=(Limit.at_most("person-calls-15m", settings.person_calls_per_15m, 900),),
        )

    def sms_checks(self, account: str, sender: str, destination: str) -> Checks:
        """Account pacing, the sender number's own pace, and the person's caps."""
        return [
            (f"account:{account}", self.account_sms),
            (f"sender:{sender}", self.sender_sms),
            *((f"person:{destination}", limit) for limit in self.person_sms),
        ]

    def call_checks(self, account: str, destination: str) -> Checks:
        return [
            (f"account:{account}", self.account_calls),
            *((f"person:{destination}", limit) for limit in self.person_calls),
        ]


def sender_for(destination: str, senders: Sequence[str]) -> str:
    """Spread people over the sender pool, each person always texted from the same number.

    A stable hash (not Python's salted `hash`) so every worker picks the same
    sender for a person: replies and carrier reputation stay with one number.
    """
    return senders[zlib.crc32(destination.encode()) % len(senders)]
