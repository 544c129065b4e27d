"""The bus bridge as a real process on real Redis: streams, channels, dead letters, crashes."""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path

import redis
from sqlalchemy import func, select

from shared.core.db import session_scope
from shared.core.models import Alert
from tests.polling import wait_for as poll

REPO = Path(__file__).resolve().parents[2]


wait_for = partial(poll, timeout=20.0, interval=0.05)


def count_alerts(database_url: str) -> int:
    with session_scope(database_url) as session:
        return session.scalar(select(func.count()).select_from(Alert))


def alerts_by_key(database_url: str) -> dict[str, Alert]:
    with session_scope(database_url) as session:
        return {a.dedup_key: a for a in session.scalars(select(Alert)) if a.dedup_key}


def envelope(entity_id: str, status: str = "down", **data: object) -> str:
    return json.dumps(
        {
            "event_type": "db.health",
            "timestamp": "2026-11-27T02:57:28Z",
            "entity_type": "database",
            "entity_id": entity_id,
            "status": status,
            "data": data,
            "tracking_id": f"trk-{entity_id}-{status}",
        }
    )


def pending(client: redis.Redis, names: dict[str, str]) -> int:
    try:
        return client.xpending(names["stream"], names["group"])["pending"]
    except redis.ResponseError:
        return -1


def test_stream_entries_become_alerts_in_every_accepted_shape(
    start_bridge, redis_client, database_url, names
):
    stream = names["stream"]
    redis_client.xadd(stream, {"event": envelope("db1")})
    redis_client.xadd(
        stream,
        {
            "summary": "queue stuck",
            "severity": "warning",
            "dedup_key": "queue",
            "labels": '{"team": "payments"}',
        },
    )
    redis_client.xadd(stream, {"event": json.dumps({"summary": "native", "dedup_key": "n1"})})
    bridge = start_bridge()
    wait_for(lambda: count_alerts(database_url) == 3)
    stored = alerts_by_key(database_url)
    assert stored["if.bus:database:db1:db.health"].severity == "critical"
    assert stored["queue"].labels == {"team": "payments"} and stored["queue"].source == "bus"
    assert stored["n1"].summary == "native"
    wait_for(lambda: pending(redis_client, names) == 0)

    # A resolve on the bus closes the alert its trigger opened.
    redis_client.xadd(stream, {"event": envelope("db1", status="resolved")})
    wait_for(
        lambda: alerts_by_key(database_url)["if.bus:database:db1:db.health"].status == "resolved"
    )
    assert bridge.terminate() == 0, bridge.log()


def test_killed_mid_stream_and_restarted_loses_and_duplicates_nothing(
    start_bridge, redis_client, database_url, names
):
    stream = names["stream"]
    pipe = redis_client.pipeline()
    for n in range(150):
        pipe.xadd(stream, {"event": envelope(f"host{n}")})
    pipe.execute()
    bridge = start_bridge(batch=10)
    wait_for(lambda: count_alerts(database_url) >= 20, interval=0.005)
    bridge.kill()  # SIGKILL: no chance to finish or acknowledge anything
    stored_at_kill = count_alerts(database_url)
    assert stored_at_kill < 150, "the bridge finished before it could be killed mid-stream"
    # Events keep arriving while no bridge runs.
    for n in range(150, 200):
        redis_client.xadd(stream, {"event": envelope(f"host{n}")})

    restarted = start_bridge(batch=10)
    wait_for(lambda: count_alerts(database_url) >= 200, timeout=60)
    wait_for(lambda: pending(redis_client, names) == 0)
    stored = alerts_by_key(database_url)
    assert set(stored) == {f"if.bus:database:host{n}:db.health" for n in range(200)}
    assert count_alerts(database_url) == 200
    # An entry stored before the kill but not yet acknowledged was delivered
    # again; the event log recognised it, so no alert counts a second occurrence.
    assert all(alert.occurrences == 1 for alert in stored.values())
    assert restarted.terminate() == 0, restarted.log()


