"""The execution shortcuts: plain leaf fields answered directly, and read-only requests ended without a commit."""

from __future__ import annotations

import asyncio
import enum
import gc
from typing import Any

import pytest
import strawberry
from graphql import GraphQLError
from sqlalchemy import func, select
from strawberry.extensions import ParserCache
from strawberry.permission import BasePermission

from laoyou.accounts.models import AuditEvent, AuthSession
from laoyou.estates.models import Community
from laoyou.graphql import execution
from laoyou.graphql.context import Context
from laoyou.graphql.execution import LaoyouExecutionContext, _plain_leaf, install_lean_resolvers

from ..conftest import RESIDENT_XIUSHAN, STEWARD_XIUSHAN, login_demo

# A selection with fields for one member of the answer's union only: the other member has nothing selected.
LOGIN_WITH_CODE_FOR_LOGGED_IN_ONLY = (
    'mutation { loginWithCode(phone:"", code:"") { ... on LoggedIn { expiresAt } } }'
)
DEMO_LOGIN_FOR_ERRORS_ONLY = (
    """
mutation { loginAsDemoPerson(phone: "%s", sessionKind: BEARER) { ... on Error { message } } }
"""
    % RESIDENT_XIUSHAN
)
DEMO_LOGIN_WITH_ITS_TOKEN = (
    """
mutation { loginAsDemoPerson(phone: "%s", sessionKind: BEARER) { ... on LoggedIn { fallback: token viewer { isStaff } } } }
"""
    % RESIDENT_XIUSHAN
)


@strawberry.enum
class Colour(enum.Enum):
    RED = "red"
    GREEN = "green"


class OnlyAnn(BasePermission):
    message = "Only Ann."

    def has_permission(self, source: Any, info: strawberry.Info, **kwargs: Any) -> bool:
        return info.context["who"] == "ann"


@strawberry.interface
class Named:
    name: str


@strawberry.type
class Part(Named):
    @strawberry.field
    def label(self) -> str:
        return self.name.title()


async def _later_part(name: str) -> Part:
    return Part(name=name + " later")


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

    @strawberry.field
    def fails(self) -> str:
        raise ValueError("no such thing")

    @strawberry.field
    def maybe_size(self) -> int | None:
        return self.size

    @strawberry.field
    def asked_by(self, info: strawberry.Info) -> str:
        return f"{self.name} for {info.context['who']} at {'.'.join(map(str, info.path.as_list()))}"

    @strawberry.field
    async def later(self, info: strawberry.Info) -> Thing | None:
        return Thing(name=self.name + "!", colour=Colour.GREEN) if info.context["who"] == "ann" else None

    @strawberry.field
    def times(self, n: int) -> str:
        return self.name * n

    @strawberry.field(permission_classes=[OnlyAnn])
    def secret(self) -> str:
        return "pst"

    @strawberry.field
    def part(self, info: strawberry.Info) -> Part | None:
        # An object from memory, nothing, or (for bob) one still to be awaited, as a prefetched line does.
        if self.size is None:
            return None
        return Part(name=self.name) if info.context["who"] == "ann" else _later_part(self.name)  # type: ignore[return-value]

    @strawberry.field
    def sure_part(self) -> Part:
        return Part(name=self.name if self.size else None)  # type: ignore[arg-type]  (tea's fails, non-null)


@strawberry.type
class Shelf:
    label: str
    things: list[Thing]
    maybe_things: list[Thing | None]


@strawberry.type
class Query:
    @strawberry.field
    async def shelf(self) -> Shelf:
        tea, rice = Thing(name="tea", colour=Colour.RED), Thing(name="rice", colour=Colour.GREEN, size=3)
        return Shelf(label="top", things=[tea, rice], maybe_things=[None, rice])

    @strawberry.field
    def things(self) -> list[Thing]:
        return [Thing(name="tea", colour=Colour.RED), Thing(name="rice", colour=Colour.GREEN, size=3)]

    @strawberry.field(permission_classes=[OnlyAnn])
    async def described(
        self,
        info: strawberry.Info,
        colour: Colour,
        id: strawberry.ID,
        size: int | None = None,
        loud: bool = False,
    ) -> str:
        text = f"{colour.name} {type(colour).__name__} {id} {size} for {info.context['who']}"
        return text.upper() if loud else text

    @strawberry.field
    async def sized(self, sizes: list[int]) -> int:
        return sum(sizes)

    @strawberry.field
    def maybe_things(self) -> list[Thing | None]:
        return [Thing(name="tea", colour=Colour.RED), None, Thing(name="rice", colour=Colour.GREEN, size=3)]

    @strawberry.field
    def named(self) -> list[Named]:
        return [Part(name="lid")]


