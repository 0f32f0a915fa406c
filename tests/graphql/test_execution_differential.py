"""The compiled short way answers every operation as graphql-core does, on the real schema and demo data.

Every persisted operation, and seeded random operations over the schema (random subsets of fields, aliases,
__typename, inline and named fragments, fragments on union members and interfaces that may leave nothing
selected for the type that comes back, @skip and @include, arguments inline or as variables), run as demo
people of several roles through the app's schema and through the same schema executed by graphql-core alone.
Each run is rolled back (a savepoint inside the test's transaction), so a mutation meets the same rows on both
ways. The data, the error messages and their paths must be the same, in the same order.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from typing import Any

import pytest
import strawberry
from graphql import (
    ArgumentNode,
    FieldNode,
    FragmentSpreadNode,
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLUnionType,
    ObjectValueNode,
    OperationDefinitionNode,
    OperationType,
    VariableNode,
    get_named_type,
    is_leaf_type,
    is_non_null_type,
    parse,
    type_from_ast,
    validate,
)
from graphql.pyutils import Undefined
from sqlalchemy import select
from starlette.requests import Request

from laoyou.accounts.models import FamilyLink, LoginCard, Person, RoleGrant
from laoyou.billing.models import Bill, BillRun, FeePlan, Payment
from laoyou.briefings.models import Briefing
from laoyou.estates.models import Community, District, Household
from laoyou.graphql.execution import LaoyouExecutionContext
from laoyou.graphql.router import build_context
from laoyou.graphql.schema import Mutation, Query, Subscription
from laoyou.media.models import MediaFile
from laoyou.support.models import Call, Conversation, FaqEntry, SosAlert
from laoyou.tickets.models import WorkOrder

from ..conftest import AGENT_NANNING, OFFICIAL_XIUSHAN, RESIDENT_XIUSHAN, STEWARD_XIUSHAN, login_demo

ROLES = {
    "resident": RESIDENT_XIUSHAN,
    "steward": STEWARD_XIUSHAN,
    "official": OFFICIAL_XIUSHAN,
    "agent": AGENT_NANNING,
}
SEED = 13  # the issue that asked for this test; any fixed seed makes the same documents on every run
RANDOM_QUERIES = 60  # per role: the resident still meets enough compiled selections in the grown query root
RANDOM_MUTATIONS = 80  # per role: a role refused most mutations still meets the union cases checked below
MAX_DEPTH = 4  # fields below the root field: well inside the schema's depth limit


# --- what an argument is given -------------------------------------------------------------------------------------

# An `id` argument names a row of the table its field is about (first match wins: a conversation turned into a
# work order is a conversation).
ID_OF_FIELD = (
    ("familylink", FamilyLink),
    ("logincard", LoginCard),
    ("feeplan", FeePlan),
    ("billrun", BillRun),
    ("bill", Bill),
    ("payment", Payment),
    ("briefing", Briefing),
    ("conversation", Conversation),
    ("faq", FaqEntry),
    ("sos", SosAlert),
    ("call", Call),
    ("workorder", WorkOrder),
    ("returnvisit", WorkOrder),
    ("district", District),
    ("community", Community),
    ("household", Household),
)
ID_ARGUMENTS = {
    "householdId": Household,
    "communityId": Community,
    "communityIds": Community,
    "districtId": District,
    "personId": Person,
    "toPersonId": Person,
    "assigneeId": Person,
    "billIds": Bill,
    "planId": FeePlan,
    "conversationId": Conversation,
    "callId": Call,
    "beforeId": Conversation,
    "mediaId": MediaFile,
    "photoIds": MediaFile,
    "voiceId": MediaFile,
    "videoId": MediaFile,
}
STRINGS = {
    "period": "2026-01",
    "token": "no-such-token",
    "code": "000000",
    "password": "wrong password",
    "language": "en",
    "hoursStart": "08:00",
    "hoursEnd": "22:00",
    "endpoint": "https://push.example.com/x",
    "reporterPhone": "13900000000",
    "payload": "{}",
    "kind": "offer",
}
INTS = {
    "first": 3,
    "amountFen": 100,
    "unitPriceFen": 100,
    "stars": 5,
    "rating": 5,
    "periodMonths": 1,
    "days": 7,
    "afterSeq": 0,
    "seq": 0,
    "afterId": 0,
}


class Values:
    """Argument values for one person: ids of rows of their own household, community or district where there
    are some (so that answers carry data, not only refusals), made-up text and numbers otherwise."""

    def __init__(self, ids: dict[type, str], phone: str) -> None:
        self.ids = ids
        self.phone = phone

    def of(self, field_name: str, name: str, type_: Any) -> Any:
        inner = type_.of_type if isinstance(type_, GraphQLNonNull) else type_
        if isinstance(inner, GraphQLList):
            return [self.of(field_name, name, inner.of_type)]
        if isinstance(inner, GraphQLInputObjectType):
            return {
                key: self.of(inner.name, key, f.type)
                for key, f in inner.fields.items()
                if is_non_null_type(f.type) or key in ID_ARGUMENTS
            }
        if isinstance(inner, GraphQLEnumType):
            return next(iter(inner.values))
        kind = inner.name
        if kind == "ID":
            model = (
                next((m for word, m in ID_OF_FIELD if word in field_name.lower()), None)
                if name == "id"
                else None
            )
            return self.ids.get(model or ID_ARGUMENTS.get(name), "0")
        if kind == "String":
            return self.phone if name == "phone" else STRINGS.get(name, "差异测试")
        if kind == "Int":
            return INTS.get(name, 1)
        if kind == "Float":
            return 1.5
        if kind == "Boolean":
            return False
        # An upload stands for a file only in-process; as a value it is a name, which is refused as no file.
        return {"Date": "2026-01-01", "DateTime": "2026-01-01T08:00:00+00:00", "Upload": "差异测试.csv"}[kind]


def literal(value: Any, type_: Any) -> str:
    """The value written in a document, for an argument of the type."""
    inner = type_.of_type if isinstance(type_, GraphQLNonNull) else type_
    if value is None:
        return "null"
    if isinstance(inner, GraphQLList):
        return "[" + ", ".join(literal(v, inner.of_type) for v in value) + "]"
    if isinstance(inner, GraphQLInputObjectType):
        return "{" + ", ".join(f"{k}: {literal(v, inner.fields[k].type)}" for k, v in value.items()) + "}"
    if isinstance(inner, GraphQLEnumType):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float) and inner.name != "ID":
        return repr(value)
    return json.dumps(str(value), ensure_ascii=False)


# --- random documents ------------------------------------------------------------------------------------------------


class RandomDocuments:
    """Seeded random operations whose every selection is valid for the schema."""

    def __init__(self, schema: Any, rng: random.Random, values: Values) -> None:
        self.schema, self.rng, self.values = schema, rng, values

    def operation(self, root: GraphQLObjectType) -> tuple[str, dict[str, Any]]:
        """A valid operation on the root type (a few query fields, or one mutation), and its variables."""
        for _ in range(50):
            text, variables = self._attempt(root)
            if not validate(self.schema, parse(text)):
                return text, variables
        raise AssertionError("no valid document in 50 attempts: the generator has drifted from the schema")

    def _attempt(self, root: GraphQLObjectType) -> tuple[str, dict[str, Any]]:
        self.fragments: list[str] = []
        self.definitions: list[str] = []
        self.variables: dict[str, Any] = {}
        self.arguments_of: dict[tuple[str, str], str] = {}  # one set of arguments per field: they must merge
        self.counter = 0
        mutation = root is self.schema.mutation_type
        names = self.rng.sample(sorted(root.fields), 1 if mutation else self.rng.randint(1, 3))
        body = " ".join(self._field(root, name, 0) for name in names)
        fragments = "\n".join(self.fragments)
        for flag, value in (("yes", "true"), ("no", "false")):  # a variable defined must be used
            if f"${flag})" in body + fragments:
                self.definitions.append(f"${flag}: Boolean! = {value}")
        header = ("mutation" if mutation else "query") + (
            f"({', '.join(self.definitions)})" if self.definitions else ""
        )
        return f"{header} {{ {body} }}\n{fragments}", self.variables

    def _next(self) -> int:
        self.counter += 1
        return self.counter

    def _field(self, parent: Any, name: str, depth: int) -> str:
        field = parent.fields[name]
        alias = f"a{self._next()}: " if self.rng.random() < 0.15 else ""
        directive = (
            ""
            if self.rng.random() < 0.85
            else self.rng.choice(
                (
                    "@include(if: $yes)",
                    "@skip(if: $no)",
                    "@skip(if: true)",
                    "@include(if: false)",
                    "@include(if: $no)",
                )
            )
        )
        named = get_named_type(field.type)
        inner = "" if is_leaf_type(named) else " { " + self._selection(named, depth + 1, 0) + " }"
        return f"{alias}{name}{self._arguments(parent, name, field)} {directive}{inner}"

    def _arguments(self, parent: Any, name: str, field: Any) -> str:
        key = (parent.name, name)
        if key not in self.arguments_of:
            given = []
            for arg_name, arg in field.args.items():
                required = is_non_null_type(arg.type) and arg.default_value is Undefined
                if not required and self.rng.random() < 0.8:
                    continue
                value = self.values.of(name, arg_name, arg.type)
                if self.rng.random() < 0.3:
                    variable = f"v{self._next()}"
                    self.definitions.append(f"${variable}: {arg.type}")
                    self.variables[variable] = value
                    given.append(f"{arg_name}: ${variable}")
                else:
                    given.append(f"{arg_name}: {literal(value, arg.type)}")
            self.arguments_of[key] = f"({', '.join(given)})" if given else ""
        return self.arguments_of[key]

    def _selection(self, type_: Any, depth: int, nesting: int) -> str:
        rng = self.rng
        parts: list[str] = []
        if isinstance(type_, GraphQLUnionType):
            # Fragments on some members (or on an interface they share): often none on the one that comes back.
            options = [*type_.types, *{i.name: i for m in type_.types for i in m.interfaces}.values()]
            for option in rng.sample(options, rng.randint(0, len(options))) or [rng.choice(options)]:
                parts.append(f"... on {option.name} {{ {self._selection(option, depth, nesting + 1)} }}")
        else:
            fields = sorted(type_.fields)
            if depth >= MAX_DEPTH:
                fields = [n for n in fields if is_leaf_type(get_named_type(type_.fields[n].type))]
            for name in rng.sample(fields, min(len(fields), rng.randint(1, 4))):
                parts.append(self._field(type_, name, depth))
            if isinstance(type_, GraphQLInterfaceType):
                for implementation in rng.sample(self.schema.get_possible_types(type_), 1):
                    parts.append(
                        f"... on {implementation.name} {{ {self._selection(implementation, depth, nesting + 1)} }}"
                    )
            if nesting < 2 and rng.random() < 0.15:
                parts.append(f"... on {type_.name} {{ {self._selection(type_, depth, nesting + 1)} }}")
            if nesting < 2 and rng.random() < 0.15:
                fragment = f"F{self._next()}"
                self.fragments.append(
                    f"fragment {fragment} on {type_.name} {{ {self._selection(type_, depth, nesting + 1)} }}"
                )
                parts.append(f"...{fragment}")
        if not parts or rng.random() < 0.25:
            parts.append(rng.choice(("__typename", f"t{self._next()}: __typename")))
        rng.shuffle(parts)
        return " ".join(parts)


# --- both ways, compared ---------------------------------------------------------------------------------------------


def _text(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=False)  # the order of the keys counts


def check_alike(fast: Any, plain: Any, again: Any, where: str) -> None:
    """graphql-core's answer is the short way's, except where the short way's own second run (made after
    graphql-core's) answered differently too: a new row's id, a token, the clock."""
    if _text(fast) == _text(again):
        assert _text(plain) == _text(fast), (
            f"{where}\n  short way: {_text(fast)}\ngraphql-core: {_text(plain)}"
        )
    elif isinstance(fast, dict) and isinstance(again, dict) and list(fast) == list(again):
        assert isinstance(plain, dict) and list(plain) == list(fast), (
            f"{where}\n  short way: {fast}\ngraphql-core: {plain}"
        )
        for key in fast:
            check_alike(fast[key], plain[key], again[key], f"{where}.{key}")
    elif isinstance(fast, list) and isinstance(again, list) and len(fast) == len(again):
        assert isinstance(plain, list) and len(plain) == len(fast), (
            f"{where}\n  short way: {fast}\ngraphql-core: {plain}"
        )
        for index, (a, b, c) in enumerate(zip(fast, plain, again, strict=True)):
            check_alike(a, b, c, f"{where}[{index}]")


class BothWays:
    """Runs a document as a person through the app's schema and through graphql-core's execution of the same
    schema, each in a savepoint that is rolled back, and compares the answers."""

    def __init__(self, app: Any, db: Any, plain: strawberry.Schema, tokens: dict[str, str]) -> None:
        self.app, self.db, self.fast, self.plain, self.tokens = app, db, app.state.schema, plain, tokens
        self.compared = 0

    async def _run(
        self,
        schema: strawberry.Schema,
        role: str,
        document: str,
        variables: dict[str, Any] | None,
        operation_name: str | None,
    ) -> dict[str, Any]:
        headers = [(b"accept-language", b"en"), (b"authorization", f"Bearer {self.tokens[role]}".encode())]
        request = Request(
            {
                "type": "http",
                "app": self.app,
                "method": "POST",
                "path": "/graphql",
                "query_string": b"",
                "headers": headers,
                "client": ("10.13.0.6", 5000),
            }
        )
        connection = await self.db.connection()
        savepoint = await connection.begin_nested()
        try:
            context = await build_context(request)
            try:
                result = await schema.execute(
                    document, variable_values=variables, context_value=context, operation_name=operation_name
                )
            finally:
                await context.close()
        finally:
            await savepoint.rollback()
        return {
            "data": result.data,
            "errors": [{"message": e.message, "path": e.path} for e in result.errors or ()],
        }

    async def alike(
        self,
        role: str,
        document: str,
        variables: dict[str, Any] | None = None,
        operation_name: str | None = None,
    ) -> dict[str, Any]:
        fast = await self._run(self.fast, role, document, variables, operation_name)
        plain = await self._run(self.plain, role, document, variables, operation_name)
        if _text(fast) != _text(plain):
            again = await self._run(self.fast, role, document, variables, operation_name)
            check_alike(fast, plain, again, f"as the {role}, {document} with {variables}")
        self.compared += 1
        return fast


@pytest.fixture(scope="session")
def plain_schema(app: Any) -> strawberry.Schema:
    """The app's schema (its types, extensions and configuration) executed by graphql-core alone: none of the
    short way's execution context and no lean resolvers."""
    fast = app.state.schema
    plain = strawberry.Schema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        extensions=list(fast.extensions),
        config=fast.config,
    )
    assert not issubclass(plain.execution_context_class, LaoyouExecutionContext)
    return plain


