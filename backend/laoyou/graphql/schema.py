"""One schema assembled from the domains, with its hardening in one place."""

from __future__ import annotations

import functools
import logging
import uuid
from collections import OrderedDict
from typing import Any, ClassVar

import strawberry
from graphql import GraphQLError, parse
from graphql.validation import NoSchemaIntrospectionCustomRule
from sqlalchemy.exc import SQLAlchemyError
from strawberry.exceptions import StrawberryGraphQLError
from strawberry.extensions import MaskErrors, MaxAliasesLimiter, QueryDepthLimiter, SchemaExtension
from strawberry.schema.config import StrawberryConfig
from strawberry.schema.schema import validate_document
from strawberry.types.graphql import OperationType

from laoyou.accounts.card_batches.schema import CardBatchMutation, CardBatchQuery
from laoyou.accounts.link_requests.schema import LinkRequestsMutation, LinkRequestsQuery
from laoyou.accounts.schema import AccountsMutation, AccountsQuery, AccountsSubscription
from laoyou.accounts.staff_roles.schema import StaffMutation, StaffQuery
from laoyou.billing.schema import BillingMutation, BillingQuery
from laoyou.briefings.schema import BriefingsMutation, BriefingsQuery, BriefingsSubscription
from laoyou.care.schema import CareMutation, CareQuery
from laoyou.care.sensors.schema import SensorsMutation, SensorsQuery
from laoyou.core import logs
from laoyou.core.db import DATABASE_UNREACHABLE, has_writes
from laoyou.core.errors import ErrorCode, LaoyouError, PermissionDenied
from laoyou.core.events import has_events
from laoyou.core.metrics import name_operation
from laoyou.core.settings import Settings
from laoyou.estates.schema import EstateImportMutation, EstateImportQuery, EstatesMutation, EstatesQuery
from laoyou.governance.assessment.schema import AssessmentMutation, AssessmentQuery
from laoyou.governance.disclosures.schema import DisclosuresMutation, DisclosuresQuery
from laoyou.governance.votes.schema import VotesMutation, VotesQuery
from laoyou.graphql.execution import LaoyouExecutionContext, install_lean_resolvers
from laoyou.notify.reach.schema import ReachMutation, ReachQuery
from laoyou.notify.schema import NotifyMutation, NotifyQuery
from laoyou.support.schema import SupportMutation, SupportQuery, SupportSubscription
from laoyou.tickets.schema import TicketsMutation, TicketsQuery, TicketsSubscription

log = logging.getLogger("laoyou.graphql")


@strawberry.type
class Query(
    AccountsQuery,
    EstatesQuery,
    EstateImportQuery,
    BillingQuery,
    BriefingsQuery,
    NotifyQuery,
    ReachQuery,
    SupportQuery,
    TicketsQuery,
    StaffQuery,
    CardBatchQuery,
    LinkRequestsQuery,
    DisclosuresQuery,
    AssessmentQuery,
    VotesQuery,
    CareQuery,
    SensorsQuery,
):
    pass


@strawberry.type
class Mutation(
    AccountsMutation,
    EstatesMutation,
    EstateImportMutation,
    BillingMutation,
    BriefingsMutation,
    NotifyMutation,
    ReachMutation,
    SupportMutation,
    TicketsMutation,
    StaffMutation,
    CardBatchMutation,
    LinkRequestsMutation,
    DisclosuresMutation,
    AssessmentMutation,
    VotesMutation,
    CareMutation,
    SensorsMutation,
):
    pass


@strawberry.type
class Subscription(AccountsSubscription, BriefingsSubscription, SupportSubscription, TicketsSubscription):
    pass


_parse = functools.lru_cache(maxsize=256)(parse)  # by the text and the options (the token limit)


