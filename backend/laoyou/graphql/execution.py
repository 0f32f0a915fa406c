"""Execution with a short way for plain leaf fields.

A list page (the district board, a bill list) is a few dozen objects of a dozen plain values each: an id, a
status, a date. graphql-core completes every one of them the long way: resolve info, the resolver wrapper,
then the completion of a leaf. For a field that is only an attribute read (no resolver, no permission, no
extension, strawberry's default resolver) and whose type is a scalar or an enum, the answer is that
attribute, serialised; this context computes it directly. Anything else, and any value the short way would
have to judge (None, an error, an awaitable, a value its type refuses), goes the long way, so errors and nulls
come out exactly as graphql-core says them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from graphql import GraphQLField, GraphQLObjectType, is_leaf_type, is_non_null_type
from graphql.pyutils import Undefined
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.schema.schema_converter import GraphQLCoreConverter

from laoyou.graphql.shared import SharedEvents

_PLAN = "laoyou-plain-leaf"  # cached in the field's extensions: (python name, serialise) or None


def _plain_leaf(field_def: GraphQLField) -> tuple[str, Callable[[Any], Any]] | None:
    extensions = field_def.extensions
    try:
        return extensions[_PLAN]
    except KeyError:
        pass
    plan = None
    definition = extensions.get(GraphQLCoreConverter.DEFINITION_BACKREF)
    named = field_def.type.of_type if is_non_null_type(field_def.type) else field_def.type
    if (
        definition is not None
        and getattr(field_def.resolve, "_is_default", False)  # strawberry's basic field: no resolver, no extension
        and not field_def.args
        and is_leaf_type(named)
    ):
        plan = (definition.python_name, named.serialize)
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
                value = getattr(source, plan[0], None)
                if value is not None and not isinstance(value, Exception) and not self.is_awaitable(value):
                    try:
                        serialized = plan[1](value)
                    except Exception:  # noqa: BLE001  (the long way reports it as graphql-core would)
                        serialized = None
                    if serialized is not None and serialized is not Undefined:
                        return serialized
        return super().execute_field(parent_type, source, field_details_list, path, position_context)
