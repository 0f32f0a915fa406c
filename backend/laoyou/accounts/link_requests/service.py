"""Asking to be linked to a home: a person who logged in by SMS but lives in no household yet names their
community, building and unit; a steward who may add residents there confirms (through the same path as
adding a resident by hand, estates.onboarding.do_add_resident) or declines with a short reason.

Who may decide: the stewards whose communities they may edit (a community steward, 挂单 included; a district
steward; the admin). Anyone else is told NotFound.
"""

from __future__ import annotations

import re

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from laoyou.accounts import service as accounts
from laoyou.accounts.actor import Actor
from laoyou.accounts.audit import audit
from laoyou.accounts.link_requests.models import LinkRequest, LinkRequestStatus
from laoyou.accounts.models import Person
from laoyou.core import i18n
from laoyou.core.errors import ErrorCode, LaoyouError, NotFound, PermissionDenied
from laoyou.core.text import check_text
from laoyou.core.time import utcnow
from laoyou.estates import onboarding
from laoyou.estates.models import Building, Community, Household, Unit
from laoyou.estates.service import staff_community_filter

LINKABLE_COMMUNITIES_MAX = 20
REASON_MAX = 100

# --- what the person typed, as the estate's names ------------------------------------------------------------

_FULL_WIDTH = str.maketrans("０１２３４５６７８９－", "0123456789-")
_CHINESE_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7}
_CHINESE_DIGITS |= {"八": 8, "九": 9}
_BUILDING_WORDS = re.compile(r"(?:号楼|号|栋|幢|座|楼)$")
_UNIT_WORDS = re.compile(r"(?:室|号|房)$")


def _chinese_number(text: str) -> str:
    """一 → 1, 十二 → 12, 二十一 → 21; anything else as it was."""
    if not text or any(ch not in _CHINESE_DIGITS and ch != "十" for ch in text):
        return text
    if "十" not in text:
        return "".join(str(_CHINESE_DIGITS[ch]) for ch in text)
    tens, _, ones = text.partition("十")
    if len(tens) > 1 or len(ones) > 1 or "十" in ones:
        return text
    return str((_CHINESE_DIGITS[tens] if tens else 1) * 10 + (_CHINESE_DIGITS[ones] if ones else 0))


def _key(text: str, words: re.Pattern[str]) -> str:
    value = re.sub(r"\s+", "", text.translate(_FULL_WIDTH)).lower()
    value = _chinese_number(words.sub("", value) or value)
    return str(int(value)) if value.isdigit() else value


def building_key(text: str) -> str:
    """ "1号楼", "1栋", "一号楼", "01" and "1" name the same building."""
    return _key(text, _BUILDING_WORDS)


def unit_key(text: str) -> str:
    """ "101", "101室" and "101号" name the same unit."""
    return _key(text, _UNIT_WORDS)


def _matching(rows: list, typed: str, name_of, key) -> list:  # noqa: ANN001
    # The name as written wins; otherwise every row whose name means the same, which must be exactly one.
    exact = [row for row in rows if name_of(row) == typed]
    return exact or [row for row in rows if key(name_of(row)) == key(typed)]


async def find_household(
    session: AsyncSession, *, community: Community, building: str, unit: str
) -> Household:
    """The household at the building and unit a person typed, or a clear error that changes nothing."""
    buildings = _matching(
        list(
            await session.exec(
                select(Building).where(
                    Building.community_id == community.id, col(Building.archived_at).is_(None)
                )
            )
        ),
        building,
        lambda b: b.name,
        building_key,
    )
    if len(buildings) != 1:
        raise LaoyouError(
            ErrorCode.NOT_FOUND,
            "%(community)s has no building %(building)s. Please check the building number.",
            field="building",
            community=community.name,
            building=building,
        )
    units = _matching(
        list(
            await session.exec(
                select(Unit).where(Unit.building_id == buildings[0].id, col(Unit.archived_at).is_(None))
            )
        ),
        unit,
        lambda u: u.number,
        unit_key,
    )
    household = None
    if len(units) == 1:
        household = (
            await session.exec(
                select(Household).where(
                    Household.unit_id == units[0].id, col(Household.archived_at).is_(None)
                )
            )
        ).first()
    if household is None:
        raise LaoyouError(
            ErrorCode.NOT_FOUND,
            "Building %(building)s has no home %(unit)s on our list. Please check the number on your door.",
            field="unit",
            building=buildings[0].name,
            unit=unit,
        )
    return household


# --- the person who asks -----------------------------------------------------------------------------------


def _require_asker(actor: Actor) -> None:
    actor.require_login()
    if actor.is_staff:
        # Staff are added to a home by a steward; their home page has no form to ask with.
        raise PermissionDenied()


async def list_linkable_communities(
    session: AsyncSession, *, actor: Actor, search: str, first: int
) -> list[Community]:
    """Communities a person may say they live in, by name: names only, a short list."""
    actor.require_login()
    query = (
        select(Community)
        .where(col(Community.archived_at).is_(None))
        .order_by(Community.name, Community.id)
        .limit(max(1, min(first, LINKABLE_COMMUNITIES_MAX)))
    )
    words = (search or "").strip()[:50]
    if words:
        query = query.where(col(Community.name).contains(words, autoescape=True))
    return list(await session.exec(query))


async def _pending_of(session: AsyncSession, person_id: int) -> LinkRequest | None:
    return (
        await session.exec(
            select(LinkRequest).where(
                LinkRequest.person_id == person_id, LinkRequest.status == LinkRequestStatus.pending.value
            )
        )
    ).first()


