"""Benchmark of issue 12: a maintenance notice to 10,000 numbers at 500 SMS/s.

`python -m bench.notices [--recipients 10000] [--rate 500]` runs, in one
invocation and one after the other (never side by side: two cores):

1. The engine, delivery reports off: the whole system as real processes
   (`cli.stack.Stack`: embedded Redis, receiver, a worker of `-c 4` as in the
   Procfile, beat; the simulator is `bench.notice_simulator`, Plivo's API
   limit of 300 requests per 5 s, the account at `--rate`). A notice whose
   audience is a CSV subscriber list in the on-call file falls due; beat
   sends it. Halfway through, a critical page is posted to /api/v1/alerts.
2. The engine again, delivery reports on, to other numbers: every SMS comes
   back as a signed callback through the receiver (`--no-reports-run` skips it).
3. The baseline (bench.notice_baseline): one Celery task per SMS, paced by
   Celery's `rate_limit` at the same rate, against the same simulator.

Measured where Plivo would measure it, the simulator's request log: due
moment to the last accepted request (goal: at least 80% of the rate, 25 s for
10,000 at 500/s), destinations per request (<= 1,000), SMS in any one-second
window (<= the rate), API requests in any 5 s (<= 300, none refused), the
page's time to its Plivo request (goal <= 1 s), and the largest worker
process's resident memory. Results go to bench/results/notices.md. The exit
status is 0 only when the first run meets every goal.
"""

from __future__ import annotations

import argparse
import shlex
import signal
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.common import AlertPoster, bench_directory, destinations, digits, get_json
from bench.notice_baseline_run import BaselinePlan, BaselineRun, run_baseline
from bench.notice_figures import (
    EngineRun,
    Page,
    all_met,
    api_times,
    goal_checks,
    measure,
    message_requests,
    notice_position,
    page_arrival,
)
from bench.notice_processes import NoticeStack, RssSampler
from bench.notice_report import RESULTS_FILE, Runs, render
from cli.stack import StackConfig
from shared.core.db import session_scope
from shared.notices.progress import delivery_counts, summarize

SENDER = "+14155550000"
PAGES = ("+16285550099", "+16285550098")  # one per run of the engine
TITLE = "Database upgrade"
TEMPLATE = "{title} starts {start} for {duration}."
TEXT = "Database upgrade starts soon for 1h."  # the baseline's words: same length class
LEAD_S = 4.0  # from writing the file to the due moment: beat and workers read it anew
STACK_CONCURRENCY = 4  # the Procfile's `worker -c 4`
POLL_S = 1.0
HALFWAY_POLL_S = 0.25  # counting 10,000 rows costs CPU the notice needs: not too often


@dataclass(frozen=True)
class Options:
    recipients: int
    rate: float
    reports_run: bool
    baseline: bool
    deadline_s: float
    reports_deadline_s: float
    baseline_deadline_s: float
    workdir: Path | None
    output: Path


