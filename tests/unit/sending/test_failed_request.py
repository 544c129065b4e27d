"""What a failed send request means: pure, no Plivo, Redis or database."""

from __future__ import annotations

import random

import pytest

from shared.notifications.state import NotificationState
from shared.sending.retry import (
    MAX_DELAY_S,
    MAX_SEND_ATTEMPTS,
    FailureOutcome,
    after_failed_request,
)


def decide(*, ambiguous=False, retryable=False, attempts=1, grace=20.0, seed=7):
    return after_failed_request(
        ambiguous=ambiguous,
        retryable=retryable,
        attempts=attempts,
        reconcile_grace_s=grace,
        rng=random.Random(seed),
    )


def test_an_ambiguous_request_is_never_resent_but_reconciled_after_the_grace() -> None:
    decision = decide(ambiguous=True, retryable=True, grace=12.5)
    assert decision.outcome is FailureOutcome.AMBIGUOUS
    assert decision.state is NotificationState.UNKNOWN
    assert decision.delay_s == 12.5


def test_even_after_the_last_attempt_an_ambiguous_request_waits_for_its_callback() -> None:
    decision = decide(ambiguous=True, attempts=MAX_SEND_ATTEMPTS)
    assert decision.outcome is FailureOutcome.AMBIGUOUS


@pytest.mark.parametrize(("attempts", "ceiling"), [(1, 1.0), (2, 2.0), (4, 8.0), (9, MAX_DELAY_S)])
def test_a_retryable_error_goes_back_to_pending_after_a_jittered_backoff(
    attempts: int, ceiling: float
) -> None:
    decision = decide(retryable=True, attempts=attempts)
    assert decision.outcome is FailureOutcome.RETRY
    assert decision.state is NotificationState.PENDING
    assert ceiling / 2 <= decision.delay_s <= ceiling


def test_the_same_seed_gives_the_same_delay_and_others_spread() -> None:
    delays = {decide(retryable=True, attempts=6, seed=seed).delay_s for seed in range(20)}
    assert len(delays) > 10
    assert decide(retryable=True, attempts=6, seed=3) == decide(retryable=True, attempts=6, seed=3)


def test_retries_stop_after_the_last_attempt() -> None:
    assert decide(retryable=True, attempts=MAX_SEND_ATTEMPTS - 1).outcome is FailureOutcome.RETRY
    decision = decide(retryable=True, attempts=MAX_SEND_ATTEMPTS)
    assert decision.outcome is FailureOutcome.FAILED
    assert decision.state is NotificationState.FAILED
    assert decision.delay_s == 0.0


def test_a_permanent_error_fails_at_once() -> None:
    decision = decide(retryable=False, attempts=1)
    assert decision.outcome is FailureOutcome.FAILED
    assert decision.state is NotificationState.FAILED


def test_the_outcome_is_the_send_tasks_result_string() -> None:
    assert [o.value for o in FailureOutcome] == ["ambiguous", "retry", "failed"]
