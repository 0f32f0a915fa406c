"""briefings and web push: briefings with audience, media, reads, thanks; push subscriptions, preferences,
outbox, emergency notices

Revision ID: 0005_briefings_notify
Revises: 0003_media
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_briefings_notify"
down_revision: str | None = "0003_media"
branch_labels: str | Sequence[str] | None = ("briefings_notify",)
depends_on: str | Sequence[str] | None = None


def _ts(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _scope() -> list[sa.Column]:
    return [
        sa.Column("community_id", sa.Integer(), sa.ForeignKey("community.id"), nullable=False),
        sa.Column("district_id", sa.Integer(), sa.ForeignKey("district.id"), nullable=False),
    ]


def _indexes(table: str, *columns: str) -> None:
    for column in columns:
        op.create_index(f"ix_{table}_{column}", table, [column])


def upgrade() -> None:
    op.create_table(
        "briefing",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("author_id", sa.Integer(), sa.ForeignKey("person.id"), nullable=False),
        sa.Column("title", sa.String(100), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("items_json", sa.Text(), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        _ts("publish_at", True),
        _ts("published_at", True),
        _ts("edited_at", True),
        _ts("withdrawn_at", True),
        sa.Column("share_token", sa.String(64), nullable=False, unique=True),
        _ts("created_at"),
        _ts("updated_at"),
    )
    _indexes("briefing", "author_id", "status", "publish_at", "published_at")
    op.create_table(
        "briefing_audience",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("briefing_id", sa.Integer(), sa.ForeignKey("briefing.id"), nullable=False),
        *_scope(),
        sa.UniqueConstraint("briefing_id", "community_id"),
    )
    _indexes("briefing_audience", "briefing_id", "community_id", "district_id")
    op.create_table(
        "briefing_media",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("briefing_id", sa.Integer(), sa.ForeignKey("briefing.id"), nullable=False),
        sa.Column("media_id", sa.Integer(), sa.ForeignKey("media_file.id"), nullable=False),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.UniqueConstraint("briefing_id", "media_id"),
    )
    _indexes("briefing_media", "briefing_id", "media_id")
    op.create_table(
        "briefing_read",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("briefing_id", sa.Integer(), sa.ForeignKey("briefing.id"), nullable=False),
        sa.Column("person_id", sa.Integer(), sa.ForeignKey("person.id"), nullable=False),
        sa.Column("household_id", sa.Integer(), sa.ForeignKey("household.id"), nullable=False),
        *_scope(),
        _ts("read_at"),
        sa.UniqueConstraint("briefing_id", "household_id", "person_id"),
    )
    _indexes("briefing_read", "briefing_id", "person_id", "household_id", "community_id", "district_id")
    op.create_table(
        "briefing_thanks",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("briefing_id", sa.Integer(), sa.ForeignKey("briefing.id"), nullable=False),
        sa.Column("person_id", sa.Integer(), sa.ForeignKey("person.id"), nullable=False),
        sa.Column("household_id", sa.Integer(), sa.ForeignKey("household.id"), nullable=False),
        *_scope(),
        _ts("created_at"),
        sa.UniqueConstraint("briefing_id", "person_id"),
    )
    _indexes("briefing_thanks", "briefing_id", "person_id", "household_id", "community_id", "district_id")

    op.create_table(
        "push_subscription",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("person_id", sa.Integer(), sa.ForeignKey("person.id"), nullable=False),
        sa.Column("endpoint", sa.String(1000), nullable=False, unique=True),
        sa.Column("p256dh", sa.String(200), nullable=False),
        sa.Column("auth", sa.String(100), nullable=False),
        sa.Column("user_agent", sa.String(300), nullable=False),
        _ts("created_at"),
        _ts("last_success_at", True),
    )
    _indexes("push_subscription", "person_id")
    op.create_table(
        "push_preference",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("person_id", sa.Integer(), sa.ForeignKey("person.id"), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.UniqueConstraint("person_id", "kind"),
    )
    _indexes("push_preference", "person_id")
    op.create_table(
        "push_outbox",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("event_key", sa.String(64), nullable=False),
        sa.Column("subscription_id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), sa.ForeignKey("person.id"), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("ttl", sa.Integer(), nullable=False),
        sa.Column("urgency", sa.String(10), nullable=False),
        sa.Column("topic", sa.String(32), nullable=True),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        _ts("next_attempt_at"),
        _ts("claimed_at", True),
        sa.Column("last_status", sa.Integer(), nullable=True),
        _ts("created_at"),
        _ts("sent_at", True),
        sa.UniqueConstraint("event_key", "subscription_id"),
    )
    _indexes("push_outbox", "subscription_id", "person_id")
    op.create_index("ix_push_outbox_due", "push_outbox", ["status", "next_attempt_at"])
    op.create_table(
        "emergency_notice",
        sa.Column("id", sa.Integer(), primary_key=True),
        *_scope(),
        sa.Column("author_id", sa.Integer(), sa.ForeignKey("person.id"), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("title", sa.String(100), nullable=False),
        sa.Column("body", sa.String(500), nullable=False),
        sa.Column("people_notified", sa.Integer(), nullable=False),
        _ts("created_at"),
    )
    _indexes("emergency_notice", "community_id", "district_id", "author_id")


def downgrade() -> None:
    for table in (
        "emergency_notice",
        "push_outbox",
        "push_preference",
        "push_subscription",
        "briefing_thanks",
        "briefing_read",
        "briefing_media",
        "briefing_audience",
        "briefing",
    ):
        op.drop_table(table)
