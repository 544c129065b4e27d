"""Oldest task age per queue and limiter delay, read from a real Redis at each scrape.

No worker runs here: what the receiver enqueues stays in the queue, as it
would during a worker outage, which is what the age gauge is for.
"""

from __future__ import annotations

import json
import time

import requests
from prometheus_client.parser import text_string_to_metric_families

from shared.sending.limits import SendLimits
from shared.sending.rate_limiter import RateLimiter
from worker.publish_time import PUBLISHED_AT_HEADER

AUTH = {"Authorization": "Bearer token-one"}


def scrape(receiver) -> dict[tuple[str, str], float]:
    """(family, its one label's value) -> value, for the two backlog gauges."""
    response = requests.get(f"{receiver.url}/metrics", timeout=10)
    assert response.status_code == 200, response.text
    found = {}
    for family in text_string_to_metric_families(response.text):
        if family.name in (
            "alert_dispatch_queue_oldest_task_age_seconds",
            "alert_dispatch_limiter_delay_seconds",
        ):
            for sample in family.samples:
                [value] = sample.labels.values()
                found[(family.name, value)] = sample.value
    return found


def age(samples, queue: str) -> float:
    return samples[("alert_dispatch_queue_oldest_task_age_seconds", queue)]


def delay(samples, limit: str) -> float:
    return samples[("alert_dispatch_limiter_delay_seconds", limit)]


def old_message(seconds_ago: float | None) -> str:
    headers = {"task": "notify.send_sms", "id": "x", "eta": None}
    if seconds_ago is not None:
        headers[PUBLISHED_AT_HEADER] = time.time() - seconds_ago
    return json.dumps({"body": "W10=", "headers": headers, "properties": {"priority": 3}})


def test_oldest_task_age_per_queue_from_the_publish_time(receiver, redis_client):
    samples = scrape(receiver)
    assert {age(samples, q) for q in ("ingest", "notify", "callbacks")} == {0.0}

    body = {"summary": "disk full", "severity": "critical", "recipients": ["+14155550123"]}
    response = requests.post(f"{receiver.url}/api/v1/alerts", json=body, headers=AUTH, timeout=10)
    assert response.status_code == 202, response.text
    # The receiver's own enqueue path stamped the message it published.
    [raw] = [m for name in redis_client.keys("ingest*") for m in redis_client.lrange(name, 0, -1)]
    assert isinstance(json.loads(raw)["headers"][PUBLISHED_AT_HEADER], float)

    # Older messages behind other priorities; one without the header is ignored.
    redis_client.lpush("notify\x06\x163", old_message(30))
    redis_client.lpush("notify\x06\x163", old_message(5))
    redis_client.lpush("callbacks", old_message(None))

    samples = scrape(receiver)
    assert 0 <= age(samples, "ingest") < 10
    assert 30 <= age(samples, "notify") < 40
    assert age(samples, "callbacks") == 0.0


def test_limiter_delay_is_how_far_the_account_limits_are_booked(receiver, redis_client):
    samples = scrape(receiver)
    assert delay(samples, "account-sms") == 0.0
    assert delay(samples, "account-calls") == 0.0

    settings = receiver.settings
    limits = SendLimits.from_settings(settings)
    limiter = RateLimiter(redis_client)
    checks = [(f"account:{settings.plivo_auth_id}", limits.account_sms)]
    booked = [limiter.reserve(checks) for _ in range(50)]
    assert all(r.booked for r in booked)
    ahead = booked[-1].delay_s + limits.account_sms.period_s  # the last slot's end

    samples = scrape(receiver)
    assert ahead - 5 < delay(samples, "account-sms") <= ahead
    assert delay(samples, "account-calls") == 0.0
    assert set(samples) == {
        ("alert_dispatch_queue_oldest_task_age_seconds", q)
        for q in ("ingest", "notify", "callbacks")
    } | {("alert_dispatch_limiter_delay_seconds", n) for n in ("account-sms", "account-calls")}
