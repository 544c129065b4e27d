"""Shared fixtures: real Redis, real databases, real processes."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from shared.embedded_redis import ensure_embedded_redis

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """TEST_REDIS_URL when set, else a real embedded redis-server for this session."""
    configured = os.environ.get("TEST_REDIS_URL")
    if configured:
        yield configured
        return
    server = ensure_embedded_redis(tmp_path_factory.mktemp("redis"))
    yield server.url
    server.stop()


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    """A client on an emptied database, so tests do not see each other's keys."""
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


def _reset_postgres(url: str) -> None:
    from sqlalchemy import text

    from shared.db import get_engine

    with get_engine(url).begin() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """A migrated, empty database: PostgreSQL when TEST_DATABASE_URL is set, else SQLite."""
    from shared.db import upgrade

    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        _reset_postgres(url)
    else:
        url = f"sqlite:///{tmp_path / 'test.db'}"
    upgrade(url)
    return url
