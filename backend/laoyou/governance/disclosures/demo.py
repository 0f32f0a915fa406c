"""Demo disclosures: this quarter's, published, at 秀山花园 and 岳阳花苑, prepared by their stewards through the
service as a steward would (so the figures come from the demo's books)."""

from __future__ import annotations

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from laoyou.accounts import service as accounts
from laoyou.accounts.actor import Actor
from laoyou.accounts.models import Person
from laoyou.billing.models import Fund
from laoyou.core.time import local_date, utcnow
from laoyou.estates.models import Community
from laoyou.governance.disclosures import service as disclosures

SPENDING = (
    (Fund.property_fee.value, "保洁用品和垃圾清运", 186000),
    (Fund.property_fee.value, "楼道灯更换（12盏）", 43200),
    (Fund.public_income.value, "儿童游乐设施维修", 80000),
)
COMMUNITIES = (("秀山花园", "+8613800000011"), ("岳阳花苑", "+8613800000013"))
STAFF_COST_FEN = 3_600_000  # the district's guards, cleaners and repair staff for the quarter


async def load_disclosures_demo(session: AsyncSession) -> None:
    today = local_date(utcnow())
    quarter = (today.month - 1) // 3 + 1
    for name, phone in COMMUNITIES:
        steward = (await session.exec(select(Person).where(Person.phone == phone))).first()
        community = (await session.exec(select(Community).where(Community.name == name))).first()
        if steward is None or community is None:
            continue
        actor = Actor(person=steward, grants=await accounts.live_grants(session, steward.id))
        row = await disclosures.do_create_disclosure(
            session, actor=actor, community_id=community.id, year=today.year, quarter=quarter
        )
        for fund, title, amount in SPENDING:
            await disclosures.do_add_spending(
                session,
                actor=actor,
                disclosure_id=row.id,
                fund=fund,
                title=title,
                amount_fen=amount,
                photo_ids=[],
            )
        await disclosures.do_set_staff_share(
            session, actor=actor, disclosure_id=row.id, cost_fen=STAFF_COST_FEN, key="households"
        )
        await disclosures.do_publish(session, actor=actor, disclosure_id=row.id)
