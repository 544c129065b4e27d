"""Reading Plivo back: a bulk answer mapped to numbers, abandoned claims matched to
Plivo's list, the callback URL naming a batch, and what a report may move."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shared.notices.delivery_state import (
    DeliveryState,
    is_final_report,
    sources_for,
    state_for_report,
)
from shared.notices.provider_match import match_numbers, reached_back
from shared.plivo.callback_urls import (
    notice_batch_from,
    notice_callback_url,
    notification_id_from,
)
from shared.plivo.client import bulk_answer
from shared.plivo.errors import PlivoBadResponse

A, B, C = "+14155550101", "+14155550102", "+14155550103"
D = DeliveryState


def test_each_uuid_goes_to_its_valid_number_in_order() -> None:
    answer = bulk_answer(
        [A, B, C], {"api_id": "x", "message_uuid": ["u1", "u3"], "invalid_number": ["14155550102"]}
    )
    assert answer.accepted == {A: "u1", C: "u3"}
    assert answer.invalid == [B]


def test_an_answer_that_does_not_add_up_is_ambiguous() -> None:
    with pytest.raises(PlivoBadResponse) as raised:
        bulk_answer([A, B], {"message_uuid": ["u1"]})
    assert raised.value.ambiguous
    with pytest.raises(PlivoBadResponse):
        bulk_answer([A, B], {"message_uuid": ["u1", "u1"]})
    with pytest.raises(PlivoBadResponse):
        bulk_answer([A], {"message": "message(s) queued"})


def test_the_callback_url_names_the_batch_and_nothing_else_parses_as_one() -> None:
    batch = "0123456789abcdef0123456789abcdef"
    url = notice_callback_url("https://pager.example.com/", "/plivo/sms/status", batch)
    assert url == f"https://pager.example.com/plivo/sms/status?nb={batch}"
    assert notice_batch_from({"nb": batch}) == batch
    assert notification_id_from({"nb": batch}) is None
    for wrong in ("", "12", batch.upper(), batch + "0", "g" * 32, "０" * 32):
        assert notice_batch_from({"nb": wrong}) is None
    with pytest.raises(ValueError):
        notice_callback_url("https://x", "/p", "not-a-batch")


CLAIMED_AT = datetime(2026, 12, 6, 10, 0, tzinfo=UTC)


def record(number: str, uuid: str, at: datetime) -> dict[str, str]:
    return {
        "to_number": number.lstrip("+"),
        "message_uuid": uuid,
        "message_time": at.strftime("%Y-%m-%d %H:%M:%S+00:00"),
    }


def test_plivo_has_a_number_when_a_message_to_it_came_after_the_claim() -> None:
    since = CLAIMED_AT - timedelta(seconds=10)
    records = [
        record(A, "new-a", CLAIMED_AT + timedelta(seconds=2)),
        record(A, "page-a", CLAIMED_AT + timedelta(seconds=1)),  # a page's, already owned
        record(B, "old-b", CLAIMED_AT - timedelta(hours=1)),  # before the claim
        record("+14155550199", "other", CLAIMED_AT),  # not in the batch
    ]
    found = match_numbers(records, numbers=[A, B], since=since, taken={"page-a"})
    assert found == {A: "new-a"}
    assert reached_back(records, 20, since)  # a short page is the last one


def test_a_full_page_newer_than_the_claim_is_not_the_end_of_the_search() -> None:
    since = CLAIMED_AT
    page = [record(C, f"u{i}", CLAIMED_AT + timedelta(seconds=5)) for i in range(20)]
    assert not reached_back(page, 20, since)
    assert match_numbers(page, numbers=[C], since=since, taken=set())[C].startswith("u")


def test_reports_move_forward_only() -> None:
    assert state_for_report("sent") is D.HANDED_OFF
    assert state_for_report(" Delivered ") is D.DELIVERED
    assert state_for_report("undelivered") is D.FAILED
    assert state_for_report("bogus") is None
    assert is_final_report("failed") and not is_final_report("queued")
    assert sources_for(D.HANDED_OFF) == {D.CLAIMED}
    assert sources_for(D.DELIVERED) == {D.CLAIMED, D.HANDED_OFF}
    assert sources_for(D.PENDING) == {D.CLAIMED}  # only a claim is ever given back
    assert D.DELIVERED not in sources_for(D.FAILED)
