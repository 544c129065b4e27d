"""Typed Plivo errors that say whether trying again can help.

The caller decides retry or fail on `retryable`, and decides whether a retry
is safe on `ambiguous`: a request that may have reached Plivo must be
reconciled before it is ever sent again, or a person gets paged twice.
"""

from __future__ import annotations


class PlivoError(Exception):
    """Base of every error the Plivo client raises."""

    retryable: bool = False
    ambiguous: bool = False

    def __init__(self, message: str, *, status: int | None = None, body: object = None) -> None:
        super().__init__(message)
        self.status = status
        self.body = body


class PlivoConnectionError(PlivoError):
    """The request never reached Plivo (DNS, refused, connect timeout): safe to resend."""

    retryable = True


class PlivoTimeout(PlivoError):
    """The request left but no answer came back: Plivo may have acted on it."""

    retryable = True
    ambiguous = True


class PlivoServerError(PlivoError):
    """5xx: Plivo failed. Plivo documents these as not having queued the message."""

    retryable = True


class PlivoRateLimited(PlivoError):
    """429: over the account's API request rate; slow down and retry."""

    retryable = True


class PlivoClientError(PlivoError):
    """Any other 4xx: the request itself is wrong; the same request will fail again."""


class PlivoAuthError(PlivoClientError):
    """401/403: wrong credentials or no permission for the destination."""


class PlivoNotFound(PlivoClientError):
    """404: no such message or call."""


class PlivoBadResponse(PlivoError):
    """2xx with a body that is not what Plivo documents: treat like a lost answer."""

    retryable = True
    ambiguous = True
