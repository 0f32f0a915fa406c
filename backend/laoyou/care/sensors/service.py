"""Home sensors and shared-area cameras: stewards register a device to a household with the resident's consent
(its MQTT credentials are shown once), and what a device reports becomes what it should: water, smoke or gas an
emergency work order with the steward paged, the fall button the SOS flow, a door left shut a no-activity alert.

Laoyou trusts the broker's login for who published (each device may publish to laoyou/<its user name>/...
only) and reads the household from the device's registration, never from the message.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from sqlalchemy import or_, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from laoyou.accounts import service as accounts
from laoyou.accounts.actor import Actor
from laoyou.accounts.models import Person, Role, RoleGrant
from laoyou.care.checkins import service as checkins
from laoyou.care.sensors.models import (
    CommunityCamera,
    ConsentMethod,
    SensorDevice,
    SensorEffect,
    SensorEvent,
    SensorKind,
)
from laoyou.core import i18n
from laoyou.core.errors import ErrorCode, LaoyouError, NotFound, PermissionDenied
from laoyou.core.text import check_text
from laoyou.core.time import utcnow
from laoyou.estates import service as estates
from laoyou.estates.models import Community
from laoyou.media import service as media
from laoyou.support import service as support
from laoyou.tickets import service as tickets
from laoyou.tickets.models import Category, Place, Urgency

log = logging.getLogger("laoyou.care.sensors")

TOPIC_ROOT = "laoyou"
# A sensor repeats its alarm while the water is there: one alarm per device in this window is one effect.
ALARM_WINDOW = timedelta(minutes=10)
MAX_NO_ACTIVITY_HOURS = 72
# What each kind of device sends as "event" when it calls for help, or (a door) when it is opened.
EVENTS = {
    SensorKind.water_leak: "leak",
    SensorKind.smoke: "smoke",
    SensorKind.gas: "gas",
    SensorKind.door: "open",
    SensorKind.fall_button: "press",
}
ORDER_CATEGORIES = {
    SensorKind.water_leak: Category.flooding,
    SensorKind.gas: Category.gas,
    SensorKind.smoke: Category.other,  # no fire category: an emergency of its own, said in the description
}
_CODE = re.compile(r"^[A-Z0-9][A-Z0-9-]{3,39}$")


def _(message: str) -> str:
    """Marks a msgid; translated in the reader's language where it is shown."""
    return message


KIND_NAMES = {
    SensorKind.water_leak: _("Water leak sensor"),
    SensorKind.smoke: _("Smoke alarm"),
    SensorKind.gas: _("Gas alarm"),
    SensorKind.door: _("Door sensor"),
    SensorKind.fall_button: _("Fall button"),
}


# --- credentials -----------------------------------------------------------------------------------------


def mosquitto_hash(password: str, *, salt: bytes | None = None) -> str:
    """Mosquitto's own password-file hash ($7$: PBKDF2-SHA512, 101 rounds, as mosquitto_passwd writes it)."""
    salt = salt or secrets.token_bytes(12)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, 101)
    return f"$7$101${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


async def password_file(session: AsyncSession) -> str:
    """Mosquitto's password file for every registered device (deregistered ones can no longer log in)."""
    rows = await session.exec(
        select(SensorDevice.mqtt_username, SensorDevice.password_hash)
        .where(col(SensorDevice.deregistered_at).is_(None))
        .order_by(SensorDevice.id)
    )
    return "".join(f"{username}:{hashed}\n" for username, hashed in rows)


def acl_file(laoyou_user: str) -> str:
    """Mosquitto's ACL: Laoyou reads every device's topic; each device writes under its own name only."""
    return (
        f"user {laoyou_user}\ntopic read {TOPIC_ROOT}/#\n\n"
        f"# Every other user is a device: its own topic, nothing else.\npattern write {TOPIC_ROOT}/%u/#\n"
    )


def device_topic(device: SensorDevice) -> str:
    return f"{TOPIC_ROOT}/{device.mqtt_username}/event"


# --- who may see and change what -----------------------------------------------------------------------


async def _served(session: AsyncSession, actor: Actor) -> set[int] | None:
    """The communities whose devices and cameras the actor may see: staff's own; nothing for anyone else."""
    actor.require_login()
    if not actor.is_staff:
        raise NotFound()
    return await estates.staff_community_ids(session, actor)


