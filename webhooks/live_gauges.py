"""Gauges read from the database, Redis and the broker at each scrape of the receiver's /metrics.

How many alerts are open, how many chains are paging, how many numbers opted
out, how many messages wait in each queue: these are states, not events. A
gauge counted up and down by every process that changes them drifts as soon
as one process dies between the change and the count, and every restart
forgets it; reading the truth when Prometheus asks cannot drift. One SELECT
per gauge family, with short timeouts: a scrape must stay cheap. When the
database, Redis or the broker does not answer, its gauges are left out of that scrape
(and a warning logged): the counters still answer, and a missing series is
what an alert on `absent()` is for, where a 500 would lose every counter too.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime

import redis
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from sqlalchemy import Select, func, select
from sqlalchemy.exc import SQLAlchemyError

from shared.alerts.schemas import Severity
from shared.alerts.store import OPEN_STATUSES
from shared.core.db import get_engine
from shared.core.enums import EscalationState
from shared.core.metrics import bounded_label
from shared.core.models import Alert, NoticeDelivery, NoticeSend, OptOut
from shared.core.redis_url import redis_from_url
from shared.core.settings import Settings
from shared.sending.breaker import BreakerState, open_until_key, state_at
from webhooks.backlog_gauges import account_limits, limiter_delay_families, oldest_age_families
from webhooks.queue_depths import (
    QUEUE_NAMES,
    BrokerUnavailable,
    priority_lists,
    queue_broker_url,
    queue_depths,
)
from worker.beat_leader import LAST_TICK_KEY, LEADER_KEY
from worker.sending.providers import PRIMARY

log = logging.getLogger(__name__)

SEVERITIES = frozenset(Severity)
REDIS_TIMEOUT_S = 1.0
DB_STATEMENT_TIMEOUT_MS = 2000


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
    """The families read from the database, in one connection."""
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
        notice_rows = connection.execute(_recent_notice_deliveries(time.time())).all()
    return [
        _notice_deliveries_family((str(n), str(st), int(c)) for n, st, c in notice_rows),
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


# Notices whose latest send began within this long are shown; older ones drop out,
# so the series stay bounded by the notices of the last week.
NOTICE_GAUGE_WINDOW_S = 7 * 24 * 3600


def _recent_notice_deliveries(now: float) -> Select[tuple[str, str, int]]:
    since = datetime.fromtimestamp(now - NOTICE_GAUGE_WINDOW_S, UTC)
    return (
        select(NoticeSend.notice, NoticeDelivery.state, func.count())
        .join(NoticeSend, NoticeSend.id == NoticeDelivery.send_id)
        .where(NoticeSend.created_at >= since)
        .group_by(NoticeSend.notice, NoticeDelivery.state)
    )


def _notice_deliveries_family(rows: Iterable[tuple[str, str, int]]) -> GaugeMetricFamily:
    """Every recipient of the last week's notices by state: the progress of a notice."""
    family = GaugeMetricFamily(
        "alert_dispatch_notice_deliveries",
        "Notice recipients (last 7 days of sends) by notice and state: pending, claimed, "
        "handed_off, delivered, failed, skipped (read at scrape).",
        labels=["notice", "state"],
    )
    for notice, state, count in rows:
        family.add_metric([notice, state], count)
    return family


def queue_depth_family(depths: Mapping[str, int]) -> GaugeMetricFamily:
    """Messages waiting in each Celery queue (webhooks.queue_depths, whatever the broker)."""
    family = GaugeMetricFamily(
        "alert_dispatch_queue_depth",
        "Messages waiting in each Celery queue, all priorities (read at scrape).",
        labels=["queue"],
    )
    for queue, depth in depths.items():
        family.add_metric([queue], depth)
    return family


def _breaker_families(redis_url: str, now: float) -> list[Metric]:
    """The primary account's circuit breaker, from the Redis of REDIS_URL."""
    client = redis_from_url(
        redis_url, socket_timeout=REDIS_TIMEOUT_S, socket_connect_timeout=REDIS_TIMEOUT_S
    )
    try:
        open_until = client.get(open_until_key(PRIMARY))
    finally:
        client.close()
    return [breaker_family(None if open_until is None else float(open_until), now)]


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


def beat_families(redis_url: str) -> list[Metric]:
    """Whether a beat leads now and when the leader last ticked (unix seconds; 0 when
    no beat ever did), so an alert can fire on `time() - last_tick > 30`."""
    client = redis_from_url(
        redis_url, socket_timeout=REDIS_TIMEOUT_S, socket_connect_timeout=REDIS_TIMEOUT_S
    )
    try:
        pipe = client.pipeline(transaction=False)
        leading, last_tick = pipe.exists(LEADER_KEY).get(LAST_TICK_KEY).execute()
    finally:
        client.close()
    return [
        GaugeMetricFamily(
            "alert_dispatch_beat_leader",
            "1 while a beat holds the leader lock and sends the schedule (read at scrape).",
            value=1 if leading else 0,
        ),
        GaugeMetricFamily(
            "alert_dispatch_beat_last_tick_timestamp_seconds",
            "When the leading beat last ticked, unix seconds; 0 if never (read at scrape).",
            value=float(last_tick or 0),
        ),
    ]


class LiveGauges:
    """A collector for one scrape: reads the database, Redis and the broker when collected."""

    def __init__(self, database_url: str, redis_url: str, settings: Settings | None = None) -> None:
        self.database_url = database_url
        self.redis_url = redis_url
        # Where the queues are: BROKER_URL (RabbitMQ or another Redis) or REDIS_URL.
        self.broker_url = queue_broker_url(settings.broker_url if settings else None, redis_url)
        # The account's send limits, for the limiter delay (none without settings).
        self.account_limits = account_limits(settings) if settings is not None else []

    def describe(self) -> list[Metric]:
        """Nothing up front: registering must not touch the database."""
        return []

    def collect(self) -> Iterator[Metric]:
        try:
            yield from _database_families(self.database_url)
        except (SQLAlchemyError, OSError) as exc:
            log.warning("metrics: live gauges from the database left out: %s", exc)
        try:
            yield queue_depth_family(queue_depths(self.broker_url))
        except BrokerUnavailable as exc:
            log.warning("metrics: queue depth left out: %s", exc)
        try:
            yield from _breaker_families(self.redis_url, time.time())
        except (redis.RedisError, OSError) as exc:
            log.warning("metrics: breaker state left out: %s", exc)
        try:
            yield from beat_families(self.redis_url)
        except (redis.RedisError, OSError) as exc:
            log.warning("metrics: beat leader and last tick left out: %s", exc)
        try:
            queues = {queue: priority_lists(queue) for queue in QUEUE_NAMES}
            yield from oldest_age_families(self.broker_url, queues, time.time())
        except (redis.RedisError, OSError) as exc:
            log.warning("metrics: oldest task age left out: %s", exc)
        try:
            yield from limiter_delay_families(self.redis_url, self.account_limits)
        except (redis.RedisError, OSError) as exc:
            log.warning("metrics: limiter delay left out: %s", exc)
