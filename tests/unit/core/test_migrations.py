"""The Alembic migrations build exactly the schema the models describe."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from shared.core.db import get_engine, upgrade
from shared.core.models import Base


def test_migrated_schema_matches_models(database_url):
    with get_engine(database_url).connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert differences == []


def test_upgrade_is_safe_to_repeat(database_url):
    upgrade(database_url)
    upgrade(database_url)
