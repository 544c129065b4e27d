"""The status page, seen the way a person sees it: headless Chromium on a real stack.

An alert is paged through the simulator (an SMS that comes back undelivered
with an error code, a call nobody answers), then Chromium loads /status with
the token in its URL, as a bookmark would. The rendered DOM must show the
alert, its timeline with what Plivo said, and masked numbers only; the
screenshot must be a real picture of the requested size. Without the token the
answer is 401 and carries nothing of the alert.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import struct
import subprocess
import time
import zlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

import pytest
import redis
import requests

from cli.stack import Stack, StackConfig
from shared.sending.breaker import CircuitBreaker
from shared.sending.limits import SendLimits
from shared.sending.rate_limiter import RateLimiter
from tests.polling import wait_for
from worker.sending.providers import PRIMARY

# CHROMIUM names another build (e.g. chromium-headless-shell) when set.
CHROMIUM = os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
STATUS_TOKEN = "status-page-test-token"
WINDOW = (1280, 1400)
ANN, BEN = "+14155550131", "+14155550132"
ONCALL = f"""
contacts:
  ann: {{phone: "{ANN}", channels: [sms]}}
  ben: {{phone: "{BEN}", channels: [voice]}}
policies:
  web:
    steps:
      - {{targets: [ann], channels: [sms], wait: 5m}}
      - {{targets: [ben], channels: [voice], wait: 5m}}
default_policy: web
"""
SUMMARY = "Checkout latency over 2 s"


# --------------------------------------------------------------------------- Chromium


def chromium(tmp_path: Path, *args: str, timeout: float = 60.0) -> str:
    """Run headless Chromium to the end and return its stdout; its whole process group
    is killed if it overruns (renderer and zygote included)."""
    profile = tmp_path / "chromium-profile"
    command = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",  # tests may run as root, where the sandbox refuses to start
        "--disable-gpu",
        "--no-first-run",
        "--hide-scrollbars",
        f"--user-data-dir={profile}",
        *args,
    ]
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        text=True,
    )
    try:
        out, _ = process.communicate(timeout=timeout)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
    return out


@dataclass
class Table:
    attrs: dict[str, str]
    article: str | None  # id of the enclosing <article>, if any
    rows: list[list[str]] = field(default_factory=list)


class Dom(HTMLParser):
    """Tables (with the article they sit in) and the page's visible text."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.tables: list[Table] = []
        self.articles: list[str] = []
        self.text_parts: list[str] = []
        self._article: str | None = None
        self._table: Table | None = None
        self._cell: list[str] | None = None
        self._skip = 0
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        if tag in ("style", "script", "title"):
            self._skip += 1
        elif tag == "article":
            self._article = values.get("id")
            self.articles.append(self._article or "")
        elif tag == "table":
            self._table = Table(values, self._article)
            self.tables.append(self._table)
        elif tag == "tr" and self._table is not None:
            self._table.rows.append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("style", "script", "title"):
            self._skip -= 1
        elif tag == "article":
            self._article = None
        elif tag == "table":
            self._table = None
        elif tag in ("td", "th") and self._cell is not None and self._table is not None:
            self._table.rows[-1].append(" ".join(" ".join(self._cell).split()))
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._skip:
            return
        self.text_parts.append(data)
        if self._cell is not None:
            self._cell.append(data)

    @property
    def text(self) -> str:
        return " ".join(" ".join(self.text_parts).split())

    def table(self, *, article: str | None = None, **attrs: str) -> Table:
        [found] = [
            t
            for t in self.tables
            if (article is None or t.article == article)
            and all(t.attrs.get(k) == v for k, v in attrs.items())
        ]
        return found


# --------------------------------------------------------------------------- PNG


def png_pixels(data: bytes) -> tuple[int, int, list[bytes]]:
    """Width, height and the RGB(A) rows of an 8-bit, non-interlaced PNG: the format
    Chromium writes. Enough of the format to tell a picture from a blank."""
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    position, idat, header = 8, b"", None
    while position < len(data):
        length, kind = struct.unpack(">I4s", data[position : position + 8])
        body = data[position + 8 : position + 8 + length]
        position += 12 + length
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
    if header is None:
        raise ValueError("no IHDR chunk")
    width, height, depth, color_type, _, _, interlace = header
    if depth != 8 or color_type not in (2, 6) or interlace:
        raise ValueError(f"unexpected PNG format {header}")
    bpp = 3 if color_type == 2 else 4
    return width, height, _unfilter(zlib.decompress(idat), width * bpp, height, bpp)


def _unfilter(raw: bytes, stride: int, height: int, bpp: int) -> list[bytes]:
    rows: list[bytes] = []
    previous = bytearray(stride)
    for y in range(height):
        start = y * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        if kind == 1:
            for i in range(bpp, stride):
                line[i] = (line[i] + line[i - bpp]) & 255
        elif kind == 2:
            line = bytearray((a + b) & 255 for a, b in zip(line, previous, strict=True))
        elif kind == 3:
            for i in range(stride):
                left = line[i - bpp] if i >= bpp else 0
                line[i] = (line[i] + (left + previous[i]) // 2) & 255
        elif kind == 4:
            for i in range(stride):
                a = line[i - bpp] if i >= bpp else 0
                b, c = previous[i], previous[i - bpp] if i >= bpp else 0
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line))
        previous = line
    return rows


