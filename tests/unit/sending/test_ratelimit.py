"""The global rate limiter, against a real Redis and real competing processes."""

from __future__ import annotations

import math
import multiprocessing
import os
import queue
import random
import time
from collections.abc import Sequence
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier

import pytest
import redis

from shared.sending.gcra import Limit, interval_us, max_in_window, plan, to_us
from shared.sending.rate_limiter import Guard, RateLimiter

ACCOUNT = Limit("plivo-sms", 5, 1.0, burst=1)
SMS_15M = Limit("sms-15m", 5, 900)
SMS_1H = Limit("sms-1h", 11, 3600)
T0 = 1_700_000_000.0  # an explicit clock far from zero, like server time


@pytest.fixture
def limiter(redis_client: redis.Redis) -> RateLimiter:
    return RateLimiter(redis_client)


def most_in_window(times: Sequence[float], window_s: float) -> int:
    """Largest number of `times` inside any half-open window [t, t + window_s)."""
    ordered = sorted(times)
    best = 0
    j = 0
    for i, start in enumerate(ordered):
        j = max(j, i)
        while j < len(ordered) and ordered[j] < start + window_s:
            j += 1
        best = max(best, j - i)
    return best


def send_greedily(
    limiter: RateLimiter, checks: Sequence[tuple[str, Limit]], start: float, until: float
) -> tuple[list[float], list[str | None]]:
    """Send whenever allowed, otherwise jump the clock to the retry time."""
    now = start
    sent: list[float] = []
    blockers: list[str | None] = []
    while now < until:
        decision = limiter.acquire(checks, now=now)
        if decision.allowed:
            sent.append(now)
        else:
            assert decision.retry_after_s > 0
            blockers.append(decision.blocked_by)
            now += decision.retry_after_s
    return sent, blockers


# --- pure parts -----------------------------------------------------------------


def test_limit_defaults_and_validation() -> None:
    assert SMS_15M.max_burst == 5
    assert SMS_15M.interval_s == 180
    assert ACCOUNT.max_burst == 1
    assert ACCOUNT.interval_s == pytest.approx(0.2)
    for bad in (
        dict(name="", count=1, period_s=1),
        dict(name="x", count=0, period_s=1),
        dict(name="x", count=1, period_s=0),
        dict(name="x", count=1, period_s=math.inf),
        dict(name="x", count=1, period_s=1, burst=0),
    ):
        with pytest.raises(ValueError):
            Limit(**bad)  # type: ignore[arg-type]


def test_window_bounds_state_what_a_limit_really_guarantees() -> None:
    assert max_in_window(ACCOUNT, 1.0) == 5
    # A token bucket: a full burst plus the refills of the window.
    assert max_in_window(SMS_15M, 900) == 9
    assert max_in_window(SMS_1H, 3600) == 21
    assert max_in_window(Limit.at_most("sms-15m", 5, 900), 900) == 5
    assert max_in_window(Limit.at_most("sms-1h", 11, 3600, burst=6), 3600) == 11
    with pytest.raises(ValueError):
        Limit.at_most("x", 3, 60, burst=4)


def test_intervals_round_towards_slower() -> None:
    assert interval_us(ACCOUNT) == 200_000
    assert interval_us(Limit("x", 100, 7.0)) == 70_000  # 0.07 s despite float noise
    assert interval_us(SMS_1H) == 327_272_728  # 327.2727... s, rounded up
    assert interval_us(ACCOUNT, factor=2.5) == 500_000
    assert interval_us(ACCOUNT, factor=0.5) == 200_000  # a penalty never speeds up


def test_plan_is_pure_gcra() -> None:
    now = 10_000_000
    first = plan([None], [ACCOUNT], [1.0], now)
    assert first == plan([None], [ACCOUNT], [1.0], now)  # no hidden state
    assert first.booked and first.delay_us == 0 and first.new_tats_us == (10_200_000,)
    second = plan([10_200_000], [ACCOUNT], [1.0], now)
    assert not second.booked and second.delay_us == 200_000 and second.binding == 0
    booked = plan([10_200_000], [ACCOUNT], [1.0], now, max_delay_us=None)
    assert booked.booked and booked.new_tats_us == (10_400_000,)
    stale = plan([3_000_000], [ACCOUNT], [1.0], now)
    assert stale == plan([None], [ACCOUNT], [1.0], now)


# --- one limit --------------------------------------------------------------------


