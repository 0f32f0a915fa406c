"""The PWA's form posts: CSRF on every form, and the login pages end to end, as a phone without JavaScript."""

from __future__ import annotations

import re

import pytest
from markupsafe import escape
from sqlalchemy import func, select

from laoyou.accounts.models import FamilyLink, LoginCode, Person
from laoyou.core import i18n

from ..accounts.helpers import sent_code, wrong_code
from ..conftest import RESIDENT_XIUSHAN, STEWARD_XIUSHAN
from .conftest import csrf_in, log_in, open_page


async def count(db, model, *where) -> int:  # noqa: ANN001
    return (await db.execute(select(func.count()).select_from(model).where(*where))).scalar_one()


# --- CSRF ------------------------------------------------------------------------------------------------


async def test_login_page_gives_a_csrf_cookie_matching_its_forms(client):
    html = await open_page(client, "/login")
    assert client.cookies["laoyou_csrf"] == csrf_in(html)
    assert len(set(re.findall(r'name="csrf_token" value="([^"]+)"', html))) == 1


@pytest.mark.parametrize("supplied", [None, "", "not-the-token"])
async def test_settings_post_without_the_token_is_refused(client, db, supplied):
    # Given a logged-in resident on the settings page
    await log_in(client, RESIDENT_XIUSHAN)
    await open_page(client, "/settings")
    form = {"language": "en", "text_size": "largest"}
    if supplied is not None:
        form["csrf_token"] = supplied
    # When the form is posted without its token (as a page on another site would)
    response = await client.post("/settings", data=form)
    # Then it is refused and nothing changed, neither the person nor the cookies
    assert response.status_code == 403
    person = (
        await db.execute(
            select(Person.language, Person.text_size).where(Person.phone == "+86" + RESIDENT_XIUSHAN)
        )
    ).one()
    assert tuple(person) == (None, "large")
    assert "laoyou_lang" not in response.cookies and "laoyou_text" not in response.cookies


async def test_settings_post_with_the_token_saves(client, db):
    await log_in(client, RESIDENT_XIUSHAN)
    token = csrf_in(await open_page(client, "/settings"))
    response = await client.post(
        "/settings", data={"language": "en", "text_size": "largest", "csrf_token": token}
    )
    assert response.status_code == 303
    db.expire_all()
    person = (
        await db.execute(
            select(Person.language, Person.text_size).where(Person.phone == "+86" + RESIDENT_XIUSHAN)
        )
    ).one()
    assert tuple(person) == ("en", "largest")


async def test_login_code_post_without_the_token_is_refused(client, app, db):
    await open_page(client, "/login")
    sent = len(app.state.sms.sent)
    response = await client.post("/login/code", data={"phone": RESIDENT_XIUSHAN})
    assert response.status_code == 403
    assert await count(db, LoginCode) == 0
    assert len(app.state.sms.sent) == sent


async def test_refused_form_says_so_in_the_pages_language(client):
    await open_page(client, "/login")
    response = await client.post(
        "/login/code", data={"phone": RESIDENT_XIUSHAN}, headers={"Accept-Language": "zh-CN"}
    )
    assert response.status_code == 403
    assert i18n.gettext("This form has expired", "zh_CN") in response.text


async def test_family_request_without_the_token_is_refused(client, db):
    # Given a logged-in person on the family page
    await log_in(client, STEWARD_XIUSHAN)
    token = csrf_in(await open_page(client, "/family"))
    links = await count(db, FamilyLink)
    # When the request form is posted without the token
    response = await client.post("/family/request", data={"phone": RESIDENT_XIUSHAN, "relation": "儿子"})
    # Then nothing is asked
    assert response.status_code == 403
    assert await count(db, FamilyLink) == links
    # And with the token it is
    response = await client.post(
        "/family/request", data={"phone": RESIDENT_XIUSHAN, "relation": "儿子", "csrf_token": token}
    )
    assert response.status_code == 200
    assert await count(db, FamilyLink) == links + 1


