"""The report inbox's lock names the liveness token of the drainer that holds it."""

from __future__ import annotations

import redis

from shared.notifications import report_inbox


def test_a_lock_names_its_holder_or_no_one(redis_client: redis.Redis) -> None:
    token = report_inbox.acquire(redis_client, "host-a:101:aaaaaaaa")
    assert token is not None
    assert report_inbox.lock_token(redis_client) == token
    assert report_inbox.holder_of(token) == "host-a:101:aaaaaaaa"
    assert report_inbox.acquire(redis_client) is None  # one drainer at a time
    report_inbox.release(redis_client, token)
    assert report_inbox.lock_token(redis_client) is None

    anonymous = report_inbox.acquire(redis_client)
    assert anonymous is not None and report_inbox.holder_of(anonymous) is None
    report_inbox.release(redis_client, anonymous)


def test_releasing_a_lock_another_drainer_took_since_leaves_it(redis_client: redis.Redis) -> None:
    old = report_inbox.acquire(redis_client, "host-a:102:bbbbbbbb")
    assert old is not None
    redis_client.delete(report_inbox.LOCK_KEY)  # lapsed
    new = report_inbox.acquire(redis_client, "host-b:7:cccccccc")
    report_inbox.release(redis_client, old)
    assert report_inbox.lock_token(redis_client) == new
    report_inbox.release(redis_client, new)
