"""Home sensors registered to a household with the resident's consent, what they set off, and the shared-area
cameras of a community."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlmodel import Field, SQLModel, UniqueConstraint

from laoyou.core.models import utc_field


class SensorKind(StrEnum):
    water_leak = "water_leak"
    smoke = "smoke"
    gas = "gas"
    door = "door"  # reports each opening; a door left shut for N hours is a sign of trouble
    fall_button = "fall_button"


class ConsentMethod(StrEnum):
    phone = "phone"  # the resident agreed on her phone, in front of the steward
    paper = "paper"  # she signed a paper form; its photo is kept


class SensorEffect(StrEnum):
    work_order = "work_order"  # water, smoke or gas: an emergency work order
    sos = "sos"  # the fall button: the SOS flow


class SensorDevice(SQLModel, table=True):
    """A sensor in a home. Its MQTT user name is its topic's middle part: it may publish to
    laoyou/<mqtt_username>/... only, and Laoyou reads the household from this row, never from the message."""

    __tablename__ = "sensor_device"

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=40, index=True)  # printed on the device
    kind: str = Field(max_length=12)
    label: str = Field(default="", max_length=40)  # where in the home: 厨房, 卫生间
    household_id: int = Field(foreign_key="household.id", index=True)
    community_id: int = Field(foreign_key="community.id", index=True)
    district_id: int = Field(foreign_key="district.id", index=True)
    mqtt_username: str = Field(max_length=60, unique=True)
    # Mosquitto's own password hash ($7$: PBKDF2-SHA512), so its password file can be written from the rows.
    password_hash: str = Field(max_length=200)
    consent_person_id: int = Field(foreign_key="person.id", index=True)
    consent_method: str = Field(max_length=8)
    consent_photo_id: int | None = Field(default=None, foreign_key="media_file.id")
    consented_at: datetime = utc_field()
    registered_by_id: int = Field(foreign_key="person.id")
    registered_at: datetime = utc_field(default_now=True)
    no_activity_hours: int = 12  # a door: how long shut before the steward is told
    last_activity_at: datetime | None = utc_field(nullable=True)
    # Guards a burst: an alarm within the window of the last one changes nothing (a guarded UPDATE claims it).
    last_alarm_at: datetime | None = utc_field(nullable=True)
    no_activity_alerted_at: datetime | None = utc_field(nullable=True)
    deregistered_at: datetime | None = utc_field(nullable=True)
    deregistered_by_id: int | None = Field(default=None, foreign_key="person.id")


class SensorEvent(SQLModel, table=True):
    """What a device's message set off: one row per effect (a burst of the same alarm is one row)."""

    __tablename__ = "sensor_event"
    # A device's own event id, when it sends one: a message delivered twice (MQTT's QoS 1) acts once.
    __table_args__ = (UniqueConstraint("device_id", "event_id", name="uq_sensor_event_id"),)

    id: int | None = Field(default=None, primary_key=True)
    device_id: int = Field(foreign_key="sensor_device.id", index=True)
    household_id: int = Field(foreign_key="household.id", index=True)
    community_id: int = Field(foreign_key="community.id", index=True)
    district_id: int = Field(foreign_key="district.id", index=True)
    event_id: str | None = Field(default=None, max_length=64)
    effect: str = Field(max_length=12)
    work_order_id: int | None = Field(default=None, foreign_key="work_order.id")
    sos_alert_id: int | None = Field(default=None, foreign_key="support_sos.id")
    received_at: datetime = utc_field(default_now=True)


class CommunityCamera(SQLModel, table=True):
    """A camera over a shared area (gate, courtyard, bicycle shed): its snapshot or stream link, for staff only."""

    __tablename__ = "community_camera"

    id: int | None = Field(default=None, primary_key=True)
    community_id: int = Field(foreign_key="community.id", index=True)
    district_id: int = Field(foreign_key="district.id", index=True)
    name: str = Field(max_length=40)
    url: str = Field(max_length=500)
    added_by_id: int = Field(foreign_key="person.id")
    created_at: datetime = utc_field(default_now=True)
    removed_at: datetime | None = utc_field(nullable=True)