@pytest.mark.parametrize("burst", [1, 5])
def test_allows_exactly_the_burst_then_spaces_at_the_rate(limiter: RateLimiter, burst: int) -> None:
    limit = Limit("plivo-sms", 5, 1.0, burst=burst)
    checks = [("account", limit)]
    for _ in range(burst):
        assert limiter.acquire(checks, now=T0).allowed
    refused = limiter.acquire(checks, now=T0)
    assert not refused.allowed
    assert refused.retry_after_s == pytest.approx(0.2)
    assert refused.blocked_by == "plivo-sms"
    assert refused.at == T0

    now = T0
    for _ in range(10):
        now += 0.2
        assert not limiter.acquire(checks, now=now - 0.01).allowed
        assert limiter.acquire(checks, now=now).allowed
        blocked = limiter.acquire(checks, now=now)
        assert not blocked.allowed
        assert blocked.retry_after_s == pytest.approx(0.2)


def test_retry_after_is_exactly_when_a_retry_succeeds(limiter: RateLimiter) -> None:
    limit = Limit("slow", 3, 10.0, burst=2)
    checks = [("k", limit)]
    assert limiter.acquire(checks, now=T0).allowed
    assert limiter.acquire(checks, now=T0 + 1).allowed
    refused = limiter.acquire(checks, now=T0 + 2)
    # TAT is T0 + 20/3; one interval (10/3 s) of tolerance for a burst of 2.
    assert refused.retry_after_s == pytest.approx(10 / 3 - 2)
    retry_at = T0 + 2 + refused.retry_after_s
    assert not limiter.acquire(checks, now=retry_at - 0.001).allowed
    assert limiter.acquire(checks, now=retry_at).allowed


def test_idle_keys_expire_and_refused_calls_write_nothing(
    limiter: RateLimiter, redis_client: redis.Redis
) -> None:
    limit = Limit("fast", 20, 1.0, burst=1)
    key = limiter.tat_key("k", limit)
    assert limiter.acquire([("k", limit)], now=T0).allowed
    assert 0 < redis_client.pttl(key) <= 50
    before = redis_client.get(key)
    assert not limiter.acquire([("k", limit)], now=T0).allowed
    assert redis_client.get(key) == before

    assert limiter.acquire([("k", limit)]).allowed  # server time
    time.sleep(0.1)
    assert redis_client.exists(key) == 0


def test_uses_redis_server_time_when_no_clock_is_given(limiter: RateLimiter) -> None:
    decision = limiter.acquire([("k", ACCOUNT)])
    assert decision.allowed
    assert abs(decision.at - time.time()) < 1.0
    again = limiter.acquire([("k", ACCOUNT)])
    assert not again.allowed
    assert 0 < again.retry_after_s <= 0.2


def test_survives_the_server_forgetting_its_scripts(
    limiter: RateLimiter, redis_client: redis.Redis
) -> None:
    assert limiter.acquire([("k", ACCOUNT)], now=T0).allowed
    redis_client.script_flush()
    assert not limiter.acquire([("k", ACCOUNT)], now=T0).allowed


def test_rejects_calls_that_could_never_succeed(limiter: RateLimiter) -> None:
    with pytest.raises(ValueError):
        limiter.acquire([])
    with pytest.raises(ValueError):
        limiter.acquire([("k", ACCOUNT)], cost=2)
    with pytest.raises(ValueError):
        limiter.acquire([("k", SMS_15M)], cost=0)
    with pytest.raises(ValueError):
        limiter.acquire([("k", SMS_15M), ("k", SMS_15M)])
    with pytest.raises(ValueError):
        limiter.reserve([("k", SMS_15M)], max_delay_s=-1)


# --- several limits ---------------------------------------------------------------


def test_a_throttled_person_does_not_use_up_the_account_slot(
    limiter: RateLimiter, redis_client: redis.Redis
) -> None:
    person = Limit("calls-15m", 3, 900)
    alice = [("account", ACCOUNT), ("person:alice", person)]
    for i in range(3):
        assert limiter.acquire(alice, now=T0 + i).allowed
    account_tat = redis_client.get(limiter.tat_key("account", ACCOUNT))

    refused = limiter.acquire(alice, now=T0 + 5)
    assert not refused.allowed
    assert refused.blocked_by == "calls-15m"
    assert redis_client.get(limiter.tat_key("account", ACCOUNT)) == account_tat
    # The account slot at T0 + 5 is still free for someone else.
    assert limiter.acquire([("account", ACCOUNT), ("person:bob", person)], now=T0 + 5).allowed


