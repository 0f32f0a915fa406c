"""The official account's template messages: the adapter's real HTTP requests go to a stand-in that answers as
WeChat does. One token serves many sends, a refused token is fetched again once, and each refusal says whether
trying again could help."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError

from laoyou.core.settings import Settings
from laoyou.notify.reach.channels import ChannelFailed, Notice
from laoyou.notify.reach.wechat import WechatOfficialAccount, keyword_value, make_wechat_sender

from .wechat_standin import APPID, SECRET, TEMPLATE_ID, WechatStandIn

OPENID = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"
KEYWORDS = {"thing1": "title", "thing2": "body", "time3": "time"}
NOTICE = Notice(
    kind="emergency",
    priority="emergency",
    title="停水通知",
    body="明天上午9点到12点停水，请提前储水",
    url="https://laoyou.example.cn/notices/7?r=abc",
)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def wechat() -> WechatStandIn:
    return WechatStandIn()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def account(wechat: WechatStandIn, clock: Clock) -> AsyncIterator[WechatOfficialAccount]:
    sender = WechatOfficialAccount(
        appid=APPID,
        secret=SECRET,
        template_id=TEMPLATE_ID,
        keywords=KEYWORDS,
        api_base="https://api.weixin.qq.com",
        transport=httpx.ASGITransport(app=wechat.app()),
        clock=clock,
    )
    yield sender
    await sender.aclose()


async def test_a_notice_is_the_published_template_message(account, wechat):
    msgid = await account.send(OPENID, NOTICE)
    [sent] = wechat.sent
    assert msgid == str(sent.msgid)
    message = sent.message
    assert message["touser"] == OPENID and message["template_id"] == TEMPLATE_ID
    assert message["url"] == NOTICE.url
    assert message["data"]["thing1"] == {"value": "停水通知"}
    assert message["data"]["time3"]["value"][:2] == "20"
    # The token was fetched from stable_token with the account's credentials
    assert wechat.token_requests == [{"grant_type": "client_credential", "appid": APPID, "secret": SECRET}]


async def test_a_step_retried_after_its_answer_was_lost_reaches_her_once(account, wechat):
    # Given a step sent once, whose answer never came back (the sender will try it again)
    first = await account.send(OPENID, NOTICE, reference="4711")
    # When the retry goes out with the step's reference
    again = await account.send(OPENID, NOTICE, reference="4711")
    # Then WeChat took both as one message (client_msg_id), and another step is another message
    assert [s.message["client_msg_id"] for s in wechat.sent] == ["laoyou-4711"]
    assert again == first
    await account.send(OPENID, NOTICE, reference="4712")
    assert len(wechat.sent) == 2 and wechat.attempts == 3


async def test_chinese_is_sent_as_utf8_not_as_escapes(account, wechat):
    await account.send(OPENID, NOTICE)
    body = wechat.sent[0].body
    assert "停水通知".encode() in body and b"\\u" not in body
    assert json.loads(body.decode("utf-8"))["data"]["thing1"]["value"] == "停水通知"


async def test_thing_values_are_cut_to_twenty_characters_with_an_ellipsis(account, wechat):
    # A title of 23 characters is cut, so that WeChat takes it instead of refusing it (47003)
    title = "本周六上午社区组织免费体检和理发服务活动请报名"
    long = Notice(kind="notice", priority="important", title=title, body="", url="https://x/")
    await account.send(OPENID, long)
    data = wechat.sent[0].message["data"]
    assert (
        data["thing1"]["value"] == "本周六上午社区组织免费体检和理发服务活…"
        and len(data["thing1"]["value"]) == 20
    )
    # And a notice without a line of text shows its title there too (WeChat refuses an empty value)
    assert data["thing2"]["value"] == data["thing1"]["value"]
    assert keyword_value("thing9", "短") == "短" and keyword_value("character_string1", "x" * 30) == "x" * 30


async def test_one_token_serves_many_sends_until_it_is_about_to_expire(account, wechat, clock):
    for _ in range(5):
        await account.send(OPENID, NOTICE)
    assert len(wechat.token_requests) == 1 and len(wechat.sent) == 5
    # Five minutes before WeChat's 7200 s are up the token is fetched again
    clock.now += 7200 - 301
    await account.send(OPENID, NOTICE)
    assert len(wechat.token_requests) == 1
    clock.now += 1
    await account.send(OPENID, NOTICE)
    assert len(wechat.token_requests) == 2


async def test_ten_parallel_sends_fetch_one_token(account, wechat):
    wechat.token_delay = 0.05
    msgids = await asyncio.gather(*(account.send(f"{OPENID}{i}", NOTICE) for i in range(10)))
    assert len(wechat.token_requests) == 1
    assert len(set(msgids)) == 10 and len(wechat.sent) == 10


async def test_a_refused_token_is_fetched_again_and_the_send_tried_once_more(account, wechat):
    await account.send(OPENID, NOTICE)
    # When WeChat stops accepting the token before we expected (40001)
    wechat.expire_tokens()
    msgid = await account.send(OPENID, NOTICE)
    # Then a new token is fetched and the same message goes once
    assert len(wechat.token_requests) == 2 and len(wechat.sent) == 2
    assert msgid == str(wechat.sent[-1].msgid)


async def test_parallel_sends_with_a_refused_token_fetch_it_once(account, wechat):
    await account.send(OPENID, NOTICE)
    wechat.expire_tokens()
    wechat.token_delay = 0.05
    await asyncio.gather(*(account.send(OPENID, NOTICE) for _ in range(10)))
    assert len(wechat.token_requests) == 2 and len(wechat.sent) == 11


@pytest.mark.parametrize("errcode", [40001, 42001])
async def test_a_token_refused_twice_is_tried_later_not_in_a_loop(wechat, errcode):
    answers = iter(
        [
            httpx.Response(200, json={"access_token": "T1", "expires_in": 7200}),
            httpx.Response(200, json={"errcode": errcode, "errmsg": "access_token expired"}),
            httpx.Response(200, json={"access_token": "T2", "expires_in": 7200}),
            httpx.Response(200, json={"errcode": errcode, "errmsg": "access_token expired"}),
        ]
    )
    requests: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return next(answers)

    sender = WechatOfficialAccount(
        appid=APPID,
        secret=SECRET,
        template_id=TEMPLATE_ID,
        keywords=KEYWORDS,
        transport=httpx.MockTransport(answer),
    )
    try:
        with pytest.raises(ChannelFailed) as failed:
            await sender.send(OPENID, NOTICE)
    finally:
        await sender.aclose()
    assert failed.value.retry and failed.value.code == str(errcode) and not failed.value.gone
    assert [r.url.path for r in requests] == [
        "/cgi-bin/stable_token",
        "/cgi-bin/message/template/send",
        "/cgi-bin/stable_token",
        "/cgi-bin/message/template/send",
    ]
    assert [r.url.params.get("access_token") for r in requests[1::2]] == ["T1", "T2"]


@pytest.mark.parametrize("where", ["unfollowed", "refused"])
async def test_someone_who_left_the_account_is_gone(account, wechat, where):
    getattr(wechat, where).add(OPENID)
    with pytest.raises(ChannelFailed) as failed:
        await account.send(OPENID, NOTICE)
    assert failed.value.gone and not failed.value.retry
    assert failed.value.code == {"unfollowed": "43004", "refused": "43101"}[where]
    assert wechat.sent == []


async def test_a_busy_wechat_is_tried_again_later(account, wechat):
    wechat.busy = 1
    with pytest.raises(ChannelFailed) as failed:
        await account.send(OPENID, NOTICE)
    assert failed.value.retry and failed.value.code == "-1" and not failed.value.gone
    assert await account.send(OPENID, NOTICE)  # and later it goes


async def test_a_refused_message_is_not_tried_again(wechat, clock):
    sender = WechatOfficialAccount(
        appid=APPID,
        secret=SECRET,
        template_id="a-template-this-account-does-not-have",
        keywords=KEYWORDS,
        transport=httpx.ASGITransport(app=wechat.app()),
        clock=clock,
    )
    try:
        with pytest.raises(ChannelFailed) as failed:
            await sender.send(OPENID, NOTICE)
    finally:
        await sender.aclose()
    assert not failed.value.retry and failed.value.code == "40037" and not failed.value.gone


async def test_wrong_credentials_fail_without_sending(wechat, clock):
    sender = WechatOfficialAccount(
        appid=APPID,
        secret="not-the-secret",
        template_id=TEMPLATE_ID,
        keywords=KEYWORDS,
        transport=httpx.ASGITransport(app=wechat.app()),
        clock=clock,
    )
    try:
        with pytest.raises(ChannelFailed) as failed:
            await sender.send(OPENID, NOTICE)
    finally:
        await sender.aclose()
    assert not failed.value.retry and failed.value.code == "40125"
    assert wechat.attempts == 0


def _answering(response: httpx.Response | Exception):  # noqa: ANN202
    def handler(request: httpx.Request) -> httpx.Response:
        if isinstance(response, Exception):
            raise response
        return response

    return handler


@pytest.mark.parametrize(
    ("answer", "retry", "code"),
    [
        (httpx.ConnectError("refused"), True, ""),
        (httpx.ReadTimeout("slow"), True, ""),
        (httpx.Response(502, text="<html>Bad Gateway</html>"), True, ""),
        (httpx.Response(200, text="<html>a proxy's page</html>"), True, ""),
        (httpx.Response(404, text="no"), False, "http 404"),
        (
            httpx.Response(200, json={"errcode": 40164, "errmsg": "invalid ip, not in whitelist"}),
            False,
            "40164",
        ),
        (httpx.Response(200, json={"errcode": -1, "errmsg": "system error"}), True, "-1"),
    ],
)
async def test_failures_say_whether_trying_again_could_help(answer, retry, code):
    sender = WechatOfficialAccount(
        appid=APPID,
        secret=SECRET,
        template_id=TEMPLATE_ID,
        keywords=KEYWORDS,
        transport=httpx.MockTransport(_answering(answer)),
    )
    try:
        with pytest.raises(ChannelFailed) as failed:
            await sender.send(OPENID, NOTICE)
    finally:
        await sender.aclose()
    assert failed.value.retry is retry and failed.value.code == code and not failed.value.gone


def _settings(tmp_path: Path, **values: str) -> Settings:
    return Settings(data_dir=tmp_path, **values)


async def test_the_channel_exists_only_when_the_account_has_a_template(tmp_path):
    account = {"wechat_mp_appid": APPID, "wechat_mp_secret": SECRET}
    # An account set only for paying inside WeChat: no WeChat channel
    assert make_wechat_sender(_settings(tmp_path, **account)) is None
    assert make_wechat_sender(_settings(tmp_path, wechat_template_notice=TEMPLATE_ID)) is None
    sender = make_wechat_sender(
        _settings(
            tmp_path,
            **account,
            wechat_template_notice=TEMPLATE_ID,
            wechat_template_fields="thing2=title, time4=time",
        )
    )
    assert isinstance(sender, WechatOfficialAccount)
    try:
        assert sender.appid == APPID and sender.keywords == {"thing2": "title", "time4": "time"}
    finally:
        await sender.aclose()


@pytest.mark.parametrize("fields", ["thing1=titel", "thing1", "=title", "thing1=title,,time3=time"])
def test_a_malformed_keyword_list_is_refused_at_start(tmp_path, fields):
    with pytest.raises(ValidationError, match="LAOYOU_WECHAT_TEMPLATE_FIELDS"):
        _settings(tmp_path, wechat_template_fields=fields)


def test_the_account_is_read_from_the_payment_settings_names(tmp_path, monkeypatch):
    monkeypatch.setenv("LAOYOU_WECHAT_MP_APPID", APPID)
    monkeypatch.setenv("LAOYOU_WECHAT_MP_SECRET", SECRET)
    settings = Settings(data_dir=tmp_path)
    assert (settings.wechat_mp_appid, settings.wechat_mp_secret) == (APPID, SECRET)
