"""Fee plans: drafts, activation on an owners' decision, add-on packages, and the plan in force for a community."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from laoyou.accounts import service as accounts
from laoyou.accounts.actor import Actor
from laoyou.accounts.models import Role
from laoyou.billing.models import FeePlan, FeePlanItem, ItemKind, PackageAdoption, Phase, PlanStatus
from laoyou.billing.service.common import check_can_read_books, check_can_write, load_community
from laoyou.core.errors import ErrorCode, LaoyouError, NotFound, PermissionDenied
from laoyou.core.text import check_text
from laoyou.core.time import utcnow
from laoyou.estates import service as estates
from laoyou.estates.models import Community


@dataclass
class ItemInput:
    name: str
    kind: ItemKind
    unit_price_fen: int
    package: str = "base"


async def do_create_fee_plan(
    session: AsyncSession,
    *,
    actor: Actor,
    name: str,
    phase: Phase,
    items: list[ItemInput],
    community_id: int | None = None,
    district_id: int | None = None,
    period_months: int = 1,
) -> FeePlan:
    """A draft plan for a community, or for a whole district (inherited unless a community has its own)."""
    actor.require_login()
    if (community_id is None) == (district_id is None):
        raise LaoyouError(ErrorCode.INVALID, "Choose a community or a district.", field="communityId")
    if community_id is not None:
        community = await load_community(session, community_id)
        await check_can_write(session, actor, community_id)
        district_id, scope = community.district_id, f"c:{community_id}"
    else:
        await estates.access_district(session, actor=actor, district_id=district_id)
        district_grants = {g.district_id for g in actor.grants_of(Role.steward) if g.community_id is None}
        if not actor.is_admin and district_id not in district_grants:
            raise PermissionDenied()
        scope = f"d:{district_id}"
    name = name.strip()
    if not name or len(name) > 100:
        raise LaoyouError(ErrorCode.INVALID, "Give the plan a name.", field="name")
    check_text(name, field="name")
    if period_months not in (1, 3):
        raise LaoyouError(ErrorCode.INVALID, "Bills are monthly or quarterly.", field="periodMonths")
    if not any(item.package == "base" for item in items):
        raise LaoyouError(
            ErrorCode.INVALID, "A plan needs at least one item in its base package.", field="items"
        )
    for item in items:
        if item.unit_price_fen < 0 or item.unit_price_fen > 1_000_000 or not item.name.strip():
            raise LaoyouError(
                ErrorCode.INVALID, "Each item needs a name and a price of zero or more.", field="items"
            )
        check_text(item.name, field="items")
        check_text(item.package, field="items")
    version = (
        await session.scalar(select(func.max(FeePlan.version)).where(FeePlan.scope_key == scope)) or 0
    ) + 1
    plan = FeePlan(
        district_id=district_id,
        community_id=community_id,
        scope_key=scope,
        version=version,
        name=name,
        phase=phase.value,
        period_months=period_months,
        created_by_id=actor.person_id,
    )
    session.add(plan)
    await session.flush()
    for item in items:
        session.add(
            FeePlanItem(
                plan_id=plan.id,
                package=item.package.strip()[:50] or "base",
                name=item.name.strip()[:100],
                kind=item.kind.value,
                unit_price_fen=item.unit_price_fen,
            )
        )
    await session.flush()
    return plan


async def access_fee_plan(session: AsyncSession, *, actor: Actor, plan_id: int) -> FeePlan:
    actor.require_login()
    plan = await session.get(FeePlan, plan_id)
    if plan is None:
        raise NotFound()
    visible = await estates.visible_community_ids(session, actor)
    if visible is None:
        return plan
    if plan.community_id is not None and plan.community_id in visible:
        return plan
    if plan.community_id is None:
        districts = await estates.visible_district_ids(session, actor)
        if districts is None or plan.district_id in districts:
            return plan
    raise NotFound()


async def do_activate_fee_plan(
    session: AsyncSession, *, actor: Actor, plan_id: int, decision_ref: str, approver_id: int | None = None
) -> FeePlan:
    """Activate a plan on an owners' decision; the previous active version of the same scope retires."""
    plan = await access_fee_plan(session, actor=actor, plan_id=plan_id)
    if plan.community_id is not None:
        await check_can_write(session, actor, plan.community_id)
    elif not actor.is_admin and plan.district_id not in {
        g.district_id for g in actor.grants_of(Role.steward) if g.community_id is None
    }:
        raise PermissionDenied()
    return await _activate(
        session, actor=actor, plan=plan, decision_ref=decision_ref, approver_id=approver_id
    )


async def _activate(
    session: AsyncSession, *, actor: Actor, plan: FeePlan, decision_ref: str, approver_id: int | None
) -> FeePlan:
    decision_ref = decision_ref.strip()
    if not decision_ref:
        raise LaoyouError(
            ErrorCode.INVALID, "Name the owners' decision that approves this plan.", field="decisionRef"
        )
    if plan.status != PlanStatus.draft.value:
        raise LaoyouError(ErrorCode.NOT_ALLOWED, "Only a draft plan can be activated.")
    await session.exec(
        update(FeePlan)
        .where(FeePlan.scope_key == plan.scope_key, FeePlan.status == PlanStatus.active.value)
        .values(status=PlanStatus.retired.value)
    )
    plan.status = PlanStatus.active.value
    plan.approved_by_id = approver_id or actor.person_id
    plan.approved_at = utcnow()
    plan.decision_ref = decision_ref[:200]
    session.add(plan)
    await session.flush()
    await accounts.audit(
        session,
        actor=actor,
        action="billing.plan_activated",
        subject_type="fee_plan",
        subject_id=plan.id,
        detail=decision_ref,
    )
    return plan


