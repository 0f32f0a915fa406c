"""An app of the web tests' own, for tests that must exercise the real write gate and connection pool.

The session-wide `app` runs each test inside one rolled-back transaction, so a request can never leave the
gate held or a connection checked out there. These tests need what a server has: their own database, the
app's own sessionmaker, every commit real.
"""

from __future__ import annotations

import asyncio
import gc
import re
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

from laoyou.app import create_app
from laoyou.core.db import BUSY_SECONDS, WriteGate

from ..conftest import LOGIN_AS_DEMO, RESIDENT_XIUSHAN, make_database_url, make_settings

# A writer left holding the gate makes the next one wait BUSY_SECONDS and fail; any healthy write is far quicker,
# even on a loaded machine (1 s was missed there by a healthy login while other suites ran).
WRITE_DEADLINE = 10.0
assert WRITE_DEADLINE < BUSY_SECONDS


@pytest.fixture(scope="module")
async def own_app(
    backend: str, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> AsyncIterator[Any]:
    tmp = tmp_path_factory.mktemp(f"own-app-{backend}")
    application = create_app(make_settings(tmp, make_database_url(backend, tmp, request)))
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
def collector_paused() -> Iterator[None]:
    """A long-running server collects cycles rarely (and freezes what survives), so whatever a request leaks
    stays; with the collector paused a test sees the same, instead of a leak the collector happens to end."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


@asynccontextmanager
async def browser(
    app: Any, *, client: tuple[str, int] = ("10.9.8.7", 5000)
) -> AsyncIterator[httpx.AsyncClient]:
    """A phone without JavaScript: cookies kept, redirects not followed."""
    transport = httpx.ASGITransport(app=app, client=client)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


def csrf_in(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "the page has no CSRF field"
    return found.group(1)


async def open_page(http: httpx.AsyncClient, path: str, **headers: str) -> str:
    response = await http.get(path, headers=headers)
    assert response.status_code == 200, response.text
    return response.text


async def log_in(http: httpx.AsyncClient, phone: str) -> None:
    """Log in by the login page's one-tap demo form."""
    token = csrf_in(await open_page(http, "/login"))
    response = await http.post("/login/demo", data={"phone": phone, "csrf_token": token})
    assert response.status_code == 303 and response.headers["location"] == "/", response.text


async def bearer(http: httpx.AsyncClient, phone: str) -> str:
    response = await http.post("/graphql", json={"query": LOGIN_AS_DEMO, "variables": {"phone": phone}})
    data = response.json()["data"]["loginAsDemoPerson"]
    assert data["__typename"] == "LoggedIn", data
    return data["token"]


def checked_out(app: Any) -> int:
    return app.state.engine.pool.checkedout()


def gate_holders(app: Any) -> int:
    gate = WriteGate.of(app.state.engine)
    return gate.holders if gate is not None else 0


async def assert_released(app: Any, after: str = "") -> None:
    """A write (a login) goes through at once, and afterwards no connection is checked out and nobody holds
    the write gate."""
    async with browser(app, client=("10.1.1.1", 1)) as http:
        try:
            async with asyncio.timeout(WRITE_DEADLINE):
                await bearer(http, RESIDENT_XIUSHAN)
        except TimeoutError:
            pytest.fail(
                f"a login waited more than {WRITE_DEADLINE} s {after} (gate holders: {gate_holders(app)}, "
                f"connections checked out: {checked_out(app)})"
            )
    assert checked_out(app) == 0, f"a connection is still checked out {after}"
    assert gate_holders(app) == 0, f"the write gate is still held {after}"
