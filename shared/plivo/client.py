"""The one Plivo API client: pooled, bounded in time, explicit about failures."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import requests

from shared.core.phone import mask, plivo_format
from shared.plivo.channels import (
    PHLO_ENDPOINT,
    PhloRun,
    WhatsAppTemplate,
    phlo_run,
    phlo_run_url,
    single_uuid,
    whatsapp_body,
)
from shared.plivo.errors import (
    PlivoAuthError,
    PlivoBadResponse,
    PlivoClientError,
    PlivoConnectionError,
    PlivoError,
    PlivoNotFound,
    PlivoRateLimited,
    PlivoServerError,
    PlivoTimeout,
)
from shared.plivo.http_session import plivo_session
from shared.plivo.request_metrics import (
    CONNECTION_ERROR,
    TIMEOUT,
    endpoint_of,
    observe_request,
    result_of,
)

log = logging.getLogger(__name__)

MAX_BULK_DESTINATIONS = 1000


@dataclass(frozen=True)
class SendResult:
    """What Plivo answered to a send: one uuid per valid destination."""

    api_id: str
    message_uuids: list[str]
    invalid_numbers: list[str]


@dataclass(frozen=True)
class BulkResult:
    """A bulk send's answer per destination (as given): its uuid, or refused as invalid."""

    api_id: str
    accepted: dict[str, str]
    invalid: list[str]


def bulk_answer(destinations: Sequence[str], data: dict[str, Any]) -> BulkResult:
    """Map Plivo's answer to a bulk send back onto its (unique) destinations.

    `invalid_number` holds the refused numbers as sent (without "+"); the
    uuids belong to the others, in order. Any other count means the answer
    cannot be trusted to say who got what: PlivoBadResponse, an ambiguous
    outcome the caller must reconcile, never resend.
    """
    uuids = data.get("message_uuid")
    if not isinstance(uuids, list) or not all(isinstance(u, str) for u in uuids):
        raise PlivoBadResponse("send answer has no message_uuid list", body=data)
    refused = {str(n).lstrip("+") for n in data.get("invalid_number") or []}
    invalid = [d for d in destinations if plivo_format(d) in refused]
    valid = [d for d in destinations if plivo_format(d) not in refused]
    if len(valid) != len(uuids) or len(set(uuids)) != len(uuids):
        raise PlivoBadResponse(
            f"{len(uuids)} uuid(s) for {len(valid)} valid destination(s)", body=data
        )
    return BulkResult(str(data.get("api_id", "")), dict(zip(valid, uuids, strict=True)), invalid)


@dataclass(frozen=True)
class CallResult:
    api_id: str
    request_uuid: str
    message: str


