"""Plivo callback signatures (V3 and the older V2).

Every request Plivo sends to us (delivery reports, voice answer/hangup URLs,
inbound SMS) carries an HMAC over the URL it called and, for V3, over the
parameters it sent. Checking it is the only thing that stops anyone who learns
a webhook URL from acknowledging pages or faking delivery reports, so the
string-to-sign must match Plivo's byte for byte: the rules below follow Plivo's
published algorithm and are pinned by its published test vectors.

The simulator signs its callbacks with the same functions, so the receiving
code is exercised exactly as Plivo would exercise it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Iterable, Mapping
from urllib.parse import parse_qsl, urlsplit, urlunsplit

V3_HEADER = "X-Plivo-Signature-V3"
V3_NONCE_HEADER = "X-Plivo-Signature-V3-Nonce"
V2_HEADER = "X-Plivo-Signature-V2"
V2_NONCE_HEADER = "X-Plivo-Signature-V2-Nonce"


def _base_url(url: str) -> str:
    """scheme://host/path: Plivo signs the query separately (V3) or not at all (V2)."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def _query_pairs(url: str) -> list[tuple[str, str]]:
    """The URL's query, decoded, blanks kept: Plivo signs the values as it sent them."""
    return parse_qsl(urlsplit(url).query, keep_blank_values=True)


def _sorted_query(pairs: Iterable[tuple[str, str]]) -> str:
    """`k=v` joined by `&`, ordered by key then value (code point order, not locale)."""
    return "&".join(f"{key}={value}" for key, value in sorted(pairs))


def _hmac_b64(auth_token: str, message: str) -> str:
    digest = hmac.new(auth_token.encode("utf-8"), message.encode("utf-8"), hashlib.sha256)
    return base64.b64encode(digest.digest()).decode("ascii")


def v3_string_to_sign(url: str, params: Mapping[str, str], method: str = "POST") -> str:
    """The exact text V3 signs, before the nonce is appended.

    POST with a body: the query keeps its own `?k=v&...` section (with the `?`
    even when the query is empty, and a `.` after a non-empty one) and the body
    parameters follow as bare `keyvalue` pairs. GET, or POST without a body: the
    body parameters (if any) are merged into the query; a key present in the
    URL's query wins, as in Plivo's own SDK, so a GET whose parameters already
    sit in the URL does not count them twice.
    """
    base = _base_url(url)
    query = _query_pairs(url)
    if method.upper() == "POST" and params:
        query_text = _sorted_query(query)
        body_text = "".join(f"{key}{params[key]}" for key in sorted(params))
        return f"{base}?{query_text}{'.' if query_text else ''}{body_text}"
    query_keys = {key for key, _ in query}
    merged = [(k, v) for k, v in params.items() if k not in query_keys] + query
    query_text = _sorted_query(merged)
    return f"{base}?{query_text}" if query_text else base


def compute_v3(
    auth_token: str,
    url: str,
    nonce: str,
    params: Mapping[str, str],
    method: str = "POST",
) -> str:
    """base64(HMAC-SHA256(auth_token, string_to_sign + "." + nonce))."""
    return _hmac_b64(auth_token, f"{v3_string_to_sign(url, params, method)}.{nonce}")


def _candidates(signature_header: str | None) -> list[str]:
    """Plivo may send several signatures (token rotation); any one may match."""
    if not signature_header:
        return []
    return [part.strip() for part in signature_header.split(",") if part.strip()]


def _any_matches(expected: str, signature_header: str | None) -> bool:
    """Constant-time comparison against every candidate, so timing reveals nothing."""
    matched = False
    for candidate in _candidates(signature_header):
        matched |= hmac.compare_digest(expected.encode("ascii"), candidate.encode("utf-8"))
    return matched


def verify_v3(
    auth_token: str,
    url: str,
    nonce: str | None,
    params: Mapping[str, str],
    signature_header: str | None,
    method: str = "POST",
) -> bool:
    """True when any signature in the (comma-separated) header matches.

    `url` must be the public URL Plivo called (behind a proxy, the configured
    public base URL), including its query string.
    """
    if not nonce or not signature_header:
        return False
    return _any_matches(compute_v3(auth_token, url, nonce, params, method), signature_header)


def compute_v2(auth_token: str, url: str, nonce: str) -> str:
    """base64(HMAC-SHA256(auth_token, scheme://host/path + nonce)); no parameters covered."""
    return _hmac_b64(auth_token, _base_url(url) + nonce)


def verify_v2(auth_token: str, url: str, nonce: str | None, signature_header: str | None) -> bool:
    """V2 check, kept for receivers that only see the older header; prefer V3."""
    if not nonce or not signature_header:
        return False
    return _any_matches(compute_v2(auth_token, url, nonce), signature_header)


def new_nonce() -> str:
    """20 random digits, the shape Plivo uses."""
    return f"{secrets.randbelow(10**20):020d}"


def sign_request_headers(
    auth_token: str,
    url: str,
    params: Mapping[str, str],
    method: str = "POST",
    nonce: str | None = None,
) -> dict[str, str]:
    """Both V3 and V2 header pairs for a request to `url` carrying `params`.

    Used by the simulator to sign the callbacks it sends and by tests to forge
    valid ones. For a GET, pass the final URL (parameters already in its query)
    or the bare URL plus `params`: both sign the same.
    """
    nonce = nonce or new_nonce()
    return {
        V3_HEADER: compute_v3(auth_token, url, nonce, params, method),
        V3_NONCE_HEADER: nonce,
        V2_HEADER: compute_v2(auth_token, url, nonce),
        V2_NONCE_HEADER: nonce,
    }
