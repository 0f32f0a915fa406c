"""The execution shortcuts: plain leaf fields answered directly, and read-only requests ended without a commit."""

from __future__ import annotations

import enum
from typing import Any

import strawberry
from sqlalchemy import func, select

from laoyou.accounts.models import AuditEvent
from laoyou.estates.models import Community
from laoyou.graphql.context import Context
from laoyou.graphql.execution import LaoyouExecutionContext

from ..conftest import STEWARD_XIUSHAN, login_demo


@strawberry.enum
class Colour(enum.Enum):
    RED = "red"
    GREEN = "green"


@strawberry.type
class Thing:
    name: str
    colour: Colour
    size: int | None = None
    broken: str = strawberry.field(default=None)  # type: ignore[assignment]  (None where the schema says never)
    wrong_colour: Colour = strawberry.field(default="blue")  # type: ignore[assignment]

    @strawberry.field
    def shout(self) -> str:
        return self.name.upper()


@strawberry.type
class Query:
    @strawberry.field
    def things(self) -> list[Thing]:
        return [Thing(name="tea", colour=Colour.RED), Thing(name="rice", colour=Colour.GREEN, size=3)]


def schemas() -> tuple[strawberry.Schema, strawberry.Schema]:
    return (strawberry.Schema(query=Query, execution_context_class=LaoyouExecutionContext), strawberry.Schema(query=Query))


def test_plain_fields_answer_as_graphql_core_does() -> None:
    fast, plain = schemas()
    for query in (
        "{ things { name colour size shout } }",
        "{ things { name ...T n: name } } fragment T on Thing { name colour }",
        "{ things { name @skip(if: true) colour @include(if: false) size } }",
    ):
        assert fast.execute_sync(query).data == plain.execute_sync(query).data == plain.execute_sync(query).data
    assert fast.execute_sync("{ things { name colour size } }").data == {
        "things": [{"name": "tea", "colour": "RED", "size": None}, {"name": "rice", "colour": "GREEN", "size": 3}]
    }


def test_a_wrong_value_fails_with_graphql_cores_error_and_path() -> None:
    fast, plain = schemas()
    for query in ("{ things { name broken } }", "{ things { name wrongColour } }"):
        quick, slow = fast.execute_sync(query), plain.execute_sync(query)
        assert quick.data == slow.data
        assert [(e.message, e.path) for e in quick.errors] == [(e.message, e.path) for e in slow.errors]
        assert quick.errors


def count_commits(monkeypatch) -> list[int]:  # noqa: ANN001
    commits: list[int] = []
    real = Context.commit

    async def commit(self: Context) -> None:
        commits.append(1)
        await real(self)

    monkeypatch.setattr(Context, "commit", commit)
    return commits


async def test_a_query_that_only_reads_is_not_committed(gql, monkeypatch) -> None:  # noqa: ANN001
    steward = await login_demo(gql, STEWARD_XIUSHAN)
    commits = count_commits(monkeypatch)
    data = (await steward("{ viewer { staffCommunities { id name } } }"))["data"]
    assert data["viewer"]["staffCommunities"]
    assert commits == []


async def test_a_query_that_writes_its_audit_is_committed(gql, db, monkeypatch) -> None:  # noqa: ANN001
    steward = await login_demo(gql, STEWARD_XIUSHAN)
    community_id = (await db.execute(select(Community.id).where(Community.name == "秀山花园"))).scalar_one()
    audited = select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "household.read_people")
    before = (await db.execute(audited)).scalar_one()
    commits = count_commits(monkeypatch)
    query = """query ($id: ID!) { community(id: $id) { households(first: 3) { nodes { id members { name } } } } }"""
    households = (await steward(query, {"id": str(community_id)}))["data"]["community"]["households"]["nodes"]
    assert households
    assert commits == [1]
    # The request's session was a savepoint inside the test's transaction: uncommitted, its rows would be gone.
    assert (await db.execute(audited)).scalar_one() - before == len(households)
