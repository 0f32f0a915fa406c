"""One schema assembled from the domains, with its hardening in one place."""

from __future__ import annotations

import logging
import uuid
from collections import OrderedDict
from typing import Any, ClassVar

import strawberry
from graphql import GraphQLError
from graphql.validation import NoSchemaIntrospectionCustomRule
from sqlalchemy.exc import SQLAlchemyError
from strawberry.extensions import (
    AddValidationRules,
    MaskErrors,
    MaxAliasesLimiter,
    ParserCache,
    QueryDepthLimiter,
    SchemaExtension,
)
from strawberry.exceptions import StrawberryGraphQLError
from strawberry.schema.config import StrawberryConfig
from strawberry.schema.schema import validate_document
from strawberry.types.graphql import OperationType

from laoyou.accounts.schema import AccountsMutation, AccountsQuery, AccountsSubscription
from laoyou.core.db import has_writes
from laoyou.core.errors import LaoyouError, PermissionDenied
from laoyou.core.events import has_events
from laoyou.core.settings import Settings
from laoyou.graphql.execution import LaoyouExecutionContext, install_lean_resolvers
from laoyou.estates.schema import EstatesQuery
from laoyou.support.schema import SupportMutation, SupportQuery, SupportSubscription
from laoyou.briefings.schema import BriefingsMutation, BriefingsQuery
from laoyou.notify.schema import NotifyMutation, NotifyQuery
from laoyou.billing.schema import BillingMutation, BillingQuery
from laoyou.tickets.schema import TicketsMutation, TicketsQuery

log = logging.getLogger("laoyou.graphql")


@strawberry.type
class Query(AccountsQuery, EstatesQuery, BillingQuery, BriefingsQuery, NotifyQuery, SupportQuery, TicketsQuery):
    pass


@strawberry.type
class Mutation(AccountsMutation, BillingMutation, BriefingsMutation, NotifyMutation, SupportMutation, TicketsMutation):
    pass


@strawberry.type
class Subscription(AccountsSubscription, SupportSubscription):
    pass


class Hardening(AddValidationRules):
    """The limits (depth, aliases, tokens and, in production, no introspection) as one extension.

    strawberry enters every extension's four hooks on every request; each limit used only one of them, and
    as separate extensions they cost more than the board's validation and parsing together."""

    def __init__(self, validation_rules: list, max_tokens: int) -> None:
        super().__init__(validation_rules)
        self.max_tokens = max_tokens

    def on_operation(self):  # noqa: ANN201
        self.execution_context.parse_options["max_tokens"] = self.max_tokens
        yield from super().on_operation()


class ValidatedDocuments(SchemaExtension):
    """Validation once per parsed document and set of rules.

    strawberry's ValidationCache keys its cache on the document itself, and hashing a document walks its
    whole tree on every request: for the board's query, about as long as the rest of strawberry's preparation.
    ParserCache hands back the very same document for the same text, so the document's identity is the key.
    The cache keeps each document (and the rules) alive, so an identity is not reused while it is cached.
    """

    MAXSIZE = 256
    _cache: ClassVar[OrderedDict[tuple[int, ...], tuple[Any, Any, tuple, list]]] = OrderedDict()  # every request's

    def on_validate(self):  # noqa: ANN201
        context = self.execution_context
        schema, document, rules = context.schema._schema, context.graphql_document, tuple(context.validation_rules)  # noqa: SLF001
        key = (id(schema), id(document), *map(id, rules))
        cached = self._cache.get(key)
        if cached is not None and cached[0] is schema and cached[1] is document:
            self._cache.move_to_end(key)
            errors = cached[3]
        else:
            errors = validate_document(schema, document, rules)
            self._cache[key] = (schema, document, rules, errors)
            if len(self._cache) > self.MAXSIZE:
                self._cache.popitem(last=False)
        context.pre_execution_errors = errors
        yield


class TranslateDenials(SchemaExtension):
    """Ends the operation's unit of work and words its errors in the caller's language.

    Permission failures are top-level errors; a failed mutation's leftovers are rolled back. A query that
    wrote is committed: what it wrote is the audit of staff reading personal data, which must be kept. A
    query that only read ends without a commit (closing the session rolls its read transaction back).
    """

    async def on_execute(self):  # noqa: ANN201
        yield
        result = self.execution_context.result
        errors = getattr(result, "errors", None) if result else None
        context = self.execution_context.context
        if errors:
            self._translate(errors, getattr(context, "language", None))
        if not hasattr(context, "commit"):
            return
        if self.execution_context.operation_type is OperationType.QUERY:
            session = getattr(context, "_session", None)
            if session is not None and (has_writes(session) or has_events(session)):
                try:
                    await context.commit()
                except SQLAlchemyError:
                    # A failed field can cancel its siblings mid-statement, leaving the transaction unusable.
                    await context.rollback()
        elif errors:
            await context.rollback()

    @staticmethod
    def _translate(errors: list[GraphQLError], language: str | None) -> None:
        from laoyou.core import i18n

        for error in errors:
            original = error.original_error
            if isinstance(original, PermissionDenied):
                error.message = i18n.gettext(original.message, language)
                error.extensions = {**(error.extensions or {}), "code": "NOT_FOUND" if original.message == "Not found." else "FORBIDDEN"}
            elif isinstance(original, LaoyouError):
                # A mistake in a query's arguments (a page size, a cursor): said plainly, never masked.
                error.message = i18n.gettext(original.message, language, **original.params)
                error.extensions = {**(error.extensions or {}), "code": original.code.value,
                                    **({"field": original.field} if original.field else {})}


def _should_mask(error: GraphQLError) -> bool:
    """Mask what nobody meant to say: anything but denials, user mistakes and GraphQL's own errors."""
    original = error.original_error
    if original is None or isinstance(original, PermissionDenied | LaoyouError | StrawberryGraphQLError):
        # StrawberryGraphQLError carries the permission classes' messages ("Please log in first.").
        return False
    request_id = uuid.uuid4().hex[:12]
    log.error("unexpected error %s: %r", request_id, original, exc_info=original)
    error.extensions = {**(error.extensions or {}), "requestId": request_id}
    return True


class MaskUnexpectedErrors(MaskErrors):
    """Strawberry's masking, keeping the request id that points to the logged error."""

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        masked = super().anonymise_error(error)
        request_id = (error.extensions or {}).get("requestId")
        if request_id:
            masked.extensions = {"requestId": request_id}
        return masked


def build_schema(settings: Settings | None = None) -> strawberry.Schema:
    production = bool(settings and settings.is_production)
    max_depth = settings.max_query_depth if settings else 10
    rules = [
        *QueryDepthLimiter(max_depth=max_depth).validation_rules,
        *MaxAliasesLimiter(max_alias_count=settings.max_aliases if settings else 30).validation_rules,
    ]
    if production:
        rules.append(NoSchemaIntrospectionCustomRule)
    max_tokens = settings.max_tokens if settings else 2000
    extensions: list = [
        lambda: Hardening(rules, max_tokens),
        ParserCache(maxsize=256),
        ValidatedDocuments,
        TranslateDenials,
    ]
    if production:
        extensions.append(MaskUnexpectedErrors(should_mask_error=_should_mask))
    schema = strawberry.Schema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        extensions=extensions,
        execution_context_class=LaoyouExecutionContext,
        config=StrawberryConfig(disable_field_suggestions=production),
    )
    install_lean_resolvers(schema)
    return schema


def export_sdl() -> str:
    return build_schema().as_str() + "\n"
