"""Plivo signatures: published vectors first, then the ways a forgery could slip through."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from shared.plivo.signature import (
    V2_HEADER,
    V2_NONCE_HEADER,
    V3_HEADER,
    V3_NONCE_HEADER,
    compute_v2,
    compute_v3,
    sign_request_headers,
    v3_string_to_sign,
    verify_v2,
    verify_v3,
)

VECTORS: dict[str, Any] = json.loads(
    (
        Path(__file__).resolve().parents[2] / "fixtures" / "plivo" / "signature-vectors.json"
    ).read_text()
)
V3 = VECTORS["v3"]
V3_CASES = V3["cases"]
V2_CASES = VECTORS["v2"]["cases"]


def _case_id(case: dict[str, str]) -> str:
    return f"{case['method']} {case['url'].rsplit('/', 2)[-2:]}"


@pytest.mark.parametrize("case", V3_CASES, ids=_case_id)
def test_v3_published_vectors(case: dict[str, str]) -> None:
    signature = compute_v3(V3["auth_token"], case["url"], V3["nonce"], V3["params"], case["method"])
    assert signature == case["signature"]
    assert verify_v3(
        V3["auth_token"], case["url"], V3["nonce"], V3["params"], case["signature"], case["method"]
    )


@pytest.mark.parametrize("case", V2_CASES, ids=lambda c: c["url"])
def test_v2_published_vectors(case: dict[str, str]) -> None:
    assert compute_v2(case["auth_token"], case["url"], case["nonce"]) == case["signature"]
    assert verify_v2(case["auth_token"], case["url"], case["nonce"], case["signature"])


def test_string_to_sign_rules() -> None:
    params = {"b": "2", "a": "x y"}
    # POST with params and no query: the "?" stays, no ".", values decoded.
    assert v3_string_to_sign("https://h/p", params) == "https://h/p?ax yb2"
    # POST with params and a query: sorted query, ".", then body params.
    assert v3_string_to_sign("https://h/p?z=1&c=%2B3", params) == "https://h/p?c=+3&z=1.ax yb2"
    # GET: params merged into the query, "k=v" joined by "&".
    assert v3_string_to_sign("https://h/p?z=1", params, "GET") == "https://h/p?a=x y&b=2&z=1"
    # POST without params and GET without anything: no "?" at all.
    assert v3_string_to_sign("https://h/p", {}) == "https://h/p"
    assert v3_string_to_sign("https://h/p", {}, "GET") == "https://h/p"
    # The fragment is never signed.
    assert v3_string_to_sign("https://h/p#frag", {}) == "https://h/p"


def test_keys_sorted_by_code_point_not_case_folded() -> None:
    text = v3_string_to_sign("https://h/p", {"a": "1", "B": "2", "_": "3"})
    assert text == "https://h/p?B2_3a1"


def test_get_params_already_in_url_are_not_counted_twice() -> None:
    token, nonce = "tok", "123"
    params = {"CallUUID": "c1", "Digits": "1"}
    signed = compute_v3(token, "https://h/action", nonce, params, "GET")
    url_with_params = "https://h/action?CallUUID=c1&Digits=1"
    assert verify_v3(token, url_with_params, nonce, params, signed, "GET")
    assert verify_v3(token, url_with_params, nonce, {}, signed, "GET")


def test_tampered_param_fails() -> None:
    case = V3_CASES[0]
    tampered = dict(V3["params"], CallStatus="completed")
    assert not verify_v3(
        V3["auth_token"], case["url"], V3["nonce"], tampered, case["signature"], case["method"]
    )
    extra = dict(V3["params"], Digits="1")
    assert not verify_v3(
        V3["auth_token"], case["url"], V3["nonce"], extra, case["signature"], case["method"]
    )


def test_tampered_url_or_nonce_fails() -> None:
    case = V3_CASES[0]
    other_url = case["url"].replace("a=b", "a=c")
    assert not verify_v3(
        V3["auth_token"], other_url, V3["nonce"], V3["params"], case["signature"], case["method"]
    )
    assert not verify_v3(
        V3["auth_token"], case["url"], "1" + V3["nonce"], V3["params"], case["signature"]
    )


def test_wrong_token_fails() -> None:
    case = V3_CASES[2]
    assert not verify_v3("not-the-token", case["url"], V3["nonce"], V3["params"], case["signature"])
    v2 = V2_CASES[0]
    assert not verify_v2("not-the-token", v2["url"], v2["nonce"], v2["signature"])


def test_multi_signature_header_accepts_any_match() -> None:
    case = V3_CASES[2]
    header = f"bm90LWl0, {case['signature']},b3RoZXI="
    assert verify_v3(V3["auth_token"], case["url"], V3["nonce"], V3["params"], header)
    assert not verify_v3(
        V3["auth_token"], case["url"], V3["nonce"], V3["params"], "bm90LWl0,b3RoZXI="
    )


@pytest.mark.parametrize("header", ["", None, ",", " , "])
def test_missing_or_empty_header_fails(header: str | None) -> None:
    case = V3_CASES[2]
    assert not verify_v3(V3["auth_token"], case["url"], V3["nonce"], V3["params"], header)


def test_missing_nonce_fails() -> None:
    case = V3_CASES[2]
    assert not verify_v3(V3["auth_token"], case["url"], None, V3["params"], case["signature"])
    assert not verify_v2("t", "https://answer.url", "", "sig")


def test_sign_request_headers_round_trip() -> None:
    url = "https://example.com/plivo/sms/status?tenant=a%20b"
    params = {"MessageUUID": "u1", "Status": "delivered", "To": "14155550101"}
    headers = sign_request_headers("secret", url, params)
    assert set(headers) == {V3_HEADER, V3_NONCE_HEADER, V2_HEADER, V2_NONCE_HEADER}
    assert headers[V3_NONCE_HEADER].isdigit() and len(headers[V3_NONCE_HEADER]) == 20
    assert verify_v3("secret", url, headers[V3_NONCE_HEADER], params, headers[V3_HEADER])
    assert verify_v2("secret", url, headers[V2_NONCE_HEADER], headers[V2_HEADER])
    assert not verify_v3("other", url, headers[V3_NONCE_HEADER], params, headers[V3_HEADER])


def test_sign_request_headers_with_fixed_nonce_matches_vector() -> None:
    case = V3_CASES[1]
    headers = sign_request_headers(
        V3["auth_token"], case["url"], V3["params"], method="GET", nonce=V3["nonce"]
    )
    assert headers[V3_HEADER] == case["signature"]
    assert headers[V3_NONCE_HEADER] == V3["nonce"]
