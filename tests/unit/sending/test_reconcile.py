"""Deciding from Plivo's own records whether an unknown send got through."""

from datetime import UTC, datetime

from shared.notifications.state import NotificationState
from shared.sending.reconcile import find_sent, older_than, parse_plivo_time

SINCE = datetime(2026, 11, 28, 13, 0, 0, tzinfo=UTC)


def record(uuid, to, at, state="sent"):
    return {"message_uuid": uuid, "to_number": to, "message_time": at, "message_state": state}


def test_times_in_plivo_formats():
    assert parse_plivo_time("2017-05-22 21:36:14+05:30") == datetime(
        2017, 5, 22, 16, 6, 14, tzinfo=UTC
    )
    assert parse_plivo_time("2026-11-28 13:08:46 +0000") == datetime(
        2026, 11, 28, 13, 8, 46, tzinfo=UTC
    )
    assert parse_plivo_time("2024-08-21 18:28:49.244057+05:30").microsecond == 244057
    assert parse_plivo_time("garbage") is None and parse_plivo_time(None) is None


def _find(records, taken=frozenset()):
    return find_sent(
        records,
        destination="+14155550101",
        since=SINCE,
        uuid_field="message_uuid",
        time_field="message_time",
        taken=set(taken),
    )


def test_adopts_the_oldest_matching_message_after_the_attempt():
    records = [
        record("new", "14155550101", "2026-11-28 13:00:09+00:00", "delivered"),
        record("mine", "14155550101", "2026-11-28 13:00:02+00:00", "delivered"),
        record("other-person", "14155550199", "2026-11-28 13:00:01+00:00"),
        record("before", "14155550101", "2026-11-28 12:59:00+00:00"),
    ]
    found = _find(records)
    assert found.provider_uuid == "mine" and found.state is NotificationState.DELIVERED


def test_a_message_another_notification_owns_is_not_adopted():
    records = [record("known", "14155550101", "2026-11-28 13:00:02+00:00")]
    assert _find(records, taken={"known"}) is None


def test_nothing_found_means_it_never_reached_plivo():
    assert _find([record("before", "14155550101", "2026-11-28 12:00:00+00:00")]) is None


def test_paging_stops_once_a_page_reaches_before_the_attempt():
    assert older_than([record("x", "1", "2026-11-28 12:59:59+00:00")], SINCE, "message_time")
    assert not older_than([record("x", "1", "2026-11-28 13:00:01+00:00")], SINCE, "message_time")
