"""What every request may send and what every answer carries: the form body limit (uploads keep their own) and
the security headers (a content security policy, no framing, referrers kept on the site, devices per page)."""

from __future__ import annotations

import io
import os
import re

from PIL import Image
from sqlalchemy import func, select

from laoyou.accounts.models import LoginCode, Person
from laoyou.core import i18n
from laoyou.web.edge import FORM_BODY_LIMIT

from ..conftest import RESIDENT_XIUSHAN, login_demo
from .conftest import csrf_in, log_in, open_page

# --- body limits ----------------------------------------------------------------------------------------


async def test_a_form_over_the_limit_is_refused_in_the_pages_language_and_changes_nothing(client, app, db):
    # Given the login page and its token
    token = csrf_in(await open_page(client, "/login"))
    sent = len(app.state.sms.sent)
    # When a form of more than 256 KB is posted to it
    response = await client.post(
        "/login/code",
        data={"phone": RESIDENT_XIUSHAN, "csrf_token": token, "padding": "x" * FORM_BODY_LIMIT},
        headers={"Accept-Language": "zh-CN"},
    )
    # Then the error page says so in Chinese, and no code was made or sent
    assert response.status_code == 413
    assert response.headers["content-type"].startswith("text/html")
    assert i18n.gettext("Too much to send", "zh_CN") in response.text
    assert (
        i18n.gettext(
            "What you sent is too large (at most %(size)s). Please send less.", "zh_CN", size="256 KB"
        )
        in response.text
    )
    assert await db.scalar(select(func.count()).select_from(LoginCode)) == 0
    assert len(app.state.sms.sent) == sent


async def test_a_long_form_under_the_limit_is_taken(client, db):
    # Given a logged-in resident on the settings page
    await log_in(client, RESIDENT_XIUSHAN)
    token = csrf_in(await open_page(client, "/settings"))
    # When the form comes with 200 KB of extra fields
    response = await client.post(
        "/settings", data={"language": "en", "csrf_token": token, "padding": "x" * (200 * 1024)}
    )
    # Then it is saved as usual
    assert response.status_code == 303
    db.expire_all()
    assert (await db.scalar(select(Person.language).where(Person.phone == "+86" + RESIDENT_XIUSHAN))) == "en"


def noisy_jpeg(side: int = 700) -> bytes:
    """A photo that does not compress: well over the form limit."""
    out = io.BytesIO()
    Image.frombytes("RGB", (side, side), os.urandom(side * side * 3)).save(out, "JPEG", quality=95)
    return out.getvalue()


async def test_an_upload_over_the_form_limit_is_not_refused_by_it(client, gql, db):
    # Given a resident and a photo larger than the form limit
    resident = await login_demo(gql, RESIDENT_XIUSHAN)
    community = (await resident("query { viewer { households { community { id } } } }"))["data"]["viewer"][
        "households"
    ][0]["community"]["id"]
    photo = noisy_jpeg()
    assert len(photo) > FORM_BODY_LIMIT
    # When it is uploaded (multipart: the upload routes cap their own forms)
    response = await client.post(
        "/media",
        files={"file": ("photo.jpg", photo, "image/jpeg")},
        data={"community_id": community},
        headers={"Authorization": f"Bearer {resident.token}"},
    )
    # Then it is stored
    assert response.status_code == 201, response.text


# --- security headers -----------------------------------------------------------------------------------


def directives(policy: str) -> dict[str, list[str]]:
    parsed = {}
    for part in policy.split(";"):
        name, *values = part.split()
        parsed[name] = values
    return parsed


async def test_pages_send_a_content_security_policy_without_inline_script(client):
    response = await client.get("/login")
    policy = directives(response.headers["content-security-policy"])
    assert policy["default-src"] == ["'self'"]
    assert policy["script-src"] == ["'self'"]  # no 'unsafe-inline', no 'unsafe-eval', no other origin
    assert policy["style-src"] == ["'self'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["object-src"] == ["'none'"]
    assert set(policy["img-src"]) == {"'self'", "data:", "blob:"}
    assert set(policy["connect-src"]) == {"'self'", "ws://testserver", "wss://testserver"}
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["referrer-policy"] == "same-origin"
    assert response.headers["x-content-type-options"] == "nosniff"
    # And the pages really carry no inline script or handler that the policy would block
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", response.text)
    assert not re.search(r"\son[a-z]+\s*=", response.text)


async def test_a_forged_host_cannot_write_into_the_policy(client):
    response = await client.get("/login", headers={"Host": "evil.example; script-src *"})
    policy = directives(response.headers["content-security-policy"])
    assert policy["script-src"] == ["'self'"] and policy["connect-src"] == ["'self'"]


async def test_other_answers_are_not_sniffed_and_keep_their_referrer_on_the_site(client):
    for response in (
        await client.get("/static/css/app.css"),
        await client.get("/healthz"),
        await client.post("/graphql", json={"query": "{ viewer { isStaff } }"}),
    ):
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] == "same-origin"


def devices(response) -> dict[str, str]:  # noqa: ANN001
    return dict(part.strip().split("=", 1) for part in response.headers["permissions-policy"].split(","))


async def test_only_the_call_page_may_use_the_camera_and_only_voice_pages_the_microphone(client, db):
    # Given a logged-in resident
    await log_in(client, RESIDENT_XIUSHAN)
    # The home and settings pages may use neither
    for path in ("/", "/settings", "/bills"):
        page = await client.get(path)
        assert page.status_code == 200, path
        assert devices(page)["camera"] == "()" and devices(page)["microphone"] == "()", path
    # The chat and the repair report record voice notes: the microphone only
    for path in ("/support", "/repairs/new"):
        page = await client.get(path)
        assert page.status_code == 200, path
        assert devices(page)["camera"] == "()" and devices(page)["microphone"] == "(self)", path
    # The call page: both
    chat = await client.get("/support")
    started = await client.post("/support/call", data={"csrf_token": csrf_in(chat.text), "video": "1"})
    assert started.status_code == 303, started.text
    call = await client.get(started.headers["location"])
    assert call.status_code == 200
    assert devices(call)["camera"] == "(self)" and devices(call)["microphone"] == "(self)"
