"""Isolation: a person of one community cannot see or touch anything of another, through any operation.

Every field of Query and Mutation is run by people of other communities with arguments that point at a
target community's objects. The test proves that nothing of the target leaks into the answer (its people's
names and phones, its households, addresses, messages, briefings…) and that no table changed (row counts and
a hash of every row, except the login bookkeeping: audit_event, auth_session, login_code).

REGISTRY holds, for each field, the arguments to send; the selection is generated from the schema so that it
reaches as deep as the limits allow. A field without an entry fails the test: it grows with the schema.

The target's free-text columns are overwritten (inside the test's transaction) with a marker such as LEAKA-17,
so that a leak is found even where two communities share the same demo text.

Subscription fields have test_isolation_subscriptions.py, the PWA's routes test_isolation_pages.py: the same
strangers against the same targets.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from itertools import count
from typing import Any

import pytest
from graphql import (
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLUnionType,
    Undefined,
    get_named_type,
    is_leaf_type,
    is_non_null_type,
)
from graphql.language import Lexer, Source, TokenKind
from sqlalchemy import or_, select, update
from sqlmodel import SQLModel

import laoyou.models  # noqa: F401  (every table in the metadata)
from laoyou.core.phone import mask_phone
from laoyou.core.time import SHANGHAI, utcnow

from ..accounts.helpers import login_new_person
from ..conftest import (
    AGENT_NANNING,
    OFFICIAL_ZHUJIAJIAO,
    RESIDENT_JINGJU,
    RESIDENT_XIUSHAN,
    STEWARD_XIUSHAN,
    STEWARD_YUEYANG,
    GraphQLClient,
    login_demo,
)

TABLES = SQLModel.metadata.tables
# Login bookkeeping: written by failed logins and session touches, and holding nothing a stranger can read.
NOT_SNAPSHOTTED = {"audit_event", "auth_session", "login_code"}
FREE_TEXT = (
    "title",
    "body",
    "description",
    "memo",
    "comment",
    "note",
    "place_note",
    "reporter_name",
    "rating_comment",
    "question",
    "answer",
    "keywords",
    "address",
    "reason",
    "head_name",
    "detail",
    "relation",
)
OWNER_COLUMNS = ("community_id", "district_id", "household_id", "person_id", "resident_id")
_unique = count(1)


# --- the target community and its objects ----------------------------------------------------------------


@dataclass(frozen=True)
class TargetSpec:
    marker: str
    communities: tuple[str, ...]
    resident: str  # the demo resident living there
    steward: str


TARGET_SPECS = {
    "A": TargetSpec("LEAKA", ("秀山花园",), RESIDENT_XIUSHAN, STEWARD_XIUSHAN),
    "B": TargetSpec("LEAKB", ("岳阳花苑", "京剧院小区"), RESIDENT_JINGJU, STEWARD_YUEYANG),
}


@dataclass
class Target:
    spec: TargetSpec
    community_ids: set[int] = field(default_factory=set)
    district_ids: set[int] = field(default_factory=set)
    household_ids: set[int] = field(default_factory=set)
    person_ids: set[int] = field(default_factory=set)
    sensitive: set[str] = field(default_factory=set)
    ids: dict[str, Any] = field(default_factory=dict)

    def __getattr__(self, name: str) -> Any:
        try:
            return self.__dict__["ids"][name]
        except KeyError:
            raise AttributeError(name) from None

    def owns(self, row: dict[str, Any]) -> bool:
        return (
            row.get("community_id") in self.community_ids
            or (row.get("district_id") in self.district_ids and row.get("community_id") is None)
            or row.get("household_id") in self.household_ids
            or row.get("person_id") in self.person_ids
            or row.get("resident_id") in self.person_ids
        )


async def rows_of(db, table_name: str, *where) -> list[dict[str, Any]]:  # noqa: ANN001, ANN002
    table = TABLES[table_name]
    query = select(table)
    if where:
        query = query.where(*where)
    return [dict(r._mapping) for r in (await db.execute(query.order_by(*table.primary_key.columns))).all()]


async def one_id(db, table_name: str, *where) -> int:  # noqa: ANN001, ANN002
    found = await rows_of(db, table_name, *where)
    assert found, f"the demo has no {table_name} row for the target"
    return found[0]["id"]


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def push_keys() -> tuple[str, str]:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    public = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    )
    return b64(public), b64(b"0123456789abcdef")


async def ok(client: GraphQLClient, query: str, variables: dict, path: str) -> dict:
    data = (await client(query, variables))["data"][path]
    assert "code" not in data, data
    return data


async def prepare_target(
    key: str, gql: GraphQLClient, app: Any, db: Any, more: Callable[[Target], Any] | None = None
) -> Target:
    """Find the target's objects, make the ones the demo lacks (through the API, as its own people; `more`
    makes a caller's own), then mark its free text so that any leak shows."""
    spec = TARGET_SPECS[key]
    t = Target(spec)
    c = TABLES["community"].c
    communities = await rows_of(db, "community", c.name.in_(spec.communities))
    t.community_ids = {row["id"] for row in communities}
    t.district_ids = {row["district_id"] for row in communities}
    t.household_ids = {
        row["id"]
        for row in await rows_of(db, "household", TABLES["household"].c.community_id.in_(t.community_ids))
    }
    g = TABLES["role_grant"].c
    grants = await rows_of(
        db, "role_grant", or_(g.community_id.in_(t.community_ids), g.household_id.in_(t.household_ids))
    )
    t.person_ids = {row["person_id"] for row in grants}
    people = {row["id"]: row for row in await rows_of(db, "person", TABLES["person"].c.id.in_(t.person_ids))}
    by_phone = {row["phone"]: row for row in people.values()}
    resident = by_phone["+86" + spec.resident]
    steward = by_phone["+86" + spec.steward]
    home = next(g_ for g_ in grants if g_["person_id"] == resident["id"] and g_["role"] == "resident")
    generated = sorted((p for p in people.values() if p["phone"].startswith("+86139")), key=lambda p: p["id"])
    other = generated[0]
    other_home = next(g_ for g_ in grants if g_["person_id"] == other["id"] and g_["role"] == "resident")
    t.ids.update(
        community_id=str(home["community_id"]),
        district_id=str(home["district_id"]),
        household_id=str(home["household_id"]),
        resident_id=str(resident["id"]),
        resident_phone=spec.resident,
        other_resident_id=str(other["id"]),
        other_resident_phone=other["phone"][3:],
        other_household_id=str(other_home["household_id"]),
        steward_id=str(steward["id"]),
        steward_phone=spec.steward,
        steward_grant_id=str(
            next(g_["id"] for g_ in grants if g_["person_id"] == steward["id"] and g_["role"] == "steward")
        ),
    )
    household = (await rows_of(db, "household", TABLES["household"].c.id == int(t.household_id)))[0]
    unit = (await rows_of(db, "unit", TABLES["unit"].c.id == household["unit_id"]))[0]
    building = (await rows_of(db, "building", TABLES["building"].c.id == unit["building_id"]))[0]
    t.ids.update(
        unit_id=str(unit["id"]),
        building_id=str(unit["building_id"]),
        unit_number=unit["number"],
        building_name=building["name"],
    )

    # Made through the API by the target's own people.
    resident_client = await login_demo(gql, spec.resident)
    steward_client = await login_demo(gql, spec.steward)
    issue = """mutation ($h: ID!, $p: ID!) { issueLoginCard(householdId: $h, personId: $p) {
        ... on LoginCardIssued { url card { id } } ... on Error { code message } } }"""
    used = await ok(
        steward_client, issue, {"h": t.other_household_id, "p": t.other_resident_id}, "issueLoginCard"
    )
    t.ids["card_used_token"] = used["url"].rsplit("/", 1)[1]
    await ok(
        gql,
        "mutation ($t: String!) { loginWithCard(token: $t, sessionKind: BEARER) { ... on LoggedIn { token } ... on Error { code } } }",
        {"t": t.card_used_token},
        "loginWithCard",
    )
    t.ids["card_id"] = (
        await ok(steward_client, issue, {"h": t.household_id, "p": t.resident_id}, "issueLoginCard")
    )["card"]["id"]
    ask = 'mutation ($p: String!) { requestFamilyLink(phone: $p, relation: "亲戚") { __typename } }'
    relatives = [await login_new_person(gql, app, f"1391234{next(_unique):04d}") for _ in range(2)]
    for relative in relatives:
        await ok(relative, ask, {"p": spec.resident}, "requestFamilyLink")
    links = await rows_of(
        db,
        "family_link",
        TABLES["family_link"].c.household_id == int(t.household_id),
        TABLES["family_link"].c.status == "pending",
    )
    t.ids["link_pending_id"] = str(links[0]["id"])
    await ok(
        resident_client,
        "mutation ($id: ID!) { respondFamilyLink(id: $id, accept: true) { __typename } }",
        {"id": str(links[1]["id"])},
        "respondFamilyLink",
    )
    t.ids["link_accepted_id"] = str(links[1]["id"])
    # Someone in no household yet asks to be linked to the target's home; their name carries the marker.
    asker_phone = f"1391234{next(_unique):04d}"
    asker = await login_new_person(gql, app, asker_phone)
    link_ask = """mutation ($c: ID!, $b: String!, $u: String!, $n: String!) {
        requestHouseholdLink(communityId: $c, building: $b, unit: $u, name: $n, relation: OWNER) {
        ... on LinkRequestSaved { linkRequest { id } } ... on Error { code message } } }"""
    t.ids["link_request_id"] = (
        await ok(
            asker,
            link_ask,
            {"c": t.community_id, "b": t.building_name, "u": t.unit_number, "n": f"{spec.marker}-asker"},
            "requestHouseholdLink",
        )
    )["linkRequest"]["id"]
    t.sensitive.add(asker_phone)  # its masked form is shared by demo numbers; the marked name shows a leak
    chat = """mutation ($h: ID!, $c: String!) { sendChatMessage(clientId: $c, body: "家里的事", householdId: $h) {
        ... on ChatMessageSent { conversation { id } } ... on Error { code message } } }"""
    sent = await ok(
        resident_client, chat, {"h": t.household_id, "c": f"iso-{next(_unique)}"}, "sendChatMessage"
    )
    t.ids["conversation_id"] = sent["conversation"]["id"]
    sos = """mutation ($h: ID!, $c: String!) { raiseSos(householdId: $h, clientId: $c) {
        ... on SosRaised { alert { id } } ... on Error { code message } } }"""
    t.ids["sos_id"] = (
        await ok(resident_client, sos, {"h": t.household_id, "c": f"iso-{next(_unique)}"}, "raiseSos")
    )["alert"]["id"]
    sensor = """mutation ($input: RegisterSensorInput!) { registerSensorDevice(input: $input) {
        ... on SensorDeviceRegistered { device { id } } ... on Error { code message } } }"""
    t.ids["sensor_device_id"] = (
        await ok(
            steward_client,
            sensor,
            {
                "input": {
                    "householdId": t.household_id,
                    "code": f"{spec.marker}-{next(_unique)}",
                    "kind": "WATER_LEAK",
                    "consentPersonId": t.resident_id,
                    "consentMethod": "PHONE",
                }
            },
            "registerSensorDevice",
        )
    )["device"]["id"]
    camera = """mutation ($c: ID!) { addCommunityCamera(communityId: $c, name: "东门", url: "https://cam.example.cn/1") {
        ... on CommunityCameraSaved { camera { id } } ... on Error { code message } } }"""
    t.ids["camera_id"] = (await ok(steward_client, camera, {"c": t.community_id}, "addCommunityCamera"))[
        "camera"
    ]["id"]
    emergency = """mutation ($c: [ID!]!) { sendEmergencyNotice(communityIds: $c, kind: WATER_CUT, title: "停水") {
        ... on EmergencyNoticeSent { notices { id } } ... on Error { code message } } }"""
    t.ids["emergency_id"] = (
        await ok(steward_client, emergency, {"c": [t.community_id]}, "sendEmergencyNotice")
    )["notices"][0]["id"]
    call = """mutation ($h: ID!) { startCall(video: false, householdId: $h, toSteward: true) {
        ... on CallUpdated { call { id } } ... on Error { code message } } }"""
    t.ids["call_id"] = (await ok(resident_client, call, {"h": t.household_id}, "startCall"))["call"]["id"]
    report = """mutation ($input: ReportProblemInput!) { reportProblem(input: $input) {
        ... on WorkOrderReported { workOrder { id } } ... on Error { code message } } }"""
    t.ids["work_order_id"] = (
        await ok(
            resident_client,
            report,
            {
                "input": {
                    "clientId": f"iso-{next(_unique)}",
                    "category": "water",
                    "householdId": t.household_id,
                    "description": "水管漏水",
                }
            },
            "reportProblem",
        )
    )["workOrder"]["id"]
    consent = """mutation ($h: ID!) { giveCareConsent(householdId: $h) {
        ... on CareRecordSaved { record { id } } ... on Error { code message } } }"""
    t.ids["care_record_id"] = (await ok(resident_client, consent, {"h": t.household_id}, "giveCareConsent"))[
        "record"
    ]["id"]
    await ok(
        resident_client,
        "mutation { setUpCheckin(windowEnd: 1200) { __typename ... on Error { code message } } }",
        {},
        "setUpCheckin",
    )
    await ok(resident_client, "mutation { checkIn(how: BUTTON) { __typename } }", {}, "checkIn")
    t.ids["checkin_day_id"] = str(
        await one_id(db, "care_checkin_day", TABLES["care_checkin_day"].c.resident_id == int(t.resident_id))
    )
    p256dh, auth = push_keys()
    t.ids["push_endpoint"] = f"https://push.example.test/{spec.marker}-{next(_unique)}"
    await ok(
        resident_client,
        "mutation ($e: String!, $k: String!, $a: String!) { registerPushSubscription(endpoint: $e, p256dh: $k, auth: $a) { __typename } }",
        {"e": t.push_endpoint, "k": p256dh, "a": auth},
        "registerPushSubscription",
    )

    # Found in the demo data.
    b = TABLES["bill"].c
    t.ids["bill_id"] = str(
        await one_id(db, "bill", b.household_id == int(t.household_id), b.status.in_(["open", "statement"]))
    )
    t.ids["period"] = (await rows_of(db, "bill", b.id == int(t.bill_id)))[0]["period"]
    t.ids["payment_id"] = str(
        await one_id(db, "payment", TABLES["payment"].c.community_id.in_(t.community_ids))
    )
    t.ids["fee_plan_id"] = str(
        await one_id(db, "fee_plan", TABLES["fee_plan"].c.community_id.in_(t.community_ids))
    )
    t.ids["bill_run_id"] = str(
        await one_id(db, "bill_run", TABLES["bill_run"].c.community_id.in_(t.community_ids))
    )
    t.ids["estate_import_id"] = str(
        await pending_import(db, int(t.steward_id), int(t.community_id), spec.marker)
    )
    if more is not None:
        await more(t)
    audience = await rows_of(
        db, "briefing_audience", TABLES["briefing_audience"].c.community_id.in_(t.community_ids)
    )
    t.ids["briefing_id"] = str(audience[0]["briefing_id"])
    disclosure = TABLES["disclosure"].c
    t.ids["disclosure_id"] = str(await one_id(db, "disclosure", disclosure.community_id.in_(t.community_ids)))
    t.ids["disclosure_line_id"] = str(
        await one_id(db, "disclosure_line", TABLES["disclosure_line"].c.disclosure_id == int(t.disclosure_id))
    )
    t.ids["faq_id"] = str(
        await one_id(db, "support_faq", TABLES["support_faq"].c.district_id.in_(t.district_ids))
    )
    t.ids["vote_id"] = str(
        await one_id(db, "owners_vote", TABLES["owners_vote"].c.community_id.in_(t.community_ids))
    )
    t.ids["month"] = utcnow().astimezone(SHANGHAI).strftime("%Y-%m")

    await mark(t, db, communities, people, audience)
    return t


