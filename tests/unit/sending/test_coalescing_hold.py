"""How long a send waits while its person's bundle window is open (pure)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.worker_caches import clear_worker_caches
from worker.sending.gate import (
    CLAIM_RACE_S,
    COALESCE_MARGIN_S,
    MAX_COUNTDOWN_S,
    bundle_hold,
    coalescing_hold,
)

PERSON = "+14155550123"


def test_while_the_first_page_gathers_a_send_waits_only_until_just_after_it_leaves() -> None:
    # Window 60 s, gathering 2 s, opened 0.5 s ago: 1.5 s of gathering left.
    assert coalescing_hold(60, 2, 59.5) == pytest.approx(1.5 + COALESCE_MARGIN_S)


def test_after_the_gathering_a_send_waits_for_the_window_to_close() -> None:
    assert coalescing_hold(60, 2, 40) == 40
    assert coalescing_hold(60, 0, 59.9) == pytest.approx(59.9)


def test_a_long_window_is_waited_in_hops_of_at_most_a_broker_countdown() -> None:
    assert coalescing_hold(600, 2, 500) == MAX_COUNTDOWN_S


@pytest.fixture
def gate_on_redis(
    redis_client: object, redis_url: str, tmp_path: object, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    """The worker's gate on a real, emptied Redis, with a 60 s bundle window."""
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    monkeypatch.setenv("BUNDLE_WINDOW_S", "60")
    monkeypatch.delenv("COALESCE_WINDOW_S", raising=False)
    clear_worker_caches()
    yield
    clear_worker_caches()


def test_two_sends_racing_for_one_person_the_loser_waits_for_the_winners_claim_not_a_window(
    gate_on_redis: None,
) -> None:
    # Two held texts for one person, released by the same tick, run at once:
    # the first opens the window and goes; the second comes back just after the
    # first one's claim (which takes it along) instead of a whole window later.
    assert bundle_hold("sms", PERSON, 1) == 0.0
    second = bundle_hold("sms", PERSON, 2)
    assert 0 < second <= CLAIM_RACE_S + COALESCE_MARGIN_S
    assert bundle_hold("sms", PERSON, 1) == 0.0  # the owner coming back is not held
    assert bundle_hold("sms", "+14155550999", 3) == 0.0  # another person is not held
