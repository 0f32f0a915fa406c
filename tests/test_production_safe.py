"""Production is safe by default: Secure cookies and persisted-only without being asked, a warning when either is
turned off, no "Did you mean" naming the schema, and X-Forwarded-For believed from the listed proxies only."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from laoyou.accounts import service as accounts
from laoyou.accounts.models import Role
from laoyou.core.db import session_scope
from laoyou.core.settings import Settings

from .conftest import GraphQLClient, make_database_url, make_settings, started
from .test_production import (
    ADMIN_PASSWORD,
    ADMIN_PHONE,
    environment,
    production_env,
    start_as_the_readme_says,
)

SAFE_DEFAULTS = ("LAOYOU_COOKIE_SECURE", "LAOYOU_PERSISTED_ONLY")


def without_safe_defaults(env: dict[str, str]) -> dict[str, str]:
    return {name: value for name, value in env.items() if name not in SAFE_DEFAULTS}


async def with_admin(app: Any) -> str:
    """`laoyou create-admin`, then a bearer session of theirs."""
    async with session_scope(app.state.sessionmaker) as session:
        person = await accounts.do_create_person(
            session, phone=ADMIN_PHONE, name="管理员", password=ADMIN_PASSWORD
        )
        await accounts.do_grant_role(session, person=person, role=Role.admin)
        started_session = await accounts.do_start_session(
            session,
            settings=app.state.settings,
            person=person,
            kind="bearer",
            method="password",
            user_agent="test",
        )
    return started_session.token


@pytest.fixture(scope="module")
async def unasked(
    backend: str, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> AsyncIterator[tuple[Any, str]]:
    """Production started with the README's variables but neither LAOYOU_COOKIE_SECURE nor _PERSISTED_ONLY."""
    tmp = tmp_path_factory.mktemp(f"production-defaults-{backend}")
    env = without_safe_defaults(production_env(tmp, make_database_url(backend, tmp, request)))
    application = start_as_the_readme_says(env)
    async with application.router.lifespan_context(application):
        yield application, await with_admin(application)


@pytest.fixture
async def http(unasked) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=unasked[0], client=("10.7.7.8", 5000))
    async with httpx.AsyncClient(transport=transport, base_url="https://laoyou.example.cn") as client:
        yield client


