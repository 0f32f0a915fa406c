"""governance: Open311 API keys

Revision ID: 0017_open311_keys
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017_open311_keys"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = ("open311",)
depends_on: str | Sequence[str] | None = None

UTC = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "open311_key",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("kind", sa.String(12), nullable=False),
        sa.Column("district_id", sa.Integer(), sa.ForeignKey("district.id"), nullable=False),
        sa.Column("community_id", sa.Integer(), sa.ForeignKey("community.id"), nullable=True),
        sa.Column("created_by_id", sa.Integer(), sa.ForeignKey("person.id"), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("revoked_at", UTC, nullable=True),
    )
    op.create_index("ix_open311_key_district_id", "open311_key", ["district_id"])


def downgrade() -> None:
    op.drop_index("ix_open311_key_district_id", "open311_key")
    op.drop_table("open311_key")
