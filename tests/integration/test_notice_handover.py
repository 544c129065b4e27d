"""Beat hands over a notice send whose chain is gone, and not one whose chain waits.

Run in this process on a real database, Redis and simulator (the worker_env
of test_notice_sending). A chain waiting out a long backoff goes through the
broker in short hops that mark its send: beat leaves it alone, and nothing
is sent before its time. A send left unmarked for `stalled_after` (its task
lost with a killed worker) is handed over again.
"""

from __future__ import annotations

import time
from collections import Counter
from datetime import UTC, datetime, timedelta

from sqlalchemy import update

from shared.core.db import session_scope
from shared.core.models import NoticeSend
from shared.notices.chain_timing import TOUCH_EVERY, stalled_after
from shared.notices.store import stalled_sends
from tests.integration.test_notice_sending import (  # noqa: F401  (worker_env: a fixture)
    run_chain,
    worker_env,
)
from worker.tasks.notice_reconcile import claim_timeout


def quiet_since(url: str, send_id: str, ago: timedelta) -> None:
    with session_scope(url) as session:
        session.execute(
            update(NoticeSend)
            .where(NoticeSend.id == send_id)
            .values(updated_at=datetime.now(UTC) - ago)
        )


def handed_over(url: str) -> list[str]:
    """What beat's tick would hand over now (and mark as handed over)."""
    now = datetime.now(UTC)
    with session_scope(url) as session:
        return stalled_sends(session, now - stalled_after(claim_timeout()), now)


def test_a_chain_waiting_in_hops_keeps_its_send_and_a_lost_one_is_handed_over(
    worker_env,  # noqa: F811
) -> None:
    url, sim, start_send = worker_env
    from worker.tasks.notice_send_batch import notice_send_batch

    send_id = start_send(5)
    stalled = stalled_after(claim_timeout())
    quiet_since(url, send_id, stalled + TOUCH_EVERY)  # a long backoff began long ago
    # A hop of a wait still a minute long: the send is marked, nothing is sent.
    assert notice_send_batch(send_id, resume_at=time.time() + 60) == "waiting"
    assert sim.state.messages() == []
    assert handed_over(url) == []

    quiet_since(url, send_id, stalled + TOUCH_EVERY)  # no hop came: the chain is lost
    assert handed_over(url) == [send_id]
    assert handed_over(url) == []  # marked as handed over: once

    # The hop's time has come: the chain goes on, and every number gets the notice once.
    assert notice_send_batch(send_id, resume_at=time.time() - 1) != "waiting"
    run_chain(send_id)
    assert sorted(Counter(m.dst for m in sim.state.messages()).values()) == [1] * 5
