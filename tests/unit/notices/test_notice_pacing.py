"""A notice's bulk requests share the account's pace with pages and never go over it.

The limiter's decision is run in Python (shared.sending.gcra.plan, step for step
the Redis script) on pages booking slots as they do and notice batches taking
what is free: in no one-second window do the destinations sent exceed the
account's limit, whatever pages did just before, and a page waits at most one
batch's span behind a notice.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from shared.notices.pacing import (
    MAX_BULK,
    batch_checks,
    booked_units,
    largest_batch,
    next_batch_in,
    wait_after_refusal,
    with_burst,
)
from shared.sending.gcra import Limit, plan
from shared.sending.limits import PACING_HEADROOM

US = 1_000_000


def pace(per_second: float) -> Limit:
    """The account's SMS pace, as shared.sending.limits builds it."""
    return Limit("account-sms", 1, 1.0 / (per_second * (1 - PACING_HEADROOM)), burst=1)


@pytest.mark.parametrize(
    ("per_second", "largest"), [(5, 1), (2.5, 1), (100, 4), (500, 20), (1000, 40)]
)
def test_a_batch_is_what_the_pace_leaves_of_a_second(per_second: float, largest: int) -> None:
    assert largest_batch(pace(per_second), per_second) == largest


def test_a_batch_never_exceeds_what_plivo_takes_in_one_request() -> None:
    assert largest_batch(pace(1_000_000), 1_000_000) == MAX_BULK


def test_a_batch_books_more_than_it_sends_leaving_pages_a_share() -> None:
    assert booked_units(1) == 2
    assert booked_units(15) == 16
    assert booked_units(9) == 10
    with pytest.raises(ValueError):
        booked_units(0)


def test_the_batch_limit_is_the_same_key_taking_several_slots_at_once() -> None:
    limit = pace(500)
    wide = with_burst(limit, 17)
    assert (wide.name, wide.interval_s, wide.max_burst) == (limit.name, limit.interval_s, 17)
    checks = batch_checks([("account:MA1", limit), ("sender:+1", limit)], 17)
    assert [key for key, _ in checks] == ["account:MA1", "sender:+1"]
    assert all(check.max_burst == 17 for _, check in checks)


def test_waits_are_bounded() -> None:
    assert next_batch_in(17, 0.002, 0.01) == pytest.approx(0.024)
    assert next_batch_in(1, 0.002, 0.5) == 0.0
    assert wait_after_refusal(0.0) == 0.005
    assert wait_after_refusal(30.0) == 2.0


@dataclass
class Account:
    """One limiter key, decided by the limiter's own arithmetic."""

    limit: Limit
    tat_us: int | None = None

    def page(self, now_us: int) -> int:
        """A page books the next slot (reserve): when it is sent."""
        decided = plan([self.tat_us], [self.limit], [1.0], now_us, 1, None)
        assert decided.booked and decided.new_tats_us is not None
        self.tat_us = decided.new_tats_us[0]
        return now_us + decided.delay_us

    def batch(self, now_us: int, size: int) -> bool:
        """A notice batch takes the slots free now (acquire), or nothing."""
        units = booked_units(size)
        decided = plan([self.tat_us], [with_burst(self.limit, units)], [1.0], now_us, units, 0)
        if decided.booked and decided.new_tats_us is not None:
            self.tat_us = decided.new_tats_us[0]
        return decided.booked


def busiest_second(sent: list[tuple[int, int]]) -> int:
    """The most destinations in any one-second window [t, t + 1 s) of (time, count)."""
    sent = sorted(sent)
    best, total, start = 0, 0, 0
    for end in range(len(sent)):
        total += sent[end][1]
        while sent[end][0] - sent[start][0] >= US:
            total -= sent[start][1]
            start += 1
        best = max(best, total)
    return best


def traffic(per_second: float, seed: int, storm: bool) -> Iterator[tuple[int, str]]:
    """(time, "page" | "notice") for 20 s: notices try every millisecond; pages come
    one by one, seconds apart, or also in storms of a full second's worth at once."""
    rng = random.Random(seed)
    pages = set()
    at = 0
    while at < 20 * US:
        at += int(rng.uniform(1.5, 2.5) * US) if not storm else int(rng.expovariate(3.0) * US)
        burst = int(per_second) if storm and rng.random() < 0.3 else 1
        pages.update(at + i for i in range(burst))
    for now in range(0, 20 * US, 1000):
        yield now, "notice"
    yield from ((at, "page") for at in pages)


@pytest.mark.parametrize("per_second", [5, 100, 500])
@pytest.mark.parametrize(("seed", "storm"), [(1, False), (2, True), (3, True)])
def test_no_second_holds_more_than_the_limit_whatever_pages_do(
    per_second: float, seed: int, storm: bool
) -> None:
    account = Account(pace(per_second))
    size = largest_batch(account.limit, per_second)
    sent: list[tuple[int, int]] = []
    page_waits = []
    for now, kind in sorted(traffic(per_second, seed, storm), key=lambda e: (e[0], e[1])):
        if kind == "page":
            slot = account.page(now)
            sent.append((slot, 1))
            page_waits.append(slot - now)
        elif account.batch(now, size):
            sent.append((now, size))
    assert busiest_second(sent) <= per_second
    notices = sum(count for _, count in sent) - len(page_waits)
    assert notices > 0
    if not storm:
        # A lone page waits at most one batch's span (and its own slot).
        span = booked_units(size) * account.limit.interval_s * US
        assert max(page_waits) <= span + account.limit.interval_s * US


def test_a_notice_alone_uses_most_of_the_rate() -> None:
    per_second = 500
    account = Account(pace(per_second))
    size = largest_batch(account.limit, per_second)
    sent = sum(size for now in range(0, 10 * US, 1000) if account.batch(now, size))
    assert sent / 10 >= 0.8 * per_second