def test_production_turns_both_on_unless_told_otherwise(tmp_path):
    env = without_safe_defaults(production_env(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite3'}"))
    with environment(env):
        settings = Settings()
    assert settings.cookie_secure and settings.persisted_only and settings.turned_off_in_production == []
    with environment(env | {"LAOYOU_PERSISTED_ONLY": "false", "LAOYOU_COOKIE_SECURE": "0"}):
        settings = Settings()
    assert not settings.cookie_secure and not settings.persisted_only
    assert settings.turned_off_in_production == ["LAOYOU_COOKIE_SECURE", "LAOYOU_PERSISTED_ONLY"]
    with environment({"LAOYOU_MODE": "dev"}):  # elsewhere nothing changes
        settings = Settings()
    assert not settings.cookie_secure and not settings.persisted_only


async def test_the_csrf_and_session_cookies_are_secure(http):
    page = await http.get("/login")
    csrf = [c for c in page.headers.get_list("set-cookie") if c.startswith("laoyou_csrf=")]
    assert csrf and all("secure" in c.lower() for c in csrf), csrf
    token = http.cookies["laoyou_csrf"]
    logged_in = await http.post(
        "/login/password", data={"phone": ADMIN_PHONE, "password": ADMIN_PASSWORD, "csrf_token": token}
    )
    assert logged_in.status_code in (302, 303), logged_in.text
    session = [c for c in logged_in.headers.get_list("set-cookie") if c.startswith("laoyou_session=")]
    assert session and all("secure" in c.lower() for c in session), session


async def test_anonymous_raw_documents_are_refused(unasked, http):
    refused = await http.post("/graphql", json={"query": "query { viewer { isStaff } }"})
    assert refused.status_code == 400 and refused.json()["errors"][0]["message"] == "PersistedQueryRequired"


async def test_turning_persisted_only_off_warns_once_at_start(backend, tmp_path, request, caplog):
    env = production_env(
        tmp_path, make_database_url(backend, tmp_path, request), LAOYOU_PERSISTED_ONLY="false"
    )
    application = start_as_the_readme_says(env)
    with caplog.at_level(logging.WARNING, logger="laoyou"):
        async with application.router.lifespan_context(application):
            pass
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and r.name == "laoyou"]
    assert warnings == ["LAOYOU_PERSISTED_ONLY=false: a safe default of production mode is turned off"]


@pytest.mark.parametrize(
    "document",
    [
        "query { viewr { isStaff } }",  # a field
        "query { viewer { isStaf } }",  # a field of a type
        "query { communities(firts: 3) { nodes { name } } }",  # an argument
        "query ($p: Strin) { viewer { isStaff } }",  # a type
        'mutation { payBills(billIds: ["1"], idempotencyKey: "key-0001", method: sandboxx) { __typename } }',
        "query { viewer }",  # a leaf: "Did you mean 'viewer { ... }'?"
    ],
)
async def test_validation_messages_suggest_no_names(unasked, http, document):
    staff = GraphQLClient(http, unasked[1])  # staff may send their own documents
    messages = [e["message"] for e in (await staff(document, expect_errors=True))["errors"]]
    assert messages and not [m for m in messages if "Did you mean" in m], messages


async def test_a_variable_naming_no_enum_value_suggests_none(unasked, http):
    staff = GraphQLClient(http, unasked[1])
    pay = (
        'mutation ($m: PaymentMethod) { payBills(billIds: ["1"], idempotencyKey: "key-0001", method: $m) {'
        " __typename } }"
    )
    messages = [e["message"] for e in (await staff(pay, {"m": "sandboxx"}, expect_errors=True))["errors"]]
    assert messages and not [m for m in messages if "Did you mean" in m], messages


# --- trusted proxies ---------------------------------------------------------------------------------------

REQUEST_CODE = (
    "mutation ($phone: String!) { requestLoginCode(phone: $phone) { __typename ... on Error { code } } }"
)


@pytest.fixture
async def one_code_per_address(backend, tmp_path, request) -> AsyncIterator[Any]:
    settings = make_settings(
        tmp_path,
        make_database_url(backend, tmp_path, request),
        mode="dev",
        login_codes_per_ip_hour=1,
        trusted_proxies="10.0.0.0/8, 192.0.2.1",
    )
    async with started(settings, load_demo=False) as application:
        yield application


async def ask_code(app: Any, peer: str, phone: str, forwarded_for: str | None = None) -> str:
    transport = httpx.ASGITransport(app=app, client=(peer, 5000))
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver", headers=headers) as http:
        answer = await GraphQLClient(http)(REQUEST_CODE, {"phone": phone})
    return answer["data"]["requestLoginCode"]["__typename"]


async def test_rate_limits_see_the_client_a_listed_proxy_names(one_code_per_address):
    app = one_code_per_address
    assert await ask_code(app, "10.1.2.3", "13800001001", "203.0.113.5") == "LoginCodeSent"
    # another resident behind the same proxy is another client
    assert await ask_code(app, "10.1.2.3", "13800001002", "203.0.113.6") == "LoginCodeSent"
    assert await ask_code(app, "192.0.2.1", "13800001003", "203.0.113.7") == "LoginCodeSent"
    # the first one again, through either proxy: over its limit
    assert await ask_code(app, "10.9.9.9", "13800001004", "203.0.113.5") != "LoginCodeSent"


async def test_x_forwarded_for_from_an_unlisted_address_is_ignored(one_code_per_address):
    app = one_code_per_address
    assert await ask_code(app, "198.51.100.7", "13800001011", "203.0.113.21") == "LoginCodeSent"
    # a stranger cannot reset its limit by naming another client
    assert await ask_code(app, "198.51.100.7", "13800001012", "203.0.113.22") != "LoginCodeSent"
    # nor spend another client's by naming it
    assert await ask_code(app, "198.51.100.8", "13800001013", "198.51.100.7") == "LoginCodeSent"


def test_a_malformed_trusted_proxy_is_refused():
    with pytest.raises(ValidationError, match="LAOYOU_TRUSTED_PROXIES"):
        Settings(trusted_proxies="10.0.0.0/8, proxy.example.cn")


async def test_a_live_socket_sees_the_client_a_listed_proxy_names(one_code_per_address):
    """The /graphql socket's own short chain (app.py LaoyouApp) reads X-Forwarded-For as requests do."""
    app = one_code_per_address
    seen: list[tuple] = []

    async def view(scope: dict, receive: Any, send: Any) -> None:
        seen.append((scope["client"][0], scope["scheme"]))

    def upgrade(peer: str) -> dict:
        headers = [(b"x-forwarded-for", b"203.0.113.5"), (b"x-forwarded-proto", b"https")]
        return {
            "type": "websocket",
            "path": "/graphql",
            "client": (peer, 5000),
            "scheme": "ws",
            "headers": headers,
        }

    sockets, app.graphql_sockets = app.graphql_sockets, view
    try:
        await app(upgrade("10.1.2.3"), None, None)
        await app(upgrade("198.51.100.8"), None, None)  # not a listed proxy: its header is ignored
    finally:
        app.graphql_sockets = sockets
    assert seen == [("203.0.113.5", "wss"), ("198.51.100.8", "ws")]