@pytest.fixture
async def both_ways(app: Any, db: Any, gql: Any, plain_schema: strawberry.Schema) -> BothWays:
    tokens = {role: (await login_demo(gql, phone)).token for role, phone in ROLES.items()}
    return BothWays(app, db, plain_schema, tokens)


@pytest.fixture
def compiled(monkeypatch: pytest.MonkeyPatch) -> Counter:
    """How often the short way answered by a compiled selection, by its type and its number of fields."""
    seen: Counter = Counter()
    real = LaoyouExecutionContext._selection

    def counting(self: LaoyouExecutionContext, object_type: Any, field_details_list: Any) -> Any:
        selection = real(self, object_type, field_details_list)
        if selection is not None:
            seen[(object_type.name, len(selection.fields))] += 1
        return selection

    monkeypatch.setattr(LaoyouExecutionContext, "_selection", counting)
    return seen


async def values_for(db: Any, phone: str) -> Values:
    """Ids of rows near the person: their household's, community's or district's, else any."""
    grant = (
        (
            await db.execute(
                select(RoleGrant)
                .join(Person, Person.id == RoleGrant.person_id)
                .where(Person.phone == "+86" + phone)
            )
        )
        .scalars()
        .first()
    )
    own = {District: grant.district_id, Community: grant.community_id, Household: grant.household_id}
    ids: dict[type, str] = {}
    for model in {m for _, m in ID_OF_FIELD} | set(ID_ARGUMENTS.values()):
        found = None
        if own.get(model) is not None:
            found = own[model]
        for column in ("household_id", "community_id", "district_id"):
            value = getattr(grant, column)
            if found is None and value is not None and hasattr(model, column):
                found = (
                    await db.execute(
                        select(model.id).where(getattr(model, column) == value).order_by(model.id).limit(1)
                    )
                ).scalar()
        if found is None:
            found = (await db.execute(select(model.id).order_by(model.id).limit(1))).scalar()
        ids[model] = str(found if found is not None else 0)
    return Values(ids, phone)