async def pending_import(db: Any, steward_id: int, community_id: int, marker: str) -> int:
    """A pending estate import of the target's community, uploaded by its steward. Through the service: an
    upload is a file, which a JSON request cannot carry (the pages hand it to the operation in-process)."""
    from laoyou.accounts import service as accounts
    from laoyou.accounts.actor import Actor
    from laoyou.accounts.models import Person
    from laoyou.estates.import_review import do_preview_import
    from laoyou.estates.importing import template_csv

    person = await db.get(Person, steward_id)
    actor = Actor(person=person, grants=await accounts.live_grants(db, steward_id))
    found = await do_preview_import(
        db, actor=actor, community_id=community_id, filename=f"{marker}.csv", data=template_csv()
    )
    return found.id


async def mark(
    t: Target, db: Any, communities: list[dict], people: dict[int, dict], audience: list[dict]
) -> None:
    """Overwrite the target's names and free text with a marker, and list what must never show."""
    marker = t.spec.marker
    for person_id in t.person_ids:
        await db.execute(
            update(TABLES["person"])
            .where(TABLES["person"].c.id == person_id)
            .values(name=f"{marker}-p{person_id}")
        )
    briefing_ids = {row["briefing_id"] for row in audience}
    shared = {
        row["briefing_id"]
        for row in await rows_of(
            db, "briefing_audience", TABLES["briefing_audience"].c.briefing_id.in_(briefing_ids)
        )
        if row["community_id"] not in t.community_ids
    }
    for briefing_id in briefing_ids - shared:
        await db.execute(
            update(TABLES["briefing"])
            .where(TABLES["briefing"].c.id == briefing_id)
            .values(title=f"{marker}-b{briefing_id}", body=f"{marker}-b{briefing_id}")
        )
    for name, table in TABLES.items():
        if name in ("community", "district", "person"):
            continue
        columns = [
            c
            for c in FREE_TEXT
            if c in table.c and str(table.c[c].type).startswith(("VARCHAR", "TEXT", "String"))
        ]
        owners = [table.c[c] for c in ("community_id", "household_id") if c in table.c]
        if name == "support_faq":
            owners = [table.c.district_id]
        if not columns or not owners:
            continue
        condition = or_(
            *[
                o.in_(
                    t.district_ids
                    if o.name == "district_id"
                    else t.community_ids
                    if o.name == "community_id"
                    else t.household_ids
                )
                for o in owners
            ]
        )
        # A column too short for the marker holds a code (link_request.relation: owner, tenant, family), not
        # free text; PostgreSQL would refuse the marker and SQLite would store it beyond the declared length.
        columns = [c for c in columns if (table.c[c].type.length or 1000) >= len(f"{marker}-{name}")]
        if not columns:
            continue
        values = {c: f"{marker}-{name}" for c in columns}
        await db.execute(update(table).where(condition).values(**values))
    await db.commit()
    t.sensitive.add(marker)
    for row in communities:
        t.sensitive.update({row["name"], row["address"]})
    for district in await rows_of(db, "district", TABLES["district"].c.id.in_(t.district_ids)):
        t.sensitive.update({district["name"], district["operator_phone"][3:]})
    for person in people.values():
        national = person["phone"][3:]
        t.sensitive.update(
            {national, mask_phone(person["phone"]), f"{national[:3]} {national[3:7]} {national[7:]}"}
        )


