"""accounts: a person not yet linked asks to be linked to a household; a steward confirms

Revision ID: 0009_link_requests
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009_link_requests"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = ("link_requests",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "link_request",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("community_id", sa.Integer(), nullable=False),
        sa.Column("district_id", sa.Integer(), nullable=False),
        sa.Column("household_id", sa.Integer(), nullable=False),
        sa.Column("building_text", sa.String(length=50), nullable=False),
        sa.Column("unit_text", sa.String(length=20), nullable=False),
        sa.Column("name", sa.String(length=50), nullable=False),
        sa.Column("relation", sa.String(length=10), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("reason", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decided_by_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["community_id"], ["community.id"]),
        sa.ForeignKeyConstraint(["decided_by_id"], ["person.id"]),
        sa.ForeignKeyConstraint(["district_id"], ["district.id"]),
        sa.ForeignKeyConstraint(["household_id"], ["household.id"]),
        sa.ForeignKeyConstraint(["person_id"], ["person.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    for column in ("person_id", "community_id", "district_id", "household_id"):
        op.create_index(op.f(f"ix_link_request_{column}"), "link_request", [column], unique=False)
    op.create_index(
        "uq_link_request_pending_person",
        "link_request",
        ["person_id"],
        unique=True,
        sqlite_where=sa.text("status = 'pending'"),
        postgresql_where=sa.text("status = 'pending'"),
    )


def downgrade() -> None:
    op.drop_index("uq_link_request_pending_person", table_name="link_request")
    for column in ("person_id", "community_id", "district_id", "household_id"):
        op.drop_index(op.f(f"ix_link_request_{column}"), table_name="link_request")
    op.drop_table("link_request")
