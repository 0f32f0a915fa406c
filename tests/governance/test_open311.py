"""Open311 GeoReport v2: the spec's answer shapes in JSON and XML, no personal data in public answers, filing
with a key (and refusals that change nothing), district scope, date filters and the key commands."""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from xml.etree import ElementTree

from sqlmodel import func, select

from laoyou.core.time import utcnow
from laoyou.estates.models import Community, District, Household, Unit
from laoyou.governance.open311 import service as open311
from laoyou.governance.open311.models import Open311Key
from laoyou.tickets.models import WorkOrder

from ..conftest import ADMIN
from ..test_cli import laoyou

BASE = "/open311/v2"
SERVICE_FIELDS = {"service_code", "service_name", "description", "metadata", "type", "keywords", "group"}
REQUEST_FIELDS = {
    "service_request_id",
    "status",
    "status_notes",
    "service_name",
    "service_code",
    "description",
    "agency_responsible",
    "service_notice",
    "requested_datetime",
    "updated_datetime",
    "expected_datetime",
    "address",
    "address_id",
    "zipcode",
}


async def district_of(db, name: str) -> tuple[int, int]:  # noqa: ANN001
    """The district and the id of the named community."""
    community = (await db.exec(select(Community).where(Community.name == name))).one()
    return community.district_id, community.id


async def make_key(db, community: str, kind: str) -> tuple[Open311Key, str]:  # noqa: ANN001
    district_id, _ = await district_of(db, community)
    made = await open311.do_create_key(session=db, district_id=district_id, kind=kind, by_phone=ADMIN)
    await db.commit()
    return made.key, made.secret


async def residents(db) -> tuple[set[str], set[str]]:  # noqa: ANN001
    """The reporters' names and phones, and the unit numbers of the households work orders name."""
    orders = list(await db.exec(select(WorkOrder)))
    people = {o.reporter_name for o in orders if o.reporter_name} | {
        o.reporter_phone[3:] for o in orders if o.reporter_phone
    }
    units = set(
        await db.exec(
            select(Unit.number)
            .join(Household, Household.unit_id == Unit.id)
            .where(Household.id.in_([o.household_id for o in orders if o.household_id]))
        )
    )
    assert people and units
    return people, units


def xml_items(text: str, root: str, item: str) -> list[dict]:
    tree = ElementTree.fromstring(text)
    assert tree.tag == root
    assert all(child.tag == item for child in tree)
    return [{field.tag: field.text or "" for field in child} for child in tree]


async def test_services_are_the_categories_in_json_and_xml(client):
    answer = await client.get(f"{BASE}/services.json")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("application/json")
    services = answer.json()
    assert isinstance(services, list)
    water = next(s for s in services if s["service_code"] == "water")
    assert set(water) == SERVICE_FIELDS
    assert water["metadata"] is False and water["type"] == "realtime" and water["service_name"] == "水管漏水"
    as_xml = xml_items((await client.get(f"{BASE}/services.xml")).text, "services", "service")
    assert [s["service_code"] for s in as_xml] == [s["service_code"] for s in services]
    assert next(s for s in as_xml if s["service_code"] == "water")["metadata"] == "false"
    # A format other than json or xml is not found.
    assert (await client.get(f"{BASE}/services.csv")).status_code == 404


async def test_public_requests_hold_no_personal_data_and_an_integration_key_sees_them(client, db):
    people, units = await residents(db)
    answer = await client.get(f"{BASE}/requests.json")
    assert answer.status_code == 200
    found = answer.json()
    assert found and all(set(r) == REQUEST_FIELDS for r in found)
    first = found[0]
    assert first["status"] in ("open", "closed") and isinstance(first["service_request_id"], str)
    assert first["requested_datetime"].endswith("+00:00")
    as_xml = (await client.get(f"{BASE}/requests.xml")).text
    for text in (answer.text, as_xml):
        assert not [p for p in people if p in text]
        assert not [u for u in units if u in text]
    assert [r["service_request_id"] for r in xml_items(as_xml, "service_requests", "request")] == [
        r["service_request_id"] for r in found
    ]
    # An integration key of 秀山花园's district sees its reporters; a public key does not.
    _, secret = await make_key(db, "秀山花园", "integration")
    private = (await client.get(f"{BASE}/requests.json", params={"api_key": secret})).json()
    own_ids = {r["service_request_id"] for r in private}
    assert own_ids and own_ids < {r["service_request_id"] for r in found}
    assert [p for p in people if any(p in (r.get("first_name", ""), r.get("phone", "")) for r in private)]
    # A public key reads open data of its own district only.
    _, public = await make_key(db, "秀山花园", "public")
    theirs = (await client.get(f"{BASE}/requests.json", params={"api_key": public})).json()
    assert theirs == [r for r in found if r["service_request_id"] in own_ids]
    # A wrong key is refused, in the spec's error shape.
    refused = await client.get(f"{BASE}/requests.json", params={"api_key": "wrong"})
    assert refused.status_code == 403 and refused.json() == [
        {"code": 403, "description": "api_key is not valid"}
    ]


