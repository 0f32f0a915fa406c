"""notify: an emergency notice keeps the client id of the form that sent it, so a second press sends nothing

Revision ID: 0025_emergency_client_id
Revises: 0024_notice_fanout
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0025_emergency_client_id"
down_revision: str | None = "0024_notice_fanout"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("emergency_notice") as batch:
        batch.add_column(sa.Column("client_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))
    op.create_index(
        "ix_emergency_notice_client",
        "emergency_notice",
        ["author_id", "client_id", "community_id"],
        unique=True,
    )


def downgrade() -> None:
    op.drop_index("ix_emergency_notice_client", table_name="emergency_notice")
    with op.batch_alter_table("emergency_notice") as batch:
        batch.drop_column("client_id")
