"""`POST /Call/` parameters, checked and defaulted as Plivo does before it places a call.

Kept apart from the call lifecycle (simulator.voice): a request Plivo would
refuse is answered 400 here and never becomes a call.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from simulator.errors import ApiError
from simulator.formats import plivo_number

MAX_DESTINATIONS = 1000
URL_FIELDS = ("answer_url", "hangup_url", "ring_url", "machine_detection_url", "fallback_url")
METHOD_FIELDS = (
    "answer_method",
    "hangup_method",
    "ring_method",
    "machine_detection_method",
    "fallback_method",
)


def _http_url(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def _int_field(body: Mapping[str, Any], name: str, default: int, low: int, high: int) -> int:
    value = body.get(name)
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ApiError(400, f"{name} must be an integer") from None
    if isinstance(value, bool) or not low <= number <= high:
        raise ApiError(400, f"{name} must be between {low} and {high}")
    return number


def _destination(text: str) -> str | None:
    text = text.strip()
    if text.startswith("sip:"):
        return text
    return plivo_number(text)


def validate_call(body: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Checked and defaulted parameters, plus the destinations; ApiError(400) otherwise."""
    for name in ("from", "to", "answer_url"):
        if not body.get(name) or not isinstance(body.get(name), str):
            raise ApiError(400, f"Missing mandatory parameter: {name}")
    source = plivo_number(body["from"])
    if source is None:
        raise ApiError(400, "from must be a valid phone number")
    destinations: list[str] = []
    for part in body["to"].split("<"):
        if not part.strip():
            continue
        number = _destination(part)
        if number is None:
            raise ApiError(400, f"invalid destination number: {part.strip()}")
        if number not in destinations:
            destinations.append(number)
    if not destinations:
        raise ApiError(400, "Missing mandatory parameter: to")
    if len(destinations) > MAX_DESTINATIONS:
        raise ApiError(400, f"too many destination numbers: at most {MAX_DESTINATIONS}")
    params: dict[str, Any] = {"from": source}
    for name in URL_FIELDS:
        value = body.get(name)
        if value in (None, ""):
            params[name] = None
        elif not _http_url(value):
            raise ApiError(400, f"{name} must be an http or https URL")
        else:
            params[name] = value
    for name in METHOD_FIELDS:
        method = str(body.get(name) or "POST").upper()
        if method not in ("GET", "POST"):
            raise ApiError(400, f"{name} must be GET or POST")
        params[name] = method
    params["ring_timeout"] = _int_field(body, "ring_timeout", 120, 1, 300)
    params["time_limit"] = _int_field(body, "time_limit", 14400, 1, 86400)
    detection = body.get("machine_detection")
    if detection in (None, "", False, "false"):
        params["machine_detection"] = None
    elif detection is True or str(detection).lower() in ("true", "hangup"):
        params["machine_detection"] = "true" if detection is True else str(detection).lower()
    else:
        raise ApiError(400, "machine_detection must be true or hangup")
    params["machine_detection_time"] = _int_field(body, "machine_detection_time", 5000, 2000, 10000)
    caller_name = body.get("caller_name")
    if caller_name is not None and (not isinstance(caller_name, str) or len(caller_name) > 50):
        raise ApiError(400, "caller_name must be text of at most 50 characters")
    params["caller_name"] = caller_name
    return params, destinations


def validate_transfer(body: Mapping[str, Any]) -> tuple[str, str]:
    """`POST /Call/{call_uuid}/` (transfer a call in progress): the A leg's new URL and
    method; ApiError(400) otherwise. Our calls are single legs, so only `aleg` (or
    `both`, whose B leg is then nothing) can be moved."""
    legs = str(body.get("legs") or "").lower()
    if legs not in ("aleg", "bleg", "both"):
        raise ApiError(400, "legs must be aleg, bleg or both")
    if legs == "bleg":
        raise ApiError(400, "this call has no b leg")
    url = body.get("aleg_url")
    if not _http_url(url):
        raise ApiError(400, "aleg_url must be an http or https URL")
    method = str(body.get("aleg_method") or "POST").upper()
    if method not in ("GET", "POST"):
        raise ApiError(400, "aleg_method must be GET or POST")
    return str(url), method
