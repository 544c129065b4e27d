"""Bearer-token authentication for ingestion endpoints."""

from __future__ import annotations

import hmac
from collections.abc import Iterable

from flask import request

from webhooks.errors import ApiError


def require_bearer_token(valid_tokens: Iterable[str]) -> None:
    """Raise 401 unless the request carries one of `valid_tokens`.

    Every token is compared, in constant time, so the response time tells an
    attacker nothing about how much of a guess was right.
    """
    header = request.headers.get("Authorization", "")
    scheme, _, presented = header.partition(" ")
    if scheme.lower() != "bearer" or not presented.strip():
        raise ApiError(401, "missing bearer token")
    presented_bytes = presented.strip().encode()
    matched = False
    for token in valid_tokens:
        matched |= hmac.compare_digest(presented_bytes, token.encode())
    if not matched:
        raise ApiError(401, "invalid token")