def variable_uses(document: Any, operation: OperationDefinitionNode) -> dict[str, tuple[str, str]]:
    """Each variable of the operation, with the field and argument (or input field) it is given to."""
    fragments = {d.name.value: d for d in document.definitions if not isinstance(d, OperationDefinitionNode)}
    uses: dict[str, tuple[str, str]] = {}

    def walk(selection_set: Any) -> None:
        for selection in selection_set.selections if selection_set else ():
            if isinstance(selection, FieldNode):
                for argument in selection.arguments or ():
                    given(selection.name.value, argument)
            if isinstance(selection, FragmentSpreadNode):
                walk(fragments[selection.name.value].selection_set)
            else:
                walk(selection.selection_set)

    def given(field_name: str, argument: ArgumentNode) -> None:
        if isinstance(argument.value, VariableNode):
            uses.setdefault(argument.value.name.value, (field_name, argument.name.value))
        elif isinstance(argument.value, ObjectValueNode):
            for item in argument.value.fields:
                if isinstance(item.value, VariableNode):
                    uses.setdefault(item.value.name.value, (field_name, item.name.value))

    walk(operation.selection_set)
    return uses


# --- the tests -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
async def test_every_persisted_operation_answers_alike_both_ways(app, db, both_ways, caplog, role) -> None:
    # Given a person of the role, and values for every operation's variables from rows near them
    values = await values_for(db, ROLES[role])
    schema = app.state.schema._schema
    operations = app.state.persisted.by_name.values()
    # When each of the PWA's queries and mutations runs both ways
    for operation in operations:
        document = parse(operation.document)
        definition = next(
            d
            for d in document.definitions
            if isinstance(d, OperationDefinitionNode) and d.name and d.name.value == operation.name
        )
        if definition.operation is OperationType.SUBSCRIPTION:
            continue  # answered as events arrive, by graphql-core's own stream
        uses = variable_uses(document, definition)
        variables = {}
        for variable in definition.variable_definitions or ():
            name = variable.variable.name.value
            if variable.default_value is None and name in uses:
                variables[name] = values.of(*uses[name], type_from_ast(schema, variable.type))
        # Then both answer alike
        await both_ways.alike(role, operation.document, variables, operation.name)
    assert both_ways.compared > 60
    assert "did not compile" not in caplog.text  # the short way's fallback would hide its own bugs


