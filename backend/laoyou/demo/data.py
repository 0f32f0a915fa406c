"""Demo data from the domain brief: Zhujiajiao's joint tender, Nanning's Xiushan Garden, Tianping's 挂单.

Deterministic (a seeded generator), so every demo shows the same people and numbers.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func, insert
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from laoyou.accounts.models import Person, Role, RoleGrant
from laoyou.billing.demo import load_billing_demo
from laoyou.core.security import hash_password
from laoyou.estates.models import Building, Community, District, Household, Unit
from laoyou.support.demo import load_support_demo

DEMO_STAFF_PASSWORD = "laoyou-demo-2026"


def _(message: str) -> str:
    """Marks a msgid for extraction; translated where it is shown."""
    return message


@dataclass(frozen=True)
class DemoPersonSpec:
    phone: str
    name: str
    role: Role
    description: str
    community: str | None = None  # the community of the grant or of the household
    district: str | None = None
    on_duty: bool = False


XIUSHAN = "秀山花园"
YUEYANG = "岳阳花苑"
JINGJU = "京剧院小区"
ZHUJIAJIAO = "朱家角镇老旧小区联合招标片区"
NANNING = "南宁青秀区秀山片区"
TIANPING = "徐汇区天平街道片区"

DEMO_PEOPLE: tuple[DemoPersonSpec, ...] = (
    DemoPersonSpec(
        "+8613800000001", "王秀英", Role.resident, _("Resident of Xiushan Garden, 78 years old"), XIUSHAN
    ),
    DemoPersonSpec(
        "+8613800000002", "李桂兰", Role.resident, _("Resident of the Peking Opera house community"), JINGJU
    ),
    DemoPersonSpec(
        "+8613800000003", "王小明", Role.family, _("Son of Wang Xiuying, lives in another city"), XIUSHAN
    ),
    DemoPersonSpec(
        "+8613800000011",
        "张建国",
        Role.steward,
        _("Steward of Xiushan Garden, on duty"),
        XIUSHAN,
        on_duty=True,
    ),
    DemoPersonSpec(
        "+8613800000012",
        "陈丽",
        Role.steward,
        _("District steward of the Zhujiajiao joint tender"),
        district=ZHUJIAJIAO,
        on_duty=True,
    ),
    DemoPersonSpec(
        "+8613800000013",
        "刘强",
        Role.steward,
        _("Steward of Yueyang Garden and its attached neighbour"),
        YUEYANG,
        on_duty=True,
    ),
    DemoPersonSpec(
        "+8613800000021",
        "赵师傅",
        Role.field_staff,
        _("Repair worker shared across Zhujiajiao"),
        district=ZHUJIAJIAO,
    ),
    DemoPersonSpec(
        "+8613800000031",
        "孙婷",
        Role.agent,
        _("Customer-service agent at the Nanning operations centre"),
        district=NANNING,
    ),
    DemoPersonSpec(
        "+8613800000041", "周主任", Role.official, _("Residents' committee director, Xiushan Garden"), XIUSHAN
    ),
    DemoPersonSpec(
        "+8613800000042",
        "吴科长",
        Role.official,
        _("Street office, oversees the Zhujiajiao district"),
        district=ZHUJIAJIAO,
    ),
    DemoPersonSpec("+8613800000099", "老友管理员", Role.admin, _("The operator's administrator")),
)


@dataclass(frozen=True)
class CommunitySpec:
    name: str
    address: str
    built_year: int
    households: int
    buildings: int
    floors: int
    attached_to: str | None = None
    total_area_centi_m2: int | None = None  # when the brief states it


@dataclass(frozen=True)
class DistrictSpec:
    name: str
    city: str
    operator_name: str
    operator_phone: str
    contract_model: str
    communities: tuple[CommunitySpec, ...]


DISTRICTS: tuple[DistrictSpec, ...] = (
    DistrictSpec(
        ZHUJIAJIAO,
        "上海市青浦区",
        "朱家角联合物业服务有限公司",
        "+8613900010000",
        "joint_tender",
        tuple(
            CommunitySpec(name, f"上海市青浦区朱家角镇{road}", year, households, buildings, 5)
            for name, road, year, households, buildings in (
                ("新风新村", "新风路88号", 1986, 96, 6),
                ("淀湖新村", "淀湖路120弄", 1990, 120, 8),
                ("祥平公寓", "祥凝浜路36号", 1998, 64, 4),
                ("溪苑小区", "溪湾路15弄", 1995, 80, 5),
                ("淀湖二村", "淀湖路200弄", 1992, 110, 7),
                ("胜利新村", "胜利街45号", 1984, 72, 5),
                ("东湖新村", "东湖街60弄", 1988, 88, 6),
                ("南湖新村", "南湖路18弄", 1991, 76, 5),
                ("乐湖新村", "乐湖路9弄", 1993, 68, 4),
            )
        ),
    ),
    DistrictSpec(
        NANNING,
        "广西南宁市青秀区",
        "南宁老友管家物业服务有限公司",
        "+8613900020000",
        "commissioned",
        (CommunitySpec(XIUSHAN, "南宁市青秀区秀山路8号", 1999, 1000, 25, 7),),
    ),
    DistrictSpec(
        TIANPING,
        "上海市徐汇区",
        "天平物业管理有限公司",
        "+8613900030000",
        "attached",
        (
            CommunitySpec(YUEYANG, "上海市徐汇区岳阳路168弄", 1996, 180, 9, 6),
            CommunitySpec(
                JINGJU,
                "上海市徐汇区岳阳路168弄甲",
                1984,
                16,
                1,
                4,
                attached_to=YUEYANG,
                total_area_centi_m2=81300,
            ),
        ),
    ),
)

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
GIVEN = (
    "秀英",
    "桂英",
    "玉兰",
    "凤英",
    "建国",
    "建华",
    "国强",
    "志强",
    "淑珍",
    "桂兰",
    "秀兰",
    "德明",
    "文华",
    "淑英",
    "永红",
    "海燕",
    "金凤",
    "福生",
    "长林",
    "宝珍",
    "立新",
    "爱华",
    "振华",
    "素芬",
    "美华",
    "德福",
)


async def demo_is_loaded(session: AsyncSession) -> bool:
    return bool(await session.scalar(select(func.count()).select_from(District)))


async def demo_people_present(session: AsyncSession) -> bool:
    """Whether any of the demo people (known phones, a published staff password) is in this database."""
    phones = [p.phone for p in DEMO_PEOPLE]
    return (
        await session.exec(select(Person.id).where(col(Person.phone).in_(phones)).limit(1))
    ).first() is not None


async def load_demo_if_empty(
    sessionmaker: async_sessionmaker[AsyncSession],
    *,
    scale: float = 1.0,
    progress: Callable[[int, int, str], None] | None = None,
) -> bool:
    """Load the demo into an empty database in one transaction; a database with districts is left alone."""
    async with sessionmaker() as session:
        if await demo_is_loaded(session):
            return False
        await load_demo(session, scale=scale, progress=progress)
        await session.commit()
        return True


async def load_demo(
    session: AsyncSession, *, scale: float = 1.0, progress: Callable[[int, int, str], None] | None = None
) -> None:
    rng = random.Random(2026)
    now = datetime.now(UTC)
    total = sum(len(d.communities) for d in DISTRICTS) + 1
    step = 0
    communities: dict[str, Community] = {}
    districts: dict[str, District] = {}
    first_household: dict[str, int] = {}
    phone_counter = 0
    staff_hash = hash_password(DEMO_STAFF_PASSWORD)

    for dspec in DISTRICTS:
        district = District(
            name=dspec.name,
            city=dspec.city,
            operator_name=dspec.operator_name,
            operator_phone=dspec.operator_phone,
            contract_model=dspec.contract_model,
        )
        session.add(district)
        await session.flush()
        districts[dspec.name] = district
        for cspec in dspec.communities:
            step += 1
            if progress:
                progress(step, total, cspec.name)
            community = Community(
                district_id=district.id,
                name=cspec.name,
                address=cspec.address,
                built_year=cspec.built_year,
                on_duty_phone=dspec.operator_phone,
                attached_to_id=communities[cspec.attached_to].id if cspec.attached_to else None,
                attached_since=now if cspec.attached_to else None,
            )
            session.add(community)
            await session.flush()
            communities[cspec.name] = community
            # The micro-community keeps all its households: the brief counts them exactly.
            households = (
                cspec.households if cspec.total_area_centi_m2 else max(4, round(cspec.households * scale))
            )
            per_building = -(-households // cspec.buildings)
            units_per_floor = max(1, -(-per_building // cspec.floors))
            areas = _areas(rng, households, cspec.total_area_centi_m2)
            unit_rows, index = [], 0
            building_ids = []
            for b in range(cspec.buildings):
                if index >= households:
                    break
                building = Building(
                    community_id=community.id,
                    district_id=district.id,
                    name=f"{b + 1}号楼",
                    floors=cspec.floors,
                )
                session.add(building)
                await session.flush()
                building_ids.append(building.id)
                for n in range(per_building):
                    if index >= households:
                        break
                    floor = n // units_per_floor + 1
                    unit_rows.append(
                        {
                            "building_id": building.id,
                            "community_id": community.id,
                            "district_id": district.id,
                            "number": f"{floor}{n % units_per_floor + 1:02d}室",
                            "floor": floor,
                            "floor_area_centi_m2": areas[index],
                        }
                    )
                    index += 1
            await session.execute(insert(Unit), unit_rows)
            unit_ids = list(
                await session.exec(select(Unit.id).where(Unit.community_id == community.id).order_by(Unit.id))
            )
            head_names = [rng.choice(SURNAMES) + rng.choice(GIVEN) for _ in unit_ids]
            await session.execute(
                insert(Household),
                [
                    {
                        "unit_id": uid,
                        "community_id": community.id,
                        "district_id": district.id,
                        "head_name": name,
                        "created_at": now,
                    }
                    for uid, name in zip(unit_ids, head_names, strict=True)
                ],
            )
            household_ids = list(
                await session.exec(
                    select(Household.id).where(Household.community_id == community.id).order_by(Household.id)
                )
            )
            first_household[cspec.name] = household_ids[0]
            # One or two residents per household; the first household is kept for the demo resident.
            people, grants = [], []
            for hid, head in zip(household_ids[1:], head_names[1:], strict=True):
                for k in range(1 + (rng.random() < 0.45)):
                    phone_counter += 1
                    name = head if k == 0 else rng.choice(SURNAMES) + rng.choice(GIVEN)
                    people.append(
                        {
                            "phone": f"+86139{phone_counter:08d}",
                            "name": name,
                            "text_size": "large",
                            "ui_mode": "elderly",
                            "is_active": True,
                            "created_at": now,
                        }
                    )
                    grants.append(hid)
            if people:
                await session.execute(insert(Person), people)
                ids = {
                    p.phone: p.id
                    for p in await session.exec(
                        select(Person).where(Person.phone.in_([p["phone"] for p in people]))
                    )
                }
                await session.execute(
                    insert(RoleGrant),
                    [
                        {
                            "person_id": ids[p["phone"]],
                            "role": Role.resident.value,
                            "district_id": district.id,
                            "community_id": community.id,
                            "household_id": hid,
                            "on_duty": False,
                            "created_at": now,
                        }
                        for p, hid in zip(people, grants, strict=True)
                    ],
                )

    step += 1
    if progress:
        progress(step, total, "demo people")
    for spec in DEMO_PEOPLE:
        staff = spec.role.is_staff
        person = Person(
            phone=spec.phone,
            name=spec.name,
            password_hash=staff_hash if staff else None,
            text_size="standard" if staff else "large",
            ui_mode="standard" if staff else "elderly",
        )
        session.add(person)
        await session.flush()
        community = communities.get(spec.community) if spec.community else None
        district = districts.get(spec.district) if spec.district else None
        household_id = first_household[spec.community] if spec.role in (Role.resident, Role.family) else None
        if spec.role in (Role.resident, Role.family):
            district_id, community_id = community.district_id, community.id
        elif spec.role == Role.admin:
            district_id = community_id = None
        elif community is not None:
            district_id, community_id = community.district_id, community.id
        else:
            district_id, community_id = district.id, None
        session.add(
            RoleGrant(
                person_id=person.id,
                role=spec.role.value,
                district_id=district_id,
                community_id=community_id,
                household_id=household_id,
                on_duty=spec.on_duty,
            )
        )
        if spec.role == Role.family:
            from laoyou.accounts.models import FamilyLink

            session.add(
                FamilyLink(
                    person_id=person.id,
                    household_id=household_id,
                    community_id=community_id,
                    district_id=district_id,
                    relation="儿子",
                    status="accepted",
                    decided_at=now,
                )
            )
    # The demo residents' households carry their names.
    for spec in DEMO_PEOPLE:
        if spec.role == Role.resident:
            household = await session.get(Household, first_household[spec.community])
            household.head_name = spec.name
            session.add(household)
    await session.flush()
    await load_billing_demo(session)
    await load_support_demo(session)
    from laoyou.briefings.demo import load_briefings_demo
    from laoyou.tickets.demo import load_tickets_demo

    await load_tickets_demo(session)
    await load_briefings_demo(session)
    from laoyou.governance.disclosures.demo import load_disclosures_demo

    await load_disclosures_demo(session)
    from laoyou.governance.votes.demo import load_votes_demo

    await load_votes_demo(session)
    from laoyou.care.demo import load_care_demo

    await load_care_demo(session)
    from laoyou.care.sensors.demo import load_sensors_demo

    await load_sensors_demo(session)
    from laoyou.notify.demo import load_notify_demo

    await load_notify_demo(session)
    from laoyou.governance.assessment.demo import load_assessment_demo

    await load_assessment_demo(session)


def _areas(rng: random.Random, count: int, total: int | None) -> list[int]:
    """Floor areas in hundredths of m²: 45–95 m² flats, or split exactly to a stated total."""
    if total is None:
        return [rng.randint(4500, 9500) for _ in range(count)]
    base = [rng.randint(90, 110) for _ in range(count)]
    scale = total / sum(base)
    areas = [int(b * scale) for b in base]
    areas[-1] += total - sum(areas)
    return areas