def test_a_busy_account_does_not_use_up_a_persons_budget(
    limiter: RateLimiter, redis_client: redis.Redis
) -> None:
    assert limiter.acquire([("account", ACCOUNT)], now=T0).allowed
    refused = limiter.acquire([("account", ACCOUNT), ("person:alice", SMS_15M)], now=T0)
    assert not refused.allowed and refused.blocked_by == "plivo-sms"
    assert redis_client.exists(limiter.tat_key("person:alice", SMS_15M)) == 0


def test_retry_after_is_the_longest_wait_among_failing_limits(limiter: RateLimiter) -> None:
    person = Limit("one-per-10s", 1, 10.0)
    checks = [("account", ACCOUNT), ("person:alice", person)]
    assert limiter.acquire(checks, now=T0).allowed
    refused = limiter.acquire(checks, now=T0 + 0.1)
    assert refused.blocked_by == "one-per-10s"
    assert refused.retry_after_s == pytest.approx(9.9)
    assert not limiter.acquire(checks, now=T0 + 9.99).allowed
    assert limiter.acquire(checks, now=T0 + 10).allowed


def test_person_sms_5_per_15_minutes_and_11_per_hour(limiter: RateLimiter) -> None:
    checks = [("person:alice", SMS_15M), ("person:alice", SMS_1H)]
    sent, blockers = send_greedily(limiter, checks, T0, T0 + 3 * 3600)

    assert sent[:5] == [T0] * 5  # an incident's first pages go out at once
    assert sent[5] == pytest.approx(T0 + 180)
    assert blockers[0] == "sms-15m"
    assert "sms-1h" in blockers  # the hourly budget binds once the burst is spent
    assert most_in_window(sent, 900) <= max_in_window(SMS_15M, 900)
    assert most_in_window(sent, 3600) <= max_in_window(SMS_1H, 3600)
    # Long run: 11 an hour, whatever the burst did at the start.
    late = [t for t in sent if t >= T0 + 2 * 3600]
    assert len(late) == pytest.approx(11, abs=1)


def test_hard_caps_never_exceed_the_count_in_any_window(limiter: RateLimiter) -> None:
    quarter = Limit.at_most("sms-15m", 5, 900, burst=3)
    hour = Limit.at_most("sms-1h", 11, 3600, burst=6)
    checks = [("person:alice", quarter), ("person:alice", hour)]
    sent, blockers = send_greedily(limiter, checks, T0, T0 + 4 * 3600)

    assert most_in_window(sent, 900 - 1e-3) == 5
    assert most_in_window(sent, 3600 - 1e-3) == 11
    assert {"sms-15m", "sms-1h"} <= set(blockers)


# --- reserve ----------------------------------------------------------------------


def test_reserve_books_increasing_slots(limiter: RateLimiter) -> None:
    checks = [("account", ACCOUNT)]
    delays = [limiter.reserve(checks, now=T0).delay_s for _ in range(6)]
    assert delays == pytest.approx([0.0, 0.2, 0.4, 0.6, 0.8, 1.0])

    refused = limiter.acquire(checks, now=T0 + 0.5)
    assert not refused.allowed
    assert refused.retry_after_s == pytest.approx(0.7)  # after the last booked slot

    too_far = limiter.reserve(checks, now=T0, max_delay_s=1.0)
    assert not too_far.booked
    assert too_far.delay_s == pytest.approx(1.2)
    assert too_far.blocked_by == "plivo-sms"
    # Refusing booked nothing: the same slot is still next.
    assert limiter.reserve(checks, now=T0).delay_s == pytest.approx(1.2)


def test_reserve_uses_the_burst_before_spacing(limiter: RateLimiter) -> None:
    checks = [("account", Limit("plivo-sms", 5, 1.0))]
    reservations = [limiter.reserve(checks, now=T0) for _ in range(7)]
    assert [r.delay_s for r in reservations] == pytest.approx([0, 0, 0, 0, 0, 0.2, 0.4])
    assert [r.blocked_by for r in reservations][4:] == [None, "plivo-sms", "plivo-sms"]


def test_reserve_books_one_common_slot_for_all_limits(
    limiter: RateLimiter, redis_client: redis.Redis
) -> None:
    burst_two = Limit("per-number", 1, 1.0, burst=2)
    for _ in range(3):
        limiter.reserve([("account", ACCOUNT)], now=T0)  # account slots up to T0 + 0.4
    both = limiter.reserve([("account", ACCOUNT), ("number:1", burst_two)], now=T0)
    assert both.booked and both.delay_s == pytest.approx(0.6)
    # The number is charged at the slot it is actually used, not at T0.
    assert int(redis_client.get(limiter.tat_key("number:1", burst_two))) == to_us(T0 + 1.6)


