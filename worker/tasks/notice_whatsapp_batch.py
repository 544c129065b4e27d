"""WhatsApp notices: one approved-template message per recipient, paced like SMS.

Runs a send's WhatsApp chain (worker/tasks/notice_single_chain.py) on the
account's message rate, booking the pages' own account keys, so a page's
SMS always finds its slot. Each recipient gets one `POST /Message/` with
`type: "whatsapp"` and the send's template (shared.plivo.channels), from its
pool number (which must be the WhatsApp Business Account's), its status URL
naming its batch (webhooks/notice_whatsapp.py applies the reports). A claim
abandoned mid-request is settled from Plivo's message list, WhatsApp messages
only, before anything is sent again.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from functools import partial
from typing import Any

from shared.core.db import session_scope
from shared.core.metrics import NOTICE_WHATSAPP
from shared.notices.deliveries import StaleBatch, uuids_taken
from shared.notices.provider_match import search_since
from shared.notices.whatsapp import STATUS_PATH, TEXTS_KEY, WhatsAppWords, match_whatsapp
from shared.notices.whatsapp import whatsapp_words as words_of
from shared.plivo.callback_urls import notice_callback_url
from shared.plivo.channels import WhatsAppTemplate
from shared.plivo.errors import PlivoError
from shared.sending.limits import Checks
from worker import context, task_names
from worker.celery_app import app
from worker.sending.lookup_budget import paced
from worker.sending.providers import provider_named
from worker.tasks.notice_reconcile import claim_timeout
from worker.tasks.notice_single_chain import (
    ChannelSender,
    Claimed,
    Means,
    adopt_or_release,
    run_chain,
    search,
)

log = logging.getLogger(__name__)


def _checks() -> Checks:
    """The account's message pace: the one every page SMS books (no sender number)."""
    account = context.settings().plivo_auth_id
    limits = context.send_limits()
    every = limits.sms_checks(account, "", "", count_for_person=False)
    return [(key, limit) for key, limit in every if limit == limits.account_sms]


def _releases() -> Checks:
    """The account's release log, which every page SMS counts itself in."""
    account = context.settings().plivo_auth_id
    limits = context.send_limits()
    every = limits.sms_spacing_checks(account, "")
    return [(key, limit) for key, limit in every if limit == limits.account_sms_sent]


def _send(words: WhatsAppWords, claimed: Claimed) -> str:
    url = notice_callback_url(context.settings().public_base_url, STATUS_PATH, claimed.batch_id)
    template = WhatsAppTemplate(words.template, words.language, words.variables)
    return claimed.provider.client.send_whatsapp_template(
        template, src=claimed.sender, dst=claimed.number, callback_url=url
    )


def _settle(batch: StaleBatch) -> str:
    """Plivo's message list decides an abandoned claim: adopt the message, or give it back."""
    number = batch.numbers[0]
    with session_scope(context.database_url()) as session:
        taken = uuids_taken(session, batch.numbers)
    since = search_since(batch.claimed_at)
    client = provider_named(batch.provider).client

    def match(records: list[dict[str, Any]]) -> str | None:
        return match_whatsapp(records, numbers=[number], since=since, taken=taken).get(number)

    try:
        found, complete = search(
            paced(client, client.list_messages), match, time_field="message_time", since=since
        )
    except PlivoError as exc:
        log.warning("notice WhatsApp %s cannot be settled now (%s)", batch.batch_id, exc)
        return "unsettled"
    return adopt_or_release(batch, found, complete)


def _means(texts: Mapping[str, Any]) -> Means | None:
    words = words_of(texts)
    if words is None:
        return None
    return Means(
        counter=NOTICE_WHATSAPP,
        accepted="handed_off",
        request=partial(_send, words),
        settle=_settle,
    )


SENDER = ChannelSender(
    channel=TEXTS_KEY,
    task_name=task_names.NOTICE_WHATSAPP_BATCH,
    limit=lambda: context.send_limits().account_sms,
    checks=_checks,
    releases=_releases,
    settle_after=claim_timeout,
    means=_means,
)


@app.task(name=task_names.NOTICE_WHATSAPP_BATCH)
def notice_whatsapp_batch(send_id: str, attempt: int = 0, resume_at: float | None = None) -> str:
    """One step of the send's WhatsApp chain or more, then on through the broker."""
    return run_chain(SENDER, send_id, attempt, resume_at)
