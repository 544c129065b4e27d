"""One bad message never stops the bus bridge: the real process, real Redis, real databases.

A message that fails for a reason of its own is dead-lettered with a short
reason and the bridge goes on; a failure of the database as a whole leaves
entries pending and dead-letters nothing; an entry that keeps ending the
bridge's process is parked instead of being read again forever.
"""

from __future__ import annotations

import json

import pytest
import redis
from sqlalchemy import select, text

from shared.core.db import get_engine, session_scope
from shared.core.models import Alert
from tests.integration.test_bridge import (
    alerts_by_key,
    count_alerts,
    envelope,
    pending,
    wait_for,
)

DEEP = "[" * 100_000 + "]" * 100_000
NUMBER = "+14155550177"
SECRET = "s3cr3t-token-4f9c"


def dead_letters(client: redis.Redis, stream: str) -> dict[str, dict[str, str]]:
    return {fields["id"]: fields for _, fields in client.xrange(f"{stream}:dead")}


def deliveries(client: redis.Redis, names: dict[str, str], entry_id: str) -> int:
    [entry] = client.xpending_range(names["stream"], names["group"], entry_id, entry_id, 1)
    return entry["times_delivered"]


def test_a_100000_deep_entry_is_dead_lettered_and_nothing_around_it_is_lost(
    start_bridge, redis_client, database_url, names
):
    stream = names["stream"]
    bridge = start_bridge(consumer="bridge-a")
    wait_for(lambda: redis_client.execute_command("PUBSUB", "NUMPAT") >= 1)

    bad = redis_client.xadd(stream, {"event": DEEP})
    goods = [redis_client.xadd(stream, {"event": envelope(f"after{n}")}) for n in range(3)]
    # Published while the bridge is on the bad entry: channels have no second chance.
    assert redis_client.publish("if.bus:infra:db1", DEEP) == 1
    assert redis_client.publish("if.bus:infra:live", envelope("live")) == 1

    wait_for(lambda: count_alerts(database_url) == 4)
    wait_for(lambda: pending(redis_client, names) == 0)
    stored = alerts_by_key(database_url)
    assert set(stored) == {
        f"if.bus:database:{e}:db.health" for e in ("after0", "after1", "after2", "live")
    }
    dead = dead_letters(redis_client, stream)
    assert set(dead) == {bad}, bridge.log()
    assert dead[bad]["reason"] and len(dead[bad]["reason"]) <= 500
    assert json.loads(dead[bad]["payload"]) == {"event": DEEP}
    [(_, parked)] = wait_for(lambda: redis_client.xrange(names["dead_channel"]))
    assert parked["channel"] == "if.bus:infra:db1" and parked["payload"] == DEEP
    assert parked["reason"] and len(parked["reason"]) <= 500
    assert bridge.process.poll() is None, bridge.log()
    assert bridge.terminate() == 0, bridge.log()

    # A restart re-reads nothing and loses nothing.
    restarted = start_bridge(consumer="bridge-a")
    wait_for(lambda: redis_client.execute_command("PUBSUB", "NUMPAT") >= 1)
    goods.append(redis_client.xadd(stream, {"event": envelope("later")}))
    wait_for(lambda: count_alerts(database_url) == 5)
    wait_for(lambda: pending(redis_client, names) == 0)
    assert set(dead_letters(redis_client, stream)) == {bad}
    assert all(alert.occurrences == 1 for alert in alerts_by_key(database_url).values())
    assert "dead-lettered" not in restarted.log()
    assert restarted.terminate() == 0, restarted.log()


def _refuse_rows(database_url: str) -> None:
    """A real per-row refusal by the database: alerts whose summary starts with `refuse-me`."""
    with get_engine(database_url).begin() as connection:
        if database_url.startswith("sqlite"):
            connection.execute(
                text(
                    "CREATE TRIGGER refuse_me BEFORE INSERT ON alerts "
                    "WHEN NEW.summary LIKE 'refuse-me%' "
                    "BEGIN SELECT RAISE(ABORT, 'refused by policy'); END"
                )
            )
        else:
            connection.execute(
                text(
                    "CREATE FUNCTION refuse_me() RETURNS trigger AS $$ BEGIN "
                    "IF NEW.summary LIKE 'refuse-me%' THEN RAISE EXCEPTION "
                    "'refused by policy: %', NEW.summary USING ERRCODE = 'check_violation'; "
                    "END IF; RETURN NEW; END $$ LANGUAGE plpgsql"
                )
            )
            connection.execute(
                text(
                    "CREATE TRIGGER refuse_me BEFORE INSERT ON alerts "
                    "FOR EACH ROW EXECUTE FUNCTION refuse_me()"
                )
            )