async def answers_alike(
    fast: strawberry.Schema, plain: strawberry.Schema, query: str, who: str, variables: dict | None = None
) -> Any:
    """Both schemas answer the query with the same data, and the same errors at the same paths."""
    quick = await fast.execute(query, variable_values=variables, context_value={"who": who})
    slow = await plain.execute(query, variable_values=variables, context_value={"who": who})
    assert quick.data == slow.data, query
    assert [(e.message, e.path) for e in quick.errors or []] == [
        (e.message, e.path) for e in slow.errors or []
    ]
    return quick


def schemas() -> tuple[strawberry.Schema, strawberry.Schema]:
    fast = strawberry.Schema(query=Query, execution_context_class=LaoyouExecutionContext)
    install_lean_resolvers(fast)
    return fast, strawberry.Schema(query=Query)


async def test_lean_resolvers_answer_as_strawberry_does() -> None:
    fast, plain = schemas()
    fields = fast._schema.type_map["Thing"].fields
    # Only what needs nothing of strawberry's wrapping is called directly.
    lean = {name for name, field in fields.items() if getattr(field.resolve, "_laoyou_lean", False)}
    assert lean == {
        "shout",
        "fails",
        "maybeSize",
        "askedBy",
        "later",
        "part",
        "surePart",
    }  # not times (arguments), not secret (permission)
    query = "{ things { askedBy later { name askedBy } times(n: 2) secret } }"
    for who in ("ann", "bob"):
        await answers_alike(fast, plain, query, who)
    denied = await fast.execute("{ things { secret } }", context_value={"who": "bob"})
    assert denied.errors and denied.errors[0].message == "Only Ann."


def test_plain_fields_answer_as_graphql_core_does() -> None:
    fast, plain = schemas()
    for query in (
        "{ things { name colour size shout } }",
        "{ things { name ...T n: name } } fragment T on Thing { name colour }",
        "{ things { name @skip(if: true) colour @include(if: false) size } }",
        "{ things { shout maybeSize } }",
    ):
        assert fast.execute_sync(query).data == plain.execute_sync(query).data
    assert fast.execute_sync("{ things { name colour size } }").data == {
        "things": [
            {"name": "tea", "colour": "RED", "size": None},
            {"name": "rice", "colour": "GREEN", "size": 3},
        ]
    }


def test_the_short_way_covers_attributes_and_self_only_methods_only() -> None:
    fast, _ = schemas()
    fields = fast._schema.type_map["Thing"].fields
    assert {name for name, field in fields.items() if _plain_leaf(field) is not None} == {
        "name",
        "colour",
        "size",
        "broken",
        "wrongColour",
        "shout",
        "fails",
        "maybeSize",
    }
    assert _plain_leaf(fast._schema.type_map["Query"].fields["things"]) is None


def test_a_wrong_value_fails_with_graphql_cores_error_and_path() -> None:
    fast, plain = schemas()
    for query in (
        "{ things { name broken } }",
        "{ things { name wrongColour } }",
        "{ things { name fails } }",
    ):
        quick, slow = fast.execute_sync(query), plain.execute_sync(query)
        assert quick.data == slow.data
        assert [(e.message, e.path) for e in quick.errors] == [(e.message, e.path) for e in slow.errors]
        assert quick.errors


async def test_an_object_mixes_short_and_long_fields_in_the_order_asked() -> None:
    fast, plain = schemas()
    for query in (
        "{ things { later { name } name colour asked: askedBy size } }",  # an awaited field first
        "{ things { name broken colour } }",  # a non-null failure nulls the whole object, short answers and all
        "{ things { colour name ... on Thing { colour shout } later { colour } } }",
    ):
        for who in ("ann", "bob"):
            quick = await fast.execute(query, context_value={"who": who})
            slow = await plain.execute(query, context_value={"who": who})
            assert quick.data == slow.data
            rows = [(result.data or {}).get("things") or [] for result in (quick, slow)]
            assert [list(row) for row in rows[0]] == [list(row) for row in rows[1]]
            assert [(e.message, e.path) for e in quick.errors or []] == [
                (e.message, e.path) for e in slow.errors or []
            ]


