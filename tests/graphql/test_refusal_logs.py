"""A refusal the caller caused (not found, forbidden, a mistake, a malformed document) is one INFO line in the
log; only an error nobody meant is an ERROR with its traceback."""

from __future__ import annotations

import logging

import pytest
import strawberry

from laoyou.core.errors import LaoyouError, NotFound, PermissionDenied
from laoyou.graphql.schema import LaoyouSchema

from ..conftest import RESIDENT_XIUSHAN, login_demo
from ..web.conftest import log_in


def records(caplog) -> list[logging.LogRecord]:  # noqa: ANN001
    """What the refusal logged: not the libraries' lines, nor the access line every request gets."""
    return [
        r
        for r in caplog.records
        if not r.name.startswith(("httpx", "sqlalchemy", "aiosqlite", "asyncio", "laoyou.requests"))
    ]


def one_info_line(caplog, *words: str) -> logging.LogRecord:  # noqa: ANN001
    seen = records(caplog)
    assert [r.levelname for r in seen] == ["INFO"], [(r.levelname, r.name, r.getMessage()) for r in seen]
    assert seen[0].exc_info is None and "\n" not in seen[0].getMessage()
    assert all(word in seen[0].getMessage() for word in words), seen[0].getMessage()
    return seen[0]


@pytest.mark.parametrize(
    ("query", "words"),
    [
        ('query Foreign { household(id: "999999") { id } }', ("Foreign", "household", "Not found.")),
        ('query Staff { loginCards(householdId: "1") { id } }', ("Staff", "loginCards")),
        ("query Typo { viewr { isStaff } }", ("Typo", "viewr")),
        ("query Big { briefings(first: 100000) { nodes { id } } }", ("Big", "briefings")),
    ],
)
async def test_a_graphql_refusal_is_one_info_line(gql, caplog, query, words):
    resident = await login_demo(gql, RESIDENT_XIUSHAN)
    caplog.clear()
    with caplog.at_level(logging.DEBUG):
        result = await resident(query, expect_errors=True)
    assert result["errors"]
    one_info_line(caplog, "refused", *words)


async def test_a_page_refusal_is_one_info_line(client, caplog):
    # Given a resident asking for a work order that is not there (or not hers)
    await log_in(client, RESIDENT_XIUSHAN)
    caplog.clear()
    with caplog.at_level(logging.DEBUG):
        response = await client.get("/orders/999999")
    # Then the page says not found, and the log has one quiet line
    assert response.status_code == 404
    one_info_line(caplog, "refused", "WorkOrderPage", "Not found.")


@strawberry.type
class Query:
    @strawberry.field
    def denied(self) -> int | None:
        raise PermissionDenied()

    @strawberry.field
    def missing(self) -> int | None:
        raise NotFound()

    @strawberry.field
    def mistaken(self) -> int | None:
        raise LaoyouError("INVALID", "Please give 1 to 5 stars.")  # type: ignore[arg-type]

    @strawberry.field
    def broken(self) -> int | None:
        raise RuntimeError("a bug")


@pytest.mark.parametrize("field", ["denied", "missing", "mistaken"])
async def test_expected_refusals_carry_no_traceback(caplog, field):
    with caplog.at_level(logging.DEBUG):
        result = await LaoyouSchema(query=Query).execute(f"query Ask {{ {field} }}")
    assert result.errors
    one_info_line(caplog, "refused Ask", field)


async def test_an_unexpected_error_is_still_an_error_with_its_traceback(caplog):
    with caplog.at_level(logging.DEBUG):
        result = await LaoyouSchema(query=Query).execute("query Ask { broken denied }")
    assert len(result.errors) == 2
    seen = records(caplog)
    errors = [r for r in seen if r.levelname == "ERROR"]
    assert len(errors) == 1 and errors[0].exc_info and isinstance(errors[0].exc_info[1], RuntimeError)
    assert [r.levelname for r in seen if r is not errors[0]] == ["INFO"]
