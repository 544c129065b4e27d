"""Which databases let one transaction write at a time (where routing on arrival waits
for quiet) and which let many."""

import pytest

from shared.core.db import one_writer_at_a_time


@pytest.mark.parametrize(
    ("url", "one_writer"),
    [
        ("sqlite:////var/lib/alert-dispatch/alerts.db", True),
        ("sqlite://", True),
        ("postgresql://pager@db:5432/alerts", False),
        ("postgres://pager@db/alerts", False),
        ("postgresql+psycopg://pager@db/alerts", False),
    ],
)
def test_sqlite_has_one_writer_postgresql_many(url: str, one_writer: bool) -> None:
    assert one_writer_at_a_time(url) is one_writer
