"""The care ledger's rules: consent first, need-to-know access, and an audit line for every staff read.

Care data is sensitive personal information (PIPL art. 28). Only the stewards serving the resident's community
read it (there is no separate care-staff role; field staff are left out because their grant covers a whole
district), every read is audited, and withdrawn consent hides the record from staff at once. The resident sees
and exports her own record; she or her family may withdraw consent.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from laoyou.accounts import service as accounts
from laoyou.accounts.actor import Actor
from laoyou.accounts.audit import audit, audit_many
from laoyou.accounts.models import FamilyLink, FamilyLinkStatus, Person, Role, RoleGrant
from laoyou.care.ledger.models import (
    NEEDS,
    VISIT_TIMES,
    CareRecord,
    CareVisit,
    ConsentMethod,
    Finding,
    Living,
    Mobility,
)
from laoyou.core.errors import ErrorCode, LaoyouError, NotFound
from laoyou.core.phone import normalise_phone
from laoyou.core.text import check_text
from laoyou.core.time import local_date, utcnow
from laoyou.estates import service as estates
from laoyou.estates.models import Household
from laoyou.media import service as media_service
from laoyou.media.models import MediaFile
from laoyou.tickets import service as tickets
from laoyou.tickets.models import Category, Source

MAX_TEXT = 200


@dataclass(frozen=True)
class Contact:
    """An emergency contact: the family links first, then the one the steward noted."""

    name: str
    phone: str
    relation: str


async def care_community_ids(session: AsyncSession, actor: Actor) -> set[int]:
    """The communities whose care records the actor may read: those their steward grants serve."""
    actor.require_login()
    stewarding = Actor(person=actor.person, grants=actor.grants_of(Role.steward))
    if not stewarding.grants:
        return set()
    return await estates.staff_community_ids(session, stewarding) or set()


async def _audit_read(session: AsyncSession, actor: Actor, record_ids: list[int]) -> None:
    await audit_many(
        session, actor=actor, action="care.record_read", subject_type="care_record", subject_ids=record_ids
    )


async def access_record_as_staff(session: AsyncSession, *, actor: Actor, record_id: int) -> CareRecord:
    """A consented record of a community the steward serves, its read audited; anything else does not exist."""
    record = await session.get(CareRecord, record_id)
    if (
        record is None
        or record.withdrawn_at is not None
        or record.community_id not in await care_community_ids(session, actor)
    ):
        raise NotFound()
    await _audit_read(session, actor, [record.id])
    return record


async def list_records(
    session: AsyncSession, *, actor: Actor, community_id: int | None = None
) -> list[CareRecord]:
    """The consented records of the steward's communities (or one of them), each read audited."""
    allowed = await care_community_ids(session, actor)
    if community_id is not None:
        if community_id not in allowed:
            raise NotFound()
        allowed = {community_id}
    if not allowed:
        return []
    rows = list(
        await session.exec(
            select(CareRecord)
            .where(col(CareRecord.community_id).in_(allowed), col(CareRecord.withdrawn_at).is_(None))
            .order_by(CareRecord.community_id, CareRecord.id)
            .limit(500)
        )
    )
    await _audit_read(session, actor, [r.id for r in rows])
    return rows


async def my_record(session: AsyncSession, *, actor: Actor) -> CareRecord | None:
    """The resident's own record, withdrawn or not: she may always see what was kept about her."""
    actor.require_login()
    return (await session.exec(select(CareRecord).where(CareRecord.resident_id == actor.person_id))).first()


async def active_record_of(session: AsyncSession, resident_id: int) -> CareRecord | None:
    return (
        await session.exec(
            select(CareRecord).where(
                CareRecord.resident_id == resident_id, col(CareRecord.withdrawn_at).is_(None)
            )
        )
    ).first()


async def contacts(session: AsyncSession, record: CareRecord) -> list[Contact]:
    """Family who follow the household (accepted links) first, then the contact the steward noted."""
    rows = await session.exec(
        select(Person, FamilyLink.relation)
        .join(FamilyLink, FamilyLink.person_id == Person.id)
        .where(
            FamilyLink.household_id == record.household_id,
            FamilyLink.status == FamilyLinkStatus.accepted.value,
        )
        .order_by(FamilyLink.id)
    )
    found = [Contact(person.name, person.phone, relation) for person, relation in rows]
    if record.contact_phone:
        found.append(Contact(record.contact_name, record.contact_phone, ""))
    return found


