"""Chaos benchmark of issue 5: crashes and outages, counted where Plivo would count them.

`python -m bench.chaos [--only N] [--workdir DIR] [--seed S]` runs seven
scenarios, each on a fresh system of real OS processes (`cli.stack.Stack`:
Redis, the Plivo simulator, the receiver, two worker instances of two prefork
processes each, beat) on loopback:

1. SIGKILL a worker instance (its whole process group) at random moments while
   500 notifications go out, restarting it each time.
2. Kill Redis in the middle of a run and start an empty one on the same socket.
3. Plivo answers 503 to everything for 30 s.
4. 30 % of Plivo requests fail with 500.
5. 30 % of Plivo requests time out after Plivo acted on them.
6. The primary Plivo account answers 503 for 30 s while a backup account exists.
7. SIGKILL the receiver the moment it answered a post, while it routes that
   alert itself (routing on arrival), and start it again.

Every alert pages its own number with one SMS, so the simulators' message logs
answer the two questions that matter for a pager exactly: a number never
messaged is a page lost, a number messaged twice is a page sent twice. The
database is checked too: every notification must end accepted by Plivo
(queued, sent or delivered), none failed, none stuck.

A run waits until the database is quiet (no notification pending, sending or
of unknown outcome, every alert routed) and then listens a few seconds more,
so a late resend is still counted. Recovery that depends on the tick's timers
(a page lost with the broker or a dead worker is re-enqueued after
REQUEUE_LOST_AFTER_S, 10 s; an unknown send is asked about again after 60 s)
takes that long: those times are reported, not hidden. Results go to
`bench/results/chaos.md`; the exit status is 0 only when every scenario run
passed.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import re
import shlex
import signal
import sys
import threading
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests
from sqlalchemy.exc import SQLAlchemyError

from bench import databases
from bench.common import (
    RESULTS_DIR,
    AlertPoster,
    AlertRefused,
    bench_directory,
    destinations,
    digits,
    get_json,
    machine,
    source_state,
)
from bench.load import silence_reports
from cli.stack import Stack, StackConfig
from shared.sending.retry import MAX_SEND_ATTEMPTS

RESULTS_FILE = RESULTS_DIR / "chaos.md"

WORKERS = 2
WORKER_CONCURRENCY = 2
# Account and sender pacing for the runs: fast enough that a scenario takes
# seconds, under the simulator's 300 API requests per 5 s so no 429 blurs the
# count (retries and reconcile look-ups share that budget).
SMS_RATE = 50.0
# How often the database and the simulators are looked at while waiting.
POLL_S = 1.0
# After the database is quiet, how long to keep listening for a late duplicate.
SETTLE_S = 5.0
# Long enough for every timer of the recovery design (10 s re-enqueue, 60 s
# reconcile of an unknown send, 30 s reconcile retry) to fire more than once.
DEFAULT_PATIENCE_S = 300.0
# Quiet but pages still missing for this long: they will not come; stop waiting.
GIVE_UP_QUIET_S = 15.0
# States of a notification that Plivo accepted; anything else at the end is a failure.
ACCEPTED_STATES = frozenset({"queued", "sent", "delivered"})
# States a notification may still leave on its own: the run is not over while any remain.
OPEN_STATES = frozenset({"pending", "sending", "unknown"})


# -- counting at the simulators ---------------------------------------------------


@dataclass(frozen=True)
class Message:
    """One message a simulated Plivo account accepted (one destination of a send)."""

    destination: str  # digits, no "+"
    at: float  # epoch seconds, when the simulator created it
    account: str  # "primary" | "backup"


def simulator_messages(url: str, account: str) -> list[Message]:
    """Every message a simulator holds, oldest first."""
    return sorted(
        (
            Message(digits(str(m.get("dst", ""))), float(m["created"]), account)
            for m in get_json(f"{url}/_sim/messages", timeout=30)
        ),
        key=lambda m: m.at,
    )


@dataclass(frozen=True)
class Tally:
    """Lost and duplicated pages: the figures issue 5 asks for."""

    expected: int
    messaged: int  # expected numbers that got at least one message
    lost: tuple[str, ...]  # expected numbers never messaged
    duplicated: tuple[tuple[str, int], ...]  # (number, messages) for those messaged more than once
    unexpected: int  # messages to numbers nobody paged

    @property
    def duplicates(self) -> int:
        """Messages beyond the first to a number: each one is a person paged again."""
        return sum(n - 1 for _, n in self.duplicated)


def tally(expected: Iterable[str], messages: Iterable[Message]) -> Tally:
    """Compare the numbers paged with the messages received, over every account."""
    wanted = {digits(n) for n in expected}
    per_number = Counter(m.destination for m in messages)
    return Tally(
        expected=len(wanted),
        messaged=len(wanted & set(per_number)),
        lost=tuple(sorted(wanted - set(per_number))),
        duplicated=tuple(sorted((n, c) for n, c in per_number.items() if c > 1 and n in wanted)),
        unexpected=sum(c for n, c in per_number.items() if n not in wanted),
    )


def first_messages(messages: Iterable[Message]) -> dict[str, Message]:
    """Each number's first message: when that page actually went out, and through which account."""
    first: dict[str, Message] = {}
    for m in sorted(messages, key=lambda m: m.at):
        first.setdefault(m.destination, m)
    return first


# -- the database's view ------------------------------------------------------------


@dataclass(frozen=True)
class UnknownSpell:
    """One time a send's outcome was unknown, and how that was settled."""

    notification_id: int
    destination: str  # digits, no "+"
    began: float  # epoch seconds
    cause: str  # "timeout" (the request went unanswered) | "worker lost" (its claimer died)
    settled_by: str  # "callback" | "reconcile: found" | "reconcile: resent" | "open"
    ended: float | None

    @property
    def lasted_s(self) -> float | None:
        return None if self.ended is None else self.ended - self.began


