"""How long a notice's batch chain may go quiet, and when a claim is past any request.

Pure. Two limits tell a chain that died from one still working, with the same
reasoning as a page's stuck send (worker/sending/handover.py):

* A claim is committed just before its one request, with nothing between
  them (the rate slots are booked before the claim), and the request ends
  within the client's connect and read timeouts; its answer is recorded
  right after. A claim older than that and CLAIM_MARGIN_S (`claim_timeout`)
  has no request in flight: its worker died or its answer was lost, and the
  claim is settled from Plivo's list before anything more is sent. A request
  that failed ambiguously is not settled before `reconcile_grace_s` after the
  failure, as for a page: its own status report may settle it first.
* A live chain marks its send at the start of a run when the last mark is
  older than TOUCH_EVERY. A run lasts at most RUN_FOR_S plus one step (one
  claimed request, `claim_timeout`), and the next run comes at most
  LONGEST_COUNTDOWN_S later: a longer wait (a retry's backoff, an ambiguous
  request's grace) goes through the broker in hops of at most that, each
  marking the send (`hop`). So a send unmarked for `stalled_after` has no
  chain left (its task was lost with a killed worker or the broker), and beat
  hands it over again. Handing over a live chain's send would only add a
  second chain: batches claim rows by compare-and-set, so it cannot send twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

# Batch activity is written at most this often.
TOUCH_EVERY = timedelta(seconds=5)
# A run sends batch after batch, sleeping until each next slot, for at most this
# long; then the chain goes on through the broker.
RUN_FOR_S = 0.5
MAX_IN_RUN_WAIT_S = 0.1
# The longest a chain's next run waits in the broker: longer waits go in hops.
LONGEST_COUNTDOWN_S = 5.0
# After the connect and read timeouts: the commit that records the answer.
CLAIM_MARGIN_S = 1.0
# A countdown task comes a little late, and beat looks once a second.
HANDOVER_MARGIN_S = 2.0


def claim_timeout(longest_request_s: float) -> timedelta:
    """How old a claim is before no request can still be under way for it;
    `longest_request_s` is the Plivo client's connect plus read timeout."""
    return timedelta(seconds=longest_request_s + CLAIM_MARGIN_S)


def stalled_after(claim_timeout: timedelta) -> timedelta:
    """How long a send goes unmarked before no live chain can be working on it."""
    longest_run = timedelta(seconds=RUN_FOR_S) + claim_timeout
    between_runs = timedelta(seconds=LONGEST_COUNTDOWN_S + HANDOVER_MARGIN_S)
    return TOUCH_EVERY + longest_run + between_runs


@dataclass(frozen=True, slots=True)
class Hop:
    """The next run of a chain: after `countdown_s`, and if `resume_at` (epoch seconds)
    is later than that, only to mark the send and hop again."""

    countdown_s: float
    resume_at: float | None


def hop(wait_s: float, now_s: float) -> Hop:
    """The broker hop for a wait of `wait_s` seconds from `now_s` (epoch seconds)."""
    if wait_s <= LONGEST_COUNTDOWN_S:
        return Hop(max(0.0, wait_s), None)
    return Hop(LONGEST_COUNTDOWN_S, now_s + wait_s)


def left_to_wait(resume_at: float | None, now_s: float) -> float:
    """Seconds a run still waits before doing anything; 0 when it goes on now."""
    return 0.0 if resume_at is None else max(0.0, resume_at - now_s)
