"""Prometheus metrics, shared by the web process and every worker process.

Prefork workers and gunicorn workers are separate processes: each would show
only its own counts. So the gunicorn master and the Celery worker parent each
put their children in multiprocess mode before forking them
(`prepare_multiprocess`): every child writes its samples to files in one
directory of that process's own, and a scrape adds them up (the receiver's
/metrics, the worker's metrics server), so the counters tell the truth for
every process on the host. An operator's PROMETHEUS_MULTIPROC_DIR is used as
given and never emptied.

Every label value comes from a small known set, never from what a producer
or a caller sent: each distinct value is a series held in memory and in every
scrape, and /metrics is unauthenticated. `bounded_label` folds anything
unexpected into "other".
"""

from __future__ import annotations

import os
import re
from collections.abc import Collection, Iterable
from pathlib import Path

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.registry import Collector

from shared.core.enums import AlertStatus

OTHER = "other"
# The ways into `shared.alerts.ingest`: the `source` label of ALERTS_ACCEPTED. It is
# the path an event came in by, not the producer's own `source` text.
INGEST_PATHS = frozenset({"api", "alertmanager", "grafana", "pagerduty", "bus", "producer"})
INGEST_OUTCOMES = frozenset(
    {"created", "deduplicated", AlertStatus.ACKNOWLEDGED, AlertStatus.RESOLVED, "ignored"}
)
HTTP_CLIENT_ERRORS = frozenset({"400", "401", "403", "404", "405", "413", "415", "422", "429"})


def bounded_label(value: object, known: Collection[str]) -> str:
    """`value` when it is one of `known`, else "other": a label never grows past len(known) + 1."""
    return value if isinstance(value, str) and value in known else OTHER


ALERTS_ACCEPTED = Counter(
    "alert_dispatch_alerts_accepted",
    "Alert events accepted and stored, by ingestion path (api, alertmanager, grafana, "
    "pagerduty, bus, producer) and outcome.",
    ["source", "outcome"],
)
SMS_SENT = Counter(
    "alert_dispatch_sms_sent",
    "SMS send attempts to Plivo, by result (accepted, retry, failed, ambiguous, skipped).",
    ["result"],
)
DELIVERY_REPORTS = Counter(
    "alert_dispatch_delivery_reports",
    "Plivo SMS delivery reports received, by status and what applying them did.",
    ["status", "outcome"],
)
CALLBACKS_REJECTED = Counter(
    "alert_dispatch_callbacks_rejected",
    "Plivo callbacks refused, by endpoint and reason (bad signature, bad form).",
    ["endpoint", "reason"],
)
CHANGE_EVENTS = Counter(
    "alert_dispatch_change_events",
    "PagerDuty change events, by result (accepted, rejected).",
    ["result"],
)
INGEST_REJECTED = Counter(
    "alert_dispatch_ingest_rejected",
    "Ingestion requests refused, by HTTP status.",
    ["status"],
)


def count_accepted(path: str, outcome: str) -> None:
    """Count one stored event by the path it came in by (see INGEST_PATHS)."""
    ALERTS_ACCEPTED.labels(
        source=bounded_label(path, INGEST_PATHS), outcome=bounded_label(outcome, INGEST_OUTCOMES)
    ).inc()


def count_rejected(status: int) -> None:
    """Count one refused ingestion request by its 4xx status."""
    INGEST_REJECTED.labels(status=bounded_label(str(status), HTTP_CLIENT_ERRORS)).inc()


MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def multiprocess_registry(directory: str | os.PathLike[str]) -> CollectorRegistry:
    """A registry that adds up the samples every process wrote to `directory`."""
    from prometheus_client import multiprocess

    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=str(directory))
    return registry