def color_counts(rows: list[bytes], bpp: int, step: int = 3) -> Counter[bytes]:
    """RGB colours of every `step`-th pixel of every `step`-th row."""
    counts: Counter[bytes] = Counter()
    for row in rows[::step]:
        for i in range(0, len(row), bpp * step):
            counts[row[i : i + 3]] += 1
    return counts


# --------------------------------------------------------------------------- the stack


def raw_digits(number: str) -> str:
    return number.lstrip("+")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Its own embedded Redis, so a receiver on the session broker sees no worker."""
    data_dir = tmp_path_factory.mktemp("status-stack")
    config = data_dir / "oncall.yaml"
    config.write_text(ONCALL)
    env = {"STATUS_PAGE_TOKEN": STATUS_TOKEN, "CONFIG_FILE": str(config)}
    with Stack(StackConfig(data_dir=data_dir, worker_concurrency=2, extra_env=env)) as s:
        s.wait_for_workers()
        yield s


@pytest.fixture(scope="module")
def paged_alert(stack: Stack) -> int:
    """An alert whose chain ran out: Ann's SMS undelivered (error 30), Ben's call unanswered."""
    for number, scenario in ((ANN, {"sms": "undelivered:30"}), (BEN, {"voice": "no-answer"})):
        requests.post(
            f"{stack.simulator_url}/_sim/scenarios", json={"number": number, **scenario}, timeout=5
        ).raise_for_status()
    response = requests.post(
        f"{stack.web_url}/api/v1/alerts",
        json={"summary": SUMMARY, "severity": "critical", "source": "checkout"},
        headers={"Authorization": f"Bearer {stack.config.api_token}"},
        timeout=10,
    )
    assert response.status_code == 202, response.text
    alert_id = response.json()["id"]

    def exhausted() -> bool:
        view = requests.get(
            f"{stack.web_url}/api/v1/alerts/{alert_id}",
            headers={"Authorization": f"Bearer {stack.config.api_token}"},
            timeout=5,
        ).json()
        return any(e["kind"] == "escalation.exhausted" for e in view["timeline"])

    wait_for(exhausted, timeout=30, what="the chain to run out")
    return alert_id


@pytest.fixture(scope="module")
def browser() -> str:
    """Skips before any process starts when there is no Chromium to drive."""
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip(f"headless Chromium not installed ({CHROMIUM})")
    return CHROMIUM


@pytest.fixture(scope="module")
def in_browser(
    browser: str, stack: Stack, paged_alert: int, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Dom, Path]:
    """One Chromium run, as a bookmark opens the page: the rendered DOM and a screenshot."""
    tmp_path = tmp_path_factory.mktemp("chromium")
    shot = tmp_path / "status.png"
    url = f"{stack.web_url}/status?token={STATUS_TOKEN}"
    size = f"--window-size={WINDOW[0]},{WINDOW[1]}"
    dom = Dom(chromium(tmp_path, "--dump-dom", f"--screenshot={shot}", size, url))
    return dom, shot


# --------------------------------------------------------------------------- tests


def test_the_page_shows_the_alert_and_its_timeline_in_a_browser(
    in_browser: tuple[Dom, Path], paged_alert: int
) -> None:
    dom, _ = in_browser
    article = f"alert-{paged_alert}"
    assert article in dom.articles
    assert SUMMARY in dom.text

    timeline = dom.table(article=article, **{"class": "timeline"}).rows
    assert timeline[0] == ["when (UTC)", "+s", "who", "how", "what", "Plivo said"]
    by_what = {row[4]: row for row in timeline[1:]}
    ann, ben = "ann +1********31", "ben +1********32"
    assert by_what["step 1 of web: paging ann"][2] == ""
    assert by_what["SMS handed to Plivo"][2:4] == [ann, "sms"]
    reports = [row for row in timeline if row[4] == "delivery report"]
    assert reports[-1][2:] == [ann, "sms", "delivery report", "undelivered, error 30"]
    assert by_what["step 2 of web: paging ben"]
    assert by_what["call ended"][2:] == [ben, "voice", "call ended", "no-answer (NO_ANSWER)"]
    assert "policy web ran out after 1 round(s): nobody acknowledged" in by_what
    for row in timeline[1:]:
        assert re.fullmatch(r"\d\d:\d\d:\d\d\.\d{3}", row[0]), row

    notifications = dom.table(article=article, **{"class": "notifications"}).rows
    assert [row[2:6] for row in notifications[1:]] == [
        ["ann", "sms", "+1********31", "undelivered"],
        ["ben", "voice", "+1********32", "undelivered"],
    ]
    workers = [row[0] for row in dom.table(id="workers-table").rows[1:]]
    assert [name.split("@")[0] for name in workers] == ["worker1"]
    for number in (ANN, BEN):  # never in full, in any form
        assert raw_digits(number) not in dom.text
        assert raw_digits(number)[1:] not in dom.text


def test_the_screenshot_is_a_picture_of_the_requested_size(in_browser: tuple[Dom, Path]) -> None:
    _, shot = in_browser
    assert shot.is_file(), "Chromium wrote no screenshot"
    width, height, rows = png_pixels(shot.read_bytes())
    assert (width, height) == WINDOW
    colors = color_counts(rows, len(rows[0]) // width)
    most_common_share = colors.most_common(1)[0][1] / sum(colors.values())
    assert len(colors) > 50, f"only {len(colors)} colours: a blank page?"
    assert most_common_share < 0.95
    # The severity stripe of the critical alert (#c62828) is on screen.
    assert colors[bytes((0xC6, 0x28, 0x28))] > 0


def test_without_the_token_nothing_is_shown(stack: Stack, paged_alert: int) -> None:
    url = f"{stack.web_url}/status"
    refused = [
        requests.get(url, timeout=10),
        requests.get(url, params={"token": "wrong"}, timeout=10),
        requests.get(url, params={"token": ""}, timeout=10),
        requests.get(url, headers={"Authorization": "Bearer wrong"}, timeout=10),
        # STATUS_PAGE_TOKEN is set: the API tokens, which can act on alerts, do not open it.
        requests.get(
            url, headers={"Authorization": f"Bearer {stack.config.api_token}"}, timeout=10
        ),
    ]
    for response in refused:
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        assert SUMMARY not in response.text
        assert "+1****" not in response.text
        assert response.json()["status"] == 401
    with_header = requests.get(url, headers={"Authorization": f"Bearer {STATUS_TOKEN}"}, timeout=10)
    assert with_header.status_code == 200
    assert SUMMARY in with_header.text
    assert with_header.headers["Cache-Control"] == "no-store"
    assert with_header.headers["Referrer-Policy"] == "no-referrer"


def test_limiter_and_breaker_as_the_workers_left_them_and_no_worker_answering(
    receiver, broker_env: str
) -> None:
    """The receiver fixture: no STATUS_PAGE_TOKEN, so its API tokens open the page; the
    session broker, where no worker listens. Slots are booked and the breaker opened
    by the same classes the send path uses, and the page reads them back."""
    settings = receiver.settings
    client = redis.Redis.from_url(broker_env)
    limits = SendLimits.from_settings(settings)
    sender = settings.sender_numbers[0]
    checks = limits.sms_checks(settings.plivo_auth_id, sender, ANN, count_for_person=False)
    limiter = RateLimiter(client)
    try:
        for _ in range(20):
            assert limiter.reserve(checks).booked
        CircuitBreaker(client, PRIMARY, threshold=1, open_s=300).record_failure()
        started = time.monotonic()
        response = requests.get(
            f"{receiver.url}/status", headers={"Authorization": "Bearer token-two"}, timeout=20
        )
        took = time.monotonic() - started
    finally:
        client.flushdb()
        client.close()
    assert response.status_code == 200
    assert took < 5, f"the page took {took:.1f}s with no worker answering"
    dom = Dom(response.text)
    rows = {(row[0], row[1]): row for row in dom.table(id="limits").rows[1:]}
    interval = limits.account_sms.interval_s
    booked = float(rows[("account", "account-sms")][3])
    assert 15 * interval < booked <= 20 * interval
    assert 15 <= int(rows[("account", "account-sms")][4]) <= 20
    assert float(rows[("sender +1********00", "sender-sms")][3]) > 15 * interval
    assert float(rows[("account", "account-calls")][3]) == 0
    assert "Primary Plivo account circuit: open for" in dom.text
    assert "No worker answered" in dom.text
    assert "No open alerts." in dom.text


def test_redis_down_is_said_not_waited_for(database_url: str, tmp_path: Path) -> None:
    """Nothing listens on the Redis port: the page still answers, from the database,
    and says what it could not read."""
    from cli.stack import free_port
    from shared.core.settings import load_settings
    from tests.conftest import ServedApp
    from webhooks.app import create_app

    settings = load_settings(
        DATABASE_URL=database_url,
        REDIS_URL=f"redis://127.0.0.1:{free_port()}/0",
        DATA_DIR=str(tmp_path),
        STATUS_PAGE_TOKEN=STATUS_TOKEN,
    )
    served = ServedApp(create_app(settings), free_port())
    try:
        started = time.monotonic()
        response = requests.get(f"{served.url}/status", params={"token": STATUS_TOKEN}, timeout=20)
        took = time.monotonic() - started
    finally:
        served.stop()
    assert response.status_code == 200
    assert took < 5
    text = Dom(response.text).text
    assert "Redis did not answer" in text
    assert "No worker answered: the broker did not answer" in text
    assert "No open alerts." in text
