"""How long each Plivo API request took, by endpoint and result, with bounded labels.

A path carries uuids (`/Call/{uuid}/`) and a query; neither may become a label
value, or every call would be a series of its own. The endpoint is therefore
the resource, the method and whether one object is named, looked up in a fixed
table; the result is the class of what came back.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from shared.core.metrics import OTHER, PLIVO_REQUEST_TIME

# (method, resource, names one object) -> endpoint label
ENDPOINTS: dict[tuple[str, str, bool], str] = {
    ("POST", "message", False): "message",
    ("GET", "message", True): "message_get",
    ("GET", "message", False): "message_list",
    ("POST", "call", False): "call",
    ("GET", "call", True): "call_get",
    ("GET", "call", False): "call_list",
    ("DELETE", "call", True): "call_hangup",
    ("POST", "call", True): "call_transfer",
    ("DELETE", "request", True): "request_cancel",
}

OK = "ok"
CLIENT_ERROR = "client_error"
SERVER_ERROR = "server_error"
RATE_LIMITED = "rate_limited"
TIMEOUT = "timeout"
CONNECTION_ERROR = "connection_error"
UNEXPECTED_STATUS = "unexpected_status"


def endpoint_of(method: str, path: str) -> str:
    """The bounded endpoint label of a request to `path` (relative to the account)."""
    parts = [part for part in urlsplit(path).path.split("/") if part]
    if not parts:
        return OTHER
    return ENDPOINTS.get((method.upper(), parts[0].lower(), len(parts) > 1), OTHER)


def result_of(status: int, expect: tuple[int, ...]) -> str:
    """The result label of an answer with HTTP `status`, where `expect` means success."""
    if status in expect:
        return OK
    if status == 429:
        return RATE_LIMITED
    if status >= 500:
        return SERVER_ERROR
    if 400 <= status < 500:
        return CLIENT_ERROR
    return UNEXPECTED_STATUS


def observe_request(endpoint: str, result: str, seconds: float) -> None:
    PLIVO_REQUEST_TIME.labels(endpoint=endpoint, result=result).observe(seconds)
