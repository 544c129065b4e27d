"""The rule behind refusing a second host: who may run beside whom."""

from __future__ import annotations

from shared.core.host_presence import (
    OWN_REDIS,
    SQLITE,
    Presence,
    application_name,
    conflict,
    from_application_name,
    from_member,
    local_token,
    refusal_reason,
    to_member,
)

SHARED = Presence("host-a", 10)


def test_hosts_that_share_everything_run_side_by_side() -> None:
    assert conflict(Presence("host-b", 11), [SHARED, Presence("host-c", 12)]) is None


def test_a_second_host_beside_state_of_one_machine_is_refused_either_way() -> None:
    on_sqlite = Presence("host-b", 20, local_token({SQLITE: "d1"}))
    assert conflict(on_sqlite, [SHARED]) == SHARED
    assert conflict(SHARED, [on_sqlite]) == on_sqlite
    reason = refusal_reason(on_sqlite, SHARED, "Redis (REDIS_URL)")
    assert reason.startswith("another host (host-a) shares this Redis (REDIS_URL) while this")
    assert "its database in SQLite" in reason and "DATABASE_URL" in reason
    own_redis = Presence("host-a", 30, local_token({OWN_REDIS: "d2"}))
    assert "a Redis of its own" in refusal_reason(SHARED, own_redis, "PostgreSQL database")


def test_one_host_or_one_shared_data_directory_never_conflicts() -> None:
    token = local_token({SQLITE: "d1", OWN_REDIS: "d1"})
    assert conflict(Presence("host-a", 2, token), [SHARED]) is None  # same host
    assert conflict(Presence("c2", 2, token), [Presence("c1", 1, token)]) is None  # same volume
    assert local_token({}) == ""


def test_the_registry_forms_read_back() -> None:
    me = Presence("a-rather-long-host-name-of-a-cloud-vm.internal", 4194304, "rs:0123abcd")
    name = application_name(me)
    assert len(name) <= 63
    assert from_application_name(name) == Presence(name.split(" ")[1], 4194304, "rs:0123abcd")
    assert from_application_name("psql") is None
    assert from_member(to_member(SHARED)) == SHARED
    assert from_member("not json") is None