# --- snapshots ---------------------------------------------------------------------------------------------


def digest(rows: list[dict]) -> str:
    return hashlib.sha256(repr([sorted(r.items()) for r in rows]).encode()).hexdigest()


async def snapshot(db: Any, names: set[str] | None = None) -> dict[str, tuple[int, str]]:
    """Row count and a hash of every row, per table."""
    found = {}
    for name in sorted(names if names is not None else TABLES):
        if name in NOT_SNAPSHOTTED:
            continue
        rows = await rows_of(db, name)
        found[name] = (len(rows), digest(rows))
    return found


async def rows_by_key(db: Any, name: str) -> dict[Any, dict]:
    table = TABLES[name]
    keys = [c.name for c in table.primary_key.columns]
    return {tuple(r[k] for k in keys): r for r in await rows_of(db, name)}


_WRITE = re.compile(r"^\s*(?:INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+\"?(\w+)\"?", re.IGNORECASE)


class WrittenTables:
    """The tables the app sent INSERT, UPDATE or DELETE statements to. Only those can have changed, so only
    those are hashed again after a request (a full snapshot at the end checks the rest)."""

    def __init__(self) -> None:
        self.names: set[str] = set()

    def __call__(self, conn, cursor, statement, parameters, context, executemany) -> None:  # noqa: ANN001, PLR0913
        if found := _WRITE.match(statement):
            self.names.add(found.group(1))


@pytest.fixture
def written_tables(app: Any) -> Any:
    from sqlalchemy import event

    watcher = WrittenTables()
    engine = app.state.engine.sync_engine
    event.listen(engine, "before_cursor_execute", watcher)
    yield watcher
    event.remove(engine, "before_cursor_execute", watcher)


# --- the registry ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    """How to aim one field at the target. `variables` may give several argument sets."""

    variables: Callable[[Target], dict | list[dict]] = lambda t: {}
    # Tables the attacker may change, but only in rows that are not the target's (their own devices…).
    own_tables: frozenset[str] = frozenset()
    # Tables that change in the target by design, with the reason in a comment at the entry.
    by_design: frozenset[str] = frozenset()
    # Strings of the target that the answer may hold because the attacker sent them (an echo, not a leak).
    echoes: Callable[[Target], set[str]] = lambda t: set()
    ends_session: bool = False


def E(variables=lambda t: {}, **kw) -> Entry:  # noqa: ANN001, ANN003, N802
    return Entry(variables=variables, **kw)


def uid(prefix: str = "iso") -> str:
    return f"{prefix}-{next(_unique)}"


def uid_phone() -> str:
    """A mobile number nobody in the demo holds."""
    return f"1370{next(_unique):07d}"


