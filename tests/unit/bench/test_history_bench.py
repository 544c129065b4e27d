"""bench.history seeds the history it claims and times every measured alert."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from bench import history
from shared.core.db import session_scope
from shared.core.models import AckCode, Alert, Notification


def test_the_seeded_history_is_closed_alerts_with_retired_codes_then_open_ones(
    database_url: str,
) -> None:
    history.seed_history(database_url, past=30, open_count=5, people=4)
    with session_scope(database_url) as session:
        statuses = dict(
            session.execute(select(Alert.status, func.count()).group_by(Alert.status)).all()
        )
        active = session.scalar(select(func.count()).where(AckCode.active))
        retired = session.scalar(select(func.count()).where(AckCode.retired_at.is_not(None)))
        people = session.scalar(select(func.count(func.distinct(Notification.destination))))
        # Every code names its own alert, whose message went to the code's person.
        mismatched = session.scalar(
            select(func.count())
            .select_from(AckCode)
            .join(Notification, Notification.alert_id == AckCode.alert_id)
            .where(Notification.destination != AckCode.destination)
        )
    assert statuses == {"resolved": 30, "triggered": 5}
    assert (active, retired, people, mismatched) == (5, 30, 4, 0)


def test_every_measured_alert_is_paged_and_resolved(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(history, "MEASURED", 6)
    timings = history.measure(database_url, past=10, open_count=2, people=3)
    assert len(timings.page_codes) == len(timings.resolves) == 6
    with session_scope(database_url) as session:
        measured = select(Alert.status).where(Alert.source == "history", Alert.summary.like("m%"))
        assert set(session.scalars(measured)) == {"resolved"}
        # Resolving retired the measured alerts' codes: only the 2 other open ones stay.
        assert session.scalar(select(func.count()).where(AckCode.active)) == 2