async def do_adopt_package(
    session: AsyncSession, *, actor: Actor, community_id: int, plan_id: int, package: str, decision_ref: str
) -> PackageAdoption:
    community = await load_community(session, community_id)
    await check_can_write(session, actor, community_id)
    plan = await access_fee_plan(session, actor=actor, plan_id=plan_id)
    return await _adopt(session, community=community, plan=plan, package=package, decision_ref=decision_ref)


async def _adopt(
    session: AsyncSession, *, community: Community, plan: FeePlan, package: str, decision_ref: str
) -> PackageAdoption:
    community_id, plan_id = community.id, plan.id
    if plan.community_id not in (None, community_id) or plan.district_id != community.district_id:
        raise NotFound()
    exists = await session.scalar(
        select(func.count())
        .select_from(FeePlanItem)
        .where(FeePlanItem.plan_id == plan_id, FeePlanItem.package == package, FeePlanItem.package != "base")
    )
    if not exists:
        raise LaoyouError(ErrorCode.INVALID, "That add-on package is not in the plan.", field="package")
    if not decision_ref.strip():
        raise LaoyouError(
            ErrorCode.INVALID, "Name the owners' decision that approves this plan.", field="decisionRef"
        )
    adoption = PackageAdoption(
        community_id=community_id,
        district_id=community.district_id,
        plan_id=plan_id,
        package=package,
        decision_ref=decision_ref.strip()[:200],
    )
    try:
        async with session.begin_nested():
            session.add(adoption)
            await session.flush()
    except IntegrityError:
        raise LaoyouError(
            ErrorCode.ALREADY_EXISTS, "This community has already adopted that package."
        ) from None
    return adoption


async def check_vote_decision(
    session: AsyncSession, plan: FeePlan, *, community: Community, package: str
) -> None:
    """What an owners' vote may put to the owners: a draft plan of the community itself (a new phase), or an
    add-on package of its own or its district's plan."""
    community_id = community.id
    if package:
        offered = await session.scalar(
            select(func.count())
            .select_from(FeePlanItem)
            .where(
                FeePlanItem.plan_id == plan.id, FeePlanItem.package == package, FeePlanItem.package != "base"
            )
        )
        if (
            not offered
            or plan.community_id not in (None, community_id)
            or plan.district_id != community.district_id
        ):
            raise LaoyouError(ErrorCode.INVALID, "That add-on package is not in the plan.", field="package")
    elif plan.community_id != community_id or plan.status != PlanStatus.draft.value:
        raise LaoyouError(
            ErrorCode.INVALID, "Choose a draft plan of this community for the vote.", field="feePlanId"
        )


async def do_apply_owners_vote(
    session: AsyncSession, *, actor: Actor, community_id: int, plan_id: int, package: str, decision_ref: str
) -> None:
    """An owners' vote certified by an official of the community (or its steward) activates the plan, or adopts
    the package, it approved. Officials may do this only through a vote: governance checked the vote and its
    count; the decision reference names it."""
    community = await load_community(session, community_id)
    await check_can_read_books(session, actor, community_id)
    plan = await access_fee_plan(session, actor=actor, plan_id=plan_id)
    await check_vote_decision(session, plan, community=community, package=package)
    if package:
        await _adopt(session, community=community, plan=plan, package=package, decision_ref=decision_ref)
    else:
        await _activate(session, actor=actor, plan=plan, decision_ref=decision_ref, approver_id=None)


async def effective_plan(session: AsyncSession, community: Community) -> FeePlan | None:
    """The community's own active plan, else its district's."""
    rows = list(
        await session.exec(
            select(FeePlan)
            .where(
                FeePlan.status == PlanStatus.active.value,
                (FeePlan.community_id == community.id)
                | (col(FeePlan.community_id).is_(None) & (FeePlan.district_id == community.district_id)),
            )
            .order_by(col(FeePlan.community_id).is_(None), col(FeePlan.version).desc())
        )
    )
    return rows[0] if rows else None


async def effective_fee_plan(session: AsyncSession, *, actor: Actor, community_id: int) -> FeePlan | None:
    """The plan in force for a community the actor may see."""
    community = await estates.access_community(session, actor=actor, community_id=community_id)
    return await effective_plan(session, community)


async def plan_items(session: AsyncSession, plan_id: int) -> list[FeePlanItem]:
    return list(
        await session.exec(select(FeePlanItem).where(FeePlanItem.plan_id == plan_id).order_by(FeePlanItem.id))
    )


async def items_for_community(session: AsyncSession, plan: FeePlan, community_id: int) -> list[FeePlanItem]:
    """The base package plus the add-ons this community adopted."""
    adopted = set(
        await session.exec(
            select(PackageAdoption.package).where(
                PackageAdoption.plan_id == plan.id, PackageAdoption.community_id == community_id
            )
        )
    )
    return [i for i in await plan_items(session, plan.id) if i.package == "base" or i.package in adopted]


async def list_fee_plans(session: AsyncSession, *, actor: Actor, community_id: int) -> list[FeePlan]:
    community = await estates.access_community(session, actor=actor, community_id=community_id)
    return list(
        await session.exec(
            select(FeePlan)
            .where(
                (FeePlan.community_id == community.id)
                | (col(FeePlan.community_id).is_(None) & (FeePlan.district_id == community.district_id))
            )
            .order_by(col(FeePlan.id).desc())
        )
    )
