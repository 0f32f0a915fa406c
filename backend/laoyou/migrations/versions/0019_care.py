"""care: the care ledger (关爱台账) and the daily check-in (每日报平安)

Revision ID: 0019_care
Revises: 0003_media (a paper consent keeps its photo in media_file; a visit's follow-up may be a work order)
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019_care"
down_revision: str | None = "0003_media"
branch_labels: str | Sequence[str] | None = ("care",)
depends_on: str | Sequence[str] | None = ("0004_tickets",)


def _place() -> list[sa.Column]:
    return [
        sa.Column("resident_id", sa.Integer(), sa.ForeignKey("person.id"), nullable=False),
        sa.Column("household_id", sa.Integer(), sa.ForeignKey("household.id"), nullable=False),
        sa.Column("community_id", sa.Integer(), sa.ForeignKey("community.id"), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "care_record",
        sa.Column("id", sa.Integer(), primary_key=True),
        *_place(),
        sa.Column("district_id", sa.Integer(), sa.ForeignKey("district.id"), nullable=False),
        sa.Column("living", sa.String(20), nullable=False),
        sa.Column("mobility", sa.String(20), nullable=False),
        sa.Column("needs", sa.String(200), nullable=False),
        sa.Column("visit_times", sa.String(50), nullable=False),
        sa.Column("contact_name", sa.String(50), nullable=False),
        sa.Column("contact_phone", sa.String(20), nullable=False),
        sa.Column("consent_method", sa.String(10), nullable=False),
        sa.Column("consent_by_id", sa.Integer(), sa.ForeignKey("person.id"), nullable=False),
        sa.Column("consent_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("consent_photo_id", sa.Integer(), sa.ForeignKey("media_file.id"), nullable=True),
        sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("withdrawn_by_id", sa.Integer(), sa.ForeignKey("person.id"), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("resident_id"),
    )
    for column in ("resident_id", "household_id", "community_id", "district_id"):
        op.create_index(f"ix_care_record_{column}", "care_record", [column])
    op.create_table(
        "care_visit",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("record_id", sa.Integer(), sa.ForeignKey("care_record.id"), nullable=False),
        sa.Column("community_id", sa.Integer(), sa.ForeignKey("community.id"), nullable=False),
        sa.Column("visited_on", sa.Date(), nullable=False),
        sa.Column("visitor_id", sa.Integer(), sa.ForeignKey("person.id"), nullable=False),
        sa.Column("finding", sa.String(20), nullable=False),
        sa.Column("note", sa.String(200), nullable=False),
        sa.Column("follow_up", sa.String(200), nullable=False),
        sa.Column("work_order_id", sa.Integer(), sa.ForeignKey("work_order.id"), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_care_visit_record_id", "care_visit", ["record_id"])
    op.create_index("ix_care_visit_community_id", "care_visit", ["community_id"])
    op.create_table(
        "care_checkin_plan",
        sa.Column("id", sa.Integer(), primary_key=True),
        *_place(),
        sa.Column("district_id", sa.Integer(), sa.ForeignKey("district.id"), nullable=False),
        sa.Column("window_end", sa.Integer(), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("paused_until", sa.Date(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("set_by_id", sa.Integer(), sa.ForeignKey("person.id"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("resident_id"),
    )
    for column in ("resident_id", "household_id", "community_id", "district_id"):
        op.create_index(f"ix_care_checkin_plan_{column}", "care_checkin_plan", [column])
    op.create_table(
        "care_checkin_day",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("plan_id", sa.Integer(), sa.ForeignKey("care_checkin_plan.id"), nullable=False),
        *_place(),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("how", sa.String(10), nullable=True),
        sa.Column("reason", sa.String(100), nullable=False),
        sa.Column("checked_in_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("missed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("family_told_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("paged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("handler_id", sa.Integer(), sa.ForeignKey("person.id"), nullable=True),
        sa.Column("outcome", sa.String(20), nullable=True),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_by_id", sa.Integer(), sa.ForeignKey("person.id"), nullable=True),
        sa.UniqueConstraint("resident_id", "day"),
    )
    for column in ("plan_id", "resident_id", "household_id", "community_id", "day", "state"):
        op.create_index(f"ix_care_checkin_day_{column}", "care_checkin_day", [column])


def downgrade() -> None:
    op.drop_table("care_checkin_day")
    op.drop_table("care_checkin_plan")
    op.drop_table("care_visit")
    op.drop_table("care_record")
