"""The one rule for which open code a reply names (`resolve_code`), without a database."""

from __future__ import annotations

import pytest

from shared.replies.codes import Reply, parse_reply, resolve_code


@pytest.mark.parametrize("action", ["ack", "escalate"])
def test_an_explicit_code_names_only_itself(action: str) -> None:
    reply = Reply(action, 2)  # type: ignore[arg-type]
    assert resolve_code(reply, {1, 2, 3}) == 2
    # Even with a single open code, another number is not taken as it.
    assert resolve_code(reply, {1}) is None
    assert resolve_code(reply, set()) is None


def test_a_bare_ack_names_the_single_open_code_whatever_its_number() -> None:
    assert resolve_code(Reply("ack"), {17}) == 17
    assert resolve_code(Reply("ack"), {1, 17}) is None


def test_the_codes_may_come_as_the_keys_of_a_mapping() -> None:
    """What the store passes: its active codes, each with the alerts it answers for."""
    by_code = {4: [10, 11], 9: [12]}
    assert resolve_code(Reply("ack", 4), by_code.keys()) == 4
    assert resolve_code(Reply("ack"), by_code.keys()) is None
    assert resolve_code(Reply("ack"), {9: [12]}.keys()) == 9


@pytest.mark.parametrize(
    ("text", "open_codes", "code"),
    [("4a", {4, 5}, 4), ("4A", {5}, None), ("ack", {5}, 5), ("A", {4, 5}, None)],
)
def test_what_a_person_types_names_the_code_it_should(
    text: str, open_codes: set[int], code: int | None
) -> None:
    reply = parse_reply(text)
    assert reply is not None
    assert resolve_code(reply, open_codes) == code