def test_reserve_never_stalls_the_account_behind_a_throttled_person(
    limiter: RateLimiter, redis_client: redis.Redis
) -> None:
    person = Limit("one-per-minute", 1, 60.0)
    alice = [("account", ACCOUNT), ("person:alice", person)]
    assert limiter.reserve(alice, now=T0).delay_s == 0
    account_tat = redis_client.get(limiter.tat_key("account", ACCOUNT))

    later = limiter.reserve(alice, now=T0 + 1)
    assert not later.booked
    assert later.delay_s == pytest.approx(59)
    assert later.blocked_by == "one-per-minute"
    assert redis_client.get(limiter.tat_key("account", ACCOUNT)) == account_tat

    bob = limiter.reserve([("account", ACCOUNT), ("person:bob", person)], now=T0 + 1)
    assert bob.booked and bob.delay_s == 0
    # Coming back when told books straight away.
    assert limiter.reserve(alice, now=T0 + 1 + later.delay_s).booked


# --- penalties --------------------------------------------------------------------


def test_penalize_slows_the_limit_and_it_recovers(limiter: RateLimiter) -> None:
    checks = [("account", ACCOUNT)]
    assert limiter.penalty("account", ACCOUNT) == 1.0
    assert limiter.penalize("account", ACCOUNT, factor=4, duration_s=0.5) == 4.0
    assert limiter.penalize("account", ACCOUNT, factor=2, duration_s=0.5) == 4.0  # keeps worst
    assert limiter.penalty("account", ACCOUNT) == 4.0
    assert limiter.penalty("other-account", ACCOUNT) == 1.0

    delays = [limiter.reserve(checks, now=T0).delay_s for _ in range(3)]
    assert delays == pytest.approx([0.0, 0.8, 1.6])
    assert limiter.acquire([("other-account", ACCOUNT)], now=T0).allowed  # unaffected

    time.sleep(0.6)
    assert limiter.penalty("account", ACCOUNT) == 1.0
    now = T0 + 10
    delays = [limiter.reserve(checks, now=now).delay_s for _ in range(3)]
    assert delays == pytest.approx([0.0, 0.2, 0.4])


def test_a_penalty_shrinks_the_burst_rather_than_widening_it(limiter: RateLimiter) -> None:
    bursty = Limit("plivo-sms", 5, 1.0)  # burst 5, interval 0.2 s
    checks = [("account", bursty)]
    for _ in range(4):
        assert limiter.acquire(checks, now=T0).allowed
    limiter.penalize("account", bursty, factor=2, duration_s=30)
    assert limiter.acquire(checks, now=T0).allowed  # the fifth of the burst
    refused = limiter.acquire(checks, now=T0)
    assert not refused.allowed
    assert refused.retry_after_s == pytest.approx(0.4)

    # From idle, the same 0.8 s of tolerance fits three requests 0.4 s apart.
    fresh = [("fresh", bursty)]
    limiter.penalize("fresh", bursty, factor=2, duration_s=30)
    allowed = sum(limiter.acquire(fresh, now=T0).allowed for _ in range(6))
    assert allowed == 3


# --- the script agrees with the pure model -----------------------------------------


def test_script_matches_the_pure_model(limiter: RateLimiter, redis_client: redis.Redis) -> None:
    # Slow limits on a fast simulated clock, so no key expires in real time mid-test.
    rng = random.Random(7)
    limits = [
        Limit("a", 1, 10.0, burst=2),
        Limit("b", 3, 60.0, burst=3),
        Limit("c", 10, 600.0, burst=4),
    ]
    factors = {"a": 1.0, "b": 2.5, "c": 1.0}
    limiter.penalize("s", limits[1], factor=factors["b"], duration_s=60)
    tats: dict[str, int] = {}
    now = T0
    for _ in range(300):
        now += rng.choice([0.0, 0.0, 1.0, 4.0, 10.0, 30.0])
        chosen = [lim for lim in limits if rng.random() < 0.7] or [limits[0]]
        cost = rng.choice([1, 1, 2])
        max_delay = rng.choice([0.0, None, 15.0])
        expected = plan(
            [tats.get(lim.name) for lim in chosen],
            chosen,
            [factors[lim.name] for lim in chosen],
            to_us(now),
            cost,
            None if max_delay is None else to_us(max_delay),
        )
        expected_delay_s = expected.delay_us / 1_000_000
        checks = [("s", lim) for lim in chosen]
        if max_delay == 0.0:
            got = limiter.acquire(checks, now=now, cost=cost)
            assert got.allowed == expected.booked
            assert got.retry_after_s == (0.0 if got.allowed else expected_delay_s)
            booked, blocked_by = got.allowed, got.blocked_by
        else:
            res = limiter.reserve(checks, now=now, cost=cost, max_delay_s=max_delay)
            assert res.booked == expected.booked
            assert res.delay_s == expected_delay_s
            booked, blocked_by = res.booked, res.blocked_by
        binding = None if expected.binding is None else chosen[expected.binding].name
        assert blocked_by == binding
        if booked:
            assert expected.new_tats_us is not None
            for lim, tat in zip(chosen, expected.new_tats_us, strict=True):
                tats[lim.name] = tat
        for lim in chosen:
            stored = redis_client.get(limiter.tat_key("s", lim))
            assert (stored is None) == (lim.name not in tats)
            if stored is not None:
                assert int(stored) == tats[lim.name]