async def my_link_request(session: AsyncSession, *, actor: Actor) -> LinkRequest | None:
    """The person's latest request, whatever became of it (the home page shows a decline's reason)."""
    actor.require_login()
    return (
        await session.exec(
            select(LinkRequest)
            .where(LinkRequest.person_id == actor.person_id)
            .order_by(col(LinkRequest.id).desc())
            .limit(1)
        )
    ).first()


async def do_request_link(
    session: AsyncSession,
    *,
    actor: Actor,
    community_id: int,
    building: str,
    unit: str,
    name: str,
    relation: onboarding.Relation,
) -> LinkRequest:
    """Ask to be linked to a household; asking again while a request waits changes that request."""
    _require_asker(actor)
    name = onboarding.checked_text(name, field="name", max_length=50)
    building = onboarding.checked_text(building, field="building", max_length=50)
    unit = onboarding.checked_text(unit, field="unit", max_length=20)
    community = await session.get(Community, community_id)
    if community is None or community.archived_at is not None:
        raise LaoyouError(ErrorCode.INVALID, "Please choose your community.", field="communityId")
    household = await find_household(session, community=community, building=building, unit=unit)
    if household.id in actor.household_ids:
        raise LaoyouError(ErrorCode.ALREADY_EXISTS, "You are already linked to this home.", field="unit")
    request = await _pending_of(session, actor.person_id)
    if request is None:
        request = LinkRequest(person_id=actor.person_id)
    request.community_id = community.id
    request.district_id = community.district_id
    request.household_id = household.id
    request.building_text = building
    request.unit_text = unit
    request.name = name
    request.relation = relation.value
    request.created_at = utcnow()  # asked again: the steward sees when it was last asked
    session.add(request)
    await session.flush()
    return request


async def do_cancel_link_request(session: AsyncSession, *, actor: Actor) -> LinkRequest:
    actor.require_login()
    request = await _pending_of(session, actor.person_id)
    if request is None:
        raise LaoyouError(ErrorCode.NOT_FOUND, "You have no request waiting.")
    request.status = LinkRequestStatus.cancelled.value
    request.decided_at = utcnow()
    request.decided_by_id = actor.person_id
    session.add(request)
    await session.flush()
    return request


# --- the steward who decides -------------------------------------------------------------------------------


async def list_pending_link_requests(session: AsyncSession, *, actor: Actor) -> list[LinkRequest]:
    """Requests waiting in the communities where the actor may add residents, oldest first."""
    actor.require_login()
    if not actor.is_staff:
        return []
    query = (
        select(LinkRequest, Community)
        .join(Community, Community.id == LinkRequest.community_id)
        .where(LinkRequest.status == LinkRequestStatus.pending.value, col(Community.archived_at).is_(None))
        .order_by(LinkRequest.created_at, LinkRequest.id)
    )
    condition = staff_community_filter(actor)
    if condition is not None:
        query = query.where(condition)
    # Officials and field staff see these communities too, but only who may add residents decides.
    return [
        request
        for request, community in await session.exec(query)
        if onboarding.may_edit_estate(actor, community)
    ]


async def _decidable(session: AsyncSession, actor: Actor, request_id: int) -> LinkRequest:
    actor.require_login()
    request = await session.get(LinkRequest, request_id)
    if request is None or request.person_id == actor.person_id:
        raise NotFound()
    await onboarding.editable_community(session, actor, request.community_id)
    if request.status != LinkRequestStatus.pending.value:
        raise LaoyouError(ErrorCode.NOT_ALLOWED, "This request has already been answered.")
    return request


async def _decided(
    session: AsyncSession, actor: Actor, request: LinkRequest, status: LinkRequestStatus
) -> None:
    request.status = status.value
    request.decided_at = utcnow()
    request.decided_by_id = actor.person_id
    session.add(request)
    await audit(
        session,
        actor=actor,
        action=f"link_request.{status.value}",
        subject_type="link_request",
        subject_id=request.id,
        detail=f"person {request.person_id} household {request.household_id}",
    )


async def do_confirm_link_request(session: AsyncSession, *, actor: Actor, request_id: int) -> LinkRequest:
    """The steward confirms: the person is added to the home as a steward adds anyone, and told."""
    request = await _decidable(session, actor, request_id)
    person = await session.get(Person, request.person_id)
    await onboarding.do_add_resident(
        session,
        actor=actor,
        household_id=request.household_id,
        name=request.name,
        phone=person.phone,
        relation=onboarding.Relation(request.relation),
    )
    await _decided(session, actor, request, LinkRequestStatus.confirmed)
    await accounts.do_notify(
        session,
        person_id=person.id,
        kind="link_request",
        title=i18n.gettext(
            "Your steward has linked you to your home", language=person.language or i18n.DEFAULT_LANGUAGE
        ),
        link="/",
    )
    await session.flush()
    return request


async def do_decline_link_request(
    session: AsyncSession, *, actor: Actor, request_id: int, reason: str
) -> LinkRequest:
    """The steward declines, with a short reason the person reads on their home page."""
    request = await _decidable(session, actor, request_id)
    check_text(reason, field="reason")
    reason = (reason or "").strip()
    if len(reason) > REASON_MAX:
        raise LaoyouError(
            ErrorCode.INVALID, "Please use at most %(n)s characters.", field="reason", n=REASON_MAX
        )
    request.reason = reason
    await _decided(session, actor, request, LinkRequestStatus.declined)
    person = await session.get(Person, request.person_id)
    await accounts.do_notify(
        session,
        person_id=person.id,
        kind="link_request",
        title=i18n.gettext(
            "Your steward could not confirm your home", language=person.language or i18n.DEFAULT_LANGUAGE
        ),
        body=reason,
        link="/",
    )
    await session.flush()
    return request