QUERIES: dict[str, Entry] = {
    "viewer": E(),
    # Demo mode lists the fixed demo logins on purpose; production lists nobody (tests/graphql/test_hardening.py).
    "demoPeople": E(echoes=lambda t: set(t.sensitive) - {t.spec.marker}),
    "loginCards": E(lambda t: {"householdId": t.household_id}),
    "loginCardPlan": E(
        lambda t: [
            {"communityId": t.community_id},
            {"communityId": t.community_id, "buildingId": t.building_id},
        ]
    ),
    "districts": E(),
    "district": E(lambda t: {"id": t.district_id}),
    "communities": E(lambda t: [{}, {"districtId": t.district_id}]),
    "community": E(lambda t: {"id": t.community_id}),
    "estateImport": E(lambda t: {"id": t.estate_import_id}),
    "estateImportCommunity": E(lambda t: {"id": t.community_id}),
    "household": E(lambda t: [{"id": t.household_id}, {"id": t.other_household_id}]),
    "householdBills": E(lambda t: {"householdId": t.household_id, "unpaidOnly": False}),
    "myBills": E(lambda t: {"unpaidOnly": False}),
    "myAmountsDue": E(),
    "bill": E(lambda t: {"id": t.bill_id}),
    "payPreview": E(lambda t: {"billIds": [t.bill_id]}),
    "payment": E(lambda t: {"id": t.payment_id}),
    "myPayments": E(),
    "householdPayments": E(lambda t: {"householdId": t.household_id}),
    "paymentMethods": E(),
    "feePlans": E(lambda t: {"communityId": t.community_id}),
    "effectiveFeePlan": E(lambda t: {"communityId": t.community_id}),
    "billRun": E(lambda t: {"id": t.bill_run_id}),
    "districtBillRun": E(lambda t: {"districtId": t.district_id, "period": t.month}),
    "collectionRate": E(
        lambda t: [
            {"period": t.period, "communityId": t.community_id},
            {"period": t.period, "districtId": t.district_id},
        ]
    ),
    "arrearsByBuilding": E(lambda t: {"communityId": t.community_id}),
    "fundBalances": E(lambda t: {"communityId": t.community_id}),
    "ledger": E(lambda t: {"communityId": t.community_id, "expensesOnly": False}),
    "briefing": E(lambda t: {"id": t.briefing_id}),
    "briefings": E(),
    "todaysBriefings": E(),
    "briefingCommunities": E(),
    "sharedBriefing": E(lambda t: {"token": "forged-share-token"}),
    "disclosures": E(lambda t: [{}, {"communityId": t.community_id}]),
    "disclosure": E(lambda t: {"id": t.disclosure_id}),
    "disclosureCommunities": E(),
    "sensorDevices": E(lambda t: [{}, {"communityId": t.community_id}, {"householdId": t.household_id}]),
    "sensorConsenters": E(lambda t: {"householdId": t.household_id}),
    "communityCameras": E(lambda t: {"communityId": t.community_id}),
    "pushSettings": E(),
    "emergencyNotices": E(lambda t: {"first": 20}),
    "emergencyNotice": E(lambda t: {"id": t.emergency_id}),
    "emergencyReach": E(lambda t: {"noticeId": t.emergency_id}),
    "reachChoice": E(),
    # A staff attacker sees the costs of their own communities; never the target's.
    "reachCosts": E(lambda t: [{}, {"month": t.month}]),
    "supportConversation": E(lambda t: {"id": t.conversation_id}),
    "mySupportConversation": E(lambda t: [{}, {"householdId": t.household_id}]),
    "supportConversations": E(lambda t: [{"first": 50, "mine": False}, {"first": 50, "mine": True}]),
    "supportQueue": E(),
    "myAgentStatus": E(),
    "faqEntries": E(lambda t: [{}, {"districtId": t.district_id}]),
    "supportFigures": E(),
    "sosAlert": E(lambda t: {"id": t.sos_id}),
    "sosAlerts": E(),
    "supportCall": E(lambda t: {"id": t.call_id}),
    "ringingCalls": E(),
    "iceServers": E(),
    "workOrder": E(lambda t: {"id": t.work_order_id}),
    "myWorkOrders": E(),
    "workOrderBoard": E(
        lambda t: [
            {"districtId": t.district_id, "overdueOnly": False},
            {"districtId": t.district_id, "communityId": t.community_id, "overdueOnly": False},
        ]
    ),
    "myWorkQueue": E(),
    "workOrderPool": E(),
    "returnVisitsDue": E(lambda t: {"districtId": t.district_id}),
    "fieldStaff": E(lambda t: {"districtId": t.district_id}),
    "workOrderFigures": E(
        lambda t: [
            {"districtId": t.district_id, "days": 30},
            {"districtId": t.district_id, "communityId": t.community_id, "days": 30},
        ]
    ),
    # Anyone logged in finds communities by name to say where they live: names only, never their addresses.
    "linkableCommunities": E(
        lambda t: [{}, {"search": t.spec.communities[0]}], echoes=lambda t: set(t.spec.communities)
    ),
    "myLinkRequest": E(),
    "pendingLinkRequests": E(),
    "staffPeople": E(),
    "staffPerson": E(lambda t: [{"id": t.steward_id}, {"id": t.resident_id}]),
    "votes": E(lambda t: [{}, {"communityId": t.community_id}]),
    "vote": E(lambda t: {"id": t.vote_id}),
    "careRecords": E(lambda t: [{}, {"communityId": t.community_id}]),
    "careRecord": E(lambda t: {"id": t.care_record_id}),
    "myCareRecord": E(),
    "myCheckin": E(),
    "checkinBoard": E(lambda t: [{}, {"communityId": t.community_id}]),
    "familyCheckins": E(),
    "assessment": E(
        lambda t: [
            {"districtId": t.district_id},
            {"districtId": t.district_id, "communityId": t.community_id},
        ]
    ),
    "satisfactionSurvey": E(),
}

