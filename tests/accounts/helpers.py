"""Helpers shared by the accounts, graphql and web tests: codes from the SMS sender, row counts."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
from sqlalchemy import func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from laoyou.accounts.sms import HttpSmsGateway, SentSms
from laoyou.core.settings import Settings

from ..conftest import GraphQLClient

REQUEST_LOGIN_CODE = """
mutation ($phone: String!) {
  requestLoginCode(phone: $phone) {
    __typename
    ... on LoginCodeSent { maskedPhone expiresInSeconds resendAfterSeconds }
    ... on Error { field message code }
  }
}
"""

LOGIN_WITH_CODE = """
mutation ($phone: String!, $code: String!) {
  loginWithCode(phone: $phone, code: $code, sessionKind: BEARER) {
    __typename
    ... on LoggedIn { token expiresAt viewer { person { id name phone } roles { role } } }
    ... on Error { field message code }
  }
}
"""

VIEWER = "query { viewer { person { id name phone } isStaff roles { role communityId householdId } } }"


def e164(national: str) -> str:
    return "+86" + re.sub(r"\D", "", national)[-11:]


class RecordedSmsGateway(HttpSmsGateway):
    """Production's HTTP SMS adapter with its gateway answered in the process (the gateway's JSON protocol, as
    tests/accounts/test_sms.py checks it): the texts it was given are kept, so a production app's test can log in."""

    def __init__(self, settings: Settings) -> None:
        self.sent: list[SentSms] = []
        super().__init__(
            settings.sms_gateway_url,
            settings.sms_gateway_token,
            settings.sms_sign_name,
            client=httpx.AsyncClient(transport=httpx.MockTransport(self._answer)),
        )

    def _answer(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        self.sent.append(SentSms(body["phone"], body["text"]))
        return httpx.Response(200, json={"ok": True})

    def last_to(self, phone: str) -> str | None:
        return next((message.text for message in reversed(self.sent) if message.phone == phone), None)


def sent_code(app: Any, phone: str) -> str:
    """The code in the last SMS the app's sender (the console's, or a RecordedSmsGateway) sent to this number."""
    text = app.state.sms.last_to(e164(phone))
    assert text, f"no SMS was sent to {phone}"
    found = re.search(r"\b(\d{6})\b", text)
    assert found, text
    return found.group(1)


def wrong_code(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


async def request_code(gql: GraphQLClient, phone: str) -> dict[str, Any]:
    return (await gql(REQUEST_LOGIN_CODE, {"phone": phone}))["data"]["requestLoginCode"]


async def login_with_code(gql: GraphQLClient, phone: str, code: str) -> dict[str, Any]:
    return (await gql(LOGIN_WITH_CODE, {"phone": phone, "code": code}))["data"]["loginWithCode"]


async def login_new_person(gql: GraphQLClient, app: Any, phone: str) -> GraphQLClient:
    """Log a number in by SMS code (creating the person on first login); returns a bearer client."""
    sent = await request_code(gql, phone)
    assert sent["__typename"] == "LoginCodeSent", sent
    result = await login_with_code(gql, phone, sent_code(app, phone))
    assert result["__typename"] == "LoggedIn", result
    return gql.as_token(result["token"])


async def count_rows(db: AsyncSession, model: Any, *where: Any) -> int:
    query = select(func.count()).select_from(model)
    if where:
        query = query.where(*where)
    return (await db.execute(query)).scalar_one()


async def viewer(gql: GraphQLClient) -> dict[str, Any]:
    return (await gql(VIEWER))["data"]["viewer"]
