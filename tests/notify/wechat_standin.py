"""A local stand-in of WeChat's official-account API: `POST /cgi-bin/stable_token` and
`POST /cgi-bin/message/template/send`, answering as WeChat does (HTTP 200 with a JSON body of errcode and
errmsg, a msgid on success) and checking what WeChat checks: the credentials, the access token (which the test
can expire or revoke), that the receiver follows the account, the template, and the keywords' values (a
thing.* longer than 20 characters is refused with 47003). It records every message as the bytes it was sent.

It is an ASGI app: the adapter reaches it through httpx.ASGITransport, with its real HTTP client.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import secrets
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

APPID = "wx2421b1c4370ec43b"
SECRET = "the-official-accounts-appsecret-0123"
TEMPLATE_ID = "ngqIpbwh8bUfcSsECmogfXcV14J0tQlEpBO27izEYtY"
TIME_VALUE = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}")


@dataclass
class Sent:
    openid: str
    body: bytes  # as it came on the wire
    message: dict[str, Any]
    msgid: int


@dataclass
class WechatStandIn:
    appid: str = APPID
    secret: str = SECRET
    template_id: str = TEMPLATE_ID
    expires_in: int = 7200
    token_delay: float = 0.0  # how long a token fetch takes, so that parallel sends overlap it
    tokens: set[str] = field(default_factory=set)  # the tokens WeChat accepts now
    token_requests: list[dict[str, Any]] = field(default_factory=list)
    unfollowed: set[str] = field(default_factory=set)  # openids that no longer follow the account (43004)
    refused: set[str] = field(default_factory=set)  # openids that turned the account's messages off (43101)
    busy: int = 0  # the next this many template sends answer -1 (system busy)
    sent: list[Sent] = field(default_factory=list)
    attempts: int = 0  # template sends received, accepted or not
    _msgids: itertools.count = field(default_factory=lambda: itertools.count(200228332))
    _by_client_id: dict[tuple[str, str], int] = field(default_factory=dict)  # one message per (openid, id)

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/cgi-bin/stable_token", self.stable_token, methods=["POST"]),
                Route("/cgi-bin/message/template/send", self.template_send, methods=["POST"]),
            ]
        )

    def expire_tokens(self) -> None:
        """Every token handed out stops working (its 7200 s are up, or someone forced a refresh)."""
        self.tokens.clear()

    @staticmethod
    def _error(errcode: int, errmsg: str) -> JSONResponse:
        return JSONResponse({"errcode": errcode, "errmsg": f"{errmsg} rid: {secrets.token_hex(4)}"})

    async def _json(self, request: Request) -> Any:
        body = await request.body()
        try:
            return json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            return None

    async def stable_token(self, request: Request) -> JSONResponse:
        data = await self._json(request)
        if not isinstance(data, dict):
            return self._error(47001, "data format error")
        self.token_requests.append(data)
        if data.get("grant_type") != "client_credential":
            return self._error(40002, "invalid grant_type")
        if data.get("appid") != self.appid:
            return self._error(40013, "invalid appid")
        if data.get("secret") != self.secret:
            return self._error(40125, "invalid appsecret")
        if self.token_delay:
            await asyncio.sleep(self.token_delay)
        # Normal mode: the valid token is handed out again; a new one only when none is valid.
        if not self.tokens:
            self.tokens.add(secrets.token_urlsafe(48))
        return JSONResponse({"access_token": next(iter(self.tokens)), "expires_in": self.expires_in})

    async def template_send(self, request: Request) -> JSONResponse:
        self.attempts += 1
        token = request.query_params.get("access_token", "")
        if not token:
            return self._error(41001, "access_token missing")
        if token not in self.tokens:
            return self._error(40001, "invalid credential, access_token is invalid or not latest")
        if self.busy:
            self.busy -= 1
            return self._error(-1, "system error")
        body = await request.body()
        data = await self._json(request)
        if not isinstance(data, dict) or not isinstance(data.get("data"), dict):
            return self._error(47001, "data format error")
        openid = data.get("touser")
        if not isinstance(openid, str) or not openid:
            return self._error(40003, "invalid openid")
        if data.get("template_id") != self.template_id:
            return self._error(40037, "invalid template_id")
        for keyword, item in data["data"].items():
            value = item.get("value") if isinstance(item, dict) else None
            if (
                not isinstance(value, str)
                or not value
                or (keyword.startswith("thing") and len(value) > 20)
                or (keyword.startswith("time") and not TIME_VALUE.fullmatch(value))
            ):
                return self._error(47003, f"argument invalid! data.{keyword}.value invalid")
        if openid in self.unfollowed:
            return self._error(43004, "require subscribe")
        if openid in self.refused:
            return self._error(43101, "user refuse to accept the msg")
        dedupe = data.get("client_msg_id")
        if dedupe is not None and (not isinstance(dedupe, str) or len(dedupe.encode()) > 64):
            return self._error(47001, "data format error")
        if dedupe and (openid, dedupe) in self._by_client_id:
            # The same message again (a sender's retry): WeChat sends it once.
            return JSONResponse({"errcode": 0, "errmsg": "ok", "msgid": self._by_client_id[(openid, dedupe)]})
        msgid = next(self._msgids)
        self.sent.append(Sent(openid=openid, body=body, message=data, msgid=msgid))
        if dedupe:
            self._by_client_id[(openid, dedupe)] = msgid
        return JSONResponse({"errcode": 0, "errmsg": "ok", "msgid": msgid})
