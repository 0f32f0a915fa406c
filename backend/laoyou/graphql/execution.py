"""Execution with a short way for plain leaf fields.

A list page (the district board, a bill list) is a few dozen objects of a dozen plain values each: an id, a
status, a date. graphql-core completes every one of them the long way: resolve info, the resolver wrapper,
then the completion of a leaf. For a scalar or enum field that is only an attribute read (strawberry's default
resolver) or a method of the object that needs nothing else (no info, no arguments, not async), with no
permission and no extension, this context reads and serialises the value directly, object by object: the
plain leaves of a selection are answered in one loop (worked out once per selection and request), and only
the other fields are handed to graphql-core. Any value the short way would have to judge (a None where the
schema says never, an error, an awaitable, a value its type refuses) goes the long way, so errors come out
exactly as graphql-core says them; the answer keeps the order of the selection.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Any

import strawberry
from graphql import GraphQLField, GraphQLObjectType, is_leaf_type, is_non_null_type
from graphql.pyutils import Undefined
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.schema.schema_converter import CustomGraphQLEnumType, GraphQLCoreConverter

from laoyou.graphql.shared import SharedEvents

_PLAN = "laoyou-plain-leaf"  # cached in the field's extensions: (read the value, serialise it, nullable) or None
_MISSING = object()


def _enum_serialiser(named: Any) -> Callable[[Any], Any]:
    """strawberry's enum serialisation compares the value with each of the enum's values in turn (a dozen for a
    category); a lookup answers the same. Anything else (a raw value, a stranger) goes the type's own way."""
    if not isinstance(named, CustomGraphQLEnumType):
        return named.serialize
    names: dict[Any, str] = {}
    for name, value in named.values.items():
        names.setdefault(value.value, name)  # the first name of a value, as strawberry's loop finds it
    wrapped, serialize = named.wrapped_cls, named.serialize
    return lambda member: names[member.value] if type(member) is wrapped else serialize(member)


def _plain_leaf(field_def: GraphQLField) -> tuple[Callable[[Any], Any], Callable[[Any], Any], bool] | None:
    extensions = field_def.extensions
    try:
        return extensions[_PLAN]
    except KeyError:
        pass
    plan = None
    definition = extensions.get(GraphQLCoreConverter.DEFINITION_BACKREF)
    nullable = not is_non_null_type(field_def.type)
    named = field_def.type if nullable else field_def.type.of_type
    if definition is not None and not field_def.args and not definition.extensions and is_leaf_type(named):
        resolver = definition.base_resolver
        if resolver is None and getattr(field_def.resolve, "_is_default", False):
            # strawberry's basic field: the attribute itself
            name = definition.python_name
            plan = (lambda source: getattr(source, name, _MISSING), _enum_serialiser(named), nullable)
        elif (
            resolver is not None
            and not resolver.is_async
            and resolver.self_parameter is not None
            and len(resolver.signature.parameters) == 1
        ):
            # a method of the object alone (no info, no arguments): `def name(self) -> str: return self.row.name`
            plan = (resolver.wrapped_func, _enum_serialiser(named), nullable)
    extensions[_PLAN] = plan
    return plan


# What the short way answers without asking whether it is awaitable (the question costs a call per field).
_PLAIN_TYPES = frozenset({str, int, float, bool, datetime, date, strawberry.ID})
_LONG_WAY = object()


def _answer(plan: tuple[Callable[[Any], Any], Callable[[Any], Any], bool], source: Any,
            is_awaitable: Callable[[Any], bool]) -> Any:
    """The serialised value of a plain leaf, or _LONG_WAY for anything graphql-core must judge."""
    read, serialise, nullable = plan
    try:
        value = read(source)
    except Exception:  # noqa: BLE001  (the long way reports it as graphql-core would)
        return _LONG_WAY
    if value is None:
        return None if nullable else _LONG_WAY
    if value is _MISSING or (type(value) not in _PLAIN_TYPES and (isinstance(value, Exception) or is_awaitable(value))):
        return _LONG_WAY
    try:
        serialized = serialise(value)
    except Exception:  # noqa: BLE001
        return _LONG_WAY
    return _LONG_WAY if serialized is None or serialized is Undefined else serialized


