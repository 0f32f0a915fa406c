"""Linking a resident to the official account when she opens Laoyou inside WeChat: once, only in WeChat's
browser and only when the account sends notices; the way back checks the state of her own session; a
WeChat that changes hands follows its new owner. The code exchange goes to the OAuth stand-in of the payment
tests."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlmodel import select

from laoyou.accounts.models import AuditEvent
from laoyou.app import create_app
from laoyou.billing.gateways.wechat_oauth import WeChatOAuth
from laoyou.core.errors import LaoyouError
from laoyou.notify.reach import links
from laoyou.notify.reach.models import WechatLink
from laoyou.web.wechat_link import TRIED_COOKIE, link_oauth

from ..billing.helpers import actor_for
from ..billing.test_wechat_pay import MP_SECRET, OPENID, WECHAT_UA, WeChatStandIn
from ..conftest import RESIDENT_JINGJU, RESIDENT_XIUSHAN, make_database_url, make_settings
from ..notify.wechat_standin import APPID, TEMPLATE_ID
from .conftest import browser, log_in

ANDROID_CHROME = (
    "Mozilla/5.0 (Linux; Android 10; V2001A) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/107.0.5304.141 "
    "Mobile Safari/537.36"
)
ACCOUNT = {"wechat_mp_appid": APPID, "wechat_mp_secret": MP_SECRET, "wechat_template_notice": TEMPLATE_ID}
OAUTH_STANDIN = WeChatStandIn(None)


@pytest.fixture(scope="module")
async def app(
    backend: str, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> AsyncIterator[Any]:
    """An app whose official account sends notices, its code exchange pointed at the stand-in."""
    tmp = tmp_path_factory.mktemp(f"wechat-link-{backend}")
    application = create_app(make_settings(tmp, make_database_url(backend, tmp, request), **ACCOUNT))
    async with application.router.lifespan_context(application):
        application.state.wechat_link_oauth = WeChatOAuth(
            appid=APPID, secret=MP_SECRET, transport=httpx.MockTransport(OAUTH_STANDIN.oauth)
        )
        yield application


@pytest.fixture
def standin() -> WeChatStandIn:
    OAUTH_STANDIN.exchanges.clear()
    OAUTH_STANDIN.codes = {"CODE-OK": OPENID}
    return OAUTH_STANDIN


async def wechat_links(db) -> list[tuple[int, str, str, bool]]:  # noqa: ANN001
    """The links to this test's official account (the demo links its own residents to another)."""
    rows = await db.exec(
        select(WechatLink).where(WechatLink.appid == APPID).execution_options(populate_existing=True)
    )
    return [(r.person_id, r.appid, r.openid, r.following) for r in rows]


async def open_home_in_wechat(http: httpx.AsyncClient) -> str:
    """Home inside WeChat: the browser is sent to the account's authorisation; the state it carries."""
    http.headers["User-Agent"] = WECHAT_UA
    sent = await http.get("/")
    assert sent.status_code == 303, sent.text
    location = urlsplit(sent.headers["location"])
    assert (location.netloc, location.path, location.fragment) == (
        "open.weixin.qq.com",
        "/connect/oauth2/authorize",
        "wechat_redirect",
    )
    query = parse_qs(location.query)
    assert query["scope"] == ["snsapi_base"] and query["appid"] == [APPID]
    assert query["redirect_uri"] == ["http://localhost:8000/wechat/link/callback"]
    return query["state"][0]


async def test_inside_wechat_the_home_page_links_her_once(app, db, standin):
    async with browser(app) as http:
        await log_in(http, RESIDENT_XIUSHAN)
        # When she opens the home page inside WeChat
        state = await open_home_in_wechat(http)
        # And WeChat brings her back with a code
        back = await http.get(f"/wechat/link/callback?code=CODE-OK&state={state}")
        # Then her openid is remembered for the account and she is home
        assert back.status_code == 303 and back.headers["location"] == "/"
        resident = await actor_for(db, RESIDENT_XIUSHAN)
        assert await wechat_links(db) == [(resident.person_id, APPID, OPENID, True)]
        assert [params["code"] for params in standin.exchanges] == [["CODE-OK"]]
        audited = await db.exec(select(AuditEvent.action).where(AuditEvent.action == "wechat.link"))
        assert list(audited) == ["wechat.link"]
        # And the home page shows, now and in a new session
        assert (await http.get("/")).status_code == 200
    async with browser(app) as again:
        await log_in(again, RESIDENT_XIUSHAN)
        again.headers["User-Agent"] = WECHAT_UA
        assert (await again.get("/")).status_code == 200


async def test_a_failed_exchange_is_said_plainly_and_not_tried_again_this_session(app, db, standin):
    async with browser(app) as http:
        await log_in(http, RESIDENT_XIUSHAN)
        state = await open_home_in_wechat(http)
        # When WeChat refuses the code (used already, or made up)
        failed = await http.get(f"/wechat/link/callback?code=CODE-USED&state={state}")
        # Then she reads what happened, in her language, and nothing is remembered
        assert failed.status_code == 400
        assert "微信没有告诉我们您是谁" in failed.text and 'href="/"' in failed.text
        assert await wechat_links(db) == []
        # And the home page does not send her to WeChat again in this session
        assert (await http.get("/")).status_code == 200
        assert (await http.get("/")).status_code == 200
        assert len(standin.exchanges) == 1
        # Nor does a back button that comes back without a code ask WeChat anything
        assert (await http.get(f"/wechat/link/callback?state={state}")).status_code == 400
        assert len(standin.exchanges) == 1
    # A new login is a new session: one more try
    async with browser(app) as later:
        await log_in(later, RESIDENT_XIUSHAN)
        await open_home_in_wechat(later)