MUTATIONS: dict[str, Entry] = {
    "createDistrict": E(
        lambda t: {
            "input": {
                "name": "伪造片区",
                "city": "上海",
                "operatorName": "伪造",
                "operatorPhone": "13912340000",
            }
        }
    ),
    "updateDistrict": E(
        lambda t: {
            "id": t.district_id,
            "input": {
                "name": "伪造片区",
                "city": "上海",
                "operatorName": "伪造",
                "operatorPhone": "13912340000",
            },
        }
    ),
    "createCommunity": E(
        lambda t: {
            "districtId": t.district_id,
            "input": {"name": "伪造小区", "address": "伪造路1号", "onDutyPhone": "13912340000"},
        }
    ),
    "updateCommunity": E(
        lambda t: {
            "id": t.community_id,
            "input": {"name": "伪造小区", "address": "伪造路1号", "onDutyPhone": "13912340000"},
        }
    ),
    "archiveDistrict": E(lambda t: {"id": t.district_id}),
    "archiveCommunity": E(lambda t: {"id": t.community_id}),
    "createBuilding": E(lambda t: {"communityId": t.community_id, "input": {"name": "伪造楼", "floors": 6}}),
    "updateBuilding": E(lambda t: {"id": t.building_id, "input": {"name": "伪造楼", "floors": 6}}),
    "archiveBuilding": E(lambda t: {"id": t.building_id}),
    "createUnit": E(
        lambda t: {
            "buildingId": t.building_id,
            "input": {"number": "9-909", "floor": 1, "floorArea": "50.00"},
        }
    ),
    "updateUnit": E(
        lambda t: {"id": t.unit_id, "input": {"number": "9-909", "floor": 1, "floorArea": "50.00"}}
    ),
    "archiveUnit": E(lambda t: {"id": t.unit_id}),
    # A JSON request cannot carry a file: the string stands for one, and the community is refused first.
    "previewEstateImport": E(lambda t: {"communityId": t.community_id, "file": "伪造.csv"}),
    "confirmEstateImport": E(lambda t: {"id": t.estate_import_id}),
    "discardEstateImport": E(lambda t: {"id": t.estate_import_id}),
    "createHousehold": E(lambda t: {"unitId": t.unit_id, "headName": "伪造"}),
    "updateHousehold": E(lambda t: {"id": t.household_id, "headName": "伪造"}),
    "archiveHousehold": E(lambda t: [{"id": t.household_id}, {"id": t.other_household_id}]),
    "addResident": E(
        lambda t: [
            {"householdId": t.household_id, "name": "伪造", "phone": uid_phone(), "relation": "OWNER"},
            {
                "householdId": t.household_id,
                "name": "伪造",
                "phone": t.other_resident_phone,
                "relation": "FAMILY",
            },
        ]
    ),
    # By design anyone in no household may ask to be linked to any home: the request is their own, grants
    # nothing, and waits for the community's steward; the answer repeats only the community's name.
    "requestHouseholdLink": E(
        lambda t: {
            "communityId": t.community_id,
            "building": t.building_name,
            "unit": t.unit_number,
            "name": "伪造",
            "relation": "OWNER",
        },
        by_design=frozenset({"link_request"}),
        echoes=lambda t: set(t.spec.communities),
    ),
    "cancelMyLinkRequest": E(),
    "confirmLinkRequest": E(lambda t: {"id": t.link_request_id}),
    "declineLinkRequest": E(lambda t: {"id": t.link_request_id, "reason": "伪造"}),
    "removeResident": E(lambda t: {"householdId": t.household_id, "personId": t.resident_id}),
    # A code is sent to whatever number is given (the answer echoes its masked form); nothing of the target shows.
    "requestLoginCode": E(
        lambda t: {"phone": t.resident_phone}, echoes=lambda t: {mask_phone("+86" + t.resident_phone)}
    ),
    "loginWithCode": E(lambda t: {"phone": t.resident_phone, "code": "000000", "sessionKind": "BEARER"}),
    "loginWithPassword": E(
        lambda t: {"phone": t.steward_phone, "password": "guessing-123", "sessionKind": "BEARER"}
    ),
    "loginWithCard": E(lambda t: {"token": t.card_used_token, "sessionKind": "BEARER"}),
    "loginAsDemoPerson": E(lambda t: {"phone": t.other_resident_phone, "sessionKind": "BEARER"}),
    "logout": E(ends_session=True),
    "logoutEverywhere": E(ends_session=True),
    "updatePreferences": E(),
    # By design anyone may ask to follow a resident's household by phone: the request is pending, grants
    # nothing, and the resident is told (a notification). The answer is the same for any number.
    "requestFamilyLink": E(
        lambda t: {"phone": t.resident_phone, "relation": "邻居"},
        by_design=frozenset({"family_link", "notification", "push_outbox"}),
    ),
    "respondFamilyLink": E(
        lambda t: [{"id": t.link_pending_id, "accept": True}, {"id": t.link_pending_id, "accept": False}]
    ),
    "removeFamilyLink": E(lambda t: [{"id": t.link_accepted_id}, {"id": t.link_pending_id}]),
    "markNotificationsRead": E(own_tables=frozenset({"notification"})),
    "issueLoginCard": E(lambda t: {"householdId": t.household_id, "personId": t.resident_id}),
    "revokeLoginCard": E(lambda t: {"id": t.card_id}),
    "issueLoginCards": E(
        lambda t: [
            {"communityId": t.community_id},
            {"communityId": t.community_id, "buildingId": t.building_id},
        ]
    ),
    "createFeePlan": E(
        lambda t: [
            {
                "name": "抢占",
                "phase": "market",
                "periodMonths": 1,
                "communityId": t.community_id,
                "items": [{"name": "物业费", "kind": "per_m2", "unitPriceFen": 1}],
            },
            {
                "name": "抢占",
                "phase": "market",
                "periodMonths": 1,
                "districtId": t.district_id,
                "items": [{"name": "物业费", "kind": "per_m2", "unitPriceFen": 1}],
            },
        ]
    ),
    "activateFeePlan": E(lambda t: {"id": t.fee_plan_id, "decisionRef": "伪造"}),
    "adoptPackage": E(
        lambda t: {
            "communityId": t.community_id,
            "planId": t.fee_plan_id,
            "package": "base",
            "decisionRef": "伪造",
        }
    ),
    "runBills": E(lambda t: {"communityId": t.community_id, "period": t.month}),
    "runDistrictBills": E(lambda t: {"districtId": t.district_id, "period": t.month}),
    "payBills": E(lambda t: {"billIds": [t.bill_id], "idempotencyKey": uid(), "method": "sandbox"}),
    "refreshPayment": E(lambda t: {"id": t.payment_id}),
    # Change nothing anywhere: the test app has no official account, and a state is this session's alone.
    "beginWechatPayerLink": E(lambda t: {"returnPath": "/bills"}),
    "linkWechatPayer": E(lambda t: {"code": "CODE", "state": "0000000000" + "0" * 32}),
    "startCounterPayment": E(lambda t: {"billIds": [t.bill_id], "idempotencyKey": uid()}),
    "recordOfficePayment": E(
        lambda t: {
            "billIds": [t.bill_id],
            "method": "cash",
            "amountFen": 100,
            "officeReceiptNo": uid("R"),
            "idempotencyKey": uid(),
        }
    ),
    "waiveBill": E(lambda t: {"id": t.bill_id, "reason": "伪造"}),
    "cancelBill": E(lambda t: {"id": t.bill_id, "reason": "伪造"}),
    "refundPayment": E(
        lambda t: {"id": t.payment_id, "amountFen": 1, "reason": "伪造", "idempotencyKey": uid()}
    ),
    "recordIncome": E(
        lambda t: {
            "communityId": t.community_id,
            "fund": "public_income",
            "amountFen": 100,
            "memo": "伪造",
            "attachmentRef": "",
        }
    ),
    "recordExpense": E(
        lambda t: {
            "communityId": t.community_id,
            "fund": "maintenance_fund",
            "amountFen": 100,
            "memo": "伪造",
            "attachmentRef": "",
        }
    ),
    "apportionSharedCost": E(
        lambda t: {"districtId": t.district_id, "amountFen": 10000, "key": "area", "memo": "伪造"}
    ),
    "createBriefing": E(
        lambda t: {"input": {"communityIds": [t.community_id], "title": "伪造简报"}, "mode": "NOW"}
    ),
    "updateBriefing": E(
        lambda t: {"id": t.briefing_id, "input": {"communityIds": [t.community_id], "title": "伪造"}}
    ),
    "publishBriefing": E(lambda t: {"id": t.briefing_id}),
    "createDisclosure": E(
        lambda t: {
            "communityId": t.community_id,
            "year": utcnow().astimezone(SHANGHAI).year - 1,
            "quarter": 1,
        }
    ),
    "addDisclosureSpending": E(
        lambda t: {
            "id": t.disclosure_id,
            "input": {"fund": "property_fee", "title": "伪造", "amountFen": 100},
        }
    ),
    "removeDisclosureLine": E(lambda t: {"lineId": t.disclosure_line_id}),
    "setDisclosureStaffShare": E(lambda t: {"id": t.disclosure_id, "costFen": 100, "key": "households"}),
    "publishDisclosure": E(lambda t: {"id": t.disclosure_id}),
    "correctDisclosure": E(lambda t: {"id": t.disclosure_id, "note": "伪造"}),
    "markDisclosureRead": E(lambda t: {"id": t.disclosure_id}),
    "askAboutDisclosureLine": E(
        lambda t: {"lineId": t.disclosure_line_id, "question": "伪造", "clientId": uid()}
    ),
    "withdrawBriefing": E(lambda t: {"id": t.briefing_id}),
    "markBriefingRead": E(lambda t: {"id": t.briefing_id}),
    "thankBriefing": E(lambda t: {"id": t.briefing_id}),
    # The attacker's own phone: their own rows only.
    "registerPushSubscription": E(
        lambda t: {
            "endpoint": f"https://push.example.test/own-{uid()}",
            "p256dh": push_keys()[0],
            "auth": push_keys()[1],
        },
        own_tables=frozenset({"push_subscription", "push_preference"}),
    ),
    "removePushSubscription": E(lambda t: {"endpoint": t.push_endpoint}),
    "setPushPreferences": E(
        lambda t: {"preferences": [{"kind": "CHAT", "enabled": False}]},
        own_tables=frozenset({"push_preference"}),
    ),
    "sendEmergencyNotice": E(
        lambda t: {"communityIds": [t.community_id], "kind": "WATER_CUT", "title": "伪造停水", "body": "伪造"}
    ),
    # The attacker's own choice: their own row only.
    "setReachChoice": E(
        lambda t: {"channels": ["SMS"], "callMe": False, "quietStart": "22:00", "quietEnd": "07:00"},
        own_tables=frozenset({"reach_choice"}),
    ),
    # No login: a link's token is the proof, and a forged one opens nothing.
    "openNotice": E(lambda t: [{"opened": "forged-token.sms"}, {"opened": f"{t.emergency_id}.push"}]),
    "markNoticeSeen": E(lambda t: {"noticeId": t.emergency_id}),
    # Only the attacker's own notices about that page: the target's climbs are untouched.
    "markPageSeen": E(lambda t: [{"path": "/bills"}, {"path": f"/support/sos/{t.emergency_id}"}]),
    "callUnreached": E(lambda t: {"noticeId": t.emergency_id}),
    "setReachCap": E(lambda t: {"communityId": t.community_id, "channel": "SMS", "monthly": 1}),
    "sendChatMessage": E(
        lambda t: [
            {"clientId": uid(), "body": "你好", "householdId": t.household_id},
            {"clientId": uid(), "body": "你好", "conversationId": t.conversation_id},
        ]
    ),
    "markChatSeen": E(lambda t: {"conversationId": t.conversation_id, "seq": 1, "read": True}),
    "claimConversation": E(lambda t: {"id": t.conversation_id}),
    "transferConversation": E(lambda t: {"id": t.conversation_id, "toPersonId": t.steward_id}),
    "closeConversation": E(lambda t: {"id": t.conversation_id}),
    "rateConversation": E(lambda t: {"id": t.conversation_id, "stars": 1, "comment": "差"}),
    "turnConversationIntoWorkOrder": E(
        lambda t: {"id": t.conversation_id, "category": "water", "kind": "repair"}
    ),
    # An agent's own availability: their own row only.
    "setAgentStatus": E(lambda t: {"online": True}, own_tables=frozenset({"support_agent_status"})),
    "saveFaqEntry": E(
        lambda t: [
            {"question": "伪造", "answer": "伪造", "keywords": "", "id": t.faq_id},
            {"question": "伪造", "answer": "伪造", "keywords": "", "districtId": t.district_id},
        ]
    ),
    "deleteFaqEntry": E(lambda t: {"id": t.faq_id}),
    "logStewardCall": E(lambda t: {"householdId": t.household_id}),
    "raiseSos": E(lambda t: {"householdId": t.household_id, "clientId": uid()}),
    "respondSos": E(lambda t: [{"id": t.sos_id, "resolve": False}, {"id": t.sos_id, "resolve": True}]),
    "cancelSos": E(lambda t: {"id": t.sos_id}),
    "startCall": E(
        lambda t: [
            {"video": False, "householdId": t.household_id, "toSteward": True},
            {"video": False, "conversationId": t.conversation_id, "toSteward": False},
        ]
    ),
    "answerCall": E(lambda t: {"id": t.call_id}),
    "hangUpCall": E(lambda t: {"id": t.call_id}),
    "sendCallSignal": E(lambda t: {"callId": t.call_id, "kind": "offer", "payload": "{}"}),
    "reportProblem": E(
        lambda t: [
            {
                "input": {
                    "clientId": uid(),
                    "category": "water",
                    "householdId": t.household_id,
                    "description": "伪造",
                }
            },
            {
                "input": {
                    "clientId": uid(),
                    "category": "water",
                    "communityId": t.community_id,
                    "place": "common",
                    "description": "伪造",
                    "source": "phone",
                }
            },
        ]
    ),
    "assignWorkOrder": E(lambda t: {"id": t.work_order_id, "assigneeId": t.steward_id, "note": ""}),
    "grabWorkOrder": E(lambda t: {"id": t.work_order_id}),
    "acceptWorkOrder": E(lambda t: {"id": t.work_order_id}),
    "transferWorkOrder": E(lambda t: {"id": t.work_order_id, "note": "伪造", "assigneeId": t.steward_id}),
    "startWorkOrder": E(lambda t: {"id": t.work_order_id}),
    "finishWorkOrder": E(lambda t: {"id": t.work_order_id, "note": "伪造"}),
    "addWorkOrderNote": E(lambda t: {"id": t.work_order_id, "note": "伪造"}),
    "confirmWorkOrder": E(lambda t: {"id": t.work_order_id, "rating": 1, "comment": "伪造"}),
    "reopenWorkOrder": E(lambda t: {"id": t.work_order_id, "note": "伪造"}),
    "cancelWorkOrder": E(lambda t: {"id": t.work_order_id, "note": "伪造"}),
    "escalateWorkOrder": E(lambda t: {"id": t.work_order_id, "note": "伪造"}),
    "recordReturnVisit": E(lambda t: {"id": t.work_order_id, "note": "伪造"}),
    "saveStaffProfile": E(
        lambda t: {
            "personId": t.steward_id,
            "skills": ["plumbing"],
            "communityIds": [t.community_id],
            "onDuty": True,
        }
    ),
    "grantStaffRole": E(
        lambda t: [
            {
                "input": {
                    "phone": t.steward_phone,
                    "name": "伪造",
                    "role": "steward",
                    "communityId": t.community_id,
                }
            },
            {"input": {"phone": "13912340001", "name": "伪造", "role": "agent", "districtId": t.district_id}},
        ],
    ),
    "revokeStaffRole": E(lambda t: {"grantId": t.steward_grant_id}),
    "issuePasswordSetup": E(lambda t: [{"personId": t.steward_id}, {"personId": t.resident_id}]),
    "setPasswordWithToken": E(
        lambda t: {"token": "forged-setup-token", "password": "a-long-enough-password"}
    ),
    # A code is texted to whatever number is given (the answer echoes its masked form); nothing of the target shows.
    "requestPasswordCode": E(
        lambda t: {"phone": t.steward_phone}, echoes=lambda t: {mask_phone("+86" + t.steward_phone)}
    ),
    "setPasswordWithCode": E(
        lambda t: {"phone": t.steward_phone, "code": "000000", "password": "a-long-enough-password"}
    ),
    "proposeVote": E(
        lambda t: {
            "input": {
                "communityId": t.community_id,
                "title": "伪造表决",
                "body": "",
                "matter": "RENEW_SERVICE",
                "deadline": (utcnow() + timedelta(days=7)).isoformat(),
                "feePlanId": t.fee_plan_id,
            }
        }
    ),
    "castBallot": E(lambda t: {"voteId": t.vote_id, "householdId": t.household_id, "choice": "NO"}),
    "recordPaperBallot": E(
        lambda t: {"voteId": t.vote_id, "householdId": t.other_household_id, "choice": "NO", "photoId": "1"}
    ),
    "recordVoteProxy": E(
        lambda t: {
            "voteId": t.vote_id,
            "householdId": t.household_id,
            "phone": t.resident_phone,
            "note": "伪造",
        }
    ),
    "certifyVote": E(lambda t: {"id": t.vote_id}),
    "registerSensorDevice": E(
        lambda t: {
            "input": {
                "householdId": t.household_id,
                "code": uid("LY"),
                "kind": "DOOR",
                "consentPersonId": t.resident_id,
                "consentMethod": "PHONE",
            }
        }
    ),
    "deregisterSensorDevice": E(lambda t: {"id": t.sensor_device_id}),
    "addCommunityCamera": E(
        lambda t: {"communityId": t.community_id, "name": "伪造", "url": "https://x.example/"}
    ),
    "removeCommunityCamera": E(lambda t: {"id": t.camera_id}),
    "giveCareConsent": E(lambda t: {"householdId": t.household_id}),
    "recordCareConsent": E(lambda t: {"residentId": t.other_resident_id, "photoId": "1"}),
    "withdrawCareConsent": E(lambda t: {"id": t.care_record_id}),
    "updateCareRecord": E(
        lambda t: {
            "id": t.care_record_id,
            "input": {"living": "ALONE", "mobility": "INDEPENDENT", "needs": [], "visitTimes": []},
        }
    ),
    "recordCareVisit": E(lambda t: {"recordId": t.care_record_id, "finding": "ALL_WELL", "note": "伪造"}),
    # The attacker's own check-in, if they live somewhere: their own plan and day, never the target's.
    "setUpCheckin": E(lambda t: {"windowEnd": 600}, own_tables=frozenset({"care_checkin_plan"})),
    "setUpCheckinFor": E(lambda t: {"residentId": t.resident_id, "windowEnd": 600}),
    "pauseCheckin": E(lambda t: {"days": 3}, own_tables=frozenset({"care_checkin_plan"})),
    "stopCheckin": E(own_tables=frozenset({"care_checkin_plan"})),
    "checkIn": E(
        lambda t: [{"how": "BUTTON"}, {"how": "FAMILY", "residentId": t.resident_id}],
        own_tables=frozenset({"care_checkin_day"}),
    ),
    "takeCheckin": E(lambda t: {"dayId": t.checkin_day_id}),
    "recordCheckinOutcome": E(lambda t: {"dayId": t.checkin_day_id, "outcome": "ALL_WELL"}),
    "answerSatisfactionSurvey": E(lambda t: {"householdId": t.household_id, "score": 3}),
}