async def access_community_as_staff(session: AsyncSession, *, actor: Actor, community_id: int) -> Community:
    served = await _served(session, actor)
    community = await session.get(Community, community_id)
    if community is None or (served is not None and community_id not in served):
        raise NotFound()
    return community


def _check_steward(actor: Actor) -> None:
    """Registering devices and cameras is the steward's (or the admin's); officials and field staff only read."""
    if not actor.has(Role.steward, Role.admin):
        raise PermissionDenied()


async def access_device(session: AsyncSession, *, actor: Actor, device_id: int) -> SensorDevice:
    device = await session.get(SensorDevice, device_id)
    served = await _served(session, actor)
    if device is None or (served is not None and device.community_id not in served):
        raise NotFound()
    return device


async def list_devices(
    session: AsyncSession, *, actor: Actor, community_id: int | None = None, household_id: int | None = None
) -> list[SensorDevice]:
    """The live devices of a household or a community the actor serves (as staff), newest first."""
    query = select(SensorDevice).where(col(SensorDevice.deregistered_at).is_(None))
    if household_id is not None:
        household = await estates.access_household(session, actor=actor, household_id=household_id)
        await access_community_as_staff(session, actor=actor, community_id=household.community_id)
        query = query.where(SensorDevice.household_id == household_id)
    elif community_id is not None:
        await access_community_as_staff(session, actor=actor, community_id=community_id)
        query = query.where(SensorDevice.community_id == community_id)
    else:
        served = await _served(session, actor)
        if served is not None:
            query = query.where(col(SensorDevice.community_id).in_(served))
    return list(await session.exec(query.order_by(col(SensorDevice.id).desc()).limit(500)))


async def household_residents(session: AsyncSession, household_id: int) -> list[Person]:
    """Who lives in the household (those who may consent to a sensor in it)."""
    return list(
        await session.exec(
            select(Person)
            .join(RoleGrant, RoleGrant.person_id == Person.id)
            .where(
                RoleGrant.household_id == household_id,
                RoleGrant.role == Role.resident.value,
                col(RoleGrant.revoked_at).is_(None),
            )
            .order_by(Person.id)
        )
    )


async def consenters(session: AsyncSession, *, actor: Actor, household_id: int) -> list[Person]:
    """The residents a steward may record as agreeing to a sensor in their home."""
    household = await estates.access_household(session, actor=actor, household_id=household_id)
    await access_community_as_staff(session, actor=actor, community_id=household.community_id)
    return await household_residents(session, household.id)


# --- registering a device --------------------------------------------------------------------------------


@dataclass
class Registration:
    device: SensorDevice
    password: str  # shown once; only its hash is kept


def check_code(code: str) -> str:
    """The code printed on the device: letters, digits and dashes, 4 to 40 of them."""
    code = re.sub(r"\s+", "", code or "").upper()
    if not _CODE.match(code):
        raise LaoyouError(
            ErrorCode.INVALID,
            "Type the code printed on the device (letters, digits and dashes).",
            field="code",
        )
    return code


def check_no_activity_hours(hours: int) -> int:
    if not (1 <= hours <= MAX_NO_ACTIVITY_HOURS):
        raise LaoyouError(
            ErrorCode.INVALID,
            "Choose between 1 and %(max)s hours.",
            field="noActivityHours",
            max=MAX_NO_ACTIVITY_HOURS,
        )
    return hours


