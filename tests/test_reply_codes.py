"""SMS reply codes: allocation, parsing of what people actually type, instructions."""

from __future__ import annotations

import pytest

from shared.reply_codes import (
    Reply,
    allocate_code,
    parse_reply,
    resolve_code,
    sms_instructions,
)


@pytest.mark.parametrize(
    ("open_codes", "code"),
    [(set(), 1), ({1}, 2), ({1, 2, 3}, 4), ({2, 3}, 1), ({1, 3}, 2), ({1, 2, 5}, 3)],
)
def test_allocate_smallest_free_code(open_codes: set[int], code: int) -> None:
    assert allocate_code(open_codes) == code


@pytest.mark.parametrize(
    ("text", "reply"),
    [
        ("4A", Reply("ack", 4)),
        ("4a", Reply("ack", 4)),
        (" 4 A ", Reply("ack", 4)),
        ("4\tA\n", Reply("ack", 4)),
        ("12e", Reply("escalate", 12)),
        ("7 E", Reply("escalate", 7)),
        ("04a", Reply("ack", 4)),
        ("4a.", Reply("ack", 4)),
        ("4A!", Reply("ack", 4)),
        ("a", Reply("ack")),
        ("Ack", Reply("ack")),
        (" ACK ", Reply("ack")),
    ],
)
def test_codes_and_bare_ack(text: str, reply: Reply) -> None:
    assert parse_reply(text) == reply


@pytest.mark.parametrize(
    ("text", "action"),
    [
        ("STOP", "stop"),
        ("stop", "stop"),
        (" Stop. ", "stop"),
        ("STOPALL", "stop"),
        ("unsubscribe", "stop"),
        ("CANCEL", "stop"),
        ("end", "stop"),
        ("Quit", "stop"),
        ("START", "start"),
        ("unstop", "start"),
        ("yes", "start"),
        ("HELP", "help"),
        ("info", "help"),
    ],
)
def test_carrier_keywords(text: str, action: str) -> None:
    assert parse_reply(text) == Reply(action)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "4",
        "A4",
        "4X",
        "4ack",
        "0A",
        "4 A E",
        "please stop",
        "ok",
        "e",
        "1234567A",
        "4AA",
    ],
)
def test_anything_else_is_not_a_reply(text: str) -> None:
    assert parse_reply(text) is None


def test_resolve_code_with_an_explicit_code() -> None:
    assert resolve_code(Reply("ack", 4), {1, 4}) == 4
    assert resolve_code(Reply("ack", 5), {1, 4}) is None


def test_bare_ack_means_the_only_open_alert() -> None:
    assert resolve_code(Reply("ack"), {3}) == 3
    assert resolve_code(Reply("ack"), {1, 3}) is None
    assert resolve_code(Reply("ack"), set()) is None


def test_instructions() -> None:
    assert sms_instructions(4) == "Reply 4A to acknowledge, 4E to escalate."
    with pytest.raises(ValueError):
        sms_instructions(0)


def test_instructions_round_trip_through_the_parser() -> None:
    code = allocate_code({1, 2})
    text = sms_instructions(code)
    ack, escalate = text.split()[1], text.split()[4]
    assert parse_reply(ack) == Reply("ack", code)
    assert parse_reply(escalate) == Reply("escalate", code)