REGISTRY: dict[str, dict[str, Entry]] = {"Query": QUERIES, "Mutation": MUTATIONS}


# --- documents generated from the schema -------------------------------------------------------------------


Tree = dict[str, Any]  # field name (or "... on Type") -> its own Tree, or None for a leaf


def selection_tree(type_: Any, depth: int, path: frozenset[str] = frozenset()) -> Tree | None:
    """Every field reachable within `depth` levels that needs no argument, each type once per path
    (a community's district's communities add nothing new); unions through fragments."""
    named = get_named_type(type_)
    if is_leaf_type(named):
        return None
    tree: Tree = {}
    if isinstance(named, GraphQLUnionType):
        tree["__typename"] = None
        for member in named.types:
            inner = selection_tree(member, depth, path)
            if inner:
                tree[f"... on {member.name}"] = inner
        return tree
    assert isinstance(named, GraphQLObjectType | GraphQLInterfaceType), named
    path = path | {named.name}
    for name, definition in named.fields.items():
        if any(
            is_non_null_type(arg.type) and arg.default_value is Undefined for arg in definition.args.values()
        ):
            continue
        target = get_named_type(definition.type)
        if is_leaf_type(target):
            tree[name] = None
        elif depth > 1 and target.name not in path:
            inner = selection_tree(target, depth - 1, path)
            if inner:
                tree[name] = inner
    return tree