async def do_register_device(
    session: AsyncSession,
    *,
    actor: Actor,
    household_id: int,
    code: str,
    kind: str,
    label: str,
    consent_person_id: int,
    consent_method: str,
    consent_photo_id: int | None = None,
    no_activity_hours: int = 12,
) -> Registration:
    """The steward registers a device to a home, recording who of the household agreed, how and when."""
    household = await estates.access_household_as_steward(session, actor=actor, household_id=household_id)
    await access_community_as_staff(session, actor=actor, community_id=household.community_id)
    code = check_code(code)
    if kind not in SensorKind.__members__:
        raise LaoyouError(ErrorCode.INVALID, "Choose what kind of device it is.", field="kind")
    label = (label or "").strip()
    check_text(label, field="label")
    if len(label) > 40:
        raise LaoyouError(
            ErrorCode.INVALID, "Please keep it under %(max)s characters.", field="label", max=40
        )
    no_activity_hours = check_no_activity_hours(no_activity_hours)
    if consent_person_id not in {p.id for p in await household_residents(session, household.id)}:
        raise LaoyouError(
            ErrorCode.INVALID, "Choose who in the home agreed to the device.", field="consentPersonId"
        )
    if consent_method not in ConsentMethod.__members__:
        raise LaoyouError(ErrorCode.INVALID, "Choose how they agreed.", field="consentMethod")
    if consent_method == ConsentMethod.paper:
        if consent_photo_id is None:
            raise LaoyouError(
                ErrorCode.INVALID, "Add a photo of the signed consent form.", field="consentPhotoId"
            )
        photo = await media.access_media(session, actor=actor, media_id=consent_photo_id)
        if photo.kind != "image" or photo.community_id != household.community_id:
            raise NotFound()
    else:
        consent_photo_id = None
    live = await session.exec(
        select(SensorDevice.id).where(SensorDevice.code == code, col(SensorDevice.deregistered_at).is_(None))
    )
    if live.first() is not None:
        raise LaoyouError(
            ErrorCode.ALREADY_EXISTS,
            "This device is already registered. Deregister it first to move it.",
            field="code",
        )
    password = secrets.token_urlsafe(18)
    now = utcnow()
    device = SensorDevice(
        code=code,
        kind=kind,
        label=label,
        household_id=household.id,
        community_id=household.community_id,
        district_id=household.district_id,
        # A fresh suffix: a device moved to another home never inherits the old home's topic or password.
        mqtt_username=f"{code.lower()}-{secrets.token_hex(3)}",
        password_hash=mosquitto_hash(password),
        consent_person_id=consent_person_id,
        consent_method=consent_method,
        consent_photo_id=consent_photo_id,
        consented_at=now,
        registered_by_id=actor.person_id,
        registered_at=now,
        no_activity_hours=no_activity_hours,
    )
    session.add(device)
    await session.flush()
    log.info("sensor %s registered to household %s by %s", device.id, household.id, actor.person_id)
    return Registration(device, password)


async def do_deregister_device(session: AsyncSession, *, actor: Actor, device_id: int) -> SensorDevice:
    """Taken away or the resident withdrew consent: its messages are ignored and it can no longer log in."""
    device = await access_device(session, actor=actor, device_id=device_id)
    _check_steward(actor)
    if device.deregistered_at is not None:
        raise NotFound()
    device.deregistered_at = utcnow()
    device.deregistered_by_id = actor.person_id
    session.add(device)
    await session.flush()
    return device


# --- what a device reports ------------------------------------------------------------------------------


def _refused(topic: str, reason: str) -> str:
    log.warning("sensor message refused on %s: %s", topic[:120], reason)
    return "refused"


async def _resident_actor(session: AsyncSession, device: SensorDevice) -> Actor | None:
    """The resident who agreed to the device, as the one the device reports for; None once she left the home."""
    person = await session.get(Person, device.consent_person_id)
    grants = await accounts.live_grants(session, device.consent_person_id)
    actor = Actor(person=person, grants=grants)
    return actor if device.household_id in actor.resident_household_ids else None


