"""Apply Alembic migrations on start and from `laoyou migrate`."""

from __future__ import annotations

import asyncio
import functools
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

MIGRATIONS = Path(__file__).resolve().parents[1] / "migrations"
# The PostgreSQL advisory lock that every process migrating one database takes first ("laoyou" in ASCII).
MIGRATION_LOCK = 0x6C616F796F75


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url)
    return config


async def upgrade(engine: AsyncEngine) -> None:
    """Bring the database to the newest revision, on the engine's own connection.

    On PostgreSQL the processes that start together (app replicas, workers, `laoyou migrate`) take turns under
    a transaction-scoped advisory lock: the first migrates, the others then find nothing left to do. Without
    it each saw an empty version table and all but one failed inserting into it. SQLite's writers take turns
    already (a write transaction locks the file).
    """

    def _upgrade(connection) -> None:  # noqa: ANN001
        config = alembic_config(str(engine.url))
        config.attributes["connection"] = connection
        # Each domain keeps its own branch of revisions off the first one; "heads" applies them all.
        command.upgrade(config, "heads")

    async with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            await connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
        await connection.run_sync(_upgrade)


async def upgrade_when_reachable(engine: AsyncEngine) -> None:
    """`upgrade`, waiting out a database that cannot be reached yet (a worker started before its database,
    or while it restarts) with one log line instead of exiting."""
    from laoyou.core.jobs import Outage

    outage = Outage("the migrations")
    while True:
        try:
            await upgrade(engine)
        except Exception as error:
            backoff = outage.failed(error)
            if backoff is None:
                raise
            await asyncio.sleep(backoff)
        else:
            outage.succeeded()
            return


@functools.cache
def _scripts():  # noqa: ANN202
    """The revisions as the code ships them, read once (/readyz asks every few seconds)."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config("sqlite://"))


def is_current(connection) -> bool:  # noqa: ANN001
    """The database has every revision this code ships (run_sync on a connection). Not a comparison of heads:
    a revision that another one depends on is not kept as a head in the version table."""
    from alembic.runtime.migration import MigrationContext

    script = _scripts()
    applied = MigrationContext.configure(connection).get_current_heads()
    if not applied:
        return False
    have = {revision.revision for revision in script.iterate_revisions(applied, "base")}
    return set(script.get_heads()) <= have
