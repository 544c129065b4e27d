"""WhatsApp template bodies and PHLO runs as Plivo documents them, and their answers."""

from __future__ import annotations

import pytest

from shared.plivo.channels import (
    WhatsAppTemplate,
    phlo_base,
    phlo_payload,
    phlo_run,
    phlo_run_url,
    single_uuid,
    whatsapp_body,
)
from shared.plivo.errors import PlivoBadResponse


def test_a_whatsapp_body_names_the_template_and_fills_its_body_in_order() -> None:
    template = WhatsAppTemplate("maintenance_notice", "en_US", ("DB upgrade", "2 hours"))
    body = whatsapp_body(
        template, src="+14155550000", dst="+16285550101", callback_url="https://x/s"
    )
    assert body == {
        "src": "14155550000",
        "dst": "16285550101",
        "type": "whatsapp",
        "template": {
            "name": "maintenance_notice",
            "language": "en_US",
            "components": [
                {
                    "type": "body",
                    "parameters": [
                        {"type": "text", "text": "DB upgrade"},
                        {"type": "text", "text": "2 hours"},
                    ],
                }
            ],
        },
        "url": "https://x/s",
        "method": "POST",
    }
    bare = whatsapp_body(WhatsAppTemplate("hello", "en"), src="+1", dst="+2", callback_url=None)
    assert bare["template"]["components"] == [] and "url" not in bare


def test_a_send_to_one_number_has_exactly_one_uuid() -> None:
    assert single_uuid({"message_uuid": ["u1"]}) == "u1"
    for answer in ({"message_uuid": []}, {"message_uuid": ["a", "b"]}, {}):
        with pytest.raises(PlivoBadResponse):
            single_uuid(answer)


def test_phlos_run_on_plivo_s_phlo_host_or_on_the_configured_base() -> None:
    assert phlo_base("https://api.plivo.com") == "https://phlorunner.plivo.com"
    assert phlo_base("http://127.0.0.1:8010/") == "http://127.0.0.1:8010"
    assert phlo_run_url("https://api.plivo.com", "MA123", "p-1") == (
        "https://phlorunner.plivo.com/v1/account/MA123/phlo/p-1"
    )


def test_a_run_is_named_by_the_answer_s_api_id() -> None:
    run = phlo_run("p-1", {"api_id": "r-1", "phlo_id": "p-1", "message": "ok"})
    assert (run.phlo_run_id, run.phlo_id, run.message) == ("r-1", "p-1", "ok")
    with pytest.raises(PlivoBadResponse):
        phlo_run("p-1", {"message": "no id"})


def test_the_payload_carries_the_words_and_cannot_be_redirected_by_them() -> None:
    payload = phlo_payload("14155550000", "+16285550101", {"text": "hi", "to": "+1999"})
    assert payload == {"text": "hi", "from": "+14155550000", "to": "+16285550101"}