@dataclass(frozen=True)
class DbView:
    """Where every alert and notification of a run stands, from the event log too."""

    alerts: int
    unrouted: int  # alerts not yet dispatched to their policy
    notifications: int
    states: Counter[str]
    max_attempts: int
    unknowns: tuple[UnknownSpell, ...]
    failure_reasons: Counter[str]
    still_open: tuple[tuple[int, str, int], ...]  # (id, state, send attempts) not yet settled

    def quiet(self, expected_alerts: int) -> bool:
        """Every alert routed and planned, and no notification that may still move by itself."""
        return (
            self.alerts >= expected_alerts
            and self.unrouted == 0
            and self.notifications >= self.alerts
            and not any(self.states[s] for s in OPEN_STATES)
        )

    @property
    def not_accepted(self) -> int:
        return sum(n for state, n in self.states.items() if state not in ACCEPTED_STATES)

    def states_text(self) -> str:
        return ", ".join(f"{state} {n}" for state, n in sorted(self.states.items())) or "none"

    def settled_by(self, spells: Iterable[UnknownSpell] | None = None) -> str:
        """ "callback 40, reconcile: found 18": how unknown sends were settled."""
        counts = Counter(s.settled_by for s in (self.unknowns if spells is None else spells))
        return ", ".join(f"{how} {n}" for how, n in counts.most_common()) or "none"


# Reasons `worker/tasks/reconcile.py` and `worker/tasks/hand_over_sends.py` record.
RECONCILED_FOUND = "reconciled: Plivo has it"
RECONCILED_RESEND = "reconciled: never reached Plivo"
WORKER_LOST = "worker lost during the request"


def epoch(at: datetime) -> float:
    """A database time as epoch seconds; stored times are UTC, naive on SQLite."""
    return (at if at.tzinfo else at.replace(tzinfo=UTC)).timestamp()


def unknown_spells(
    events: Iterable[tuple[int, str, datetime, Mapping[str, Any] | None]],
    destinations_by_id: Mapping[int, str],
) -> list[UnknownSpell]:
    """Each unknown spell from the notification event log (oldest event first)."""
    open_spells: dict[int, tuple[float, str]] = {}
    spells: list[UnknownSpell] = []
    for notification_id, kind, at, detail in events:
        reason = str((detail or {}).get("reason", ""))
        if kind == "notification.unknown":
            cause = "worker lost" if reason == WORKER_LOST else "timeout"
            open_spells[notification_id] = (epoch(at), cause)
        elif notification_id in open_spells:
            began, cause = open_spells.pop(notification_id)
            how = {RECONCILED_FOUND: "reconcile: found", RECONCILED_RESEND: "reconcile: resent"}
            spells.append(
                UnknownSpell(
                    notification_id,
                    digits(destinations_by_id.get(notification_id, "")),
                    began,
                    cause,
                    how.get(reason, "callback"),
                    epoch(at),
                )
            )
    for notification_id, (began, cause) in open_spells.items():
        spells.append(
            UnknownSpell(
                notification_id,
                digits(destinations_by_id.get(notification_id, "")),
                began,
                cause,
                "open",
                None,
            )
        )
    return spells


def db_view(database_url: str) -> DbView:
    """Read the run's alerts, notifications and notification events."""
    from sqlalchemy import func, select

    from shared.core.db import session_scope
    from shared.core.models import Alert, Event, Notification

    with session_scope(database_url) as session:
        alerts = session.scalar(select(func.count(Alert.id))) or 0
        unrouted = (
            session.scalar(select(func.count(Alert.id)).where(Alert.dispatched_at.is_(None))) or 0
        )
        rows = session.execute(
            select(
                Notification.id,
                Notification.state,
                Notification.send_attempts,
                Notification.destination,
            )
        ).all()
        events = session.execute(
            select(Event.notification_id, Event.kind, Event.at, Event.detail)
            .where(Event.kind.like("notification.%"))
            .order_by(Event.id)
        ).all()
    failures: Counter[str] = Counter()
    for _, kind, _, detail in events:
        if kind == "notification.failed":
            failures[
                f"{(detail or {}).get('reason', '')} ({(detail or {}).get('error', '?')})"
            ] += 1
    return DbView(
        alerts=alerts,
        unrouted=unrouted,
        notifications=len(rows),
        states=Counter(row.state for row in rows),
        max_attempts=max((row.send_attempts or 0 for row in rows), default=0),
        unknowns=tuple(
            unknown_spells([tuple(e) for e in events], {row.id: row.destination for row in rows})
        ),
        failure_reasons=failures,
        still_open=tuple(
            (row.id, row.state, row.send_attempts or 0) for row in rows if row.state in OPEN_STATES
        ),
    )


# -- running one scenario ----------------------------------------------------------


@dataclass
class Outcome:
    """One scenario's figures and verdict, as the results file shows them."""

    number: int
    title: str
    notifications: int
    tally: Tally | None = None
    db: DbView | None = None
    recovery: str = "-"
    notes: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    completed: bool = False
    error: str | None = None

    @property
    def passed(self) -> bool:
        return (
            self.error is None
            and self.completed
            and not self.problems
            and self.tally is not None
            and self.tally.lost == ()
            and self.tally.duplicates == 0
            and self.db is not None
            and self.db.not_accepted == 0
        )

    def judge(self) -> None:
        """Name each broken promise in words, so a FAIL says what failed."""
        if self.tally is not None:
            if self.tally.lost:
                shown = ", ".join(f"+{n}" for n in self.tally.lost[:5])
                more = " ..." if len(self.tally.lost) > 5 else ""
                self.problems.append(f"{len(self.tally.lost)} pages lost ({shown}{more})")
            if self.tally.duplicates:
                shown = ", ".join(f"+{n} x{c}" for n, c in self.tally.duplicated[:5])
                self.problems.append(f"{self.tally.duplicates} pages sent twice ({shown})")
        if self.db is not None and self.db.not_accepted:
            self.problems.append(f"notifications not accepted by Plivo: {self.db.states_text()}")
            for reason, n in self.db.failure_reasons.most_common(3):
                self.problems.append(f"{n} failed: {reason}")
        if not self.completed and self.error is None:
            self.problems.append("did not settle before the deadline")


@dataclass(frozen=True)
class Settled:
    """The end of a run: what the simulators and the database hold, and whether it finished."""

    messages: list[Message]
    db: DbView
    completed: bool
    # Sends put back to wait for a rate-limit slot, by the limit that held them
    # (`alert_dispatch_sends_delayed_total`): names what held a page that is late.
    delayed_by: dict[str, float]


