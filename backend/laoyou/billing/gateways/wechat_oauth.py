"""The official account's web authorisation (网页授权, scope snsapi_base): who is paying inside WeChat.

JSAPI payment needs the payer's openid under the official account the order is made for. The published flow:
send the browser to open.weixin.qq.com/connect/oauth2/authorize (appid, redirect_uri, response_type=code,
scope=snsapi_base, state, in that order, then #wechat_redirect); WeChat comes back to redirect_uri with
?code=…&state=… without asking the person anything; the server exchanges the code, once, at
api.weixin.qq.com/sns/oauth2/access_token for the openid. A refusal is JSON with errcode and errmsg
(40029: the code is invalid or was already used).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlencode

import httpx

AUTHORIZE_URL = "https://open.weixin.qq.com/connect/oauth2/authorize"
API_BASE = "https://api.weixin.qq.com"


class OAuthFailed(Exception):
    """WeChat did not give the openid: unreachable, or the code was refused."""


class WeChatOAuth:
    def __init__(
        self,
        *,
        appid: str,
        secret: str,
        api_base: str = API_BASE,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.appid = appid
        self.secret = secret
        self.api_base = api_base.rstrip("/")
        self.transport = transport

    def authorize_url(self, *, redirect_uri: str, state: str) -> str:
        """Where the browser goes; WeChat checks the parameters in the documented order."""
        query = urlencode(
            [
                ("appid", self.appid),
                ("redirect_uri", redirect_uri),
                ("response_type", "code"),
                ("scope", "snsapi_base"),
                ("state", state),
            ],
            quote_via=quote,
            safe="",
        )
        return f"{AUTHORIZE_URL}?{query}#wechat_redirect"

    async def openid(self, code: str) -> str:
        """Exchange the one-time code for the person's openid under this official account."""
        params = {
            "appid": self.appid,
            "secret": self.secret,
            "code": code,
            "grant_type": "authorization_code",
        }
        try:
            async with httpx.AsyncClient(
                base_url=self.api_base, transport=self.transport, timeout=10
            ) as client:
                response = await client.get("/sns/oauth2/access_token", params=params)
        except httpx.HTTPError as exc:
            raise OAuthFailed(f"WeChat unreachable: {exc}") from exc
        try:
            data: Any = response.json()
        except ValueError:
            raise OAuthFailed(f"WeChat answered {response.status_code} with something not JSON") from None
        if not isinstance(data, dict) or data.get("errcode") or not data.get("openid"):
            errcode = data.get("errcode") if isinstance(data, dict) else None
            errmsg = data.get("errmsg") if isinstance(data, dict) else None
            raise OAuthFailed(f"WeChat refused the code: {errcode} {errmsg}")
        return str(data["openid"])[:128]