def test_a_row_the_database_refuses_is_dead_lettered_with_a_reason_free_of_its_data(
    start_bridge, redis_client, database_url, names
):
    _refuse_rows(database_url)
    stream = names["stream"]
    refused = redis_client.xadd(
        stream,
        {
            "event": json.dumps(
                {
                    "summary": f"refuse-me: call {NUMBER}",
                    "dedup_key": "refused",
                    "details": {"callback": NUMBER, "token": SECRET},
                    "recipients": [NUMBER],
                }
            )
        },
    )
    redis_client.xadd(stream, {"event": envelope("fine")})
    bridge = start_bridge()
    wait_for(lambda: count_alerts(database_url) == 1)
    wait_for(lambda: pending(redis_client, names) == 0)

    reason = dead_letters(redis_client, stream)[refused]["reason"]
    assert reason.startswith("could not be stored: IntegrityError: "), reason
    assert "refused by policy" in reason
    assert len(reason) <= 500
    # Neither the statement, nor its parameters, nor the row the driver quotes.
    for leaked in (SECRET, "4155550177", "INSERT", "parameters", "DETAIL"):
        assert leaked not in reason, reason
    assert bridge.process.poll() is None
    assert bridge.terminate() == 0
    for leaked in (SECRET, "4155550177"):
        assert leaked not in bridge.log()


def _rename_alerts(database_url: str, old: str, new: str) -> None:
    with get_engine(database_url).begin() as connection:
        connection.execute(text(f"ALTER TABLE {old} RENAME TO {new}"))


def test_a_database_failing_every_row_leaves_entries_pending_and_dead_letters_none(
    start_bridge, redis_client, database_url, names
):
    """A table gone (a schema not migrated) fails every entry alike: it is the
    system, not the entries. They wait, unacknowledged, and go in once it is back."""
    stream = names["stream"]
    bridge = start_bridge()
    wait_for(lambda: pending(redis_client, names) == 0)
    _rename_alerts(database_url, "alerts", "alerts_away")
    try:
        for n in range(3):
            redis_client.xadd(stream, {"event": envelope(f"wait{n}")})
        wait_for(lambda: bridge.log().count("store unavailable, will retry") >= 4)
        assert pending(redis_client, names) >= 1
        assert dead_letters(redis_client, stream) == {}
        # Retried in place: an outage does not count as deliveries (see the next test).
        waiting = redis_client.xpending_range(stream, names["group"], "-", "+", 10)
        assert [entry["times_delivered"] for entry in waiting] == [1] * len(waiting)
    finally:
        _rename_alerts(database_url, "alerts_away", "alerts")
    wait_for(lambda: count_alerts(database_url) == 3)
    wait_for(lambda: pending(redis_client, names) == 0)
    assert dead_letters(redis_client, stream) == {}
    assert bridge.process.poll() is None
    assert bridge.terminate() == 0, bridge.log()


def test_an_entry_that_keeps_ending_the_bridge_is_dead_lettered_not_read_forever(
    start_bridge, redis_client, database_url, names
):
    """What five bridges that died on one entry leave in Redis: the entry pending,
    delivered five times. The next bridge parks it and goes on with the rest."""
    stream, group = names["stream"], names["group"]
    redis_client.xgroup_create(stream, group, id="0", mkstream=True)
    killer = redis_client.xadd(stream, {"event": envelope("killer")})
    after = redis_client.xadd(stream, {"event": envelope("after")})
    redis_client.xreadgroup(group, "bridge-a", {stream: ">"}, count=1)
    for _ in range(4):  # each restart re-read its pending entry first, and died on it
        redis_client.xreadgroup(group, "bridge-a", {stream: "0"}, count=1)
    assert deliveries(redis_client, names, killer) == 5

    bridge = start_bridge(consumer="bridge-a")
    wait_for(lambda: count_alerts(database_url) == 1)
    wait_for(lambda: pending(redis_client, names) == 0)
    reason = dead_letters(redis_client, stream)[killer]["reason"]
    assert reason.startswith("delivered 6 times and never finished"), reason
    assert set(alerts_by_key(database_url)) == {"if.bus:database:after:db.health"}
    assert after not in dead_letters(redis_client, stream)
    assert bridge.terminate() == 0, bridge.log()


@pytest.mark.parametrize("kills", [1, 4])
def test_a_bridge_killed_on_an_entry_a_few_times_still_stores_it(
    start_bridge, redis_client, database_url, names, kills
):
    """Restarts within the limit are ordinary crashes and deploys, not a poison entry."""
    stream, group = names["stream"], names["group"]
    redis_client.xgroup_create(stream, group, id="0", mkstream=True)
    entry = redis_client.xadd(stream, {"event": envelope("survivor")})
    redis_client.xreadgroup(group, "bridge-a", {stream: ">"}, count=1)
    for _ in range(kills - 1):
        redis_client.xreadgroup(group, "bridge-a", {stream: "0"}, count=1)
    bridge = start_bridge(consumer="bridge-a")
    wait_for(lambda: pending(redis_client, names) == 0)
    assert entry not in dead_letters(redis_client, stream)
    with session_scope(database_url) as session:
        assert session.scalars(select(Alert.dedup_key)).all() == [
            "if.bus:database:survivor:db.health"
        ]
    assert bridge.terminate() == 0
