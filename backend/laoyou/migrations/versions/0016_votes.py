"""governance: owners' votes (表决), the proxies recorded for them and their ballots

Revision ID: 0016_votes
Revises: 0003_media (a paper ballot keeps its photo in media_file; fee plans and households come before it)
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016_votes"
down_revision: str | None = "0003_media"
branch_labels: str | Sequence[str] | None = ("votes",)
depends_on: str | Sequence[str] | None = ("0002_billing",)


def upgrade() -> None:
    op.create_table(
        "owners_vote",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("community_id", sa.Integer(), sa.ForeignKey("community.id"), nullable=False),
        sa.Column("district_id", sa.Integer(), sa.ForeignKey("district.id"), nullable=False),
        sa.Column("title", sa.String(100), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("matter", sa.String(20), nullable=False),
        sa.Column("fee_plan_id", sa.Integer(), sa.ForeignKey("fee_plan.id"), nullable=True),
        sa.Column("package", sa.String(50), nullable=False),
        sa.Column("deadline", sa.DateTime(timezone=True), nullable=False),
        sa.Column("proposed_by_id", sa.Integer(), sa.ForeignKey("person.id"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("certified_by_id", sa.Integer(), sa.ForeignKey("person.id"), nullable=True),
        sa.Column("certified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.String(10), nullable=True),
        *(
            sa.Column(name, sa.Integer(), nullable=True)
            for name in (
                "total_area",
                "total_owners",
                "voted_area",
                "voted_owners",
                "yes_area",
                "yes_owners",
                "no_area",
                "no_owners",
            )
        ),
    )
    op.create_index("ix_owners_vote_community_id", "owners_vote", ["community_id"])
    op.create_index("ix_owners_vote_district_id", "owners_vote", ["district_id"])
    op.create_table(
        "owners_vote_proxy",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("vote_id", sa.Integer(), sa.ForeignKey("owners_vote.id"), nullable=False),
        sa.Column("household_id", sa.Integer(), sa.ForeignKey("household.id"), nullable=False),
        sa.Column("community_id", sa.Integer(), sa.ForeignKey("community.id"), nullable=False),
        sa.Column("person_id", sa.Integer(), sa.ForeignKey("person.id"), nullable=False),
        sa.Column("note", sa.String(100), nullable=False),
        sa.Column("recorded_by_id", sa.Integer(), sa.ForeignKey("person.id"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("vote_id", "household_id"),
    )
    for column in ("vote_id", "household_id", "community_id", "person_id"):
        op.create_index(f"ix_owners_vote_proxy_{column}", "owners_vote_proxy", [column])
    op.create_table(
        "owners_vote_ballot",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("vote_id", sa.Integer(), sa.ForeignKey("owners_vote.id"), nullable=False),
        sa.Column("household_id", sa.Integer(), sa.ForeignKey("household.id"), nullable=False),
        sa.Column("community_id", sa.Integer(), sa.ForeignKey("community.id"), nullable=False),
        sa.Column("choice", sa.String(10), nullable=False),
        sa.Column("channel", sa.String(10), nullable=False),
        sa.Column("cast_by_id", sa.Integer(), sa.ForeignKey("person.id"), nullable=True),
        sa.Column("proxy_id", sa.Integer(), sa.ForeignKey("owners_vote_proxy.id"), nullable=True),
        sa.Column("photo_id", sa.Integer(), sa.ForeignKey("media_file.id"), nullable=True),
        sa.Column("recorded_by_id", sa.Integer(), sa.ForeignKey("person.id"), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("vote_id", "household_id"),
    )
    for column in ("vote_id", "household_id", "community_id"):
        op.create_index(f"ix_owners_vote_ballot_{column}", "owners_vote_ballot", [column])


def downgrade() -> None:
    op.drop_table("owners_vote_ballot")
    op.drop_table("owners_vote_proxy")
    op.drop_table("owners_vote")