# --- several processes, one limit ----------------------------------------------------


def _hammer(
    redis_url: str,
    barrier: Barrier,
    duration_s: float,
    results: Queue,
) -> None:
    """One worker process: send whenever the shared limiter allows, for `duration_s`."""
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    limiter = RateLimiter(client)
    checks = [("account", ACCOUNT)]
    allowed: list[float] = []
    attempts = 0
    barrier.wait(timeout=60)
    deadline = time.monotonic() + duration_s
    while time.monotonic() < deadline:
        decision = limiter.acquire(checks)
        attempts += 1
        if decision.allowed:
            allowed.append(decision.at)
        else:
            time.sleep(min(decision.retry_after_s, max(0.0, deadline - time.monotonic())))
    client.close()
    results.put((os.getpid(), attempts, allowed))


def test_four_processes_share_one_limit(redis_url: str, redis_client: redis.Redis) -> None:
    processes_n, duration_s = 4, 3.0
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(processes_n)
    results = ctx.Queue()
    processes = [
        ctx.Process(target=_hammer, args=(redis_url, barrier, duration_s, results))
        for _ in range(processes_n)
    ]
    for process in processes:
        process.start()
    try:
        reports = [results.get(timeout=60) for _ in processes]
    except queue.Empty:
        pytest.fail("a worker process did not report")
    finally:
        for process in processes:
            process.join(timeout=10)
            if process.is_alive():
                process.kill()

    times = sorted(t for _, _, allowed in reports for t in allowed)
    attempts = sum(n for _, n, _ in reports)
    assert attempts > len(times)  # they really competed

    # Server time is the clock the limiter decided on, so the bound is exact.
    assert most_in_window(times, 1.0 - 1e-4) <= max_in_window(ACCOUNT, 1.0)
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    assert min(gaps) >= 0.2 - 1e-4
    achieved = (len(times) - 1) / (times[-1] - times[0])
    assert achieved >= 0.9 * 5
    assert len(times) >= 0.8 * 5 * duration_s


def test_a_guarded_booking_opens_the_guard_or_books_nothing(
    limiter: RateLimiter, redis_client: redis.Redis
) -> None:
    """A person's bundle window and the account's slot in one script: the first send
    opens the window and takes the slot; a second send for the person finds the window
    another's and takes no slot, so the account's next slot is still free for others."""
    checks = [("acct", ACCOUNT)]
    window = Guard("bundle-window:sms:+14155550100", "41", 60_000)
    first = limiter.reserve(checks, now=T0, max_delay_s=60, guard=window)
    assert first.booked and first.delay_s == 0 and first.guard_held_s is None
    assert redis_client.get(window.key) == "41"
    assert 59_000 < redis_client.pttl(window.key) <= 60_000

    other = Guard(window.key, "42", 60_000)
    held = limiter.reserve(checks, now=T0, max_delay_s=60, guard=other)
    assert not held.booked and held.guard_held_s is not None
    assert 59 < held.guard_held_s <= 60
    assert redis_client.get(window.key) == "41"
    # Nothing was booked for the held send: the next slot is the one after the first's.
    assert limiter.reserve(checks, now=T0, max_delay_s=60).delay_s == pytest.approx(0.2)

    # The window's owner coming back (its slot was refused, say) books again.
    again = limiter.reserve(checks, now=T0, max_delay_s=60, guard=window)
    assert again.booked and again.delay_s == pytest.approx(0.4)
