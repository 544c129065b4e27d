"""Scale-out drill of issue 14: two hosts, one rate limit, one beat, a host lost mid-storm.

`python -m bench scale_out` (or `python -m bench.scale_out [--alerts N] [--chains K]
[--broker redis|rabbitmq]`), as root, builds two hosts and a receiver's host out
of network namespaces (bench.netns, bench.scale_out_system), each host with its
own worker and beat, and runs on each broker in turn:

one storm: `--chains` alerts routed to escalation policies of `--steps` steps
(each step paging a number of its own, nobody acknowledging) and `--alerts`
alerts paging one number each, all posted at once against one account limit
that both hosts share.

1. Right after the posts, the leading beat is SIGKILLed: the other host's beat
   must take over, and the killed one comes back as a standby.
2. Once part of the storm is out (`--kill-at`), the host whose beat then leads
   is killed whole: its link cut, then every process of it SIGKILLed. The
   other host must finish the storm and every chain.

Counted at the simulator: one-second windows over the limit (fixed and
sliding) over the whole run; the share of the limit used while both hosts
ran (from the first send to the kill, with a backlog waiting throughout);
every storm number and every step's number messaged exactly once.

Results go to bench/results/scale_out.md (bench.scale_out_report). The in-suite test
(tests/integration/test_two_hosts.py) runs the same drill with fewer alerts.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
import traceback
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import requests

from bench.chaos import db_view
from bench.common import (
    RESULTS_DIR,
    AlertPoster,
    bench_directory,
    destinations,
    digits,
)
from bench.cpu_use import cpu_wait_share
from bench.netns import Lab, LabUnavailable
from bench.rate_limit import (
    MIN_RATE_SHARE,
    Summary,
    fixed_window_counts,
    message_sends,
    sliding_window_counts,
    summarize,
)
from bench.scale_out_system import (
    API_TOKEN,
    BROKERS,
    HOSTS,
    Options,
    TwoHosts,
    pg_url_default,
    unavailable,
)
from worker.beat_leader import LOCK_TTL_S

RESULTS_FILE = RESULTS_DIR / "scale_out.md"
POLL_S = 0.5
SETTLE_S = 3.0
POSTERS = 4


@dataclass(frozen=True)
class Drill:
    """The sizes and pace of one run."""

    alerts: int = 300
    chains: int = 40
    steps: int = 3
    step_wait_s: int = 3
    rate: float = 5.0  # Plivo's default SMS limit of an account
    worker_concurrency: int = 4  # as in the Procfile
    kill_at: float = 0.5  # share of the storm's numbers messaged when the host is killed
    # The killed beat comes back as a standby, and the host killed is the one whose
    # beat then leads (a second takeover). Without: the host of the killed beat goes.
    beat_back: bool = True
    requeue_lost_after_s: float = 20.0
    patience_s: float = 300.0


@dataclass
class Outcome:
    """One broker's figures."""

    broker: str
    drill: Drill
    before_kill: Summary | None = None  # every send while both hosts ran
    windows_over: tuple[int, int] = (-1, -1)  # fixed, sliding: the whole run
    highest_window: tuple[int, int] = (0, 0)
    beat_killed_on: str = ""
    beat_takeover_s: float | None = None
    host_killed: str = ""
    host_takeover_s: float | None = None
    storm_lost: int = -1
    storm_twice: int = -1
    steps_lost: int = -1
    steps_twice: int = -1
    last_page_after_kill_s: float | None = None
    took_s: float = 0.0
    phases: dict[str, float] = field(default_factory=dict)  # seconds each part took
    cpu_wait_share: float | None = None  # of the drill's time, some task waited for a CPU
    error: str | None = None

    @property
    def rate_share(self) -> float:
        return self.before_kill.rate_share if self.before_kill else 0.0

    @property
    def passed(self) -> bool:
        return (
            self.error is None
            and self.windows_over == (0, 0)
            and self.rate_share >= MIN_RATE_SHARE
            and self.beat_takeover_s is not None
            and self.host_takeover_s is not None
            and self.storm_lost == self.storm_twice == self.steps_lost == self.steps_twice == 0
        )