def render_metrics(extra: Iterable[Collector] = ()) -> tuple[bytes, str]:
    """The exposition text for /metrics and its content type.

    `extra`: collectors that read their values at this scrape (the receiver's
    live gauges), on a registry of this scrape only, so they never join the
    process-wide one a worker's metrics server also serves.
    """
    multiproc_dir = os.environ.get(MULTIPROC_ENV)
    registry = multiprocess_registry(multiproc_dir) if multiproc_dir else REGISTRY
    body = generate_latest(registry)
    scrape = CollectorRegistry(auto_describe=False)
    for collector in extra:
        scrape.register(collector)
    return body + generate_latest(scrape), CONTENT_TYPE_LATEST


def mark_process_dead(pid: int) -> None:
    """Drop a dead worker child's live gauges (counters stay, as they should)."""
    if os.environ.get(MULTIPROC_ENV):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)


def own_multiprocess_dir(data_dir: Path, role: str) -> Path:
    """Where a process of `role` ("web", or "worker/<node name>") keeps its children's
    metric files: one directory per process that empties it, so two of them on one
    host never empty each other's."""
    safe = "/".join(re.sub(r"[^A-Za-z0-9._@-]", "_", part) or "_" for part in role.split("/"))
    return data_dir / "metrics" / safe


def prepare_multiprocess(data_dir: Path, role: str) -> Path:
    """Put this process and the children it forks from now on in multiprocess mode.

    Unless PROMETHEUS_MULTIPROC_DIR is given, a directory of this process's own
    under DATA_DIR is emptied (files left by a previous run would add their old
    counts to every scrape) and exported, so every child inherits it. Call it
    before the children fork.
    """
    given = os.environ.get(MULTIPROC_ENV)
    if given:
        directory = Path(given)
    else:
        directory = own_multiprocess_dir(data_dir, role).resolve()
        directory.mkdir(parents=True, exist_ok=True)
        for stale in directory.glob("*.db"):
            stale.unlink(missing_ok=True)
        os.environ[MULTIPROC_ENV] = str(directory)
    _use_multiprocess_values()
    return directory


def _use_multiprocess_values() -> None:
    """Switch prometheus_client to file-backed values if it was imported before the
    directory was set.

    prometheus_client picks its value class once, at import; a Celery worker
    has imported every task module (and so the metrics) before its first
    signal. Nothing has counted in that parent yet, so the values built so far
    are built again, file-backed; children created later by `.labels()` use the
    new class by themselves.
    """
    from prometheus_client import values
    from prometheus_client.metrics import MetricWrapperBase

    if getattr(values.ValueClass, "_multiprocess", False):
        return
    values.ValueClass = values.MultiProcessValue()
    for collector in list(REGISTRY._collector_to_names):
        if not isinstance(collector, MetricWrapperBase):
            continue
        built = list(collector._metrics.values()) if collector._labelnames else [collector]
        for metric in built:
            metric._metric_init()


