"""Plivo request labels stay bounded: no uuid, number or query ever becomes a label value."""

from __future__ import annotations

import pytest

from shared.plivo.request_metrics import ENDPOINTS, endpoint_of, result_of

UUID = "1c1a3ab8-7d4f-11ee-9d7c-0242ac110002"


@pytest.mark.parametrize(
    ("method", "path", "endpoint"),
    [
        ("POST", "/Message/", "message"),
        ("GET", f"/Message/{UUID}/", "message_get"),
        ("GET", "/Message/?limit=20&offset=0&message_direction=outbound", "message_list"),
        ("POST", "/Call/", "call"),
        ("GET", f"/Call/{UUID}/", "call_get"),
        ("GET", "/Call/?limit=20&offset=40", "call_list"),
        ("DELETE", f"/Call/{UUID}/", "call_hangup"),
        ("POST", f"/Call/{UUID}/", "call_transfer"),
        ("DELETE", f"/Request/{UUID}/", "request_cancel"),
        ("PUT", "/Number/+14155550100/", "other"),
        ("GET", "/", "other"),
    ],
)
def test_each_request_has_one_endpoint_label(method, path, endpoint):
    assert endpoint_of(method, path) == endpoint


def test_endpoint_labels_are_a_small_fixed_set():
    labels = {endpoint_of("GET", f"/Message/{n}/") for n in range(50)}
    assert labels == {"message_get"}
    assert len(set(ENDPOINTS.values()) | {"other"}) <= 10


@pytest.mark.parametrize(
    ("status", "expect", "result"),
    [
        (202, (202,), "ok"),
        (204, (204,), "ok"),
        (429, (202,), "rate_limited"),
        (500, (202,), "server_error"),
        (503, (200,), "server_error"),
        (400, (202,), "client_error"),
        (404, (204,), "client_error"),
        (200, (202,), "unexpected_status"),
    ],
)
def test_result_is_the_class_of_the_answer(status, expect, result):
    assert result_of(status, expect) == result
