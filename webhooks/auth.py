"""Authentication of every ingestion endpoint: the first thing each one does.

Nothing of a request is parsed before its credential is checked, except where
the credential itself rides in the body (PagerDuty's `routing_key`). Every
endpoint uses the same check, `shared.alerts.integration_auth.token_matches`, on the
value exactly as presented: no input can become "blank" and skip it.
"""

from __future__ import annotations

from flask import current_app, request

from shared.alerts.integration_auth import credential_for, token_matches
from webhooks.errors import ApiError

BEARER = "bearer"


def bearer_token(header: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header, as sent; None without one."""
    scheme, _, presented = (header or "").partition(" ")
    if scheme.lower() != BEARER or not presented:
        return None
    return presented


def authenticate(integration: str | None = None) -> str:
    """Refuse (401) unless the request carries a token this endpoint accepts.

    `integration` is None for the alert API (API_TOKENS) or the integration's
    name. Returns the scope the request acts in: "api", or the integration's
    name when it has tokens of its own.
    """
    credential = credential_for(current_app.config["SETTINGS"], integration)
    presented = bearer_token(request.headers.get("Authorization"))
    if presented is None:
        raise ApiError(401, "missing bearer token")
    if not token_matches(presented, credential.tokens):
        raise ApiError(401, "invalid token")
    return credential.scope
