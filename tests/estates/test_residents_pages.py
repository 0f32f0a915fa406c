"""The steward's "who lives here" page as a phone without JavaScript: add a person, take them off; a mistake
is shown on the form and changes nothing; a steward of another district finds no such page."""

from __future__ import annotations

import re

from sqlalchemy import func, select

from laoyou.accounts.models import Person, RoleGrant

from ..accounts.helpers import e164
from ..conftest import RESIDENT_XIUSHAN, STEWARD_XIUSHAN, STEWARD_ZHUJIAJIAO
from ..web.conftest import csrf_in, log_in

NEW_PHONE = "13900001234"


async def home_of(db, phone: str) -> RoleGrant:  # noqa: ANN001
    person = await db.scalar(select(Person).where(Person.phone == e164(phone)))
    return await db.scalar(
        select(RoleGrant).where(RoleGrant.person_id == person.id, RoleGrant.role == "resident")
    )


async def live_grants(db) -> int:  # noqa: ANN001
    return await db.scalar(select(func.count()).select_from(RoleGrant).where(RoleGrant.revoked_at.is_(None)))


async def test_a_steward_adds_a_person_and_takes_them_off(client, db):
    home = await home_of(db, RESIDENT_XIUSHAN)
    await log_in(client, STEWARD_XIUSHAN)
    client.headers["Accept-Language"] = "en"
    households = await client.get(f"/staff/communities/{home.community_id}/households")
    url = f"/staff/households/{home.household_id}/residents"
    assert f'href="{url}"' in households.text

    page = await client.get(url)
    assert page.status_code == 200 and "Add a person to this home" in page.text
    added = await client.post(
        url,
        data={"csrf_token": csrf_in(page.text), "name": "钱大爷", "phone": NEW_PHONE, "relation": "TENANT"},
    )
    assert added.status_code == 303 and added.headers["location"] == url
    page = await client.get(url)
    assert "钱大爷" in page.text

    person_id = await db.scalar(select(Person.id).where(Person.phone == e164(NEW_PHONE)))
    remove = f"{url}/{person_id}/remove"
    assert f'action="{remove}"' in page.text
    removed = await client.post(remove, data={"csrf_token": csrf_in(page.text)})
    assert removed.status_code == 303
    assert "钱大爷" not in (await client.get(url)).text


async def test_family_added_by_the_steward_are_listed_and_taken_off(client, db):
    home = await home_of(db, RESIDENT_XIUSHAN)
    await log_in(client, STEWARD_XIUSHAN)
    url = f"/staff/households/{home.household_id}/residents"
    page = await client.get(url)
    added = await client.post(
        url,
        data={"csrf_token": csrf_in(page.text), "name": "钱小妹", "phone": NEW_PHONE, "relation": "FAMILY"},
    )
    assert added.status_code == 303
    page = await client.get(url)
    person_id = await db.scalar(select(Person.id).where(Person.phone == e164(NEW_PHONE)))
    remove = f"{url}/{person_id}/remove"
    assert "钱小妹" in page.text and f'action="{remove}"' in page.text
    assert (await client.post(remove, data={"csrf_token": csrf_in(page.text)})).status_code == 303
    assert "钱小妹" not in (await client.get(url)).text


async def test_a_mistake_is_shown_on_the_form_and_changes_nothing(client, db):
    home = await home_of(db, RESIDENT_XIUSHAN)
    await log_in(client, STEWARD_XIUSHAN)
    client.headers["Accept-Language"] = "zh-CN"
    url = f"/staff/households/{home.household_id}/residents"
    page = await client.get(url)
    before = await live_grants(db)
    answer = await client.post(
        url, data={"csrf_token": csrf_in(page.text), "name": "钱大爷", "phone": "12345", "relation": "OWNER"}
    )
    assert answer.status_code == 400
    error = re.search(r'<p class="error" role="alert">([^<]+)</p>', answer.text).group(1)
    assert not error.isascii() and 'value="钱大爷"' in answer.text
    assert await live_grants(db) == before


async def test_a_steward_of_another_district_finds_no_such_page(client, db):
    home = await home_of(db, RESIDENT_XIUSHAN)
    await log_in(client, STEWARD_ZHUJIAJIAO)
    url = f"/staff/households/{home.household_id}/residents"
    assert (await client.get(url)).status_code == 404
    before = await live_grants(db)
    page = await client.get("/")
    answer = await client.post(
        url, data={"csrf_token": csrf_in(page.text), "name": "伪造", "phone": NEW_PHONE, "relation": "OWNER"}
    )
    assert answer.status_code == 404
    assert await live_grants(db) == before
