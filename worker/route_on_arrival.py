"""Route a new alert in the receiver that stores it, in the same transaction.

Why: on a quiet system a page's way to Plivo was the receiver's commit, a trip
through the broker (publish, a worker's fetch, the task's start: about 3 ms on
a 2-core machine) and the worker's own transaction: routing, planning and the
first page's claim. The receiver has the alert in hand. Here it routes the
alert, plans its first step and claims its first page in the transaction that
stores it, commits once, and sends that page; it answers the producer once the
page's request has left. Routed in the receiver, the first page of an alert
posted at 4 a second reached Plivo 13-15 ms (median) after its POST left the
client instead of 16-17 ms through the workers (sixteenth pass,
bench/results/performance.md). Routing in the storing transaction rather than
in one of its own after it measured the same within this machine's noise
(seventeenth pass: 11.1-11.4 against 11.4-11.7 ms median, 120 alerts a run); it
is kept for what it guarantees: an alert is never stored unrouted by a receiver
that dies, so none waits for the tick to be handed over.

The order inside the request: store and route (one transaction), commit, then
send the first page from a thread (a greenlet under gunicorn's gevent) while the
request waits until that page's request leaves (worker.sending.request_leaving),
or the sending ends without one, or LEAVING_WAIT_S passes; only then does it
answer. Work done meanwhile (an answer, a publish: about 2 ms of CPU) ran in the
middle of the routing and delayed the page. The answer never waits for Plivo's.

Why it stays safe:
- A 2xx still means stored. If the routing fails (logged), the storing
  transaction is rolled back with it (in a shared round of the group commit, the
  request's own savepoint), the request is stored again without routing, and its
  routing task is published for the workers. No savepoint of its own around the
  routing: its SAVEPOINT and RELEASE were two of the 21 statements before a
  first page, for a failure that is rare; the second storing costs only then.
- Routed in the transaction that stored them, the alerts are never in the
  database unrouted: nothing is handed to the workers afterwards, and the
  database drives the rest (steps, sends and their hand-overs), as for an alert
  a worker routed. A receiver killed before the commit stored nothing (the
  producer got no answer and posts again); killed after it, the claimed first
  page names this process's liveness token (worker.sending.liveness) and is
  settled by the hand-over of sends exactly as a dead worker's page is.
- A bundle window opened for the first page is released if the transaction
  does not commit (and one left by a killed process is taken over:
  worker.sending.window_takeover).
- At most MOST_ALERTS_HERE alerts of one request (a larger body goes to the
  workers). On SQLite, whose one write lock the receivers share with the
  workers, only one request at a time per process, when nothing else is being
  stored and the process was quiet for QUIET_S: under load the workers route, at
  their priorities, and the receiver's time stays with accepting alerts.
  (Without that rule, 8 threads posting alerts one by one were accepted at 52 a
  second instead of 83 on SQLite.) On PostgreSQL every such request is routed
  where it is stored: a second transaction in a worker and the trip through
  the broker cost more than the routing. At 100 alerts a second for 30 s on two
  cores, the pages reached Plivo p99 0.3 s after their POST where the workers'
  routing fell 12 s behind (28.2 against 20.9 ms of CPU per alert); 8 threads
  posting unpaced are accepted at about 110 a second instead of 224, but every
  alert is paged as it is answered, where the workers were still routing the
  backlog 20 s after the last answer (eighteenth pass,
  bench/results/performance.md).

Only the deployed receivers route on arrival (gunicorn through `webhooks.wsgi`,
and `alert-dispatch web`), where the process's settings are the workers'
(worker.context reads them from the environment); `ROUTE_ON_ARRIVAL=false`
turns it off.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from worker import enqueue

if TYPE_CHECKING:
    from worker.escalation_runner import FiredAlerts
    from worker.sending.first_page import FirstPage

log = logging.getLogger(__name__)

# The answer waits at most this long for the first page's request to leave: a send
# slowed by a busy database or Redis does not hold it longer.
LEAVING_WAIT_S = 0.25

# Routed here only when this process's previous hand-over was at least this long ago:
# under a steady stream of posts the receiver keeps its time for accepting them.
QUIET_S = 0.1
# At most this many alerts of one request are routed here (an Alertmanager group);
# a larger body would hold the receiver process for its whole routing.
MOST_ALERTS_HERE = 10


def routes_here(
    count: int,
    routing_here: int,
    storing_elsewhere: bool,
    since_last_s: float,
    *,
    one_writer: bool = True,
) -> bool:
    """Pure: route `count` alerts of one request in this process when they are few
    (MOST_ALERTS_HERE) and, on a database with one writer at a time (`one_writer`:
    SQLite), only when the process has nothing else in hand (no alert being routed
    here, no other request storing alerts) and has been quiet for QUIET_S."""
    if count > MOST_ALERTS_HERE:
        return False
    if not one_writer:
        return True
    return routing_here == 0 and not storing_elsewhere and since_last_s >= QUIET_S


class RoutingFailed(Exception):
    """Routing in the storing transaction failed (logged): that transaction must not
    commit; the request is stored again without routing, for the workers to route."""


@dataclass(frozen=True)
class RoutedHere:
    """Alerts routed in the storing transaction: what fired, and the first page claimed."""

    fired: FiredAlerts
    first: FirstPage | None

    def rolled_back(self) -> None:
        if self.first is not None:
            self.first.rolled_back()


def _route_in(session: Session, alert_ids: list[int]) -> RoutedHere:
    """The routing task's own work (worker.tasks.dispatch_alert) in the caller's
    transaction, up to the first page's claim."""
    from worker.escalation_runner import plan_and_claim_in
    from worker.tasks.dispatch_alert import routing_of

    fired, first = plan_and_claim_in(session, routing_of(alert_ids, []))
    return RoutedHere(fired, first)


