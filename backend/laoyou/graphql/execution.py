"""Execution with a short way for plain leaf fields.

A list page (the district board, a bill list) is a few dozen objects of a dozen plain values each: an id, a
status, a date. graphql-core completes every one of them the long way: resolve info, the resolver wrapper,
then the completion of a leaf. For a scalar or enum field that is only an attribute read (strawberry's default
resolver) or a method of the object that needs nothing else (no info, no arguments, not async), with no
permission and no extension, this context reads and serialises the value directly. Any value the short way
would have to judge (a None where the schema says never, an error, an awaitable, a value its type refuses)
goes the long way, so errors come out exactly as graphql-core says them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from graphql import GraphQLField, GraphQLObjectType, is_leaf_type, is_non_null_type
from graphql.pyutils import Undefined
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.schema.schema_converter import GraphQLCoreConverter

from laoyou.graphql.shared import SharedEvents

_PLAN = "laoyou-plain-leaf"  # cached in the field's extensions: (read the value, serialise it, nullable) or None
_MISSING = object()


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
            plan = (lambda source: getattr(source, name, _MISSING), named.serialize, nullable)
        elif (
            resolver is not None
            and not resolver.is_async
            and resolver.self_parameter is not None
            and len(resolver.signature.parameters) == 1
        ):
            # a method of the object alone (no info, no arguments): `def name(self) -> str: return self.row.name`
            plan = (resolver.wrapped_func, named.serialize, nullable)
    extensions[_PLAN] = plan
    return plan


class LaoyouExecutionContext(SharedEvents, StrawberryGraphQLCoreExecutionContext):
    def execute_field(  # type: ignore[override]
        self,
        parent_type: GraphQLObjectType,
        source: Any,
        field_details_list: Any,
        path: Any,
        position_context: Any,
    ) -> Any:
        middleware = self.middleware_manager
        if middleware is None or middleware._middleware_resolvers is None:  # noqa: SLF001  (no resolve hooks)
            field_def = self.schema.get_field(parent_type, field_details_list[0].node.name.value)
            plan = _plain_leaf(field_def) if field_def is not None else None
            if plan is not None:
                read, serialise, nullable = plan
                try:
                    value = read(source)
                except Exception:  # noqa: BLE001  (the long way reports it as graphql-core would)
                    value = _MISSING
                if value is None and nullable:
                    return None
                if value is not None and value is not _MISSING and not isinstance(value, Exception) \
                        and not self.is_awaitable(value):
                    try:
                        serialized = serialise(value)
                    except Exception:  # noqa: BLE001
                        serialized = None
                    if serialized is not None and serialized is not Undefined:
                        return serialized
        return super().execute_field(parent_type, source, field_details_list, path, position_context)


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
