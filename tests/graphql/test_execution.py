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

    async def left_in_cycles() -> list[str]:
        gc.collect()
        # What other tests left alive (a background task still holding its request, say) may be freed while
        # this request runs; held here, those objects are not this request's and cannot be mistaken for it.
        earlier = [o for o in gc.get_objects() if type(o).__name__ in watched]
        gc.disable()
        gc.set_debug(gc.DEBUG_SAVEALL)
        try:
            assert (await steward(query))["data"]["communities"]["nodes"]
            gc.collect()
            ours = [o for o in gc.garbage if type(o).__name__ in watched and not any(o is e for e in earlier)]
            return sorted({type(o).__name__ for o in ours})
        finally:
            gc.set_debug(0)
            gc.garbage.clear()
            gc.enable()

    # When it runs again, then its executor, context and loaders were freed as soon as they were done with,
    # not left in cycles. A request that leaves a cycle leaves it every time; an object of something else
    # running alongside (a background task of an earlier test ending meanwhile) does not come back, so a
    # run that finds one is measured again, up to three times in all.
    for _ in range(3):
        left = await left_in_cycles()
        if not left:
            break
    assert not left, left


async def test_a_compiled_list_is_reused_across_requests_unless_variables_could_change_it(
    monkeypatch,
) -> None:
    _, plain = schemas()
    fast = strawberry.Schema(
        query=Query, execution_context_class=LaoyouExecutionContext, extensions=[ParserCache]
    )
    install_lean_resolvers(
        fast
    )  # the parser cache hands back the same document for the same text, as the app's does
    compiled: list[str] = []
    real = LaoyouExecutionContext._compile

    def counting(self, object_type, details):
        compiled.append(object_type.name)
        return real(self, object_type, details)

    monkeypatch.setattr(LaoyouExecutionContext, "_compile", counting)
    # A plain selection: compiled by the first request, reused by the next
    static = "query Static { things { name part { label } } }"
    for _ in range(2):
        assert (await fast.execute(static, context_value={"who": "ann"})).data == (
            await plain.execute(static, context_value={"who": "ann"})
        ).data
    assert compiled == ["Thing", "Part"]
    # A fragment included by a variable: compiled afresh for every request, and each answers by its variables
    varying = "query V($p: Boolean!) { things { name ...P @include(if: $p) } } fragment P on Thing { colour }"
    for flag in (True, False, True):
        compiled.clear()
        quick = await fast.execute(varying, variable_values={"p": flag}, context_value={"who": "ann"})
        slow = await plain.execute(varying, variable_values={"p": flag}, context_value={"who": "ann"})
        assert quick.data == slow.data
        assert ("colour" in quick.data["things"][0]) is flag
        assert compiled == ["Thing"]


async def test_an_object_with_lists_of_objects_is_answered_whole_as_graphql_core_answers_it(
    monkeypatch,
) -> None:
    fast, plain = schemas()
    queries = (
        "{ shelf { label things { name colour part { label } } maybeThings { name } } }",
        "{ shelf { things { name surePart { label } } } }",  # a non-null failure in an item of the shelf's list
        "{ shelf { label things { name later { name } } } }",  # an awaited field: graphql-core's way
    )
    for query in queries:
        for who in ("ann", "bob"):
            await answers_alike(fast, plain, query, who)
    # The plain shelf is one compiled answer: graphql-core completes none of its lists' items
    completed: list[str] = []
    real = LaoyouExecutionContext.complete_list_value

    def counting(self, return_type, *args):
        completed.append(str(return_type))
        return real(self, return_type, *args)

    monkeypatch.setattr(LaoyouExecutionContext, "complete_list_value", counting)
    result = await fast.execute(queries[0], context_value={"who": "ann"})
    assert result.data["shelf"]["maybeThings"] == [None, {"name": "rice"}]
    assert completed == []


