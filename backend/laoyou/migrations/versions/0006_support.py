"""support: conversations, messages, agents' hours, FAQ, phone-call log, SOS alerts, calls and their signals

Revision ID: 0006_support
Revises: 0003_media (chat messages carry voice notes and photos from media_file)
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_support"
down_revision: str | None = "0003_media"
branch_labels: str | Sequence[str] | None = ("support",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "support_conversation",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("community_id", sa.Integer(), sa.ForeignKey("community.id"), nullable=False),
        sa.Column("district_id", sa.Integer(), sa.ForeignKey("district.id"), nullable=False),
        sa.Column("household_id", sa.Integer(), sa.ForeignKey("household.id"), nullable=True),
        sa.Column("resident_id", sa.Integer(), sa.ForeignKey("person.id"), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("assignee_id", sa.Integer(), sa.ForeignKey("person.id"), nullable=True),
        sa.Column("urgent", sa.Boolean(), nullable=False),
        sa.Column("last_seq", sa.Integer(), nullable=False),
        sa.Column("resident_delivered_seq", sa.Integer(), nullable=False),
        sa.Column("resident_read_seq", sa.Integer(), nullable=False),
        sa.Column("staff_delivered_seq", sa.Integer(), nullable=False),
        sa.Column("staff_read_seq", sa.Integer(), nullable=False),
        sa.Column("resident_seen_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_message_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("waiting_since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("first_response_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("first_responder_id", sa.Integer(), sa.ForeignKey("person.id"), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("rating", sa.Integer(), nullable=True),
        sa.Column("rating_comment", sa.String(500), nullable=False),
        sa.Column("work_order_id", sa.Integer(), nullable=True),
    )
    op.create_index("ix_support_conversation_status", "support_conversation", ["status"])
    op.create_index("ix_support_conversation_resident_id", "support_conversation", ["resident_id"])
    op.create_index("ix_support_conversation_community_id", "support_conversation", ["community_id"])
    op.create_index("ix_support_conversation_assignee_id", "support_conversation", ["assignee_id"])
    op.create_index("ix_support_conversation_district_id", "support_conversation", ["district_id"])
    op.create_index("ix_support_conversation_household_id", "support_conversation", ["household_id"])
    op.create_table(
        "support_message",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("conversation_id", sa.Integer(), sa.ForeignKey("support_conversation.id"), nullable=False),
        sa.Column("community_id", sa.Integer(), sa.ForeignKey("community.id"), nullable=False),
        sa.Column("district_id", sa.Integer(), sa.ForeignKey("district.id"), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("sender_id", sa.Integer(), sa.ForeignKey("person.id"), nullable=True),
        sa.Column("from_staff", sa.Boolean(), nullable=False),
        sa.Column("kind", sa.String(12), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("media_id", sa.Integer(), sa.ForeignKey("media_file.id"), nullable=True),
        sa.Column("client_id", sa.String(64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("sender_id", "client_id"),
        sa.UniqueConstraint("conversation_id", "seq"),
    )
    op.create_index("ix_support_message_community_id", "support_message", ["community_id"])
    op.create_index("ix_support_message_conversation_id", "support_message", ["conversation_id"])
    op.create_index("ix_support_message_district_id", "support_message", ["district_id"])
    op.create_table(
        "support_agent_status",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("person_id", sa.Integer(), sa.ForeignKey("person.id"), nullable=False, unique=True),
        sa.Column("district_id", sa.Integer(), sa.ForeignKey("district.id"), nullable=False),
        sa.Column("online", sa.Boolean(), nullable=False),
        sa.Column("hours_start", sa.Integer(), nullable=False),
        sa.Column("hours_end", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_support_agent_status_district_id", "support_agent_status", ["district_id"])
    op.create_table(
        "support_faq",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("district_id", sa.Integer(), sa.ForeignKey("district.id"), nullable=False),
        sa.Column("question", sa.String(200), nullable=False),
        sa.Column("answer", sa.Text(), nullable=False),
        sa.Column("keywords", sa.String(300), nullable=False),
        sa.Column("updated_by_id", sa.Integer(), sa.ForeignKey("person.id"), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_support_faq_district_id", "support_faq", ["district_id"])
    op.create_table(
        "support_phone_call",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("person_id", sa.Integer(), sa.ForeignKey("person.id"), nullable=False),
        sa.Column("household_id", sa.Integer(), sa.ForeignKey("household.id"), nullable=False),
        sa.Column("community_id", sa.Integer(), sa.ForeignKey("community.id"), nullable=False),
        sa.Column("district_id", sa.Integer(), sa.ForeignKey("district.id"), nullable=False),
        sa.Column("phone", sa.String(20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_support_phone_call_community_id", "support_phone_call", ["community_id"])
    op.create_index("ix_support_phone_call_household_id", "support_phone_call", ["household_id"])
    op.create_index("ix_support_phone_call_person_id", "support_phone_call", ["person_id"])
    op.create_index("ix_support_phone_call_district_id", "support_phone_call", ["district_id"])
    op.create_table(
        "support_sos",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("person_id", sa.Integer(), sa.ForeignKey("person.id"), nullable=False),
        sa.Column("household_id", sa.Integer(), sa.ForeignKey("household.id"), nullable=False),
        sa.Column("community_id", sa.Integer(), sa.ForeignKey("community.id"), nullable=False),
        sa.Column("district_id", sa.Integer(), sa.ForeignKey("district.id"), nullable=False),
        sa.Column("address", sa.String(300), nullable=False),
        sa.Column("reason", sa.String(500), nullable=False),
        sa.Column("conversation_id", sa.Integer(), sa.ForeignKey("support_conversation.id"), nullable=True),
        sa.Column("responder_id", sa.Integer(), sa.ForeignKey("person.id"), nullable=True),
        sa.Column("status", sa.String(15), nullable=False),
        sa.Column("client_id", sa.String(64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("person_id", "client_id"),
    )
    op.create_index("ix_support_sos_household_id", "support_sos", ["household_id"])
    op.create_index("ix_support_sos_status", "support_sos", ["status"])
    op.create_index("ix_support_sos_community_id", "support_sos", ["community_id"])
    op.create_index("ix_support_sos_person_id", "support_sos", ["person_id"])
    op.create_index("ix_support_sos_district_id", "support_sos", ["district_id"])
    op.create_table(
        "support_call",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("conversation_id", sa.Integer(), sa.ForeignKey("support_conversation.id"), nullable=False),
        sa.Column("community_id", sa.Integer(), sa.ForeignKey("community.id"), nullable=False),
        sa.Column("district_id", sa.Integer(), sa.ForeignKey("district.id"), nullable=False),
        sa.Column("caller_id", sa.Integer(), sa.ForeignKey("person.id"), nullable=False),
        sa.Column("callee_id", sa.Integer(), sa.ForeignKey("person.id"), nullable=True),
        sa.Column("video", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_by_id", sa.Integer(), sa.ForeignKey("person.id"), nullable=True),
    )
    op.create_index("ix_support_call_conversation_id", "support_call", ["conversation_id"])
    op.create_index("ix_support_call_district_id", "support_call", ["district_id"])
    op.create_index("ix_support_call_community_id", "support_call", ["community_id"])
    op.create_index("ix_support_call_status", "support_call", ["status"])
    op.create_index("ix_support_call_caller_id", "support_call", ["caller_id"])
    op.create_index("ix_support_call_callee_id", "support_call", ["callee_id"])
    op.create_table(
        "support_call_signal",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("call_id", sa.Integer(), sa.ForeignKey("support_call.id"), nullable=False),
        sa.Column("community_id", sa.Integer(), sa.ForeignKey("community.id"), nullable=False),
        sa.Column("district_id", sa.Integer(), sa.ForeignKey("district.id"), nullable=False),
        sa.Column("sender_id", sa.Integer(), sa.ForeignKey("person.id"), nullable=False),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_support_call_signal_call_id", "support_call_signal", ["call_id"])


def downgrade() -> None:
    op.drop_table("support_call_signal")
    op.drop_table("support_call")
    op.drop_table("support_sos")
    op.drop_table("support_phone_call")
    op.drop_table("support_faq")
    op.drop_table("support_agent_status")
    op.drop_table("support_message")
    op.drop_table("support_conversation")
