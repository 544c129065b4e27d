"""Where the receiver's and the workers' CPU goes, sampled with py-spy while a benchmark runs.

`python -m bench first-page callbacks --profile` attaches `py-spy record`
(with `--subprocesses`, so every gunicorn worker and every pool child is
sampled) to alert-dispatch's web and worker processes for the measured part
of the run, and writes py-spy's raw collapsed stacks next to the logs. The
functions below read those stacks: py-spy is only needed to take a profile,
not to read one, and it is not a dependency of the project
(`.venv/bin/pip install py-spy`).

Three views, each a share of all samples of the process tree:

* by layer: each sample is charged to the innermost frame that belongs to a
  known layer (the database driver and SQLAlchemy, the broker client, HTTP,
  logging, metrics, JSON and validation, Celery's own machinery, the web
  server), else to the project's own code;
* by project function, inclusive: the share of samples in which a function
  of shared/, worker/ or webhooks/ is on the stack (record_event, a task, a
  view...);
* by function, self time: the innermost frame of each sample.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from bench.common import REPO_ROOT

Stack = tuple[tuple[str, ...], int]

PROJECT_DIRS = ("shared/", "worker/", "webhooks/")
# Innermost match wins, so a commit inside a task counts as database time.
LAYERS = (
    ("database (SQLAlchemy, sqlite3, psycopg)", ("sqlalchemy/", "sqlite3/", "psycopg")),
    ("broker client (kombu, redis-py)", ("kombu/", "redis/")),
    ("HTTP client (requests, urllib3)", ("requests/", "urllib3/", "http/client.py")),
    ("logging", ("logging/",)),
    ("metrics (prometheus_client)", ("prometheus_client/",)),
    ("JSON and validation (json, pydantic)", ("json/", "pydantic", "strict_json")),
    ("Celery machinery (celery, billiard)", ("celery/", "billiard/", "vine/", "amqp/")),
    (
        "web server (gunicorn, gevent, werkzeug, flask)",
        ("gunicorn/", "gevent/", "werkzeug/", "flask/"),
    ),
)
OTHER = "other (stdlib, imports)"
PROJECT = "project code (shared/, worker/, webhooks/)"


def parse_collapsed(text: str) -> list[Stack]:
    """py-spy's raw format: `frame;frame;... count` per line, root first; the
    `process N:"cmd"` frames of --subprocesses are dropped."""
    stacks: list[Stack] = []
    for line in text.splitlines():
        body, _, count = line.rstrip().rpartition(" ")
        if not body or not count.isdigit():
            continue
        frames = tuple(f for f in body.split(";") if f and not f.startswith("process "))
        if frames:
            stacks.append((frames, int(count)))
    return stacks


def frame_file(frame: str) -> str:
    """`Session.commit (sqlalchemy/orm/session.py:2030)` -> `sqlalchemy/orm/session.py`."""
    _, _, location = frame.rpartition(" (")
    return location.rstrip(")").rpartition(":")[0] or location.rstrip(")")


def frame_name(frame: str) -> str:
    """The frame without its line number: one entry per function, not per line."""
    function, _, _ = frame.rpartition(" (")
    return f"{function} ({frame_file(frame)})" if function else frame


def is_project(frame: str) -> bool:
    """A frame of this project's code: py-spy names those files relative to the
    working directory (`worker/tasks/send_sms.py`), installed libraries relative to
    site-packages (`celery/worker/worker.py`, which is not ours)."""
    path = frame_file(frame).removeprefix(f"{REPO_ROOT}/")
    return path.startswith(PROJECT_DIRS)


def layer_of(frames: Sequence[str]) -> str:
    """The layer of the innermost frame that belongs to one; project code, else other."""
    for frame in reversed(frames):
        path = frame_file(frame)
        for name, markers in LAYERS:
            if any(marker in path for marker in markers):
                return name
        if is_project(frame):
            return PROJECT
    return OTHER


def _shares(counts: Counter[str], total: int, top: int) -> list[tuple[str, float]]:
    if total <= 0:
        return []
    return [(name, n / total) for name, n in counts.most_common(top)]


def total_samples(stacks: Iterable[Stack]) -> int:
    return sum(n for _, n in stacks)


def by_layer(stacks: Sequence[Stack]) -> list[tuple[str, float]]:
    counts: Counter[str] = Counter()
    for frames, n in stacks:
        counts[layer_of(frames)] += n
    return _shares(counts, total_samples(stacks), len(LAYERS) + 2)


def inclusive_project(stacks: Sequence[Stack], top: int = 12) -> list[tuple[str, float]]:
    """Share of samples with each project function anywhere on the stack (once per sample)."""
    counts: Counter[str] = Counter()
    for frames, n in stacks:
        for name in {frame_name(f) for f in frames if is_project(f)}:
            counts[name] += n
    return _shares(counts, total_samples(stacks), top)


def self_time(stacks: Sequence[Stack], top: int = 12) -> list[tuple[str, float]]:
    counts: Counter[str] = Counter()
    for frames, n in stacks:
        counts[frame_name(frames[-1])] += n
    return _shares(counts, total_samples(stacks), top)


def render(title: str, stacks: Sequence[Stack], top: int = 8) -> list[str]:
    """A short markdown summary of one profile: samples, layers, project functions, leaves."""
    total = total_samples(stacks)
    lines = [f"#### {title}: {total:,} samples", ""]
    if total == 0:
        return [*lines, "no samples (the process was idle or py-spy could not attach)", ""]

    def block(heading: str, shares: list[tuple[str, float]]) -> list[str]:
        return [f"- {heading}: " + "; ".join(f"{name} {share:.0%}" for name, share in shares)]

    lines += block("by layer (innermost)", by_layer(stacks))
    lines += block("project functions (inclusive)", inclusive_project(stacks, top))
    lines += block("self time", self_time(stacks, top))
    return [*lines, ""]


# -- taking a profile (I/O) -----------------------------------------------------------


def py_spy() -> str | None:
    """The py-spy next to this interpreter, else on PATH; None when not installed."""
    import sys

    beside = Path(sys.executable).parent / "py-spy"
    return str(beside) if beside.exists() else shutil.which("py-spy")


@contextlib.contextmanager
def sampling(targets: dict[str, int], out_dir: Path, rate: int = 100) -> Iterator[dict[str, Path]]:
    """py-spy records each target process tree (name -> pid) until the block ends;
    yields the files the collapsed stacks are written to when it does."""
    binary = py_spy()
    if binary is None:
        raise RuntimeError("--profile needs py-spy: .venv/bin/pip install py-spy")
    out_dir.mkdir(parents=True, exist_ok=True)
    files = {name: out_dir / f"{name}.collapsed.txt" for name in targets}
    processes = []
    for name, pid in targets.items():
        command = [binary, "record", "--pid", str(pid), "--subprocesses", "--nonblocking"]
        command += ["--rate", str(rate), "--format", "raw", "--output", str(files[name])]
        log = open(out_dir / f"{name}.py-spy.log", "wb")  # noqa: SIM115 - closed below
        processes.append((subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT), log))
    try:
        yield files
    finally:
        for process, log in processes:
            with contextlib.suppress(ProcessLookupError):
                os.kill(process.pid, signal.SIGINT)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
            log.close()


def read_profile(path: Path) -> list[Stack]:
    return parse_collapsed(path.read_text()) if path.exists() else []
