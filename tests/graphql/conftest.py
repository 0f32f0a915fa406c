"""Fixtures for the GraphQL tests: an app in production mode, and a counter of SQL statements."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import event

from laoyou.app import create_app

from ..conftest import GraphQLClient, make_database_url, make_settings


@pytest.fixture(scope="session")
async def production_app(
    backend: str, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> AsyncIterator[Any]:
    """A fresh app in production mode (with a private secret key), loaded with the demo data."""
    tmp = tmp_path_factory.mktemp(f"production-{backend}")
    settings = make_settings(tmp, make_database_url(backend, tmp, request), mode="production")
    assert settings.is_production
    application = create_app(settings, load_demo=True)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def production(production_app: Any) -> AsyncIterator[GraphQLClient]:
    transport = httpx.ASGITransport(app=production_app, client=("10.6.6.6", 5000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield GraphQLClient(http)


class StatementCounter:
    """Counts the SQL statements the app sends while `counting` is on."""

    def __init__(self) -> None:
        self.statements: list[str] = []
        self.counting = False

    def __call__(self, conn, cursor, statement, parameters, context, executemany) -> None:  # noqa: ANN001, PLR0913
        if self.counting and not statement.lstrip().upper().startswith(
            ("SAVEPOINT", "RELEASE", "ROLLBACK TO")
        ):
            self.statements.append(statement)

    async def during(self, work: Any) -> tuple[int, Any]:
        """Run an awaitable and return (statements it cost, its result)."""
        self.statements = []
        self.counting = True
        try:
            result = await work
        finally:
            self.counting = False
        return len(self.statements), result


@pytest.fixture
def sql_statements(app: Any) -> Iterator[StatementCounter]:
    counter = StatementCounter()
    engine = app.state.engine.sync_engine
    event.listen(engine, "before_cursor_execute", counter)
    try:
        yield counter
    finally:
        event.remove(engine, "before_cursor_execute", counter)