class Run:
    """One scenario's stack, with the helpers every scenario uses to drive and read it."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack

    @property
    def simulators(self) -> list[tuple[str, str]]:
        urls = [("primary", self.stack.simulator_url)]
        if self.stack.config.backup_simulator:
            urls.append(("backup", self.stack.backup_simulator_url))
        return urls

    def messages(self) -> list[Message]:
        return sorted(
            (m for account, url in self.simulators for m in simulator_messages(url, account)),
            key=lambda m: m.at,
        )

    def api_requests(self, url: str | None = None) -> list[dict[str, Any]]:
        return get_json(f"{url or self.stack.simulator_url}/_sim/requests", timeout=30)

    def fault(self, url: str | None = None, **spec: Any) -> float:
        """Start a simulator fault; returns when it started (epoch seconds)."""
        response = requests.post(
            f"{url or self.stack.simulator_url}/_sim/faults", json=spec, timeout=5
        )
        response.raise_for_status()
        return time.time()

    def clear_fault(self, url: str | None = None) -> None:
        requests.delete(f"{url or self.stack.simulator_url}/_sim/faults", timeout=5)

    def post_all(
        self, numbers: Sequence[str], label: str, *, every_s: float = 0.0
    ) -> list[tuple[str, float, str]]:
        """Post one alert per number (at most one per `every_s`); (number, time, outcome) each.

        A refusal or a timeout is recorded, not raised: whether the alert was
        stored anyway is for the count at the end to tell.
        """
        results: list[tuple[str, float, str]] = []
        start = time.monotonic()
        with AlertPoster(self.stack.web_url, self.stack.config.api_token) as poster:
            for index, number in enumerate(numbers):
                if every_s:
                    delay = start + index * every_s - time.monotonic()
                    if delay > 0:
                        time.sleep(delay)
                at = time.time()
                try:
                    posted = poster.post(number, f"chaos benchmark {label} {index}")
                    outcome = "queued" if posted.queued else "stored"
                except AlertRefused as exc:
                    outcome = f"refused {exc.status}"
                except requests.RequestException as exc:
                    outcome = f"error {type(exc).__name__}"
                results.append((number, at, outcome))
        return results

    def wait_for_first(self, numbers: Sequence[str], timeout_s: float) -> float | None:
        """When the first message to any of `numbers` arrived; None if none within the time."""
        wanted = {digits(n) for n in numbers}
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with contextlib.suppress(requests.RequestException):
                hits = [m.at for m in self.messages() if m.destination in wanted]
                if hits:
                    return min(hits)
            time.sleep(0.2)
        return None

    def metric(self, name: str) -> dict[str, float]:
        """A counter from the receiver's /metrics (every process's samples summed), keyed
        by its label values ("" when it has none)."""
        text = requests.get(f"{self.stack.web_url}/metrics", timeout=10).text
        values: dict[str, float] = {}
        for line in text.splitlines():
            match = re.match(rf"^{re.escape(name)}(\{{[^}}]*\}})?\s+(\S+)$", line)
            if match:
                labels = ",".join(re.findall(r'="([^"]*)"', match.group(1) or ""))
                values[labels] = values.get(labels, 0.0) + float(match.group(2))
        return values

    def wait_until_settled(self, expected: Sequence[str], timeout_s: float) -> Settled:
        """Until the database is quiet and every page went out (or quiet long enough
        that the missing ones will not), then `SETTLE_S` more for late duplicates."""
        deadline = time.monotonic() + timeout_s
        quiet_since: float | None = None
        completed = False
        while time.monotonic() < deadline:
            try:
                view = db_view(self.stack.database_url)
                lost = view.quiet(len(expected)) and tally(expected, self.messages()).lost
            except (requests.RequestException, SQLAlchemyError) as exc:
                print(f"  (reading the run failed, trying again: {exc})", flush=True)
                time.sleep(POLL_S)
                continue
            if view.quiet(len(expected)):
                if not lost:
                    completed = True
                    break
                quiet_since = quiet_since or time.monotonic()
                if time.monotonic() - quiet_since >= GIVE_UP_QUIET_S:
                    completed = True  # settled, with pages missing: the count shows them
                    break
            else:
                quiet_since = None
            time.sleep(POLL_S)
        time.sleep(SETTLE_S)
        return Settled(
            self.messages(),
            db_view(self.stack.database_url),
            completed,
            self.metric("alert_dispatch_sends_delayed_total"),
        )


@dataclass(frozen=True)
class Context:
    """What a scenario is given: its own directory, its randomness, and how long to wait."""

    directory: Path
    rng: random.Random
    # How long a run may take to settle once its faults are over; a page that
    # takes longer is reported lost at the deadline, with what held it.
    patience_s: float


def chaos_config(data_dir: Path, **overrides: Any) -> StackConfig:
    """The stack every scenario starts from: 2 x 2 workers, beat, no bundling, fast pacing.

    Beat runs because the tick is part of the recovery design (lost broker
    messages, stuck sends). Bundling is off so each alert is one message.
    """
    extra_env = {
        "BUNDLE_WINDOW_S": "0",
        "SMS_PER_SECOND": f"{SMS_RATE:g}",
        "SENDER_SMS_PER_SECOND": f"{SMS_RATE:g}",
        **overrides.pop("extra_env", {}),
    }
    return StackConfig(
        data_dir=data_dir,
        workers=WORKERS,
        worker_concurrency=WORKER_CONCURRENCY,
        with_beat=True,
        extra_env=extra_env,
        **overrides,
    )


def save_run(directory: Path, settled: Settled, posts: Sequence[tuple[str, float, str]]) -> None:
    """Keep what the simulators received and what the receiver answered, for study."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "messages.json").write_text(
        json.dumps([vars(m) for m in settled.messages], indent=0)
    )
    (directory / "posts.json").write_text(json.dumps(posts, indent=0))


def supervisor_restarts(logs_dir: Path) -> int:
    """Times a worker's supervisor started Celery again after it died on its own
    (`cli/supervise.py`): a worker that gave up on the broker instead of reconnecting."""
    return sum(
        log.read_text(errors="replace").count("starting it again")
        for log in logs_dir.glob("worker*.log")
    )


def fmt_s(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds:.1f} s"


def outcome_counts(posts: Iterable[tuple[str, float, str]]) -> str:
    counts = Counter(outcome for _, _, outcome in posts)
    return ", ".join(f"{n} {outcome}" for outcome, n in counts.most_common())


