"""How the models are compared with a database: by autogenerate here and by tests/core/test_migrations.py."""

from __future__ import annotations

from typing import Any

from alembic.migration import MigrationContext
from sqlalchemy import Column


def same_server_default(
    context: MigrationContext,
    inspected_column: Column,
    metadata_column: Column,
    inspected_default: str | None,
    metadata_default: Any,
    rendered_metadata_default: str | None,
) -> bool | None:
    """False where Alembic misreads two equal defaults as different; None lets Alembic compare."""
    # Alembic's SQLite comparison unquotes 'text' but not the empty '' (its pattern wants a character inside
    # the quotes), so an empty-string default, read back as ('') or '', looks unlike the same one declared.
    if (
        context.dialect.name == "sqlite"
        and inspected_default in ("('')", "''")
        and rendered_metadata_default == ""
    ):
        return False
    return None


# A TypeDecorator such as UTCDateTime is compared through its impl, DateTime(timezone=True): no exception needed.
COMPARE_OPTIONS: dict[str, Any] = {"compare_type": True, "compare_server_default": same_server_default}
