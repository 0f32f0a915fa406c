"""tickets: work orders, their events and attachments, field staff profiles

Revision ID: 0004_tickets
Revises: 0003_media
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_tickets"
down_revision: str | None = "0003_media"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _utc(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "work_order",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("community_id", sa.Integer(), sa.ForeignKey("community.id"), nullable=False),
        sa.Column("district_id", sa.Integer(), sa.ForeignKey("district.id"), nullable=False),
        sa.Column("kind", sa.String(12), nullable=False),
        sa.Column("category", sa.String(20), nullable=False),
        sa.Column("urgency", sa.String(10), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("is_open", sa.Boolean(), nullable=False),
        sa.Column("place", sa.String(10), nullable=False),
        sa.Column("household_id", sa.Integer(), sa.ForeignKey("household.id"), nullable=True),
        sa.Column("place_note", sa.String(200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("source", sa.String(10), nullable=False),
        sa.Column("reporter_id", sa.Integer(), sa.ForeignKey("person.id"), nullable=True),
        sa.Column("reporter_name", sa.String(50), nullable=False),
        sa.Column("reporter_phone", sa.String(20), nullable=False),
        sa.Column("created_by_id", sa.Integer(), sa.ForeignKey("person.id"), nullable=False),
        sa.Column("client_id", sa.String(64), nullable=False),
        sa.Column("hide_author", sa.Boolean(), nullable=False),
        sa.Column("assignee_id", sa.Integer(), sa.ForeignKey("person.id"), nullable=True),
        _utc("created_at"),
        _utc("updated_at"),
        _utc("response_due_at"),
        _utc("completion_due_at"),
        _utc("responded_at", True),
        _utc("done_at", True),
        _utc("closed_at", True),
        sa.Column("escalation_level", sa.Integer(), nullable=False),
        _utc("escalated_at", True),
        sa.Column("official_visible", sa.Boolean(), nullable=False),
        sa.Column("reopen_count", sa.Integer(), nullable=False),
        sa.Column("rating", sa.Integer(), nullable=True),
        sa.Column("rating_comment", sa.String(500), nullable=False),
        _utc("return_visit_due_at", True),
        _utc("return_visit_done_at", True),
        sa.Column("return_visit_note", sa.String(500), nullable=False),
        sa.UniqueConstraint("created_by_id", "client_id", name="uq_work_order_client"),
    )
    op.create_index("ix_work_order_board", "work_order", ["district_id", "is_open", "id"])
    op.create_index("ix_work_order_district_status", "work_order", ["district_id", "status", "id"])
    op.create_index("ix_work_order_community_open", "work_order", ["community_id", "is_open", "id"])
    op.create_index("ix_work_order_assignee_open", "work_order", ["assignee_id", "is_open", "id"])
    op.create_index("ix_work_order_reporter", "work_order", ["reporter_id", "id"])
    op.create_index("ix_work_order_household", "work_order", ["household_id", "id"])

    op.create_table(
        "work_order_event",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("work_order_id", sa.Integer(), sa.ForeignKey("work_order.id"), nullable=False),
        sa.Column("community_id", sa.Integer(), sa.ForeignKey("community.id"), nullable=False),
        sa.Column("district_id", sa.Integer(), sa.ForeignKey("district.id"), nullable=False),
        sa.Column("actor_id", sa.Integer(), sa.ForeignKey("person.id"), nullable=True),
        sa.Column("action", sa.String(20), nullable=False),
        sa.Column("from_status", sa.String(12), nullable=True),
        sa.Column("to_status", sa.String(12), nullable=False),
        sa.Column("note", sa.String(500), nullable=False),
        _utc("created_at"),
    )
    op.create_index("ix_work_order_event_work_order_id", "work_order_event", ["work_order_id"])

    op.create_table(
        "ticket_attachment",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("work_order_id", sa.Integer(), sa.ForeignKey("work_order.id"), nullable=False),
        sa.Column("media_file_id", sa.Integer(), sa.ForeignKey("media_file.id"), nullable=False),
        sa.Column("community_id", sa.Integer(), sa.ForeignKey("community.id"), nullable=False),
        sa.Column("district_id", sa.Integer(), sa.ForeignKey("district.id"), nullable=False),
        sa.Column("added_by_id", sa.Integer(), sa.ForeignKey("person.id"), nullable=False),
        sa.Column("stage", sa.String(10), nullable=False),
        _utc("created_at"),
        sa.UniqueConstraint("work_order_id", "media_file_id"),
    )
    op.create_index("ix_ticket_attachment_work_order_id", "ticket_attachment", ["work_order_id"])
    op.create_index("ix_ticket_attachment_media_file_id", "ticket_attachment", ["media_file_id"])

    op.create_table(
        "staff_profile",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("person_id", sa.Integer(), sa.ForeignKey("person.id"), nullable=False, unique=True),
        sa.Column("district_id", sa.Integer(), sa.ForeignKey("district.id"), nullable=False),
        sa.Column("skills", sa.JSON(), nullable=False),
        sa.Column("community_ids", sa.JSON(), nullable=False),
        sa.Column("on_duty", sa.Boolean(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
    )
    op.create_index("ix_staff_profile_district_id", "staff_profile", ["district_id"])


def downgrade() -> None:
    op.drop_table("staff_profile")
    op.drop_table("ticket_attachment")
    op.drop_table("work_order_event")
    op.drop_table("work_order")