@pytest.mark.parametrize("role", ROLES)
async def test_random_queries_answer_alike_both_ways(db, both_ways, compiled, caplog, role) -> None:
    # Given random queries made from the schema with a fixed seed
    values = await values_for(db, ROLES[role])
    schema = both_ways.fast._schema
    documents = RandomDocuments(schema, random.Random(f"{SEED}-query-{role}"), values)
    # When each runs both ways, then both answer alike
    for _ in range(RANDOM_QUERIES):
        text, variables = documents.operation(schema.query_type)
        await both_ways.alike(role, text, variables)
    # and the short way did answer by compiled selections (the comparison is of something), all of which compiled
    assert sum(compiled.values()) > 10, compiled
    assert "did not compile" not in caplog.text


@pytest.mark.parametrize("role", ROLES)
async def test_random_mutations_answer_alike_both_ways(db, both_ways, compiled, caplog, role) -> None:
    # Given random mutations made from the schema with a fixed seed: their answers are unions of a payload and
    # errors, and the fragments spread on them often select nothing of the member that comes back
    values = await values_for(db, ROLES[role])
    schema = both_ways.fast._schema
    documents = RandomDocuments(schema, random.Random(f"{SEED}-mutation-{role}"), values)
    # When each runs both ways (each rolled back), then both answer alike
    for _ in range(RANDOM_MUTATIONS):
        text, variables = documents.operation(schema.mutation_type)
        await both_ways.alike(role, text, variables)
    # and among the compiled selections were members with nothing selected
    assert any(fields == 0 for _, fields in compiled), compiled
    assert "did not compile" not in caplog.text
