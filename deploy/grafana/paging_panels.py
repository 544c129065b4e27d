"""The people side: are alerts paged and acknowledged in time (paging health), and
do texts and calls reach people (delivery)?

Live gauges are read by every receiver from the same database, so they are
combined with `max`, never summed. The delivery and answer rates are the
recording rules of deploy/prometheus/rules/plivo.yml: what a panel shows is
what the alert rule compares.
"""

from __future__ import annotations

from deploy.grafana.model import (
    Dashboard,
    Panel,
    Query,
    Row,
    in_last_hour,
    p50_p95,
    per_minute,
)

PAGING = Dashboard(
    uid="alert-dispatch-paging",
    title="alert-dispatch: paging health",
    description="Are alerts accepted, paged, escalated and acknowledged in time?",
    rows=(
        Row(
            "How fast",
            (
                Panel(
                    "Time to first page",
                    "From an alert accepted to the first SMS or call for it accepted by Plivo.",
                    p50_p95(
                        "alert_dispatch_time_to_first_page_seconds", "severity", "{{severity}}"
                    ),
                    unit="s",
                ),
                Panel(
                    "Time to acknowledge",
                    "From an alert accepted to its acknowledgement, by any way in.",
                    p50_p95("alert_dispatch_time_to_ack_seconds", "severity", "{{severity}}"),
                    unit="s",
                ),
                Panel(
                    "Escalation step lateness",
                    "How long after it was due each escalation step fired (beat and workers "
                    "keeping up).",
                    p50_p95("alert_dispatch_escalation_step_lateness_seconds"),
                    unit="s",
                ),
                Panel(
                    "Alerts accepted / min",
                    "Alert events stored, by the way they came in and what they did.",
                    (
                        Query(
                            per_minute("alert_dispatch_alerts_accepted_total", "source, outcome"),
                            "{{source}} {{outcome}}",
                        ),
                    ),
                ),
            ),
        ),
        Row(
            "Chains",
            (
                Panel(
                    "Open alerts",
                    "Alerts triggered or acknowledged now, by severity and status.",
                    (
                        Query(
                            "max by (severity, status) (alert_dispatch_open_alerts)",
                            "{{severity}} {{status}}",
                        ),
                    ),
                ),
                Panel(
                    "Chains in flight",
                    "Alerts whose escalation chain is paging now.",
                    (Query("max(alert_dispatch_chains_in_flight)", "chains"),),
                    kind="stat",
                    width=6,
                ),
                Panel(
                    "Escalation steps / min",
                    "Escalation steps fired, by policy.",
                    (
                        Query(
                            per_minute("alert_dispatch_escalation_steps_total", "policy"),
                            "{{policy}}",
                        ),
                    ),
                    width=6,
                ),
                Panel(
                    "Acknowledged and resolved (1h)",
                    "Alerts acknowledged or resolved in the last hour, by action and channel.",
                    (
                        Query(
                            in_last_hour("alert_dispatch_alert_actions_total", "action, via"),
                            "{{action}} via {{via}}",
                        ),
                    ),
                ),
            ),
        ),
        Row(
            "Reached nobody",
            (
                Panel(
                    "Chains exhausted (1h)",
                    "Alerts whose whole chain ran out without an acknowledgement, by policy.",
                    (
                        Query(
                            in_last_hour("alert_dispatch_escalations_exhausted_total", "policy"),
                            "{{policy}}",
                        ),
                    ),
                    width=6,
                ),
                Panel(
                    "Alerts unrouted (1h)",
                    "Alerts no route matched and no recipient was given for: nobody was paged.",
                    (Query(in_last_hour("alert_dispatch_alerts_unrouted_total"), "unrouted"),),
                    kind="stat",
                    width=6,
                ),
                Panel(
                    "Opted-out numbers",
                    "Numbers that replied STOP and get no SMS pages.",
                    (Query("max(alert_dispatch_opted_out_numbers)", "opted out"),),
                    kind="stat",
                    width=6,
                ),
                Panel(
                    "SMS pages skipped, opted out (1h)",
                    "Texts not sent because the on-call number had opted out.",
                    (Query(in_last_hour("alert_dispatch_opted_out_skips_total"), "skipped"),),
                    kind="stat",
                    width=6,
                ),
            ),
        ),
    ),
)

