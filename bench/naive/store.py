"""The naive pager's two tables and its engine: one row per alert, one per message sent."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Engine, Integer, String, Text, create_engine, event
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.core.db import normalize_database_url


class Base(DeclarativeBase):
    pass


def _now() -> datetime:
    return datetime.now(UTC)


class NaiveAlert(Base):
    __tablename__ = "naive_alerts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    summary: Mapped[str] = mapped_column(Text)
    severity: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(200), default="")
    recipients: Mapped[list[str]] = mapped_column(JSON, default=list)
    labels: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)


class NaiveMessage(Base):
    __tablename__ = "naive_messages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    alert_id: Mapped[int] = mapped_column(Integer, index=True)
    destination: Mapped[str] = mapped_column(String(32))
    uuid: Mapped[str] = mapped_column(String(64), index=True)
    status: Mapped[str] = mapped_column(String(16), default="queued")


_engines: dict[tuple[int, str], Engine] = {}


def engine(url: str) -> Engine:
    """One engine per process (a forked Celery child must not share its parent's pool).

    SQLite gets WAL and a busy timeout, as anyone sharing a file between a web
    server and a worker would set; nothing else is tuned.
    """
    key = (os.getpid(), url)
    if key not in _engines:
        made = create_engine(normalize_database_url(url))
        if made.dialect.name == "sqlite":

            @event.listens_for(made, "connect")
            def _wal(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
                cursor = dbapi_connection.cursor()
                cursor.execute("PRAGMA journal_mode=WAL")
                cursor.execute("PRAGMA busy_timeout=30000")
                cursor.close()

        _engines[key] = made
    return _engines[key]


def create_schema(url: str) -> None:
    Base.metadata.create_all(engine(url))
