"""Inbound SMS: what Plivo posts to an application's message_url when someone texts in.

An on-call engineer answers a page by text ("4A", "STOP"); the simulator plays
the phone network's part and posts the webhook, signed like every callback,
with the MessageIntent Plivo derives from the carrier keywords.

The webhook goes to the simulator's configured receiver only: the request
names a `path` on it (or a full `url` on the same origin), and the answer
reports the receiver's status, never its body.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from simulator.callbacks import CallbackSender
from simulator.errors import ApiError
from simulator.formats import new_uuid, plivo_number, sms_units
from simulator.outbound import refusal

OPT_OUT = {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"}
OPT_IN = {"START", "YES", "UNSTOP"}
HELP = {"HELP", "INFO"}


def message_intent(text: str) -> str:
    """Plivo's MessageIntent: only a message that is exactly a keyword counts."""
    word = text.strip().upper()
    if word in OPT_OUT:
        return "optout"
    if word in OPT_IN:
        return "optin"
    if word in HELP:
        return "help"
    return ""


def target_url(data: Mapping[str, Any], receiver_url: str | None) -> str:
    """The URL to post to: `path` on the receiver, or a `url` on its origin; else 400."""
    path, url = data.get("path"), data.get("url")
    if (path is None) == (url is None):
        raise ApiError(400, "give either path (on the receiver) or url, not both")
    if path is not None:
        parts = urlsplit(path) if isinstance(path, str) else None
        if parts is None or parts.scheme or parts.netloc or not path.startswith("/"):
            raise ApiError(400, "path must be a path on the receiver, such as /plivo/sms/inbound")
        if receiver_url is None:
            raise ApiError(400, "path needs a configured receiver; give url instead")
        return receiver_url + path
    if not isinstance(url, str) or not url:
        raise ApiError(400, "url is required")
    refused = refusal(url, receiver_url)
    if refused:
        raise ApiError(400, f"url is {refused}")
    return url


def send_inbound_sms(
    sender: CallbackSender, data: Mapping[str, Any], receiver_url: str | None
) -> dict[str, Any]:
    """Post the inbound webhook now; report the status the receiver answered."""
    if not isinstance(data, Mapping):
        raise ApiError(400, "body must be a JSON object")
    for name in ("from", "to"):
        if not isinstance(data.get(name), str) or not data[name]:
            raise ApiError(400, f"{name} is required")
    url = target_url(data, receiver_url)
    text = data.get("text")
    if not isinstance(text, str):
        raise ApiError(400, "text is required")
    method = str(data.get("method") or "POST").upper()
    if method not in ("GET", "POST"):
        raise ApiError(400, "method must be GET or POST")
    units = sms_units(text) if text else 1
    message_uuid = new_uuid()
    params = {
        "From": plivo_number(data["from"]) or data["from"],
        "To": plivo_number(data["to"]) or data["to"],
        "Text": text,
        "Type": "sms",
        "MessageUUID": message_uuid,
        "Units": str(units),
        # Inbound SMS on a long code is free on Plivo.
        "TotalRate": "0.00000",
        "TotalAmount": "0.00000",
        "MessageIntent": message_intent(text),
    }
    result = sender.send(url, params, method, kind="sms:inbound")
    return {
        "message_uuid": message_uuid,
        "status": result.status,
        "error": result.error,
        "params": params,
    }