def test_entries_of_a_dead_consumer_are_claimed_and_a_stored_one_is_not_stored_twice(
    start_bridge, redis_client, database_url, names, monkeypatch
):
    from shared.alerts.formats import bounded_key, bus
    from shared.core.settings import load_settings
    from worker import enqueue
    from worker.producer import store_event

    # The ghost stores without routing: this process publishes nothing to the
    # broker that other tests' workers share.
    monkeypatch.setattr(enqueue, "dispatch_alert", lambda alert_id: False)

    stream, group = names["stream"], names["group"]
    redis_client.xgroup_create(stream, group, id="0", mkstream=True)
    ids = [redis_client.xadd(stream, {"event": envelope(f"ghost{n}")}) for n in range(3)]
    # A consumer reads all three and dies; it had stored the first before dying.
    redis_client.xreadgroup(group, "ghost", {stream: ">"})
    [first] = bus.to_alerts(json.loads(envelope("ghost0")))
    store_event(
        first,
        settings=load_settings(DATABASE_URL=database_url),
        via="bus",
        marker=bounded_key("bus", stream, ids[0]),
    )
    assert pending(redis_client, names) == 3

    bridge = start_bridge(consumer="bridge-b", claim_idle_ms=200)
    wait_for(lambda: pending(redis_client, names) == 0)
    stored = alerts_by_key(database_url)
    assert len(stored) == 3
    assert all(alert.occurrences == 1 for alert in stored.values())
    assert "claimed 3 abandoned entries" in bridge.log()
    assert bridge.terminate() == 0


def test_channel_message_on_the_infrafabric_bus_becomes_an_alert(
    start_bridge, redis_client, database_url, names
):
    bridge = start_bridge()
    wait_for(lambda: redis_client.execute_command("PUBSUB", "NUMPAT") >= 1)
    receivers = redis_client.publish("if.bus:infra:db1", envelope("db1", summary="db1 is down"))
    assert receivers == 1
    alert = wait_for(lambda: alerts_by_key(database_url).get("if.bus:database:db1:db.health"))
    assert alert.summary == "db1 is down" and alert.source == "if.bus"
    assert (alert.labels["domain"], alert.labels["entity"]) == ("infra", "db1")
    assert alert.details["channel"] == "if.bus:infra:db1"
    # A channel outside the pattern is not ours.
    redis_client.publish("other:infra:db2", envelope("db2"))
    redis_client.publish("if.bus:infra:db1", envelope("db1", status="ok"))
    wait_for(
        lambda: alerts_by_key(database_url)["if.bus:database:db1:db.health"].status == "resolved"
    )
    assert count_alerts(database_url) == 1
    assert bridge.terminate() == 0


def test_unusable_messages_go_to_dead_letter_with_the_reason_and_the_bridge_goes_on(
    start_bridge, redis_client, redis_url, database_url, names
):
    stream = names["stream"]
    bad_json = redis_client.xadd(stream, {"event": "{not json"})
    incomplete = redis_client.xadd(
        stream, {"event": json.dumps({"event_type": "db.health", "status": "down"})}
    )
    raw_client = redis.Redis.from_url(redis_url)
    not_utf8 = raw_client.xadd(stream, {b"event": b"\xff\xfe{}"}).decode()
    raw_client.close()
    good = redis_client.xadd(stream, {"event": envelope("db9")})
    bridge = start_bridge()
    wait_for(lambda: pending(redis_client, names) == 0)
    wait_for(lambda: count_alerts(database_url) == 1)

    dead = {fields["id"]: fields for _, fields in redis_client.xrange(f"{stream}:dead")}
    assert set(dead) == {bad_json, incomplete, not_utf8}
    assert dead[not_utf8]["reason"] == "entry is not UTF-8"
    assert dead[bad_json]["reason"].startswith("field event is not valid JSON")
    assert json.loads(dead[bad_json]["payload"]) == {"event": "{not json"}
    assert dead[incomplete]["reason"] == (
        "invalid bus envelope: entity_type: Field required; entity_id: Field required"
    )
    assert dead[incomplete]["stream"] == stream and dead[incomplete]["group"] == names["group"]
    assert good not in dead

    wait_for(lambda: redis_client.execute_command("PUBSUB", "NUMPAT") >= 1)
    redis_client.publish("if.bus:infra:db3", "db3 is on fire")
    [(_, parked)] = wait_for(lambda: redis_client.xrange(names["dead_channel"]))
    assert parked["channel"] == "if.bus:infra:db3"
    assert parked["payload"] == "db3 is on fire"
    assert parked["reason"].startswith("message is not valid JSON")

    redis_client.xadd(stream, {"event": envelope("db10")})
    wait_for(lambda: count_alerts(database_url) == 2)
    assert bridge.terminate() == 0, bridge.log()
