"""A notice send's progress as one line of text: the bar of `notice status` (and the demo).

Pure: a `shared.notices.progress.Progress` in, a string out, no terminal
handling. `render_progress` draws a bar that fills the width it is given;
`render_plain` says the same figures without a bar, for logs and pipes.
"""

from __future__ import annotations

from datetime import UTC, datetime

from shared.notices.delivery_state import DeliveryState
from shared.notices.progress import Progress

D = DeliveryState
FULL, EMPTY = "█", "░"
MIN_BAR = 10


def _eta(progress: Progress, now: datetime | None, short: bool = False) -> str:
    if progress.remaining == 0:
        return "done"
    if progress.eta is None:
        return "ETA unknown"
    clock = f"{progress.eta.astimezone(UTC):%H:%M:%S}" + ("" if short else " UTC")
    if now is None:
        return f"ETA {clock}"
    seconds = max(0, round((progress.eta - now).total_seconds()))
    return f"ETA {clock} (in {seconds} s)"


def figures(progress: Progress, now: datetime | None = None, *, short: bool = False) -> str:
    """`handed off 500 · delivered 420 · failed 3 · skipped 10 · left 480 · ETA ...`;
    `short`: the same figures in fewer characters, for a narrow terminal."""
    by_state = progress.by_state
    counts = (
        ("handed off", "sent", progress.handed_off),
        ("delivered", "dlv", by_state[D.DELIVERED]),
        ("failed", "fail", by_state[D.FAILED]),
        ("skipped", "skip", by_state[D.SKIPPED]),
        ("left", "left", progress.remaining),
    )
    if short:  # what is left shows in done/total already
        counts = counts[:-1]
    parts = [f"{short_name if short else name} {count}" for name, short_name, count in counts]
    eta = _eta(progress, None if short else now, short)
    return (" " if short else " · ").join([*parts, eta])


def render_progress(progress: Progress, width: int, *, now: datetime | None = None) -> str:
    """One line at most `width` characters wide (short of that, the figures are abridged):
    the bar, the share done and the counts. `now` adds "in N s" to the ETA's clock time."""
    done = progress.fraction_done
    tail = f" {done * 100:5.1f}%  {progress.total - progress.remaining}/{progress.total}  "
    text = figures(progress, now)
    if len(tail) + len(text) + 2 + MIN_BAR > width:
        text = figures(progress, short=True)
    room = width - len(tail) - 2 - MIN_BAR
    if len(text) > room:
        text = text[: max(0, room - 1)] + "…"
    bar_width = max(MIN_BAR, width - len(tail) - len(text) - 2)
    filled = min(bar_width, int(done * bar_width))
    return f"[{FULL * filled}{EMPTY * (bar_width - filled)}]{tail}{text}"


def render_plain(progress: Progress, now: datetime | None = None) -> str:
    """The figures without a bar, for output that is not a terminal."""
    done = progress.total - progress.remaining
    share = f"{progress.fraction_done * 100:.1f}%"
    return f"{done}/{progress.total} ({share}) done: {figures(progress, now)}"
