"""governance: quarterly finance disclosures, their lines, invoice photos, reads and questions

Revision ID: 0015_disclosures
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0015_disclosures"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = ("disclosures",)
# Invoice photos point at media_file; questions at support_conversation.
depends_on: str | Sequence[str] | None = ("0003_media", "0006_support")

STR = sqlmodel.sql.sqltypes.AutoString
UTC = sa.DateTime(timezone=True)


def _indexes(table: str, columns: list[str]) -> None:
    with op.batch_alter_table(table) as batch:
        for column in columns:
            batch.create_index(batch.f(f"ix_{table}_{column}"), [column], unique=False)


def upgrade() -> None:
    op.create_table(
        "disclosure",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("community_id", sa.Integer(), nullable=False),
        sa.Column("district_id", sa.Integer(), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("quarter", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("previous_id", sa.Integer(), nullable=True),
        sa.Column("status", STR(length=12), nullable=False),
        sa.Column("note", STR(length=500), nullable=False),
        sa.Column("staff_cost_fen", sa.Integer(), nullable=False),
        sa.Column("staff_key", STR(length=12), nullable=False),
        sa.Column("staff_weight", sa.Integer(), nullable=False),
        sa.Column("staff_weight_total", sa.Integer(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=False),
        sa.Column("published_at", UTC, nullable=True),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("updated_at", UTC, nullable=False),
        sa.ForeignKeyConstraint(["community_id"], ["community.id"]),
        sa.ForeignKeyConstraint(["district_id"], ["district.id"]),
        sa.ForeignKeyConstraint(["previous_id"], ["disclosure.id"]),
        sa.ForeignKeyConstraint(["created_by_id"], ["person.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("community_id", "year", "quarter", "version"),
    )
    _indexes("disclosure", ["community_id", "district_id", "status", "created_by_id"])
    op.create_table(
        "disclosure_line",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("disclosure_id", sa.Integer(), nullable=False),
        sa.Column("community_id", sa.Integer(), nullable=False),
        sa.Column("district_id", sa.Integer(), nullable=False),
        sa.Column("kind", STR(length=12), nullable=False),
        sa.Column("fund", STR(length=20), nullable=False),
        sa.Column("title", STR(length=100), nullable=False),
        sa.Column("amount_fen", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["disclosure_id"], ["disclosure.id"]),
        sa.ForeignKeyConstraint(["community_id"], ["community.id"]),
        sa.ForeignKeyConstraint(["district_id"], ["district.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    _indexes("disclosure_line", ["disclosure_id", "community_id", "district_id"])
    op.create_table(
        "disclosure_invoice",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("line_id", sa.Integer(), nullable=False),
        sa.Column("disclosure_id", sa.Integer(), nullable=False),
        sa.Column("media_id", sa.Integer(), nullable=False),
        sa.Column("community_id", sa.Integer(), nullable=False),
        sa.Column("district_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["line_id"], ["disclosure_line.id"]),
        sa.ForeignKeyConstraint(["disclosure_id"], ["disclosure.id"]),
        sa.ForeignKeyConstraint(["media_id"], ["media_file.id"]),
        sa.ForeignKeyConstraint(["community_id"], ["community.id"]),
        sa.ForeignKeyConstraint(["district_id"], ["district.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("line_id", "media_id"),
    )
    _indexes("disclosure_invoice", ["line_id", "disclosure_id", "media_id", "community_id", "district_id"])
    op.create_table(
        "disclosure_read",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("disclosure_id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("household_id", sa.Integer(), nullable=False),
        sa.Column("community_id", sa.Integer(), nullable=False),
        sa.Column("district_id", sa.Integer(), nullable=False),
        sa.Column("read_at", UTC, nullable=False),
        sa.ForeignKeyConstraint(["disclosure_id"], ["disclosure.id"]),
        sa.ForeignKeyConstraint(["person_id"], ["person.id"]),
        sa.ForeignKeyConstraint(["household_id"], ["household.id"]),
        sa.ForeignKeyConstraint(["community_id"], ["community.id"]),
        sa.ForeignKeyConstraint(["district_id"], ["district.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("disclosure_id", "household_id", "person_id"),
    )
    _indexes("disclosure_read", ["disclosure_id", "person_id", "household_id", "community_id", "district_id"])
    op.create_table(
        "disclosure_question",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("disclosure_id", sa.Integer(), nullable=False),
        sa.Column("line_id", sa.Integer(), nullable=False),
        sa.Column("conversation_id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("household_id", sa.Integer(), nullable=False),
        sa.Column("community_id", sa.Integer(), nullable=False),
        sa.Column("district_id", sa.Integer(), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.ForeignKeyConstraint(["disclosure_id"], ["disclosure.id"]),
        sa.ForeignKeyConstraint(["line_id"], ["disclosure_line.id"]),
        sa.ForeignKeyConstraint(["conversation_id"], ["support_conversation.id"]),
        sa.ForeignKeyConstraint(["person_id"], ["person.id"]),
        sa.ForeignKeyConstraint(["household_id"], ["household.id"]),
        sa.ForeignKeyConstraint(["community_id"], ["community.id"]),
        sa.ForeignKeyConstraint(["district_id"], ["district.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    _indexes(
        "disclosure_question",
        [
            "disclosure_id",
            "line_id",
            "conversation_id",
            "person_id",
            "household_id",
            "community_id",
            "district_id",
        ],
    )


def downgrade() -> None:
    for table in (
        "disclosure_question",
        "disclosure_read",
        "disclosure_invoice",
        "disclosure_line",
        "disclosure",
    ):
        op.drop_table(table)