def finish(outcome: Outcome, settled: Settled, expected: Sequence[str]) -> None:
    """Count, and say what still held any page that had not gone out when waiting ended."""
    outcome.tally = tally(expected, settled.messages)
    outcome.db = settled.db
    outcome.completed = settled.completed
    delays = ", ".join(
        f"{limit} {n:g}" for limit, n in sorted(settled.delayed_by.items(), key=lambda i: -i[1])
    )
    outcome.notes.append(f"sends delayed for a rate-limit slot, by limit: {delays or 'none'}")
    if settled.db.still_open:
        shown = "; ".join(
            f"#{nid} {state} after {attempts} attempts"
            for nid, state, attempts in settled.db.still_open[:5]
        )
        more = " ..." if len(settled.db.still_open) > 5 else ""
        outcome.problems.append(
            f"{len(settled.db.still_open)} notifications not settled when waiting ended "
            f"({shown}{more})"
        )


# -- 1. worker crashes -----------------------------------------------------------------

KILL_COUNT = 5
KILL_EVERY_S = (2.0, 5.0)
# Slower pacing than the other scenarios so the 500 pages are still going out
# while the kills happen (500 at 20/s: 25 s).
KILLS_SMS_RATE = 20.0


def scenario_worker_kills(ctx: Context) -> Outcome:
    """SIGKILL a worker instance and its pool at random moments; restart it each time.

    A killed worker loses what it held: the tasks it was running (their rows
    may be "sending", a request in flight), the ones it had prefetched and the
    countdowns it was keeping. The database and the tick must bring each back
    exactly once.
    """
    numbers = destinations(500)
    outcome = Outcome(1, "SIGKILL a worker at random moments", len(numbers))
    config = chaos_config(
        ctx.directory,
        extra_env={
            "SMS_PER_SECOND": f"{KILLS_SMS_RATE:g}",
            "SENDER_SMS_PER_SECOND": f"{KILLS_SMS_RATE:g}",
        },
    )
    stack = Stack(config)
    run = Run(stack)
    posts: list[tuple[str, float, str]] = []
    try:
        stack.start()
        stack.wait_for_workers()
        poster = threading.Thread(
            target=lambda: posts.extend(run.post_all(numbers, "kill")), daemon=True
        )
        started = time.time()
        poster.start()
        kills: list[tuple[float, str]] = []
        for _ in range(KILL_COUNT):
            time.sleep(ctx.rng.uniform(*KILL_EVERY_S))
            name = ctx.rng.choice([f"worker{i + 1}" for i in range(WORKERS)])
            stack.kill(name, signal.SIGKILL)
            kills.append((time.time(), name))
            stack.start_worker(name)
        poster.join(timeout=120)
        settled = run.wait_until_settled(numbers, timeout_s=ctx.patience_s)
    finally:
        stack.stop()
    save_run(ctx.directory / "result", settled, posts)
    finish(outcome, settled, numbers)
    firsts = first_messages(settled.messages)
    last_out = max((m.at for m in firsts.values()), default=None)
    last_kill = kills[-1][0]
    outcome.recovery = (
        f"last page out {fmt_s(last_out - last_kill)} after the last kill"
        if last_out is not None
        else "nothing sent"
    )
    db = settled.db
    lost_mid_request = [s for s in db.unknowns if s.cause == "worker lost"]
    outcome.notes += [
        f"{KILL_COUNT} kills at "
        + ", ".join(f"{at - started:.1f} s ({name})" for at, name in kills)
        + f" after the first alert was posted; {KILLS_SMS_RATE:g} SMS/s",
        f"posts: {outcome_counts(posts)}",
        f"first page {fmt_s(min(m.at for m in firsts.values()) - started) if firsts else '-'}, "
        f"last {fmt_s(last_out - started) if last_out else '-'} after the first post",
        f"sends cut off mid-request (stuck in sending, made unknown by the hand-over of sends): "
        f"{len(lost_mid_request)}, settled by {db.settled_by(lost_mid_request)}",
        f"Celery restarted by a worker's supervisor after dying on its own: "
        f"{supervisor_restarts(stack.logs_dir)}",
        f"database: {db.states_text()}",
    ]
    return outcome


# -- 2. Redis restart ------------------------------------------------------------------

REDIS_BACKLOG = 200  # posted before the kill, faster than they go out: a backlog in Redis
REDIS_DURING = 50  # posted while Redis is down
REDIS_AFTER = 50  # posted once the new Redis answers
REDIS_DOWN_S = 10.0
REDIS_SMS_RATE = 20.0
# Longer than the tick's 10 s for an unrouted alert, so a page that only the
# tick brings is still told apart from none at all.
REDIS_RECONNECT_WAIT_S = 120.0


