"""The progress line of `notice status`: a bar that fills its width, the share done, the
counts a person acts on, and the ETA; a plain form for pipes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from cli.notice_progress import EMPTY, FULL, render_plain, render_progress
from shared.notices.progress import summarize

NOW = datetime(2026, 12, 6, 10, 0, tzinfo=UTC)
HALF = summarize(
    {
        ("pending", None): 400,
        ("claimed", None): 100,
        ("handed_off", None): 300,
        ("delivered", None): 180,
        ("failed", None): 10,
        ("skipped", "opted_out"): 10,
    },
    rate_per_s=50,
    now=NOW,
)


def bar_of(line: str) -> str:
    return line[1 : line.index("]")]


def test_a_half_done_send_fills_half_the_bar_and_names_every_count() -> None:
    line = render_progress(HALF, 120)
    bar = bar_of(line)
    assert set(bar) == {FULL, EMPTY}
    assert bar.count(FULL) == len(bar) // 2
    assert " 50.0%  500/1000  " in line
    assert "handed off 480 · delivered 180 · failed 10 · skipped 10 · left 500" in line
    assert "ETA 10:00:10 UTC" in line


def test_the_line_fits_the_width_it_is_given_and_the_bar_keeps_a_minimum() -> None:
    for width in (60, 80, 100, 140, 200):
        assert len(render_progress(HALF, width)) == width
    narrow = render_progress(HALF, 80)
    assert narrow.endswith("500/1000  sent 480 dlv 180 fail 10 skip 10 ETA 10:00:10")
    assert len(bar_of(render_progress(HALF, 20))) == 10


def test_now_adds_the_seconds_left_and_a_finished_send_says_done() -> None:
    assert "ETA 10:00:10 UTC (in 8 s)" in render_progress(HALF, 150, now=NOW + timedelta(seconds=2))
    finished = summarize({("delivered", None): 3, ("skipped", "cancelled"): 1}, 50, NOW)
    line = render_progress(finished, 100)
    assert bar_of(line) == FULL * len(bar_of(line))
    assert "100.0%" in line and line.endswith("left 0 · done")


def test_no_rate_left_means_no_estimate() -> None:
    stuck = summarize({("pending", None): 5}, rate_per_s=0, now=NOW)
    assert "ETA unknown" in render_progress(stuck, 100)
    assert render_progress(stuck, 100).count(FULL) == 0


def test_the_plain_form_has_the_same_figures_without_a_bar() -> None:
    line = render_plain(HALF, NOW)
    assert line.startswith("500/1000 (50.0%) done: handed off 480 · delivered 180")
    assert FULL not in line and EMPTY not in line