def _send(routed: RoutedHere, leaving: Callable[[], None]) -> None:
    """After the commit: the first page from here, the others to the workers, as the
    routing task hands them over; `leaving` is called as the first page's request leaves."""
    from worker.escalation_runner import hand_over_all
    from worker.sending.request_leaving import on_request_leaving

    with on_request_leaving(leaving):
        hand_over_all(routed.fired, routed.first)


def _publish(alert_ids: list[int], priority: int | None) -> bool:
    """The routing task of the alerts of one request, for the workers."""
    return enqueue.route_alerts(alert_ids, priority)


class ArrivalRouter:
    """One per receiver process: routes new alerts in their storing transaction (on
    SQLite only when idle)."""

    def __init__(
        self,
        route_in: Callable[[Session, list[int]], RoutedHere] = _route_in,
        send: Callable[[RoutedHere, Callable[[], None]], None] = _send,
        publish: Callable[[list[int], int | None], bool] = _publish,
        clock: Callable[[], float] = time.monotonic,
        *,
        one_writer: bool = True,
    ) -> None:
        """`one_writer`: the database lets one transaction write at a time (SQLite)."""
        self._one_writer = one_writer
        self._route_in = route_in
        self._send = send
        self._publish = publish
        self._clock = clock
        self._last_hand_over = -math.inf
        self._guard = threading.Lock()
        self._routing = 0
        self._done = threading.Condition(self._guard)

    def reserve(self, count: int, *, storing_elsewhere: bool) -> bool:
        """Before a request stores `count` events: whether this process routes its new
        alerts itself. True must be followed by `hand_over` (or `abandon`).
        `storing_elsewhere`: another request of this process is storing alerts now."""
        with self._guard:
            now = self._clock()
            since_last_s, self._last_hand_over = now - self._last_hand_over, now
            here = routes_here(
                count, self._routing, storing_elsewhere, since_last_s, one_writer=self._one_writer
            )
            if here:
                self._routing += 1
        return here

    def route_in(self, session: Session, alert_ids: list[int]) -> RoutedHere:
        """Route the new alerts in the storing transaction. Raises RoutingFailed (logged)
        when it fails: the caller rolls that transaction back and stores the request
        again without routing (the workers route it)."""
        try:
            return self._route_in(session, alert_ids)
        except Exception as exc:
            log.exception("alerts %s: routing on arrival failed; the workers route them", alert_ids)
            raise RoutingFailed(alert_ids) from exc

    def hand_over(
        self, alert_ids: list[int], priority: int | None, routed: RoutedHere | None
    ) -> bool:
        """After the commit of a reserved request: send what was routed here, or publish
        the routing of what was not; whether the alerts are in hand (routed here, or
        the broker took their task)."""
        if routed is None:
            self._release()
            return self._publish(alert_ids, priority)
        # Set once the first page's request leaves, or the sending ends without one.
        settled = threading.Event()
        threading.Thread(
            target=self._run, args=(routed, settled), name="route-on-arrival", daemon=True
        ).start()
        settled.wait(LEAVING_WAIT_S)
        return True

    def abandon(self, routed: RoutedHere | None) -> None:
        """A reserved request stored nothing (its transaction failed) or nothing new."""
        if routed is not None:
            routed.rolled_back()
        self._release()

    def _run(self, routed: RoutedHere, settled: threading.Event) -> None:
        try:
            self._send(routed, settled.set)
        except Exception:  # routed and committed: the hand-overs of the database take it
            log.exception("routed on arrival, sending failed; the hand-over of sends takes it")
        finally:
            settled.set()
            self._release()

    def _release(self) -> None:
        with self._guard:
            self._routing -= 1
            self._done.notify_all()

    def wait(self, timeout_s: float) -> bool:
        """Wait for the routings in hand to end (a receiver process about to exit);
        whether they did within `timeout_s`."""
        deadline = time.monotonic() + timeout_s
        with self._guard:
            while self._routing:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._done.wait(left)
        return True


def warm() -> None:
    """Load what routing needs before the first alert arrives (a receiver's start): the
    worker's modules, the Plivo session, Redis and this process's liveness key. The
    first alert routed in a cold process waited 120-160 ms for them. Never stops the
    start: what could not be loaded now is loaded by the first routing."""
    try:
        import worker.celery_app  # noqa: F401 - the Celery app the routing publishes through
        import worker.tasks.dispatch_alert  # noqa: F401
        from worker import context
        from worker.sending import liveness

        context.plivo_client()
        context.limiter()
        liveness.claimer_token(context.redis_client)
    except Exception as exc:  # the first routing will meet the same and say so
        log.warning("routing on arrival: not warmed at start: %s", exc)
