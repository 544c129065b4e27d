"""The after-close hooks run once the outermost transaction commits, and only then."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

from shared.alerts import after_close


@pytest.fixture
def ran():
    calls: list[int] = []
    after_close.register("test-recorder", calls.append)
    yield calls
    after_close._HOOKS.pop("test-recorder", None)


@pytest.fixture
def session():
    with Session(create_engine("sqlite://")) as opened:
        opened.execute(text("select 1"))
        yield opened


def test_a_savepoint_released_inside_the_close_runs_nothing_before_the_commit(ran, session):
    after_close.remember(session, 7)
    with session.begin_nested():  # e.g. queueing the SMS reply that confirms the ack
        session.execute(text("select 1"))
    assert ran == []
    session.commit()
    assert ran == [7]


def test_a_savepoint_rolled_back_after_the_close_keeps_it(ran, session):
    after_close.remember(session, 8)
    with pytest.raises(ValueError), session.begin_nested():
        raise ValueError("a duplicate row refused inside a savepoint")
    session.commit()
    assert ran == [8]


def test_a_rolled_back_close_runs_nothing_and_the_session_goes_on_clean(ran, session):
    after_close.remember(session, 9)
    session.rollback()
    session.execute(text("select 1"))
    session.commit()
    assert ran == []


def test_each_close_runs_once_even_when_remembered_twice(ran, session):
    after_close.remember(session, 10)
    after_close.remember(session, 10)
    session.commit()
    session.execute(text("select 1"))
    session.commit()
    assert ran == [10]
