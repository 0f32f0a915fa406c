"""Production mode, started as the README's Production section says: no demo part, no sandbox cashier, no
introspection; and it refuses to start with a default or short secret, the console SMS sender, the sandbox, or on a
demo database."""

from __future__ import annotations

import os
import re
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import ValidationError
from sqlalchemy import func
from sqlmodel import select

from laoyou.accounts import service as accounts
from laoyou.accounts.models import Person, Role
from laoyou.app import create_app
from laoyou.billing.models import Payment, SandboxOrder
from laoyou.core.db import session_scope
from laoyou.core.settings import DEFAULT_SECRET, Settings
from laoyou.demo.data import DEMO_STAFF_PASSWORD, demo_people_present
from laoyou.estates.models import District

from .conftest import GraphQLClient, make_database_url

ROOT = Path(__file__).resolve().parents[1]
ADMIN_PHONE = "13912345678"
ADMIN_PASSWORD = "a-long-admin-password"


def readme_production_env() -> dict[str, str]:
    """The variables the README's Production section sets, as it writes them."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n## Production\n", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```sh\n(.*?)```", section, flags=re.S)
    assert block, "the README's Production section shows its variables in a sh block"
    return dict(line.split("=", 1) for line in block.group(1).splitlines() if line.strip())


def production_env(data_dir: Path, database_url: str, **more: str) -> dict[str, str]:
    """The README's variables, with this test's own values where the README says to choose one."""
    env = readme_production_env()
    assert env["LAOYOU_MODE"] == "production"
    env.update(
        LAOYOU_SECRET_KEY=secrets.token_hex(32),
        LAOYOU_DATABASE_URL=database_url,
        LAOYOU_DATA_DIR=str(data_dir),
        LAOYOU_SMS_GATEWAY_TOKEN=secrets.token_hex(8),
    )  # the gateway itself is never asked here
    env.update(more)
    assert not [k for k, v in env.items() if "<" in v], "every value to choose is chosen"
    return env


@contextmanager
def environment(env: dict[str, str]) -> Iterator[None]:
    """Exactly these LAOYOU_* variables, for as long as the app reads them."""
    with pytest.MonkeyPatch.context() as patch:
        for name in [n for n in os.environ if n.startswith("LAOYOU_")]:
            patch.delenv(name)
        for name, value in env.items():
            patch.setenv(name, value)
        yield


def start_as_the_readme_says(env: dict[str, str]) -> Any:
    """What `laoyou serve` does: Settings from the environment, then the app."""
    with environment(env):
        return create_app(Settings())


@dataclass
class Production:
    app: Any
    admin_token: str  # a session of the administrator made by `laoyou create-admin`


@pytest.fixture(scope="module")
async def production(
    backend: str, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> AsyncIterator[Production]:
    tmp = tmp_path_factory.mktemp(f"readme-production-{backend}")
    application = start_as_the_readme_says(production_env(tmp, make_database_url(backend, tmp, request)))
    async with application.router.lifespan_context(application):
        # `laoyou create-admin`, as the README says to run once, then a session of theirs
        async with session_scope(application.state.sessionmaker) as session:
            person = await accounts.do_create_person(
                session, phone=ADMIN_PHONE, name="管理员", password=ADMIN_PASSWORD
            )
            await accounts.do_grant_role(session, person=person, role=Role.admin)
            started = await accounts.do_start_session(
                session,
                settings=application.state.settings,
                person=person,
                kind="bearer",
                method="password",
                user_agent="test",
            )
        yield Production(application, started.token)


@pytest.fixture
def production_app(production: Production) -> Any:
    return production.app


@pytest.fixture
async def anonymous(production_app: Any) -> AsyncIterator[GraphQLClient]:
    transport = httpx.ASGITransport(app=production_app, client=("10.7.7.7", 5000))
    async with httpx.AsyncClient(transport=transport, base_url="https://laoyou.example.cn") as http:
        yield GraphQLClient(http)


@pytest.fixture
def admin(production: Production, anonymous: GraphQLClient) -> GraphQLClient:
    return anonymous.as_token(production.admin_token)


async def persisted(app: Any, client: GraphQLClient, name: str, variables: dict[str, Any]) -> dict[str, Any]:
    """One of the PWA's own operations (all a resident may send with LAOYOU_PERSISTED_ONLY)."""
    return await client(app.state.persisted[name].document, variables, operation_name=name)


