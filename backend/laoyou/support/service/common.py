"""Shared by every part of customer service: the event channels, which districts an actor answers for,
which side of a conversation they are on, and the household's place and on-duty stewards.
"""

from __future__ import annotations

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from laoyou.accounts.actor import Actor
from laoyou.accounts.models import Person, Role
from laoyou.core import i18n
from laoyou.core.errors import ErrorCode, LaoyouError
from laoyou.core.events import announce
from laoyou.estates import service as estates
from laoyou.estates.models import Building, Community, Household, Unit
from laoyou.support.models import Conversation


def _(message: str) -> str:
    """Marks a msgid; translated in the reader's language where it is stored or shown."""
    return message


# --- channels: events carry ids; subscribers fetch rows (so they fit any pub/sub backend) --------------


def conversation_channel(conversation_id: int) -> str:
    return f"support:conversation:{conversation_id}"


def district_channel(district_id: int) -> str:
    return f"support:district:{district_id}"


# Every district's events also go here, for those who watch all districts (the operator's admin).
ALL_DISTRICTS_CHANNEL = "support:districts"


def announce_district(session: AsyncSession, district_id: int, message: dict) -> None:
    announce(session, district_channel(district_id), message)
    announce(session, ALL_DISTRICTS_CHANNEL, {**message, "district": district_id})


def district_channels(actor: Actor) -> list[str]:
    """What to listen to for the districts whose queue the actor answers: every district for the admin."""
    districts = agent_district_ids(actor)
    if districts is None:
        return [ALL_DISTRICTS_CHANNEL]
    return [district_channel(d) for d in sorted(districts)]


def sos_channel(alert_id: int) -> str:
    return f"support:sos:{alert_id}"


def sos_district_channel(district_id: int) -> str:
    """An SOS of the district was raised or answered: what the staff homes listen to."""
    return f"support:sos-district:{district_id}"


# Every district's SOS events also go here, for the operator's admin.
ALL_SOS_CHANNEL = "support:sos-districts"


def person_channel(person_id: int) -> str:
    return f"support:person:{person_id}"


def call_channel(call_id: int) -> str:
    return f"support:call:{call_id}"


# --- scope ---------------------------------------------------------------------------------------------


# Who works the customer-service console: the agents, and the operator's admin who stands in for any.
AGENT_ROLES = (Role.agent, Role.admin)


def agent_district_ids(actor: Actor) -> set[int] | None:
    """Districts whose conversations the actor answers as an agent; None means all (the operator's admin)."""
    if actor.is_admin:
        return None
    return {g.district_id for g in actor.grants_of(Role.agent) if g.district_id}


def is_agent_for(actor: Actor, district_id: int) -> bool:
    districts = agent_district_ids(actor)
    return districts is None or district_id in districts


def is_staff_side(actor: Actor, conversation: Conversation) -> bool:
    return conversation.resident_id != actor.person_id


def check_client_id(client_id: str) -> str:
    client_id = (client_id or "").strip()
    if not (0 < len(client_id) <= 64):
        raise LaoyouError(ErrorCode.INVALID, "The message id is not valid.", field="clientId")
    return client_id


async def person_language(session: AsyncSession, person_id: int) -> str:
    person = await session.get(Person, person_id)
    return i18n.valid_language(person.language if person else None) or i18n.DEFAULT_LANGUAGE


async def household_place(session: AsyncSession, household_id: int) -> tuple[Household, Community, str]:
    household, unit, building, community = (
        await session.exec(
            select(Household, Unit, Building, Community)
            .join(Unit, Unit.id == Household.unit_id)
            .join(Building, Building.id == Unit.building_id)
            .join(Community, Community.id == Household.community_id)
            .where(Household.id == household_id)
        )
    ).one()
    return household, community, f"{community.name} {building.name} {unit.number}"


async def on_duty_stewards(session: AsyncSession, community: Community) -> list[Person]:
    """The community's on-duty stewards; when none is marked on duty, all its stewards."""
    stewards = (await estates.stewards_by_community(session, [community]))[community.id]
    on_duty = [p for p, duty in stewards if duty]
    return on_duty or [p for p, _ in stewards]