async def test_an_async_field_with_plain_arguments_is_called_directly_as_strawberry_calls_it() -> None:
    fast, plain = schemas()
    fields = fast._schema.type_map["Query"].fields
    assert fields["described"].resolve.__name__ == "lean"
    assert fields["sized"].resolve.__name__ != "lean"  # a list argument: strawberry's own conversion
    for query, variables in (
        ('{ described(colour: GREEN, id: "7") }', None),
        (
            "query ($c: Colour!, $s: Int) { described(colour: $c, id: 8, size: $s, loud: true) }",
            {"c": "RED", "s": 3},
        ),
        ("{ sized(sizes: [1, 2, 3]) }", None),
    ):
        for who in ("ann", "bob"):  # bob is refused by the permission class, with its message
            await answers_alike(fast, plain, query, who, variables)
    ann = await fast.execute('{ described(colour: GREEN, id: "7") }', context_value={"who": "ann"})
    assert ann.data == {"described": "GREEN Colour 7 None for ann"}


async def test_a_union_member_with_nothing_selected_answers_an_empty_object(gql) -> None:
    # Given a login that fails, asked for fields of the LoggedIn member only
    # When it runs
    payload = await gql(LOGIN_WITH_CODE_FOR_LOGGED_IN_ONLY)
    # Then its error member answers {}, as graphql-core answers it (it was "Unexpected error": an empty try: block)
    assert payload == {"data": {"loginWithCode": {}}}


async def test_a_mutation_answers_a_member_with_nothing_selected_and_keeps_its_effects(gql, db) -> None:
    # Given a demo login asked for fields of its errors only
    sessions = select(func.count()).select_from(AuthSession)
    before = (await db.execute(sessions)).scalar_one()
    # When it succeeds
    payload = await gql(DEMO_LOGIN_FOR_ERRORS_ONLY)
    # Then the LoggedIn member answers {} and the session it made is kept
    assert payload == {"data": {"loginAsDemoPerson": {}}}
    assert (await db.execute(sessions)).scalar_one() == before + 1


async def test_a_selection_the_short_way_cannot_compile_is_answered_by_graphql_core(
    gql, monkeypatch, caplog
) -> None:
    # Given a short way whose generator fails (as it once did on an empty selection)
    def broken(selection: Any) -> Any:
        raise SyntaxError("a bug of the generator")

    monkeypatch.setattr(execution, "_answerer", broken)
    # When a mutation's answer comes to be compiled
    payload = await gql(DEMO_LOGIN_WITH_ITS_TOKEN)
    # Then graphql-core answers it, with no error, and the failure is logged for us to fix
    answer = payload["data"]["loginAsDemoPerson"]
    assert answer["fallback"] and answer["viewer"] == {"isStaff": False}
    assert "did not compile" in caplog.text


@strawberry.type
class Plan:
    @strawberry.field
    async def district(self) -> str:
        return "Qingpu"

    @strawberry.field
    async def community(self, info: strawberry.Info) -> str:
        return "Xiushan"


@strawberry.type
class SlowQuery:
    @strawberry.field
    async def plan(self, waits: int) -> Plan:
        for _ in range(waits):
            await asyncio.sleep(0)
        return Plan()

    @strawberry.field
    async def fails(self) -> str:
        raise ValueError("no such plan")


class Unlogged(strawberry.Schema):
    def process_errors(self, errors: list[GraphQLError], execution_context: Any = None) -> None:
        """Not logged: a log record would keep the error's frames, and what they hold, past the test."""


async def test_a_failing_sibling_leaves_no_resolver_unawaited(recwarn) -> None:
    # Given a plan whose own async fields start just as its failing non-null sibling has the request cancel it:
    # graphql-core's tasks for the plan's fields are cancelled before their first step (one of these waits)
    schema = Unlogged(query=SlowQuery, execution_context_class=LaoyouExecutionContext)
    install_lean_resolvers(schema)
    for waits in range(6):
        # When the request runs
        result = await schema.execute(f"{{ plan(waits: {waits}) {{ district community }} fails }}")
        assert result.data is None and [e.message for e in result.errors] == ["no such plan"]
    del result
    await asyncio.sleep(0.05)  # the cancelled tasks settle
    gc.collect()
    # Then no resolver made a coroutine that nobody awaited
    assert not [str(w.message) for w in recwarn if "never awaited" in str(w.message)]
