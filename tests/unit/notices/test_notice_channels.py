"""The pure parts of voice, PHLO and WhatsApp notices: words, callbacks, pace.

A notice call says its words twice and hangs up, escaped for XML; a callback
counts only for the call its batch placed; a hang-up is delivered when
answered and failed with Plivo's status when not; a send keeps its PHLO and
WhatsApp words; and a chain of single requests, paced on the limiter's own
arithmetic, never puts more in a second than the limit nor keeps a lone page
waiting more than one interval.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from shared.notices.calls import (
    SPOKEN_MAX,
    call_settle_after,
    goodbye_xml,
    hangup_outcome,
    is_this_call,
    match_call,
    notice_call_xml,
)
from shared.notices.delivery_state import DeliveryState
from shared.notices.model import Notice
from shared.notices.phlo import phlo_texts, phlo_words
from shared.notices.single import next_request_in
from shared.notices.whatsapp import match_whatsapp, not_recorded, whatsapp_words
from shared.sending.gcra import Limit, plan
from shared.sending.limits import PACING_HEADROOM

US = 1_000_000
T0 = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)


def test_a_notice_call_says_its_words_twice_then_hangs_up() -> None:
    root = ET.fromstring(notice_call_xml("Upgrade <db1> & cache \x07 at 02:00"))
    assert [child.tag for child in root] == ["Speak", "Wait", "Speak", "Hangup"]
    first, again = root[0].text, root[2].text
    assert first == "Upgrade <db1> & cache at 02:00"
    assert again == f"Again: {first}"
    long = ET.fromstring(notice_call_xml("word " * 500))
    assert len(long[0].text or "") <= SPOKEN_MAX
    assert [child.tag for child in ET.fromstring(goodbye_xml())] == ["Speak", "Hangup"]


@pytest.mark.parametrize(
    ("stored", "state", "request_uuid", "call_uuid", "ours"),
    [
        ("req-1", "handed_off", "req-1", "call-1", True),  # the create-call answer's id
        ("call-1", "delivered", "", "call-1", True),  # the call's own id, after hang-up
        ("req-1", "handed_off", "req-2", "call-2", False),  # another call
        (None, "claimed", "req-9", "call-9", True),  # Plivo called back before we stored it
        (None, "pending", "req-9", "call-9", False),  # nothing was placed
        ("req-1", "handed_off", "", "", False),
    ],
)
def test_a_callback_counts_only_for_the_call_its_batch_placed(
    stored: str | None, state: str, request_uuid: str, call_uuid: str, ours: bool
) -> None:
    assert is_this_call(stored, state, request_uuid, call_uuid) is ours


def test_a_hangup_is_delivered_when_answered_and_failed_with_the_status_when_not() -> None:
    assert hangup_outcome("completed", "2026-12-06 09:00:01") == (DeliveryState.DELIVERED, None)
    assert hangup_outcome("completed", "") == (DeliveryState.DELIVERED, None)
    assert hangup_outcome("no-answer", "") == (DeliveryState.FAILED, "no-answer")
    assert hangup_outcome("Busy", "") == (DeliveryState.FAILED, "busy")
    assert hangup_outcome("", "") == (DeliveryState.FAILED, "unknown")


def test_a_call_claim_is_settled_only_once_the_call_would_be_listed() -> None:
    after = call_settle_after(timedelta(seconds=28), 30)
    assert after == timedelta(seconds=28 + 30 + 120)


def test_an_abandoned_call_is_matched_to_the_oldest_unowned_call_to_its_number() -> None:
    def call(uuid: str, to: str, seconds: int) -> dict[str, str]:
        at = T0 + timedelta(seconds=seconds)
        return {"call_uuid": uuid, "to_number": to, "initiation_time": f"{at:%Y-%m-%d %H:%M:%S}"}

    records = [
        call("newest", "16285550001", 30),
        call("page", "16285550001", 10),
        call("other", "16285550002", 5),
        call("before", "16285550001", -60),
    ]
    since = T0 - timedelta(seconds=10)
    assert match_call(records, number="+16285550001", since=since, taken={"page"}) == "newest"
    assert match_call(records, number="+16285550001", since=since, taken=set()) == "page"
    assert match_call(records, number="+16285550003", since=since, taken=set()) is None


def test_a_send_keeps_its_phlo_and_its_words() -> None:
    values = {"title": "DB upgrade", "start": "Sun 6 Dec 10:00 UTC"}
    kept = phlo_texts("4c1a9f23-7f56-4879-bb80-db856e1e7701", values, "Upgrade at 10:00")
    words = phlo_words({"voice": "Upgrade at 10:00", "phlo": kept})
    assert words is not None and words.phlo_id == "4c1a9f23-7f56-4879-bb80-db856e1e7701"
    assert words.variables == {**values, "text": "Upgrade at 10:00"}
    assert phlo_words({"voice": "x"}) is None  # voice by direct calls


def test_a_phlo_id_is_a_uuid() -> None:
    base = {
        "name": "n",
        "title": "t",
        "templates": {"voice": "v"},
        "audience": {"lists": ["l"]},
        "window": {"start": "2026-12-06 10:00", "duration": 3600, "time_zone": "UTC"},
        "reminders": ["start"],
    }
    good = Notice.model_validate({**base, "phlo_id": "4c1a9f23-7f56-4879-bb80-db856e1e7701"})
    assert good.phlo_id is not None and Notice.model_validate(base).phlo_id is None
    with pytest.raises(ValidationError, match="phlo_id"):
        Notice.model_validate({**base, "phlo_id": "my-flow"})


def test_whatsapp_words_and_reports() -> None:
    texts = {"whatsapp": {"template": "t1", "language": "en_US", "variables": ["a", "b"]}}
    words = whatsapp_words(texts)
    assert words is not None and (words.template, words.language, words.variables) == (
        "t1",
        "en_US",
        ("a", "b"),
    )
    assert whatsapp_words({"whatsapp": ["a", "b"]}) is None  # an older send's shape
    assert not_recorded({"Status": "read"}) is None
    assert not_recorded({"Status": "failed"}) is None
    assert not_recorded({"Status": "sent"}) == "progress"
    assert not_recorded({"Status": "bogus"}) == "unknown_status"


def test_an_abandoned_whatsapp_message_is_never_matched_to_an_sms() -> None:
    at = f"{T0:%Y-%m-%d %H:%M:%S}"
    records = [
        {
            "message_uuid": "sms",
            "to_number": "16285550001",
            "message_time": at,
            "message_type": "sms",
        },
        {
            "message_uuid": "wa",
            "to_number": "16285550001",
            "message_time": at,
            "message_type": "whatsapp",
        },
    ]
    found = match_whatsapp(records, numbers=["+16285550001"], since=T0, taken=())
    assert found == {"+16285550001": "wa"}


# --------------------------------------------------------------------------- the pace


def pace(per_second: float) -> Limit:
    """The account's calls pace, as shared.sending.limits builds it."""
    return Limit("account-calls", 1, 1.0 / (per_second * (1 - PACING_HEADROOM)), burst=1)


