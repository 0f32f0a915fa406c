"""Open311 GeoReport v2 over work orders: the services (one a category), reading requests and filing one.

Anyone may read open data: category, status, the description, the community and building, times. A key's kind
decides whether more leaves: an integration key (the operator's own systems) also sees the reporter's name,
phone and unit, for the communities the key covers. Work orders are read and filed through the tickets service.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import uuid4

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from laoyou.accounts import service as accounts
from laoyou.accounts.actor import Actor
from laoyou.accounts.models import Person, Role
from laoyou.core.errors import LaoyouError, PermissionDenied
from laoyou.core.i18n import gettext
from laoyou.core.phone import normalise_phone
from laoyou.core.security import new_token, token_hash
from laoyou.core.time import utcnow
from laoyou.estates import service as estates
from laoyou.governance.open311.models import KeyKind, Open311Key
from laoyou.tickets import service as tickets
from laoyou.tickets.models import Category, Kind, Place, Source

MAX_RESULTS = 1000
DEFAULT_DAYS = 90  # the spec's default window when no start_date is given
LANGUAGE = "zh_CN"  # 12345 platforms read Chinese
KEY_PREFIX = "o311_"


class KeyRefused(ValueError):
    """The admin's command was wrong (no such district, kind or admin): said on the server's console."""


class Open311Error(Exception):
    """An error as the spec answers it: [{"code": status, "description": ...}] with that HTTP status."""

    def __init__(self, status: int, description: str):
        super().__init__(description)
        self.status = status
        self.description = description


# --- keys ---------------------------------------------------------------------------------------------------


@dataclass
class NewKey:
    key: Open311Key
    secret: str  # shown once


async def do_create_key(
    session: AsyncSession, *, district_id: int, kind: str, by_phone: str, community_id: int | None = None
) -> NewKey:
    """A key for a district (or one of its communities), made by the operator's admin on the server."""
    if kind not in KeyKind.__members__:
        raise KeyRefused("The kind must be public or integration.")
    communities = await estates.district_community_ids(session, district_id)
    if not communities:
        raise KeyRefused(f"No district {district_id} with a community.")
    if community_id is not None and community_id not in communities:
        raise KeyRefused(f"No community {community_id} in district {district_id}.")
    try:
        phone = normalise_phone(by_phone, field="by")
    except LaoyouError:
        raise KeyRefused("The admin's phone is not a mobile number.") from None
    admin = await accounts.person_by_phone(session, phone)
    if admin is None or not any(
        g.role == Role.admin.value for g in await accounts.live_grants(session, admin.id)
    ):
        raise KeyRefused("No admin with this phone.")
    secret = KEY_PREFIX + new_token()
    key = Open311Key(
        key_hash=token_hash(secret),
        kind=kind,
        district_id=district_id,
        community_id=community_id,
        created_by_id=admin.id,
    )
    session.add(key)
    await session.flush()
    return NewKey(key, secret)


async def do_revoke_key(session: AsyncSession, *, key_id: int) -> Open311Key:
    key = await session.get(Open311Key, key_id)
    if key is None:
        raise KeyRefused(f"No key {key_id}.")
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        session.add(key)
        await session.flush()
    return key


async def key_for(session: AsyncSession, secret: str | None) -> Open311Key | None:
    """The live key a caller gave; None when none was given. A wrong or revoked one is refused (403)."""
    if not secret:
        return None
    key = (
        await session.exec(
            select(Open311Key).where(
                Open311Key.key_hash == token_hash(secret), col(Open311Key.revoked_at).is_(None)
            )
        )
    ).first()
    if key is None:
        raise Open311Error(403, "api_key is not valid")
    return key


async def key_communities(session: AsyncSession, key: Open311Key) -> list[int]:
    if key.community_id is not None:
        return [key.community_id]
    return await estates.district_community_ids(session, key.district_id)


# --- services -----------------------------------------------------------------------------------------------


def _label(category: str) -> str:
    return gettext(tickets.CATEGORY_LABELS[category], LANGUAGE)


def services() -> list[dict]:
    return [
        {
            "service_code": category.value,
            "service_name": _label(category.value),
            "description": _label(category.value),
            "metadata": False,
            "type": "realtime",
            "keywords": ",".join(
                [category.value, "emergency"] if category.is_emergency else [category.value]
            ),
            "group": "紧急" if category.is_emergency else "报事报修",
        }
        for category in Category
    ]


# --- reading requests ---------------------------------------------------------------------------------------