FAILED_TEXTS = 'status=~"undelivered|failed"'

DELIVERY = Dashboard(
    uid="alert-dispatch-delivery",
    title="alert-dispatch: delivery",
    description="Do texts and calls reach people, and how quickly?",
    rows=(
        Row(
            "Rates",
            (
                Panel(
                    "SMS delivery rate",
                    "Texts delivered among those that ended (5 min). Alerts below 98% and 95%.",
                    (Query("alert_dispatch:sms_delivery_ratio:rate5m", "delivered"),),
                    unit="percentunit",
                    kind="stat",
                    width=6,
                ),
                Panel(
                    "Voice answer rate",
                    "Calls answered among those that ended (5 min). Alerts below 95% and 90%.",
                    (Query("alert_dispatch:voice_answer_ratio:rate5m", "answered"),),
                    unit="percentunit",
                    kind="stat",
                    width=6,
                ),
                Panel(
                    "Delivery latency",
                    "From Plivo accepting a text or call to its delivered report or answer.",
                    p50_p95("alert_dispatch_delivery_latency_seconds", "channel", "{{channel}}"),
                    unit="s",
                ),
            ),
        ),
        Row(
            "Error codes",
            (
                Panel(
                    "SMS outcomes by error code / min",
                    "How texts ended, with Plivo's ErrorCode (30 spam filter, 40 and 200 sender "
                    "blocked or unregistered, 900 balance; none when delivered).",
                    (
                        Query(
                            per_minute("alert_dispatch_sms_outcomes_total", "status, error_code"),
                            "{{status}} {{error_code}}",
                        ),
                    ),
                ),
                Panel(
                    "Calls by hang-up status / min",
                    "How calls ended: Plivo's CallStatus (completed = answered) and what it did.",
                    (
                        Query(
                            per_minute("alert_dispatch_call_outcomes_total", "status, outcome"),
                            "{{status}} {{outcome}}",
                        ),
                    ),
                ),
                Panel(
                    "Failed texts vs a day before (1h)",
                    "Texts undelivered or failed in the last hour and in the same hour a day "
                    "before (0 when none was recorded). Alerts at twice the baseline.",
                    (
                        Query(
                            in_last_hour(
                                "alert_dispatch_sms_outcomes_total", "", f"{{{FAILED_TEXTS}}}"
                            ),
                            "last hour",
                        ),
                        Query(
                            f"sum(increase(alert_dispatch_sms_outcomes_total{{{FAILED_TEXTS}}}[1h] "
                            "offset 1d)) or vector(0)",
                            "a day before",
                        ),
                    ),
                ),
            ),
        ),
        Row(
            "Traffic",
            (
                Panel(
                    "SMS sends / min",
                    "Send attempts to Plivo, by result.",
                    (Query(per_minute("alert_dispatch_sms_sent_total", "result"), "{{result}}"),),
                    width=8,
                ),
                Panel(
                    "Calls placed / min",
                    "Call attempts to Plivo, by result.",
                    (
                        Query(
                            per_minute("alert_dispatch_calls_placed_total", "result"), "{{result}}"
                        ),
                    ),
                    width=8,
                ),
                Panel(
                    "Delivery reports / min",
                    "Plivo's SMS status callbacks, by status and what applying them did.",
                    (
                        Query(
                            per_minute("alert_dispatch_delivery_reports_total", "status, outcome"),
                            "{{status}} {{outcome}}",
                        ),
                    ),
                    width=8,
                ),
                Panel(
                    "SMS replies / min",
                    "Inbound texts, by what they asked for (ack, escalate, stop, ...).",
                    (
                        Query(
                            per_minute("alert_dispatch_sms_replies_total", "action"), "{{action}}"
                        ),
                    ),
                ),
            ),
        ),
    ),
)