def parse_args(argv: Sequence[str] | None) -> Options:
    parser = argparse.ArgumentParser(
        prog="python -m bench.notices",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--recipients", type=int, default=10_000)
    parser.add_argument("--rate", type=float, default=500.0, help="account SMS/s")
    parser.add_argument("--no-reports-run", action="store_true", help="skip the reports-on run")
    parser.add_argument("--no-baseline", action="store_true", help="skip the Celery baseline")
    parser.add_argument("--deadline", type=float, default=120.0, help="s, reports-off run")
    parser.add_argument("--reports-deadline", type=float, default=300.0, help="s, reports on")
    parser.add_argument("--baseline-deadline", type=float, default=300.0, help="s")
    parser.add_argument("--workdir", type=Path, default=None, help="keep data and logs here")
    parser.add_argument("--output", type=Path, default=RESULTS_FILE)
    args = parser.parse_args(argv)
    if args.recipients < 2 or args.rate <= 0:
        parser.error("--recipients must be at least 2 and --rate positive")
    return Options(
        args.recipients,
        args.rate,
        not args.no_reports_run,
        not args.no_baseline,
        args.deadline,
        args.reports_deadline,
        args.baseline_deadline,
        args.workdir,
        args.output,
    )


def oncall(name: str, csv_name: str, due: datetime) -> str:
    """An on-call file with one notice, due at `due` (UTC), to the CSV list `csv_name`."""
    return f"""
contacts:
  ops: {{phone: "+16285550090"}}
policies:
  p:
    steps:
      - {{targets: [ops], channels: [sms], wait: 5m}}
default_policy: p
subscriber_lists:
  {name}: {{csv: {csv_name}}}
notices:
  {name}:
    title: {TITLE}
    window: {{start: "{due:%Y-%m-%d %H:%M:%S}", duration: 1h, time_zone: UTC}}
    reminders: [start]
    audience: {{lists: [{name}]}}
    templates: {{sms: "{TEMPLATE}"}}
"""


@dataclass(frozen=True)
class EngineRunPlan:
    name: str
    numbers: list[str]  # E.164
    page_number: str
    reports: bool
    deadline_s: float


def _progress(database_url: str, name: str, rate: float) -> tuple[int, int, int]:
    """(rows, still to hand over, delivered) of the notice's sends."""
    with session_scope(database_url) as session:
        counts = delivery_counts(session, notice=name)
    progress = summarize(counts, rate, datetime.now(UTC))
    return progress.total, progress.remaining, progress.by_state["delivered"]


def _wait_halfway(stack: NoticeStack, plan: EngineRunPlan, rate: float, until: float) -> None:
    """Until half the recipients are handed over: the middle of the notice."""
    half = len(plan.numbers) // 2
    while time.time() < until:
        total, remaining, _ = _progress(stack.database_url, plan.name, rate)
        if total == len(plan.numbers) and remaining <= half:
            return
        time.sleep(HALFWAY_POLL_S)


def _wait_done(stack: NoticeStack, plan: EngineRunPlan, rate: float, until: float) -> bool:
    while time.time() < until:
        total, remaining, _ = _progress(stack.database_url, plan.name, rate)
        if total == len(plan.numbers) and remaining == 0:
            return True
        time.sleep(POLL_S)
    return False


def _wait_delivered(
    stack: NoticeStack, plan: EngineRunPlan, rate: float, until: float
) -> tuple[float | None, int]:
    """(when every delivery report was applied, or None at the deadline; how many were)."""
    delivered = 0
    while time.time() < until:
        delivered = _progress(stack.database_url, plan.name, rate)[2]
        if delivered >= len(plan.numbers):
            return time.time(), delivered
        time.sleep(POLL_S)
    print(f"{plan.name}: {delivered} delivery reports applied by the deadline", flush=True)
    return None, delivered


def run_engine(stack: NoticeStack, plan: EngineRunPlan, options: Options, data: Path) -> EngineRun:
    """One notice through the running stack; the page posted halfway through."""
    csv_name = f"{plan.name}.csv"
    (data / csv_name).write_text("phone\n" + "\n".join(plan.numbers) + "\n")
    due = (datetime.now(UTC) + timedelta(seconds=LEAD_S + 1)).replace(microsecond=0)
    (data / "oncall.yaml").write_text(oncall(plan.name, csv_name, due))
    due_at = due.timestamp()
    delivered_at, delivered = None, None
    until = due_at + plan.deadline_s
    with RssSampler(stack.processes["worker1"].pid) as rss:
        _wait_halfway(stack, plan, options.rate, until)
        with AlertPoster(stack.web_url, stack.config.api_token) as poster:
            posted = time.time()
            poster.post(plan.page_number, f"db1 down during {plan.name}")
        if not _wait_done(stack, plan, options.rate, until):
            print(f"{plan.name}: not every SMS handed over within the deadline", flush=True)
        if plan.reports:
            delivered_at, delivered = _wait_delivered(stack, plan, options.rate, until)
    time.sleep(1.0)  # the last answers reach the log
    entries = get_json(f"{stack.simulator_url}/_sim/requests", timeout=60)
    sms = message_requests(entries)
    recipients = [digits(n) for n in plan.numbers]
    reached = page_arrival(sms, digits(plan.page_number))
    position = None if reached is None else notice_position(sms, recipients, reached)
    label = "alert-dispatch notice" + (", reports on" if plan.reports else "")
    figures = measure(
        label,
        sms,
        recipients=recipients,
        rate=options.rate,
        due_at=due_at,
        api_accepted=api_times(entries, accepted=True),
        rejected=len(api_times(entries, accepted=False)),
        page=Page(posted, reached, position),
        rss=rss.peak,
    )
    return EngineRun(figures, None if delivered_at is None else delivered_at - due_at, delivered)


def _stack(data: Path, options: Options, quiet: Path) -> NoticeStack:
    rate = f"{options.rate:g}"
    config = StackConfig(
        data_dir=data,
        worker_concurrency=STACK_CONCURRENCY,
        with_beat=True,
        extra_env={
            "CONFIG_FILE": str(data / "oncall.yaml"),
            "SMS_PER_SECOND": rate,
            "SENDER_SMS_PER_SECOND": rate,
            "PLIVO_FROM": SENDER,
            "BUNDLE_WINDOW_S": "0",  # the page goes at once, not after a bundling window
        },
    )
    return NoticeStack(config, sms_per_second=options.rate, quiet_numbers=quiet)


def run_all(options: Options, data: Path) -> Runs:
    numbers = destinations(options.recipients * 2)
    quiet, loud = numbers[: options.recipients], numbers[options.recipients :]
    quiet_file = data / "quiet-numbers.txt"
    quiet_file.write_text("\n".join(digits(n) for n in quiet) + "\n")
    (data / "oncall.yaml").write_text(oncall("warmup", "warmup.csv", datetime(2099, 1, 1)))
    (data / "warmup.csv").write_text("phone\n+16285550091\n")
    stack = _stack(data, options, quiet_file)
    baseline: BaselineRun | None = None
    reports: EngineRun | None = None
    with stack:
        stack.wait_for_workers(timeout=90)
        print(f"stack up; logs in {stack.logs_dir}", flush=True)
        plan = EngineRunPlan("notice", quiet, PAGES[0], False, options.deadline_s)
        ours = run_engine(stack, plan, options, data)
        print(f"engine, reports off: {ours.figures}", flush=True)
        if options.reports_run:
            plan = EngineRunPlan("notice-reports", loud, PAGES[1], True, options.reports_deadline_s)
            reports = run_engine(stack, plan, options, data)
            print(f"engine, reports on: {reports.figures}", flush=True)
        if options.baseline:
            stack.kill("beat", signal.SIGTERM)
            stack.kill("worker1", signal.SIGTERM)
            plan_b = BaselinePlan(
                quiet,
                PAGES[0],
                SENDER,
                TEXT,
                options.rate,
                STACK_CONCURRENCY,
                options.baseline_deadline_s,
            )
            baseline = run_baseline(stack, plan_b, data / "logs")
            print(f"baseline: {baseline.figures}", flush=True)
    return Runs(ours, baseline, reports)


def main(argv: Sequence[str] | None = None) -> int:
    options = parse_args(argv)
    command = shlex.join(
        ["python", "-m", "bench.notices", *(sys.argv[1:] if argv is None else argv)]
    )
    started = datetime.now(UTC)
    with bench_directory(options.workdir, "bench-notices-") as data:
        runs = run_all(options, data)
    text = render(runs, command=command, started=started)
    options.output.parent.mkdir(parents=True, exist_ok=True)
    options.output.write_text(text)
    print(text)
    return 0 if all_met(goal_checks(runs.ours.figures)) else 1


if __name__ == "__main__":
    sys.exit(main())
