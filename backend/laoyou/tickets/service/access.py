"""Who may see and do what with a work order: the role sets, the reporter's side, staff roles by scope, the
viewing rule and the checks the operations run before acting.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from sqlalchemy import or_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from laoyou.accounts.actor import Actor
from laoyou.accounts.models import Role
from laoyou.core.errors import NotFound, PermissionDenied
from laoyou.estates import service as estates
from laoyou.estates.models import Community
from laoyou.media import service as media_service
from laoyou.media.models import MediaFile
from laoyou.tickets.models import Kind, TicketAttachment, WorkOrder
from laoyou.tickets.service.common import OPEN

MANAGER_ROLES = (Role.steward, Role.admin)  # act on any work order they serve
DESK_ROLES = (
    Role.steward,
    Role.agent,
    Role.admin,
    Role.field_staff,
)  # may log a report on a resident's behalf
SYSTEM_VIEW_ROLES = (Role.steward, Role.agent, Role.admin)  # see a hidden complaint's author
BOARD_ROLES = (Role.steward, Role.agent, Role.official, Role.admin)  # the district board and its figures


def is_reporter_side(actor: Actor, order: WorkOrder) -> bool:
    """The reporter, or their household (family included)."""
    if not actor.is_authenticated:
        return False
    return order.reporter_id == actor.person_id or (
        order.household_id is not None
        and order.reporter_id is not None
        and order.household_id in actor.household_ids
    )


async def staff_roles_for(
    session: AsyncSession, actor: Actor, order: WorkOrder, community: Community | None = None
) -> set[Role]:
    """The actor's staff roles whose scope covers the order's community (a host's team covers 挂单)."""
    if not actor.is_authenticated:
        return set()
    if actor.is_admin:
        return {Role.admin}
    if not any(Role(g.role).is_staff for g in actor.grants):
        return set()
    community = community or await session.get(Community, order.community_id)
    roles: set[Role] = set()
    for grant in actor.grants:
        role = Role(grant.role)
        if not role.is_staff:
            continue
        if grant.community_id is None and grant.district_id == order.district_id:
            roles.add(role)
        elif grant.community_id is not None and grant.community_id in (
            order.community_id,
            community.attached_to_id,
        ):
            roles.add(role)
    return roles


def _official_may_see(order: WorkOrder) -> bool:
    return order.kind == Kind.repair or order.official_visible


async def can_view(session: AsyncSession, actor: Actor, order: WorkOrder) -> bool:
    if is_reporter_side(actor, order):
        return True
    roles = await staff_roles_for(session, actor, order)
    if roles - {Role.official}:
        return True
    return Role.official in roles and _official_may_see(order)


async def household_open_orders(
    session: AsyncSession, *, actor: Actor, household_id: int, community_id: int, first: int = 10
) -> list[WorkOrder]:
    """A household's open work orders that this actor may see, newest first. The scope is part of the query
    (it is the same for every order of one community, but for which kinds an official sees and which the
    reporter's side sees), so a short list means there are no more, not that the first few were hidden."""
    community = await session.get(Community, community_id)
    if community is None:
        return []
    probe = WorkOrder(community_id=community_id, district_id=community.district_id)
    roles = await staff_roles_for(session, actor, probe, community)
    conditions = [WorkOrder.household_id == household_id, WorkOrder.community_id == community_id, OPEN]
    if not roles - {Role.official}:
        if not actor.is_authenticated:
            return []
        # As in is_reporter_side: their own reports, or any report from a household they live in or follow.
        reporter_side = (
            col(WorkOrder.reporter_id).is_not(None)
            if household_id in actor.household_ids
            else WorkOrder.reporter_id == actor.person_id
        )
        official = [WorkOrder.kind == Kind.repair.value, col(WorkOrder.official_visible).is_(True)]
        conditions.append(or_(reporter_side, *official) if Role.official in roles else reporter_side)
    rows = await session.exec(
        select(WorkOrder).where(*conditions).order_by(col(WorkOrder.id).desc()).limit(first)
    )
    return list(rows)


async def access_work_order(session: AsyncSession, *, actor: Actor, order_id: int) -> WorkOrder:
    actor.require_login()
    order = await session.get(WorkOrder, order_id)
    if order is None or not await can_view(session, actor, order):
        raise NotFound()
    return order


async def author_hidden(
    session: AsyncSession, actor: Actor, order: WorkOrder, roles: set[Role] | None = None
) -> bool:
    """A hidden complaint's author is known to the steward, the agents and the system, never to field staff."""
    if not order.hide_author or is_reporter_side(actor, order):
        return False
    if roles is None:
        roles = await staff_roles_for(session, actor, order)
    return not roles & set(SYSTEM_VIEW_ROLES)


async def sees_reporter_phone(
    actor: Actor, order: WorkOrder, staff_roles: Callable[[], Awaitable[set[Role]]]
) -> bool:
    """Whether the viewer sees the reporter's whole phone number (the others see it masked): the reporter's
    side, the worker it is assigned to, and those who may know a hidden complaint's author. `staff_roles`
    gives the viewer's staff roles for the order (staff_roles_for), asked only when the rest does not decide."""
    if is_reporter_side(actor, order) or order.assignee_id == actor.person_id:
        return True
    return bool((await staff_roles()) & set(SYSTEM_VIEW_ROLES))


async def check_media_access(session: AsyncSession, actor: Actor, media: MediaFile) -> None:
    """A file attached to a work order is seen by whoever may see the order, and its author's report
    files of a hidden complaint only by those who may know the author (registered with media)."""
    rows = list(
        await session.exec(
            select(TicketAttachment.stage, WorkOrder)
            .join(WorkOrder, WorkOrder.id == TicketAttachment.work_order_id)
            .where(TicketAttachment.media_file_id == media.id)
        )
    )
    for stage, order in rows:
        if not await can_view(session, actor, order):
            raise NotFound()
        if stage == "report" and await author_hidden(session, actor, order):
            raise NotFound()


async def district_scope(
    session: AsyncSession, actor: Actor, district_id: int, roles: tuple[Role, ...]
) -> list[int] | None:
    """The communities of the district the actor may see with these roles; None: the whole district."""
    if actor.is_admin:
        return None
    grants = [g for g in actor.grants_of(*roles)]
    if any(g.community_id is None and g.district_id == district_id for g in grants):
        return None  # a district-wide grant: the whole board, no query needed
    if not grants:
        raise NotFound()
    served = await estates.staff_community_ids(session, actor.__class__(person=actor.person, grants=grants))
    ids = list(
        await session.exec(
            select(Community.id).where(
                Community.district_id == district_id, col(Community.id).in_(served or set())
            )
        )
    )
    if not ids:
        raise NotFound()
    return ids


async def require_manager(session: AsyncSession, actor: Actor, order: WorkOrder) -> None:
    if not (await staff_roles_for(session, actor, order)) & set(MANAGER_ROLES):
        raise PermissionDenied()


async def require_assignee_or_manager(session: AsyncSession, actor: Actor, order: WorkOrder) -> None:
    if order.assignee_id == actor.person_id and await staff_roles_for(session, actor, order):
        return
    await require_manager(session, actor, order)


async def require_reporter_side(session: AsyncSession, actor: Actor, order: WorkOrder) -> None:
    """The reporter; for a caller without an account, the steward records it on their behalf."""
    if is_reporter_side(actor, order):
        return
    if order.reporter_id is None:
        await require_manager(session, actor, order)
        return
    raise PermissionDenied()


# Files attached to work orders follow the work order's rules, not only the community's.
if check_media_access not in media_service.ACCESS_GUARDS:
    media_service.ACCESS_GUARDS.append(check_media_access)
