"""Execution with short ways for plain fields, objects and lists.

A list page (the district board, a bill list) is a few dozen objects of a dozen plain values each: an id, a
status, a date. graphql-core completes every one of them the long way: resolve info, the resolver wrapper,
then the completion of each value. This context takes two short ways.

- Compiled selections: an object's selection that is plain all the way down (leaves, objects and lists of
  objects read by an attribute, a sync resolver of the object alone, or a lean resolver of the object and the
  info; no arguments, directives, permissions or abstract types) is compiled into one function that answers
  the object, and kept across requests when the document alone decides it. complete_object_value and
  complete_list_value use it.
- Plain leaves of any other object are answered in one loop, and only its other fields go to graphql-core.

Any value a short way would have to judge (a None where the schema says never, an error, an awaitable, a
value its type refuses) sends the object or list graphql-core's way, so errors come out exactly as
graphql-core says them; the answers keep the order of the selection. So does a selection that fails to
compile (a bug of ours, logged), before anything of it has run. The short ways only read: a resolver they
called may be called again by graphql-core when they give up.
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections import OrderedDict
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from datetime import date, datetime
from types import GeneratorType
from typing import Any

import strawberry
from graphql import (
    FragmentSpreadNode,
    GraphQLField,
    GraphQLList,
    GraphQLObjectType,
    is_leaf_type,
    is_non_null_type,
)
from graphql.pyutils import Path, Undefined
from strawberry.permission import PermissionExtension
from strawberry.relay.types import GlobalID
from strawberry.scalars import is_scalar
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.schema.schema_converter import CustomGraphQLEnumType, GraphQLCoreConverter
from strawberry.types.base import StrawberryMaybe, StrawberryOptional
from strawberry.types.enum import StrawberryEnumDefinition, has_enum_definition

from laoyou.graphql.shared import SharedEvents

log = logging.getLogger("laoyou.graphql")

_READER = "laoyou-reader"  # cached in the field's extensions: (read, with info) or None
_PLAN = (
    "laoyou-plain-leaf"  # cached in the field's extensions: (read the value, serialise it, nullable) or None
)
_MISSING = object()


_COMPILED: OrderedDict[tuple[Any, ...], tuple[Any, tuple[Any, ...], Any]] = (
    OrderedDict()
)  # compiled selections
_COMPILED_MAX = 512
_SERIALISERS: dict[
    int, tuple[Any, Callable[[Any], Any]]
] = {}  # by the type's identity (it hashes its whole AST)


def _enum_serialiser(named: Any) -> Callable[[Any], Any]:
    """strawberry's enum serialisation compares the value with each of the enum's values in turn (a dozen for a
    category); a lookup answers the same. Anything else (a raw value, a stranger) goes the type's own way.
    Made once per type: the types of a schema live as long as it."""
    known = _SERIALISERS.get(id(named))
    if known is not None and known[0] is named:
        return known[1]
    serialiser = _make_serialiser(named)
    if len(_SERIALISERS) < 4096:
        _SERIALISERS[id(named)] = (named, serialiser)
    return serialiser


def _make_serialiser(named: Any) -> Callable[[Any], Any]:
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
        # the attribute itself (strawberry's basic field), or a method of the object alone (no info, no
        # arguments): `def name(self) -> str: return self.row.name`
        reader = _reader(definition, field_def)
        if reader is not None and not reader[1]:
            plan = (reader[0], _enum_serialiser(named), nullable)
    extensions[_PLAN] = plan
    return plan


# What the short way answers without asking whether it is awaitable (the question costs a call per field).
_PLAIN_TYPES = {str, int, float, bool, datetime, date, strawberry.ID}  # and the types found plain since
_MAX_PLAIN_TYPES = 4096
_LONG_WAY = object()
_LEAN = "_laoyou_lean"  # marks a resolver install_lean_resolvers made: sync, its object and maybe the info


def _answer(
    plan: tuple[Callable[[Any], Any], Callable[[Any], Any], bool],
    source: Any,
    is_awaitable: Callable[[Any], bool],
) -> Any:
    """The serialised value of a plain leaf, or _LONG_WAY for anything graphql-core must judge."""
    read, serialise, nullable = plan
    try:
        value = read(source)
    except Exception:  # noqa: BLE001  (the long way reports it as graphql-core would)
        return _LONG_WAY
    return _serialised(value, serialise, nullable, is_awaitable)


def _is_plain(value: Any, is_awaitable: Callable[[Any], bool]) -> bool:
    """Not an error and not awaitable. Both are properties of the type (a generator aside, which may be a
    coroutine or not), so a type found plain once (an enum, a strawberry object) is not asked again."""
    kind = type(value)
    if kind in _PLAIN_TYPES:
        return True
    if value is _MISSING or isinstance(value, Exception) or is_awaitable(value):
        return False
    if not isinstance(value, GeneratorType) and len(_PLAIN_TYPES) < _MAX_PLAIN_TYPES:
        _PLAIN_TYPES.add(kind)
    return True


def _serialised(
    value: Any, serialise: Callable[[Any], Any], nullable: bool, is_awaitable: Callable[[Any], bool]
) -> Any:
    if value is None:
        return None if nullable else _LONG_WAY
    if not _is_plain(value, is_awaitable):
        return _LONG_WAY
    try:
        serialized = serialise(value)
    except Exception:  # noqa: BLE001
        return _LONG_WAY
    return _LONG_WAY if serialized is None or serialized is Undefined else serialized


def _set_aside(value: Any) -> None:
    """A value the short way will not use: a coroutine it made is closed (the long way makes its own), so that
    it is not reported as never awaited."""
    if inspect.iscoroutine(value):
        value.close()


@dataclass(slots=True)
class _Field:
    """One field of a compiled selection: how to read it, and how to answer the value."""

    name: str  # the response name
    read: Callable[..., Any]  # (source) or, with_info, (source, info)
    with_info: bool
    field_def: GraphQLField | None
    nodes: list[Any]
    nullable: bool
    serialise: Callable[[Any], Any] | None  # a leaf's
    selection: _Selection | None  # an object's, or a list's items'
    items_nullable: bool | None = None  # a list of objects: whether an item may be null; None: not a list


class _LazyInfo:
    """The resolve info of a compiled field, built when the resolver first looks at it: a line's resolver that
    answers from what its list prefetched (its community, its assignee) never does, and the info is most of its
    cost."""

    __slots__ = ("_args", "_info")

    def __init__(self, context: Any, field: _Field, parent_type: GraphQLObjectType, path: Any) -> None:
        self._args = (context, field, parent_type, path)
        self._info = None

    def __getattr__(self, name: str) -> Any:
        info = self._info
        if info is None:
            context, field, parent_type, path = self._args
            info = self._info = context.build_resolve_info(field.field_def, field.nodes, parent_type, path)
        return getattr(info, name)


@dataclass(slots=True)
class _Selection:
    """An object type's selection that the short way can answer whole: plain leaves and objects read by a
    resolver that needs at most its object and the info, all the way down."""

    type: GraphQLObjectType
    fields: list[_Field]
    is_type_of: Callable[..., Any] | None
    answer: Callable[[Any, Any, Any], Any] = field(
        init=False
    )  # (source, path, executor): the object or _LONG_WAY

    def __post_init__(self) -> None:
        self.answer = _answerer(self)


def _answerer(selection: _Selection) -> Callable[[Any, Any, Any], Any]:
    """The selection's answer as one function, written out field by field.

    What it does is what the loop it replaces did (read each field, check and serialise a leaf, answer an object
    by its own selection, give up at the first thing for graphql-core to judge); written out, a page of twenty
    lines skips a few hundred attribute lookups and calls of the generic loop."""
    names: dict[str, Any] = {
        "LONG": _LONG_WAY,
        "PLAIN": _PLAIN_TYPES,
        "is_plain": _is_plain,
        "set_aside": _set_aside,
        "Undefined": Undefined,
        "LazyInfo": _LazyInfo,
        "Path": Path,
        "T": selection.type,
        "TN": selection.type.name,
    }
    # Everything, the answer included, inside the try: a selection with no field for this type (a union member
    # the query spread no field on) still gives the try a body, and answers {} as graphql-core does.
    lines = [
        "def answer(source, path, executor):",
        "    try:",
        "        is_awaitable = executor.is_awaitable",
    ]
    outputs = []
    for i, f in enumerate(selection.fields):
        names[f"R{i}"], names[f"F{i}"], names[f"N{i}"] = f.read, f, f.name
        if f.with_info:
            lines.append(f"        p{i} = Path(path, N{i}, TN)")
            lines.append(f"        v = R{i}(source, LazyInfo(executor, F{i}, T, p{i}))")
        else:
            lines.append(f"        v = R{i}(source)")
        lines.append("        if v is None:")
        lines.append(f"            o{i} = None" if f.nullable else "            return LONG")
        lines.append("        else:")
        lines.append("            if type(v) not in PLAIN and not is_plain(v, is_awaitable):")
        lines.append("                set_aside(v)")
        lines.append("                return LONG")
        if f.selection is None:
            names[f"S{i}"] = f.serialise
            lines.append(f"            o{i} = S{i}(v)")
            lines.append(f"            if o{i} is None or o{i} is Undefined:")
            lines.append("                return LONG")
        elif f.items_nullable is not None:
            names[f"A{i}"], names[f"I{i}"] = f.selection, f.selection.is_type_of
            where = f"p{i}" if f.with_info else f"Path(path, N{i}, TN)"
            lines.append("            if type(v) is not list and type(v) is not tuple:")
            lines.append("                return LONG")
            lines.append(f"            o{i} = []")
            lines.append(f"            at = {where}")
            lines.append("            for index, item in enumerate(v):")
            lines.append("                if item is None:")
            lines.append("                    if not " + repr(f.items_nullable) + ":")
            lines.append("                        return LONG")
            lines.append(f"                    o{i}.append(None)")
            lines.append("                    continue")
            lines.append("                if type(item) not in PLAIN and not is_plain(item, is_awaitable):")
            lines.append("                    set_aside(item)")
            lines.append("                    return LONG")
            if f.selection.is_type_of is not None:
                lines.append(f"                if I{i}(item, None) is not True:")
                lines.append("                    return LONG")
            lines.append(f"                a = A{i}.answer(item, Path(at, index, None), executor)")
            lines.append("                if a is LONG:")
            lines.append("                    return LONG")
            lines.append(f"                o{i}.append(a)")
        else:
            names[f"A{i}"], names[f"I{i}"] = f.selection, f.selection.is_type_of
            if f.selection.is_type_of is not None:
                lines.append(f"            if I{i}(v, None) is not True:")
                lines.append("                set_aside(v)")
                lines.append("                return LONG")
            where = f"p{i}" if f.with_info else f"Path(path, N{i}, TN)"
            lines.append(f"            o{i} = A{i}.answer(v, {where}, executor)")
            lines.append(f"            if o{i} is LONG:")
            lines.append("                return LONG")
        outputs.append(f"{f.name!r}: o{i}")
    lines.append("        return {" + ", ".join(outputs) + "}")
    lines.append("    except Exception:  # the long way reports it as graphql-core would")
    lines.append("        return LONG")
    exec("\n".join(lines), names)  # noqa: S102  (our own text, from the schema's names)
    return names["answer"]


class _Then:
    """`await awaitable`, then `then(value)`: awaitable like a coroutine, but without a frame until awaited.

    graphql-core may let go of a field's awaitable unawaited (a request cancelled part way, a client gone); a
    coroutine dropped so is reported as "never awaited" (an error under the tests' warning filters), while
    graphql-core's own futures and this go quietly.
    """

    __slots__ = ("_awaitable", "_then")

    def __init__(self, awaitable: Any, then: Callable[[Any], Any]) -> None:
        self._awaitable = awaitable
        self._then = then

    def __await__(self) -> Any:
        value = yield from self._awaitable.__await__()
        return self._then(value)


class LaoyouExecutionContext(SharedEvents, StrawberryGraphQLCoreExecutionContext):
    _plans: dict[int, tuple[Any, list[tuple[str, Any]] | None]] | None = None

    def _resolve_hooks(self) -> bool:
        """Whether middleware hooks every field's resolve: then every field must go graphql-core's way."""
        middleware = self.middleware_manager
        return middleware is not None and middleware._middleware_resolvers is not None

    def _leaf_plans(
        self, parent_type: GraphQLObjectType, grouped_field_set: dict
    ) -> list[tuple[str, Any]] | None:
        """Each response name of an object's selection with its plain-leaf plan (or None), or None when no field
        has one. Worked out once per selection and request: the twenty lines of a page share it."""
        plans = self._plans
        if plans is None:
            if self._resolve_hooks():
                return None
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
            return super().execute_fields(
                parent_type, source_value, path, grouped_field_set, position_context
            )
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
            return _Then(results, lambda values: _in_order(grouped_field_set, answered, values))
        return _in_order(grouped_field_set, answered, results)

    # --- objects and lists of objects, answered whole --------------------------------------------------------------------

    _selections: dict[tuple[int, str], tuple[Any, _Selection | None]] | None = None

    def _selection(self, object_type: GraphQLObjectType, field_details_list: Any) -> _Selection | None:
        """The compiled selection of an object (or of a list's items), or None when any field of it, at any
        depth, is not plain. Looked up once per request and selection, as graphql-core memoises its sub-fields."""
        selections = self._selections
        if selections is None:
            if self._resolve_hooks():
                return None
            selections = self._selections = {}
        key = (id(field_details_list), object_type.name)
        cached = selections.get(key)
        if cached is not None and cached[0] is field_details_list:
            return cached[1]
        # Across requests, by the field nodes: the parser cache hands back the same document for the same text.
        nodes = tuple(details.node for details in field_details_list)
        shared_key = (id(self.schema), object_type.name, *map(id, nodes))
        shared = _COMPILED.get(shared_key)
        if (
            shared is not None
            and shared[0] is self.schema
            and all(a is b for a, b in zip(shared[1], nodes, strict=True))
        ):
            selection = shared[2]
        else:
            try:
                selection = self._compile(object_type, field_details_list)
            except Exception:  # noqa: BLE001
                # A bug of the short way must cost speed, never an answer: nothing of this selection has run yet
                # (its parent's resolver, perhaps a mutation's, has), so graphql-core answers it whole.
                log.exception(
                    "the selection of %s did not compile; graphql-core answers it", object_type.name
                )
                selection = None
            if self._static(field_details_list):
                _COMPILED[shared_key] = (
                    self.schema,
                    nodes,
                    selection,
                )  # keeps the nodes alive: ids stay theirs
                if len(_COMPILED) > _COMPILED_MAX:
                    _COMPILED.popitem(last=False)
        selections[key] = (field_details_list, selection)
        return selection

    def _static(self, field_details_list: Any) -> bool:
        """Whether collecting the selection depends on the document alone: no directive anywhere in it (@skip
        and @include read the variables) and no fragment arguments."""
        for details in field_details_list:
            if getattr(details, "fragment_variable_values", None) is not None or details.node.directives:
                return False
            if not _without_directives(details.node.selection_set, self.fragments, set()):
                return False
        return True

    def _compile(self, object_type: GraphQLObjectType, field_details_list: Any) -> _Selection | None:
        if any(details.node.directives for details in field_details_list):
            return None  # @stream, @defer and their like: graphql-core's
        grouped_field_set, new_defer_usages, _ = self.collect_subfields(object_type, field_details_list)
        if new_defer_usages:
            return None
        fields: list[_Field] = []
        for response_name, details in grouped_field_set.items():
            node = details[0].node
            nodes = [d.node for d in details]
            if node.name.value == "__typename":
                type_name = object_type.name
                fields.append(
                    _Field(
                        response_name, lambda _source, _n=type_name: _n, False, None, nodes, False, str, None
                    )
                )
                continue
            field_def = self.schema.get_field(object_type, node.name.value)
            definition = (
                field_def.extensions.get(GraphQLCoreConverter.DEFINITION_BACKREF) if field_def else None
            )
            if (
                definition is None
                or field_def.args
                or node.arguments
                or definition.extensions
                or node.directives
            ):
                return None
            reader = _reader(definition, field_def)  # cached on the field, like the leaf plans
            if reader is None:
                return None
            read, with_info = reader
            nullable = not is_non_null_type(field_def.type)
            named = field_def.type if nullable else field_def.type.of_type
            if is_leaf_type(named):
                fields.append(
                    _Field(
                        response_name,
                        read,
                        with_info,
                        field_def,
                        nodes,
                        nullable,
                        _enum_serialiser(named),
                        None,
                    )
                )
            elif isinstance(named, GraphQLObjectType):
                inner = self._selection(named, details)
                if inner is None:
                    return None
                fields.append(_Field(response_name, read, with_info, field_def, nodes, nullable, None, inner))
            elif isinstance(named, GraphQLList):
                items_nullable = not is_non_null_type(named.of_type)
                item = named.of_type if items_nullable else named.of_type.of_type
                inner = self._selection(item, details) if isinstance(item, GraphQLObjectType) else None
                if inner is None:
                    return None  # lists of leaves, of lists, of interfaces
                fields.append(
                    _Field(
                        response_name,
                        read,
                        with_info,
                        field_def,
                        nodes,
                        nullable,
                        None,
                        inner,
                        items_nullable,
                    )
                )
            else:
                return None  # interfaces, unions
        return _Selection(object_type, fields, object_type.is_type_of)

    def execute_operation(self, serially: bool | None = None) -> Any:
        """The operation, then the executor let go of: graphql-core's executor and its helpers refer to each
        other, so without this every request's executor (and all it memoised) waits for the cycle collector."""
        result = super().execute_operation(serially)
        if not self.is_awaitable(result):
            self._let_go()
            return result

        async def settled() -> Any:
            try:
                return await result
            finally:
                self._let_go()

        return settled()

    def _let_go(self) -> None:
        self.async_helpers = None  # type: ignore[assignment]  (its gather and track are this executor's)
        self._plans = self._selections = None

    def complete_object_value(  # type: ignore[override]
        self,
        return_type: Any,
        field_details_list: Any,
        info: Any,
        path: Any,
        result: Any,
        position_context: Any,
    ) -> Any:
        """An object whose selection is plain all the way down (a page: its lines and their page info) is answered
        by its compiled selection; at the first value graphql-core must judge, graphql-core's way."""
        selection = self._selection(return_type, field_details_list)
        if selection is not None and (
            return_type.is_type_of is None or return_type.is_type_of(result, info) is True
        ):
            answered = selection.answer(result, path, self)
            if answered is not _LONG_WAY:
                return answered
        return super().complete_object_value(
            return_type, field_details_list, info, path, result, position_context
        )

    def complete_list_value(  # type: ignore[override]
        self,
        return_type: Any,
        field_details_list: Any,
        info: Any,
        path: Any,
        result: Any,
        position_context: Any,
    ) -> Any:
        """A list of objects whose selection is plain all the way down is answered in one loop per item; at the
        first value graphql-core must judge, the whole list goes its way (reading is all the short way did)."""
        item_type = return_type.of_type
        item_nullable = not is_non_null_type(item_type)
        named = item_type if item_nullable else item_type.of_type
        if result and type(result) in (list, tuple) and isinstance(named, GraphQLObjectType):
            selection = self._selection(named, field_details_list)
            if selection is not None:
                completed = []
                for index, item in enumerate(result):
                    if item is None:
                        if not item_nullable:
                            break
                        completed.append(None)
                        continue
                    if selection.is_type_of is not None and selection.is_type_of(item, info) is not True:
                        break
                    answered = selection.answer(item, Path(path, index, None), self)
                    if answered is _LONG_WAY:
                        break
                    completed.append(answered)
                else:
                    return completed
        return super().complete_list_value(
            return_type, field_details_list, info, path, result, position_context
        )


def _without_directives(selection_set: Any, fragments: Any, seen: set[str]) -> bool:
    for selection in selection_set.selections if selection_set is not None else ():
        if selection.directives:
            return False
        if isinstance(selection, FragmentSpreadNode):
            name = selection.name.value
            if name in seen:
                continue
            seen.add(name)
            fragment = fragments.get(name)
            definition = getattr(fragment, "definition", fragment)
            if (
                definition is None
                or definition.directives
                or not _without_directives(definition.selection_set, fragments, seen)
            ):
                return False
        elif not _without_directives(
            selection.selection_set, fragments, seen
        ):  # a field or an inline fragment
            return False
    return True


def _reader(definition: Any, field_def: GraphQLField) -> tuple[Callable[..., Any], bool] | None:
    """How the short way reads a field: an attribute, a sync resolver of its object alone, or a lean resolver
    (install_lean_resolvers) of its object and the info; None for anything else (async, arguments, permissions)."""
    try:
        return field_def.extensions[_READER]
    except KeyError:
        reader = field_def.extensions[_READER] = _find_reader(definition, field_def)
        return reader


def _find_reader(definition: Any, field_def: GraphQLField) -> tuple[Callable[..., Any], bool] | None:
    resolver = definition.base_resolver
    if resolver is None:
        if not getattr(field_def.resolve, "_is_default", False):
            return None
        name = definition.python_name
        return (lambda source: getattr(source, name, _MISSING)), False
    if resolver.is_async or resolver.self_parameter is None:
        return None
    if len(resolver.signature.parameters) == 1:
        return resolver.wrapped_func, False
    if getattr(field_def.resolve, _LEAN, False):
        return field_def.resolve, True
    return None


def _in_order(grouped_field_set: dict, answered: dict[str, Any], results: dict[str, Any]) -> dict[str, Any]:
    return {
        name: answered[name] if name in answered else results[name]
        for name in grouped_field_set
        if name in answered or name in results
    }


def _lean_resolver(field_def: GraphQLField, info_class: type) -> Callable[..., Any] | None:
    """A direct call of a resolver that needs only its object, or its object and the info, or None."""
    definition = field_def.extensions.get(GraphQLCoreConverter.DEFINITION_BACKREF)
    resolver = getattr(definition, "base_resolver", None)
    if resolver is None or definition.extensions or field_def.args or resolver.self_parameter is None:
        return None
    parameters = list(resolver.signature.parameters.values())
    fn = resolver.wrapped_func
    if len(parameters) == 1:

        def lean(source: Any, _info: Any) -> Any:
            return fn(source)

    elif len(parameters) == 2 and resolver.info_parameter is parameters[1]:

        def lean(source: Any, info: Any) -> Any:
            return fn(source, info_class(_raw_info=info, _field=definition))

    else:
        return None
    setattr(lean, _LEAN, True)
    return lean


def _lean_async_resolver(field_def: GraphQLField, schema: Any) -> Callable[..., Any] | None:
    """A direct call of an async resolver whose arguments are scalars or enums and whose only extension is its
    permission classes, or None.

    For such arguments strawberry's conversion hands each value on as graphql-core coerced it (an enum is
    already its member): only the names change. The permission classes are checked by strawberry's own
    permission extension, as before; only the chain around it (argument conversion, the extension chain built
    anew on every call) is left out."""
    definition = field_def.extensions.get(GraphQLCoreConverter.DEFINITION_BACKREF)
    resolver = getattr(definition, "base_resolver", None)
    if resolver is None or not resolver.is_async or resolver.parent_parameter or resolver.root_parameter:
        return None
    extensions = definition.extensions
    if len(extensions) > 1 or (extensions and type(extensions[0]) is not PermissionExtension):
        return None
    converter = schema.schema_converter
    if converter._get_field_exception_handlers(definition):
        return None
    names = []
    for argument in definition.arguments:
        type_ = argument.type
        if isinstance(type_, StrawberryMaybe):
            return None
        if isinstance(type_, StrawberryOptional):
            type_ = type_.of_type
        if type_ is GlobalID or not (
            isinstance(type_, StrawberryEnumDefinition)
            or has_enum_definition(type_)
            or is_scalar(type_, converter.scalar_registry)
        ):
            return None
        names.append((schema.config.name_converter.from_argument(argument), argument.python_name))
    fn, info_class, permission = (
        resolver.wrapped_func,
        schema.config.info_class,
        extensions[0] if extensions else None,
    )
    info_name = resolver.info_parameter.name if resolver.info_parameter else None
    with_self = resolver.self_parameter is not None

    def call(source: Any, info: Any, **kwargs: Any) -> Any:
        if info_name is not None:
            kwargs[info_name] = info
        return fn(source, **kwargs) if with_self else fn(**kwargs)

    async def lean(source: Any, raw_info: Any, **given: Any) -> Any:
        info = info_class(_raw_info=raw_info, _field=definition)
        kwargs = {python_name: given[name] for name, python_name in names if name in given}
        if permission is None:
            return await call(source, info, **kwargs)
        return await permission.resolve_async(call, source, info, **kwargs)

    return lean


class _Call:
    """An async resolver's call, made when graphql-core first awaits it.

    graphql-core resolves sibling fields side by side: it calls every resolver, gives each awaitable a task, and
    cancels the others when one fails. A task cancelled before its first step never starts what it holds, so a
    coroutine the resolver had already made would be left never awaited. Called only when awaited, it has made
    nothing to leave."""

    __slots__ = ("_resolve", "_source", "_info", "_kwargs")

    def __init__(self, resolve: Callable[..., Any], source: Any, info: Any, kwargs: dict[str, Any]) -> None:
        self._resolve, self._source, self._info, self._kwargs = resolve, source, info, kwargs

    def __await__(self) -> Generator[Any, None, Any]:
        return self._resolve(self._source, self._info, **self._kwargs).__await__()


def _called_when_awaited(resolve: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(resolve)  # its name and marks (_LEAN) too
    def deferred(source: Any, info: Any, **kwargs: Any) -> _Call:
        return _Call(resolve, source, info, kwargs)

    return deferred


def _is_async(field_def: GraphQLField) -> bool:
    """Whether the field's resolve makes a coroutine (an async generator is iterated, not awaited)."""
    definition = field_def.extensions.get(GraphQLCoreConverter.DEFINITION_BACKREF)
    resolver = getattr(definition, "base_resolver", None)
    if resolver is None or not resolver.is_async:
        return inspect.iscoroutinefunction(field_def.resolve)
    return not inspect.isasyncgenfunction(resolver.wrapped_func)


def install_lean_resolvers(schema: Any) -> None:
    """Give each field whose resolver takes only its object (and the info) a direct call.

    strawberry wraps every resolver for what some need: arguments converted to Python, field extensions,
    permission classes. A resolver with none of these (no arguments, no extension, no permission) gets the
    same call without the wrapping; on a board of twenty lines that is a hundred calls a request. So does an
    async resolver whose arguments are scalars or enums and whose only extension is its permission classes
    (_lean_async_resolver): most root fields. Root subscription fields keep strawberry's own (their resolve
    receives the event stream's items).

    Every async resolver, lean or strawberry's, is then called only when awaited (_Call).
    """
    graphql_schema = schema._schema
    subscription = graphql_schema.subscription_type
    for type_ in graphql_schema.type_map.values():
        if not isinstance(type_, GraphQLObjectType) or type_.name.startswith("__") or type_ is subscription:
            continue
        for field_def in type_.fields.values():
            lean = _lean_resolver(field_def, schema.config.info_class) or _lean_async_resolver(
                field_def, schema
            )
            if lean is not None:
                field_def.resolve = lean
            if _is_async(field_def):
                field_def.resolve = _called_when_awaited(field_def.resolve)
