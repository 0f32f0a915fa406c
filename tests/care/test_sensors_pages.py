"""The sensor pages: the steward registers a sensor through the form (the password shown once, on a page kept
nowhere), sees a community's sensors and cameras, adds and removes a camera; a resident opens none of them."""

from __future__ import annotations

import re

from sqlalchemy import select

from laoyou.care.sensors.models import SensorDevice
from laoyou.graphql.types import encode_id

from ..conftest import RESIDENT_XIUSHAN, STEWARD_XIUSHAN, login_demo
from ..tickets.helpers import jpeg
from .helpers import home_of

CSRF = "page-csrf-token-sensors"


def as_person(token: str) -> dict:
    return {
        "headers": {
            "Authorization": f"Bearer {token}",
            "Accept-Language": "en",
            "Cookie": f"laoyou_csrf={CSRF}",
        }
    }


async def test_the_steward_registers_a_sensor_through_the_form(gql, client, db):
    home = await home_of(db, RESIDENT_XIUSHAN)
    steward = await login_demo(gql, STEWARD_XIUSHAN)
    url = f"/staff/sensors/households/{encode_id(home.household_id)}"
    page = await client.get(url, **as_person(steward.token))
    assert page.status_code == 200 and "Register a sensor" in page.text and "LY-WL-0001" in page.text
    form = {
        "csrf_token": CSRF,
        "code": "LY-GS-7001",
        "kind": "GAS",
        "label": "厨房",
        "consenter": encode_id(home.person_id),
        "method": "PHONE",
        "hours": "12",
    }
    # A mistake is said on the form and keeps what was typed
    wrong = await client.post(url, **as_person(steward.token), data={**form, "consenter": ""})
    assert (
        wrong.status_code == 400
        and "Choose who in the home agreed" in wrong.text
        and "LY-GS-7001" in wrong.text
    )
    done = await client.post(url, **as_person(steward.token), data=form)
    assert done.status_code == 200 and "The password is shown only this once" in done.text
    assert done.headers["cache-control"] == "no-store"
    assert re.search(r"laoyou/ly-gs-7001-[0-9a-f]{6}/event", done.text)
    # The home's page lists it, without the password, and takes it off
    listed = await client.get(url, **as_person(steward.token))
    assert "LY-GS-7001" in listed.text
    device_id = re.search(r'devices/([^/"]+)/deregister', listed.text.split("LY-GS-7001")[1]).group(1)
    off = await client.post(
        f"{url}/devices/{device_id}/deregister", **as_person(steward.token), data={"csrf_token": CSRF}
    )
    assert off.status_code == 303
    assert "LY-GS-7001" not in (await client.get(url, **as_person(steward.token))).text


async def test_cameras_on_the_community_pages_for_staff_only(gql, client, db):
    home = await home_of(db, RESIDENT_XIUSHAN)
    community = encode_id(home.community_id)
    steward = await login_demo(gql, STEWARD_XIUSHAN)
    url = f"/staff/sensors/communities/{community}"
    page = await client.get(url, **as_person(steward.token))
    assert page.status_code == 200 and "东门" in page.text and "LY-DR-0001" in page.text
    bad = await client.post(
        f"{url}/cameras",
        **as_person(steward.token),
        data={"csrf_token": CSRF, "name": "北门", "url": "ftp://x"},
    )
    assert bad.status_code == 400 and "https://" in bad.text
    added = await client.post(
        f"{url}/cameras",
        **as_person(steward.token),
        data={"csrf_token": CSRF, "name": "北门", "url": "https://cam.example.cn/north.jpg"},
    )
    assert added.status_code == 303
    estate = await client.get(f"/staff/estates/communities/{community}", **as_person(steward.token))
    assert "https://cam.example.cn/north.jpg" in estate.text and "Cameras over shared areas" in estate.text
    camera_id = re.search(
        r'cameras/([^/"]+)/remove"', (await client.get(url, **as_person(steward.token))).text
    )
    removed = await client.post(
        f"{url}/cameras/{camera_id.group(1)}/remove", **as_person(steward.token), data={"csrf_token": CSRF}
    )
    assert removed.status_code == 303
    # A resident opens none of it
    resident = await login_demo(gql, RESIDENT_XIUSHAN)
    for path in (url, f"/staff/sensors/households/{encode_id(home.household_id)}"):
        refused = await client.get(path, **as_person(resident.token))
        assert refused.status_code in (403, 404) and "cam.example.cn" not in refused.text


async def test_consent_on_paper_keeps_the_forms_photo(gql, client, db):
    home = await home_of(db, RESIDENT_XIUSHAN)
    steward = await login_demo(gql, STEWARD_XIUSHAN)
    url = f"/staff/sensors/households/{encode_id(home.household_id)}"
    form = {
        "csrf_token": CSRF,
        "community_id": encode_id(home.community_id),
        "code": "LY-SM-8001",
        "kind": "SMOKE",
        "consenter": encode_id(home.person_id),
        "method": "PAPER",
        "hours": "12",
    }
    without = await client.post(url, **as_person(steward.token), data=form)
    assert without.status_code == 400 and "Add a photo of the signed consent form" in without.text
    done = await client.post(
        url, **as_person(steward.token), data=form, files={"photo": ("form.jpg", jpeg(), "image/jpeg")}
    )
    assert done.status_code == 200 and "The password is shown only this once" in done.text
    row = await db.scalar(select(SensorDevice).where(SensorDevice.code == "LY-SM-8001"))
    assert row.consent_method == "paper" and row.consent_photo_id is not None
    assert "on paper" in (await client.get(url, **as_person(steward.token))).text
