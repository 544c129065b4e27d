"""The shared circuit breaker against a real Redis, with time passed in."""

from shared.sending.breaker import BreakerState, CircuitBreaker


def breaker(redis_client, **kw):
    return CircuitBreaker(redis_client, "primary", threshold=3, window_s=30, open_s=10, **kw)


def test_opens_after_threshold_failures_and_blocks(redis_client):
    b = breaker(redis_client)
    assert not b.record_failure(now=100.0)
    assert not b.record_failure(now=101.0)
    assert b.record_failure(now=102.0)
    assert b.state(now=103.0) is BreakerState.OPEN
    assert not b.allow(now=103.0)


def test_half_open_lets_exactly_one_probe_through(redis_client):
    b = breaker(redis_client)
    for t in (100.0, 101.0, 102.0):
        b.record_failure(now=t)
    assert b.state(now=113.0) is BreakerState.HALF_OPEN
    assert b.allow(now=113.0)
    assert not b.allow(now=113.1)  # a second worker does not probe too


def test_probe_success_closes_and_probe_failure_reopens(redis_client):
    b = breaker(redis_client)
    for t in (100.0, 101.0, 102.0):
        b.record_failure(now=t)
    assert b.allow(now=113.0)
    assert b.record_failure(now=113.5)  # probe failed
    assert b.state(now=114.0) is BreakerState.OPEN
    assert b.allow(now=124.0)
    assert b.record_success()
    assert b.state() is BreakerState.CLOSED and b.allow()


def test_success_resets_the_failure_count(redis_client):
    b = breaker(redis_client)
    b.record_failure(now=100.0)
    b.record_failure(now=101.0)
    b.record_success()
    assert not b.record_failure(now=102.0)
    assert b.state(now=102.0) is BreakerState.CLOSED
