"""Offering load from outside and reading what reached Plivo.

Alerts are posted from threads, each with its own HTTP session, either on a
schedule (`paced`: alert i leaves at t0 + i / rate, or at once if the
threads fell behind) or as fast as the receiver answers (`as_fast_as_possible`).
Every post records when it left, by the wall clock the simulator also uses,
so a page's latency is the simulator's receive time minus that.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import requests

from bench.common import AlertPoster, AlertRefused, get_json
from bench.rate_limit import Send, message_sends


@dataclass(frozen=True)
class Post:
    """One POST: what it paged, when it left (epoch s), how long it took, how it ended."""

    key: str
    sent_at: float
    latency_s: float
    ok: bool
    error: str = ""


PostFn = Callable[[str], None]  # posts for one key; raises on refusal


def _run_threads(count: int, target: Callable[[], None]) -> None:
    threads = [threading.Thread(target=target, daemon=True) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def _timed(post: PostFn, key: str) -> Post:
    started = time.time()
    try:
        post(key)
    except (AlertRefused, requests.RequestException) as exc:
        return Post(key, started, time.time() - started, False, f"{type(exc).__name__}: {exc}")
    return Post(key, started, time.time() - started, True)


def offer(
    keys: Sequence[str],
    make_post: Callable[[], tuple[PostFn, Callable[[], None]]],
    *,
    threads: int,
    rate: float | None = None,
) -> list[Post]:
    """Post once per key from `threads` threads, on a schedule at `rate`/s or unpaced.

    `make_post` gives each thread its own post function and its closer.
    """
    lock = threading.Lock()
    next_index = 0
    results: list[Post] = []
    start = time.monotonic() + 0.2

    def work() -> None:
        nonlocal next_index
        post, close = make_post()
        try:
            while True:
                with lock:
                    index = next_index
                    next_index += 1
                if index >= len(keys):
                    return
                if rate is not None:
                    time.sleep(max(0.0, start + index / rate - time.monotonic()))
                record = _timed(post, keys[index])
                with lock:
                    results.append(record)
        finally:
            close()

    _run_threads(threads, work)
    return sorted(results, key=lambda p: p.sent_at)


def alert_posters(
    web_url: str, token: str, summary: str
) -> Callable[[], tuple[PostFn, Callable[[], None]]]:
    """Per thread: a poster of an alert paging the key (a phone number) as its recipient."""

    def make() -> tuple[PostFn, Callable[[], None]]:
        poster = AlertPoster(web_url, token)

        def post(number: str) -> None:
            poster.post(number, summary)

        return post, poster.close

    return make


# -- what reached Plivo ---------------------------------------------------------


def accepted_sends(sends: Iterable[Send]) -> list[Send]:
    """The SMS Plivo accepted (2xx), oldest first."""
    return sorted((s for s in sends if 200 <= s.status < 300), key=lambda s: s.at)


def first_arrivals(sends: Iterable[Send]) -> dict[str, float]:
    """Each destination's first accepted SMS: when its page reached Plivo."""
    first: dict[str, float] = {}
    for send in accepted_sends(sends):
        first.setdefault(send.destination, send.at)
    return first


def accepted_by_number(simulator_url: str) -> dict[str, list[float]]:
    """Every SMS Plivo accepted, by number (with its "+"), oldest first: when each
    reached it. Counts a number paged twice as two."""
    times: dict[str, list[float]] = {}
    for send in accepted_sends(simulator_sends(simulator_url)):
        times.setdefault("+" + send.destination, []).append(send.at)
    return times


def page_latencies(posts: Iterable[Post], arrivals: Mapping[str, float]) -> list[float]:
    """Seconds from each accepted post to its page's first arrival at Plivo."""
    return [
        arrivals[p.key.lstrip("+")] - p.sent_at
        for p in posts
        if p.ok and p.key.lstrip("+") in arrivals
    ]


@dataclass(frozen=True)
class Counted:
    """Pages expected vs received: lost (never paged) and twice (paged more than once)."""

    expected: int
    received: int
    lost: int
    twice: int


def count_pages(expected: Iterable[str], sends: Iterable[Send]) -> Counted:
    wanted = {number.lstrip("+") for number in expected}
    per_number = Counter(s.destination for s in accepted_sends(sends) if s.destination in wanted)
    return Counted(
        expected=len(wanted),
        received=sum(per_number.values()),
        lost=len(wanted - set(per_number)),
        twice=sum(1 for n in per_number.values() if n > 1),
    )


def silence_reports(simulator_url: str, numbers: Iterable[str]) -> None:
    """The simulator sends no status callbacks for texts to `numbers` (its "no-callback"
    scenario): only a look-up at Plivo can tell what became of them."""
    for number in numbers:
        requests.post(
            f"{simulator_url}/_sim/scenarios",
            json={"number": number, "sms": "no-callback"},
            timeout=10,
        ).raise_for_status()


def simulator_sends(simulator_url: str) -> list[Send]:
    return message_sends(get_json(f"{simulator_url}/_sim/requests", timeout=60))


def wait_for_pages(
    simulator_url: str, expected: Sequence[str], timeout: float, settle_s: float = 2.0
) -> tuple[list[Send], bool]:
    """Poll the simulator until every expected number was paged or `timeout` passes;
    listens `settle_s` longer after that, so a second page right behind is counted."""
    wanted = {number.lstrip("+") for number in expected}
    deadline = time.monotonic() + timeout
    while True:
        sends = simulator_sends(simulator_url)
        if wanted <= set(first_arrivals(sends)):
            time.sleep(settle_s)
            return simulator_sends(simulator_url), True
        if time.monotonic() >= deadline:
            return sends, False
        time.sleep(0.5 if len(wanted) < 500 else 1.5)
