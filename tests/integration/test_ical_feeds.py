"""Calendar feeds of schedules and people over real HTTP, their URLs from the CLI.

A weekly rotation (alice, then carol, hand-off Mondays 09:00 Europe/Berlin)
that began two weeks before this week's Monday, and an override stored in the
database (bob covers tomorrow). `alert-dispatch oncall feed` prints each
feed's URL; a calendar app fetching it gets text/calendar that icalendar
reads. A wrong or missing token, another feed's token, an unknown name and an
unset ICAL_SECRET all answer the same 404.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import requests
from click.testing import CliRunner
from icalendar import Calendar

from cli.main import cli
from shared.core.db import session_scope
from shared.schedules.ical import FeedKind, feed_token
from shared.schedules.override_store import create_override
from shared.schedules.overrides import Override
from tests.conftest import ServedApp

SECRET = "ical-secret-for-the-tests-0001"
BERLIN = ZoneInfo("Europe/Berlin")
TODAY = datetime.now(UTC).date()
START = TODAY - timedelta(days=TODAY.weekday() + 14)  # a Monday two weeks back
ONCALL = f"""
contacts:
  alice: {{phone: "+16285550101"}}
  bob: {{phone: "+16285550102"}}
  carol: {{phone: "+16285550103"}}
policies:
  p:
    steps:
      - {{targets: [primary], channels: [sms], wait: 5m}}
default_policy: p
schedules:
  primary:
    time_zone: Europe/Berlin
    layers:
      - name: weekly
        rotation: {{members: [alice, carol], shift: 1w, handoff: "09:00", start: {START}}}
"""
TOMORROW = datetime.combine(TODAY + timedelta(days=1), datetime.min.time(), tzinfo=UTC)
BOB_COVERS = Override(
    "primary", "bob", TOMORROW + timedelta(hours=6), TOMORROW + timedelta(hours=30)
)


@pytest.fixture
def oncall_file(tmp_path: Path, database_url: str) -> Path:
    path = tmp_path / "oncall.yaml"
    path.write_text(ONCALL)
    with session_scope(database_url) as session:
        create_override(session, BOB_COVERS, datetime.now(UTC), "tests")
    return path


@pytest.fixture
def serve(
    database_url: str, broker_env: str, oncall_file: Path
) -> Iterator[Callable[[str | None], ServedApp]]:
    """`serve(secret)`: the receiver over HTTP with ICAL_SECRET set to `secret` (or unset)."""
    from cli.stack import free_port
    from shared.core.settings import load_settings
    from webhooks.app import create_app
    from worker import enqueue

    started: list[ServedApp] = []

    def start(secret: str | None) -> ServedApp:
        port = free_port()
        settings = load_settings(
            DATABASE_URL=database_url,
            REDIS_URL=broker_env,
            DATA_DIR=str(oncall_file.parent),
            CONFIG_FILE=str(oncall_file),
            PUBLIC_BASE_URL=f"http://127.0.0.1:{port}",
            ICAL_SECRET=secret,
        )
        served = ServedApp(create_app(settings, enqueue=enqueue), port)
        started.append(served)
        return served

    yield start
    for served in started:
        served.stop()


def feed_url_from_cli(served: ServedApp, oncall_file: Path, *args: str) -> str:
    env = {
        "CONFIG_FILE": str(oncall_file),
        "DATA_DIR": str(oncall_file.parent),
        "PUBLIC_BASE_URL": served.url,
        "ICAL_SECRET": SECRET,
    }
    result = CliRunner().invoke(cli, ["oncall", "feed", *args], env=env)
    assert result.exit_code == 0, result.output
    return result.output.strip()


def fetched(url: str) -> list[tuple[str, datetime, datetime]]:
    """(summary, start, end) of each event of the feed at `url`, by start."""
    answer = requests.get(url, timeout=10)
    assert answer.status_code == 200, answer.text
    assert answer.headers["Content-Type"] == "text/calendar; charset=utf-8"
    calendar = Calendar.from_ical(answer.content)
    found = [
        (str(e["SUMMARY"]), e.decoded("DTSTART"), e.decoded("DTEND"))
        for e in calendar.walk("VEVENT")
    ]
    return sorted(found, key=lambda item: item[1])


def test_the_cli_prints_feed_urls_that_a_calendar_app_can_read(
    serve: Callable[[str | None], ServedApp], oncall_file: Path
) -> None:
    served = serve(SECRET)

    schedule_url = feed_url_from_cli(served, oncall_file, "primary")
    assert schedule_url.startswith(f"{served.url}/ical/schedules/primary.ics?token=")
    schedule = fetched(schedule_url)
    assert {summary for summary, *_ in schedule} == {
        "alice on call (primary)",
        "carol on call (primary)",
        "bob on call (primary)",
    }
    now = datetime.now(UTC)
    assert schedule[0][1] <= now - timedelta(days=7) and schedule[-1][1] >= now + timedelta(days=53)
    # Every shift starts at a Monday 09:00 in Berlin, but where bob's override cuts in.
    handoffs = {s.astimezone(BERLIN) for _, s, _ in schedule} - {BOB_COVERS.start, BOB_COVERS.end}
    assert {(start.weekday(), start.hour, start.minute) for start in handoffs} == {(0, 9, 0)}

    bob = fetched(feed_url_from_cli(served, oncall_file, "--person", "bob"))
    assert bob == [("On call: primary", BOB_COVERS.start, BOB_COVERS.end)]
    alice = fetched(feed_url_from_cli(served, oncall_file, "--person", "alice"))
    assert alice and {summary for summary, *_ in alice} == {"On call: primary"}
    assert [(s, e) for _, s, e in alice] == [
        (s, e) for summary, s, e in schedule if summary == "alice on call (primary)"
    ]


def test_a_wrong_missing_or_borrowed_token_and_an_unknown_name_answer_the_same_404(
    serve: Callable[[str | None], ServedApp],
) -> None:
    base = serve(SECRET).url
    alice_token = feed_token(SECRET, FeedKind.PERSON, "alice")
    refused = [
        f"{base}/ical/schedules/primary.ics",
        f"{base}/ical/schedules/primary.ics?token=",
        f"{base}/ical/schedules/primary.ics?token={'0' * 64}",
        f"{base}/ical/schedules/primary.ics?token={alice_token}",  # another feed's token
        f"{base}/ical/people/carol.ics?token={alice_token}",
        f"{base}/ical/people/dave.ics?token={feed_token(SECRET, FeedKind.PERSON, 'dave')}",
        f"{base}/ical/schedules/nights.ics?token={feed_token(SECRET, FeedKind.SCHEDULE, 'nights')}",
    ]
    answers = [requests.get(url, timeout=10) for url in refused]

    assert [a.status_code for a in answers] == [404] * len(refused)
    assert len({a.text for a in answers}) == 1
    assert requests.get(f"{base}/ical/people/alice.ics?token={alice_token}", timeout=10).ok


def test_without_ical_secret_every_feed_answers_404(
    serve: Callable[[str | None], ServedApp],
) -> None:
    base = serve(None).url
    for kind, name in ((FeedKind.SCHEDULE, "primary"), (FeedKind.PERSON, "alice")):
        directory = "schedules" if kind is FeedKind.SCHEDULE else "people"
        answer = requests.get(
            f"{base}/ical/{directory}/{name}.ics",
            params={"token": feed_token(SECRET, kind, name)},
            timeout=10,
        )
        assert answer.status_code == 404
