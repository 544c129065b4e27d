"""The pure parts of the oldest-task-age and limiter-delay gauges."""

from __future__ import annotations

import json

from shared.core.settings import load_settings
from webhooks.backlog_gauges import account_limits, booked_ahead_s, oldest_age_s, waiting_since

NOW = 1_700_000_000.0
ACCOUNT = "MAACCOUNT00000000000"


def message(published_at: object = None, eta: str | None = None) -> bytes:
    headers: dict[str, object] = {"task": "notify.send_sms", "eta": eta}
    if published_at is not None:
        headers["published_at"] = published_at
    return json.dumps({"body": "W10=", "headers": headers, "properties": {}}).encode()


def test_a_message_waits_since_it_was_published():
    assert waiting_since(message(NOW - 12.5)) == NOW - 12.5


def test_a_message_with_an_eta_waits_only_from_its_eta():
    eta = "2023-11-14T22:13:30+00:00"  # NOW + 10 s
    assert waiting_since(message(NOW - 60, eta=eta)) == NOW + 10


def test_messages_without_the_header_or_not_messages_are_ignored():
    assert waiting_since(message()) is None
    assert waiting_since(message("yesterday")) is None
    assert waiting_since(message(True)) is None
    assert waiting_since(b"not json") is None
    assert waiting_since(b"\xff\xfe") is None
    assert waiting_since(b"[1, 2]") is None


def test_oldest_age_is_the_longest_wait_and_zero_for_none():
    assert oldest_age_s([message(NOW - 3), message(NOW - 40), message()], NOW) == 40
    assert oldest_age_s([], NOW) == 0.0
    assert oldest_age_s([message()], NOW) == 0.0
    # Published a moment "later" by a host whose clock runs ahead: never negative.
    assert oldest_age_s([message(NOW + 2)], NOW) == 0.0


def test_booked_ahead_is_tat_minus_now_floored_at_zero():
    assert booked_ahead_s(str(int((NOW + 2.5) * 1_000_000)).encode(), NOW) == 2.5
    assert booked_ahead_s(str(int((NOW - 1) * 1_000_000)), NOW) == 0.0
    assert booked_ahead_s(None, NOW) == 0.0
    assert booked_ahead_s(b"garbage", NOW) == 0.0


def test_account_limits_are_the_two_account_wide_send_limits(tmp_path):
    settings = load_settings(PLIVO_AUTH_ID=ACCOUNT, API_TOKENS="t", DATA_DIR=str(tmp_path))
    pairs = account_limits(settings)
    assert [(key, limit.name) for key, limit in pairs] == [
        (f"account:{ACCOUNT}", "account-sms"),
        (f"account:{ACCOUNT}", "account-calls"),
    ]