async def do_handle_message(
    session: AsyncSession, *, topic: str, payload: bytes, now: datetime | None = None
) -> str:
    """One MQTT message: what it set off ("work_order", "sos", "activity"), or why nothing ("refused",
    "ignored", "repeat")."""
    now = now or utcnow()
    parts = topic.split("/")
    if len(parts) < 3 or parts[0] != TOPIC_ROOT:
        return _refused(topic, "not a device topic")
    device = (
        await session.exec(
            select(SensorDevice).where(
                SensorDevice.mqtt_username == parts[1], col(SensorDevice.deregistered_at).is_(None)
            )
        )
    ).first()
    if device is None:
        return _refused(topic, "no registered device of that name")
    try:
        data = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        return _refused(topic, "not JSON")
    if not isinstance(data, dict):
        return _refused(topic, "not a JSON object")
    # The topic says which device; a message naming another household or device is someone else's.
    named_household = data.get("household")
    if named_household is not None and str(named_household) != str(device.household_id):
        return _refused(topic, f"names household {str(named_household)[:20]!r}, the device is another's")
    named_device = data.get("device")
    if named_device is not None and str(named_device).upper() != device.code:
        return _refused(topic, f"names device {str(named_device)[:40]!r}")
    kind = SensorKind(device.kind)
    if data.get("event") != EVENTS[kind]:
        log.info("sensor %s: event %r ignored", device.id, str(data.get("event"))[:20])
        return "ignored"
    if kind == SensorKind.door:
        device.last_activity_at = now
        session.add(device)
        await session.flush()
        return "activity"
    event_id = data.get("id")
    event_id = str(event_id)[:64] if event_id is not None else None
    if event_id is not None:
        seen = await session.exec(
            select(SensorEvent.id).where(SensorEvent.device_id == device.id, SensorEvent.event_id == event_id)
        )
        if seen.first() is not None:
            return "repeat"
    # Claimed in the database, so that two subscribers (or a hundred messages) act once.
    claimed = await session.exec(
        update(SensorDevice)
        .where(
            SensorDevice.id == device.id,
            or_(
                col(SensorDevice.last_alarm_at).is_(None),
                col(SensorDevice.last_alarm_at) <= now - ALARM_WINDOW,
            ),
        )
        .values(last_alarm_at=now)
    )
    if claimed.rowcount != 1:
        return "repeat"
    resident = await _resident_actor(session, device)
    effect = SensorEffect.sos if kind == SensorKind.fall_button else SensorEffect.work_order
    event = SensorEvent(
        device_id=device.id,
        household_id=device.household_id,
        community_id=device.community_id,
        district_id=device.district_id,
        event_id=event_id,
        effect=effect.value,
        received_at=now,
    )
    try:
        async with session.begin_nested():
            session.add(event)
            await session.flush()
    except IntegrityError:
        return "repeat"  # the same event id raced in on another connection
    if resident is None:
        # Nobody the device may report for: the steward still hears of it.
        await _page_stewards(session, device, kind)
        return "refused"
    if effect == SensorEffect.sos:
        alert = await support.do_raise_sos(
            session, actor=resident, household_id=device.household_id, client_id=f"sensor-{event.id}"
        )
        event.sos_alert_id = alert.id
    else:
        language = resident.person.language
        reported = await tickets.do_report(
            session,
            actor=resident,
            data=tickets.ReportInput(
                client_id=f"sensor-{event.id}",
                category=ORDER_CATEGORIES[kind].value,
                urgency=Urgency.emergency.value,
                place=Place.unit.value,
                household_id=device.household_id,
                description=i18n.gettext(
                    "%(kind)s %(label)s went off. Please check the home at once.",
                    language,
                    kind=i18n.gettext(KIND_NAMES[kind], language),
                    label=device.label or device.code,
                ),
            ),
            now=now,
        )
        event.work_order_id = reported.order.id
        await _page_stewards(session, device, kind, order_id=reported.order.id)
    session.add(event)
    await session.flush()
    return effect.value


async def _stewards(session: AsyncSession, community_id: int) -> list[int]:
    return await tickets.community_stewards(
        session, community_id, district_wide=False
    ) or await tickets.community_stewards(session, community_id, district_wide=True)


async def _page_stewards(
    session: AsyncSession, device: SensorDevice, kind: SensorKind, *, order_id: int | None = None
) -> None:
    _household, _community, address = await support.household_place(session, device.household_id)
    for person_id in await _stewards(session, device.community_id):
        language = await support.person_language(session, person_id)
        await accounts.do_notify(
            session,
            person_id=person_id,
            kind="emergency_sensor",
            title=i18n.gettext(
                "%(kind)s at %(address)s",
                language,
                kind=i18n.gettext(KIND_NAMES[kind], language),
                address=address,
            ),
            body=device.label,
            link=f"/orders/{order_id}" if order_id else f"/staff/sensors/households/{device.household_id}",
        )


# --- a door left shut ----------------------------------------------------------------------------------


