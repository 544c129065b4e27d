"""`alert-dispatch demo notice`: a maintenance notice going out, with its progress bar.

On the main demo's embedded defaults (embedded Redis, the receiver, a worker
and beat, each its own process; nothing installed), a notice to a CSV list of
subscribers is written into the on-call file with its window a few seconds
ahead and two reminders, five seconds before the start and at the start.
Beat sends each when it falls due, in paced bulk requests; the demo follows
each send in the database, drawing the bar `notice status` draws (handed
off, delivered, failed, skipped, ETA) until every delivery report is in,
then sums up. The Plivo simulator runs in this process with the account's
rate raised to DEMO_RATE, so the delivery reports come back as fast as the
notice goes out.
"""

from __future__ import annotations

import contextlib
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from cli.stack import Stack, StackConfig, StopSignals
    from shared.notices.progress import Progress

# The command is registered in cli.main on every start of every process: what
# the demo needs (the stack, the database, the simulator) is imported when it runs.

NOTICE = "db-upgrade"
DEMO_RATE = 200.0  # SMS per second, the account's and the sender's
WINDOW_IN_S = 9  # from the stack being up to the window's start
REMINDERS = ("-5s", "start")
REFRESH_S = 0.2
PLAIN_REFRESH_S = 1.0
FIRST_NUMBER = 16285552000  # +1 628 555 2000 onwards: one per subscriber

BASE_ONCALL = """
contacts:
  ops: {phone: "+16285550090"}
policies:
  ops:
    steps:
      - {targets: [ops], channels: [sms], wait: 5m}
default_policy: ops
"""


def subscriber_numbers(count: int) -> list[str]:
    return [f"+{FIRST_NUMBER + i}" for i in range(count)]


def notice_oncall(csv_name: str, start: datetime) -> str:
    """The demo's on-call file with the notice, its window starting at `start` (UTC)."""
    return BASE_ONCALL + (
        f"subscriber_lists:\n  customers: {{csv: {csv_name}}}\n"
        "notices:\n"
        f"  {NOTICE}:\n"
        "    title: Database upgrade\n"
        f'    window: {{start: "{start:%Y-%m-%d %H:%M:%S}", duration: 30m, time_zone: UTC}}\n'
        f"    reminders: [{', '.join(REMINDERS)}]\n"
        "    audience: {lists: [customers]}\n"
        '    templates: {sms: "{title}: {start} for {duration}. Expect short outages."}\n'
    )


def _demo_stack(config: StackConfig) -> Stack:
    """The Stack, its Plivo simulator served from this process instead (see the module)."""
    from cli.stack import Stack

    class _DemoStack(Stack):
        def _spawn(self, name: str, args: list[str]) -> None:
            if name != "simulator":
                super()._spawn(name, args)

    return _DemoStack(config)


@dataclass(frozen=True)
class SendSummary:
    reminder: str
    due_at: datetime
    handed_off: int
    delivered: int
    failed: int
    skipped: int
    total: int
    requests: int  # bulk requests that carried it
    first_s: float | None  # due moment to the first batch
    last_s: float | None  # due moment to the last batch

    @property
    def all_out(self) -> bool:
        """Every recipient reached Plivo, nobody failed or was left out."""
        return self.total > 0 and self.handed_off == self.total


def run_notice_demo(*, data_dir: Path | None, timeout: float, subscribers: int) -> int:
    """The exit status: 0 when every subscriber got both reminders (or Ctrl-C, SIGTERM or
    SIGHUP stopped it, stopping every process it started), 1 when not, 2 when `data_dir`
    cannot be used."""
    from cli.demo import data_dir_problem
    from cli.stack import StopSignals

    if data_dir is not None:
        problem = data_dir_problem(data_dir)
        if problem:
            click.echo(f"alert-dispatch: demo notice: --data-dir {data_dir}: {problem}", err=True)
            return 2
    with StopSignals() as signals:
        owned_tmp = None
        try:
            if data_dir is None:
                owned_tmp = tempfile.TemporaryDirectory(prefix="alert-dispatch-demo-notice-")
                data_dir = Path(owned_tmp.name)
            return _run(data_dir, timeout=timeout, subscribers=subscribers, signals=signals)
        except KeyboardInterrupt:
            return 0
        finally:
            if owned_tmp is not None:
                owned_tmp.cleanup()


