"""A bundle window whose owner was never stored (its process died before committing)
holds nobody's page for long; one whose owner was stored still gathers the next pages.

Run in this process as a worker runs the routing task, on a real database, the
test Redis and the Plivo simulator (the fixtures of test_first_page_claim).
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from shared.core.db import session_scope
from shared.core.models import Notification
from simulator.server import RunningSimulator
from tests.integration.test_first_page_claim import (  # noqa: F401 (worker_env: a fixture)
    accepted,
    request_times,
    worker_env,
)
from tests.worker_caches import clear_worker_caches
from worker.sending.window_takeover import ORPHAN_AFTER_S, may_be_orphaned

WINDOW_S = 60


@pytest.fixture
def bundling(worker_env, monkeypatch):  # noqa: F811 (the fixture imported above)
    monkeypatch.setenv("BUNDLE_WINDOW_S", str(WINDOW_S))
    clear_worker_caches()
    return worker_env


def open_window(number: str, owner: int, age_s: float) -> None:
    """The person's SMS bundle window as a send opened it `age_s` ago."""
    from worker import context

    key = f"bundle-window:sms:{number}"
    context.redis_client().set(key, str(owner), px=int((WINDOW_S - age_s) * 1000))


def window_owner(number: str) -> str | None:
    from worker import context

    return context.redis_client().get(f"bundle-window:sms:{number}")


def test_a_window_left_by_a_send_never_stored_is_taken_over_and_the_page_goes_now(
    bundling: tuple[str, RunningSimulator],
) -> None:
    url, sim = bundling
    from worker.tasks.dispatch_alert import dispatch_alerts

    number = "+16285550141"
    open_window(number, owner=987654, age_s=ORPHAN_AFTER_S + 1)  # a killed process's
    alert_id = accepted(url, number)
    assert dispatch_alerts([alert_id]) == ["fired"]
    assert len(request_times(sim, number)) == 1
    with session_scope(url) as session:
        [notification_id] = session.scalars(
            select(Notification.id).where(Notification.alert_id == alert_id)
        )
    assert window_owner(number) in (str(notification_id), b"%d" % notification_id)


def test_a_window_of_a_stored_page_still_holds_the_next_page_for_its_bundle(
    bundling: tuple[str, RunningSimulator],
) -> None:
    url, sim = bundling
    from worker.tasks.dispatch_alert import dispatch_alerts

    number = "+16285550142"
    first = accepted(url, number)
    assert dispatch_alerts([first]) == ["fired"]
    with session_scope(url) as session:
        [owner] = session.scalars(select(Notification.id).where(Notification.alert_id == first))
    open_window(number, owner=owner, age_s=ORPHAN_AFTER_S + 1)  # the same window, older
    second = accepted(url, number)
    assert dispatch_alerts([second]) == ["fired"]
    assert len(request_times(sim, number)) == 1  # the second waits for the bundle


def test_a_window_opened_moments_ago_is_left_to_its_owner_whose_commit_may_be_coming(
    bundling: tuple[str, RunningSimulator],
) -> None:
    url, sim = bundling
    from worker.tasks.dispatch_alert import dispatch_alerts

    number = "+16285550143"
    open_window(number, owner=987655, age_s=1.0)  # a planning transaction not yet committed
    assert dispatch_alerts([accepted(url, number)]) == ["fired"]
    assert request_times(sim, number) == []
    assert window_owner(number) in ("987655", b"987655")


def test_a_young_window_is_never_judged_however_its_owner_looks():
    assert not may_be_orphaned(WINDOW_S, WINDOW_S - ORPHAN_AFTER_S / 2)
    assert may_be_orphaned(WINDOW_S, WINDOW_S - ORPHAN_AFTER_S)
