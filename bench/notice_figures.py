"""The notice benchmark's arithmetic: what the simulator accepted, its windows, the goals.

Pure: every figure comes from the simulator's request log (or message list),
the due moment and the sampled memory, passed in. Kept apart from the runs
so the counting that decides pass or fail is tested on synthetic times.

Window conventions, as in bench.rate_limit: a window is half-open,
`[t, t + w)`, and the fullest window of a set of points always starts at one
of them, so windows starting at each request suffice. A bulk request counts
each of its destinations against the account's SMS limit (Plivo counts
them so), and counts once against the API's request limit.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

SMS_WINDOW_S = 1.0
# Plivo's API limit (PLIVO.md): 300 requests in any 5 s, above it 429.
API_WINDOW_S = 5.0
API_REQUESTS_PER_WINDOW = 300
MAX_BULK = 1000
# The goals: due to last request at >= 80% of the rate (10,000 at 500/s: 25 s),
# and a page posted mid-notice at Plivo within 1 s.
MIN_RATE_SHARE = 0.8
PAGE_GOAL_S = 1.0
MESSAGE_PATH_SUFFIX = "/Message/"
# A gap between two requests of a notice this long is a stall, not pacing.
STALL_S = 0.1


@dataclass(frozen=True, slots=True)
class Request:
    """One SMS request as the simulator logged it: when it arrived, its destinations
    (digits, as Plivo spells them), and the HTTP status it was answered with."""

    at: float
    numbers: tuple[str, ...]
    status: int

    @property
    def accepted(self) -> bool:
        return self.status == 202


def message_requests(entries: Iterable[Mapping[str, Any]]) -> list[Request]:
    """The `POST .../Message/` requests of a `/_sim/requests` log, oldest first."""
    found = []
    for entry in entries:
        if entry.get("method") != "POST" or not str(entry.get("path", "")).endswith(
            MESSAGE_PATH_SUFFIX
        ):
            continue
        body = entry.get("body")
        dst = str(body.get("dst", "")) if isinstance(body, Mapping) else ""
        numbers = tuple(n.lstrip("+") for n in dst.split("<") if n)
        found.append(Request(float(entry["time"]), numbers, int(entry.get("status") or 0)))
    return sorted(found, key=lambda r: r.at)


def api_times(entries: Iterable[Mapping[str, Any]], *, accepted: bool) -> list[float]:
    """Arrival times of the log's API requests (`/v1/...`): those let through the
    API limit (`accepted`), or those refused with 429."""
    times = []
    for entry in entries:
        if not str(entry.get("path", "")).startswith("/v1/"):
            continue
        if (int(entry.get("status") or 0) == 429) != accepted:
            times.append(float(entry["time"]))
    return sorted(times)


def busiest_window(points: Iterable[tuple[float, int]], window_s: float) -> int:
    """The largest total weight in any half-open window `[t, t + window_s)`.

    `points` are (time, weight): a bulk request is one point weighing its
    destinations. Points at one instant are one batch arriving together.
    """
    ordered = sorted(points)
    best = total = 0
    start = 0
    for at, weight in ordered:
        total += weight
        while at - ordered[start][0] >= window_s:
            total -= ordered[start][1]
            start += 1
        best = max(best, total)
    return best


def goal_seconds(recipients: int, rate: float, share: float = MIN_RATE_SHARE) -> float:
    """Due moment to last request, at `share` of the account's rate."""
    return recipients / (rate * share)


@dataclass(frozen=True, slots=True)
class Page:
    """The page posted mid-notice: when it was posted, and when Plivo got it (None: never)."""

    posted: float
    reached: float | None
    # Share of the notice's recipients already accepted when the page reached Plivo.
    position: float | None

    @property
    def latency_s(self) -> float | None:
        return None if self.reached is None else self.reached - self.posted


@dataclass(frozen=True, slots=True)
class Figures:
    """One method's run, as the results table shows it."""

    label: str
    recipients: int
    rate: float
    accepted: int  # distinct recipients Plivo accepted
    duplicates: int  # recipients accepted more than once
    requests: int  # accepted requests carrying the notice
    first_s: float | None  # due moment to the first accepted request
    last_s: float | None  # due moment to the last accepted request
    largest_request: int
    busiest_second: int  # SMS (every destination, page included) in any 1 s
    busiest_api_window: int  # accepted API requests in any 5 s
    rejected: int  # API requests refused with 429
    page: Page | None
    median_gap_s: float | None  # between consecutive requests carrying the notice
    stalled_s: float  # summed gaps of at least STALL_S: where the time went
    worker_rss: int | None  # bytes, the largest worker process
    worker_rss_total: int | None  # bytes, every worker process at once (peak of the sum)

    @property
    def lost(self) -> int:
        return self.recipients - self.accepted

    @property
    def rate_share(self) -> float | None:
        """Achieved rate (recipients over due-to-last) as a share of the account's."""
        if not self.last_s or self.last_s <= 0:
            return None
        return self.recipients / self.last_s / self.rate