def scenario_redis_restart(ctx: Context) -> Outcome:
    """Kill Redis (SIGKILL) with a backlog in it and start an empty one on the same socket.

    The embedded server keeps nothing on disk, so everything queued is gone:
    only the database and the tick can bring those pages back. Workers and
    beat are not restarted; they must find the new server by themselves.
    """
    from shared.core.embedded_redis import ensure_embedded_redis

    numbers = destinations(REDIS_BACKLOG + REDIS_DURING + REDIS_AFTER)
    before = numbers[:REDIS_BACKLOG]
    during = numbers[REDIS_BACKLOG : REDIS_BACKLOG + REDIS_DURING]
    after = numbers[REDIS_BACKLOG + REDIS_DURING :]
    outcome = Outcome(2, "Redis killed and restarted empty mid-run", len(numbers))
    redis_dir = ctx.directory / "redis"
    server = ensure_embedded_redis(redis_dir)
    config = chaos_config(
        ctx.directory / "stack",
        redis_url=server.url,
        extra_env={
            "SMS_PER_SECOND": f"{REDIS_SMS_RATE:g}",
            "SENDER_SMS_PER_SECOND": f"{REDIS_SMS_RATE:g}",
        },
    )
    stack = Stack(config)
    run = Run(stack)
    posts: list[tuple[str, float, str]] = []
    try:
        stack.start()
        stack.wait_for_workers()
        started = time.time()
        posts += run.post_all(before, "before")
        time.sleep(2.0)
        sent_before_kill = len(run.messages())
        if server.process is None:
            raise RuntimeError(f"a Redis not started here answers in {redis_dir}")
        server.process.kill()
        server.process.wait(timeout=10)
        killed_at = time.time()
        posts += run.post_all(during, "during", every_s=REDIS_DOWN_S / (2 * REDIS_DURING))
        time.sleep(max(0.0, killed_at + REDIS_DOWN_S - time.time()))
        server = ensure_embedded_redis(redis_dir)
        restarted_at = time.time()
        # Whether the workers consume from the new server: an alert posted now
        # is paged within a second or two if they do, and only by the tick
        # (10 s for an unrouted alert) or never if they do not. (A Celery ping
        # from this process is no probe: its own kombu state is stale too.)
        posts += run.post_all(after, "after")
        first_after = run.wait_for_first(after, timeout_s=REDIS_RECONNECT_WAIT_S)
        settled = run.wait_until_settled(numbers, timeout_s=ctx.patience_s)
        beat_alive = stack.processes["beat"].poll() is None
    finally:
        stack.stop()
        server.stop()
    save_run(ctx.directory / "result", settled, posts)
    finish(outcome, settled, numbers)
    firsts = first_messages(settled.messages)
    after_restart = sorted(m.at for m in firsts.values() if m.at >= restarted_at)
    last_out = max((m.at for m in firsts.values()), default=restarted_at)
    outcome.recovery = (
        f"first page {fmt_s(after_restart[0] - restarted_at if after_restart else None)}, "
        f"all out {fmt_s(last_out - restarted_at)} after the restart"
    )
    tail = [m for m in after_restart if m >= restarted_at + 60]
    after_posted = posts[REDIS_BACKLOG + REDIS_DURING][1]

    def group(name: str, group_numbers: Sequence[str]) -> str:
        out = sorted(firsts[digits(n)].at for n in group_numbers if digits(n) in firsts)
        last = fmt_s(out[-1] - restarted_at) if out else "-"
        return f"{name}: {len(out)} of {len(group_numbers)} out, the last {last} after the restart"

    if first_after is None:
        reconnect = (
            f"NO page for an alert posted after the restart within {REDIS_RECONNECT_WAIT_S:g} s"
        )
        outcome.problems.append("workers did not page alerts posted after the Redis restart")
    else:
        reconnect = (
            f"first page for an alert posted after the restart "
            f"{fmt_s(first_after - after_posted)} after its post"
        )
    outcome.notes += [
        f"Redis killed {killed_at - started:.1f} s after the first post, "
        f"{sent_before_kill} of {REDIS_BACKLOG} backlog pages out by then; "
        f"down {restarted_at - killed_at:.1f} s; {REDIS_SMS_RATE:g} SMS/s",
        f"posts before: {outcome_counts(posts[:REDIS_BACKLOG])}; during the outage: "
        f"{outcome_counts(posts[REDIS_BACKLOG : REDIS_BACKLOG + REDIS_DURING])}; "
        f"after: {outcome_counts(posts[REDIS_BACKLOG + REDIS_DURING :])}",
        f"{group('backlog', before)}; {group('posted while down', during)}; "
        f"{group('posted after', after)}",
        f"workers after the restart: {reconnect}; Celery restarted by a worker's "
        f"supervisor after dying on its own: {supervisor_restarts(stack.logs_dir)}; beat "
        f"{'still running' if beat_alive else 'EXITED'}",
        f"pages out more than 60 s after the restart (each a page the tick had to "
        f"re-enqueue more than once): {len(tail)}",
        f"database: {settled.db.states_text()}",
    ]
    if not beat_alive:
        outcome.problems.append("beat exited after the Redis restart")
    return outcome


# -- 3. Plivo outage -------------------------------------------------------------------

OUTAGE_S = 30.0
OUTAGE_ALERTS = 150


def scenario_plivo_outage(ctx: Context) -> Outcome:
    """Every Plivo request answers 503 for 30 s, with no backup account.

    The pages raised during the outage must all go out once it ends, once
    each: the send's own retries are all there is to carry them through.
    """
    numbers = destinations(OUTAGE_ALERTS)
    outcome = Outcome(3, f"Plivo outage: 503 for {OUTAGE_S:g} s", len(numbers))
    stack = Stack(chaos_config(ctx.directory))
    run = Run(stack)
    try:
        stack.start()
        stack.wait_for_workers()
        fault_at = run.fault(status=503, rate=1.0, duration_s=OUTAGE_S)
        ends_at = fault_at + OUTAGE_S
        posts = run.post_all(numbers, "outage")
        settled = run.wait_until_settled(numbers, timeout_s=ends_at - time.time() + ctx.patience_s)
        requests_seen = run.api_requests()
    finally:
        stack.stop()
    save_run(ctx.directory / "result", settled, posts)
    finish(outcome, settled, numbers)
    firsts = first_messages(settled.messages)
    times = sorted(m.at for m in firsts.values())
    refused = sum(1 for r in requests_seen if r.get("status") == 503)
    outcome.recovery = (
        f"first page {fmt_s(times[0] - ends_at)}, last {fmt_s(times[-1] - ends_at)} "
        "after the outage ended"
        if times
        else "nothing sent"
    )
    outcome.notes += [
        f"alerts posted in the first {posts[-1][1] - fault_at:.1f} s of the outage; "
        f"posts: {outcome_counts(posts)}",
        f"requests answered 503: {refused}; most send attempts for one notification: "
        f"{settled.db.max_attempts} (the retry policy allows {MAX_SEND_ATTEMPTS})",
        f"pages out during the outage: {sum(1 for t in times if t < ends_at)}",
        f"database: {settled.db.states_text()}",
    ]
    return outcome


# -- 4. 30 % server errors ---------------------------------------------------------

ERRORS_ALERTS = 300
ERROR_RATE = 0.3