def _run(data_dir: Path, *, timeout: float, subscribers: int, signals: StopSignals) -> int:
    from cli.stack import StackConfig
    from simulator.config import SimulatorConfig
    from simulator.server import start_in_thread

    click.echo("Starting embedded Redis, the Plivo simulator, the receiver, a worker and beat...")
    config_file = data_dir / "oncall.yaml"
    config_file.write_text(BASE_ONCALL)
    (data_dir / "customers.csv").write_text("phone\n" + "\n".join(subscriber_numbers(subscribers)))
    rate = f"{DEMO_RATE:g}"
    env = {"CONFIG_FILE": str(config_file), "SMS_PER_SECOND": rate, "SENDER_SMS_PER_SECOND": rate}
    stack = _demo_stack(StackConfig(data_dir=data_dir, with_beat=True, extra_env=env))
    simulator = None
    try:
        simulator = start_in_thread(
            SimulatorConfig(sms_per_second=DEMO_RATE, receiver_url=stack.web_url),
            port=stack.simulator_port,
        )
        stack.start()
        stack.wait_for_workers()
        click.echo(f"  receiver  {stack.web_url}   simulator  {stack.simulator_url}")
        click.echo(f"  logs      {stack.logs_dir}")
        start = (datetime.now(UTC) + timedelta(seconds=WINDOW_IN_S)).replace(microsecond=0)
        config_file.write_text(notice_oncall("customers.csv", start))
        click.echo(
            f"\nNotice {NOTICE!r} written to {config_file.name}: {subscribers} subscribers "
            f"(customers.csv), window {start:%H:%M:%S} UTC for 30 minutes, reminders "
            f"{' and '.join(REMINDERS)}; the account sends {rate} SMS/s. Beat sends it."
        )
        summaries = _follow_all(stack.database_url, time.monotonic() + timeout)
        _print_summary(summaries, stack.web_url)
        if len(summaries) == len(REMINDERS) and all(s.all_out for s in summaries):
            click.echo(
                f"\nEvery subscriber got both reminders: {len(REMINDERS) * subscribers} SMS."
            )
            return 0
        click.echo("\nThe notice did not reach every subscriber.")
        return 1
    except KeyboardInterrupt:
        name = signals.received.name if signals.received else "interrupted"
        with contextlib.suppress(OSError):  # the terminal may be gone (SIGHUP)
            click.echo(f"\n{name}: stopping every process the demo started...")
        return 0
    except RuntimeError as exc:
        click.echo(f"demo notice failed: {exc}", err=True)
        return 1
    finally:
        signals.stopping()
        stack.stop()
        if simulator is not None:
            simulator.stop()


def _follow_all(database_url: str, deadline: float) -> list[SendSummary]:
    summaries = []
    for reminder in REMINDERS:
        send_id = _wait_for_send(database_url, reminder, deadline)
        if send_id is None:
            click.echo(f"\nreminder {reminder}: beat did not start it in time")
            break
        click.echo(f"\nReminder {reminder}: send {send_id}")
        _follow(database_url, send_id, deadline)
        summaries.append(_summary(database_url, send_id))
    return summaries


def _wait_for_send(database_url: str, reminder: str, deadline: float) -> str | None:
    from sqlalchemy import select

    from shared.core.db import session_scope
    from shared.core.models import NoticeSend

    query = select(NoticeSend.id).where(
        NoticeSend.notice == NOTICE, NoticeSend.reminder_key == reminder
    )
    while time.monotonic() < deadline:
        with session_scope(database_url) as session:
            found = session.scalars(query).first()
        if found is not None:
            return found
        time.sleep(REFRESH_S)
    return None


def _follow(database_url: str, send_id: str, deadline: float) -> None:
    """Draw the send's progress until every delivery is settled (or the deadline)."""
    from cli.notice_progress import render_plain, render_progress

    tty = sys.stdout.isatty()
    width = shutil.get_terminal_size().columns - 1
    shown, last_plain = "", 0.0
    while True:
        now = datetime.now(UTC)
        progress = _progress(database_url, send_id, now)
        settled = (
            progress.total > 0 and progress.remaining == 0 and progress.by_state["handed_off"] == 0
        )
        over = settled or time.monotonic() >= deadline
        if tty:
            click.echo(f"\r\x1b[2K{render_progress(progress, width, now=now)}", nl=over)
        else:
            line = render_plain(progress, now)
            if line != shown and (over or time.monotonic() - last_plain >= PLAIN_REFRESH_S):
                click.echo(line)
                shown, last_plain = line, time.monotonic()
        if over:
            return
        time.sleep(REFRESH_S)


