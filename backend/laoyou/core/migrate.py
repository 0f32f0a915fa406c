"""Apply Alembic migrations on start and from `laoyou migrate`."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.ext.asyncio import AsyncEngine

MIGRATIONS = Path(__file__).resolve().parents[1] / "migrations"


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url)
    return config


async def upgrade(engine: AsyncEngine) -> None:
    """Bring the database to the newest revision, on the engine's own connection."""

    def _upgrade(connection) -> None:  # noqa: ANN001
        config = alembic_config(str(engine.url))
        config.attributes["connection"] = connection
        # Each domain keeps its own branch of revisions off the first one; "heads" applies them all.
        command.upgrade(config, "heads")

    async with engine.begin() as connection:
        await connection.run_sync(_upgrade)


def script_heads() -> frozenset[str]:
    """The newest revision of each branch, as the code ships them."""
    from alembic.script import ScriptDirectory

    return frozenset(ScriptDirectory.from_config(alembic_config("sqlite://")).get_heads())


def applied_heads(connection) -> frozenset[str]:  # noqa: ANN001
    """The revisions the database is at (run_sync on a connection)."""
    from alembic.runtime.migration import MigrationContext

    return frozenset(MigrationContext.configure(connection).get_current_heads())