class LaoyouExecutionContext(SharedEvents, StrawberryGraphQLCoreExecutionContext):
    _plans: dict[int, tuple[Any, list[tuple[str, Any]] | None]] | None = None

    def _leaf_plans(self, parent_type: GraphQLObjectType, grouped_field_set: dict) -> list[tuple[str, Any]] | None:
        """Each response name of an object's selection with its plain-leaf plan (or None), or None when no field
        has one. Worked out once per selection and request: the twenty lines of a page share it."""
        plans = self._plans
        if plans is None:
            middleware = self.middleware_manager
            if middleware is not None and middleware._middleware_resolvers is not None:  # noqa: SLF001
                return None  # resolve hooks must see every field
            plans = self._plans = {}
        cached = plans.get(id(grouped_field_set))
        # graphql-core keeps each selection alive for the whole request; the identity check guards the id anyway.
        if cached is not None and cached[0] is grouped_field_set:
            return cached[1]
        found: list[tuple[str, Any]] = []
        for response_name, field_details_list in grouped_field_set.items():
            field_def = self.schema.get_field(parent_type, field_details_list[0].node.name.value)
            found.append((response_name, _plain_leaf(field_def) if field_def is not None else None))
        plan = found if any(p is not None for _, p in found) else None
        plans[id(grouped_field_set)] = (grouped_field_set, plan)
        return plan

    def execute_fields(  # type: ignore[override]
        self,
        parent_type: GraphQLObjectType,
        source_value: Any,
        path: Any,
        grouped_field_set: dict,
        position_context: Any,
    ) -> Any:
        plans = self._leaf_plans(parent_type, grouped_field_set)
        if plans is None:
            return super().execute_fields(parent_type, source_value, path, grouped_field_set, position_context)
        answered: dict[str, Any] = {}
        rest: dict[str, Any] | None = None
        is_awaitable = self.is_awaitable
        for response_name, plan in plans:
            if plan is not None:
                value = _answer(plan, source_value, is_awaitable)
                if value is not _LONG_WAY:
                    answered[response_name] = value
                    continue
            if rest is None:
                rest = {}
            rest[response_name] = grouped_field_set[response_name]
        if rest is None:
            return answered
        # The others go graphql-core's way (resolvers, objects, errors, awaiting); the answer keeps the order asked.
        results = super().execute_fields(parent_type, source_value, path, rest, position_context)
        if is_awaitable(results):
            async def merged() -> dict[str, Any]:
                return _in_order(grouped_field_set, answered, await results)

            return merged()
        return _in_order(grouped_field_set, answered, results)


def _in_order(grouped_field_set: dict, answered: dict[str, Any], results: dict[str, Any]) -> dict[str, Any]:
    return {name: answered[name] if name in answered else results[name]
            for name in grouped_field_set if name in answered or name in results}


def _lean_resolver(field_def: GraphQLField, info_class: type) -> Callable[..., Any] | None:
    """A direct call of a resolver that needs only its object, or its object and the info, or None."""
    definition = field_def.extensions.get(GraphQLCoreConverter.DEFINITION_BACKREF)
    resolver = getattr(definition, "base_resolver", None)
    if resolver is None or definition.extensions or field_def.args or resolver.self_parameter is None:
        return None
    parameters = list(resolver.signature.parameters.values())
    fn = resolver.wrapped_func
    if len(parameters) == 1:
        return lambda source, _info: fn(source)
    if len(parameters) == 2 and resolver.info_parameter is parameters[1]:
        return lambda source, info: fn(source, info_class(_raw_info=info, _field=definition))
    return None


def install_lean_resolvers(schema: Any) -> None:
    """Give each field whose resolver takes only its object (and the info) a direct call.

    strawberry wraps every resolver for what some need: arguments converted to Python, field extensions,
    permission classes. A resolver with none of these (no arguments, no extension, no permission) gets the
    same call without the wrapping; on a board of twenty lines that is a hundred calls a request. Root
    subscription fields keep strawberry's own (their resolve receives the event stream's items).
    """
    graphql_schema = schema._schema  # noqa: SLF001
    subscription = graphql_schema.subscription_type
    for type_ in graphql_schema.type_map.values():
        if not isinstance(type_, GraphQLObjectType) or type_.name.startswith("__") or type_ is subscription:
            continue
        for field_def in type_.fields.values():
            lean = _lean_resolver(field_def, schema.config.info_class)
            if lean is not None:
                field_def.resolve = lean