def test_an_enum_is_answered_by_lookup_as_strawberry_names_it() -> None:
    fast, _ = schemas()
    _, serialise, _ = _plain_leaf(fast._schema.type_map["Thing"].fields["colour"])
    assert [serialise(Colour.RED), serialise(Colour.GREEN)] == ["RED", "GREEN"]
    with pytest.raises(GraphQLError):
        serialise("blue")  # not a member: the type's own check, which the long way reports


def count_commits(monkeypatch) -> list[int]:
    commits: list[int] = []
    real = Context.commit

    async def commit(self: Context) -> None:
        commits.append(1)
        await real(self)

    monkeypatch.setattr(Context, "commit", commit)
    return commits


async def test_a_query_that_only_reads_is_not_committed(gql, monkeypatch) -> None:
    steward = await login_demo(gql, STEWARD_XIUSHAN)
    commits = count_commits(monkeypatch)
    data = (await steward("{ viewer { staffCommunities { id name } } }"))["data"]
    assert data["viewer"]["staffCommunities"]
    assert commits == []


async def test_a_query_that_writes_its_audit_is_committed(gql, db, monkeypatch) -> None:
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


async def test_a_list_is_answered_whole_or_wholly_the_long_way_as_graphql_core_answers_it(recwarn) -> None:
    fast, plain = schemas()
    queries = (
        "{ things { name colour part { name label } } }",  # nested objects from sync resolvers with the info
        "{ things { __typename n: name part { __typename label } size shout } }",
        "{ things { name surePart { label } } }",  # a non-null failure inside an item nulls the item, with its path
        "{ maybeThings { name colour part { label } } }",  # nullable items, one of them null
        "{ things { name @include(if: false) colour part { name @skip(if: true) label } } }",
        "{ things { name times(n: 2) } }",  # an argument: not plain, graphql-core's
        "{ named { name ... on Part { label } } }",  # an interface: graphql-core's
        "{ things { name broken } }",
    )
    for query in queries:
        for who in ("ann", "bob"):
            await answers_alike(fast, plain, query, who)
    # The coroutine the short way made and set aside (bob's later part) was closed, not left unawaited.
    assert not [w for w in recwarn if "never awaited" in str(w.message)]


async def test_a_list_of_plain_objects_is_answered_without_graphql_cores_completion(monkeypatch) -> None:
    fast, _ = schemas()
    completed: list[str] = []
    real = LaoyouExecutionContext.complete_object_value

    def counting(self, return_type, *args):
        completed.append(return_type.name)
        return real(self, return_type, *args)

    monkeypatch.setattr(LaoyouExecutionContext, "complete_object_value", counting)
    result = await fast.execute("{ things { name colour part { label } } }", context_value={"who": "ann"})
    assert result.data == {
        "things": [
            {"name": "tea", "colour": "RED", "part": None},
            {"name": "rice", "colour": "GREEN", "part": {"label": "Rice"}},
        ]
    }
    assert completed == []
    # bob's part is still to be awaited: the whole list goes graphql-core's way, and answers the same
    result = await fast.execute("{ things { name part { label } } }", context_value={"who": "bob"})
    assert result.data == {
        "things": [{"name": "tea", "part": None}, {"name": "rice", "part": {"label": "Rice Later"}}]
    }
    assert "Thing" in completed


async def test_a_request_leaves_nothing_for_the_cycle_collector(gql) -> None:
    # Given a steward, and a query that runs loaders, a compiled list and the service's rows
    steward = await login_demo(gql, STEWARD_XIUSHAN)
    query = "{ viewer { staffCommunities { id name } } communities(first: 5) { nodes { id name district { name } } } }"
    assert (await steward(query))["data"]["communities"]["nodes"]
    watched = {"LaoyouExecutionContext", "Context", "Loaders", "DataLoader", "GraphQLResolveInfoHelpers"}
    gc.collect()
    # What other tests left alive (a background task still holding its request, say) may be freed while this
    # request runs; held here, those objects are not this request's and cannot be mistaken for it.
    earlier = [o for o in gc.get_objects() if type(o).__name__ in watched]
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        # When it runs again
        assert (await steward(query))["data"]["communities"]["nodes"]
        gc.collect()
        # Then its executor, context and loaders were freed as soon as they were done with, not left in cycles
        ours = [o for o in gc.garbage if type(o).__name__ in watched and not any(o is e for e in earlier)]
        left = sorted({type(o).__name__ for o in ours})
        del ours
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()
    assert not left, left
