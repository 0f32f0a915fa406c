"""Accounts: logins by code, password and card; sessions; family links; preferences; notifications."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol

from sqlalchemy import bindparam, func, update
from sqlalchemy import select as sa_select
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from laoyou.accounts.actor import Actor
from laoyou.accounts.audit import audit
from laoyou.accounts.live import announce_account_changed
from laoyou.accounts.models import (
    AuditEvent,
    AuthSession,
    FamilyLink,
    FamilyLinkStatus,
    GrantRow,
    LoginCard,
    LoginCode,
    Notification,
    Person,
    PersonRow,
    Role,
    RoleGrant,
    SessionRow,
    TextSize,
    UiMode,
)
from laoyou.accounts.sms import SmsError, SmsKind, SmsSender, code_message
from laoyou.core import i18n
from laoyou.core.errors import ErrorCode, LaoyouError, NotFound, PermissionDenied
from laoyou.core.events import announce
from laoyou.core.phone import mask_phone, normalise_phone
from laoyou.core.security import (
    constant_equals,
    hash_password,
    keyed_hash,
    new_numeric_code,
    new_token,
    token_hash,
    verify_password,
)
from laoyou.core.settings import Settings
from laoyou.core.text import check_text
from laoyou.core.time import as_utc, utcnow
from laoyou.estates import service as estates
from laoyou.estates.models import Household
from laoyou.notify import outbox

log = logging.getLogger("laoyou.accounts")

RESEND_AFTER = timedelta(seconds=60)
SESSION_TOUCH_EVERY = timedelta(hours=1)


def notifications_channel(person_id: int) -> str:
    return f"notifications:{person_id}"


def community_notices_channel(community_id: int) -> str:
    """One event for a notification that every resident and family member of a community got at once."""
    return f"notices:{community_id}"


def notification_channels(actor: Actor) -> list[str]:
    """Where the viewer hears that her notifications changed: her own channel, and those of the communities
    she lives in or follows (a notice to a whole community is announced once there, not once per person)."""
    communities = {g.community_id for g in actor.grants_of(Role.resident, Role.family) if g.community_id}
    return [notifications_channel(actor.person_id)] + [
        community_notices_channel(c) for c in sorted(communities)
    ]


# --- people -------------------------------------------------------------------------------------------


async def person_by_phone(session: AsyncSession, phone: str) -> Person | None:
    return (await session.exec(select(Person).where(Person.phone == phone))).first()


async def live_grants(session: AsyncSession, person_id: int) -> list[RoleGrant]:
    rows = await session.exec(
        select(RoleGrant).where(RoleGrant.person_id == person_id, col(RoleGrant.revoked_at).is_(None))
    )
    return list(rows)


def check_password_strength(password: str) -> None:
    if len(password) < 10:
        raise LaoyouError(ErrorCode.INVALID, "A password needs at least 10 characters.", field="password")


async def do_create_person(
    session: AsyncSession, *, phone: str, name: str, password: str | None = None
) -> Person:
    """Create a person, or return the one already holding this phone (names are not overwritten)."""
    check_text(name, field="name")
    normalised = normalise_phone(phone)
    existing = await person_by_phone(session, normalised)
    if existing:
        if password:
            check_password_strength(password)
            existing.password_hash = hash_password(password)
            session.add(existing)
        return existing
    if password:
        check_password_strength(password)
    person = Person(
        phone=normalised, name=name.strip()[:50], password_hash=hash_password(password) if password else None
    )
    session.add(person)
    await session.flush()
    return person


async def do_grant_role(
    session: AsyncSession,
    *,
    person: Person,
    role: Role,
    district_id: int | None = None,
    community_id: int | None = None,
    household_id: int | None = None,
    on_duty: bool = False,
) -> RoleGrant:
    check_grant_scope(role, district_id=district_id, community_id=community_id, household_id=household_id)
    grant = RoleGrant(
        person_id=person.id,
        role=role.value,
        district_id=district_id,
        community_id=community_id,
        household_id=household_id,
        on_duty=on_duty,
    )
    session.add(grant)
    await session.flush()
    announce_account_changed(session, person.id)
    return grant


def check_grant_scope(
    role: Role, *, district_id: int | None, community_id: int | None, household_id: int | None
) -> None:
    """Each role carries exactly the scope it needs."""
    match role:
        case Role.resident | Role.family:
            ok = household_id is not None and community_id is not None and district_id is not None
        case Role.steward | Role.official:
            ok = household_id is None and (community_id is not None or district_id is not None)
        case Role.field_staff | Role.agent:
            ok = household_id is None and community_id is None and district_id is not None
        case Role.admin:
            ok = household_id is None and community_id is None
    if not ok:
        raise LaoyouError(ErrorCode.INVALID, "This role needs a different scope.", field="role")


# --- login codes --------------------------------------------------------------------------------------


def _code_hash(settings: Settings, phone: str, code: str) -> str:
    return keyed_hash(settings.secret_key, f"{phone}:{code}")


# What each purpose of a code is texted as. A code is spent only for its own purpose.
CODE_MESSAGES = {"login": SmsKind.login_code, "password": SmsKind.password_code}


async def do_request_login_code(
    session: AsyncSession, *, settings: Settings, sms: SmsSender, phone: str, client_ip: str
) -> None:
    """Send a code to any valid mobile number; the answer is the same whether it is registered or not."""
    await do_send_code(session, settings=settings, sms=sms, phone=phone, client_ip=client_ip, purpose="login")


async def do_send_code(
    session: AsyncSession, *, settings: Settings, sms: SmsSender, phone: str, client_ip: str, purpose: str
) -> None:
    """Text a code for one purpose. The hourly limits and the minute between two texts count every code sent to
    the number or asked for from the address, whatever it was for: each is a text someone pays for."""
    normalised = normalise_phone(phone)
    now = utcnow()
    hour_ago = now - timedelta(hours=1)
    per_phone = await session.scalar(
        select(func.count())
        .select_from(LoginCode)
        .where(LoginCode.phone == normalised, LoginCode.created_at >= hour_ago)
    )
    per_ip = await session.scalar(
        select(func.count())
        .select_from(LoginCode)
        .where(LoginCode.client_ip == client_ip, LoginCode.created_at >= hour_ago)
    )
    if (per_phone or 0) >= settings.login_codes_per_phone_hour or (
        per_ip or 0
    ) >= settings.login_codes_per_ip_hour:
        raise LaoyouError(
            ErrorCode.RATE_LIMITED, "Too many codes were asked for. Please try again in an hour."
        )
    latest = (
        await session.exec(
            select(LoginCode).where(LoginCode.phone == normalised).order_by(col(LoginCode.id).desc()).limit(1)
        )
    ).first()
    if latest and now - as_utc(latest.created_at) < RESEND_AFTER:
        raise LaoyouError(
            ErrorCode.RATE_LIMITED, "A code was just sent. Please wait a minute before asking again."
        )
    code = new_numeric_code()
    message = code_message(CODE_MESSAGES[purpose], code=code, minutes=settings.login_code_minutes)
    # Sent before anything is written: a message that never left must not spend the person's earlier code,
    # start the one-minute wait or count towards the hourly limit.
    try:
        await sms.send(normalised, message)
    except SmsError as exc:
        log.warning("%s code to %s not sent: %s", purpose, mask_phone(normalised), exc)
        raise LaoyouError(
            ErrorCode.GATEWAY_ERROR,
            "The text message could not be sent just now. Please try again in a minute.",
            field="phone",
        ) from None
    # Earlier codes for the same purpose stop working once a new one is sent.
    await session.exec(
        update(LoginCode)
        .where(LoginCode.phone == normalised, LoginCode.purpose == purpose, col(LoginCode.used_at).is_(None))
        .values(used_at=now)
    )
    session.add(
        LoginCode(
            phone=normalised,
            purpose=purpose,
            client_ip=client_ip,
            code_hash=_code_hash(settings, normalised, code),
            expires_at=now + timedelta(minutes=settings.login_code_minutes),
        )
    )
    await session.flush()


async def do_spend_code(
    session: AsyncSession, *, settings: Settings, phone: str, code: str, purpose: str
) -> str:
    """Check a code for its purpose and spend it; returns the number it was sent to. Wrong tries are counted."""
    normalised = normalise_phone(phone)
    code = (code or "").strip()
    if not code.isdigit() or len(code) != 6:
        raise LaoyouError(ErrorCode.INVALID_CODE, "The code has 6 digits.", field="code")
    # The newest code for the number, spent or not, so that a code spent by wrong tries keeps saying so.
    login_code = (
        await session.exec(
            select(LoginCode)
            .where(LoginCode.phone == normalised, LoginCode.purpose == purpose)
            .order_by(col(LoginCode.id).desc())
            .limit(1)
        )
    ).first()
    now = utcnow()
    limit = settings.login_code_attempts
    if login_code is None:
        raise LaoyouError(
            ErrorCode.INVALID_CODE, "That code is not right. Please ask for a new one.", field="code"
        )
    if login_code.attempts >= limit:
        raise LaoyouError(
            ErrorCode.TOO_MANY_ATTEMPTS, "Too many wrong tries. Please ask for a new code.", field="code"
        )
    if login_code.used_at is not None:
        raise LaoyouError(
            ErrorCode.INVALID_CODE, "That code is not right. Please ask for a new one.", field="code"
        )
    if as_utc(login_code.expires_at) <= now:
        raise LaoyouError(
            ErrorCode.CODE_EXPIRED, "That code has expired. Please ask for a new one.", field="code"
        )
    if not constant_equals(login_code.code_hash, _code_hash(settings, normalised, code)):
        # Count the try in the database, guarded, so guesses sent in parallel cannot share one count.
        attempts = (
            await session.exec(
                update(LoginCode)
                .where(LoginCode.id == login_code.id, LoginCode.attempts < limit)
                .values(attempts=LoginCode.attempts + 1)
                .returning(LoginCode.attempts)
            )
        ).scalar_one_or_none()
        left = limit - attempts if attempts is not None else 0
        if left <= 0:
            await session.exec(update(LoginCode).where(LoginCode.id == login_code.id).values(used_at=now))
            raise LaoyouError(
                ErrorCode.TOO_MANY_ATTEMPTS, "Too many wrong tries. Please ask for a new code.", field="code"
            )
        raise LaoyouError(
            ErrorCode.INVALID_CODE, "That code is not right. %(left)s tries left.", field="code", left=left
        )
    # Spend the code with a guarded update: of two requests racing with the right code, one wins.
    spent = await session.exec(
        update(LoginCode)
        .where(LoginCode.id == login_code.id, col(LoginCode.used_at).is_(None), LoginCode.attempts < limit)
        .values(used_at=now)
    )
    if (spent.rowcount or 0) != 1:
        raise LaoyouError(
            ErrorCode.INVALID_CODE, "That code is not right. Please ask for a new one.", field="code"
        )
    return normalised


async def do_login_with_code(
    session: AsyncSession, *, settings: Settings, phone: str, code: str, actor: Actor
) -> Person:
    """Check a code; on success the person exists (created on first login) and the code is spent."""
    normalised = await do_spend_code(session, settings=settings, phone=phone, code=code, purpose="login")
    person = await person_by_phone(session, normalised)
    if person is None:
        person = Person(phone=normalised, language=i18n.current_language.get())
        session.add(person)
        await session.flush()
    elif not person.is_active:
        raise LaoyouError(
            ErrorCode.INVALID_CREDENTIALS, "This account is switched off. Please call the office."
        )
    await audit(session, actor=actor, action="login.code", subject_type="person", subject_id=person.id)
    return person


async def do_login_with_password(session: AsyncSession, *, phone: str, password: str, actor: Actor) -> Person:
    """Staff log in with phone and password; an unknown phone and a wrong password look alike."""
    try:
        normalised = normalise_phone(phone)
    except LaoyouError:
        normalised = ""
    person = await person_by_phone(session, normalised) if normalised else None
    ok = verify_password(person.password_hash if person else None, password or "")
    if not ok or person is None or not person.is_active:
        await audit(
            session,
            actor=actor,
            action="login.password_failed",
            detail=mask_phone(normalised) if normalised else "",
        )
        raise LaoyouError(ErrorCode.INVALID_CREDENTIALS, "The phone number or password is not right.")
    await audit(session, actor=actor, action="login.password", subject_type="person", subject_id=person.id)
    return person


async def check_password_rate(session: AsyncSession, *, client_ip: str, settings: Settings) -> None:
    """Failed password logins from one address are capped like code requests."""
    hour_ago = utcnow() - timedelta(hours=1)
    failures = await session.scalar(
        select(func.count())
        .select_from(AuditEvent)
        .where(
            AuditEvent.action == "login.password_failed",
            AuditEvent.client_ip == client_ip,
            AuditEvent.created_at >= hour_ago,
        )
    )
    if (failures or 0) >= settings.login_codes_per_ip_hour:
        raise LaoyouError(ErrorCode.RATE_LIMITED, "Too many wrong tries. Please try again in an hour.")


# --- sessions -----------------------------------------------------------------------------------------


@dataclass
class NewSession:
    token: str
    record: AuthSession
    max_age_seconds: int


async def do_start_session(
    session: AsyncSession, *, settings: Settings, person: Person, kind: str, method: str, user_agent: str
) -> NewSession:
    """Residents stay logged in on their own phone for months; staff sessions are short."""
    grants = await live_grants(session, person.id)
    is_staff = any(Role(g.role).is_staff for g in grants)
    lifetime = (
        timedelta(hours=settings.staff_session_hours)
        if is_staff
        else timedelta(days=settings.resident_session_days)
    )
    token = new_token()
    record = AuthSession(
        person_id=person.id,
        token_hash=token_hash(token),
        kind=kind,
        method=method,
        user_agent=(user_agent or "")[:300],
        expires_at=utcnow() + lifetime,
    )
    session.add(record)
    await session.flush()
    return NewSession(token=token, record=record, max_age_seconds=int(lifetime.total_seconds()))


# One statement for the session, the person and their live grants, built once: every request pays for it,
# and building a three-table select costs about as much as running it. On the tables, read as rows: loading
# them as entities (and detaching them when the session closes) cost more than the statement, and what a
# request changes of them it loads itself (preferences, the session's last use).
_SESSIONS, _PEOPLE, _GRANTS = AuthSession.__table__, Person.__table__, RoleGrant.__table__  # type: ignore[attr-defined]
_N_SESSION, _N_PERSON = len(_SESSIONS.columns), len(_PEOPLE.columns)
_SESSION_BY_TOKEN = (
    sa_select(*_SESSIONS.columns, *_PEOPLE.columns, *_GRANTS.columns)
    .select_from(
        _SESSIONS.join(_PEOPLE, _PEOPLE.c.id == _SESSIONS.c.person_id).outerjoin(
            _GRANTS, (_GRANTS.c.person_id == _PEOPLE.c.id) & _GRANTS.c.revoked_at.is_(None)
        )
    )
    .where(_SESSIONS.c.token_hash == bindparam("token_hash"), _SESSIONS.c.revoked_at.is_(None))
    .order_by(_GRANTS.c.id)
)


async def resolve_session(session: AsyncSession, token: str | None) -> tuple[Any, Any, list[Any]] | None:
    """The live session behind a token, or None for anything forged, expired or revoked: the session, the
    person and their live grants as read-only rows (SessionRow, PersonRow, GrantRow)."""
    if not token or len(token) > 200:
        return None
    rows = (await session.exec(_SESSION_BY_TOKEN, params={"token_hash": token_hash(token)})).all()
    if not rows:
        return None
    first, grants_at = rows[0], _N_SESSION + _N_PERSON
    record, person = SessionRow._make(first[:_N_SESSION]), PersonRow._make(first[_N_SESSION:grants_at])
    now = utcnow()
    if as_utc(record.expires_at) <= now or not person.is_active:
        return None
    if now - as_utc(record.last_seen_at) > SESSION_TOUCH_EVERY:
        # Written with the request's other changes, if it commits: an hourly touch, not a write per request.
        entity = await session.get(AuthSession, record.id)
        if entity is not None:
            entity.last_seen_at = now
            session.add(entity)
    return record, person, [GrantRow._make(row[grants_at:]) for row in rows if row[grants_at] is not None]


async def do_logout(session: AsyncSession, *, actor: Actor) -> None:
    if actor.session_id is None:
        return
    await session.exec(
        update(AuthSession).where(AuthSession.id == actor.session_id).values(revoked_at=utcnow())
    )
    announce_account_changed(session, actor.person_id)  # her socket on this session closes


async def do_logout_everywhere(session: AsyncSession, *, actor: Actor) -> int:
    result = await session.exec(
        update(AuthSession)
        .where(AuthSession.person_id == actor.person_id, col(AuthSession.revoked_at).is_(None))
        .values(revoked_at=utcnow())
    )
    announce_account_changed(session, actor.person_id)
    await audit(
        session, actor=actor, action="logout.everywhere", subject_type="person", subject_id=actor.person_id
    )
    return result.rowcount or 0


# --- preferences --------------------------------------------------------------------------------------


async def do_update_preferences(
    session: AsyncSession,
    *,
    actor: Actor,
    language: str | None = None,
    text_size: str | None = None,
    ui_mode: str | None = None,
    name: str | None = None,
) -> Person:
    # The request's actor is a read-only row: the person to change is loaded.
    person = await session.get(Person, actor.person.id) if actor.person is not None else None
    if person is None:
        raise PermissionDenied("Please log in first.")
    if language is not None and i18n.valid_language(language) is None:
        raise LaoyouError(ErrorCode.INVALID, "That language is not offered.", field="language")
    if text_size is not None and text_size not in TextSize.__members__:
        raise LaoyouError(ErrorCode.INVALID, "That text size is not offered.", field="textSize")
    if ui_mode is not None and ui_mode not in UiMode.__members__:
        raise LaoyouError(ErrorCode.INVALID, "That display mode is not offered.", field="uiMode")
    if name is not None and not (0 < len(name.strip()) <= 50):
        raise LaoyouError(ErrorCode.INVALID, "A name has 1 to 50 characters.", field="name")
    check_text(name, field="name")
    if language is not None:
        person.language = i18n.valid_language(language)
    if text_size is not None:
        person.text_size = text_size
    if ui_mode is not None:
        person.ui_mode = ui_mode
    if name is not None:
        person.name = name.strip()
    session.add(person)
    await session.flush()
    actor.person = person  # the rest of the request sees the new preferences
    return person


# --- notifications ------------------------------------------------------------------------------------


async def unread_count(session: AsyncSession, person_id: int) -> int:
    return (
        await session.scalar(
            select(func.count())
            .select_from(Notification)
            .where(Notification.person_id == person_id, col(Notification.read_at).is_(None))
        )
    ) or 0


async def unread_counts(session: AsyncSession, person_ids: list[int]) -> dict[int, int]:
    """unread_count for many people in one query (those without any are left out)."""
    counts: dict[int, int] = {}
    for start in range(0, len(person_ids), 1000):
        rows = await session.exec(
            select(Notification.person_id, func.count())
            .where(
                col(Notification.person_id).in_(person_ids[start : start + 1000]),
                col(Notification.read_at).is_(None),
            )
            .group_by(Notification.person_id)
        )
        counts.update(dict(rows.all()))
    return counts


async def do_notify(
    session: AsyncSession, *, person_id: int, kind: str, title: str, body: str = "", link: str = ""
) -> None:
    session.add(Notification(person_id=person_id, kind=kind, title=title, body=body, link=link))
    await session.flush()
    announce(session, notifications_channel(person_id), {"kind": kind})
    # The same notification goes to the person's phones, through the push outbox in this transaction.
    await outbox.do_enqueue(session, person_ids=[person_id], kind=kind, title=title, body=body, link=link)


async def list_notifications(session: AsyncSession, *, actor: Actor, first: int) -> list[Notification]:
    rows = await session.exec(
        select(Notification)
        .where(Notification.person_id == actor.person_id)
        .order_by(col(Notification.id).desc())
        .limit(first)
    )
    return list(rows)


async def do_mark_notifications_read(session: AsyncSession, *, actor: Actor) -> int:
    result = await session.exec(
        update(Notification)
        .where(Notification.person_id == actor.person_id, col(Notification.read_at).is_(None))
        .values(read_at=utcnow())
    )
    announce(session, notifications_channel(actor.person_id), {"kind": "read"})
    return result.rowcount or 0


# --- family links -------------------------------------------------------------------------------------


async def do_request_family_link(session: AsyncSession, *, actor: Actor, phone: str, relation: str) -> None:
    """Ask to follow the household of the resident with this phone; they accept on their own phone.

    The answer is the same whether or not the number belongs to a resident.
    """
    normalised = normalise_phone(phone)
    relation = (relation or "").strip()
    if len(relation) > 30:
        raise LaoyouError(
            ErrorCode.INVALID, "Please describe the relation in at most 30 characters.", field="relation"
        )
    check_text(relation, field="relation")
    if actor.person is None:
        raise PermissionDenied("Please log in first.")
    if normalised == actor.person.phone:
        raise LaoyouError(
            ErrorCode.INVALID, "Please enter your family member's number, not your own.", field="phone"
        )
    target = await person_by_phone(session, normalised)
    if target is None:
        return
    households = [g for g in await live_grants(session, target.id) if g.role == Role.resident.value]
    for grant in households:
        if grant.household_id in actor.household_ids:
            continue
        existing = (
            await session.exec(
                select(FamilyLink).where(
                    FamilyLink.person_id == actor.person_id,
                    FamilyLink.household_id == grant.household_id,
                    col(FamilyLink.status).in_(
                        [FamilyLinkStatus.pending.value, FamilyLinkStatus.accepted.value]
                    ),
                )
            )
        ).first()
        if existing:
            continue
        link = FamilyLink(
            person_id=actor.person_id,
            household_id=grant.household_id,
            community_id=grant.community_id,
            district_id=grant.district_id,
            relation=relation,
        )
        session.add(link)
        await session.flush()
        for resident in await household_residents(session, grant.household_id):
            await do_notify(
                session,
                person_id=resident.id,
                kind="family_link",
                title=i18n.gettext(
                    "%(name)s asks to join your household as family",
                    language=resident.language or i18n.DEFAULT_LANGUAGE,
                    name=actor.person.name or mask_phone(actor.person.phone),
                ),
                link="/family",
            )


async def household_residents(session: AsyncSession, household_id: int) -> list[Person]:
    return (await estates.residents_by_household(session, [household_id]))[household_id]


async def list_family_links(session: AsyncSession, *, actor: Actor) -> list[FamilyLink]:
    """Links I asked for, and links to my households that I can decide on."""
    if actor.person is None:
        return []
    mine = col(FamilyLink.person_id) == actor.person_id
    condition = mine
    if actor.resident_household_ids:
        condition = mine | col(FamilyLink.household_id).in_(actor.resident_household_ids)
    rows = await session.exec(
        select(FamilyLink)
        .where(
            condition,
            col(FamilyLink.status).in_([FamilyLinkStatus.pending.value, FamilyLinkStatus.accepted.value]),
        )
        .order_by(col(FamilyLink.id).desc())
    )
    return list(rows)


async def access_family_link(session: AsyncSession, *, actor: Actor, link_id: int) -> FamilyLink:
    link = await session.get(FamilyLink, link_id)
    if link is None or (
        link.person_id != actor.person_id and link.household_id not in actor.resident_household_ids
    ):
        raise NotFound()
    return link


async def do_respond_family_link(
    session: AsyncSession, *, actor: Actor, link_id: int, accept: bool
) -> FamilyLink:
    link = await access_family_link(session, actor=actor, link_id=link_id)
    if link.household_id not in actor.resident_household_ids:
        raise NotFound()
    if link.status != FamilyLinkStatus.pending.value:
        raise LaoyouError(ErrorCode.NOT_ALLOWED, "This request has already been answered.")
    link.status = (FamilyLinkStatus.accepted if accept else FamilyLinkStatus.declined).value
    link.decided_at = utcnow()
    link.decided_by_id = actor.person_id
    session.add(link)
    if accept:
        family = await session.get(Person, link.person_id)
        await do_grant_role(
            session,
            person=family,
            role=Role.family,
            district_id=link.district_id,
            community_id=link.community_id,
            household_id=link.household_id,
        )
        await do_notify(
            session,
            person_id=link.person_id,
            kind="family_link",
            title=i18n.gettext(
                "Your family link was accepted", language=family.language or i18n.DEFAULT_LANGUAGE
            ),
            link="/",
        )
    await audit(
        session,
        actor=actor,
        action="family.respond",
        subject_type="family_link",
        subject_id=link.id,
        detail=link.status,
    )
    return link


async def do_remove_family_link(session: AsyncSession, *, actor: Actor, link_id: int) -> FamilyLink:
    """Either side may end a link; the family member loses access at once."""
    link = await access_family_link(session, actor=actor, link_id=link_id)
    if link.status not in (FamilyLinkStatus.pending.value, FamilyLinkStatus.accepted.value):
        raise LaoyouError(ErrorCode.NOT_ALLOWED, "This link has already ended.")
    link.status = FamilyLinkStatus.removed.value
    link.decided_at = utcnow()
    link.decided_by_id = actor.person_id
    session.add(link)
    await session.exec(
        update(RoleGrant)
        .where(
            RoleGrant.person_id == link.person_id,
            RoleGrant.household_id == link.household_id,
            RoleGrant.role == Role.family.value,
            col(RoleGrant.revoked_at).is_(None),
        )
        .values(revoked_at=utcnow())
    )
    announce_account_changed(session, link.person_id)
    await audit(session, actor=actor, action="family.remove", subject_type="family_link", subject_id=link.id)
    return link


# --- household login cards ----------------------------------------------------------------------------


@dataclass
class IssuedCard:
    card: LoginCard
    token: str


async def do_issue_login_card(
    session: AsyncSession, *, settings: Settings, actor: Actor, household: Household, person_id: int
) -> IssuedCard:
    """Staff print a card for one resident of a household they serve; an older unused card stops working."""
    residents = {p.id for p in await household_residents(session, household.id)}
    if person_id not in residents:
        raise LaoyouError(ErrorCode.INVALID, "This person does not live in this household.", field="personId")
    now = utcnow()
    await session.exec(
        update(LoginCard)
        .where(
            LoginCard.person_id == person_id,
            col(LoginCard.used_at).is_(None),
            col(LoginCard.revoked_at).is_(None),
        )
        .values(revoked_at=now)
    )
    token = new_token()
    card = LoginCard(
        person_id=person_id,
        household_id=household.id,
        community_id=household.community_id,
        district_id=household.district_id,
        token_hash=token_hash(token),
        issued_by_id=actor.person_id,
        expires_at=now + timedelta(days=settings.login_card_days),
    )
    session.add(card)
    await session.flush()
    await audit(
        session,
        actor=actor,
        action="card.issue",
        subject_type="login_card",
        subject_id=card.id,
        detail=f"person={person_id}",
    )
    return IssuedCard(card=card, token=token)


async def card_for_token(session: AsyncSession, token: str) -> LoginCard | None:
    """A live card, or None: used, revoked, expired and forged cards all look the same."""
    if not token or len(token) > 200:
        return None
    card = (await session.exec(select(LoginCard).where(LoginCard.token_hash == token_hash(token)))).first()
    if card is None or card.used_at or card.revoked_at or as_utc(card.expires_at) <= utcnow():
        return None
    return card


async def do_login_with_card(session: AsyncSession, *, token: str, actor: Actor) -> Person:
    card = await card_for_token(session, token)
    if card is None:
        raise LaoyouError(
            ErrorCode.INVALID_CARD, "This login card no longer works. Please ask your steward for a new one."
        )
    # Spend the card with a guarded update so two phones scanning at once cannot both log in.
    result = await session.exec(
        update(LoginCard)
        .where(LoginCard.id == card.id, col(LoginCard.used_at).is_(None))
        .values(used_at=utcnow())
    )
    if (result.rowcount or 0) != 1:
        raise LaoyouError(
            ErrorCode.INVALID_CARD, "This login card no longer works. Please ask your steward for a new one."
        )
    person = await session.get(Person, card.person_id)
    if person is None or not person.is_active:
        raise LaoyouError(
            ErrorCode.INVALID_CARD, "This login card no longer works. Please ask your steward for a new one."
        )
    await audit(session, actor=actor, action="card.use", subject_type="login_card", subject_id=card.id)
    return person


async def list_login_cards(session: AsyncSession, *, household_id: int) -> list[LoginCard]:
    rows = await session.exec(
        select(LoginCard)
        .where(LoginCard.household_id == household_id)
        .order_by(col(LoginCard.id).desc())
        .limit(20)
    )
    return list(rows)


async def do_revoke_login_card(session: AsyncSession, *, actor: Actor, card: LoginCard) -> LoginCard:
    if card.used_at or card.revoked_at:
        raise LaoyouError(ErrorCode.NOT_ALLOWED, "This card is already used or revoked.")
    card.revoked_at = utcnow()
    session.add(card)
    await audit(session, actor=actor, action="card.revoke", subject_type="login_card", subject_id=card.id)
    return card


class DemoLogin(Protocol):
    phone: str
    name: str
    role: Role
    description: str


# Who a demo visitor may log in as with one tap: the demo app registers its people; no other app has any.
DEMO_PEOPLE: list[DemoLogin] = []


def register_demo_people(people: Iterable[DemoLogin]) -> None:
    """The demo names the people its visitors may log in as."""
    DEMO_PEOPLE[:] = people


async def do_login_as_demo(session: AsyncSession, *, settings: Settings, phone: str, actor: Actor) -> Person:
    """Demo mode only: a visitor tries any listed role in one tap."""
    if not settings.is_demo:
        raise LaoyouError(ErrorCode.NOT_ALLOWED, "One-tap login is only offered in the demo.")
    normalised = normalise_phone(phone)
    if normalised not in {p.phone for p in DEMO_PEOPLE}:
        raise LaoyouError(ErrorCode.INVALID_CREDENTIALS, "This is not one of the demo people.", field="phone")
    person = await person_by_phone(session, normalised)
    if person is None:
        raise LaoyouError(ErrorCode.INVALID_CREDENTIALS, "This is not one of the demo people.", field="phone")
    await audit(session, actor=actor, action="login.demo", subject_type="person", subject_id=person.id)
    return person