def scenario_server_errors(ctx: Context) -> Outcome:
    """30 % of Plivo requests fail with 500 for the whole run.

    Each failed send is retried with backoff; a request that failed provably
    never created a message, so a retry cannot page twice.
    """
    numbers = destinations(ERRORS_ALERTS)
    outcome = Outcome(4, f"{ERROR_RATE:.0%} of Plivo requests fail with 500", len(numbers))
    stack = Stack(chaos_config(ctx.directory))
    run = Run(stack)
    try:
        stack.start()
        stack.wait_for_workers()
        fault_at = run.fault(status=500, rate=ERROR_RATE)
        posts = run.post_all(numbers, "errors")
        settled = run.wait_until_settled(numbers, timeout_s=ctx.patience_s)
        run.clear_fault()
        requests_seen = run.api_requests()
    finally:
        stack.stop()
    save_run(ctx.directory / "result", settled, posts)
    finish(outcome, settled, numbers)
    times = sorted(m.at for m in first_messages(settled.messages).values())
    failed_requests = sum(1 for r in requests_seen if r.get("status") == 500)
    outcome.recovery = (
        f"all out {fmt_s(times[-1] - fault_at)} after the first post" if times else "nothing sent"
    )
    outcome.notes += [
        f"requests: {len(requests_seen)}, answered 500: {failed_requests} "
        f"({failed_requests / max(1, len(requests_seen)):.0%}); most send attempts for one "
        f"notification: {settled.db.max_attempts} (the retry policy allows "
        f"{MAX_SEND_ATTEMPTS})",
        f"posts: {outcome_counts(posts)}",
        f"database: {settled.db.states_text()}",
    ]
    return outcome


# -- 5. timeouts after Plivo received the request -----------------------------------

TIMEOUT_ALERTS = 300
TIMEOUT_RATE = 0.3
TIMEOUT_FAULT_S = 20.0


def scenario_timeouts(ctx: Context) -> Outcome:
    """30 % of Plivo requests are carried out but answered too late for the client.

    Such a send is of unknown outcome: resending would page twice, not
    resending might page nobody. Plivo's record decides: the message's status
    callback (it carries our id) or a reconcile look-up in Plivo's message
    list. Every other number's callbacks are lost (the simulator's
    "no-callback"), so both ways are exercised. The fault lasts through the
    sends; reconcile look-ups made meanwhile may stall too, as they would.
    """
    numbers = destinations(TIMEOUT_ALERTS)
    silent = {digits(n) for n in numbers[1::2]}
    outcome = Outcome(
        5, f"Plivo times out after receiving {TIMEOUT_RATE:.0%} of requests", len(numbers)
    )
    config = chaos_config(
        ctx.directory, extra_env={"PLIVO_READ_TIMEOUT": "1", "RECONCILE_GRACE_S": "2"}
    )
    stack = Stack(config)
    run = Run(stack)
    try:
        stack.start()
        stack.wait_for_workers()
        silence_reports(stack.simulator_url, sorted(silent))
        run.fault(timeout_after_receive=True, rate=TIMEOUT_RATE, duration_s=TIMEOUT_FAULT_S)
        posts = run.post_all(numbers, "timeout")
        settled = run.wait_until_settled(numbers, timeout_s=ctx.patience_s)
        requests_seen = run.api_requests()
        reconciled_metric = run.metric("alert_dispatch_reconciled_total")
    finally:
        stack.stop()
    save_run(ctx.directory / "result", settled, posts)
    finish(outcome, settled, numbers)
    stalled = [r for r in requests_seen if r.get("stalled")]
    stalled_sends = sum(1 for r in stalled if r.get("method") == "POST")
    db = settled.db
    lasted = sorted(s.lasted_s for s in db.unknowns if s.lasted_s is not None)
    outcome.recovery = (
        f"unknown -> settled: median {fmt_s(lasted[len(lasted) // 2])}, longest {fmt_s(lasted[-1])}"
        if lasted
        else "no send went unknown"
    )
    metric_text = ", ".join(
        f"{labels or 'total'} {value:g}" for labels, value in sorted(reconciled_metric.items())
    )
    with_callbacks = [s for s in db.unknowns if s.destination not in silent]
    without = [s for s in db.unknowns if s.destination in silent]
    outcome.notes += [
        f"fault for {TIMEOUT_FAULT_S:g} s from the first post; stalled requests (answered "
        f"after the 1 s read timeout): {stalled_sends} sends, "
        f"{len(stalled) - stalled_sends} reconcile look-ups",
        f"sends that went unknown: {len(db.unknowns)}: {len(with_callbacks)} to numbers with "
        f"status callbacks (settled by: {db.settled_by(with_callbacks)}), {len(without)} to "
        f"numbers whose callbacks are lost (settled by: {db.settled_by(without)})",
        f"stalled sends never recorded as unknown: "
        f"{stalled_sends - sum(1 for s in db.unknowns if s.cause == 'timeout')} "
        "(a status callback had moved them to queued before the read timeout ran out)",
        f"`alert_dispatch_reconciled_total` by result: {metric_text or 'absent'}",
        f"posts: {outcome_counts(posts)}",
        f"database: {db.states_text()}",
    ]
    return outcome


# -- 6. failover to the backup account --------------------------------------------

FAILOVER_OUTAGE_S = 30.0
FAILOVER_EVERY_S = 0.25  # 4 alerts a second, through before, during and after the outage
FAILOVER_BEFORE_S = 5.0
FAILOVER_AFTER_S = 20.0