def render(tree: Tree) -> str:
    parts = []
    for name, inner in tree.items():
        if inner is None:
            parts.append(name)
        elif inner:
            body = render(inner)
            if body:
                parts.append(f"{name} {{ {body} }}")
    return " ".join(parts)


def _subtrees(tree: Tree, name: str) -> list[Tree]:
    found = [tree[name]] if isinstance(tree.get(name), dict) else []
    for key, inner in tree.items():
        if key.startswith("... on ") and inner:
            found += _subtrees(inner, name)
    return found


def _remove(tree: Tree, name: str) -> None:
    tree.pop(name, None)
    for key, inner in list(tree.items()):
        if key.startswith("... on ") and inner:
            _remove(inner, name)


def prune(tree: Tree, path: list[Any]) -> bool:
    """Drop the field an error points at (a staff-only corner, say) so the rest can be asked again."""
    names = [p for p in path if isinstance(p, str)]
    if len(names) < 2:
        return False
    nodes = [tree]
    for name in names[:-1]:
        nodes = [inner for node in nodes for inner in _subtrees(node, name)]
    before = render(tree)
    for node in nodes:
        _remove(node, names[-1])
    return render(tree) != before


def tokens(document: str) -> int:
    lexer, n = Lexer(Source(document)), 0
    while lexer.advance().kind != TokenKind.EOF:
        n += 1
    return n


def field_tree(schema: GraphQLSchema, operation: str, field_name: str) -> Tree:
    definition = schema.get_type(operation).fields[field_name]
    for depth in (5, 4, 3, 2, 1):
        inner = selection_tree(definition.type, depth)
        if tokens(render({field_name: inner} if inner else {field_name: None})) < 1700:
            return {field_name: inner}
    raise AssertionError(f"no selection of {field_name} fits the token limit")


def document_for(
    schema: GraphQLSchema, operation: str, field_name: str, variables: dict, tree: Tree | None = None
) -> str:
    definition = schema.get_type(operation).fields[field_name]
    declared = ", ".join(f"${name}: {definition.args[name].type}" for name in variables)
    arguments = ", ".join(f"{name}: ${name}" for name in variables)
    tree = tree or field_tree(schema, operation, field_name)
    inner = tree[field_name]
    body = f"{field_name}{f'({arguments})' if arguments else ''}{f' {{ {render(inner)} }}' if inner else ''}"
    return f"{operation.lower()}{f' ({declared})' if declared else ''} {{ {body} }}"


# --- the test ----------------------------------------------------------------------------------------------


def schema_fields(app: Any) -> dict[str, list[str]]:
    schema = app.state.schema._schema  # noqa: SLF001
    return {operation: sorted(schema.get_type(operation).fields) for operation in REGISTRY}


def test_every_query_and_mutation_field_has_an_entry(app):
    missing = {op: [f for f in fields if f not in REGISTRY[op]] for op, fields in schema_fields(app).items()}
    stale = {op: [f for f in REGISTRY[op] if f not in fields] for op, fields in schema_fields(app).items()}
    assert not any(missing.values()), f"add these fields to the isolation registry: {missing}"
    assert not any(stale.values()), f"these registry entries name no field: {stale}"


