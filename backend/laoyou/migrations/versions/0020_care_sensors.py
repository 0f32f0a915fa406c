"""care: home sensors, what they set off, and shared-area cameras

Revision ID: 0020_care_sensors
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020_care_sensors"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = ("care_sensors",)
# Effects point at work orders (tickets), SOS alerts (support) and a consent form's photo (media).
depends_on: str | Sequence[str] | None = ("0004_tickets", "0006_support")

UTC = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "sensor_device",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("code", sa.String(40), nullable=False),
        sa.Column("kind", sa.String(12), nullable=False),
        sa.Column("label", sa.String(40), nullable=False),
        sa.Column("household_id", sa.Integer(), sa.ForeignKey("household.id"), nullable=False),
        sa.Column("community_id", sa.Integer(), sa.ForeignKey("community.id"), nullable=False),
        sa.Column("district_id", sa.Integer(), sa.ForeignKey("district.id"), nullable=False),
        sa.Column("mqtt_username", sa.String(60), nullable=False, unique=True),
        sa.Column("password_hash", sa.String(200), nullable=False),
        sa.Column("consent_person_id", sa.Integer(), sa.ForeignKey("person.id"), nullable=False),
        sa.Column("consent_method", sa.String(8), nullable=False),
        sa.Column("consent_photo_id", sa.Integer(), sa.ForeignKey("media_file.id"), nullable=True),
        sa.Column("consented_at", UTC, nullable=False),
        sa.Column("registered_by_id", sa.Integer(), sa.ForeignKey("person.id"), nullable=False),
        sa.Column("registered_at", UTC, nullable=False),
        sa.Column("no_activity_hours", sa.Integer(), nullable=False),
        sa.Column("last_activity_at", UTC, nullable=True),
        sa.Column("last_alarm_at", UTC, nullable=True),
        sa.Column("no_activity_alerted_at", UTC, nullable=True),
        sa.Column("deregistered_at", UTC, nullable=True),
        sa.Column("deregistered_by_id", sa.Integer(), sa.ForeignKey("person.id"), nullable=True),
    )
    for column in ("code", "household_id", "community_id", "district_id", "consent_person_id"):
        op.create_index(f"ix_sensor_device_{column}", "sensor_device", [column])
    op.create_table(
        "sensor_event",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("device_id", sa.Integer(), sa.ForeignKey("sensor_device.id"), nullable=False),
        sa.Column("household_id", sa.Integer(), sa.ForeignKey("household.id"), nullable=False),
        sa.Column("community_id", sa.Integer(), sa.ForeignKey("community.id"), nullable=False),
        sa.Column("district_id", sa.Integer(), sa.ForeignKey("district.id"), nullable=False),
        sa.Column("event_id", sa.String(64), nullable=True),
        sa.Column("effect", sa.String(12), nullable=False),
        sa.Column("work_order_id", sa.Integer(), sa.ForeignKey("work_order.id"), nullable=True),
        sa.Column("sos_alert_id", sa.Integer(), sa.ForeignKey("support_sos.id"), nullable=True),
        sa.Column("received_at", UTC, nullable=False),
        sa.UniqueConstraint("device_id", "event_id", name="uq_sensor_event_id"),
    )
    for column in ("device_id", "household_id", "community_id", "district_id"):
        op.create_index(f"ix_sensor_event_{column}", "sensor_event", [column])
    op.create_table(
        "community_camera",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("community_id", sa.Integer(), sa.ForeignKey("community.id"), nullable=False),
        sa.Column("district_id", sa.Integer(), sa.ForeignKey("district.id"), nullable=False),
        sa.Column("name", sa.String(40), nullable=False),
        sa.Column("url", sa.String(500), nullable=False),
        sa.Column("added_by_id", sa.Integer(), sa.ForeignKey("person.id"), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("removed_at", UTC, nullable=True),
    )
    for column in ("community_id", "district_id"):
        op.create_index(f"ix_community_camera_{column}", "community_camera", [column])


def downgrade() -> None:
    op.drop_table("community_camera")
    op.drop_table("sensor_event")
    op.drop_table("sensor_device")
