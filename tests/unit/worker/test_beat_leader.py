"""The beat leader's decisions, and its lock and slot claims on a real Redis."""

from __future__ import annotations

from datetime import UTC, datetime

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from worker.beat_leader import (
    LAST_RUN_KEY,
    LEADER_KEY,
    LOCK_TTL_S,
    POLL_S,
    RENEW_EVERY_S,
    Attempt,
    Claim,
    LeaderLock,
    Lease,
    loop_wait,
    next_lease,
    run_stamp,
    run_time,
    takes_over,
)

LEADING = Lease(True, 100.0)


def test_taking_or_renewing_the_lock_leads_from_now():
    assert next_lease(Lease(), Attempt.ACQUIRED, 5.0) == Lease(True, 5.0)
    assert next_lease(LEADING, Attempt.RENEWED, 101.0) == Lease(True, 101.0)


def test_another_holder_means_standing_by():
    assert not next_lease(LEADING, Attempt.OTHER, 101.0).held
    assert not next_lease(Lease(), Attempt.OTHER, 101.0).held


def test_unreachable_redis_keeps_the_lead_only_for_half_the_ttl():
    assert next_lease(LEADING, Attempt.UNREACHABLE, 100.0 + LOCK_TTL_S / 2 - 0.1).held
    assert not next_lease(LEADING, Attempt.UNREACHABLE, 100.0 + LOCK_TTL_S / 2).held
    assert not next_lease(Lease(), Attempt.UNREACHABLE, 100.0).held


def test_a_new_term_adopts_the_schedule_a_renewal_does_not():
    assert takes_over(Lease(), Lease(True, 1.0), Attempt.ACQUIRED)
    # Our lock had lapsed and nobody took it: still a new term, another beat may have led.
    assert takes_over(LEADING, Lease(True, 101.0), Attempt.ACQUIRED)
    assert not takes_over(LEADING, Lease(True, 101.0), Attempt.RENEWED)
    assert not takes_over(Lease(), Lease(), Attempt.OTHER)


def test_a_leader_renews_at_least_every_second_and_a_standby_polls():
    assert loop_wait(LEADING, 300.0) == RENEW_EVERY_S
    assert loop_wait(LEADING, 0.2) == 0.2
    assert loop_wait(Lease(), 0.0) == POLL_S


def test_last_run_round_trips_to_the_microsecond():
    moment = datetime(2026, 3, 29, 1, 30, 0, 123456, tzinfo=UTC)
    assert run_time(run_stamp(moment)) == moment


def test_only_the_holder_claims_a_slot_and_only_once(redis_client: redis.Redis, redis_url: str):
    client = redis.Redis.from_url(redis_url)
    first, second = LeaderLock(client, "host-a:1"), LeaderLock(client, "host-b:2")
    assert first.attempt() is Attempt.ACQUIRED
    assert second.attempt() is Attempt.OTHER
    assert redis_client.get(LEADER_KEY).startswith("host-a:1:")
    assert 0 < redis_client.pttl(LEADER_KEY) <= LOCK_TTL_S * 1000

    assert first.claim("tick", "", "10.000000") is Claim.SENT
    assert second.claim("tick", "", "10.000000") is Claim.NOT_LEADER
    assert first.claim("tick", "", "11.000000") is Claim.MOVED  # a stale view of the slot
    assert first.claim("tick", "10.000000", "11.000000") is Claim.SENT
    assert redis_client.hget(LAST_RUN_KEY, "tick") == "11.000000"
    assert first.attempt() is Attempt.RENEWED

    first.release()
    assert second.attempt() is Attempt.ACQUIRED
    assert second.last_runs() == {"tick": "11.000000"}
    assert first.attempt() is Attempt.OTHER
    assert first.claim("tick", "11.000000", "12.000000") is Claim.NOT_LEADER


def test_a_lapsed_lock_is_taken_by_the_standby(redis_client: redis.Redis, redis_url: str):
    client = redis.Redis.from_url(redis_url)
    first, second = LeaderLock(client, "a:1", ttl_s=0.2), LeaderLock(client, "b:2", ttl_s=0.2)
    assert first.attempt() is Attempt.ACQUIRED
    redis_client.delete(LEADER_KEY)  # as if it lapsed: the leader died
    assert second.attempt() is Attempt.ACQUIRED
    assert first.attempt() is Attempt.OTHER  # its renewal finds another token


def test_unreachable_redis_is_reported_not_raised(tmp_path):
    # No retries: the client's own backoff would only add seconds before the same error.
    client = redis.Redis(
        unix_socket_path=str(tmp_path / "none.sock"),
        socket_timeout=0.2,
        retry=Retry(NoBackoff(), 0),
    )
    assert LeaderLock(client, "a:1").attempt() is Attempt.UNREACHABLE


def test_a_closed_scheduler_stops_at_its_next_tick_instead_of_leading_again(broker_env):
    """A SIGTERM that lands mid-publish can have its SystemExit swallowed by the
    Redis client's cleanup; the scheduler Celery already closed must still stop.
    (An app of its own, on the test broker: the shared one reads its configuration
    once, and a later test publishing in this process must find the test broker.)"""
    import pytest

    from worker.beat_leader import LeaderScheduler
    from worker.celery_app import create_celery_app

    app = create_celery_app()
    scheduler = LeaderScheduler(app=app, lazy=True)
    scheduler.close()
    with pytest.raises(SystemExit):
        scheduler.tick()