def gaps(times: Sequence[float]) -> tuple[float | None, float]:
    """(median gap, summed gaps of at least STALL_S) between consecutive times: a paced
    sender shows one steady gap; stalls (a task through the broker, a busy CPU) add up."""
    ordered = sorted(times)
    between = sorted(b - a for a, b in zip(ordered, ordered[1:], strict=False))
    if not between:
        return None, 0.0
    return between[len(between) // 2], sum(g for g in between if g >= STALL_S)


def page_arrival(requests: Sequence[Request], number: str) -> float | None:
    """When the first accepted request to `number` (digits) reached the simulator."""
    return next((r.at for r in requests if r.accepted and number in r.numbers), None)


def notice_position(requests: Sequence[Request], recipients: Collection[str], at: float) -> float:
    """Share of `recipients` accepted before `at`: 0.5 is the middle of the notice."""
    wanted = set(recipients)
    before = {n for r in requests if r.accepted and r.at < at for n in r.numbers if n in wanted}
    return len(before) / len(wanted) if wanted else 0.0


def measure(
    label: str,
    requests: Sequence[Request],
    *,
    recipients: Collection[str],
    rate: float,
    due_at: float,
    api_accepted: Sequence[float],
    rejected: int,
    page: Page | None,
    rss: tuple[int, int] | None,
) -> Figures:
    """The figures of one run from the accepted SMS requests (digits) and the due moment."""
    wanted = set(recipients)
    accepted = sorted((r for r in requests if r.accepted), key=lambda r: r.at)
    carrying = [r for r in accepted if wanted.intersection(r.numbers)]
    counts = Counter(n for r in carrying for n in r.numbers if n in wanted)
    median_gap, stalled = gaps([r.at for r in carrying])
    return Figures(
        label=label,
        recipients=len(wanted),
        rate=rate,
        accepted=len(counts),
        duplicates=sum(1 for c in counts.values() if c > 1),
        requests=len(carrying),
        first_s=carrying[0].at - due_at if carrying else None,
        last_s=carrying[-1].at - due_at if carrying else None,
        largest_request=max((len(r.numbers) for r in requests), default=0),
        busiest_second=busiest_window(((r.at, len(r.numbers)) for r in accepted), SMS_WINDOW_S),
        busiest_api_window=busiest_window(((t, 1) for t in api_accepted), API_WINDOW_S),
        rejected=rejected,
        page=page,
        median_gap_s=median_gap,
        stalled_s=stalled,
        worker_rss=rss[0] if rss else None,
        worker_rss_total=rss[1] if rss else None,
    )


@dataclass(frozen=True, slots=True)
class EngineRun:
    """The engine's run: its figures and, with reports on, due moment to every report
    applied (None: not within the run's deadline) and how many were."""

    figures: Figures
    delivered_s: float | None
    delivered: int | None  # delivery reports applied when the run ended (reports on)


@dataclass(frozen=True, slots=True)
class Check:
    goal: str
    met: bool
    detail: str


def goal_checks(figures: Figures) -> list[Check]:
    """The issue's goals for one run, each with the figure that decides it."""
    f, goal = figures, goal_seconds(figures.recipients, figures.rate)
    last = "never" if f.last_s is None else f"{f.last_s:.1f} s"
    share = "" if f.rate_share is None else f" ({f.rate_share:.0%} of the rate)"
    latency = f.page.latency_s if f.page else None
    return [
        Check(
            f"due to last request <= {goal:.0f} s",
            f.last_s is not None and f.last_s <= goal,
            f"{last}{share}",
        ),
        Check(
            "every recipient accepted once",
            f.lost == 0 and f.duplicates == 0,
            f"{f.lost} lost, {f.duplicates} twice",
        ),
        Check(
            f"at most {MAX_BULK} destinations a request",
            f.largest_request <= MAX_BULK,
            f"largest {f.largest_request}",
        ),
        Check(
            f"at most {f.rate:g} SMS in any 1 s",
            f.busiest_second <= f.rate,
            f"busiest {f.busiest_second}",
        ),
        Check(
            f"at most {API_REQUESTS_PER_WINDOW} API requests in any 5 s, none refused",
            f.busiest_api_window <= API_REQUESTS_PER_WINDOW and f.rejected == 0,
            f"busiest {f.busiest_api_window}, {f.rejected} refused (429)",
        ),
        Check(
            f"page at Plivo <= {PAGE_GOAL_S:g} s after it was posted",
            latency is not None and latency <= PAGE_GOAL_S,
            "never" if latency is None else f"{latency * 1000:.0f} ms",
        ),
    ]


def all_met(checks: Iterable[Check]) -> bool:
    return all(c.met for c in checks)


def ratio(ours: float | None, theirs: float | None) -> float | None:
    """theirs / ours: how many times better ours is on a lower-is-better figure."""
    if ours is None or theirs is None or ours <= 0:
        return None
    return theirs / ours
