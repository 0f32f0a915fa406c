"""The WeChat official account's template message (模板消息), as WeChat publishes it.

A notice is one `POST /cgi-bin/message/template/send?access_token=…` with the JSON body {touser, template_id,
url, client_msg_id, data: {keyword: {value}}}; WeChat answers {"errcode": 0, "errmsg": "ok", "msgid": …}, or an errcode.

The access token comes from `POST /cgi-bin/stable_token` {grant_type: client_credential, appid, secret} rather
than `GET /cgi-bin/token`: several processes (the app, `laoyou worker`) send for one account, and each fetch
of the plain token invalidates the one the others hold, where the stable token's normal mode hands every caller
the same token until it is renewed (WeChat renews it 5 minutes before it expires), and is kept apart from plain
tokens another tool of the account may fetch. It is kept in memory until then; its force-refresh mode is never
used, since it would invalidate the others' token too (and is limited to 20 a day).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

import httpx

from laoyou.core.settings import Settings
from laoyou.core.time import local, utcnow
from laoyou.notify.reach.channels import ChannelFailed, Notice, WechatSender

log = logging.getLogger(__name__)

# Fetched again this long before WeChat says it expires: WeChat renews a stable token 5 minutes ahead.
TOKEN_MARGIN_SECONDS = 300
# The token was refused (invalid 40001 and 40014, expired 42001): fetch it again and send once more.
TOKEN_REFUSED = frozenset({40001, 40014, 42001})
# She no longer follows the account (43004), or turned its messages off (43101): nothing more goes there.
GONE = frozenset({43004, 43101})
SYSTEM_BUSY = -1  # WeChat's "system error, try later"
# A thing.* keyword shows at most 20 characters; a longer value is refused (47003) rather than cut.
THING_LIMIT = 20
TIME_FORMAT = "%Y-%m-%d %H:%M"  # Shanghai time, as the time.* keyword takes it
TIMEOUT = httpx.Timeout(10.0, connect=5.0)


def keyword_value(keyword: str, value: str) -> str:
    if keyword.startswith("thing") and len(value) > THING_LIMIT:
        return value[: THING_LIMIT - 1] + "…"
    return value


class WechatOfficialAccount:
    """One official account's template messages. Safe to share between tasks: one token fetch at a time."""

    def __init__(
        self,
        *,
        appid: str,
        secret: str,
        template_id: str,
        keywords: Mapping[str, str],
        api_base: str = "https://api.weixin.qq.com",
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.appid = appid
        self._secret = secret
        self.template_id = template_id
        self.keywords = dict(keywords)
        self._clock = clock
        # Kept-alive connections for as many sends as the reach sender runs at once: a pool smaller than that
        # closes and reopens a connection for every send beyond it.
        self._client = httpx.AsyncClient(
            base_url=api_base.rstrip("/"),
            transport=transport,
            timeout=TIMEOUT,
            limits=httpx.Limits(max_connections=16, max_keepalive_connections=16),
        )
        self._token: str | None = None
        self._token_until = 0.0
        self._token_lock = asyncio.Lock()

    async def aclose(self) -> None:
        await self._client.aclose()

    async def send(self, openid: str, notice: Notice, *, reference: str | None = None) -> str:
        body = json.dumps(self._message(openid, notice, reference), ensure_ascii=False).encode()
        token = await self._access_token()
        answer = await self._send_with(token, body)
        if answer.get("errcode") in TOKEN_REFUSED:
            log.info("WeChat refused the access token (%s): fetching it again", answer.get("errcode"))
            answer = await self._send_with(await self._access_token(refused=token), body)
        errcode = answer.get("errcode", 0)
        if errcode == 0 and answer.get("msgid") is not None:
            return str(answer["msgid"])
        raise _refusal("template message", answer)

    def _message(self, openid: str, notice: Notice, reference: str | None = None) -> dict[str, Any]:
        parts = {
            "title": notice.title,
            # An empty value is refused (47003); a notice without a line of text shows its title there too.
            "body": notice.body or notice.title,
            "time": local(utcnow()).strftime(TIME_FORMAT),
        }
        message: dict[str, Any] = {
            "touser": openid,
            "template_id": self.template_id,
            "url": notice.url,
            "data": {
                keyword: {"value": keyword_value(keyword, parts[source])}
                for keyword, source in self.keywords.items()
            },
        }
        if reference:
            # WeChat sends one message per (openid, client_msg_id) within ten minutes: a step retried after a
            # timeout (sent, but the answer lost) does not reach her twice.
            message["client_msg_id"] = f"laoyou-{reference}"[:64]
        return message

    async def _send_with(self, token: str, body: bytes) -> dict[str, Any]:
        return await self._call(
            "template message",
            "/cgi-bin/message/template/send",
            params={"access_token": token},
            content=body,
        )

    async def _access_token(self, *, refused: str | None = None) -> str:
        """The cached token, else one fetched (one fetch at a time: those waiting take the fetched one). A
        token WeChat just refused is fetched again, unless another task already replaced it."""
        async with self._token_lock:
            if self._token is not None and self._token != refused and self._clock() < self._token_until:
                return self._token
            self._token = None
            answer = await self._call(
                "access token",
                "/cgi-bin/stable_token",
                content=json.dumps(
                    {"grant_type": "client_credential", "appid": self.appid, "secret": self._secret}
                ).encode(),
            )
            token, expires_in = answer.get("access_token"), answer.get("expires_in")
            if not isinstance(token, str) or not token or not isinstance(expires_in, int):
                raise _refusal("access token", answer)
            self._token = token
            # A token given for less than twice the margin (WeChat's own renewal is late) is kept half its life.
            self._token_until = self._clock() + expires_in - min(TOKEN_MARGIN_SECONDS, expires_in // 2)
            return token

    async def _call(
        self, what: str, path: str, *, content: bytes, params: Mapping[str, str] | None = None
    ) -> dict[str, Any]:
        """One POST of a JSON body; WeChat's JSON answer, or ChannelFailed for no usable answer."""
        try:
            response = await self._client.post(
                path,
                params=params,
                content=content,
                headers={"Content-Type": "application/json; charset=utf-8"},
            )
        except httpx.HTTPError as exc:
            raise ChannelFailed(f"WeChat {what}: unreachable ({type(exc).__name__})", retry=True) from None
        if response.status_code >= 500:
            raise ChannelFailed(f"WeChat {what}: answered {response.status_code}", retry=True)
        if response.status_code != 200:
            raise ChannelFailed(
                f"WeChat {what}: answered {response.status_code}",
                retry=False,
                code=f"http {response.status_code}",
            )
        try:
            answer = response.json()
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            # Not WeChat's JSON: a proxy's or a gateway's page in between, which passes.
            raise ChannelFailed(f"WeChat {what}: an answer that is not JSON", retry=True)
        return answer


def _refusal(what: str, answer: Mapping[str, Any]) -> ChannelFailed:
    errcode = answer.get("errcode")
    message = f"WeChat {what}: {errcode} {str(answer.get('errmsg', ''))[:80]}".strip()
    if errcode == SYSTEM_BUSY or errcode in TOKEN_REFUSED:
        # Busy, or a token refused twice in a row (renewed between our fetch and our send): later may work.
        return ChannelFailed(message, retry=True, code=str(errcode))
    if errcode in GONE:
        return ChannelFailed(message, retry=False, code=str(errcode), gone=True)
    return ChannelFailed(message, retry=False, code=str(errcode) if errcode is not None else "")


def make_wechat_sender(
    settings: Settings, *, transport: httpx.AsyncBaseTransport | None = None
) -> WechatSender | None:
    """The official account's sender, when it is set for notices (app id, secret and template); else None, and
    nobody is reached by WeChat (an account set only for paying has no template)."""
    if not settings.wechat_messages_configured():
        return None
    return WechatOfficialAccount(
        appid=settings.wechat_mp_appid,
        secret=settings.wechat_mp_secret,
        template_id=settings.wechat_template_notice,
        keywords=settings.wechat_template_keywords,
        api_base=settings.wechat_api_base,
        transport=transport,
    )