def scenario_failover(ctx: Context) -> Outcome:
    """The primary account answers 503 for 30 s; a backup account is configured.

    Pages keep coming in throughout. The breaker must move them to the backup
    within seconds and bring them back to the primary once it answers again
    (its defaults: open after 5 failures, try the primary again after 30 s).
    """
    count = round((FAILOVER_BEFORE_S + FAILOVER_OUTAGE_S + FAILOVER_AFTER_S) / FAILOVER_EVERY_S)
    numbers = destinations(count)
    outcome = Outcome(
        6, f"primary account down {FAILOVER_OUTAGE_S:g} s, backup configured", len(numbers)
    )
    stack = Stack(chaos_config(ctx.directory, backup_simulator=True))
    run = Run(stack)
    fault: dict[str, float] = {}

    def start_outage_on_time() -> None:
        time.sleep(FAILOVER_BEFORE_S)
        fault["at"] = run.fault(status=503, rate=1.0, duration_s=FAILOVER_OUTAGE_S)

    try:
        stack.start()
        stack.wait_for_workers()
        trigger = threading.Thread(target=start_outage_on_time, daemon=True)
        trigger.start()
        posts = run.post_all(numbers, "failover", every_s=FAILOVER_EVERY_S)
        trigger.join(timeout=30)
        settled = run.wait_until_settled(numbers, timeout_s=ctx.patience_s)
        primary_requests = run.api_requests()
    finally:
        stack.stop()
    save_run(ctx.directory / "result", settled, posts)
    finish(outcome, settled, numbers)
    down_at = fault["at"]
    up_at = down_at + FAILOVER_OUTAGE_S
    backup = [m for m in settled.messages if m.account == "backup"]
    primary_again = [m for m in settled.messages if m.account == "primary" and m.at >= up_at]
    to_backup = backup[0].at - down_at if backup else None
    to_primary = primary_again[0].at - up_at if primary_again else None
    outcome.recovery = (
        f"backup first used {fmt_s(to_backup)} after the outage began; "
        f"primary again {fmt_s(to_primary)} after it ended"
    )
    primary_during = sum(
        1 for m in settled.messages if m.account == "primary" and down_at <= m.at < up_at
    )
    last_backup = backup[-1].at - up_at if backup else None
    outcome.notes += [
        f"messages at the primary: {sum(1 for m in settled.messages if m.account == 'primary')} "
        f"({primary_during} during the outage), at the backup: {len(backup)}; "
        f"last backup message {fmt_s(last_backup)} after the outage ended",
        f"requests the primary answered 503: "
        f"{sum(1 for r in primary_requests if r.get('status') == 503)} (the failures that "
        "open the breaker, and any probe of the primary while it was still down); the "
        "breaker tries the primary again BREAKER_OPEN_S (default 30 s) after opening",
        f"posts: {outcome_counts(posts)}",
        f"database: {settled.db.states_text()}",
    ]
    if to_backup is None or to_backup > 10:
        outcome.problems.append(f"backup not used within 10 s (first after {fmt_s(to_backup)})")
    if to_primary is None:
        outcome.problems.append("primary not used again after the outage")
    return outcome


# -- the run -----------------------------------------------------------------------

Scenario = Callable[[Context], Outcome]
# -- 7. receiver crashes ---------------------------------------------------------------

RECEIVER_ALERTS = 120
RECEIVER_KILLS = 8
# Slow enough that the receiver is idle at each post, so it routes the alert itself.
RECEIVER_POST_EVERY_S = 0.25
# The kill comes this long after the post left: the receiver stores the alert within
# about 4 ms and its first page leaves about 6 ms later, then it publishes the backup
# and answers; a kill anywhere in there is what this scenario is about.
RECEIVER_KILL_AFTER_S = (0.002, 0.016)
# The default bundle window (shared.core.settings).
RECEIVER_BUNDLE_WINDOW_S = 60


def scenario_receiver_kills(ctx: Context) -> Outcome:
    """SIGKILL the receiver while it stores and routes an alert, before it answered.

    An idle receiver stores, routes and claims the first page of a new alert in
    one transaction (worker.route_on_arrival) and answers only once that page
    left. Killed before the commit, nothing was stored (the producer got no
    answer); killed after it, the claimed page is settled by the hand-over of
    sends (looked up at Plivo, sent if it never got there). Alerts are posted one
    by one, 4 a second; some posts are cut short by a kill and the receiver
    started again. Every alert the receiver stored (answered or not) must be
    paged exactly once.
    """
    numbers = destinations(RECEIVER_ALERTS)
    outcome = Outcome(7, "SIGKILL the receiver as it routes an alert", len(numbers))
    kill_at = set(ctx.rng.sample(range(5, RECEIVER_ALERTS - 5), RECEIVER_KILLS))
    # Bundling on, as deployed (each alert pages its own number, so nothing is bundled):
    # a receiver killed before its commit leaves the person's bundle window open in
    # Redis, which must not hold a later page to that person for the whole window.
    window = {"BUNDLE_WINDOW_S": str(RECEIVER_BUNDLE_WINDOW_S)}
    stack = Stack(chaos_config(ctx.directory, extra_env=window))
    run = Run(stack)
    posts: list[tuple[str, float, str]] = []
    kills: dict[str, float] = {}  # number whose post was cut short -> when
    try:
        stack.start()
        stack.wait_for_workers()
        poster = AlertPoster(stack.web_url, stack.config.api_token)
        for index, number in enumerate(numbers):
            time.sleep(RECEIVER_POST_EVERY_S)
            if index not in kill_at:
                posts.append((number, time.time(), _post_outcome(poster, number, index)))
                continue
            posts.append(_post_cut_short(ctx, stack, poster, number, index))
            kills[number] = time.time()
            stack.start_web()
            poster = AlertPoster(stack.web_url, stack.config.api_token)
        answered = [number for number, _, how in posts if how in ("queued", "stored")]
        unanswered_but_stored = stored_among(
            stack.database_url, [n for n, _, how in posts if n in kills and n not in answered]
        )
        accepted = answered + unanswered_but_stored
        settled = run.wait_until_settled(accepted, timeout_s=ctx.patience_s)
    finally:
        stack.stop()
    save_run(ctx.directory / "result", settled, posts)
    finish(outcome, settled, accepted)
    outcome.notifications = len(accepted)
    firsts = first_messages(settled.messages)
    after_kill = [firsts[digits(n)].at - at for n, at in kills.items() if digits(n) in firsts]
    outcome.recovery = (
        f"pages of the alerts being stored or routed at the kill: out {fmt_s(min(after_kill))} "
        f"to {fmt_s(max(after_kill))} after it"
        if after_kill
        else "no alert being routed at a kill had been stored"
    )
    cut_off = [u for u in settled.db.unknowns if u.cause == "worker lost"]
    lo, hi = RECEIVER_KILL_AFTER_S
    outcome.notes += [
        f"bundle window {RECEIVER_BUNDLE_WINDOW_S} s (the default) in this scenario; "
        f"{len(kills)} kills, each {lo * 1000:.0f}-{hi * 1000:.0f} ms after a post left; "
        f"posts: {outcome_counts(posts)}; of the {len(kills)} cut short, "
        f"{sum(1 for n in kills if n in answered)} answered before the kill, "
        f"{len(unanswered_but_stored)} stored but not answered",
        f"pages the dead receiver had claimed (made unknown by the hand-over of sends): "
        f"{len(cut_off)}, settled by {settled.db.settled_by(cut_off)}",
        f"database: {settled.db.states_text()}",
    ]
    return outcome