ALERT_ACTIONS = Counter(
    "alert_dispatch_alert_actions",
    "Alerts acknowledged or resolved, by action and channel "
    "(api, cli, sms, voice, phone_line, producer).",
    ["action", "via"],
)
ESCALATION_STEPS = Counter(
    "alert_dispatch_escalation_steps",
    "Escalation steps fired, by policy.",
    ["policy"],
)
SCHEDULE_GAPS_HIT = Counter(
    "alert_dispatch_schedule_gaps",
    "Escalation steps that found nobody on call in a schedule they name (a gap in the rota).",
    ["schedule"],
)
ESCALATIONS_EXHAUSTED = Counter(
    "alert_dispatch_escalations_exhausted",
    "Alerts whose whole chain (with repeats) ran out without an acknowledgement.",
    ["policy"],
)
STEP_PHLO_RUNS = Counter(
    "alert_dispatch_step_phlo_runs",
    "PHLO runs of escalation steps, once per attempt: ok, retry, failed (refused, or out of "
    "retries: the chain moves on), ambiguous (answer lost: failed, never run again), delayed "
    "(rate limit), skipped (alert closed), not_enqueued (broker down when the step fired).",
    ["result"],
)
STEP_WEBHOOKS = Counter(
    "alert_dispatch_step_webhooks",
    "Webhook posts of escalation steps, once per attempt, by format (slack, mattermost, json) "
    "and result: ok, retry, failed (refused, no secret, or out of retries), skipped (alert "
    "closed), not_enqueued (broker down when the step fired).",
    ["format", "result"],
)
ACKS_TIMED_OUT = Counter(
    "alert_dispatch_ack_timeouts",
    "Acknowledged alerts not resolved within their policy's ack_timeout, paged again.",
    ["policy"],
)
CALLS_PLACED = Counter(
    "alert_dispatch_calls_placed",
    "Voice call attempts to Plivo, by result (accepted, retry, failed, ambiguous, skipped).",
    ["result"],
)
# Plivo's CallStatus at hang-up: `completed` is a call that was answered (by a person
# or a machine), the others were never answered.
PLIVO_CALL_STATUSES = frozenset({"completed", "busy", "failed", "timeout", "no-answer", "cancel"})
CALL_OUTCOMES = Counter(
    "alert_dispatch_call_outcomes",
    "How calls ended, once per call: outcome (acknowledged, escalated, bridged, not_reached) "
    "and Plivo's CallStatus at hang-up (completed = answered).",
    ["outcome", "status"],
)
# Page calls' price and length from Plivo's hang-up callback (shared.notifications.call_charges):
# team is the alert's escalation policy, source the integration it came in by.
CALL_COST = Counter(
    "alert_dispatch_call_cost",
    "What page calls cost, in the Plivo account's currency (TotalCost), by team and source.",
    ["team", "source"],
)
CALL_SECONDS = Counter(
    "alert_dispatch_call_seconds",
    "How long page calls lasted once answered (Duration, seconds), by team and source.",
    ["team", "source"],
)
SMS_REPLIES = Counter(
    "alert_dispatch_sms_replies",
    "Inbound SMS, by what they asked for (ack, escalate, stop, start, help, unknown).",
    ["action"],
)
OPTED_OUT_SKIPS = Counter(
    "alert_dispatch_opted_out_skips",
    "SMS not sent because the on-call number opted out with STOP: a hole in the rota.",
)
SENDS_DELAYED = Counter(
    "alert_dispatch_sends_delayed",
    "Sends rescheduled to wait for a rate-limit slot, by the limit that held them.",
    ["limit"],
)
ALERTS_UNROUTED = Counter(
    "alert_dispatch_alerts_unrouted",
    "Alerts with no recipients and no matching route: nobody was paged.",
)
BUNDLES_SENT = Counter(
    "alert_dispatch_bundles_sent",
    "Messages or calls that carried more than one alert, by channel.",
    ["channel"],
)
BUNDLED_ALERTS = Counter(
    "alert_dispatch_bundled_alerts",
    "Alerts delivered inside bundles, by channel (divide by bundles for the mean size).",
    ["channel"],
)
SEND_DELAY = Gauge(
    "alert_dispatch_send_delay_seconds",
    "The most recent wait a rate limit imposed on a send (largest across processes).",
    multiprocess_mode="max",
)
PROVIDER_REQUESTS = Counter(
    "alert_dispatch_provider_requests",
    "Send requests to each Plivo account (primary, backup), by result.",
    ["provider", "result"],
)
BREAKER_TRANSITIONS = Counter(
    "alert_dispatch_breaker_transitions",
    "Circuit breaker of the primary Plivo account opening and closing.",
    ["provider", "state"],
)
LOOKUPS_DEFERRED = Counter(
    "alert_dispatch_lookups_deferred",
    "Look-ups at Plivo sent back to wait for their share of API requests (PLIVO_LOOKUPS_PER_5S).",
)
RECONCILED = Counter(
    "alert_dispatch_reconciled",
    "Sends of unknown outcome looked up at Plivo: found there, or resent.",
    ["result"],
)
REPLIES_WITHHELD = Counter(
    "alert_dispatch_replies_withheld",
    "Answers to inbound SMS not sent, by reason (unknown_number, or the reply limit that held it).",
    ["reason"],
)
PHONE_LINE_CALLS = Counter(
    "alert_dispatch_phone_line_calls",
    "Calls to the on-call phone line, once per call: caller known (a contact) or unknown.",
    ["caller"],
)