async def do_check_quiet_doors(session: AsyncSession, *, now: datetime | None = None) -> int:
    """Each door sensor not opened for its N hours is told once per quiet spell (claimed in the database)."""
    now = now or utcnow()
    doors = await session.exec(
        select(SensorDevice).where(
            SensorDevice.kind == SensorKind.door.value, col(SensorDevice.deregistered_at).is_(None)
        )
    )
    told = 0
    for device in list(doors):
        since = device.last_activity_at or device.registered_at
        if now - since < timedelta(hours=device.no_activity_hours):
            continue
        claimed = await session.exec(
            update(SensorDevice)
            .where(
                SensorDevice.id == device.id,
                or_(
                    col(SensorDevice.no_activity_alerted_at).is_(None),
                    col(SensorDevice.no_activity_alerted_at) < since,
                ),
            )
            .values(no_activity_alerted_at=now)
        )
        if claimed.rowcount == 1:
            await on_no_activity(session, device=device, since=since, now=now)
            told += 1
    return told


async def on_no_activity(
    session: AsyncSession, *, device: SensorDevice, since: datetime, now: datetime | None = None
) -> None:
    """A home's door has stayed shut since `since`: it counts as a missed daily check-in for each resident
    there who keeps one (the check-in's escalation takes it from there: her, her family, then the steward);
    when nobody there keeps one, the steward is told now."""
    residents = (await estates.residents_by_household(session, [device.household_id])).get(
        device.household_id, []
    )
    kept = False
    for person in residents:
        plan = await checkins.plan_of(session, person.id)
        if plan is not None and plan.active:
            kept = True
            await checkins.record_missed(session, person.id, "door_quiet", now=now)
    if kept:
        return
    _household, _community, address = await support.household_place(session, device.household_id)
    for person_id in await _stewards(session, device.community_id):
        language = await support.person_language(session, person_id)
        await accounts.do_notify(
            session,
            person_id=person_id,
            kind="emergency_no_activity",
            title=i18n.gettext("No one has opened the door at %(address)s", language, address=address),
            body=i18n.gettext(
                "Not for %(hours)s hours. Please call or visit.", language, hours=device.no_activity_hours
            ),
            link=f"/staff/sensors/households/{device.household_id}",
        )


# --- shared-area cameras -------------------------------------------------------------------------------


def check_camera_url(url: str) -> str:
    """An https link to the camera's snapshot or stream, with a host and no password in it."""
    url = (url or "").strip()
    parts = urlsplit(url)
    if (
        len(url) > 500
        or parts.scheme != "https"
        or not parts.hostname
        or parts.username
        or parts.password
        or any(c.isspace() for c in url)
    ):
        raise LaoyouError(
            ErrorCode.INVALID, "Give the camera's https:// link, without a password in it.", field="url"
        )
    return url


async def list_cameras(session: AsyncSession, *, actor: Actor, community_id: int) -> list[CommunityCamera]:
    """A community's cameras, for the staff serving it; residents never see them."""
    await access_community_as_staff(session, actor=actor, community_id=community_id)
    return list(
        await session.exec(
            select(CommunityCamera)
            .where(CommunityCamera.community_id == community_id, col(CommunityCamera.removed_at).is_(None))
            .order_by(CommunityCamera.id)
        )
    )


async def do_add_camera(
    session: AsyncSession, *, actor: Actor, community_id: int, name: str, url: str
) -> CommunityCamera:
    community = await access_community_as_staff(session, actor=actor, community_id=community_id)
    _check_steward(actor)
    name = (name or "").strip()
    check_text(name, field="name")
    if not (0 < len(name) <= 40):
        raise LaoyouError(ErrorCode.INVALID, "Give the camera a short name, such as 东门.", field="name")
    camera = CommunityCamera(
        community_id=community.id,
        district_id=community.district_id,
        name=name,
        url=check_camera_url(url),
        added_by_id=actor.person_id,
    )
    session.add(camera)
    await session.flush()
    return camera


async def do_remove_camera(session: AsyncSession, *, actor: Actor, camera_id: int) -> CommunityCamera:
    camera = await session.get(CommunityCamera, camera_id)
    if camera is None or camera.removed_at is not None:
        raise NotFound()
    await access_community_as_staff(session, actor=actor, community_id=camera.community_id)
    _check_steward(actor)
    camera.removed_at = utcnow()
    session.add(camera)
    await session.flush()
    return camera