async def test_the_service_workers_fetch_of_the_home_page_does_not_spend_the_one_try(app, db, standin):
    async with browser(app) as http:
        await log_in(http, RESIDENT_XIUSHAN)
        http.headers["User-Agent"] = WECHAT_UA
        # The service worker keeps the home page for offline use: a fetch, not her opening it
        kept = await http.get("/", headers={"Sec-Fetch-Mode": "cors", "Sec-Fetch-Dest": "empty"})
        assert kept.status_code == 200 and TRIED_COOKIE not in http.cookies
        # When she opens it herself, WeChat is asked who she is
        assert (await http.get("/", headers={"Sec-Fetch-Mode": "navigate"})).status_code == 303


async def test_outside_wechat_nobody_is_sent_anywhere(app, db, standin):
    async with browser(app) as http:
        await log_in(http, RESIDENT_XIUSHAN)
        http.headers["User-Agent"] = ANDROID_CHROME
        home = await http.get("/")
        assert home.status_code == 200 and TRIED_COOKIE not in home.cookies
    assert standin.exchanges == [] and await wechat_links(db) == []


async def test_without_a_template_for_notices_nobody_is_sent_to_wechat(app, db, standin, monkeypatch):
    # The state object keeps its values in a dict: patched there, they come back whole after the test.
    monkeypatch.setitem(app.state._state, "wechat_link_oauth", None)
    async with browser(app) as http:
        await log_in(http, RESIDENT_XIUSHAN)
        http.headers["User-Agent"] = WECHAT_UA
        assert (await http.get("/")).status_code == 200
        assert (await http.get("/wechat/link/callback?code=CODE-OK&state=1")).status_code == 404
    assert await wechat_links(db) == []


def test_the_link_is_offered_only_for_an_account_that_sends_notices(tmp_path):
    paying_only = make_settings(
        tmp_path, "sqlite+aiosqlite://", wechat_mp_appid=APPID, wechat_mp_secret=MP_SECRET
    )
    assert link_oauth(paying_only) is None
    oauth = link_oauth(make_settings(tmp_path, "sqlite+aiosqlite://", **ACCOUNT))
    assert oauth is not None and oauth.appid == APPID


async def test_a_state_of_another_session_or_forged_changes_nothing(app, db, standin):
    async with browser(app) as mine, browser(app) as theirs:
        await log_in(mine, RESIDENT_XIUSHAN)
        state = await open_home_in_wechat(mine)
        # When another session (a link passed on, or a page made to link someone's WeChat) comes back with it
        await log_in(theirs, RESIDENT_JINGJU)
        refused = await theirs.get(f"/wechat/link/callback?code=CODE-OK&state={state}")
        # Then it is refused in plain words; the code is never exchanged and nothing is remembered
        assert refused.status_code == 400
        assert "已经过期" in refused.text and "没有和微信连上" in refused.text
        # And a tampered or made-up state is refused too
        tampered = state[:-1] + ("0" if state[-1] != "0" else "1")
        for forged in (tampered, "", "x" * 300, f"{int(time.time()):010d}" + "0" * 32):
            answer = await mine.get("/wechat/link/callback", params={"code": "CODE-OK", "state": forged})
            assert answer.status_code == 400
        assert standin.exchanges == [] and await wechat_links(db) == []


async def test_a_stale_state_is_refused(db):
    resident = await actor_for(db, RESIDENT_XIUSHAN)
    resident.session_id = 7
    state = links.link_state(secret_key="k" * 40, actor=resident, now=time.time() - 601)
    with pytest.raises(LaoyouError, match="expired"):
        links.check_link_state(secret_key="k" * 40, actor=resident, state=state)
    links.check_link_state(
        secret_key="k" * 40, actor=resident, state=links.link_state(secret_key="k" * 40, actor=resident)
    )


async def test_a_stranger_cannot_link(app, db, standin):
    async with browser(app) as http:
        http.headers["User-Agent"] = WECHAT_UA
        # Not logged in: home and the way back both go to the login page, and WeChat is never asked
        assert (await http.get("/")).headers["location"] == "/login"
        back = await http.get("/wechat/link/callback?code=CODE-OK&state=0000000000abc")
        assert back.status_code == 303 and back.headers["location"] == "/login"
    assert standin.exchanges == [] and await wechat_links(db) == []


async def test_a_wechat_that_changes_hands_follows_its_new_owner(app, db, standin):
    xiushan = await actor_for(db, RESIDENT_XIUSHAN)
    jingju = await actor_for(db, RESIDENT_JINGJU)
    await links.do_link_wechat(db, actor=xiushan, appid=APPID, openid=OPENID)
    # Her WeChat stopped following the account; then the phone went to a neighbour, who opened Laoyou with it
    (await links.wechat_link(db, person_id=xiushan.person_id, appid=APPID)).following = False
    await links.do_link_wechat(db, actor=jingju, appid=APPID, openid=OPENID)
    assert await wechat_links(db) == [(jingju.person_id, APPID, OPENID, True)]
    moved = (await db.exec(select(AuditEvent).where(AuditEvent.action == "wechat.unlink"))).one()
    assert moved.subject_id == xiushan.person_id and moved.actor_id == jingju.person_id
    # And the first resident, opening Laoyou in another WeChat, is linked under that one
    await links.do_link_wechat(db, actor=xiushan, appid=APPID, openid="o-another-wechat")
    assert sorted(await wechat_links(db)) == sorted(
        [(jingju.person_id, APPID, OPENID, True), (xiushan.person_id, APPID, "o-another-wechat", True)]
    )
    with pytest.raises(LaoyouError):
        await links.do_link_wechat(db, actor=xiushan, appid=APPID, openid="")