async def test_a_family_link_is_accepted_from_the_family_page(client, db):
    # Given someone who asked to follow 王秀英's household
    await log_in(client, STEWARD_XIUSHAN)
    token = csrf_in(await open_page(client, "/family"))
    await client.post(
        "/family/request", data={"phone": RESIDENT_XIUSHAN, "relation": "儿子", "csrf_token": token}
    )
    link = (await db.execute(select(FamilyLink).order_by(FamilyLink.id.desc()))).scalars().first()
    assert link.status == "pending"
    # When 王秀英 presses accept on her family page
    client.cookies.clear()
    await log_in(client, RESIDENT_XIUSHAN)
    page = await open_page(client, "/family")
    assert f'action="/family/{link.id}/accept"' in page
    forged = await client.post(f"/family/{link.id}/accept", data={})
    response = await client.post(f"/family/{link.id}/accept", data={"csrf_token": csrf_in(page)})
    # Then without the form's token nothing happens, and with it the link is accepted
    assert forged.status_code == 403
    assert response.status_code == 303 and response.headers["location"] == "/family"
    await db.refresh(link)
    assert link.status == "accepted"
    # And an action the page never offers names nothing
    assert (
        await client.post(f"/family/{link.id}/adopt", data={"csrf_token": csrf_in(page)})
    ).status_code == 404


@pytest.mark.parametrize(
    "path",
    [
        "/logout",
        "/notifications/read",
        "/login/demo",
        "/login/password",
        "/login/verify",
        "/family/1/accept",
        "/family/1/remove",
    ],
)
async def test_every_other_form_checks_the_token(client, path):
    await log_in(client, RESIDENT_XIUSHAN)
    response = await client.post(path, data={"phone": RESIDENT_XIUSHAN, "password": "x", "code": "123456"})
    assert response.status_code == 403
    # And the session survived a forged logout
    home = await client.get("/")
    assert home.status_code == 200 and "王秀英" in home.text


# --- logging in with a code, page by page -----------------------------------------------------------------


@pytest.mark.parametrize("language", ["zh-CN", "en"])
async def test_code_login_pages_end_to_end(client, app, language):
    headers = {"Accept-Language": language}
    # Given the login page
    token = csrf_in(await open_page(client, "/login", **headers))
    # When the resident asks for a code
    response = await client.post(
        "/login/code", data={"phone": "138 0000 0001", "csrf_token": token}, headers=headers
    )
    # Then they are sent to the page that asks for it
    assert response.status_code == 303
    assert response.headers["location"] == "/login/verify"
    verify = await open_page(client, response.headers["location"], **headers)
    assert 'name="code"' in verify and 'name="phone" value="138 0000 0001"' in verify
    # When they type the code from the SMS
    response = await client.post(
        "/login/verify",
        data={
            "phone": "138 0000 0001",
            "code": sent_code(app, RESIDENT_XIUSHAN),
            "csrf_token": csrf_in(verify),
        },
        headers=headers,
    )
    # Then they are logged in with an httpOnly session cookie and land on the home page with their name
    assert response.status_code == 303 and response.headers["location"] == "/"
    cookie = next(c for c in response.headers.get_list("set-cookie") if c.startswith("laoyou_session="))
    assert "httponly" in cookie.lower()
    home = await client.get("/", headers=headers)
    assert home.status_code == 200
    assert "王秀英" in home.text