async def test_a_key_of_one_district_reads_nothing_of_another(client, db):
    people, _ = await residents(db)
    xiushan_district, _ = await district_of(db, "秀山花园")
    other = (await db.exec(select(District).where(District.id != xiushan_district))).first()
    made = await open311.do_create_key(db, district_id=other.id, kind="integration", by_phone=ADMIN)
    await db.commit()
    xiushan_orders = list(
        await db.exec(select(WorkOrder.id).where(WorkOrder.district_id == xiushan_district))
    )
    ids = ",".join(str(i) for i in xiushan_orders)
    text = (
        await client.get(f"{BASE}/requests.json", params={"api_key": made.secret, "service_request_id": ids})
    ).text
    assert xiushan_orders and text == "[]"
    assert not [p for p in people if p in text]


async def test_one_request_is_an_array_of_one_or_a_404(client, db):
    order = (await db.exec(select(WorkOrder).order_by(WorkOrder.id))).first()
    one = await client.get(f"{BASE}/requests/{order.id}.json")
    assert one.status_code == 200
    assert [r["service_request_id"] for r in one.json()] == [str(order.id)]
    as_xml = xml_items(
        (await client.get(f"{BASE}/requests/{order.id}.xml")).text, "service_requests", "request"
    )
    assert [r["service_request_id"] for r in as_xml] == [str(order.id)]
    missing = await client.get(f"{BASE}/requests/999999.xml")
    assert missing.status_code == 404
    assert xml_items(missing.text, "errors", "error") == [
        {"code": "404", "description": "service_request_id not found"}
    ]


async def test_date_and_status_filters(client, db):
    order = (await db.exec(select(WorkOrder).order_by(WorkOrder.id))).first()
    order.created_at = utcnow() - timedelta(days=200)
    db.add(order)
    await db.commit()
    recent = {r["service_request_id"] for r in (await client.get(f"{BASE}/requests.json")).json()}
    assert str(order.id) not in recent  # the default window is the last 90 days
    start = (utcnow() - timedelta(days=201)).isoformat()
    end = (utcnow() - timedelta(days=199)).isoformat()
    old = (await client.get(f"{BASE}/requests.json", params={"start_date": start, "end_date": end})).json()
    # (the demo's year of assessment history has other orders of that time)
    assert str(order.id) in [r["service_request_id"] for r in old]
    is_open = (await client.get(f"{BASE}/requests.json", params={"status": "open"})).json()
    assert is_open and {r["status"] for r in is_open} == {"open"}
    code = next(r["service_code"] for r in is_open)
    of_code = (await client.get(f"{BASE}/requests.json", params={"service_code": code})).json()
    assert of_code and {r["service_code"] for r in of_code} == {code}
    bad = await client.get(f"{BASE}/requests.json", params={"start_date": "yesterday"})
    assert bad.status_code == 400 and bad.json()[0]["code"] == 400


async def count_orders(db) -> int:  # noqa: ANN001
    return (await db.exec(select(func.count()).select_from(WorkOrder))).one()


