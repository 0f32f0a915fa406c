"""Demo work orders in every state for 秀山花园 and the Zhujiajiao communities, and 赵师傅's field-staff profile."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from laoyou.accounts import service as accounts
from laoyou.accounts.actor import Actor
from laoyou.accounts.models import Person, Role
from laoyou.core.time import utcnow
from laoyou.estates.models import Community
from laoyou.tickets import service as tickets
from laoyou.tickets.models import StaffProfile, WorkOrder


async def _actor(session: AsyncSession, phone: str) -> Actor | None:
    person = (await session.exec(select(Person).where(Person.phone == phone))).first()
    if person is None:
        return None
    return Actor(person=person, grants=await accounts.live_grants(session, person.id))


async def load_tickets_demo(session: AsyncSession) -> None:
    resident = await _actor(session, "+8613800000001")  # 王秀英, 秀山花园
    steward = await _actor(session, "+8613800000011")  # 张建国, 秀山花园
    district_steward = await _actor(session, "+8613800000012")  # 陈丽, Zhujiajiao
    worker = await _actor(session, "+8613800000021")  # 赵师傅
    if not all((resident, steward, district_steward, worker)):
        return
    communities = {c.name: c for c in await session.exec(select(Community))}
    zhujiajiao = [
        communities[n] for n in ("新风新村", "淀湖新村", "祥平公寓", "溪苑小区") if n in communities
    ]
    grant = worker.grants_of(Role.field_staff)[0]
    session.add(
        StaffProfile(
            person_id=worker.person_id,
            district_id=grant.district_id,
            skills=["plumbing", "electrical", "locksmith", "general"],
            community_ids=[c.id for c in communities.values() if c.district_id == grant.district_id],
        )
    )
    await session.flush()
    now = utcnow()

    async def report(actor: Actor, **kw) -> WorkOrder:  # noqa: ANN003
        when = kw.pop("now", now)
        data = tickets.ReportInput(client_id=f"demo-{kw.pop('key')}", **kw)
        return (await tickets.do_report(session, actor=actor, data=data, now=when)).order

    # 秀山花园: a dripping tap fixed by the steward, waiting for 王秀英's rating.
    tap = await report(resident, key="tap", category="water", description="厨房水龙头一直滴水，关不紧。")
    await tickets.do_grab(session, actor=steward, order_id=tap.id)
    await tickets.do_finish(session, actor=steward, order_id=tap.id, note="换了新的水龙头阀芯。")
    # A dark stairwell, just reported.
    await report(
        resident,
        key="stairs",
        category="lighting",
        place="common",
        place_note="3号楼2单元楼道",
        description="楼道灯不亮，晚上下楼看不见。",
    )
    # A complaint that hides its author from field staff.
    await report(
        resident,
        key="noise",
        kind="complaint",
        category="noise",
        place="common",
        place_note="小区广场",
        description="晚上十点以后广场舞音乐太响，睡不着。",
        hide_author=True,
    )

    if len(zhujiajiao) < 4:
        return
    xinfeng, dianhu, xiangping, xiyuan = zhujiajiao
    # Logged by phone and dispatched automatically to 赵师傅, who is on it.
    sewer = await report(
        district_steward,
        key="sewer",
        category="sewer",
        source="phone",
        community_id=xinfeng.id,
        place="common",
        place_note="5号楼门口窨井",
        reporter_name="钱阿姨",
        description="窨井堵了，污水漫到路上。",
    )
    await tickets.do_auto_dispatch(session, order=sewer)
    await tickets.do_accept(session, actor=worker, order_id=sewer.id)
    await tickets.do_start(session, actor=worker, order_id=sewer.id)
    # Seen on patrol, assigned by the steward, not accepted yet.
    lock = await report(
        district_steward,
        key="lock",
        category="door_lock",
        source="patrol",
        community_id=dianhu.id,
        place="common",
        place_note="2号楼单元门",
        description="单元门门禁坏了，关不上。",
    )
    await tickets.do_assign(session, actor=district_steward, order_id=lock.id, assignee_id=worker.person_id)
    # Done last week and rated 5 by the caller on the phone.
    lamp = await report(
        district_steward,
        key="lamp",
        category="lighting",
        source="desk",
        community_id=xiangping.id,
        place="common",
        place_note="大门口路灯",
        reporter_name="孙大爷",
        now=now - timedelta(days=6),
        description="大门口路灯坏了。",
    )
    await tickets.do_grab(session, actor=worker, order_id=lamp.id)
    await tickets.do_finish(
        session, actor=worker, order_id=lamp.id, note="换了灯泡。", now=now - timedelta(days=5)
    )
    await tickets.do_confirm(
        session, actor=district_steward, order_id=lamp.id, rating=5, comment="修得很快。"
    )
    # In the pool, for anyone to grab.
    await report(
        district_steward,
        key="tree",
        category="greenery",
        source="patrol",
        community_id=xiyuan.id,
        place="common",
        place_note="小区东侧",
        description="大树枝快断了，挡住路。",
    )
