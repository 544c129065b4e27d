"""The pure parts of the receiver's live gauges: bounded labels and kombu's list names."""

from __future__ import annotations

from webhooks.live_gauges import open_alert_counts, priority_lists


def test_every_known_pair_is_present_at_zero():
    counts = open_alert_counts([])
    assert len(counts) == 8
    assert set(counts.values()) == {0}
    assert ("critical", "acknowledged") in counts
    assert ("info", "triggered") in counts


def test_counts_land_on_their_severity_and_status():
    counts = open_alert_counts([("critical", "triggered", 2), ("warning", "acknowledged", 1)])
    assert counts[("critical", "triggered")] == 2
    assert counts[("warning", "acknowledged")] == 1
    assert counts[("critical", "acknowledged")] == 0


def test_unknown_severities_fold_into_other():
    counts = open_alert_counts(
        [("sev1", "triggered", 2), ("<script>", "triggered", 3), ("loud", "acknowledged", 1)]
    )
    assert counts[("other", "triggered")] == 5
    assert counts[("other", "acknowledged")] == 1
    assert not any(severity in {"sev1", "<script>", "loud"} for severity, _ in counts)


def test_statuses_other_than_open_are_left_out():
    counts = open_alert_counts([("critical", "resolved", 4)])
    assert all(status in {"triggered", "acknowledged"} for _, status in counts)
    assert sum(counts.values()) == 0


def test_priority_lists_follow_kombus_names():
    assert priority_lists("notify") == [
        "notify",
        "notify\x06\x163",
        "notify\x06\x166",
        "notify\x06\x169",
    ]
    assert priority_lists("ingest", steps=(0,)) == ["ingest"]
