"""notify: a notice to a large audience waits as one row for the worker to fan it out

Revision ID: 0024_notice_fanout
Revises: 0023_reach
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0024_notice_fanout"
down_revision: str | None = "0023_reach"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "notice_fanout",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_key", sa.String(length=64), nullable=False),
        sa.Column("person_ids", sa.JSON(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=30), nullable=False),
        sa.Column("title", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("link", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("urgency", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=True),
        sa.Column("topic", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("community_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expanded_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("event_key"),
    )
    op.create_index(op.f("ix_notice_fanout_expanded_at"), "notice_fanout", ["expanded_at"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_notice_fanout_expanded_at"), table_name="notice_fanout")
    op.drop_table("notice_fanout")