async def visits(session: AsyncSession, record: CareRecord) -> list[CareVisit]:
    rows = await session.exec(
        select(CareVisit)
        .where(CareVisit.record_id == record.id)
        .order_by(col(CareVisit.visited_on).desc(), col(CareVisit.id).desc())
        .limit(50)
    )
    return list(rows)


async def _resident_home(
    session: AsyncSession, resident_id: int, household_id: int | None = None
) -> RoleGrant:
    grants = [g for g in await accounts.live_grants(session, resident_id) if g.role == Role.resident.value]
    if household_id is not None:
        grants = [g for g in grants if g.household_id == household_id]
    if not grants:
        raise NotFound()
    return grants[0]


async def _new_or_renewed(session: AsyncSession, record: CareRecord) -> CareRecord:
    """The unique resident key decides between two consents recorded at once."""
    try:
        async with session.begin_nested():
            session.add(record)
            await session.flush()
    except IntegrityError:
        raise LaoyouError(
            ErrorCode.ALREADY_EXISTS, "A care record already exists for this resident."
        ) from None
    return record


async def _consent(
    session: AsyncSession, *, by: Actor, home: RoleGrant, method: ConsentMethod, photo_id: int | None
) -> CareRecord:
    now = utcnow()
    record = (await session.exec(select(CareRecord).where(CareRecord.resident_id == home.person_id))).first()
    if record is not None and record.withdrawn_at is None:
        raise LaoyouError(ErrorCode.ALREADY_EXISTS, "A care record already exists for this resident.")
    household = await session.get(Household, home.household_id)
    if record is None:
        record = CareRecord(
            resident_id=home.person_id,
            household_id=household.id,
            community_id=household.community_id,
            district_id=household.district_id,
            consent_method=method.value,
            consent_by_id=by.person_id,
            consent_at=now,
            consent_photo_id=photo_id,
        )
        record = await _new_or_renewed(session, record)
    else:
        record.household_id, record.community_id = household.id, household.community_id
        record.district_id = household.district_id
        record.consent_method, record.consent_by_id, record.consent_at = method.value, by.person_id, now
        record.consent_photo_id, record.withdrawn_at, record.withdrawn_by_id = photo_id, None, None
        record.updated_at = now
        session.add(record)
        await session.flush()
    await audit(
        session,
        actor=by,
        action="care.consent_given",
        subject_type="care_record",
        subject_id=record.id,
        detail=method.value,
    )
    return record


async def do_give_consent(session: AsyncSession, *, actor: Actor, household_id: int) -> CareRecord:
    """The resident taps consent on her own phone, for the home she lives in."""
    actor.require_login()
    if household_id not in actor.resident_household_ids:
        raise NotFound()
    home = await _resident_home(session, actor.person_id, household_id)
    return await _consent(session, by=actor, home=home, method=ConsentMethod.phone, photo_id=None)


async def do_record_paper_consent(
    session: AsyncSession, *, actor: Actor, resident_id: int, photo_id: int
) -> CareRecord:
    """The steward records consent signed on paper, with the photo of the signed form."""
    home = await _resident_home(session, resident_id)
    if home.community_id not in await care_community_ids(session, actor):
        raise NotFound()
    photo = await session.get(MediaFile, photo_id)
    if photo is None or photo.uploaded_by_id != actor.person_id or photo.kind != "image":
        raise LaoyouError(ErrorCode.INVALID, "Add a photo of the signed consent form.", field="photoId")
    return await _consent(session, by=actor, home=home, method=ConsentMethod.paper, photo_id=photo.id)


async def do_withdraw_consent(session: AsyncSession, *, actor: Actor, record_id: int) -> CareRecord:
    """The resident, or family following her home, withdraws consent: staff no longer see the record."""
    actor.require_login()
    record = await session.get(CareRecord, record_id)
    if record is None:
        raise NotFound()
    family = record.household_id in {g.household_id for g in actor.grants_of(Role.family)}
    if record.resident_id != actor.person_id and not family:
        raise NotFound()
    if record.withdrawn_at is not None:
        raise LaoyouError(ErrorCode.NOT_ALLOWED, "Consent has already been withdrawn.")
    record.withdrawn_at, record.withdrawn_by_id = utcnow(), actor.person_id
    session.add(record)
    await session.flush()
    await audit(
        session,
        actor=actor,
        action="care.consent_withdrawn",
        subject_type="care_record",
        subject_id=record.id,
    )
    return record


