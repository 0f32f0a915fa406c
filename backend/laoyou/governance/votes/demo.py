"""Demo votes: an open one in 秀山花园 (renewing the service, its count under way) and a finished, certified one
in 京剧院小区, whose owners moved it from the free trial to the cost phase (先尝后买)."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from laoyou.accounts import service as accounts
from laoyou.accounts.actor import Actor
from laoyou.accounts.models import Person, RoleGrant
from laoyou.billing.models import FeePlan, FeePlanItem, ItemKind, Phase, PlanStatus
from laoyou.core.time import utcnow
from laoyou.estates.models import Community, Household
from laoyou.governance.votes import service as votes
from laoyou.governance.votes.models import Ballot, Channel, Choice, Matter, Vote

ADMIN_PHONE = "+8613800000099"
STEWARDS = {"秀山花园": "+8613800000011", "京剧院小区": "+8613800000013"}
RESIDENT_XIUSHAN = "+8613800000001"  # keeps her ballot for the visitor to cast


async def _person(session: AsyncSession, phone: str) -> Person:
    return (await session.exec(select(Person).where(Person.phone == phone))).one()


async def _households(session: AsyncSession, community_id: int) -> list[int]:
    return list(
        await session.exec(
            select(Household.id).where(Household.community_id == community_id).order_by(col(Household.id))
        )
    )


async def load_votes_demo(session: AsyncSession) -> None:
    now = utcnow()
    communities = {c.name: c for c in await session.exec(select(Community))}
    admin = await _person(session, ADMIN_PHONE)

    xiushan = communities["秀山花园"]
    open_vote = Vote(
        community_id=xiushan.id,
        district_id=xiushan.district_id,
        title="续聘老友物业为秀山花园物业服务企业（三年）",
        body="服务合同明年到期。续聘后收费标准不变，每季度公示账目。请每户投一票：同意、反对或弃权。",
        matter=Matter.renew_service.value,
        deadline=now + timedelta(days=14),
        proposed_by_id=(await _person(session, STEWARDS["秀山花园"])).id,
    )
    session.add(open_vote)
    await session.flush()
    first = set(
        await session.exec(
            select(Household.id)
            .join(RoleGrant, RoleGrant.household_id == Household.id)
            .join(Person, Person.id == RoleGrant.person_id)
            .where(Person.phone == RESIDENT_XIUSHAN)
        )
    )
    # About half the owners have voted so far, most of them for.
    for n, household_id in enumerate(h for h in await _households(session, xiushan.id) if h not in first):
        if n % 2 == 0:
            choice = Choice.no if n % 10 == 4 else Choice.abstain if n % 14 == 6 else Choice.yes
            session.add(
                Ballot(
                    vote_id=open_vote.id,
                    household_id=household_id,
                    community_id=xiushan.id,
                    choice=choice.value,
                    channel=Channel.online.value,
                )
            )

    jingju = communities["京剧院小区"]
    steward = await _person(session, STEWARDS["京剧院小区"])
    cost_plan = FeePlan(
        district_id=jingju.district_id,
        community_id=jingju.id,
        scope_key=f"c:{jingju.id}",
        version=2,
        name="京剧院小区物业服务（成本价）",
        phase=Phase.cost.value,
        status=PlanStatus.draft.value,
        created_by_id=steward.id,
    )
    session.add(cost_plan)
    await session.flush()
    session.add(
        FeePlanItem(plan_id=cost_plan.id, name="物业服务费", kind=ItemKind.per_m2.value, unit_price_fen=95)
    )
    finished = Vote(
        community_id=jingju.id,
        district_id=jingju.district_id,
        title="试运行结束，按成本价收取物业费",
        body="试运行三个月，大家都看到了服务。按岳阳花苑同样的成本价 0.95 元/平方米·月收费，是否同意？",
        matter=Matter.adopt_phase.value,
        fee_plan_id=cost_plan.id,
        deadline=now - timedelta(days=3),
        proposed_by_id=steward.id,
        created_at=now - timedelta(days=17),
    )
    session.add(finished)
    await session.flush()
    # 14 of the 16 households voted: 12 for, one against, one abstained; three of them on paper.
    for n, household_id in enumerate((await _households(session, jingju.id))[:14]):
        session.add(
            Ballot(
                vote_id=finished.id,
                household_id=household_id,
                community_id=jingju.id,
                choice=(Choice.no if n == 12 else Choice.abstain if n == 13 else Choice.yes).value,
                channel=(Channel.paper if n % 5 == 4 else Channel.online).value,
                recorded_by_id=steward.id if n % 5 == 4 else None,
            )
        )
    await session.flush()
    # Certified through the service, so the cost plan is activated with the vote as its decision reference.
    actor = Actor(person=admin, grants=await accounts.live_grants(session, admin.id))
    await votes.do_certify_vote(session, actor=actor, vote_id=finished.id)