def test_the_next_request_comes_an_interval_over_the_share_later() -> None:
    assert next_request_in(0.5, 0.0) == pytest.approx(0.5 / 0.8)
    assert next_request_in(0.5, 1.0) == 0.0
    with pytest.raises(ValueError):
        next_request_in(0.5, 0.0, share=0)


@pytest.mark.parametrize("per_second", [2, 5])
def test_single_requests_keep_the_limit_and_a_page_waits_one_interval_at_most(
    per_second: float,
) -> None:
    """A notice chain acquiring one slot at a time, paced interval/share, against pages
    reserving theirs every 1.7 s: no second over the limit, no page waits more than one
    interval, and the notice gets most of what is left."""
    limit = pace(per_second)
    interval_us = int(limit.interval_s * US)
    tat: int | None = None
    sent, waits, notices = [], [], 0
    events = [(at, "page") for at in range(US // 3, 20 * US, 17 * US // 10)]
    events += [(at, "notice") for at in range(0, 20 * US, 1000)]
    next_try = 0
    for now, kind in sorted(events):
        if kind == "page":
            decided = plan([tat], [limit], [1.0], now, 1, None)
            tat = decided.new_tats_us[0]  # type: ignore[index]
            sent.append(now + decided.delay_us)
            waits.append(decided.delay_us)
        elif now >= next_try:
            decided = plan([tat], [limit], [1.0], now, 1, 0)
            if decided.booked:
                tat = decided.new_tats_us[0]  # type: ignore[index]
                sent.append(now)
                notices += 1
                next_try = now + int(next_request_in(limit.interval_s, 0.0) * US)
    sent.sort()
    assert all(b - a >= interval_us for a, b in zip(sent, sent[1:], strict=False))
    assert max(waits) <= interval_us
    pages = len(waits)
    assert notices >= 0.8 * (20 * per_second * (1 - PACING_HEADROOM) - pages)