async def test_started_as_the_readme_says_it_is_production(production_app, anonymous):
    settings = production_app.state.settings
    assert settings.is_production and settings.secret_key != DEFAULT_SECRET and settings.persisted_only
    health = await anonymous.http.get("/healthz")
    assert health.json() == {"status": "ok", "mode": "production"}


async def test_no_sandbox_cashier_route_is_mounted(production_app, anonymous, admin):
    paths = [getattr(route, "path", "") for route in production_app.routes]
    assert not [p for p in paths if "sandbox" in p or p == "/login/demo"], paths
    http = anonymous.http
    http.cookies.set("laoyou_csrf", "token")
    for headers in ({}, {"Authorization": f"Bearer {admin.token}"}):
        # (in demo and dev, anonymous is sent to /login and a stranger gets a not-found from the page itself)
        assert (await http.get("/pay/sandbox/LY0001", headers=headers)).status_code == 404
        assert (
            await http.post("/pay/sandbox/LY0001", data={"csrf_token": "token"}, headers=headers)
        ).status_code == 404
    assert (await http.post("/billing/notify/sandbox", content=b"{}")).status_code == 404


async def test_the_login_page_offers_no_demo_login(production_app, anonymous):
    page = await anonymous.http.get("/login")
    assert page.status_code == 200
    assert (
        "/login/demo" not in page.text
        and DEMO_STAFF_PASSWORD not in page.text
        and "demo-people" not in page.text
    )
    anonymous.http.cookies.set("laoyou_csrf", "token")
    tapped = await anonymous.http.post("/login/demo", data={"phone": "+8613800000099", "csrf_token": "token"})
    assert tapped.status_code == 404
    listed = await persisted(production_app, anonymous, "LoginPage", {})
    assert listed["data"]["demoPeople"] == []
    refused = await persisted(production_app, anonymous, "LoginAsDemoPerson", {"phone": "13800000099"})
    assert refused["data"]["loginAsDemoPerson"]["__typename"] != "LoggedIn"
    assert refused["data"]["loginAsDemoPerson"]["code"] == "NOT_ALLOWED"


async def test_no_demo_data_is_loaded(production_app):
    async with production_app.state.sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(District)) == 0
        assert not await demo_people_present(session)
        assert (
            await session.scalar(select(func.count()).select_from(Person)) == 1
        )  # the admin of create-admin


async def test_no_sandbox_payment_method_and_paying_with_it_is_refused(production_app, admin):
    assert (await admin("query { paymentMethods }"))["data"]["paymentMethods"] == []
    pay = (
        'mutation ($m: PaymentMethod) { payBills(billIds: ["1"], idempotencyKey: "key-0001", method: $m) {'
        " __typename ... on Error { field message code } } }"
    )
    for method in ("sandbox", None):  # asked for, and the default
        for language, words in (
            ("en", "That way of paying is not available."),
            ("zh-CN", "暂不支持这种付款方式。"),
        ):
            refused = (await GraphQLClient(admin.http, admin.token, language)(pay, {"m": method}))["data"][
                "payBills"
            ]
            assert refused == {
                "__typename": "PayBillsError",
                "field": "method",
                "message": words,
                "code": "INVALID",
            }
    async with production_app.state.sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(Payment)) == 0
        assert await session.scalar(select(func.count()).select_from(SandboxOrder)) == 0


async def test_introspection_and_graphiql_are_off(admin):
    refused = await admin("query { __schema { types { name } } }", expect_errors=True)
    assert refused.get("data") is None and "introspection" in refused["errors"][0]["message"].lower()
    assert (await admin('query { __type(name: "Person") { name } }', expect_errors=True)).get("data") is None
    ide = await admin.http.get("/graphql", headers={"Accept": "text/html"})
    assert "graphiql" not in ide.text.lower()


