"""Staff roles: the operator's admin grants and revokes the roles of stewards, field staff, agents and officials.

Only the admin may; anyone else is told NotFound, whatever they ask for. A revoked grant keeps its row with the
time it ended, and a request loads only live grants (service.resolve_session), so a revoked person's open
sessions lose the role on their next request. Every grant and revocation is audited against the person.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from laoyou.accounts.actor import Actor
from laoyou.accounts.audit import audit
from laoyou.accounts.live import announce_account_changed
from laoyou.accounts.models import AuditEvent, AuthSession, PasswordSetup, Person, Role, RoleGrant
from laoyou.accounts.service import (
    check_password_strength,
    do_create_person,
    do_send_code,
    do_spend_code,
    person_by_phone,
)
from laoyou.accounts.sms import SmsSender
from laoyou.core.errors import ErrorCode, LaoyouError, NotFound
from laoyou.core.security import hash_password, new_token, token_hash
from laoyou.core.settings import Settings
from laoyou.core.text import check_text
from laoyou.core.time import as_utc, utcnow
from laoyou.estates.service import access_community, access_district

# The roles the admin hands out here; admin itself only through `laoyou create-admin`.
GRANTABLE = (Role.steward, Role.field_staff, Role.agent, Role.official)
# Roles whose scope may be a single community; the others serve a whole district.
COMMUNITY_SCOPED = (Role.steward, Role.official)
SETUP_VALID_FOR = timedelta(hours=24)
STAFF_AUDIT_ACTIONS = (
    "staff.grant",
    "staff.revoke",
    "staff.password_setup",
    "staff.password_set",
    "staff.password_sms",
)


@dataclass
class StaffPerson:
    person: Person
    grants: list[RoleGrant]  # live ones first, then the revoked, newest first within each


def _require_admin(actor: Actor) -> None:
    actor.require_login()
    if not actor.is_admin:
        raise NotFound()


def _grantable(role: str) -> Role:
    try:
        found = Role(role)
    except ValueError:
        found = None
    if found not in GRANTABLE:
        raise LaoyouError(ErrorCode.INVALID, "Please choose a staff role.", field="role")
    return found


def _name(value: str) -> str:
    check_text(value, field="name")
    value = (value or "").strip()
    if not value:
        raise LaoyouError(ErrorCode.INVALID, "Please fill this in.", field="name")
    if len(value) > 50:
        raise LaoyouError(ErrorCode.INVALID, "Please use at most %(n)s characters.", field="name", n=50)
    return value


async def do_grant_staff_role(
    session: AsyncSession,
    *,
    actor: Actor,
    phone: str,
    name: str,
    role: str,
    district_id: int | None = None,
    community_id: int | None = None,
) -> RoleGrant:
    """Find or create the person by phone and give them the role in one district or one community."""
    _require_admin(actor)
    granted = _grantable(role)
    name = _name(name)
    if (district_id is None) == (community_id is None):
        raise LaoyouError(ErrorCode.INVALID, "Please choose a district or a community.", field="scope")
    if community_id is not None:
        if granted not in COMMUNITY_SCOPED:
            raise LaoyouError(ErrorCode.INVALID, "This role serves a whole district.", field="scope")
        community = await access_community(session, actor=actor, community_id=community_id)
        if community.archived_at is not None:
            raise NotFound()
        district_id = community.district_id
    else:
        await access_district(session, actor=actor, district_id=district_id)
    person = await do_create_person(session, phone=phone, name=name)
    same = (
        await session.exec(
            select(RoleGrant).where(
                RoleGrant.person_id == person.id,
                RoleGrant.role == granted.value,
                RoleGrant.district_id == district_id,
                RoleGrant.community_id == community_id
                if community_id
                else col(RoleGrant.community_id).is_(None),
                col(RoleGrant.household_id).is_(None),
                col(RoleGrant.revoked_at).is_(None),
            )
        )
    ).first()
    if same is not None:
        raise LaoyouError(ErrorCode.ALREADY_EXISTS, "This person already has this role here.", field="role")
    grant = RoleGrant(
        person_id=person.id, role=granted.value, district_id=district_id, community_id=community_id
    )
    session.add(grant)
    await session.flush()
    announce_account_changed(session, person.id)
    await audit(
        session,
        actor=actor,
        action="staff.grant",
        subject_type="person",
        subject_id=person.id,
        detail=_scope_detail(grant),
    )
    return grant


async def do_revoke_staff_role(session: AsyncSession, *, actor: Actor, grant_id: int) -> RoleGrant:
    """End a staff grant now; the row stays, marked with the time it ended."""
    _require_admin(actor)
    grant = await session.get(RoleGrant, grant_id)
    if grant is None or grant.role not in {r.value for r in GRANTABLE}:
        raise NotFound()
    if grant.revoked_at is not None:
        raise LaoyouError(ErrorCode.NOT_ALLOWED, "This role has already been taken away.")
    grant.revoked_at = utcnow()
    session.add(grant)
    await session.flush()
    announce_account_changed(session, grant.person_id)  # her open pages stop hearing that role's news
    await audit(
        session,
        actor=actor,
        action="staff.revoke",
        subject_type="person",
        subject_id=grant.person_id,
        detail=_scope_detail(grant),
    )
    return grant


def _scope_detail(grant: RoleGrant) -> str:
    """What the audit line says about a grant: its id, role and scope, as ids (names may change)."""
    scope = f"community:{grant.community_id}" if grant.community_id else f"district:{grant.district_id}"
    return f"grant:{grant.id} {grant.role} {scope}"


async def list_staff_people(session: AsyncSession, *, actor: Actor) -> list[StaffPerson]:
    """Everyone holding a live staff role (admin excluded), by name, with their live grants."""
    _require_admin(actor)
    grants = list(
        await session.exec(
            select(RoleGrant)
            .where(
                col(RoleGrant.role).in_([r.value for r in GRANTABLE]),
                col(RoleGrant.revoked_at).is_(None),
            )
            .order_by(col(RoleGrant.id))
        )
    )
    by_person: dict[int, list[RoleGrant]] = {}
    for grant in grants:
        by_person.setdefault(grant.person_id, []).append(grant)
    if not by_person:
        return []
    people = await session.exec(
        select(Person).where(col(Person.id).in_(list(by_person))).order_by(Person.name, col(Person.id))
    )
    return [StaffPerson(person=p, grants=by_person[p.id]) for p in people]


async def access_staff_person(session: AsyncSession, *, actor: Actor, person_id: int) -> StaffPerson:
    """A person who holds or held a staff role, with all their staff grants, live and revoked."""
    _require_admin(actor)
    person = await session.get(Person, person_id)
    if person is None:
        raise NotFound()
    grants = list(
        await session.exec(
            select(RoleGrant)
            .where(RoleGrant.person_id == person_id, col(RoleGrant.role).in_([r.value for r in GRANTABLE]))
            .order_by(col(RoleGrant.revoked_at).is_not(None), col(RoleGrant.id).desc())
        )
    )
    if not grants:
        raise NotFound()
    return StaffPerson(person=person, grants=grants)


async def staff_audit(session: AsyncSession, *, person_id: int, first: int = 100) -> list[AuditEvent]:
    """The grants, revocations and password setups of one person, newest first."""
    rows = await session.exec(
        select(AuditEvent)
        .where(
            AuditEvent.subject_type == "person",
            AuditEvent.subject_id == person_id,
            col(AuditEvent.action).in_(STAFF_AUDIT_ACTIONS),
        )
        .order_by(col(AuditEvent.id).desc())
        .limit(first)
    )
    return list(rows)


# --- passwords -----------------------------------------------------------------------------------------------


@dataclass
class IssuedSetup:
    setup: PasswordSetup
    token: str  # shown once, in the link; only its hash is kept


async def do_issue_password_setup(session: AsyncSession, *, actor: Actor, person_id: int) -> IssuedSetup:
    """A one-time link for a staff member to set (or reset) their password; older unused links stop working.

    The current password keeps working until the new one is set, so a reset nobody asked for locks nobody out.
    """
    found = await access_staff_person(session, actor=actor, person_id=person_id)
    now = utcnow()
    await session.exec(
        update(PasswordSetup)
        .where(
            PasswordSetup.person_id == person_id,
            col(PasswordSetup.used_at).is_(None),
            col(PasswordSetup.revoked_at).is_(None),
        )
        .values(revoked_at=now)
    )
    token = new_token()
    setup = PasswordSetup(
        person_id=found.person.id,
        token_hash=token_hash(token),
        issued_by_id=actor.person_id,
        expires_at=now + SETUP_VALID_FOR,
    )
    session.add(setup)
    await session.flush()
    await audit(
        session,
        actor=actor,
        action="staff.password_setup",
        subject_type="person",
        subject_id=person_id,
        detail=f"setup:{setup.id}",
    )
    return IssuedSetup(setup=setup, token=token)


async def setup_for_token(session: AsyncSession, token: str) -> PasswordSetup | None:
    """A live setup, or None: used, replaced, expired and forged links all look the same."""
    if not token or len(token) > 200:
        return None
    setup = (
        await session.exec(select(PasswordSetup).where(PasswordSetup.token_hash == token_hash(token)))
    ).first()
    if setup is None or setup.used_at or setup.revoked_at or as_utc(setup.expires_at) <= utcnow():
        return None
    return setup


def _dead_link() -> LaoyouError:
    return LaoyouError(
        ErrorCode.INVALID_CARD,
        "This link no longer works. Please ask the office for a new one.",
        field="token",
    )


async def do_set_password_with_token(
    session: AsyncSession, *, actor: Actor, token: str, password: str
) -> Person:
    """Set the password from a setup link, once; every session the person had ends (an old password's too)."""
    setup = await setup_for_token(session, token)
    if setup is None:
        raise _dead_link()
    check_password_strength(password or "")
    # Spent with a guarded update so the same link opened twice at once sets one password.
    now = utcnow()
    result = await session.exec(
        update(PasswordSetup)
        .where(PasswordSetup.id == setup.id, col(PasswordSetup.used_at).is_(None))
        .values(used_at=now)
    )
    person = await session.get(Person, setup.person_id)
    if (result.rowcount or 0) != 1 or person is None or not person.is_active:
        raise _dead_link()
    await _replace_password(session, person, password)
    await audit(
        session,
        actor=actor,
        action="staff.password_set",
        subject_type="person",
        subject_id=person.id,
        detail=f"setup:{setup.id}",
    )
    return person


async def _replace_password(session: AsyncSession, person: Person, password: str) -> None:
    """The new password, and every session the person had ends (an old password's too, or a stolen one's)."""
    person.password_hash = hash_password(password)
    session.add(person)
    await session.exec(
        update(AuthSession)
        .where(AuthSession.person_id == person.id, col(AuthSession.revoked_at).is_(None))
        .values(revoked_at=utcnow())
    )
    announce_account_changed(session, person.id)
    await session.flush()


# --- a password by SMS code ----------------------------------------------------------------------------------


async def do_request_password_code(
    session: AsyncSession, *, settings: Settings, sms: SmsSender, phone: str, client_ip: str
) -> None:
    """Text a code for setting a staff password to any valid number, staff's or not, under the login codes'
    limits: whether a number is staff's is told only to whoever holds the phone, after the code."""
    await do_send_code(
        session, settings=settings, sms=sms, phone=phone, client_ip=client_ip, purpose="password"
    )


async def _sets_password_by_sms(session: AsyncSession, person: Person) -> bool:
    """A live staff role of those the admin grants, and not the admin: an SMS code alone must not hand over the
    whole operator (the admin's password is set with `laoyou create-admin` on the server)."""
    roles = set(
        await session.exec(
            select(RoleGrant.role).where(
                RoleGrant.person_id == person.id, col(RoleGrant.revoked_at).is_(None)
            )
        )
    )
    return person.is_active and Role.admin.value not in roles and bool(roles & {r.value for r in GRANTABLE})


async def do_set_password_with_code(
    session: AsyncSession, *, actor: Actor, settings: Settings, phone: str, code: str, password: str
) -> Person:
    """A staff member, new or not, sets their password with a code texted to their work phone; every session they
    had ends, and a setup link still unused stops working (the password is the one they just chose)."""
    check_password_strength(password or "")  # before the code is spent: a short password costs no try
    normalised = await do_spend_code(session, settings=settings, phone=phone, code=code, purpose="password")
    person = await person_by_phone(session, normalised)
    if person is None or not await _sets_password_by_sms(session, person):
        raise LaoyouError(
            ErrorCode.NOT_ALLOWED, "This number has no staff account. Please ask the office.", field="phone"
        )
    had_password = person.password_hash is not None
    await session.exec(
        update(PasswordSetup)
        .where(
            PasswordSetup.person_id == person.id,
            col(PasswordSetup.used_at).is_(None),
            col(PasswordSetup.revoked_at).is_(None),
        )
        .values(revoked_at=utcnow())
    )
    await _replace_password(session, person, password)
    await audit(
        session,
        actor=actor,
        action="staff.password_sms",
        subject_type="person",
        subject_id=person.id,
        detail="reset" if had_password else "first password",
    )
    return person
