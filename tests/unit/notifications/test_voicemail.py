"""The words an answering machine records: the alert in one sentence, then the SMS code."""

from __future__ import annotations

import re

from shared.notifications.voicemail import VOICEMAIL_SUMMARY_MAX, voicemail_words
from shared.replies.codes import parse_reply, sms_instructions


def words(**overrides: object) -> str:
    args: dict[str, object] = {
        "alert_id": 427,
        "severity": "critical",
        "service": "db-main",
        "summary": "Disk full on db-main",
        "reply_code": 3,
    }
    args.update(overrides)
    return voicemail_words(**args)  # type: ignore[arg-type]


def sentences(text: str) -> list[str]:
    return [s for s in re.split(r"(?<=[.!?])\s+", text) if s]


def test_the_alert_is_one_sentence_then_how_to_acknowledge_by_text() -> None:
    said = words()
    assert said == (
        "This is an on-call page: critical alert on db-main, Disk full on db-main, "
        "alert 4 2 7. To acknowledge it, text 3 A to the number this call came from. Goodbye."
    )
    alert, how, bye = sentences(said)
    assert "4 2 7" in alert and "Disk full on db-main" in alert
    assert how.startswith("To acknowledge") and bye == "Goodbye."
    assert "press" not in said.lower()


def test_the_code_said_is_the_one_the_alert_sms_gives() -> None:
    said = words(reply_code=12)
    spoken = re.search(r"text ([\d ]+) A\b", said).group(1)  # type: ignore[union-attr]
    typed = spoken.replace(" ", "") + "A"
    assert typed in sms_instructions(12)
    reply = parse_reply(typed)
    assert reply is not None and (reply.action, reply.code) == ("ack", 12)
    assert "1 2 A" in said  # digit by digit: not heard as "twelve"


def test_a_summary_of_several_sentences_stays_one_sentence() -> None:
    said = words(summary="Disk full. Writes failing!  Check db1? now")
    alert = sentences(said)[0]
    assert alert == (
        "This is an on-call page: critical alert on db-main, "
        "Disk full, Writes failing, Check db1, now, alert 4 2 7."
    )
    assert len(sentences(said)) == 3


def test_a_long_summary_is_cut_at_a_word_and_the_instruction_survives() -> None:
    summary = "replica lag growing " * 30
    said = words(summary=summary)
    alert = sentences(said)[0]
    kept = alert.split("db-main, ", 1)[1].rsplit(", alert", 1)[0]
    assert len(kept) <= VOICEMAIL_SUMMARY_MAX and summary.startswith(kept)
    assert said.endswith("text 3 A to the number this call came from. Goodbye.")


def test_a_bundle_names_the_count_and_acknowledges_all() -> None:
    said = words(alert_count=3, service="")
    assert said.startswith(
        "This is an on-call page: 3 alerts are firing, the most severe critical alert, "
    )
    assert "To acknowledge all of them, text 3 A" in said


def test_without_a_code_it_points_to_the_text_message() -> None:
    said = words(reply_code=None)
    assert "To acknowledge it, reply to our text message." in said
    assert " A " not in said