def parse_time(value: str, name: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise Open311Error(400, f"{name} is not an ISO 8601 date") from None
    if parsed.tzinfo is None:
        raise Open311Error(400, f"{name} needs a time zone (say Z or +08:00)")
    return parsed


@dataclass
class RequestQuery:
    ids: list[int] | None = None
    service_codes: list[str] | None = None
    start: datetime | None = None
    end: datetime | None = None
    status: str | None = None


def parse_query(params: dict[str, str]) -> RequestQuery:
    """The spec's query parameters; with request ids the others are ignored, as the spec says."""
    if raw := params.get("service_request_id"):
        try:
            return RequestQuery(ids=[int(v) for v in raw.split(",") if v.strip()])
        except ValueError:
            raise Open311Error(400, "service_request_id must be numbers separated by commas") from None
    query = RequestQuery()
    if raw := params.get("service_code"):
        query.service_codes = [v.strip() for v in raw.split(",") if v.strip()]
        if unknown := [c for c in query.service_codes if c not in Category.__members__]:
            raise Open311Error(400, f"service_code not found: {','.join(unknown)}")
    query.end = parse_time(params["end_date"], "end_date") if params.get("end_date") else None
    query.start = (
        parse_time(params["start_date"], "start_date")
        if params.get("start_date")
        else (query.end or utcnow()) - timedelta(days=DEFAULT_DAYS)
    )
    if query.end is not None and query.end < query.start:
        raise Open311Error(400, "end_date is before start_date")
    if (status := params.get("status")) is not None:
        query.status = status.strip()
        if not set(query.status.split(",")) <= {"open", "closed"}:
            raise Open311Error(400, "status must be open or closed")
    return query


# What a resident may have typed into her report that is not for the public: a phone number (or any long run of
# digits: an ID card, a bank card) and an e-mail address. Open data carries the words with these blotted out.
_PRIVATE_WORDS = re.compile(r"(?:\+?\d[\d\s-]{5,}\d[xX]?)|(?:[\w.+-]+@[\w-]+(?:\.[\w-]+)+)")


def public_words(text: str) -> str:
    return _PRIVATE_WORDS.sub("***", text)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat(timespec="seconds") if value is not None else None


def as_request(row: tickets.OpenDataOrder, *, personal: bool) -> dict:
    order = row.order
    address = " ".join(part for part in (row.community_name, row.building_name) if part)
    found: dict = {
        "service_request_id": str(order.id),
        "status": "open" if order.is_open else "closed",
        "status_notes": order.status,
        "service_name": _label(order.category),
        "service_code": order.category,
        "description": order.description if personal else public_words(order.description),
        "agency_responsible": row.operator_name,
        "service_notice": "",
        "requested_datetime": _iso(order.created_at),
        "updated_datetime": _iso(order.updated_at),
        "expected_datetime": _iso(order.completion_due_at),
        "address": address,
        "address_id": "",
        "zipcode": "",
    }
    if personal:
        # The operator's own systems: who reported it and where exactly.
        found["first_name"] = order.reporter_name
        found["phone"] = order.reporter_phone
        found["address"] = " ".join(part for part in (address, order.place_note) if part)
    return found


async def list_requests(session: AsyncSession, *, key: Open311Key | None, query: RequestQuery) -> list[dict]:
    """Without a key, every community's work orders as open data; with one, only the communities it covers,
    and an integration key also sees their reporters' names, phones and places."""
    is_open = None
    if query.status in ("open", "closed"):
        is_open = query.status == "open"
    covered = await key_communities(session, key) if key is not None else None
    rows = await tickets.list_open_data_orders(
        session,
        community_ids=covered,
        ids=query.ids,
        categories=query.service_codes,
        since=None if query.ids else query.start,
        until=None if query.ids else query.end,
        is_open=is_open,
        limit=MAX_RESULTS,
    )
    personal = key is not None and key.kind == KeyKind.integration
    return [as_request(row, personal=personal) for row in rows]


async def get_request(session: AsyncSession, *, key: Open311Key | None, request_id: str) -> list[dict]:
    if not request_id.isdigit():
        raise Open311Error(404, "service_request_id not found")
    found = await list_requests(session, key=key, query=RequestQuery(ids=[int(request_id)]))
    if not found:
        raise Open311Error(404, "service_request_id not found")
    return found


# --- filing a request ---------------------------------------------------------------------------------------


async def do_file_request(
    session: AsyncSession, *, key: Open311Key | None, form: dict[str, str]
) -> list[dict]:
    """A report filed by an Open311 client into a community its key covers, logged as taken by phone by the
    key's admin (a 12345 hotline call is a phone call)."""
    if key is None:
        raise Open311Error(403, "api_key was not provided")
    service_code = (form.get("service_code") or "").strip()
    if not service_code:
        raise Open311Error(400, "service_code was not provided")
    if service_code not in Category.__members__:
        raise Open311Error(400, f"service_code not found: {service_code}")
    covered = await key_communities(session, key)
    raw_community = (form.get("attribute[community]") or "").strip()
    if raw_community:
        if not raw_community.isdigit() or int(raw_community) not in covered:
            raise Open311Error(400, "attribute[community] is not a community this key covers")
        community_id = int(raw_community)
    elif len(covered) == 1:
        community_id = covered[0]
    else:
        raise Open311Error(400, "attribute[community] was not provided (this key covers several communities)")
    description = (form.get("description") or "").strip()
    address = (form.get("address_string") or "").strip()
    if not description:
        raise Open311Error(400, "description was not provided")
    name = " ".join(
        p for p in ((form.get("last_name") or "").strip(), (form.get("first_name") or "").strip()) if p
    )
    admin = await session.get(Person, key.created_by_id)
    actor = Actor(person=admin, grants=await accounts.live_grants(session, key.created_by_id))
    data = tickets.ReportInput(
        client_id=f"open311-{uuid4().hex}",
        category=service_code,
        kind=Kind.repair.value,
        place=Place.common.value,
        community_id=community_id,
        place_note=address[:200],
        description=description,
        source=Source.phone.value,
        reporter_name=name[:50],
        reporter_phone=(form.get("phone") or "").strip(),
    )
    try:
        reported = await tickets.do_report(session, actor=actor, data=data)
    except LaoyouError as exc:
        raise Open311Error(
            400, f"{exc.field or 'request'}: {gettext(exc.message, 'en', **exc.params)}"
        ) from None
    except PermissionDenied:
        # The key's admin no longer serves this community (their role was revoked).
        raise Open311Error(403, "api_key may not file here") from None
    return [{"service_request_id": str(reported.order.id), "service_notice": "", "account_id": ""}]