def leaks(text: str, target: Target, allowed: set[str]) -> list[str]:
    return sorted(s for s in target.sensitive - allowed if s and s in text)


async def changed_rows(before: dict[str, dict], db: Any, tables: set[str]) -> dict[str, list[dict]]:
    after = {name: await rows_by_key(db, name) for name in tables}
    changed = {}
    for name in tables:
        old, new = before[name], after[name]
        rows = [new[k] for k in new.keys() - old.keys()] + [old[k] for k in old.keys() - new.keys()]
        rows += [new[k] for k in new.keys() & old.keys() if new[k] != old[k]]
        if rows:
            changed[name] = rows
    return changed


ATTACKS = [
    pytest.param(None, "A", id="anonymous-vs-xiushan"),
    pytest.param(RESIDENT_JINGJU, "A", id="resident-of-jingju-vs-xiushan"),
    pytest.param(OFFICIAL_ZHUJIAJIAO, "A", id="zhujiajiao-official-vs-xiushan"),
    pytest.param(STEWARD_XIUSHAN, "B", id="xiushan-steward-vs-tianping"),
    pytest.param(AGENT_NANNING, "B", id="nanning-agent-vs-tianping"),
]


@pytest.fixture
def quiet(monkeypatch):  # noqa: ANN001, ANN201
    """Hundreds of refusals are expected here; logging each with its traceback only costs time."""
    import logging

    monkeypatch.setattr(logging.getLogger("strawberry.execution"), "disabled", True)


async def attack(
    app: Any,
    gql: GraphQLClient,
    db: Any,
    written_tables: WrittenTables,
    attacker_phone: str | None,
    target: Target,
    only: set[str] | None = None,
) -> list[str]:
    """Run every registered field (or only some) as the attacker (None: nobody logged in) against the target;
    list what went wrong."""
    schema = app.state.schema._schema  # noqa: SLF001

    async def log_in() -> GraphQLClient:
        return await login_demo(gql, attacker_phone) if attacker_phone else gql.as_token(None)

    attacker = await log_in()
    problems: list[str] = []
    state = await snapshot(db)
    for operation, fields in schema_fields(app).items():
        for field_name in fields:
            if only is not None and field_name not in only:
                continue
            entry = REGISTRY[operation].get(field_name)
            if entry is None:
                problems.append(f"{field_name}: no registry entry")
                continue
            sets = entry.variables(target)
            for variables in sets if isinstance(sets, list) else [sets]:
                watched = entry.own_tables | entry.by_design
                rows_before = {name: await rows_by_key(db, name) for name in watched}
                tree = field_tree(schema, operation, field_name)
                written_tables.names.clear()
                # A query is asked again without the corners that refused it (a non-null error blanks the
                # whole answer): what is left must hold nothing either. A mutation runs once.
                for _ in range(12 if operation == "Query" else 1):
                    # When the attacker runs it against the target's objects
                    response = await attacker.http.post(
                        "/graphql",
                        json={
                            "query": document_for(schema, operation, field_name, variables, tree),
                            "variables": variables,
                        },
                        headers={
                            "Accept-Language": "zh-CN",
                            **({"Authorization": f"Bearer {attacker.token}"} if attacker.token else {}),
                        },
                    )
                    # Then the answer holds nothing of the target
                    if response.status_code != 200:
                        problems.append(
                            f"{field_name}{variables}: HTTP {response.status_code} {response.text[:200]}"
                        )
                        break
                    found = leaks(response.text, target, entry.echoes(target))
                    if found:
                        problems.append(f"{field_name}{variables}: leaks {found} in {response.text[:600]}")
                    errors = response.json().get("errors") or []
                    if invalid := [e["message"] for e in errors if not e.get("path")]:
                        problems.append(f"{field_name}: the generated document is not valid: {invalid}")
                    if not any([prune(tree, e["path"]) for e in errors if e.get("path")]):
                        break
                # And nothing changed, apart from the attacker's own rows where the entry allows it
                after = {**state, **await snapshot(db, written_tables.names - NOT_SNAPSHOTTED)}
                changed = {name for name in after if after[name] != state[name]}
                if changed - watched:
                    problems.append(f"{field_name}{variables}: changed {sorted(changed - watched)}")
                for name, rows in (await changed_rows(rows_before, db, changed & entry.own_tables)).items():
                    theirs = [row for row in rows if target.owns(row)]
                    if theirs:
                        problems.append(f"{field_name}: changed the target's {name} rows {theirs}")
                state = after
            if entry.ends_session or field_name.startswith("login"):
                attacker = await log_in()
                state = {**state, **await snapshot(db, written_tables.names - NOT_SNAPSHOTTED)}
    # And a full snapshot agrees with the one kept up to date request by request
    final = await snapshot(db)
    if unseen := sorted(name for name in final if final[name] != state[name]):
        problems.append(f"tables changed without a statement seen: {unseen}")
    return problems


@pytest.mark.parametrize("attacker_phone, target_key", ATTACKS)
async def test_nothing_of_another_community_leaks_or_changes(
    app, gql, db, attacker_phone, target_key, quiet, written_tables
):
    target = await prepare_target(target_key, gql, app, db)
    problems = await attack(app, gql, db, written_tables, attacker_phone, target)
    assert not problems, "\n".join(problems)


# --- the test can fail -------------------------------------------------------------------------------------


async def test_a_household_shown_to_a_stranger_is_caught(app, gql, db, quiet, written_tables, monkeypatch):
    # Given a scoping hole: any household is handed to anyone who asks
    target = await prepare_target("A", gql, app, db)
    from laoyou.estates import service as estates

    async def unscoped(session, *, actor, household_id):  # noqa: ANN001, ANN202
        return await session.get(estates.Household, household_id)

    monkeypatch.setattr(estates, "access_household", unscoped)
    # Then the isolation check reports the leak
    problems = await attack(app, gql, db, written_tables, RESIDENT_JINGJU, target, only={"household"})
    assert problems and all("leaks" in p for p in problems), problems
    assert any("LEAKA" in p for p in problems)


async def test_a_link_removed_by_a_stranger_is_caught(app, gql, db, quiet, written_tables, monkeypatch):
    # Given a scoping hole: anyone may act on any family link
    target = await prepare_target("A", gql, app, db)
    from laoyou.accounts import service as accounts

    async def unscoped(session, *, actor, link_id):  # noqa: ANN001, ANN202
        return await session.get(accounts.FamilyLink, link_id)

    monkeypatch.setattr(accounts, "access_family_link", unscoped)
    # Then the isolation check reports the change
    problems = await attack(app, gql, db, written_tables, RESIDENT_JINGJU, target, only={"removeFamilyLink"})
    assert any("changed" in p and "family_link" in p for p in problems), problems


async def test_the_target_is_really_visible_to_its_own_people(app, gql, db):
    """The markers are where the target's own steward can see them."""
    target = await prepare_target("A", gql, app, db)
    steward = await login_demo(gql, STEWARD_XIUSHAN)
    schema = app.state.schema._schema  # noqa: SLF001
    response = await steward.http.post(
        "/graphql",
        json={
            "query": document_for(
                schema,
                "Query",
                "household",
                {"id": target.household_id},
                {"household": {"id": None, "headName": None, "members": {"name": None}}},
            ),
            "variables": {"id": target.household_id},
        },
        headers={"Authorization": f"Bearer {steward.token}"},
    )
    assert leaks(response.text, target, set()), response.text[:500]
    assert re.search(r"LEAKA-p\d+", response.text)
