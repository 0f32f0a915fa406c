"""The district pages: the admin adds a district and goes straight on to its first community, changes it and
archives it after a confirm step; a household is archived the same way. Mistakes show on the page."""

from __future__ import annotations

import re

from sqlalchemy import func, select

from laoyou.accounts.models import Role, RoleGrant
from laoyou.estates.models import Community, District, Household

from ..conftest import ADMIN, STEWARD_XIUSHAN, login_demo
from ..web.conftest import csrf_in, log_in
from .test_archive_more import new_household
from .test_onboarding import community_id
from .test_pages import log_in_as

DISTRICT_FORM = {
    "name": "静安区共和新路片区",
    "city": "上海市静安区",
    "operator_name": "静安物业",
    "operator_phone": "13912345678",
}


async def _count(db, model) -> int:  # noqa: ANN001
    return await db.scalar(select(func.count()).select_from(model))


async def test_the_admin_adds_a_district_then_its_first_community(client, db):
    await log_in(client, ADMIN)
    client.headers["Accept-Language"] = "en"
    index = await client.get("/staff/estates")
    assert "Add a district" in index.text
    created = await client.post(
        "/staff/estates/districts", data={"csrf_token": csrf_in(index.text), **DISTRICT_FORM}
    )
    assert created.status_code == 303, created.text
    district_url = created.headers["location"].split("?")[0]
    page = await client.get(created.headers["location"])
    assert "The district is added. Now add its first community." in page.text
    assert 'id="add-community"' in page.text and "静安物业" in page.text

    communities = await _count(db, Community)
    added = await client.post(
        district_url + "/communities",
        data={
            "csrf_token": csrf_in(page.text),
            "name": "共和新村",
            "address": "共和新路100弄",
            "on_duty_phone": "13912345679",
            "built_year": "",
        },
    )
    assert added.status_code == 303, added.text
    assert added.headers["location"].startswith("/staff/estates/communities/")
    assert await _count(db, Community) == communities + 1


async def test_the_admin_changes_a_district_and_mistakes_change_nothing(client, db):
    await log_in(client, ADMIN)
    client.headers["Accept-Language"] = "en"
    index = await client.get("/staff/estates")
    created = await client.post(
        "/staff/estates/districts", data={"csrf_token": csrf_in(index.text), **DISTRICT_FORM}
    )
    district_url = created.headers["location"].split("?")[0]
    district_id = int(district_url.rsplit("/", 1)[1])
    token = csrf_in(index.text)

    wrong = await client.post(
        district_url, data={"csrf_token": token, **DISTRICT_FORM, "operator_phone": "12"}
    )
    assert wrong.status_code == 400 and 'role="alert"' in wrong.text
    assert (await db.get(District, district_id)).operator_phone == "+8613912345678"

    saved = await client.post(district_url, data={"csrf_token": token, **DISTRICT_FORM, "name": "共和片区"})
    assert saved.status_code == 303 and saved.headers["location"].endswith("?saved=1")
    row = await db.get(District, district_id)
    await db.refresh(row)
    assert row.name == "共和片区"

    empty = await client.post(
        "/staff/estates/districts", data={"csrf_token": token, **DISTRICT_FORM, "name": " "}
    )
    assert empty.status_code == 400 and "Please fill this in." in empty.text


async def test_a_district_is_archived_after_a_confirm_step_and_refused_while_it_has_communities(client, db):
    await log_in(client, ADMIN)
    client.headers["Accept-Language"] = "en"
    index = await client.get("/staff/estates")
    xinfeng = re.search(r'id="district-(\d+)">[^<]*</h2>', index.text).group(1)
    confirm = await client.get(f"/staff/estates/districts/{xinfeng}/archive")
    assert confirm.status_code == 200 and "Yes, archive" in confirm.text
    refused = await client.post(
        f"/staff/estates/districts/{xinfeng}/archive", data={"csrf_token": csrf_in(confirm.text)}
    )
    assert refused.status_code == 400 and "Please archive its communities first." in refused.text
    assert (await db.get(District, int(xinfeng))).archived_at is None

    created = await client.post(
        "/staff/estates/districts", data={"csrf_token": csrf_in(index.text), **DISTRICT_FORM}
    )
    empty = created.headers["location"].split("?")[0]
    done = await client.post(empty + "/archive", data={"csrf_token": csrf_in(index.text)})
    assert done.status_code == 303 and done.headers["location"] == "/staff/estates?archived=1"
    assert f'href="{empty}"' not in (await client.get("/staff/estates")).text


async def test_stewards_get_no_district_forms_and_404_on_district_pages(client, db):
    await log_in(client, STEWARD_XIUSHAN)
    client.headers["Accept-Language"] = "en"
    index = await client.get("/staff/estates")
    assert "Add a district" not in index.text and "/staff/estates/districts/" not in index.text
    token = csrf_in(index.text)
    districts = await _count(db, District)
    refused = await client.post("/staff/estates/districts", data={"csrf_token": token, **DISTRICT_FORM})
    assert refused.status_code == 404
    assert await _count(db, District) == districts


async def test_a_household_is_archived_after_a_confirm_step(gql, client, db):
    steward = await login_demo(gql, STEWARD_XIUSHAN)
    xiushan = await community_id(steward, "秀山花园")
    household, _ = await new_household(steward, xiushan)
    await log_in_as(client, STEWARD_XIUSHAN)
    client.headers["Accept-Language"] = "en"
    listed = await client.get(f"/staff/communities/{xiushan}/households")
    assert f'href="/staff/estates/households/{household}/archive"' in listed.text
    confirm = await client.get(f"/staff/estates/households/{household}/archive")
    assert confirm.status_code == 200 and "when its home is gone" in confirm.text
    done = await client.post(
        f"/staff/estates/households/{household}/archive", data={"csrf_token": csrf_in(confirm.text)}
    )
    assert done.status_code == 303
    assert done.headers["location"] == f"/staff/communities/{xiushan}/households?archived=1"
    assert (await db.get(Household, int(household))).archived_at is not None
    after = await client.get(done.headers["location"])
    assert "Archived." in after.text and f"/staff/estates/households/{household}/archive" not in after.text


async def test_a_household_where_people_live_shows_why_it_is_not_archived(client, db):
    lived_in = await db.scalar(
        select(RoleGrant.household_id)
        .where(RoleGrant.role == Role.resident.value, RoleGrant.revoked_at.is_(None))
        .order_by(RoleGrant.id)
        .limit(1)
    )
    await log_in_as(client, ADMIN)
    client.headers["Accept-Language"] = "en"
    confirm = await client.get(f"/staff/estates/households/{lived_in}/archive")
    assert confirm.status_code == 200 and "Still here:" in confirm.text
    refused = await client.post(
        f"/staff/estates/households/{lived_in}/archive", data={"csrf_token": csrf_in(confirm.text)}
    )
    assert refused.status_code == 400
    assert "People still live in this household. Please take them off first." in refused.text
    assert (await db.get(Household, lived_in)).archived_at is None
