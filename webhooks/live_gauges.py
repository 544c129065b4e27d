"""Gauges read from the database and Redis at each scrape of the receiver's /metrics.

How many alerts are open, how many chains are paging, how many numbers opted
out, how many messages wait in each queue: these are states, not events. A
gauge counted up and down by every process that changes them drifts as soon
as one process dies between the change and the count, and every restart
forgets it; reading the truth when Prometheus asks cannot drift. One SELECT
per gauge family, with short timeouts: a scrape must stay cheap. When the
database or Redis does not answer, its gauges are left out of that scrape
(and a warning logged): the counters still answer, and a missing series is
what an alert on `absent()` is for, where a 500 would lose every counter too.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator, Mapping

import redis
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from shared.alerts.schemas import Severity
from shared.alerts.store import OPEN_STATUSES
from shared.core.db import get_engine
from shared.core.enums import EscalationState
from shared.core.metrics import bounded_label
from shared.core.models import Alert, OptOut
from shared.sending.breaker import BreakerState, open_until_key, state_at
from worker.queues import CALLBACKS, INGEST, NOTIFY, PRIORITY_STEPS
from worker.sending.providers import PRIMARY

log = logging.getLogger(__name__)

SEVERITIES = frozenset(Severity)
QUEUE_NAMES = (INGEST, NOTIFY, CALLBACKS)
# kombu's Redis transport keeps one list per priority step: the plain queue name
# for 0 and `<queue>\x06\x16<step>` for the others.
KOMBU_PRIORITY_SEP = "\x06\x16"
REDIS_TIMEOUT_S = 1.0
DB_STATEMENT_TIMEOUT_MS = 2000


def priority_lists(queue: str, steps: Iterable[int] = PRIORITY_STEPS) -> list[str]:
    """The Redis lists that together hold `queue`'s waiting messages."""
    return [f"{queue}{KOMBU_PRIORITY_SEP}{step}" if step else queue for step in steps]


def open_alert_counts(rows: Iterable[tuple[str, str, int]]) -> dict[tuple[str, str], int]:
    """(severity, status) -> count, with unknown severities folded into "other".

    Every known pair is present (0 when none), so a series does not vanish when
    its last alert closes: a gauge that disappears cannot be told from a scrape
    that failed.
    """
    counts = {(sev.value, status.value): 0 for sev in Severity for status in OPEN_STATUSES}
    for severity, status, count in rows:
        key = (bounded_label(severity, SEVERITIES), str(status))
        if key[1] not in OPEN_STATUSES:
            continue
        counts[key] = counts.get(key, 0) + int(count)
    return counts


def _open_alerts_family(counts: Mapping[tuple[str, str], int]) -> GaugeMetricFamily:
    family = GaugeMetricFamily(
        "alert_dispatch_open_alerts",
        "Alerts triggered or acknowledged now, by severity and status (read at scrape).",
        labels=["severity", "status"],
    )
    for (severity, status), count in sorted(counts.items()):
        family.add_metric([severity, status], count)
    return family


def _database_families(database_url: str) -> list[Metric]:
    """The three families read from the database, in one connection."""
    engine = get_engine(database_url)
    with engine.connect() as connection:
        if engine.dialect.name == "postgresql":
            connection.exec_driver_sql(f"SET LOCAL statement_timeout = {DB_STATEMENT_TIMEOUT_MS}")
        rows = connection.execute(
            select(Alert.severity, Alert.status, func.count())
            .where(Alert.status.in_([status.value for status in OPEN_STATUSES]))
            .group_by(Alert.severity, Alert.status)
        ).all()
        active = Alert.escalation == EscalationState.ACTIVE.value
        in_flight = connection.scalar(select(func.count()).select_from(Alert).where(active))
        opted_out = connection.scalar(select(func.count()).select_from(OptOut))
    return [
        _open_alerts_family(open_alert_counts((str(s), str(st), int(n)) for s, st, n in rows)),
        GaugeMetricFamily(
            "alert_dispatch_chains_in_flight",
            "Alerts whose escalation chain is active now (read at scrape).",
            value=int(in_flight or 0),
        ),
        GaugeMetricFamily(
            "alert_dispatch_opted_out_numbers",
            "Numbers that replied STOP and are not paged by SMS (read at scrape).",
            value=int(opted_out or 0),
        ),
    ]


def _redis_families(redis_url: str, now: float) -> list[Metric]:
    """Messages waiting in each Celery queue (all priority lists summed) and the primary
    account's circuit breaker, in one round trip."""
    client = redis.Redis.from_url(
        redis_url, socket_timeout=REDIS_TIMEOUT_S, socket_connect_timeout=REDIS_TIMEOUT_S
    )
    try:
        pipe = client.pipeline(transaction=False)
        for queue in QUEUE_NAMES:
            for name in priority_lists(queue):
                pipe.llen(name)
        pipe.get(open_until_key(PRIMARY))
        *lengths, open_until = pipe.execute()
    finally:
        client.close()
    family = GaugeMetricFamily(
        "alert_dispatch_queue_depth",
        "Messages waiting in each Celery queue, all priorities (read at scrape).",
        labels=["queue"],
    )
    per_queue = len(PRIORITY_STEPS)
    for index, queue in enumerate(QUEUE_NAMES):
        family.add_metric([queue], sum(lengths[index * per_queue : (index + 1) * per_queue]))
    return [family, breaker_family(None if open_until is None else float(open_until), now)]


def breaker_family(open_until: float | None, now: float) -> GaugeMetricFamily:
    """1 for the primary account's breaker state, 0 for the others: a closed
    circuit is `state="closed"` 1, so an alert rule can watch `state="open"`."""
    family = GaugeMetricFamily(
        "alert_dispatch_breaker_state",
        "The primary Plivo account's circuit breaker: 1 for its current state (read at scrape).",
        labels=["provider", "state"],
    )
    current = state_at(open_until, now)
    for state in BreakerState:
        family.add_metric([PRIMARY, state.value], 1 if state is current else 0)
    return family


class LiveGauges:
    """A collector for one scrape: reads the database and Redis when collected."""

    def __init__(self, database_url: str, redis_url: str) -> None:
        self.database_url = database_url
        self.redis_url = redis_url

    def describe(self) -> list[Metric]:
        """Nothing up front: registering must not touch the database."""
        return []

    def collect(self) -> Iterator[Metric]:
        try:
            yield from _database_families(self.database_url)
        except (SQLAlchemyError, OSError) as exc:
            log.warning("metrics: live gauges from the database left out: %s", exc)
        try:
            yield from _redis_families(self.redis_url, time.time())
        except (redis.RedisError, OSError) as exc:
            log.warning("metrics: queue depth and breaker state left out: %s", exc)