def chains_config(numbers: Sequence[Sequence[str]], wait_s: int) -> str:
    """One policy per chain, one contact (its own number) per step; label chain=<i>."""
    lines = ["contacts:"]
    for i, chain in enumerate(numbers):
        lines += [f'  c{i}s{j}: {{phone: "{n}", channels: [sms]}}' for j, n in enumerate(chain)]
    lines.append("policies:")
    for i, chain in enumerate(numbers):
        lines.append(f"  chain{i}:\n    steps:")
        lines += [
            f"      - {{targets: [c{i}s{j}], channels: [sms], wait: {wait_s}}}"
            for j in range(len(chain))
        ]
    lines.append("routes:")
    route = '  - {{match: {{labels: {{chain: "{i}"}}}}, policy: chain{i}}}'
    lines += [route.format(i=i) for i in range(len(numbers))]
    lines.append("default_policy: chain0")
    return "\n".join(lines) + "\n"


def messaged(system: TwoHosts) -> Counter[str]:
    """Messages per number (digits) at the simulator."""
    try:
        return Counter(digits(str(m.get("dst", ""))) for m in system.messages())
    except requests.RequestException:
        return Counter()


def wait_until(predicate: Callable[[], bool], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(POLL_S)
    return False


def wait_for_leader(system: TwoHosts, not_on: str, timeout_s: float) -> float | None:
    """Seconds until a beat of another host than `not_on` leads; None if none did."""
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        leader = system.leader()
        if leader and leader != not_on:
            return time.monotonic() - started
        time.sleep(0.1)
    return None


def post_storm(system: TwoHosts, chains: int, numbers: Sequence[str]) -> None:
    """The chains' alerts, then one alert per number, from four threads at once."""

    def post_chain(i: int) -> None:
        body = {"summary": f"chain {i}", "severity": "critical", "labels": {"chain": str(i)}}
        headers = {"Authorization": f"Bearer {API_TOKEN}"}
        url = f"{system.receiver_url}/api/v1/alerts"
        requests.post(url, json=body, headers=headers, timeout=30).raise_for_status()

    def post_numbers(part: Sequence[str]) -> None:
        with AlertPoster(system.receiver_url, API_TOKEN, timeout=30) as poster:
            for number in part:
                poster.post(number, "scale-out storm")

    with ThreadPoolExecutor(POSTERS) as pool:
        list(pool.map(post_chain, range(chains)))
        list(pool.map(post_numbers, [numbers[i::POSTERS] for i in range(POSTERS)]))


def kill_leading_beat(system: TwoHosts, outcome: Outcome, drill: Drill) -> None:
    """SIGKILL the beat that leads; the other host's must lead within the lock's TTL."""
    leader = system.leader() or HOSTS[0]
    outcome.beat_killed_on = leader
    system.kill(leader, "beat")
    outcome.beat_takeover_s = wait_for_leader(system, leader, LOCK_TTL_S + 10)
    if drill.beat_back:
        system.start_beat(leader)  # back, as a standby


def kill_a_host(system: TwoHosts, storm: Sequence[str], outcome: Outcome, drill: Drill) -> float:
    """Once `kill_at` of the storm is out, a host goes whole (Drill.beat_back says which)."""
    wanted = {digits(n) for n in storm}
    wait_until(
        lambda: len(wanted & set(messaged(system))) >= drill.kill_at * len(wanted),
        drill.patience_s,
    )
    victim = (system.leader() or HOSTS[0]) if drill.beat_back else outcome.beat_killed_on
    outcome.host_killed = victim
    killed_at = time.time()
    system.kill_host(victim)
    outcome.host_takeover_s = wait_for_leader(system, victim, LOCK_TTL_S + 10)
    return killed_at


def wait_quiet(system: TwoHosts, timeout_s: float) -> None:
    """Until no notification may still move by itself (pending, sending, unknown)."""
    open_states = ("pending", "sending", "unknown")
    wait_until(
        lambda: not any(db_view(system.database_url).states[s] for s in open_states), timeout_s
    )


def count(
    outcome: Outcome,
    system: TwoHosts,
    storm: Sequence[str],
    steps: Sequence[str],
    killed_at: float,
) -> None:
    """Every figure of the run, from the simulator's log."""
    limit = outcome.drill.rate
    requests_seen = system.api_requests()
    (system.options.workdir / "requests.json").write_text(json.dumps(requests_seen))
    sends = message_sends(requests_seen)
    times = [s.at for s in sends]
    fixed, sliding = fixed_window_counts(times), sliding_window_counts(times)
    outcome.windows_over = (sum(c > limit for c in fixed), sum(c > limit for c in sliding))
    outcome.highest_window = (max(fixed, default=0), max(sliding, default=0))
    before = [s for s in sends if s.at < killed_at]
    outcome.before_kill = summarize("both hosts", limit, [], before, completed=True)
    per_number = messaged(system)
    outcome.storm_lost, outcome.storm_twice = lost_and_twice(storm, per_number)
    outcome.steps_lost, outcome.steps_twice = lost_and_twice(steps, per_number)
    last = max((s.at for s in sends), default=killed_at)
    outcome.last_page_after_kill_s = last - killed_at


def lost_and_twice(numbers: Sequence[str], per_number: Counter[str]) -> tuple[int, int]:
    """Numbers never messaged; messages beyond the first to a number."""
    wanted = [digits(n) for n in numbers]
    lost = sum(1 for n in wanted if per_number[n] == 0)
    return lost, sum(per_number[n] - 1 for n in wanted if per_number[n] > 1)


def run_drill(lab: Lab, broker: str, workdir: Path, drill: Drill) -> Outcome:
    """The drill on a fresh two-host system on `broker` (the module docstring)."""
    started = time.monotonic()
    outcome = Outcome(broker, drill)
    every = destinations(drill.alerts + drill.chains * drill.steps)
    storm, steps = every[: drill.alerts], every[drill.alerts :]
    chain_numbers = [steps[i * drill.steps : (i + 1) * drill.steps] for i in range(drill.chains)]
    options = Options(
        broker,
        workdir,
        rate=drill.rate,
        worker_concurrency=drill.worker_concurrency,
        config_text=chains_config(chain_numbers, drill.step_wait_s),
        requeue_lost_after_s=drill.requeue_lost_after_s,
    )
    system = TwoHosts(lab, options)
    with system, cpu_wait_share() as waited:
        mark = lap(outcome, "start", started)
        post_storm(system, drill.chains, storm)
        kill_leading_beat(system, outcome, drill)
        killed_at = kill_a_host(system, storm, outcome, drill)
        mark = lap(outcome, "storm until the host kill", mark)
        wanted = {digits(n) for n in every}
        wait_until(lambda: wanted <= set(messaged(system)), drill.patience_s)
        wait_quiet(system, drill.patience_s)
        mark = lap(outcome, "host kill until every page out", mark)
        time.sleep(SETTLE_S)
        count(outcome, system, storm, steps, killed_at)
    outcome.cpu_wait_share = waited[0] if waited else None
    lap(outcome, "stop", mark)
    outcome.took_s = time.monotonic() - started
    return outcome


def lap(outcome: Outcome, name: str, since: float) -> float:
    now = time.monotonic()
    outcome.phases[name] = now - since
    return now


# -- the benchmark -------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.scale_out",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    defaults = Drill()
    parser.add_argument("--broker", choices=BROKERS, action="append", help="default: both")
    parser.add_argument("--alerts", type=int, default=defaults.alerts)
    parser.add_argument("--chains", type=int, default=defaults.chains)
    parser.add_argument("--steps", type=int, default=defaults.steps)
    parser.add_argument("--rate", type=float, default=defaults.rate, help="SMS/s for the account")
    parser.add_argument("--kill-at", type=float, default=defaults.kill_at)
    parser.add_argument(
        "--concurrency", type=int, default=defaults.worker_concurrency, help="per host"
    )
    parser.add_argument("--workdir", type=Path, default=None, help="keep data and logs here")
    parser.add_argument("--output", type=Path, default=RESULTS_FILE)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    from bench.scale_out_report import render

    args = parse_args(argv)
    command = shlex.join(
        ["python", "-m", "bench.scale_out", *(sys.argv[1:] if argv is None else argv)]
    )
    drill = Drill(
        alerts=args.alerts,
        chains=args.chains,
        steps=args.steps,
        rate=args.rate,
        worker_concurrency=args.concurrency,
        kill_at=args.kill_at,
    )
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    outcomes: list[Outcome] = []
    try:
        with Lab() as lab, bench_directory(args.workdir, "bench-scale-out-") as directory:
            for broker in args.broker or BROKERS:
                reason = unavailable(broker, pg_url_default())
                if reason:
                    print(f"{broker}: not run: {reason}", file=sys.stderr)
                    continue
                print(f"== {broker}: data and logs in {directory / broker}", flush=True)
                try:
                    outcomes.append(run_drill(lab, broker, directory / broker, drill))
                except Exception as exc:  # one broker's failure must not lose the other's
                    traceback.print_exc()
                    outcomes.append(Outcome(broker, drill, error=f"{type(exc).__name__}: {exc}"))
                print(render(outcomes[-1:], command, load), flush=True)
    except LabUnavailable as exc:
        print(f"python -m bench.scale_out: {exc}", file=sys.stderr)
        return 2
    report = render(outcomes, command, load)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(report)
    print(report)
    return 0 if outcomes and all(o.passed for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
