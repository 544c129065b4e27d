"""The broker part of Celery's configuration: Redis by default, RabbitMQ on amqp://."""

from __future__ import annotations

from datetime import UTC, datetime

from worker.broker_config import amqp_send_options, broker_config
from worker.queues import AMQP_HIGH, AMQP_NORMAL, PRIORITY_STEPS, amqp_priority

NOW = datetime(2026, 12, 2, 12, 0, 0, tzinfo=UTC)


def test_unset_the_broker_is_the_redis_of_redis_url_with_priority_steps() -> None:
    config = broker_config(None, "redis://r:6379/0")
    assert config["broker_url"] == "redis://r:6379/0"
    assert config["broker_transport_options"]["priority_steps"] == list(PRIORITY_STEPS)
    sentinel = broker_config(None, "sentinel://s1:26379,s2:26379/pager?db=1")
    assert sentinel["broker_url"] == "sentinel://s1:26379/1;sentinel://s2:26379/1"
    assert sentinel["broker_transport_options"]["master_name"] == "pager"


def test_amqp_gives_quorum_queues_and_publisher_confirms() -> None:
    config = broker_config("amqp://u:p@mq:5672/v", "redis://r:6379/0")
    assert config["broker_url"] == "amqp://u:p@mq:5672/v"
    assert config["broker_transport_options"] == {"confirm_publish": True}
    queues = config["task_queues"]
    assert {q.name for q in queues} == {"ingest", "notify", "callbacks"}
    assert all(q.queue_arguments == {"x-queue-type": "quorum"} for q in queues)
    # Native delayed delivery (countdowns on quorum queues) needs topic exchanges.
    assert all(q.exchange.type == "topic" for q in queues)
    assert config["task_default_priority"] is None


def test_the_first_step_is_rabbitmqs_high_priority_and_the_rest_normal() -> None:
    assert amqp_priority(0) == AMQP_HIGH == 5
    assert [amqp_priority(p) for p in (1, 2)] == [AMQP_HIGH, AMQP_HIGH]
    assert {amqp_priority(p) for p in range(3, 10)} == {AMQP_NORMAL}
    assert amqp_priority(None) is None


def test_a_wait_under_a_second_rides_as_an_eta_and_longer_ones_as_countdowns() -> None:
    countdown, options = amqp_send_options(0.25, {"priority": 0, "headers": {"x": 1}}, NOW)
    assert countdown is None
    assert options == {
        "priority": 5,
        "headers": {"x": 1, "eta": "2026-12-02T12:00:00.250000+00:00"},
    }
    countdown, options = amqp_send_options(2.5, {"priority": 6}, NOW)
    assert (countdown, options) == (2.5, {"priority": 0})
    assert amqp_send_options(None, {}, NOW) == (None, {})