# Plivo's documented SMS ErrorCodes (only on undelivered and failed reports);
# "none" for a report without one (every delivered text).
PLIVO_SMS_ERROR_CODES = frozenset(
    {"10", "20", "30", "40", "50", "60", "70", "80", "90", "100", "110", "200", "201"}
    | {"420", "450", "451", "900", "1000"}
)
NO_ERROR_CODE = "none"
SMS_OUTCOMES = Counter(
    "alert_dispatch_sms_outcomes",
    "How texts ended, once per message, from its final delivery report: status (delivered, "
    "undelivered, failed) and Plivo's ErrorCode (none when delivered).",
    ["status", "error_code"],
)

# Histogram buckets in seconds, chosen for what pages on them: each has bounds
# at the thresholds alert rules compare with, and reaches past the longest wait
# that still means "working" (a rate-limited storm, a slow phone answer).
FIRST_PAGE_BUCKETS = (0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600)
DELIVERY_BUCKETS = (0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600)
ACK_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200)
LATENESS_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300)
PLIVO_REQUEST_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30)

TIME_TO_FIRST_PAGE = Histogram(
    "alert_dispatch_time_to_first_page_seconds",
    "From an alert accepted to the first SMS or call for it accepted by Plivo, once per alert.",
    ["severity"],
    buckets=FIRST_PAGE_BUCKETS,
)
DELIVERY_LATENCY = Histogram(
    "alert_dispatch_delivery_latency_seconds",
    "From a message or call accepted by Plivo to its delivered report (SMS) or its "
    "answer (voice), once per message or call.",
    ["channel"],
    buckets=DELIVERY_BUCKETS,
)
TIME_TO_ACK = Histogram(
    "alert_dispatch_time_to_ack_seconds",
    "From an alert accepted to its acknowledgement, by any way in.",
    ["severity"],
    buckets=ACK_BUCKETS,
)
STEP_LATENESS = Histogram(
    "alert_dispatch_escalation_step_lateness_seconds",
    "How long after it was due an escalation step fired (every step after the first).",
    buckets=LATENESS_BUCKETS,
)
PLIVO_REQUEST_TIME = Histogram(
    "alert_dispatch_plivo_request_seconds",
    "Plivo API requests, from sending to the answer read, by endpoint and result.",
    ["endpoint", "result"],
    buckets=PLIVO_REQUEST_BUCKETS,
)
NOTICE_SENDS_MISSED = Counter(
    "alert_dispatch_notice_sends_missed",
    "Notice sends found past their grace period (beat was down): never sent, by notice.",
    ["notice"],
)
NOTICE_SMS = Counter(
    "alert_dispatch_notice_sms",
    "Notice SMS by what became of them in a batch: handed_off, invalid, failed, retry, "
    "ambiguous, opted_out, reconciled (found at Plivo), resent (Plivo never had it).",
    ["result"],
)
NOTICE_CALLS = Counter(
    "alert_dispatch_notice_calls",
    "Notice calls by what became of them: placed, failed, retry, ambiguous, opted_out, "
    "reconciled (found at Plivo), resent (Plivo never had it); at hang-up answered, "
    "not_answered.",
    ["result"],
)
NOTICE_WHATSAPP = Counter(
    "alert_dispatch_notice_whatsapp",
    "Notice WhatsApp messages by what became of them: handed_off, failed, retry, ambiguous, "
    "opted_out, reconciled, resent; from their reports delivered, read, undelivered, "
    "delivery_failed.",
    ["result"],
)
PHLO_RUNS = Counter(
    "alert_dispatch_phlo_runs",
    "PHLO runs requested for notices: ok, failed, retry, ambiguous (answer lost: never run "
    "again), opted_out.",
    ["result"],
)