def _progress(database_url: str, send_id: str, now: datetime) -> Progress:
    from shared.core.db import session_scope
    from shared.core.models import NoticeSend
    from shared.notices.views import progress_of, sending_rate

    rate = sending_rate(DEMO_RATE, DEMO_RATE, 1)
    with session_scope(database_url) as session:
        send = session.get(NoticeSend, send_id)
        return progress_of(session, [send] if send else [], rate, now)


def _summary(database_url: str, send_id: str) -> SendSummary:
    from sqlalchemy import func, select

    from shared.core.db import session_scope
    from shared.core.models import NoticeDelivery, NoticeSend

    with session_scope(database_url) as session:
        send = session.get(NoticeSend, send_id)
        if send is None:
            raise RuntimeError(f"send {send_id} vanished")
        states = dict(
            session.execute(
                select(NoticeDelivery.state, func.count())
                .where(NoticeDelivery.send_id == send_id)
                .group_by(NoticeDelivery.state)
            ).all()
        )
        requests, first, last = session.execute(
            select(
                func.count(func.distinct(NoticeDelivery.batch_id)),
                func.min(NoticeDelivery.claimed_at),
                func.max(NoticeDelivery.claimed_at),
            ).where(NoticeDelivery.send_id == send_id)
        ).one()
        due = send.due_at
    return SendSummary(
        reminder=send_id.rsplit("/", 1)[-1],
        due_at=due,
        handed_off=states.get("handed_off", 0) + states.get("delivered", 0),
        delivered=states.get("delivered", 0),
        failed=states.get("failed", 0),
        skipped=states.get("skipped", 0),
        total=sum(states.values()),
        requests=requests,
        first_s=_seconds_after(due, first),
        last_s=_seconds_after(due, last),
    )


def _seconds_after(due: datetime, at: datetime | None) -> float | None:
    return None if at is None else (at - due).total_seconds()


def _print_summary(summaries: list[SendSummary], web_url: str) -> None:
    import requests

    click.echo("\nSummary:")
    for s in summaries:
        spread = (
            f", first batch +{s.first_s:.1f} s and last +{s.last_s:.1f} s after due"
            if s.first_s is not None and s.last_s is not None
            else ""
        )
        click.echo(
            f"  {s.reminder:>5} (due {s.due_at:%H:%M:%S} UTC): {s.handed_off}/{s.total} handed "
            f"to Plivo in {s.requests} bulk requests{spread}; {s.delivered} delivered, "
            f"{s.failed} failed, {s.skipped} skipped"
        )
    with contextlib.suppress(requests.RequestException):
        metrics = requests.get(f"{web_url}/metrics", timeout=5).text
        lines = [
            line
            for line in metrics.splitlines()
            if line.startswith("alert_dispatch_notice") and not line.startswith("#")
        ]
        if lines:
            click.echo(f"\nMetrics ({web_url}/metrics):")
            for line in lines:
                click.echo(f"  {line}")


@click.command("notice")
@click.option(
    "--data-dir",
    type=click.Path(path_type=Path),
    default=None,
    help="Where the demo keeps its database and logs (default: a new temporary one).",
)
@click.option(
    "--subscribers",
    default=200,
    show_default=True,
    type=click.IntRange(1, 5000),
    help="How many numbers the notice goes to.",
)
@click.option(
    "--timeout",
    default=90.0,
    show_default=True,
    type=click.FloatRange(min=0, min_open=True),
    help="Seconds to wait for both reminders to go out and be delivered.",
)
def notice_demo(data_dir: Path | None, subscribers: int, timeout: float) -> None:
    """A maintenance notice to subscribers, sent by beat, with its live progress bar."""
    sys.exit(run_notice_demo(data_dir=data_dir, timeout=timeout, subscribers=subscribers))


def with_notice_demo(demo: click.Command) -> click.Group:
    """`demo` as a group: alone it runs as before; `demo notice` runs the notice demo."""

    def main_demo(**options: Any) -> None:
        context = click.get_current_context()
        if context.invoked_subcommand is None:
            context.invoke(demo, **options)

    return click.Group(
        name=demo.name,
        commands={"notice": notice_demo},
        callback=main_demo,
        params=demo.params,
        help=f"{demo.help}\n\n`demo notice`: a maintenance notice going out, with its bar.",
        short_help=demo.short_help,
        invoke_without_command=True,
    )
