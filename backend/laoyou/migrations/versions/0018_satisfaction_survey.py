"""governance: the quarterly satisfaction survey's answers (one per household and quarter)

Revision ID: 0018_satisfaction_survey
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018_satisfaction_survey"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = ("assessment",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "satisfaction_survey_answer",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("household_id", sa.Integer(), sa.ForeignKey("household.id"), nullable=False),
        sa.Column("community_id", sa.Integer(), sa.ForeignKey("community.id"), nullable=False),
        sa.Column("district_id", sa.Integer(), sa.ForeignKey("district.id"), nullable=False),
        sa.Column("person_id", sa.Integer(), sa.ForeignKey("person.id"), nullable=False),
        sa.Column("quarter", sa.String(7), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("household_id", "quarter"),
    )
    for column in ("household_id", "community_id", "district_id", "person_id"):
        op.create_index(f"ix_satisfaction_survey_answer_{column}", "satisfaction_survey_answer", [column])


def downgrade() -> None:
    op.drop_table("satisfaction_survey_answer")
