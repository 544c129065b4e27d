"""Recovery: a page whose worker dies, from the death to the page reaching Plivo.

On each system in turn: the simulator holds every SMS request for 5 s and
then answers 503 (so nothing is sent by it), one alert is posted, and 2 s
later, while the worker waits on that request, the worker's whole process
group is SIGKILLed, as a crash of its machine would. The fault is cleared and
the worker started again at once, as a process supervisor would. Measured:
the time from the kill to the first SMS Plivo accepted for that alert's
number. The held request, logged by the simulator with the time it arrived,
shows that the kill came mid-send.

On alert-dispatch once more, the same death during a storm: as the worker
dies, 1,500 routings of the first priority are kept waiting in the ingest
queue (bench.routing_backlog) until the page is out. The page must not wait
for them: the send whose worker died is settled by the hand-over of sends on
the notify queue (worker.tasks.hand_over_sends).

Then, on alert-dispatch only (the naive pager has no limiter, so nothing of it
waits): a page that waits for its rate-limit slot when its worker dies. The
account is limited to one SMS every 5 s; a second alert is posted 1.5 s after
the first page went out, so its page waits 3.5 s for its slot as a countdown
the worker holds, and the worker is SIGKILLed 0.5 s later and started again.
Such a countdown is lost with its worker; the send is handed over again after
REQUEUE_LOST_AFTER_S.

Last, on alert-dispatch only (the naive pager has no escalation): an alert on
a two-step chain pages its first person, nobody answers, and while its next
step waits, 1,500 routings of the first priority are kept waiting in the
ingest queue until the second person is paged. Measured: how late the second
page is, from the first page plus the step's wait. Steps are handed over and
fired on the notify queue (worker.tasks.hand_over_steps), not behind the
routings.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import requests

from bench import stats
from bench.load import first_arrivals, simulator_sends, wait_for_pages
from bench.oncall_files import two_step_chain
from bench.perf_context import Context, System, numbers, running, warm_up
from bench.perf_report import Result, Row
from bench.routing_backlog import RoutingBacklog

NAME = "recovery"
HOLD_MS = 5000
KILL_AFTER_S = 2.0
GOAL_S = 15.0
PROJECT_PATIENCE_S = 240.0
NAIVE_PATIENCE_S = 30.0
# Routings kept waiting in the ingest queue while the worker dies, in the storm's row.
BACKLOG_DEPTH = 1500
# SMS per second in the waiting scenario: the second page waits for a slot 5 s after the first.
WAITING_LIMIT = 0.2
POST_AFTER_FIRST_S = 1.5
KILL_WAITING_AFTER_S = 0.5
# The escalation row: the first step's wait, long enough for the backlog to stand first.
STEP_WAIT_S = 8
ESCALATION_GOAL_S = 2.0


@dataclass(frozen=True)
class Recovered:
    """When the page went out after the kill (None: not within the patience), and the checks."""

    after_kill_s: float | None
    mid_send: bool
    restart_s: float
    patience_s: float
    # Routings still waiting when the page was out (the storm's row; 0 elsewhere).
    backlog_left: int = 0

    def text(self) -> str:
        if self.after_kill_s is None:
            return f"not sent within {self.patience_s:.0f} s of the kill (lost)"
        return f"{stats.duration(self.after_kill_s)} after the kill"


def killed_mid_send(system: System, number: str, kill_at: float) -> bool:
    """The request that was held when the worker died: arrived before the kill, not accepted."""
    held = [s for s in simulator_sends(system.simulator_url) if s.destination == number]
    return any(s.at < kill_at and not 200 <= s.status < 300 for s in held)


@contextmanager
def standing_backlog(system: System, depth: int) -> Iterator[RoutingBacklog | None]:
    """A routing backlog of `depth` kept standing for the block; none when 0."""
    if not depth:
        yield None
        return
    with RoutingBacklog(system.redis_url, depth) as backlog:
        yield backlog


def recover(system: System, patience_s: float, backlog_depth: int = 0) -> Recovered:
    """The page's request held at Plivo, its worker SIGKILLed, with `backlog_depth`
    routings waiting in the queue from just before the kill until the page is out."""
    [number] = numbers(1)
    fault = {"status": 503, "latency_ms": HOLD_MS, "paths": ["/Message/"]}
    requests.post(f"{system.simulator_url}/_sim/faults", json=fault, timeout=10).raise_for_status()
    post_alert(system, number)
    time.sleep(KILL_AFTER_S)
    with standing_backlog(system, backlog_depth) as backlog:
        kill_at = time.time()
        system.kill_worker()
        requests.delete(f"{system.simulator_url}/_sim/faults", timeout=10).raise_for_status()
        system.start_worker()
        restart_s = time.time() - kill_at
        sends, complete = wait_for_pages(system.simulator_url, [number], patience_s, settle_s=0.5)
        backlog_left = backlog.waiting() if backlog else 0
    arrived = first_arrivals(sends).get(number.lstrip("+"))
    time.sleep(max(0.0, kill_at + HOLD_MS / 1000 + 1 - time.time()))  # the held request is logged
    return Recovered(
        after_kill_s=arrived - kill_at if complete and arrived is not None else None,
        mid_send=killed_mid_send(system, number.lstrip("+"), kill_at),
        restart_s=restart_s,
        patience_s=patience_s,
        backlog_left=backlog_left,
    )


def post_alert(system: System, number: str | None, summary: str = "recovery") -> None:
    """A critical alert for one number, as a producer posts it; with no number, routed
    by the on-call file."""
    body: dict[str, object] = {"summary": summary, "severity": "critical", "source": "bench"}
    if number is not None:
        body["recipients"] = [number]
    requests.post(
        f"{system.web_url}/api/v1/alerts",
        json=body,
        headers={"Authorization": f"Bearer {system.api_token}"},
        timeout=10,
    ).raise_for_status()


def recover_waiting(system: System, patience_s: float) -> Recovered:
    """The second page waits for its slot, a countdown in the worker, when the worker dies.
    `mid_send` here: its page had not reached Plivo before the kill."""
    first, second = numbers(2)
    post_alert(system, first)
    _, complete = wait_for_pages(system.simulator_url, [first], 30.0, settle_s=0.0)
    if not complete:
        raise RuntimeError(f"{system.label}: the first page did not arrive")
    time.sleep(POST_AFTER_FIRST_S)
    post_alert(system, second)
    time.sleep(KILL_WAITING_AFTER_S)
    kill_at = time.time()
    system.kill_worker()
    system.start_worker()
    restart_s = time.time() - kill_at
    sends, complete = wait_for_pages(system.simulator_url, [second], patience_s, settle_s=0.5)
    arrived = first_arrivals(sends).get(second.lstrip("+"))
    return Recovered(
        after_kill_s=arrived - kill_at if complete and arrived is not None else None,
        mid_send=arrived is not None and arrived > kill_at,
        restart_s=restart_s,
        patience_s=patience_s,
    )


@dataclass(frozen=True)
class Escalated:
    """How late the next person was paged (None: not within the patience), and how many
    routings still waited then."""

    late_s: float | None
    backlog_left: int
    patience_s: float

    def text(self) -> str:
        if self.late_s is None:
            return f"not paged within {self.patience_s:.0f} s of its step's due time"
        return f"{stats.duration(max(0.0, self.late_s))} after its step was due"


def escalate_in_storm(system: System, numbers_: list[str], patience_s: float) -> Escalated:
    """The first person paged, then the second step due while the backlog stands."""
    first, second = numbers_
    post_alert(system, None, "escalation in a storm")
    sends, complete = wait_for_pages(system.simulator_url, [first], 30.0, settle_s=0.0)
    if not complete:
        raise RuntimeError(f"{system.label}: the first person was not paged")
    first_at = first_arrivals(sends)[first.lstrip("+")]
    with RoutingBacklog(system.redis_url, BACKLOG_DEPTH) as backlog:
        due_in = first_at + STEP_WAIT_S - time.time()
        sends, complete = wait_for_pages(
            system.simulator_url, [second], due_in + patience_s, settle_s=0.0
        )
        backlog_left = backlog.waiting()
    second_at = first_arrivals(sends).get(second.lstrip("+"))
    late_s = second_at - first_at - STEP_WAIT_S if complete and second_at is not None else None
    return Escalated(late_s, backlog_left, patience_s)


def _escalation(ctx: Context) -> Escalated:
    first, second = numbers(2)
    chain = two_step_chain(first, second, STEP_WAIT_S)
    with running(ctx, NAME, "project", oncall_config=chain) as system:
        warm_up(system)
        result = escalate_in_storm(system, [first, second], NAIVE_PATIENCE_S * 2)
    print(f"{NAME} {system.label}, escalation in a storm: {result}", flush=True)
    return result


def _waiting(ctx: Context) -> Recovered:
    with running(ctx, NAME, "project", raised_limit=WAITING_LIMIT) as system:
        result = recover_waiting(system, PROJECT_PATIENCE_S)
    print(f"{NAME} {system.label}, waiting for its slot: {result}", flush=True)
    return result


def _one(ctx: Context, which: str, patience_s: float, backlog_depth: int = 0) -> Recovered:
    with running(ctx, NAME, which) as system:
        warm_up(system)
        result = recover(system, patience_s, backlog_depth)
    storm = f", {backlog_depth} routings queued" if backlog_depth else ""
    print(f"{NAME} {system.label}{storm}: {result}", flush=True)
    return result


def run(ctx: Context) -> Result:
    ours = _one(ctx, "project", PROJECT_PATIENCE_S)
    naive = _one(ctx, "naive", NAIVE_PATIENCE_S)
    storm = _one(ctx, "project", PROJECT_PATIENCE_S, BACKLOG_DEPTH)
    waiting = _waiting(ctx)
    escalation = _escalation(ctx)
    notes = [
        f"{label}: the kill came mid-send: {'yes' if r.mid_send else 'NO (figure not valid)'}; "
        f"the worker answered again {r.restart_s:.1f} s after the kill"
        for label, r in (("alert-dispatch", ours), ("naive", naive))
    ]
    notes.append(
        "the naive pager's Celery acknowledges a task when it receives it (the default), "
        "so a task that dies with its worker is gone"
    )
    notes.append(
        f"alert-dispatch, in a storm: the kill came mid-send: "
        f"{'yes' if storm.mid_send else 'NO (figure not valid)'}; routings still queued "
        f"when the page was out: {storm.backlog_left:,} (0: the backlog did not stand "
        f"throughout, figure not valid)"
    )
    notes.append(
        f"alert-dispatch, waiting for its slot: the page was still waiting at the kill: "
        f"{'yes' if waiting.mid_send else 'NO (figure not valid)'}; the worker answered "
        f"again {waiting.restart_s:.1f} s after the kill"
    )
    notes.append(
        f"alert-dispatch, escalation in a storm: routings still queued when the second "
        f"person was paged: {escalation.backlog_left:,} (0: the backlog did not stand "
        f"throughout, figure not valid)"
    )
    return Result(
        name=NAME,
        database=ctx.database,
        date=ctx.date(),
        command=ctx.command,
        rows=(
            Row(
                "a page whose worker is SIGKILLed mid-send: from the kill to the page at Plivo",
                ours.text(),
                naive.text(),
                "-",
                f"<= {stats.duration(GOAL_S)}",
                None if not ours.mid_send else (ours.after_kill_s or 1e9) <= GOAL_S,
            ),
            Row(
                f"the same, while {BACKLOG_DEPTH:,} routings of the first priority wait in "
                "the queue (a storm) from the kill until the page is out",
                storm.text(),
                "-",
                "-",
                f"<= {stats.duration(GOAL_S)}",
                None
                if not storm.mid_send or not storm.backlog_left
                else (storm.after_kill_s or 1e9) <= GOAL_S,
            ),
            Row(
                "a page waiting for its rate-limit slot (a countdown in the worker) when its "
                "worker is SIGKILLed: from the kill to the page at Plivo",
                waiting.text(),
                "- (no limiter: nothing waits)",
                "-",
                f"<= {stats.duration(GOAL_S)}",
                None if not waiting.mid_send else (waiting.after_kill_s or 1e9) <= GOAL_S,
            ),
            Row(
                f"the next step of a chain, falling due while {BACKLOG_DEPTH:,} routings of "
                "the first priority wait in the queue (a storm): how late its page reaches "
                "Plivo",
                escalation.text(),
                "- (no escalation)",
                "-",
                f"<= {stats.duration(ESCALATION_GOAL_S)} late",
                None
                if not escalation.backlog_left
                else escalation.late_s is not None and escalation.late_s <= ESCALATION_GOAL_S,
            ),
        ),
        notes=tuple(notes),
    )