class PreparedDocuments(SchemaExtension):
    """The limits, the parsing and the validation: each document parsed once and validated once.

    One extension for what strawberry's limiters, ParserCache and ValidationCache did as five: strawberry enters
    every extension's four hooks on every request, each wrapped in a context manager, and that cost more than
    the board's parsing and validation together. Validation is cached by the parsed document's identity, not by
    the document (whose hash walks its whole tree on every request): the parse cache hands back the very same
    document for the same text, and the validation cache keeps each document (and the rules) alive, so an
    identity is not reused while it is cached.
    """

    MAXSIZE = 256
    _validated: ClassVar[OrderedDict[tuple[int, ...], tuple[Any, Any, tuple, list]]] = OrderedDict()

    def __init__(self, validation_rules: list, max_tokens: int) -> None:
        self.validation_rules = tuple(validation_rules)
        self.max_tokens = max_tokens

    def on_operation(self):
        context = self.execution_context
        context.parse_options["max_tokens"] = self.max_tokens
        context.validation_rules = context.validation_rules + self.validation_rules
        yield

    def on_parse(self):
        context = self.execution_context
        context.graphql_document = _parse(context.query, **context.parse_options)
        yield

    def on_validate(self):
        context = self.execution_context
        schema, document, rules = (
            context.schema._schema,
            context.graphql_document,
            tuple(context.validation_rules),
        )
        key = (id(schema), id(document), *map(id, rules))
        cached = self._validated.get(key)
        if cached is not None and cached[0] is schema and cached[1] is document:
            self._validated.move_to_end(key)
            errors = cached[3]
        else:
            errors = validate_document(schema, document, rules)
            self._validated[key] = (schema, document, rules, errors)
            if len(self._validated) > self.MAXSIZE:
                self._validated.popitem(last=False)
        context.pre_execution_errors = errors
        yield


class TranslateDenials(SchemaExtension):
    """Ends the operation's unit of work and words its errors in the caller's language.

    Permission failures are top-level errors; a failed mutation's leftovers are rolled back. A query that
    wrote is committed: what it wrote is the audit of staff reading personal data, which must be kept. A
    query that only read ends without a commit (closing the session rolls its read transaction back).
    """

    async def on_execute(self):
        name_operation(self.execution_context.operation_name)
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
                error.extensions = {
                    **(error.extensions or {}),
                    "code": "NOT_FOUND" if original.message == "Not found." else "FORBIDDEN",
                }
            elif isinstance(original, LaoyouError):
                # A mistake in a query's arguments (a page size, a cursor): said plainly, never masked.
                error.message = i18n.gettext(original.message, language, **original.params)
                error.extensions = {
                    **(error.extensions or {}),
                    "code": original.code.value,
                    **({"field": original.field} if original.field else {}),
                }


def _should_mask(error: GraphQLError) -> bool:
    """Mask what nobody meant to say: anything but denials, user mistakes and GraphQL's own errors."""
    original = error.original_error
    if original is None or isinstance(original, PermissionDenied | LaoyouError | StrawberryGraphQLError):
        # StrawberryGraphQLError carries the permission classes' messages ("Please log in first.").
        return False
    # The request's own id when there is one: what the person reports is what every log line of it carries.
    request_id = logs.current_request_id() or uuid.uuid4().hex[:12]
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


def is_refusal(error: GraphQLError) -> bool:
    """What the caller caused and was told: a denial, a mistake, or a document GraphQL itself refused."""
    original = error.original_error
    return original is None or isinstance(original, PermissionDenied | LaoyouError | StrawberryGraphQLError)


def _drop_suggestions(error: GraphQLError) -> None:
    """graphql-core ends many validation and coercion messages with " Did you mean 'x'?" (unknown fields,
    arguments, types, enum values): names of the schema that production does not describe to strangers.
    strawberry's disable_field_suggestions only drops the one of an unknown field."""
    message, suggested, _ = error.message.partition(" Did you mean ")
    if suggested:
        error.message = message.rstrip()


class LaoyouSchema(strawberry.Schema):
    """Logs a refusal as one INFO line; only what nobody meant is an ERROR with its traceback."""

    def process_errors(self, errors: list[GraphQLError], execution_context: Any = None) -> None:
        unexpected = []
        for error in errors:
            if self.config.disable_field_suggestions:
                _drop_suggestions(error)
            if isinstance(error.original_error, DATABASE_UNREACHABLE):
                log.error("database unreachable: %r", error.original_error)
                language = getattr(getattr(execution_context, "context", None), "language", None)
                from laoyou.core import i18n  # noqa: PLC0415  (as _translate does)

                error.message = i18n.gettext("Please try again in a few minutes.", language)
                error.extensions = {"code": ErrorCode.UNAVAILABLE.value}
            elif is_refusal(error):
                operation = getattr(execution_context, "operation_name", None) or "anonymous operation"
                where = ".".join(str(p) for p in error.path) if error.path else "document"
                kind = type(error.original_error).__name__ if error.original_error else "GraphQLError"
                log.info("refused %s at %s: %s (%s)", operation, where, error.message, kind)
            else:
                unexpected.append(error)
        super().process_errors(unexpected, execution_context)


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
    extensions: list = [lambda: PreparedDocuments(rules, max_tokens), TranslateDenials]
    if production:
        extensions.append(lambda: MaskUnexpectedErrors(should_mask_error=_should_mask))  # made per request
    schema = LaoyouSchema(
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
