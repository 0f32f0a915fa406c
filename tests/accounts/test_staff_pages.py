"""The staff pages as a phone without JavaScript: the admin gives a role, takes it away and makes a password
setup link; the new staff member sets their password on the public page; nobody else opens the staff pages."""

from __future__ import annotations

import re
from urllib.parse import urlparse

from ..conftest import ADMIN, RESIDENT_XIUSHAN, STEWARD_XIUSHAN
from ..web.conftest import csrf_in, log_in


async def log_in_as(client, phone: str) -> None:  # noqa: ANN001
    client.cookies.clear()
    await log_in(client, phone)


def _scope(html: str, community: str) -> str:
    return re.search(r'<option value="(c:\d+)"[^>]*>[^<]*· ' + community + "</option>", html).group(1)


async def test_the_admin_gives_a_role_makes_a_setup_link_and_takes_the_role_away(client):
    await log_in(client, ADMIN)
    client.headers["Accept-Language"] = "en"
    assert 'href="/staff/people"' in (await client.get("/")).text
    index = await client.get("/staff/people")
    assert index.status_code == 200 and "张建国" in index.text
    form = {
        "csrf_token": csrf_in(index.text),
        "phone": "13987654321",
        "name": "钱新",
        "role": "steward",
        "scope": _scope(index.text, "秀山花园"),
    }
    created = await client.post("/staff/people", data=form)
    assert created.status_code == 303, created.text
    person_url = created.headers["location"]
    page = await client.get(person_url)
    assert page.status_code == 200 and "钱新" in page.text and "role given" in page.text

    issued = await client.post(person_url + "/password", data={"csrf_token": csrf_in(page.text)})
    assert issued.status_code == 200
    link = urlparse(re.search(r'readonly value="([^"]+)"', issued.text).group(1).replace("&amp;", "&"))
    assert link.path == "/password/set"

    grant_id = re.search(r'name="grant_id" value="(\d+)"', page.text).group(1)
    revoked = await client.post(
        person_url + "/revoke", data={"csrf_token": csrf_in(page.text), "grant_id": grant_id}
    )
    assert revoked.status_code == 303
    page = await client.get(person_url)
    assert "taken away" in page.text and "role taken away" in page.text

    # The new staff member, on their own phone, sets the password from the link.
    client.cookies.clear()
    form_page = await client.get(f"{link.path}?{link.query}")
    assert form_page.status_code == 200
    token = re.search(r'name="token" value="([^"]+)"', form_page.text).group(1)
    short = await client.post(
        "/password/set", data={"csrf_token": csrf_in(form_page.text), "token": token, "password": "short"}
    )
    assert short.status_code == 400 and "at least 10 characters" in short.text
    done = await client.post(
        "/password/set",
        data={"csrf_token": csrf_in(form_page.text), "token": token, "password": "a-long-enough-password"},
    )
    assert done.status_code == 200 and "Your password is set, 钱新" in done.text
    again = await client.post(
        "/password/set",
        data={"csrf_token": csrf_in(form_page.text), "token": token, "password": "a-long-enough-password"},
    )
    assert again.status_code == 400 and "This link no longer works" in again.text


async def test_a_form_mistake_shows_on_the_page(client):
    await log_in(client, ADMIN)
    client.headers["Accept-Language"] = "zh-CN"
    index = await client.get("/staff/people")
    form = {"csrf_token": csrf_in(index.text), "phone": "123", "name": "钱新", "role": "steward", "scope": ""}
    refused = await client.post("/staff/people", data=form)
    assert refused.status_code == 400 and 'role="alert"' in refused.text


async def test_only_the_admin_opens_the_staff_pages(client):
    for phone in (STEWARD_XIUSHAN, RESIDENT_XIUSHAN):
        await log_in_as(client, phone)
        assert 'href="/staff/people"' not in (await client.get("/")).text
        assert (await client.get("/staff/people")).status_code == 404
    client.cookies.clear()
    assert (await client.get("/staff/people")).status_code in (303, 307)
