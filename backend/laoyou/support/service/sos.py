"""SOS: the resident's alert to the on-duty staff, the agents and the family, and the taps an emergency
reply offers.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import or_, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from laoyou.accounts import service as accounts
from laoyou.accounts.actor import Actor
from laoyou.accounts.audit import audit, audit_many
from laoyou.accounts.models import Notification, Person, Role, RoleGrant
from laoyou.core import i18n
from laoyou.core.db import insert_ignoring
from laoyou.core.errors import ErrorCode, LaoyouError, NotFound, PermissionDenied
from laoyou.core.events import announce
from laoyou.core.phone import national
from laoyou.core.time import utcnow
from laoyou.estates import service as estates
from laoyou.support.models import SosAlert, SosStatus
from laoyou.support.service.common import (
    ALL_SOS_CHANNEL,
    _,
    announce_district,
    check_client_id,
    household_place,
    on_duty_stewards,
    person_channel,
    person_language,
    sos_channel,
    sos_district_channel,
)
from laoyou.support.service.faq import staff_district_ids


@dataclass(frozen=True)
class HelpAction:
    """One tap offered with an emergency reply: raise the SOS, or call a number."""

    kind: str  # "sos" or "call"
    label: str  # a msgid, with its params
    params: dict[str, str] = field(default_factory=dict)
    phone: str = ""


EMERGENCY_NUMBERS = (("119", _("Call 119 (fire)")), ("120", _("Call 120 (ambulance)")))


def help_actions(*, steward: Person | None, duty_phone: str) -> list[HelpAction]:
    """What an emergency reply offers: SOS, the on-duty steward (or the community's duty phone), 119 and 120."""
    actions = [HelpAction("sos", _("SOS: alert my steward and family"))]
    if steward is not None:
        actions.append(
            HelpAction("call", _("Call steward %(name)s"), {"name": steward.name}, national(steward.phone))
        )
    elif duty_phone:
        actions.append(HelpAction("call", _("Call the duty phone"), phone=national(duty_phone)))
    actions += [HelpAction("call", label, phone=number) for number, label in EMERGENCY_NUMBERS]
    return actions


# --- the steward's phone and SOS ----------------------------------------------------------------------


async def do_raise_sos(
    session: AsyncSession,
    *,
    actor: Actor,
    household_id: int | None,
    client_id: str | None = None,
) -> SosAlert:
    """The resident pressed SOS (nothing else raises one): alert the community's on-duty staff and the
    district's agents with the address, and tell the household's family."""
    actor.require_login()
    if household_id is None or household_id not in actor.household_ids:
        raise NotFound()
    if client_id is not None:
        client_id = check_client_id(client_id)
        existing = await _sos_by_client_id(session, person_id=actor.person_id, client_id=client_id)
        if existing is not None:
            return existing
    household, community, address = await household_place(session, household_id)
    on_duty = await on_duty_stewards(session, community)
    alert = SosAlert(
        person_id=actor.person_id,
        household_id=household.id,
        community_id=community.id,
        district_id=household.district_id,
        address=address,
        client_id=client_id,
        responder_id=on_duty[0].id if on_duty else None,
    )
    if client_id is None:
        session.add(alert)
        await session.flush()
    else:
        # A double tap sends the same form twice at once: both find nothing above, and the second insert would
        # break the unique key and fail the whole request. ON CONFLICT DO NOTHING waits for the first to commit
        # (PostgreSQL's row lock, SQLite's write lock), then inserts nothing and the first one is the SOS; no
        # statement fails, so no transaction is left aborted or holding a lock.
        inserted = (
            await session.execute(
                insert_ignoring(session, SosAlert.__table__, ["person_id", "client_id"])
                .values(**alert.model_dump(exclude={"id"}))
                .returning(col(SosAlert.id))
            )
        ).first()
        if inserted is None:
            first = await _sos_by_client_id(session, person_id=actor.person_id, client_id=client_id)
            if first is None:  # the conflicting row went away again: never report an SOS that is not there
                raise NotFound()
            return first
        alert = await session.get_one(SosAlert, inserted[0])
    name = actor.person.name or national(actor.person.phone)
    agents = list(
        await session.exec(
            select(RoleGrant.person_id).where(
                RoleGrant.role == Role.agent.value,
                RoleGrant.district_id == household.district_id,
                col(RoleGrant.revoked_at).is_(None),
            )
        )
    )
    for person_id in dict.fromkeys([p.id for p in on_duty] + agents):
        language = await person_language(session, person_id)
        await accounts.do_notify(
            session,
            person_id=person_id,
            kind="sos",
            title=i18n.gettext("SOS: %(name)s needs help", language, name=name),
            body=i18n.gettext("Address: %(address)s", language, address=address),
            link=f"/staff/support/sos/{alert.id}",
        )
    family = await session.exec(
        select(RoleGrant.person_id).where(
            RoleGrant.household_id == household.id,
            RoleGrant.role == Role.family.value,
            col(RoleGrant.revoked_at).is_(None),
        )
    )
    for person_id in dict.fromkeys(family):
        language = await person_language(session, person_id)
        await accounts.do_notify(
            session,
            person_id=person_id,
            kind="sos_family",
            title=i18n.gettext("%(name)s asked for help at home", language, name=name),
            body=i18n.gettext("The steward has been told. Address: %(address)s", language, address=address),
            link=f"/support/sos/{alert.id}",
        )
    announce_district(session, household.district_id, {"sos": alert.id})
    _announce_sos(session, alert)
    return alert


async def _sos_by_client_id(session: AsyncSession, *, person_id: int, client_id: str) -> SosAlert | None:
    return (
        await session.exec(
            select(SosAlert).where(SosAlert.person_id == person_id, SosAlert.client_id == client_id)
        )
    ).first()


async def sos_family_told(session: AsyncSession, *, alert: SosAlert) -> bool:
    """Whether family were told of this alert: someone followed its household (a family grant in force) when
    it was raised, as do_raise_sos tells them."""
    grant = (
        await session.exec(
            select(RoleGrant.id)
            .where(
                RoleGrant.household_id == alert.household_id,
                RoleGrant.role == Role.family.value,
                RoleGrant.person_id != alert.person_id,
                col(RoleGrant.created_at) <= alert.created_at,
                or_(col(RoleGrant.revoked_at).is_(None), col(RoleGrant.revoked_at) > alert.created_at),
            )
            .limit(1)
        )
    ).first()
    return grant is not None


def _announce_sos(session: AsyncSession, alert: SosAlert) -> None:
    announce(session, sos_district_channel(alert.district_id), {"sos": alert.id})
    announce(session, ALL_SOS_CHANNEL, {"sos": alert.id})


async def sos_channels(session: AsyncSession, *, actor: Actor) -> list[str]:
    """What to listen to for the SOS alerts of the districts the actor answers in (as a steward or an agent);
    every district for the admin."""
    districts = await staff_district_ids(session, actor)
    if districts is None:
        return [ALL_SOS_CHANNEL]
    return [sos_district_channel(d) for d in sorted(districts)]


async def access_sos(session: AsyncSession, *, actor: Actor, alert_id: int) -> SosAlert:
    actor.require_login()
    alert = await session.get(SosAlert, alert_id)
    if alert is None:
        raise NotFound()
    if alert.person_id == actor.person_id or alert.household_id in actor.household_ids:
        return alert
    if actor.is_staff:
        staff = await estates.staff_community_ids(session, actor)
        if staff is None or alert.community_id in staff:
            return alert
    raise NotFound()


async def list_sos(
    session: AsyncSession, *, actor: Actor, open_only: bool = True, limit: int = 50
) -> list[SosAlert]:
    actor.require_login()
    if not actor.is_staff:
        raise PermissionDenied()
    staff = await estates.staff_community_ids(session, actor)
    query = select(SosAlert).order_by(col(SosAlert.id).desc()).limit(limit)
    if staff is not None:
        query = query.where(col(SosAlert.community_id).in_(staff or {-1}))
    if open_only:
        query = query.where(SosAlert.status != SosStatus.resolved.value)
    return list(await session.exec(query))


async def sos_resident_phones(session: AsyncSession, *, actor: Actor, alert_ids: list[int]) -> dict[int, str]:
    """The whole phone numbers of the residents who raised these alerts, for the staff who may see each alert
    to call back at once; nobody else gets them. Each read is audited, one line per alert."""
    if not actor.is_staff or not alert_ids:
        return {}
    staff = await estates.staff_community_ids(session, actor)
    query = (
        select(SosAlert.id, Person.phone)
        .join(Person, col(Person.id) == SosAlert.person_id)
        .where(col(SosAlert.id).in_(alert_ids))
    )
    if staff is not None:
        query = query.where(col(SosAlert.community_id).in_(staff or {-1}))
    found = {alert_id: national(phone) for alert_id, phone in await session.exec(query)}
    await audit_many(
        session,
        actor=actor,
        action="sos.read_phone",
        subject_type="sos_alert",
        subject_ids=sorted(found),
        reading=True,
    )
    return found


async def do_respond_sos(
    session: AsyncSession, *, actor: Actor, alert_id: int, resolve: bool = False
) -> SosAlert:
    """A staff member says they are coming (or that it is dealt with); the resident sees who."""
    alert = await access_sos(session, actor=actor, alert_id=alert_id)
    if not actor.is_staff or alert.person_id == actor.person_id:
        raise PermissionDenied()
    now = utcnow()
    if resolve:
        alert.status, alert.resolved_at = SosStatus.resolved.value, now
    else:
        alert.status, alert.acknowledged_at, alert.responder_id = (
            SosStatus.acknowledged.value,
            now,
            actor.person_id,
        )
        language = await person_language(session, alert.person_id)
        await accounts.do_notify(
            session,
            person_id=alert.person_id,
            kind="sos_coming",
            title=i18n.gettext("%(name)s is coming to help you", language, name=actor.person.name),
            link=f"/support/sos/{alert.id}",
        )
    session.add(alert)
    await session.flush()
    announce(session, person_channel(alert.person_id), {"sos": alert.id})
    announce(session, sos_channel(alert.id), {"sos": alert.id, "status": alert.status})
    announce_district(session, alert.district_id, {"sos": alert.id})
    _announce_sos(session, alert)
    return alert


ALREADY_OVER = _("This call for help is already over: nothing was changed.")


async def do_cancel_sos(session: AsyncSession, *, actor: Actor, alert_id: int) -> SosAlert:
    """The resident who raised it says she is fine: the alert is resolved as cancelled by her, and everyone who
    was alerted (the responder, the staff and the family told when it was raised) is told so."""
    alert = await access_sos(session, actor=actor, alert_id=alert_id)
    if (
        alert.person_id != actor.person_id
    ):  # her family and the staff may see it, but only she may call it off
        raise NotFound()
    now = utcnow()
    # A guarded UPDATE: of two cancels at once (or a cancel and a staff member's resolve), one wins and the
    # other changes nothing.
    result = await session.exec(
        update(SosAlert)
        .where(col(SosAlert.id) == alert.id, SosAlert.status != SosStatus.resolved.value)
        .values(status=SosStatus.resolved.value, resolved_at=now, cancelled_at=now)
    )
    if not result.rowcount:
        raise LaoyouError(ErrorCode.NOT_ALLOWED, ALREADY_OVER)
    await session.refresh(alert)
    await audit(session, actor=actor, action="sos.cancel", subject_type="sos_alert", subject_id=alert.id)
    name = actor.person.name or national(actor.person.phone)
    staff_link, family_link = f"/staff/support/sos/{alert.id}", f"/support/sos/{alert.id}"
    told = await session.exec(
        select(Notification.person_id, Notification.link).where(
            or_(
                (col(Notification.link) == staff_link) & (Notification.kind == "sos"),
                (col(Notification.link) == family_link) & (Notification.kind == "sos_family"),
            )
        )
    )
    links: dict[int, str] = {}
    if alert.responder_id is not None:
        links[alert.responder_id] = staff_link
    for person_id, link in told:
        links.setdefault(person_id, link)
    links.pop(actor.person_id, None)
    for person_id, link in sorted(links.items()):
        language = await person_language(session, person_id)
        await accounts.do_notify(
            session,
            person_id=person_id,
            kind="sos_cancelled",
            title=i18n.gettext("%(name)s cancelled the call for help: they are fine", language, name=name),
            body=i18n.gettext("Address: %(address)s", language, address=alert.address),
            link=link,
        )
    announce(session, person_channel(alert.person_id), {"sos": alert.id})
    announce(session, sos_channel(alert.id), {"sos": alert.id, "status": alert.status})
    announce_district(session, alert.district_id, {"sos": alert.id})
    _announce_sos(session, alert)
    return alert
