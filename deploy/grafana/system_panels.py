"""The machinery side: is Plivo answering (Plivo), are the processes keeping up
(queues and workers), and are maintenance notices going out (notices)?

Gauges read at scrape time (queue depth, breaker, beat, limiter) come from
every receiver alike, so they are combined with `max`, never summed.
"""

from __future__ import annotations

from deploy.grafana.model import (
    Dashboard,
    Panel,
    Query,
    Row,
    in_last_hour,
    per_minute,
    quantile,
)

PLIVO = Dashboard(
    uid="alert-dispatch-plivo",
    title="alert-dispatch: Plivo",
    description="Is Plivo answering, how fast, and which account carries the pages?",
    rows=(
        Row(
            "API",
            (
                Panel(
                    "API latency p95 by endpoint",
                    "95th percentile of Plivo API answer time (5 min). Alerts above 1 s and 2 s.",
                    (Query("alert_dispatch:plivo_request_seconds:p95_5m", "{{endpoint}}"),),
                    unit="s",
                ),
                Panel(
                    "API latency p50 by endpoint",
                    "Median Plivo API answer time.",
                    (
                        Query(
                            quantile(0.5, "alert_dispatch_plivo_request_seconds", "endpoint"),
                            "{{endpoint}}",
                        ),
                    ),
                    unit="s",
                ),
                Panel(
                    "API requests / min",
                    "Requests to Plivo by endpoint and result (ok, rate_limited, client_error, "
                    "server_error, timeout, connection_error).",
                    (
                        Query(
                            per_minute(
                                "alert_dispatch_plivo_request_seconds_count", "endpoint, result"
                            ),
                            "{{endpoint}} {{result}}",
                        ),
                    ),
                ),
                Panel(
                    "Rate limited by Plivo (429) / min",
                    "Requests Plivo refused with 429: the account's API rate is exceeded and "
                    "sends slow down.",
                    (
                        Query(
                            per_minute(
                                "alert_dispatch_plivo_request_seconds_count",
                                "endpoint",
                                '{result="rate_limited"}',
                            ),
                            "{{endpoint}}",
                        ),
                    ),
                ),
            ),
        ),
        Row(
            "Accounts",
            (
                Panel(
                    "Requests per account by result / min",
                    "Sends to the primary and backup accounts, by result.",
                    (
                        Query(
                            per_minute(
                                "alert_dispatch_provider_requests_total", "provider, result"
                            ),
                            "{{provider}} {{result}}",
                        ),
                    ),
                ),
                Panel(
                    "Breaker state (primary account)",
                    "1 for the primary account's circuit breaker state now: open sends go to "
                    "the backup account.",
                    (
                        Query(
                            'max by (state) (alert_dispatch_breaker_state{provider="primary"})',
                            "{{state}}",
                        ),
                    ),
                    width=6,
                ),
                Panel(
                    "Backup account share of sends",
                    "Share of send requests that went to the backup account (5 min).",
                    (
                        Query(
                            "(sum(rate(alert_dispatch_provider_requests_total"
                            '{provider="backup"}[5m])) or vector(0))'
                            " / sum(rate(alert_dispatch_provider_requests_total[5m]))",
                            "backup",
                        ),
                    ),
                    unit="percentunit",
                    kind="stat",
                    width=6,
                ),
            ),
        ),
    ),
)

QUEUES = Dashboard(
    uid="alert-dispatch-queues",
    title="alert-dispatch: queues and workers",
    description="Are the receiver, workers and beat up, and is work waiting?",
    rows=(
        Row(
            "Queues",
            (
                Panel(
                    "Tasks waiting by queue",
                    "Messages waiting in each Celery queue, all priorities.",
                    (Query("max by (queue) (alert_dispatch_queue_depth)", "{{queue}}"),),
                ),
                Panel(
                    "Oldest task age by queue",
                    "How long the oldest waiting message of each queue has waited. Alerts "
                    "above 60 s.",
                    (
                        Query(
                            "max by (queue) (alert_dispatch_queue_oldest_task_age_seconds)",
                            "{{queue}}",
                        ),
                    ),
                    unit="s",
                ),
            ),
        ),
        Row(
            "Processes",
            (
                Panel(
                    "Scrape targets up",
                    "1 for each receiver and worker host answering Prometheus.",
                    (
                        Query(
                            'up{job=~"alert-dispatch|alert-dispatch-worker"}',
                            "{{job}} {{instance}}",
                        ),
                    ),
                ),
                Panel(
                    "Since the beat last ticked",
                    "Seconds since the leading beat's last tick (every second when healthy). "
                    "Alerts above 30 s.",
                    (
                        Query(
                            "time() - max(alert_dispatch_beat_last_tick_timestamp_seconds)",
                            "seconds",
                        ),
                    ),
                    unit="s",
                    kind="stat",
                    width=6,
                ),
                Panel(
                    "Beat leader",
                    "1 while a beat holds the leader lock and sends the schedule.",
                    (Query("max(alert_dispatch_beat_leader)", "leader"),),
                    kind="stat",
                    width=6,
                ),
            ),
        ),
        Row(
            "Rate limits",
            (
                Panel(
                    "Rate limiter delay by limit",
                    "How long a send would wait now for a slot of each limit.",
                    (
                        Query(
                            "max by (limit) (alert_dispatch_limiter_delay_seconds)",
                            "{{limit}}",
                        ),
                    ),
                    unit="s",
                    width=8,
                ),
                Panel(
                    "Most recent rate-limit wait",
                    "The last wait a rate limit imposed on a send (largest across processes).",
                    (Query("max(alert_dispatch_send_delay_seconds)", "wait"),),
                    unit="s",
                    width=8,
                ),
                Panel(
                    "Sends delayed / min by limit",
                    "Sends rescheduled to wait for a rate-limit slot.",
                    (
                        Query(
                            per_minute("alert_dispatch_sends_delayed_total", "limit"), "{{limit}}"
                        ),
                    ),
                    width=8,
                ),
            ),
        ),
    ),
)

NOTICES = Dashboard(
    uid="alert-dispatch-notices",
    title="alert-dispatch: notices",
    description="Are maintenance notices going out, and did any send miss its time?",
    rows=(
        Row(
            "Notices",
            (
                Panel(
                    "Notice deliveries by state",
                    "Messages of each maintenance notice, by delivery state now.",
                    (
                        Query(
                            "max by (notice, state) (alert_dispatch_notice_deliveries)",
                            "{{notice}} {{state}}",
                        ),
                    ),
                ),
                Panel(
                    "Notice texts / min by result",
                    "Notice SMS in batches: handed off to Plivo, opted out, invalid, failed, "
                    "retried, or settled after an ambiguous answer.",
                    (Query(per_minute("alert_dispatch_notice_sms_total", "result"), "{{result}}"),),
                ),
                Panel(
                    "Notice sends missed (1h)",
                    "Reminders of a notice that could not go out in time, in the last hour.",
                    (
                        Query(
                            in_last_hour("alert_dispatch_notice_sends_missed_total", "notice"),
                            "{{notice}}",
                        ),
                    ),
                ),
            ),
        ),
    ),
)
