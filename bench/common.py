"""What every benchmark needs: numbers to page, alerts to post, and an honest header.

The benchmarks measure the system from outside, as an operator would: they
post alerts to the receiver over HTTP and read what the Plivo simulator
received. This module holds the parts that do not depend on what is measured,
so two benchmarks cannot drift apart in how they page or how they describe the
run (commit, machine) in their results files.
"""

from __future__ import annotations

import contextlib
import os
import platform
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import requests

REPO_ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = REPO_ROOT / "bench" / "results"

# Fictional-looking but valid North American numbers: +1 415 2xx xxxx.
FIRST_DESTINATION = 14152000000
MAX_DESTINATIONS = 100_000


def destinations(count: int) -> list[str]:
    """`count` distinct valid E.164 numbers, one per alert, so no person cap binds.

    Distinct numbers also make counting at the simulator exact: a number
    messaged twice is a page sent twice, a number never messaged a page lost.
    """
    from shared.core.phone import InvalidPhoneNumber, normalize_e164

    numbers: list[str] = []
    for offset in range(MAX_DESTINATIONS):
        if len(numbers) == count:
            break
        with contextlib.suppress(InvalidPhoneNumber):
            numbers.append(normalize_e164(f"+{FIRST_DESTINATION + offset}"))
    if len(numbers) < count:
        raise ValueError(f"cannot make {count} distinct destinations")
    return numbers


def digits(number: str) -> str:
    """A number as Plivo spells it in bodies and lists: no leading "+"."""
    return number.lstrip("+")


class AlertRefused(RuntimeError):
    """The receiver answered something other than 202 Accepted."""

    def __init__(self, status: int, body: str) -> None:
        super().__init__(f"alert refused: HTTP {status}: {body[:200]}")
        self.status = status


@dataclass(frozen=True)
class Posted:
    """The receiver's answer to one alert: stored as `alert_id`; `queued` False when
    the broker was down and routing is left to the tick."""

    alert_id: int
    queued: bool


class AlertPoster:
    """Posts alerts with explicit recipients to `/api/v1/alerts` over one HTTP session.

    Explicit recipients need no on-call configuration and page exactly the
    numbers given, with one SMS and nothing after it: the simplest page whose
    fate can be counted.
    """

    def __init__(self, web_url: str, api_token: str, *, timeout: float = 10.0) -> None:
        self._url = f"{web_url}/api/v1/alerts"
        self._timeout = timeout
        self._session = requests.Session()
        self._session.headers["Authorization"] = f"Bearer {api_token}"

    def post(self, number: str, summary: str, *, severity: str = "critical") -> Posted:
        """The stored alert; raises `AlertRefused` (or a requests error) otherwise."""
        response = self._session.post(
            self._url,
            json={
                "summary": summary,
                "severity": severity,
                "source": "bench",
                "recipients": [number],
            },
            timeout=self._timeout,
        )
        if response.status_code != 202:
            raise AlertRefused(response.status_code, response.text)
        body = response.json()
        return Posted(alert_id=int(body["id"]), queued=bool(body.get("queued", True)))

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> AlertPoster:
        return self

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _value: BaseException | None,
        _traceback: TracebackType | None,
    ) -> None:
        self.close()


def get_json(url: str, timeout: float = 10.0) -> Any:
    """GET a JSON document (a simulator's `/_sim/*` view), failing loudly on an error status."""
    response = requests.get(url, timeout=timeout)
    response.raise_for_status()
    return response.json()


@contextlib.contextmanager
def bench_directory(path: Path | None, prefix: str) -> Iterator[Path]:
    """The directory a run keeps its data and logs in.

    A given path is kept afterwards, to study the logs of a run; without one,
    a temporary directory is used and removed at the end.
    """
    if path is not None:
        resolved = path.resolve()
        resolved.mkdir(parents=True, exist_ok=True)
        yield resolved
        return
    with tempfile.TemporaryDirectory(prefix=prefix) as owned:
        yield Path(owned)


def cpu_count() -> int:
    """What `nproc` reports: the CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        return os.cpu_count() or 1


def machine() -> str:
    """CPUs, OS, Python and Celery: what a reader needs to compare two runs."""
    import celery

    return (
        f"{cpu_count()} CPUs (nproc), {platform.system()} {platform.machine()}, "
        f"Python {platform.python_version()}, Celery {celery.__version__}"
    )


def source_state() -> str:
    """The commit measured, and whether uncommitted changes were in the tree that ran."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.split("\n")
    except (OSError, subprocess.SubprocessError):
        return "unknown (not a git checkout)"
    changed = sorted(line[3:] for line in dirty if line.strip())
    return f"{head}" + (f" plus uncommitted changes to {', '.join(changed)}" if changed else "")
