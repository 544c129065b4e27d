"""Which limits a send must pass: account, sender number, and the person paged.

One place decides the checks, so SMS and calls, first pages and repeats are
all paced by the same rules and the same Redis keys.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass

from shared.core.settings import Settings
from shared.sending.gcra import Limit

Checks = Sequence[tuple[str, Limit]]

# The gate books slots 4% under the configured rate: a request reaches its slot
# a few milliseconds late by a varying amount (countdown timers, a busy pool,
# the database claim), and at exact pacing that jitter puts six requests in
# some one-second window of a 5/s limit. The release log right before the
# request counts 3% under the rate: looser than the gate, so a send that left
# late is caught up (about 10 ms a window) instead of pushing every later one
# back, and tighter than the rate, so a request may lose 30 ms on its way to
# Plivo without a second there holding one too many. At 2% (20 ms) the
# two-host drill saw requests arrive up to 16 ms apart from their release,
# and once in fourteen runs more than 20. Measured in bench/rate_limit.py and
# bench/scale_out.py.
PACING_HEADROOM = 0.04
RELEASE_HEADROOM = 0.03
# Look-ups are booked up to half a second before they leave (a task sleeps to its
# slot) and nobody waits on them to the millisecond: 10 % under their share leaves
# half a second of jitter in every 5 s window of theirs.
LOOKUP_HEADROOM = 0.10


def _pace(name: str, per_second: float, headroom: float = PACING_HEADROOM) -> Limit:
    """One request per interval, no burst: what a per-second provider limit allows."""
    return Limit(name, 1, 1.0 / (per_second * (1 - headroom)), burst=1)


def _released(name: str, per_second: float) -> Limit:
    """At most N releases in any window of N / rate seconds, stretched by the headroom:
    "5 per second" for 5/s, "2 per 0.8 s" for 2.5/s, "1 per 4 s" for 0.25/s. The
    stretch is what a request may lose on its way to Plivo without a window there
    holding one too many (30 ms at 5/s)."""
    count = max(1, int(per_second))
    return Limit(name, count, count / (per_second * (1 - RELEASE_HEADROOM)))


@dataclass(frozen=True)
class SendLimits:
    """Limits from settings. Account and sender limits pace with no burst; a person's
    limits are hard caps over their windows (GoAlert's 5 per 15 min, 11 per hour)."""

    account_sms: Limit
    account_calls: Limit
    sender_sms: Limit
    person_sms: tuple[Limit, ...]
    person_calls: tuple[Limit, ...]
    # The same rates, counted over requests released (shared.sending.release_log).
    account_sms_sent: Limit
    account_calls_sent: Limit
    sender_sms_sent: Limit
    # Look-ups at Plivo (its message and call lists), paced under their share of the
    # account's API requests (worker.sending.lookup_budget).
    account_lookups: Limit

    @classmethod
    def from_settings(cls, settings: Settings) -> SendLimits:
        return cls(
            account_sms=_pace("account-sms", settings.sms_per_second),
            account_calls=_pace("account-calls", settings.calls_per_second),
            sender_sms=_pace("sender-sms", settings.sender_sms_per_second),
            account_sms_sent=_released("account-sms-sent", settings.sms_per_second),
            account_calls_sent=_released("account-calls-sent", settings.calls_per_second),
            sender_sms_sent=_released("sender-sms-sent", settings.sender_sms_per_second),
            account_lookups=_pace(
                "account-lookups", settings.plivo_lookups_per_5s / 5, LOOKUP_HEADROOM
            ),
            person_sms=(
                Limit.at_most("person-sms-15m", settings.person_sms_per_15m, 900),
                Limit.at_most("person-sms-1h", settings.person_sms_per_hour, 3600),
            ),
            person_calls=(Limit.at_most("person-calls-15m", settings.person_calls_per_15m, 900),),
        )

    def sms_checks(
        self, account: str, sender: str, destination: str, *, count_for_person: bool = True
    ) -> Checks:
        """Account pacing, the sender number's own pace, and the person's caps.

        A retry of a page that never reached Plivo is the same page: it passes
        the account and sender pace again, but is not counted against the
        person a second time (`count_for_person=False`), or an outage would
        use up a person's budget without a single text arriving.
        """
        person = self.person_sms if count_for_person else ()
        return [
            (f"account:{account}", self.account_sms),
            (f"sender:{sender}", self.sender_sms),
            *((f"person:{destination}", limit) for limit in person),
        ]

    def sms_spacing_checks(self, account: str, sender: str) -> Checks:
        """The last word before a request leaves: booked slots arrive with jitter, so
        the requests actually released are counted once more (ReleaseLog)."""
        return [
            (f"account:{account}", self.account_sms_sent),
            (f"sender:{sender}", self.sender_sms_sent),
        ]

    def call_spacing_checks(self, account: str) -> Checks:
        return [(f"account:{account}", self.account_calls_sent)]

    def lookup_checks(self, account: str) -> Checks:
        """A look-up at Plivo: paced under its share of the account's API requests."""
        return [(f"account:{account}", self.account_lookups)]

    def call_checks(
        self, account: str, destination: str, *, count_for_person: bool = True
    ) -> Checks:
        person = self.person_calls if count_for_person else ()
        return [
            (f"account:{account}", self.account_calls),
            *((f"person:{destination}", limit) for limit in person),
        ]


def sender_for(destination: str, senders: Sequence[str]) -> str:
    """Spread people over the sender pool, each person always texted from the same number.

    A stable hash (not Python's salted `hash`) so every worker picks the same
    sender for a person: replies and carrier reputation stay with one number.
    """
    return senders[zlib.crc32(destination.encode()) % len(senders)]