async def test_no_address_the_code_login_visits_carries_the_phone(client, app):
    # Access logs (uvicorn's, the reverse proxy's) keep every URL: the phone travels in forms and a cookie only
    visited: list[str] = []

    async def record(request) -> None:  # noqa: ANN001
        visited.append(str(request.url))

    client.event_hooks["request"].append(record)
    token = csrf_in(await open_page(client, "/login"))
    typed = "138 0000 0001"
    verify = await client.post(
        "/login/code", data={"phone": typed, "csrf_token": token}, follow_redirects=True
    )
    assert verify.status_code == 200 and f'name="phone" value="{typed}"' in verify.text
    wrong = await client.post(
        "/login/verify",
        data={"phone": typed, "code": wrong_code(sent_code(app, RESIDENT_XIUSHAN)), "csrf_token": token},
    )
    assert wrong.status_code == 400 and f'name="phone" value="{typed}"' in wrong.text
    home = await client.post(
        "/login/verify",
        data={"phone": typed, "code": sent_code(app, RESIDENT_XIUSHAN), "csrf_token": csrf_in(wrong.text)},
        follow_redirects=True,
    )
    assert home.status_code == 200 and "王秀英" in home.text
    assert [url.removeprefix("http://testserver") for url in visited] == [
        "/login",
        "/login/code",
        "/login/verify",
        "/login/verify",
        "/login/verify",
        "/",
    ]
    digits = re.compile(r"\d{4}")
    assert not [url for url in visited if digits.search(url)], visited
    # and the phone's cookie is gone once it has served
    assert "laoyou_login_phone" not in client.cookies


@pytest.mark.parametrize("language", ["zh_CN", "zh_TW", "en"])
async def test_wrong_code_page_shows_a_clear_error_in_the_pages_language(client, app, language):
    headers = {"Accept-Language": i18n.html_lang(language)}
    token = csrf_in(await open_page(client, "/login", **headers))
    await client.post("/login/code", data={"phone": RESIDENT_XIUSHAN, "csrf_token": token}, headers=headers)
    # When a wrong code is typed
    response = await client.post(
        "/login/verify",
        data={
            "phone": RESIDENT_XIUSHAN,
            "code": wrong_code(sent_code(app, RESIDENT_XIUSHAN)),
            "csrf_token": token,
        },
        headers=headers,
    )
    # Then the page says so, in its own language, with the tries left, and nobody is logged in
    assert response.status_code == 400
    expected = i18n.gettext("That code is not right. %(left)s tries left.", language, left=4)
    if language != "en":
        assert expected != "That code is not right. 4 tries left.", "the catalog should translate this"
    assert str(escape(expected)) in response.text
    assert f'lang="{i18n.html_lang(language)}"' in response.text
    assert "laoyou_session" not in client.cookies
    assert (await client.get("/")).status_code == 303


async def test_malformed_phone_page_shows_the_error_on_the_login_page(client, app):
    token = csrf_in(await open_page(client, "/login", **{"Accept-Language": "zh-CN"}))
    response = await client.post(
        "/login/code", data={"phone": "12345", "csrf_token": token}, headers={"Accept-Language": "zh-CN"}
    )
    assert response.status_code == 400
    assert i18n.gettext("Please enter a valid mobile number.", "zh_CN") in response.text
    assert 'aria-invalid="true"' in response.text


async def test_staff_password_login_page(client):
    from laoyou.demo.data import DEMO_STAFF_PASSWORD

    token = csrf_in(await open_page(client, "/login"))
    wrong = await client.post(
        "/login/password",
        data={"phone": STEWARD_XIUSHAN, "password": "nope-nope-nope", "csrf_token": token},
        headers={"Accept-Language": "en"},
    )
    assert wrong.status_code == 400
    assert "The phone number or password is not right." in wrong.text
    right = await client.post(
        "/login/password",
        data={"phone": STEWARD_XIUSHAN, "password": DEMO_STAFF_PASSWORD, "csrf_token": token},
    )
    assert right.status_code == 303
    assert "张建国" in (await client.get("/")).text


async def test_logout_form_ends_the_session(client):
    await log_in(client, RESIDENT_XIUSHAN)
    token = csrf_in(await open_page(client, "/"))
    response = await client.post("/logout", data={"csrf_token": token})
    assert response.status_code == 303 and response.headers["location"] == "/login"
    assert (await client.get("/")).status_code == 303
