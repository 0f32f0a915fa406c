"""Registering sensors with consent, deregistering them, a door left shut (with a moved clock), and the shared-area
cameras that staff see and residents never do."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from laoyou.accounts.models import Notification
from laoyou.care.sensors import service as sensors
from laoyou.care.sensors.models import SensorDevice
from laoyou.core.time import utcnow
from laoyou.graphql.types import encode_id

from ..conftest import (
    OFFICIAL_XIUSHAN,
    RESIDENT_XIUSHAN,
    STEWARD_XIUSHAN,
    STEWARD_YUEYANG,
    login_demo,
)
from .helpers import REGISTER, home_of, other_home, register, register_input

DEVICES = """
query ($c: ID, $h: ID) {
  sensorDevices(communityId: $c, householdId: $h) { code kind consentBy consentMethod household { address } }
}
"""
DEREGISTER = """
mutation ($id: ID!) { deregisterSensorDevice(id: $id) { __typename ... on SensorError { code } } }
"""
CAMERAS = "query ($c: ID!) { communityCameras(communityId: $c) { name url } }"
ADD_CAMERA = """
mutation ($c: ID!, $n: String!, $u: String!) {
  addCommunityCamera(communityId: $c, name: $n, url: $u) {
    __typename ... on CommunityCameraSaved { camera { id name } } ... on CameraError { code field message }
  }
}
"""


async def test_the_steward_registers_a_device_with_the_residents_consent(gql, db):
    home = await home_of(db, RESIDENT_XIUSHAN)
    result = await register(gql, home, "ly-wl 5001")
    assert result["device"]["code"] == "LY-WL5001"
    assert result["device"]["consentMethod"] == "PHONE" and result["device"]["consentBy"]
    assert result["device"]["topic"] == f"laoyou/{result['device']['mqttUsername']}/event"
    assert len(result["mqttPassword"]) >= 20
    steward = await login_demo(gql, STEWARD_XIUSHAN)
    listed = (await steward(DEVICES, {"h": encode_id(home.household_id)}))["data"]["sensorDevices"]
    assert "LY-WL5001" in [d["code"] for d in listed]
    everywhere = (await steward(DEVICES, {"c": encode_id(home.community_id)}))["data"]["sensorDevices"]
    assert "LY-WL5001" in [d["code"] for d in everywhere]
    # Only its hash is kept, in mosquitto's own format
    row = await db.scalar(select(SensorDevice).where(SensorDevice.code == "LY-WL5001"))
    assert row.password_hash.startswith("$7$101$") and result["mqttPassword"] not in row.password_hash


async def test_registration_refuses_what_is_wrong_and_changes_nothing(gql, db):
    home = await home_of(db, RESIDENT_XIUSHAN)
    neighbour = await other_home(db, home)
    steward = await login_demo(gql, STEWARD_XIUSHAN)
    before = await db.scalar(select(func.count()).select_from(SensorDevice))
    cases = [
        (register_input(home, "x"), "code"),
        (register_input(home, "LY-OK-1", consentPersonId=encode_id(neighbour.person_id)), "consentPersonId"),
        (register_input(home, "LY-OK-2", consentMethod="PAPER"), "consentPhotoId"),
        (register_input(home, "LY-OK-3", kind="DOOR", noActivityHours=0), "noActivityHours"),
    ]
    for data, field in cases:
        result = (await steward(REGISTER, {"input": data}))["data"]["registerSensorDevice"]
        assert (result["__typename"], result["field"]) == ("SensorError", field), result
    await register(gql, home, "LY-DUP-1")
    again = (await steward(REGISTER, {"input": register_input(home, "LY-DUP-1")}))["data"][
        "registerSensorDevice"
    ]
    assert again["code"] == "ALREADY_EXISTS"
    assert await db.scalar(select(func.count()).select_from(SensorDevice)) == before + 1


async def test_only_the_communitys_steward_registers_and_deregisters(gql, db):
    home = await home_of(db, RESIDENT_XIUSHAN)
    stranger = await login_demo(gql, STEWARD_YUEYANG)
    refused = await stranger(REGISTER, {"input": register_input(home, "LY-X-1")}, expect_errors=True)
    assert refused["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    official = await login_demo(gql, OFFICIAL_XIUSHAN)
    refused = await official(REGISTER, {"input": register_input(home, "LY-X-2")}, expect_errors=True)
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    device = (await register(gql, home, "LY-X-3"))["device"]
    refused = await stranger(DEREGISTER, {"id": device["id"]}, expect_errors=True)
    assert refused["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    steward = await login_demo(gql, STEWARD_XIUSHAN)
    assert (await steward(DEREGISTER, {"id": device["id"]}))["data"]["deregisterSensorDevice"][
        "__typename"
    ] == ("SensorDeviceSaved")
    # A deregistered device is no longer in the broker's password file, nor listed
    assert device["mqttUsername"] not in await sensors.password_file(db)
    listed = (await steward(DEVICES, {"h": encode_id(home.household_id)}))["data"]["sensorDevices"]
    assert "LY-X-3" not in [d["code"] for d in listed]


async def test_a_door_left_shut_tells_the_steward_once_per_quiet_spell(gql, db):
    # Given a door sensor that must be opened every 6 hours
    home = await home_of(db, RESIDENT_XIUSHAN)
    steward = await login_demo(gql, STEWARD_XIUSHAN)
    door = (
        await steward(REGISTER, {"input": register_input(home, "LY-DR-1", kind="DOOR", noActivityHours=6)})
    )["data"]["registerSensorDevice"]["device"]
    topic = door["topic"]
    now = utcnow()

    async def told() -> int:
        return await db.scalar(
            select(func.count()).select_from(Notification).where(Notification.kind == "emergency_no_activity")
        )

    before = await told()
    # When it is opened, and the clock moves on 5 hours: nothing
    assert (
        await sensors.do_handle_message(db, topic=topic, payload=b'{"event": "open"}', now=now) == "activity"
    )
    assert await sensors.do_check_quiet_doors(db, now=now + timedelta(hours=5)) == 0
    # 7 hours: the steward is told, once however often the job runs
    assert await sensors.do_check_quiet_doors(db, now=now + timedelta(hours=7)) == 1
    assert await sensors.do_check_quiet_doors(db, now=now + timedelta(hours=8)) == 0
    assert await told() > before
    # Opened again, then shut for another 7 hours: told again
    await sensors.do_handle_message(
        db, topic=topic, payload=b'{"event": "open"}', now=now + timedelta(hours=9)
    )
    assert await sensors.do_check_quiet_doors(db, now=now + timedelta(hours=10)) == 0
    await sensors.do_check_quiet_doors(db, now=now + timedelta(hours=16))
    alerted = await db.scalar(
        select(SensorDevice.no_activity_alerted_at).where(SensorDevice.mqtt_username == door["mqttUsername"])
    )
    assert alerted == now + timedelta(hours=16)


async def test_a_door_left_shut_is_a_missed_check_in_for_a_resident_who_keeps_one(gql, db):
    # Given a resident who keeps the daily check-in, and a door sensor at her home
    from laoyou.care.checkins.models import CheckinDay
    from laoyou.care.checkins.service import local_date

    home = await home_of(db, RESIDENT_XIUSHAN)
    resident = await login_demo(gql, RESIDENT_XIUSHAN)
    set_up = await resident("mutation { setUpCheckin(windowEnd: 600) { __typename } }")
    assert set_up["data"]["setUpCheckin"]["__typename"] == "CheckinPlanSaved", set_up
    steward = await login_demo(gql, STEWARD_XIUSHAN)
    door = (
        await steward(REGISTER, {"input": register_input(home, "LY-DR-9", kind="DOOR", noActivityHours=6)})
    )["data"]["registerSensorDevice"]["device"]
    now = utcnow()
    await sensors.do_handle_message(db, topic=door["topic"], payload=b'{"event": "open"}', now=now)
    steward_told = (
        select(func.count()).select_from(Notification).where(Notification.kind == "emergency_no_activity")
    )
    before = await db.scalar(steward_told)
    # When it stays shut past its hours
    later = now + timedelta(hours=7)
    assert await sensors.do_check_quiet_doors(db, now=later) == 1
    # Then her day counts as missed, for the check-in's escalation to take (her, her family, then the steward)
    day = await db.scalar(
        select(CheckinDay).where(
            CheckinDay.resident_id == home.person_id, CheckinDay.day == local_date(later)
        )
    )
    assert day is not None and day.state == "missed"
    # and the steward is not paged apart from that chain
    assert await db.scalar(steward_told) == before


async def test_cameras_are_for_staff_and_never_for_residents(gql, db):
    home = await home_of(db, RESIDENT_XIUSHAN)
    community = encode_id(home.community_id)
    steward = await login_demo(gql, STEWARD_XIUSHAN)
    bad = (await steward(ADD_CAMERA, {"c": community, "n": "东门", "u": "http://cam.example.cn/snap.jpg"}))[
        "data"
    ]
    assert bad["addCommunityCamera"]["field"] == "url"
    bad = (await steward(ADD_CAMERA, {"c": community, "n": "东门", "u": "https://u:p@cam.example.cn/a"}))[
        "data"
    ]
    assert bad["addCommunityCamera"]["field"] == "url"
    added = (
        await steward(ADD_CAMERA, {"c": community, "n": "东门", "u": "https://cam.example.cn/east.jpg"})
    )["data"]
    assert added["addCommunityCamera"]["__typename"] == "CommunityCameraSaved"
    assert {"name": "东门", "url": "https://cam.example.cn/east.jpg"} in (
        await steward(CAMERAS, {"c": community})
    )["data"]["communityCameras"]
    official = await login_demo(gql, OFFICIAL_XIUSHAN)
    assert (await official(CAMERAS, {"c": community}))["data"]["communityCameras"]
    resident = await login_demo(gql, RESIDENT_XIUSHAN)
    refused = await resident(CAMERAS, {"c": community}, expect_errors=True)
    assert refused["data"] is None and refused["errors"][0]["message"] == "Only staff can do this."
    refused = await resident(DEVICES, {"h": encode_id(home.household_id)}, expect_errors=True)
    assert refused["data"] is None and refused["errors"][0]["message"] == "Only staff can do this."
    stranger = await login_demo(gql, STEWARD_YUEYANG)
    refused = await stranger(CAMERAS, {"c": community}, expect_errors=True)
    assert refused["errors"][0]["extensions"]["code"] == "NOT_FOUND"