def _picked(values: list[str], allowed: tuple[str, ...], field: str) -> str:
    if any(v not in allowed for v in values):
        raise LaoyouError(ErrorCode.INVALID, "Please choose from the list.", field=field)
    return ",".join(v for v in allowed if v in values)


def _short(value: str, field: str) -> str:
    value = value.strip()
    if len(value) > MAX_TEXT:
        raise LaoyouError(
            ErrorCode.INVALID, "Please keep it within %(count)s characters.", field=field, count=MAX_TEXT
        )
    check_text(value, field=field)
    return value


async def do_update_record(
    session: AsyncSession,
    *,
    actor: Actor,
    record_id: int,
    living: Living,
    mobility: Mobility,
    needs: list[str],
    visit_times: list[str],
    contact_name: str,
    contact_phone: str,
) -> CareRecord:
    """The steward keeps the record: picked categories only, never a diagnosis typed in."""
    record = await access_record_as_staff(session, actor=actor, record_id=record_id)
    needs_text = _picked(needs, NEEDS, "needs")
    times_text = _picked(visit_times, VISIT_TIMES, "visitTimes")
    contact_name = _short(contact_name, "contactName")[:50]
    phone = normalise_phone(contact_phone, field="contactPhone") if contact_phone.strip() else ""
    record.living, record.mobility = living.value, mobility.value
    record.needs, record.visit_times = needs_text, times_text
    record.contact_name, record.contact_phone = contact_name, phone
    record.updated_at = utcnow()
    session.add(record)
    await session.flush()
    return record


async def do_record_visit(
    session: AsyncSession,
    *,
    actor: Actor,
    record_id: int,
    finding: Finding,
    note: str,
    follow_up: str,
    make_work_order: bool,
    visited_on: date | None = None,
) -> CareVisit:
    """A visit: what was found and what follows; a follow-up may become a work order for the team."""
    record = await access_record_as_staff(session, actor=actor, record_id=record_id)
    note, follow_up = _short(note, "note"), _short(follow_up, "followUp")
    if make_work_order and not follow_up:
        raise LaoyouError(ErrorCode.INVALID, "Say what should be done.", field="followUp")
    visit = CareVisit(
        record_id=record.id,
        community_id=record.community_id,
        visited_on=visited_on or local_date(utcnow()),
        visitor_id=actor.person_id,
        finding=finding.value,
        note=note,
        follow_up=follow_up,
    )
    session.add(visit)
    await session.flush()
    if make_work_order:
        reported = await tickets.do_report(
            session,
            actor=actor,
            data=tickets.ReportInput(
                client_id=f"care-visit-{visit.id}",
                category=Category.other.value,
                source=Source.patrol.value,
                household_id=record.household_id,
                community_id=record.community_id,
                description=follow_up,
            ),
        )
        visit.work_order_id = reported.order.id
        session.add(visit)
        await session.flush()
    return visit


async def check_media_access(session: AsyncSession, actor: Actor, media_file: MediaFile) -> None:
    """A signed consent form's photo is the steward's and the resident's only (registered with media)."""
    record = (
        await session.exec(select(CareRecord).where(CareRecord.consent_photo_id == media_file.id).limit(1))
    ).first()
    if record is not None and record.resident_id != (actor.person.id if actor.person else None):
        if record.community_id not in await care_community_ids(session, actor):
            raise NotFound()


if check_media_access not in media_service.ACCESS_GUARDS:
    media_service.ACCESS_GUARDS.append(check_media_access)


async def visit_counts(
    session: AsyncSession, *, actor: Actor, community_ids: list[int], since: date, until: date
) -> list[tuple[int, date]]:
    """(community, day) of each care visit made in [since, until), in the communities the actor sees as staff:
    how many, never to whom (officials assess the care given without reading anyone's record)."""
    actor.require_login()
    if not actor.is_staff:
        return []
    staff = await estates.staff_community_ids(session, actor)
    ids = [c for c in community_ids if staff is None or c in staff]
    if not ids:
        return []
    rows = await session.exec(
        select(CareVisit.community_id, CareVisit.visited_on).where(
            col(CareVisit.community_id).in_(ids), CareVisit.visited_on >= since, CareVisit.visited_on < until
        )
    )
    return list(rows)