def _post_cut_short(
    ctx: Context, stack: Stack, poster: AlertPoster, number: str, index: int
) -> tuple[str, float, str]:
    """Post in a thread and SIGKILL the receiver a few milliseconds after the post left."""
    outcome: list[str] = []
    sent_at = time.time()
    posting = threading.Thread(target=lambda: outcome.append(_post_outcome(poster, number, index)))
    posting.start()
    time.sleep(ctx.rng.uniform(*RECEIVER_KILL_AFTER_S))
    stack.kill("web", signal.SIGKILL)
    posting.join(timeout=30)
    return number, sent_at, outcome[0] if outcome else "error no answer"


def stored_among(database_url: str, numbers: Sequence[str]) -> list[str]:
    """The numbers an alert in the database pages (its recipients), of `numbers`."""
    if not numbers:
        return []
    stored = " ".join(
        str(r[0]) for r in databases.rows(database_url, "SELECT recipients FROM alerts")
    )
    return [n for n in numbers if n in stored]


def _post_outcome(poster: AlertPoster, number: str, index: int) -> str:
    """One alert posted: "queued" or "stored" as the receiver answered, else what failed."""
    try:
        return (
            "queued"
            if poster.post(number, f"chaos benchmark receiver {index}").queued
            else ("stored")
        )
    except AlertRefused as exc:
        return f"refused {exc.status}"
    except requests.RequestException as exc:
        return f"error {type(exc).__name__}"


SCENARIOS: dict[int, tuple[str, Scenario]] = {
    1: ("worker SIGKILLs", scenario_worker_kills),
    2: ("Redis restart", scenario_redis_restart),
    3: ("Plivo outage", scenario_plivo_outage),
    4: ("30 % server errors", scenario_server_errors),
    5: ("timeouts after receive", scenario_timeouts),
    6: ("failover to the backup", scenario_failover),
    7: ("receiver SIGKILLs", scenario_receiver_kills),
}


def run_scenario(number: int, base: Path, seed: int, patience_s: float) -> Outcome:
    """One scenario in its own directory; a crash of the benchmark itself is a failed row."""
    title, scenario = SCENARIOS[number]
    directory = base / f"scenario-{number}"
    directory.mkdir(parents=True, exist_ok=True)
    print(f"scenario {number} ({title}): data and logs in {directory}", flush=True)
    started = time.monotonic()
    try:
        outcome = scenario(Context(directory, random.Random(seed + number), patience_s))
    except Exception as exc:  # report it in the table, run the other scenarios
        traceback.print_exc()
        outcome = Outcome(number, title, 0, error=f"{type(exc).__name__}: {exc}")
        outcome.problems.append(f"the benchmark itself failed: {outcome.error}")
    else:
        outcome.judge()
    outcome.notes.append(f"scenario took {time.monotonic() - started:.0f} s")
    print(render_outcome(outcome), flush=True)
    return outcome


COLUMNS = ("#", "scenario", "notifications", "lost", "duplicates", "time to recover", "result")


def table_row(o: Outcome) -> list[str]:
    lost = str(len(o.tally.lost)) if o.tally else "-"
    dups = str(o.tally.duplicates) if o.tally else "-"
    return [
        str(o.number),
        o.title,
        str(o.notifications),
        lost,
        dups,
        o.recovery,
        "pass" if o.passed else "**FAIL**",
    ]


def markdown_table(outcomes: Sequence[Outcome]) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "|".join("---" for _ in COLUMNS) + "|"]
    lines += ["| " + " | ".join(table_row(o)) + " |" for o in outcomes]
    return "\n".join(lines)


def render_outcome(o: Outcome) -> str:
    lines = [f"### {o.number}. {o.title}: {'pass' if o.passed else 'FAIL'}", ""]
    lines += [f"- {note}" for note in o.notes]
    lines += [f"- **problem**: {problem}" for problem in o.problems]
    return "\n".join(lines) + "\n"


def render_report(outcomes: Sequence[Outcome], command: str, source: str, seed: int) -> str:
    parts = [
        "# Chaos benchmark (issue 5)",
        "",
        f"- date: {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}",
        f"- machine: {machine()}",
        f"- command: `{command}` (seed {seed})",
        f"- source: {source}",
        f"- setup: a fresh stack per scenario: {WORKERS} worker instances x "
        f"{WORKER_CONCURRENCY} prefork processes, beat, the receiver, the Plivo simulator "
        f"(and a backup one in 6), embedded Redis, SQLite; one alert per number "
        f"(explicit recipient, one SMS), bundling off, {SMS_RATE:g} SMS/s unless noted",
        "- counted at the simulators: lost = numbers never messaged, duplicates = messages "
        "beyond the first to a number; and in the database: every notification must end "
        "queued, sent or delivered",
        "",
        markdown_table(outcomes),
        "",
    ]
    parts += ["## Details", ""]
    parts += [render_outcome(o) for o in outcomes]
    return "\n".join(parts)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.chaos",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--only",
        type=int,
        action="append",
        choices=sorted(SCENARIOS),
        help="run only scenario N (repeatable); default all six",
    )
    parser.add_argument(
        "--workdir",
        type=Path,
        default=None,
        help="keep data and logs here (default: a temporary directory)",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=None,
        help="seed of the random kill moments (default: random; the results file names it)",
    )
    parser.add_argument(
        "--patience",
        type=float,
        default=DEFAULT_PATIENCE_S,
        help="seconds a scenario may take to settle after its faults (default %(default)g)",
    )
    parser.add_argument("--output", type=Path, default=RESULTS_FILE, help="markdown results file")
    args = parser.parse_args(argv)
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(10**6)
    command = shlex.join(["python", "-m", "bench.chaos", *(sys.argv[1:] if argv is None else argv)])
    source = source_state()
    outcomes: list[Outcome] = []
    with bench_directory(args.workdir, "bench-chaos-") as directory:
        for number in sorted(set(args.only or SCENARIOS)):
            outcomes.append(run_scenario(number, directory, seed, args.patience))
    report = render_report(outcomes, command, source, seed)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(report)
    print(report)
    return 0 if all(o.passed for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
