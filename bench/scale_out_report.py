"""The results file of the scale-out drill (bench.scale_out): a table row per broker,
and the setup and settings the figures were taken with."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from bench.common import machine, source_state
from bench.scale_out import Outcome
from bench.scale_out_system import IDLE_IN_TRANSACTION_MS

COLUMNS = (
    "broker",
    "pages",
    "share of the limit (both hosts up)",
    "1 s windows over the limit (fixed / sliding)",
    "highest window",
    "beat takeover",
    "host killed: takeover / last page after",
    "storm lost / twice",
    "steps lost / twice",
    "result",
)


def table_row(o: Outcome) -> list[str]:
    d = o.drill
    storm = o.before_kill
    share = f"{o.rate_share:.1%} ({storm.rate:.2f}/s of {d.rate:g}/s)" if storm else "-"
    return [
        o.broker,
        f"{d.alerts} + {d.chains} x {d.steps} steps",
        share,
        f"{o.windows_over[0]} / {o.windows_over[1]}",
        f"{o.highest_window[0]} / {o.highest_window[1]}",
        f"{fmt_s(o.beat_takeover_s)} ({o.beat_killed_on} killed)",
        f"{o.host_killed}: {fmt_s(o.host_takeover_s)} / {fmt_s(o.last_page_after_kill_s)}",
        f"{o.storm_lost} / {o.storm_twice}",
        f"{o.steps_lost} / {o.steps_twice}",
        "pass" if o.passed else f"**FAIL**{f' ({o.error})' if o.error else ''}",
    ]


def fmt_s(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds:.1f} s"


def render(outcomes: Sequence[Outcome], command: str, load: str) -> str:
    lines = [
        "# Scale-out drill (issue 14): two hosts, one limit, one beat, a host lost",
        "",
        f"- date: {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}",
        f"- machine: {machine()}; load average at start {load}",
        f"- command: `{command}`",
        f"- source: {source_state()}",
        "- setup: two hosts and the receiver's host as network namespaces joined to this "
        "machine by veth pairs; each host runs `alert-dispatch worker -c N` and "
        "`alert-dispatch beat`; PostgreSQL and RabbitMQ reached through relays on the "
        "links, Redis and the Plivo simulator on the lab's service address; one account "
        "limit for both hosts",
        "- storm: alerts paging one number each plus escalation chains (one number per "
        "step, nobody acknowledging), all posted at once; the leading beat SIGKILLed right "
        "after, then (once part of the storm is out) a whole host: link cut, every process "
        "SIGKILLed",
        "- counted at the simulator; windows are half-open `[t, t + 1 s)`; the share of the "
        "limit is (n - 1) / (last - first) over the sends while both hosts ran",
        *settings_lines(outcomes),
        "",
        "| " + " | ".join(COLUMNS) + " |",
        "|" + "|".join("---" for _ in COLUMNS) + "|",
    ]
    lines += ["| " + " | ".join(table_row(o)) + " |" for o in outcomes]
    lines.append("")
    for o in outcomes:
        phases = ", ".join(f"{name} {seconds:.0f} s" for name, seconds in o.phases.items())
        waited = (
            f"; some task waited for a CPU {o.cpu_wait_share:.0%} of the drill"
            if o.cpu_wait_share is not None
            else ""
        )
        lines.append(f"- {o.broker}: took {o.took_s:.0f} s ({phases}){waited}")
    return "\n".join(lines) + "\n"


def settings_lines(outcomes: Sequence[Outcome]) -> list[str]:
    if not outcomes:
        return []
    d = outcomes[0].drill
    return [
        f"- settings: worker -c {d.worker_concurrency} per host; "
        f"SMS_PER_SECOND = SENDER_SMS_PER_SECOND = {d.rate:g}, REQUEUE_LOST_AFTER_S "
        f"{d.requeue_lost_after_s:g} s, PLIVO_CONNECT_TIMEOUT / PLIVO_READ_TIMEOUT 1 / 2 s, "
        "RECONCILE_GRACE_S 2 s, BUNDLE_WINDOW_S 0, steps "
        f"{d.step_wait_s} s apart; PostgreSQL idle_in_transaction_session_timeout "
        f"{IDLE_IN_TRANSACTION_MS // 1000} s (README: Production layout); the killed host "
        f"goes once {d.kill_at:.0%} of the storm's numbers were messaged"
    ]
