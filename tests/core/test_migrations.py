"""The hand-written migrations build exactly the schema the models declare, on SQLite and PostgreSQL.

Alembic's autogenerate comparison reads the migrated database back and lists every difference from the
models' metadata: tables, columns, types, nullability, indexes, unique constraints, foreign keys and
server defaults, with the options `laoyou/migrations/env.py` gives autogenerate (migrations/compare.py holds
them and their allow-list). A change to a model without its migration (or the reverse) fails here.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import (
    Column,
    DateTime,
    DefaultClause,
    ForeignKeyConstraint,
    MetaData,
    String,
    Table,
    UniqueConstraint,
)
from sqlalchemy.ext.asyncio import create_async_engine
from sqlmodel import SQLModel

import laoyou.models  # noqa: F401  (registers every table)
from laoyou.core.migrate import upgrade
from laoyou.core.models import UTCDateTime
from laoyou.migrations.compare import COMPARE_OPTIONS

from ..conftest import make_database_url


async def differences(
    url: str, metadata: MetaData, *, tables: set[str] | None = None
) -> list[tuple[Any, ...]]:
    """Alembic's list of what the database at url lacks or has beyond the metadata, flattened to one op a row."""
    engine = create_async_engine(url)

    def kept(name: str | None, kind: str) -> bool:
        return kind != "table" or tables is None or name in tables

    def compare(connection: Any) -> list[Any]:
        context = MigrationContext.configure(
            connection,
            opts={
                **COMPARE_OPTIONS,
                # A comparison of some tables reads only those, and leaves the others out on both sides.
                "include_name": lambda name, kind, parents: kept(name, kind),
                "include_object": lambda item, name, kind, reflected, other: kept(name, kind),
            },
        )
        return compare_metadata(context, metadata)

    try:
        async with engine.connect() as connection:
            found = await connection.run_sync(compare)
    finally:
        await engine.dispose()
    # A column's changes come grouped in a list (type, nullability, default); a table's or index's come alone.
    return [op for entry in found for op in (entry if isinstance(entry, list) else [entry])]


@pytest.fixture(scope="module")
async def migrated(
    backend: str, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> AsyncIterator[str]:
    """The URL of a fresh database brought to the newest revision by the project's migrations."""
    url = make_database_url(backend, tmp_path_factory.mktemp(f"migrations-{backend}"), request)
    engine = create_async_engine(url)
    try:
        await upgrade(engine)
    finally:
        await engine.dispose()
    yield url


async def test_the_migrated_database_matches_the_models(migrated):
    found = await differences(migrated, SQLModel.metadata)
    assert found == [], "migrations and models disagree; write a migration for:\n" + "\n".join(
        map(repr, found)
    )


def copy_of_models() -> MetaData:
    """A copy of the models' metadata to change without touching the real one."""
    copy = MetaData()
    for table in SQLModel.metadata.sorted_tables:
        table.to_metadata(copy)
    return copy


def add_column(refund: Table) -> None:
    refund.append_column(Column("throwaway", String(8), nullable=True))


def change_length(refund: Table) -> None:
    refund.c.reason.type = String(100)


def make_a_text_a_timestamp(refund: Table) -> None:
    refund.c.reason.type = UTCDateTime()


def allow_null(refund: Table) -> None:
    refund.c.reason.nullable = True


def drop_index(refund: Table) -> None:
    refund.indexes.remove(next(index for index in refund.indexes if index.name == "ix_refund_status"))


def add_unique(refund: Table) -> None:
    refund.append_constraint(UniqueConstraint("request_hash", name="uq_refund_request_hash"))


def add_foreign_key(refund: Table) -> None:
    refund.append_constraint(ForeignKeyConstraint(["community_id"], ["district.id"], name="fk_refund_wrong"))


def change_server_default(refund: Table) -> None:
    refund.c.status.server_default = DefaultClause("requested")


def drop_time_zone(refund: Table) -> None:
    refund.c.created_at.type = DateTime(timezone=False)


DRIFTS: list[tuple[Callable[[Table], None], str]] = [
    (add_column, "add_column"),
    (change_length, "modify_type"),
    (make_a_text_a_timestamp, "modify_type"),
    (allow_null, "modify_nullable"),
    (drop_index, "remove_index"),
    (add_unique, "add_constraint"),
    (add_foreign_key, "add_fk"),
    (change_server_default, "modify_default"),
    (drop_time_zone, "modify_type"),
]


@pytest.mark.parametrize(("drift", "reported"), DRIFTS, ids=[drift.__name__ for drift, _ in DRIFTS])
async def test_a_model_changed_without_its_migration_is_reported(migrated, backend, drift, reported):
    if drift is drop_time_zone and backend == "sqlite":
        pytest.skip("SQLite stores every timestamp as text: it has no time zone to lose")
    # Given the models with one change that no migration made
    models = copy_of_models()
    drift(models.tables["refund"])
    # When the migrated database is compared with them
    found = await differences(migrated, models, tables={"refund"})
    # Then exactly that change is reported
    assert [op[0] for op in found] == [reported], found
