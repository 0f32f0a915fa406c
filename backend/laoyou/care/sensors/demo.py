"""Demo sensors: at 秀山花园 the demo resident's home has a water-leak sensor in the kitchen and a door sensor,
registered by the steward with her consent on the phone, and the community has a camera over its east gate."""

from __future__ import annotations

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from laoyou.accounts import service as accounts
from laoyou.accounts.actor import Actor
from laoyou.accounts.models import Person, Role, RoleGrant
from laoyou.care.sensors import service as sensors
from laoyou.core.time import utcnow

STEWARD = "+8613800000011"
RESIDENT = "+8613800000001"
DEVICES = (("LY-WL-0001", "water_leak", "厨房"), ("LY-DR-0001", "door", "大门"))
CAMERA = ("东门", "https://cam.example.cn/xiushan/east-gate.jpg")


async def load_sensors_demo(session: AsyncSession) -> None:
    steward = (await session.exec(select(Person).where(Person.phone == STEWARD))).first()
    resident = (await session.exec(select(Person).where(Person.phone == RESIDENT))).first()
    if steward is None or resident is None:
        return
    home = (
        await session.exec(
            select(RoleGrant).where(RoleGrant.person_id == resident.id, RoleGrant.role == Role.resident.value)
        )
    ).first()
    actor = Actor(person=steward, grants=await accounts.live_grants(session, steward.id))
    for code, kind, label in DEVICES:
        registered = await sensors.do_register_device(
            session,
            actor=actor,
            household_id=home.household_id,
            code=code,
            kind=kind,
            label=label,
            consent_person_id=resident.id,
            consent_method="phone",
        )
        if kind == "door":
            registered.device.last_activity_at = utcnow()
    name, url = CAMERA
    await sensors.do_add_camera(session, actor=actor, community_id=home.community_id, name=name, url=url)
    await session.flush()