class PlivoClient:
    """Talks to `https://api.plivo.com/v1/Account/{auth_id}/...` or a simulator.

    It never retries by itself: whether a retry is safe depends on what the
    caller knows (a message that may already be queued must be reconciled
    first), so every failure is raised as a typed PlivoError instead.
    """

    def __init__(
        self,
        *,
        auth_id: str,
        auth_token: str,
        base_url: str = "https://api.plivo.com",
        connect_timeout: float = 3.05,
        read_timeout: float = 8.0,
        pool_size: int = 10,
    ) -> None:
        self.auth_id = auth_id
        self.base_url = base_url.rstrip("/")
        self._root = f"{self.base_url}/v1/Account/{auth_id}"
        self._timeout = (connect_timeout, read_timeout)
        self._session = plivo_session(self.base_url, auth_id, auth_token, pool_size)

    def close(self) -> None:
        self._session.close()

    # -- messages -----------------------------------------------------------

    def send_sms(
        self,
        *,
        src: str | None,
        dst: str | Iterable[str],
        text: str,
        callback_url: str | None = None,
        powerpack_uuid: str | None = None,
    ) -> SendResult:
        """Send one SMS, or one per destination when `dst` holds several (joined with `<`)."""
        if (src is None) == (powerpack_uuid is None):
            raise ValueError("give exactly one of src and powerpack_uuid")
        destinations = [dst] if isinstance(dst, str) else list(dict.fromkeys(dst))
        if not destinations or len(destinations) > MAX_BULK_DESTINATIONS:
            raise ValueError(f"between 1 and {MAX_BULK_DESTINATIONS} destinations per request")
        body: dict[str, Any] = {
            "dst": "<".join(plivo_format(d) for d in destinations),
            "text": text,
            "type": "sms",
        }
        if src is not None:
            body["src"] = plivo_format(src)
        else:
            body["powerpack_uuid"] = powerpack_uuid
        if callback_url:
            body["url"] = callback_url
            body["method"] = "POST"
        data = self._request("POST", "/Message/", json=body, expect=(202,))
        uuids = data.get("message_uuid")
        if not isinstance(uuids, list) or not all(isinstance(u, str) for u in uuids):
            raise PlivoBadResponse("send answer has no message_uuid list", body=data)
        log.info(
            "plivo accepted sms to %s: %s",
            ", ".join(mask(d) for d in destinations),
            ", ".join(uuids),
        )
        return SendResult(
            api_id=str(data.get("api_id", "")),
            message_uuids=uuids,
            invalid_numbers=list(data.get("invalid_number") or []),
        )

    def send_bulk_sms(
        self,
        *,
        src: str | None,
        destinations: Sequence[str],
        text: str,
        callback_url: str | None = None,
        powerpack_uuid: str | None = None,
    ) -> BulkResult:
        """One request to up to 1,000 numbers (`dst` joined with `<`), each number's uuid.

        Plivo answers one uuid per valid destination, in request order, and
        lists the numbers it refused in `invalid_number`; `bulk_answer` maps
        them back. Only counts are logged, never the numbers: a request may hold 1,000.
        """
        if (src is None) == (powerpack_uuid is None):
            raise ValueError("give exactly one of src and powerpack_uuid")
        unique = list(dict.fromkeys(destinations))
        if not unique or len(unique) > MAX_BULK_DESTINATIONS:
            raise ValueError(f"between 1 and {MAX_BULK_DESTINATIONS} destinations per request")
        body: dict[str, Any] = {
            "dst": "<".join(plivo_format(d) for d in unique),
            "text": text,
            "type": "sms",
        }
        if src is not None:
            body["src"] = plivo_format(src)
        else:
            body["powerpack_uuid"] = powerpack_uuid
        if callback_url:
            body["url"] = callback_url
            body["method"] = "POST"
        data = self._request("POST", "/Message/", json=body, expect=(202,))
        result = bulk_answer(unique, data)
        log.info(
            "plivo accepted bulk sms to %d of %d numbers (%d invalid)",
            len(result.accepted),
            len(unique),
            len(result.invalid),
        )
        return result

    def get_message(self, message_uuid: str) -> dict[str, Any]:
        return self._request("GET", f"/Message/{message_uuid}/", expect=(200,))

    def list_messages(self, *, limit: int = 20, offset: int = 0) -> list[dict[str, Any]]:
        """One page of the account's messages, newest first (Plivo pages by 20 at most)."""
        data = self._request(
            "GET",
            f"/Message/?limit={limit}&offset={offset}&message_direction=outbound",
            expect=(200,),
        )
        return list(data.get("objects") or [])

    def send_whatsapp_template(
        self, template: WhatsAppTemplate, *, src: str, dst: str, callback_url: str | None = None
    ) -> str:
        """One approved WhatsApp template message to one number (shared.plivo.channels)."""
        body = whatsapp_body(template, src=src, dst=dst, callback_url=callback_url)
        return single_uuid(self._request("POST", "/Message/", json=body, expect=(202,)))

    def run_phlo(self, phlo_id: str, payload: dict[str, str]) -> PhloRun:
        """Run a PHLO with its Start node's keys (shared.plivo.channels); the run's id."""
        url = phlo_run_url(self.base_url, self.auth_id, phlo_id)
        data = self.request_url("POST", url, PHLO_ENDPOINT, json=payload, expect=(200, 201))
        return phlo_run(phlo_id, data)

    # -- calls --------------------------------------------------------------

    def place_call(
        self,
        *,
        src: str,
        dst: str | Iterable[str],
        answer_url: str,
        hangup_url: str | None = None,
        machine_detection_url: str | None = None,
        ring_timeout: int = 30,
        time_limit: int = 300,
        caller_name: str | None = None,
    ) -> CallResult:
        destinations = [dst] if isinstance(dst, str) else list(dict.fromkeys(dst))
        body: dict[str, Any] = {
            "from": plivo_format(src),
            "to": "<".join(plivo_format(d) for d in destinations),
            "answer_url": answer_url,
            "answer_method": "POST",
            "ring_timeout": ring_timeout,
            "time_limit": time_limit,
        }
        if hangup_url:
            body["hangup_url"] = hangup_url
            body["hangup_method"] = "POST"
        if machine_detection_url:
            body["machine_detection"] = "true"
            body["machine_detection_url"] = machine_detection_url
            body["machine_detection_method"] = "POST"
        if caller_name:
            body["caller_name"] = caller_name
        data = self._request("POST", "/Call/", json=body, expect=(200, 201))
        request_uuid = data.get("request_uuid")
        if not isinstance(request_uuid, str):
            raise PlivoBadResponse("call answer has no request_uuid", body=data)
        log.info("plivo accepted call to %s: %s", mask(destinations[0]), request_uuid)
        return CallResult(
            api_id=str(data.get("api_id", "")),
            request_uuid=request_uuid,
            message=str(data.get("message", "")),
        )

    def get_call(self, call_uuid: str) -> dict[str, Any]:
        return self._request("GET", f"/Call/{call_uuid}/", expect=(200,))

    def list_calls(self, *, limit: int = 20, offset: int = 0) -> list[dict[str, Any]]:
        """One page of the account's calls, newest first."""
        data = self._request("GET", f"/Call/?limit={limit}&offset={offset}", expect=(200,))
        return list(data.get("objects") or [])

    def hang_up_call(self, call_uuid: str) -> bool:
        """Hang up an answered call (Live Call API); False when Plivo has no such live call.

        A 404 means the call is over already (or never existed): there is
        nothing left ringing, which is what the caller wanted.
        """
        return self._end(f"/Call/{quote(call_uuid, safe='')}/", call_uuid)

    def cancel_call_request(self, request_uuid: str) -> bool:
        """Cancel a call that is still queued or ringing; False when there is none any more.

        Before a call is answered Plivo knows it only by its request uuid, and
        the Call endpoint does not reach it.
        """
        return self._end(f"/Request/{quote(request_uuid, safe='')}/", request_uuid)

    def _end(self, path: str, uuid: str) -> bool:
        try:
            self._request("DELETE", path, expect=(204,))
        except PlivoNotFound:
            log.info("plivo has no live call %s: already ended", uuid)
            return False
        log.info("plivo ended call %s", uuid)
        return True

    # -- transport ----------------------------------------------------------

    def _request(
        self, method: str, path: str, *, json: dict[str, Any] | None = None, expect: tuple[int, ...]
    ) -> dict[str, Any]:
        """One request, timed by endpoint and result (shared.plivo.request_metrics)."""
        endpoint = endpoint_of(method, path)
        return self.request_url(method, self._root + path, endpoint, json=json, expect=expect)

    def request_url(
        self,
        method: str,
        url: str,
        endpoint: str,
        *,
        json: dict[str, Any] | None = None,
        expect: tuple[int, ...],
    ) -> dict[str, Any]:
        """`_request` to a whole URL (a PHLO run goes to another host), timed as `endpoint`."""
        started = time.perf_counter()
        try:
            response = self._send(method, url, json)
        except PlivoTimeout:
            observe_request(endpoint, TIMEOUT, time.perf_counter() - started)
            raise
        except PlivoConnectionError:
            observe_request(endpoint, CONNECTION_ERROR, time.perf_counter() - started)
            raise
        elapsed = time.perf_counter() - started
        observe_request(endpoint, result_of(response.status_code, expect), elapsed)
        return _decode(response, expect)

    def _send(self, method: str, url: str, json: dict[str, Any] | None) -> requests.Response:
        """The HTTP exchange; a transport failure raised as PlivoConnectionError (never
        sent) or PlivoTimeout (may have been sent)."""
        try:
            return self._session.request(method, url, json=json, timeout=self._timeout)
        except requests.ConnectTimeout as exc:
            raise PlivoConnectionError(f"connect timeout to Plivo: {exc}") from None
        except requests.Timeout as exc:
            raise PlivoTimeout(f"no answer from Plivo within {self._timeout[1]}s: {exc}") from None
        except requests.ConnectionError as exc:
            # A connection reset after the body was sent is as ambiguous as a
            # timeout; a refused connection is not. requests cannot tell them
            # apart reliably, so only a refused connect counts as "never sent".
            if _never_connected(exc):
                raise PlivoConnectionError(f"cannot reach Plivo: {exc}") from None
            raise PlivoTimeout(f"connection to Plivo lost: {exc}") from None


def _never_connected(exc: requests.ConnectionError) -> bool:
    text = repr(exc)
    return any(
        marker in text
        for marker in ("NewConnectionError", "Connection refused", "NameResolutionError")
    )


def _decode(response: requests.Response, expect: tuple[int, ...]) -> dict[str, Any]:
    status = response.status_code
    try:
        data = response.json()
    except ValueError:
        data = None
    if status in expect:
        if status == 204:
            return {}  # "No Content": success carries no body to check
        if not isinstance(data, dict):
            raise PlivoBadResponse(f"HTTP {status} with a body that is not JSON", status=status)
        return data
    reason = data.get("error") if isinstance(data, dict) else None
    message = f"Plivo answered HTTP {status}: {reason or response.reason}"
    error_class: type[PlivoError]
    if status == 429:
        error_class = PlivoRateLimited
    elif status >= 500:
        error_class = PlivoServerError
    elif status in (401, 403):
        error_class = PlivoAuthError
    elif status == 404:
        error_class = PlivoNotFound
    elif 400 <= status < 500:
        error_class = PlivoClientError
    else:
        error_class = PlivoBadResponse
    raise error_class(message, status=status, body=data)
