"""Route a new alert in the receiver process that stored it, while that process is idle.

Why: on a quiet system a page's way to Plivo is the receiver's commit, a trip
through the broker (publish, a worker's fetch, the task's start: about 3 ms on
a 2-core machine) and the worker's routing and send. The trip is the one part
the page does not need: the receiver has the alert in hand. Routed here, the
first page of an alert posted at 4 a second reached Plivo 13-15 ms (median)
after its POST left the client instead of 16-17 ms (160 alerts a run, two runs
each way in one hour; bench/results/performance.md, sixteenth pass).

The order inside the request: the routing runs in a thread (a greenlet under
gunicorn's gevent) and the request waits until the first page's request leaves
(worker.sending.request_leaving), or the routing ends without one, or
LEAVING_WAIT_S passes; only then does it answer the producer. Publishing the
backup first and answering meanwhile put about 2 ms of the receiver's CPU in the
middle of the routing: at 4 alerts a second, first pages took 14/22 and 14/23
ms (p50/p95) that way against 13/20 and 12/19 ms this way, the naive pager
9-10/12-14 ms in the same runs (seventeenth pass). The answer comes a few
milliseconds later, and never waits for Plivo's answer.

Why it stays safe:
- A page's request leaves only after the routing's commit, so once it left the
  alerts are routed and the database drives the rest (steps, sends and their
  hand-overs), as for an alert a worker routed: nothing is published. When the
  routing ends without a page leaving (held by maintenance, a slot further
  ahead, no route, an error) or takes longer than LEAVING_WAIT_S, the routing
  task is published as a backup, to run `BACKUP_DELAY_S` later: it reads that
  the alerts were routed (a read that takes no write lock) or routes them. If
  this process dies before either (in the few milliseconds before it answered),
  the alert is in the database unrouted and the tick hands it over
  (worker.sending.handover: UNROUTED_AFTER, 10 s). The producer got no answer:
  posted again with its `dedup_key` (Alertmanager's alerts carry one), it is
  counted on the same alert. When the broker refuses a backup, the answer says
  `queued: false` as before.
- Routing is a compare-and-set (`shared.alerts.store.claim_routings`): an
  alert is routed here or by the task, never both.
- The first page's claim names this process's liveness token
  (worker.sending.liveness), so a receiver killed in the middle of a request is
  settled by the hand-over of sends exactly as a dead worker's page is.
- One request's alerts at a time per process (at most MOST_ALERTS_HERE), and
  only when nothing else is being stored and the process was quiet for QUIET_S:
  under load the workers route, at their priorities, and the receiver's time
  stays with accepting alerts. (Without the quiet rule, 8 threads posting
  alerts one by one were accepted at 52 a second instead of 83 on SQLite.)

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

from worker import enqueue

log = logging.getLogger(__name__)

# The routing task published as the hand-over waits this long, so it does not race the
# routing here (which has normally committed within milliseconds) for the claim.
BACKUP_DELAY_S = 2.0


# The answer waits at most this long for the first page's request to leave: a routing
# slowed by a busy database does not hold it longer (the backup is published then).
LEAVING_WAIT_S = 0.25

# Routed here only when this process's previous hand-over was at least this long ago:
# under a steady stream of posts the receiver keeps its time for accepting them.
QUIET_S = 0.1
# At most this many alerts of one request are routed here (an Alertmanager group);
# a larger body would hold the receiver process for its whole routing.
MOST_ALERTS_HERE = 10


def routes_here(
    count: int, routing_here: int, storing_elsewhere: bool, since_last_s: float
) -> bool:
    """Pure: route `count` alerts of one request in this process only when it has nothing
    else in hand (no alert being routed here, no other request storing alerts) and has
    been quiet for QUIET_S, and they are few (MOST_ALERTS_HERE)."""
    return (
        count <= MOST_ALERTS_HERE
        and routing_here == 0
        and not storing_elsewhere
        and since_last_s >= QUIET_S
    )


def _route(alert_ids: list[int], leaving: Callable[[], None]) -> None:
    """The routing task's own work (worker.tasks.dispatch_alert), run in this process;
    `leaving` is called as the first page's request leaves."""
    from worker.sending.request_leaving import on_request_leaving
    from worker.tasks.dispatch_alert import dispatch_alerts

    with on_request_leaving(leaving):
        dispatch_alerts.run(alert_ids)


def _publish(alert_ids: list[int], priority: int | None, backup_after_s: float | None) -> bool:
    """The routing task of the alerts of one request, as the receiver always published it;
    `backup_after_s`: as the backup of a routing here, to run that much later."""
    return enqueue.route_alerts(alert_ids, priority, backup_after_s=backup_after_s)


class _Routing:
    """One routing here, as the request that started it waits for it: settled once its
    first page's request leaves (`page_left`) or it ends without one."""

    def __init__(self) -> None:
        self.settled = threading.Event()
        self.page_left = False

    def page_leaves(self) -> None:
        self.page_left = True
        self.settled.set()


class ArrivalRouter:
    """One per receiver process: hands new alerts over, and routes them here when idle."""

    def __init__(
        self,
        route: Callable[[list[int], Callable[[], None]], None] = _route,
        publish: Callable[[list[int], int | None, float | None], bool] = _publish,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._route = route
        self._publish = publish
        self._clock = clock
        self._last_hand_over = -math.inf
        self._guard = threading.Lock()
        self._routing = 0
        self._done = threading.Condition(self._guard)

    def hand_over(
        self, alert_ids: list[int], priority: int | None, *, storing_elsewhere: bool
    ) -> bool:
        """Hand over alerts that arrived together: route them here when this process is
        idle, else (and as a backup when routing here sent nothing in time) publish
        their routing task; whether they are in hand (routed here, or the broker took
        the task). `storing_elsewhere`: another request of this process is storing
        alerts now."""
        with self._guard:
            now = self._clock()
            since_last_s, self._last_hand_over = now - self._last_hand_over, now
            here = routes_here(len(alert_ids), self._routing, storing_elsewhere, since_last_s)
            if here:
                self._routing += 1
        if not here:
            return self._publish(alert_ids, priority, None)
        routing = _Routing()
        threading.Thread(
            target=self._run, args=(alert_ids, routing), name="route-on-arrival", daemon=True
        ).start()
        # Nothing else runs before the first page's request leaves: work done meanwhile
        # (a publish, the answer) delayed the page (worker.sending.request_leaving).
        routing.settled.wait(LEAVING_WAIT_S)
        if routing.page_left:
            # A request leaves only after the routing's commit: the alerts are routed,
            # and what happens next is the database's to drive. No backup is needed.
            return True
        return self._publish(alert_ids, priority, BACKUP_DELAY_S)

    def _run(self, alert_ids: list[int], routing: _Routing) -> None:
        try:
            self._route(alert_ids, routing.page_leaves)
        except Exception:  # the backup task routes them in BACKUP_DELAY_S
            log.exception("alerts %s: routing on arrival failed; the workers route them", alert_ids)
        finally:
            routing.settled.set()  # nothing was sent here (held, delayed, failed): back it up
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