@pytest.mark.parametrize("secret", [None, DEFAULT_SECRET, "x" * 31])
def test_a_default_or_short_secret_is_refused(tmp_path, secret):
    env = production_env(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite3'}")
    if secret is None:
        del env["LAOYOU_SECRET_KEY"]
    else:
        env["LAOYOU_SECRET_KEY"] = secret
    with environment(env), pytest.raises(ValidationError, match="LAOYOU_SECRET_KEY"):
        Settings()


@pytest.mark.parametrize("method", ["sandbox", "wechat"])
def test_the_sandbox_or_an_unconfigured_default_method_is_refused(tmp_path, method):
    env = production_env(
        tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite3'}", LAOYOU_PAY_DEFAULT_METHOD=method
    )
    with pytest.raises(ValueError, match=f"LAOYOU_PAY_DEFAULT_METHOD={method}"):
        start_as_the_readme_says(env)


async def test_a_database_holding_the_demo_people_is_refused(backend, tmp_path, request):
    # Given a production database into which `laoyou demo` put its people (here: its administrator)
    env = production_env(tmp_path, make_database_url(backend, tmp_path, request))
    first = start_as_the_readme_says(env)
    async with first.router.lifespan_context(first):
        async with session_scope(first.state.sessionmaker) as session:
            await accounts.do_create_person(
                session, phone="13800000099", name="老友管理员", password=DEMO_STAFF_PASSWORD
            )
    # When production starts on it, then it refuses
    again = start_as_the_readme_says(env)
    with pytest.raises(ValueError, match="demo's people"):
        async with again.router.lifespan_context(again):
            pass


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def serve(env: dict[str, str], port: int) -> subprocess.Popen:
    """`laoyou serve` in a process of its own, with exactly these LAOYOU_* variables."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("LAOYOU_")} | {"COLUMNS": "500"}
    return subprocess.Popen(
        [sys.executable, "-m", "laoyou.cli", "serve", "--port", str(port)],
        cwd=ROOT,
        env={**clean, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_laoyou_serve_in_production_has_no_demo_part(tmp_path):
    port = free_port()
    process = serve(production_env(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'laoyou.sqlite3'}"), port)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while process.poll() is None and time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/healthz").status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.3)
        else:
            raise AssertionError("production never became healthy")
        assert httpx.get(f"{base}/healthz").json()["mode"] == "production"
        login = httpx.get(f"{base}/login")
        assert (
            login.status_code == 200
            and "/login/demo" not in login.text
            and DEMO_STAFF_PASSWORD not in login.text
        )
        assert httpx.get(f"{base}/pay/sandbox/LY0001").status_code == 404
        assert httpx.post(f"{base}/login/demo", data={"phone": "13800000099"}).status_code == 404
        assert httpx.post(f"{base}/billing/notify/sandbox", content=b"{}").status_code == 404
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=30)
    assert "Traceback" not in output, output


@pytest.mark.parametrize(
    ("variable", "value", "says"),
    [
        ("LAOYOU_PAY_DEFAULT_METHOD", "sandbox", "LAOYOU_PAY_DEFAULT_METHOD=sandbox"),
        ("LAOYOU_SECRET_KEY", "short-but-private", "LAOYOU_SECRET_KEY"),
        ("LAOYOU_SMS_BACKEND", "console", "LAOYOU_SMS_BACKEND must be http"),
    ],
)
def test_laoyou_serve_in_production_refuses_to_start(tmp_path, variable, value, says):
    env = production_env(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'laoyou.sqlite3'}", **{variable: value})
    process = serve(env, free_port())
    try:
        output, _ = process.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        process.kill()
        raise AssertionError(
            f"production started with {variable}={value}: {process.communicate()[0]}"
        ) from None
    assert process.returncode == 2, output
    assert "refused" in output and says in " ".join(output.split()), output
