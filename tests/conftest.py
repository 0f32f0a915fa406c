"""Fixtures shared by every test.

Database tests run twice: on SQLite and on a real PostgreSQL server (a throwaway cluster started here).
Each backend gets one app, migrated and loaded with a small demo; each test runs inside a transaction
that is rolled back (the app's sessions join it through savepoints), so tests never see each other.
Set LAOYOU_TEST_BACKENDS=sqlite to run on SQLite only, and LAOYOU_TEST_CLOCK=23:59 to run as if it were that
Shanghai time today (tests/clock.py).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from laoyou.app import create_app
from laoyou.core.db import SerialAsyncSession, TrackedSession, use_driver_begin, use_explicit_begin
from laoyou.core.settings import Settings

from . import clock
from .pg import PostgresCluster

BACKENDS = [
    b.strip() for b in os.environ.get("LAOYOU_TEST_BACKENDS", "sqlite,postgres").split(",") if b.strip()
]
DEMO_SCALE = 0.02
moved_clock = pytest.StashKey[Any]()


def pytest_configure(config: pytest.Config) -> None:
    # Before any app is built: the demo data is dated from the moved clock too.
    config.stash[moved_clock] = clock.start()


def pytest_unconfigure(config: pytest.Config) -> None:
    traveller = config.stash.get(moved_clock, None)
    if traveller is not None:
        traveller.stop()


def pytest_report_header(config: pytest.Config) -> str | None:
    if config.stash.get(moved_clock, None) is None:
        return None
    return f"clock moved: the session started at {datetime.now(clock.SHANGHAI):%Y-%m-%d %H:%M} Shanghai time"


@pytest.fixture(scope="session")
def pg_cluster() -> Any:
    cluster = PostgresCluster().start()
    yield cluster
    cluster.stop()


_db_counter = iter(range(1, 10_000))


def make_database_url(backend: str, tmp: Path, request: pytest.FixtureRequest) -> str:
    """A fresh, empty database on the given backend."""
    if backend == "sqlite":
        return f"sqlite+aiosqlite:///{tmp / f'test-{next(_db_counter)}.sqlite3'}"
    cluster = request.getfixturevalue("pg_cluster")
    return cluster.create_database(f"laoyou_test_{next(_db_counter)}")


def make_settings(tmp: Path, database_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "mode": "demo",
        "data_dir": tmp,
        "database_url": database_url,
        "secret_key": "test-secret-key-that-is-long-enough-0123456789",
        "demo_households_scale": DEMO_SCALE,
        "login_codes_per_ip_hour": 1000,
        # Tests run the periodic jobs themselves, with a moved clock.
        "jobs_interval_scale": 0,
    }
    if overrides.get("mode") == "production":  # production sends codes through a gateway, never the log
        values.update(
            sms_backend="http",
            sms_gateway_url="http://127.0.0.1:9/sms",
            sms_gateway_token="test-token",
            voice_backend="none",  # production places calls through a provider or none; the console is refused
            # these tests send raw documents over http://testserver; tests/test_production.py checks the defaults
            persisted_only=False,
            cookie_secure=False,
        )
    values.update(overrides)
    return Settings(**values)


@asynccontextmanager
async def started(settings: Settings, **options: Any) -> AsyncIterator[Any]:
    """An app of its own for settings the shared one lacks (never patch its state); several may share a database."""
    application = create_app(settings, **options)
    async with application.router.lifespan_context(application):
        yield application


@asynccontextmanager
async def graphql_client(app: Any, address: str = "10.9.8.7") -> AsyncIterator[GraphQLClient]:
    """A bearer-token GraphQL client of that app, calling from that address."""
    transport = httpx.ASGITransport(app=app, client=(address, 5000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield GraphQLClient(http)


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(scope="session")
async def app(
    backend: str, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> AsyncIterator[Any]:
    tmp = tmp_path_factory.mktemp(f"app-{backend}")
    application = create_app(make_settings(tmp, make_database_url(backend, tmp, request)))
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def db(app: Any) -> AsyncIterator[AsyncSession]:
    """One outer transaction per test; the app's sessions run in savepoints inside it and it is rolled back."""
    engine = app.state.engine
    original = app.state.sessionmaker
    async with engine.connect() as connection:
        sqlite = engine.dialect.name == "sqlite"
        if sqlite:
            await connection.run_sync(use_explicit_begin)
        transaction = await connection.begin()
        maker = async_sessionmaker(
            bind=connection,
            class_=SerialAsyncSession,
            sync_session_class=TrackedSession,
            expire_on_commit=False,
            join_transaction_mode="create_savepoint",
        )
        app.state.sessionmaker = maker
        session = maker()
        try:
            yield session
        finally:
            await session.close()
            app.state.sessionmaker = original
            await transaction.rollback()
            if sqlite:
                await connection.run_sync(use_driver_begin)


@pytest.fixture
async def client(app: Any, db: AsyncSession) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=("10.9.8.7", 5000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


@dataclass
class GraphQLClient:
    """Posts GraphQL as a bearer-token client (no cookies, no CSRF)."""

    http: httpx.AsyncClient
    token: str | None = None
    language: str = "en"

    async def __call__(
        self,
        query: str,
        variables: dict[str, Any] | None = None,
        *,
        expect_errors: bool = False,
        operation_name: str | None = None,
    ) -> dict[str, Any]:
        headers = {"Accept-Language": self.language}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        body: dict[str, Any] = {"query": query, "variables": variables or {}}
        if operation_name:
            body["operationName"] = operation_name
        response = await self.http.post("/graphql", json=body, headers=headers)
        assert response.status_code == 200, response.text
        payload = response.json()
        if not expect_errors:
            assert not payload.get("errors"), payload["errors"]
        return payload

    def as_token(self, token: str | None) -> GraphQLClient:
        return GraphQLClient(self.http, token, self.language)


LOGIN_AS_DEMO = """
mutation ($phone: String!) {
  loginAsDemoPerson(phone: $phone, sessionKind: BEARER) {
    __typename
    ... on LoggedIn { token }
    ... on Error { message code }
  }
}
"""


@pytest.fixture
def gql(client: httpx.AsyncClient) -> GraphQLClient:
    return GraphQLClient(client)


async def login_demo(gql: GraphQLClient, phone: str) -> GraphQLClient:
    data = (await gql(LOGIN_AS_DEMO, {"phone": phone}))["data"]["loginAsDemoPerson"]
    assert data["__typename"] == "LoggedIn", data
    return gql.as_token(data["token"])


# The demo people (see laoyou.demo.data.DEMO_PEOPLE), by what the tests use them for.
RESIDENT_XIUSHAN = "13800000001"
RESIDENT_JINGJU = "13800000002"
FAMILY_OF_XIUSHAN = "13800000003"
STEWARD_XIUSHAN = "13800000011"
STEWARD_ZHUJIAJIAO = "13800000012"
STEWARD_YUEYANG = "13800000013"
FIELD_ZHUJIAJIAO = "13800000021"
AGENT_NANNING = "13800000031"
OFFICIAL_XIUSHAN = "13800000041"
OFFICIAL_ZHUJIAJIAO = "13800000042"
ADMIN = "13800000099"