async def test_filing_with_a_key_makes_one_work_order_and_refusals_change_nothing(client, db):
    key, secret = await make_key(db, "秀山花园", "public")
    _, community_id = await district_of(db, "秀山花园")
    form = {
        "service_code": "lighting",
        "description": "3号楼楼道灯不亮",
        "address_string": "3号楼 二楼楼道",
        "attribute[community]": str(community_id),
        "first_name": "市民",
        "phone": "13912340000",
    }
    before = await count_orders(db)
    # Refused: no key, a wrong key, an unknown or missing service, a community the key does not cover, no words
    refusals = [
        ({**form}, 403),
        ({**form, "api_key": "o311_wrong"}, 403),
        ({**form, "api_key": secret, "service_code": "unicorns"}, 400),
        ({**form, "api_key": secret, "service_code": ""}, 400),
        ({**form, "api_key": secret, "attribute[community]": "999999"}, 400),
        ({**form, "api_key": secret, "description": ""}, 400),
    ]
    for data, status in refusals:
        refused = await client.post(f"{BASE}/requests.json", data=data)
        assert refused.status_code == status, (data, refused.text)
        assert set(refused.json()[0]) == {"code", "description"} and refused.json()[0]["code"] == status
    assert await count_orders(db) == before
    # Filed with a good key: one work order, answered per the spec
    filed = await client.post(f"{BASE}/requests.json", data={**form, "api_key": secret})
    assert filed.status_code == 201, filed.text
    [answer] = filed.json()
    assert set(answer) == {"service_request_id", "service_notice", "account_id"}
    assert await count_orders(db) == before + 1
    order = await db.get(WorkOrder, int(answer["service_request_id"]))
    await db.refresh(order)
    assert (order.community_id, order.category, order.place_note) == (
        community_id,
        "lighting",
        "3号楼 二楼楼道",
    )
    # Public reads show it without the caller's name or phone
    shown = (await client.get(f"{BASE}/requests/{order.id}.json")).text
    assert "3号楼楼道灯不亮" in shown and "市民" not in shown and "13912340000" not in shown
    # Nor a number or address typed into the words, which the operator's integration still reads
    said = await client.post(
        f"{BASE}/requests.json",
        data={**form, "api_key": secret, "description": "灯不亮，请打 139-1234-5678 或写信 wang@example.com"},
    )
    said_id = said.json()[0]["service_request_id"]
    [public] = (await client.get(f"{BASE}/requests/{said_id}.json")).json()
    assert public["description"] == "灯不亮，请打 *** 或写信 ***"
    _, own = await make_key(db, "秀山花园", "integration")
    [private] = (await client.get(f"{BASE}/requests/{said_id}.json", params={"api_key": own})).json()
    assert "139-1234-5678" in private["description"] and "wang@example.com" in private["description"]
    # As XML too
    as_xml = await client.post(f"{BASE}/requests.xml", data={**form, "api_key": secret})
    assert xml_items(as_xml.text, "service_requests", "request")[0]["service_request_id"].isdigit()
    # A revoked key is refused
    await open311.do_revoke_key(db, key_id=key.id)
    await db.commit()
    revoked = await client.post(f"{BASE}/requests.json", data={**form, "api_key": secret})
    assert revoked.status_code == 403
    assert await count_orders(db) == before + 3


async def test_a_key_cannot_file_into_another_district(client, db):
    _, secret = await make_key(db, "秀山花园", "integration")
    xiushan_district, _ = await district_of(db, "秀山花园")
    elsewhere = (await db.exec(select(Community).where(Community.district_id != xiushan_district))).first()
    before = await count_orders(db)
    refused = await client.post(
        f"{BASE}/requests.json",
        data={
            "api_key": secret,
            "service_code": "water",
            "description": "伪造",
            "attribute[community]": str(elsewhere.id),
        },
    )
    assert refused.status_code == 400
    assert await count_orders(db) == before


def test_the_key_commands_print_a_key_once_and_revoke_it(tmp_path):
    assert laoyou("migrate", data_dir=tmp_path).returncode == 0
    with sqlite3.connect(tmp_path / "laoyou.sqlite3") as db:
        db.execute(
            "INSERT INTO district (name, city, operator_name, operator_phone, contract_model, created_at)"
            " VALUES ('秀山片区', '上海', '老友', '+8613900000000', 'joint_tender', '2026-01-01 00:00:00')"
        )
        db.execute(
            "INSERT INTO community (district_id, name, address, on_duty_phone, created_at)"
            " VALUES (1, '秀山小区', '秀山路1号', '+8613900000001', '2026-01-01 00:00:00')"
        )
    admin = ("create-admin", "--phone", "13912345678", "--name", "管理员", "--password", "a-long-password")
    assert laoyou(*admin, data_dir=tmp_path).returncode == 0
    made = laoyou(
        "open311-key",
        "create",
        "--district",
        "1",
        "--kind",
        "integration",
        "--by",
        "13912345678",
        data_dir=tmp_path,
    )
    assert made.returncode == 0, made.stderr
    secret = made.stdout.strip().splitlines()[-1]
    assert secret.startswith("o311_")
    with sqlite3.connect(tmp_path / "laoyou.sqlite3") as db:
        (stored, kind, revoked) = db.execute("SELECT key_hash, kind, revoked_at FROM open311_key").fetchone()
    assert secret not in stored and kind == "integration" and revoked is None
    wrong = laoyou(
        "open311-key",
        "create",
        "--district",
        "9",
        "--kind",
        "public",
        "--by",
        "13912345678",
        data_dir=tmp_path,
    )
    assert wrong.returncode == 2 and "No district 9" in wrong.stderr
    assert laoyou("open311-key", "revoke", "1", data_dir=tmp_path).returncode == 0
    with sqlite3.connect(tmp_path / "laoyou.sqlite3") as db:
        assert db.execute("SELECT revoked_at FROM open311_key").fetchone()[0] is not None
        assert db.execute("SELECT count(*) FROM open311_key").fetchone()[0] == 1
