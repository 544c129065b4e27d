"""The release log: at most N requests released in any window, against a real Redis."""

from __future__ import annotations

import random
import threading
import time

import pytest
import redis

from shared.core.settings import Settings
from shared.sending.gcra import Limit
from shared.sending.limits import SendLimits
from shared.sending.rate_limiter import RateLimiter
from shared.sending.release_log import ReleaseLog
from tests.unit.sending.test_ratelimit import most_in_window

T0 = 1_700_000_000.0
# Releases exactly one window apart are allowed; the clock is whole microseconds,
# and a float near 1.7e9 holds them only to a fraction of one.
EXACTLY = 1e-5
FIVE_PER_S = Limit("account-sms-sent", 5, 1.0)
ACCOUNT = [("account:A", FIVE_PER_S)]


@pytest.fixture
def log(redis_client: redis.Redis) -> ReleaseLog:
    return ReleaseLog(redis_client)


def release_at(log: ReleaseLog, arrivals: list[float], checks=ACCOUNT) -> list[float]:
    """Each send books its release when it arrives; when it may leave."""
    released = []
    for arrival in arrivals:
        booked = log.book(checks, now=arrival)
        assert booked.booked
        released.append(booked.at + booked.delay_s)
    return released


def test_never_more_than_the_count_in_any_window_whatever_the_arrivals(log: ReleaseLog) -> None:
    rng = random.Random(7)
    arrivals = sorted(T0 + rng.uniform(0, 20) for _ in range(300))
    released = release_at(log, arrivals)
    assert most_in_window(released, FIVE_PER_S.period_s - EXACTLY) == 5
    # No send leaves before it arrives, and none waits longer than it must.
    assert all(r >= a - EXACTLY for r, a in zip(released, arrivals, strict=True))
    assert max(r - a for r, a in zip(released, arrivals, strict=True)) < 60


def test_a_burst_goes_at_once_up_to_the_count_then_waits_for_the_window(log: ReleaseLog) -> None:
    released = release_at(log, [T0] * 7)
    assert released == [T0] * 5 + [T0 + 1.0, T0 + 1.0]


def test_a_late_send_is_caught_up_within_a_few_windows(redis_client: redis.Redis) -> None:
    """The point of the log over a second GCRA: a send that reached its slot late delays
    the send one window after it, by less each window (the log counts 3% under the rate,
    the gate 4%: about 10 ms less a window), and then nobody. A GCRA at the gate's pace
    carries the lateness on to every later send. Sends arrive at the gate's pace, one of
    them 150 ms late."""
    limits = SendLimits.from_settings(Settings(_env_file=None))
    gate = limits.account_sms.interval_s
    release = limits.account_sms_sent
    arrivals = [T0 + k * gate for k in range(120)]
    arrivals[10] += 0.15  # one send a busy worker picked up 150 ms late

    released = release_at(ReleaseLog(redis_client), arrivals, [("account:A", release)])
    delays = [r - a for r, a in zip(released, arrivals, strict=True)]
    gcra_delays = _gcra_spacing_delays(redis_client, arrivals, gate)
    assert delays[15] > 0.1
    assert max(delays[100:]) < 0.001, delays
    assert gcra_delays[119] > 0.1, "a second GCRA carries the lateness to the end"
    assert most_in_window(released, 1.0) <= 5


def _gcra_spacing_delays(client: redis.Redis, arrivals: list[float], gate: float) -> list[float]:
    """The spacing the log replaced: a GCRA at the gate's own pace."""
    limiter = RateLimiter(client, prefix="gcra-spacing:")
    pace = [("account:A", Limit("sent", 1, gate, burst=1))]
    return [limiter.reserve(pace, now=arrival).delay_s for arrival in arrivals]


def test_a_release_too_far_ahead_is_refused_and_records_nothing(
    log: ReleaseLog, redis_client: redis.Redis
) -> None:
    release_at(log, [T0] * 5)
    refused = log.book(ACCOUNT, max_delay_s=0.5, now=T0 + 0.2)
    assert not refused.booked
    assert refused.delay_s == pytest.approx(0.8)
    assert redis_client.zcard(log.key("account:A", FIVE_PER_S)) == 5
    within = log.book(ACCOUNT, max_delay_s=0.5, now=T0 + 0.6)
    assert within.booked and within.delay_s == pytest.approx(0.4)


def test_a_bulk_request_counts_one_release_per_message(
    log: ReleaseLog, redis_client: redis.Redis
) -> None:
    release_at(log, [T0] * 3)
    # Two messages fit beside three; three more wait for the first three to leave.
    assert log.book(ACCOUNT, cost=2, now=T0 + 0.1).delay_s == 0
    assert log.book(ACCOUNT, cost=3, now=T0 + 0.2).delay_s == pytest.approx(0.8)
    # More than the count at once waits for an empty window, and holds the next back.
    assert log.book(ACCOUNT, cost=8, now=T0 + 0.3).delay_s == pytest.approx(1.7)
    assert log.book(ACCOUNT, now=T0 + 2.1).delay_s == pytest.approx(0.9)
    assert redis_client.zcard(log.key("account:A", FIVE_PER_S)) == 9


def test_all_limits_or_none(log: ReleaseLog, redis_client: redis.Redis) -> None:
    sender = ("sender:+14155550100", Limit("sender-sms-sent", 1, 1.0))
    both = [*ACCOUNT, sender]
    first = log.book(both, now=T0)
    second = log.book(both, max_delay_s=0.5, now=T0 + 0.1)
    assert first.booked and not second.booked
    # The sender's limit held the second send back: the account's log did not count it.
    assert redis_client.zcard(log.key("account:A", FIVE_PER_S)) == 1
    assert log.book(both, now=T0 + 0.1).delay_s == pytest.approx(0.9)


def test_an_idle_log_expires(log: ReleaseLog, redis_client: redis.Redis) -> None:
    log.book(ACCOUNT)
    ttl_ms = redis_client.pttl(log.key("account:A", FIVE_PER_S))
    assert 0 < ttl_ms <= 1_002


def test_rejects_what_cannot_be_counted(log: ReleaseLog) -> None:
    with pytest.raises(ValueError, match="nothing to check"):
        log.book([])
    with pytest.raises(ValueError, match="twice"):
        log.book([*ACCOUNT, *ACCOUNT])
    with pytest.raises(ValueError, match="cost"):
        log.book(ACCOUNT, cost=0)
    with pytest.raises(ValueError, match="max_delay_s"):
        log.book(ACCOUNT, max_delay_s=-1)


def test_threads_sharing_the_log_never_release_too_many(redis_url: str) -> None:
    """Eight senders on Redis's own clock, each sleeping to its release as a worker does."""
    checks = [("account:threads", Limit("sent", 5, 0.5))]
    released: list[float] = []
    lock = threading.Lock()

    def sender() -> None:
        log = ReleaseLog(redis.Redis.from_url(redis_url))
        for _ in range(6):
            booked = log.book(checks)
            # Redis's clock, so every sender compares releases on one clock.
            with lock:
                released.append(booked.at + booked.delay_s)
            time.sleep(booked.delay_s)

    threads = [threading.Thread(target=sender) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(released) == 48
    assert most_in_window(released, 0.5 - EXACTLY) == 5
