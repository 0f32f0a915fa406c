"""Payload errors: every mutation returns a union of its payload and its own error type."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

import strawberry

from laoyou.core import i18n
from laoyou.core.errors import ErrorCode, LaoyouError, PermissionDenied
from laoyou.graphql.context import Context, Info

ErrorCodeEnum = strawberry.enum(ErrorCode, name="ErrorCode", description="What went wrong, for programs.")


@strawberry.interface(description="A mistake the person can correct; nothing was changed.")
class Error:
    field: str | None = strawberry.field(description="The input field at fault, in camelCase, if any.")
    message: str = strawberry.field(description="A sentence in the caller's language.")
    code: ErrorCodeEnum  # type: ignore[valid-type]

    @classmethod
    def from_exception(cls, exc: LaoyouError, language: str):
        return cls(field=exc.field, message=i18n.gettext(exc.message, language, **exc.params), code=exc.code)


def error_type(name: str) -> type[Error]:
    """A mutation's own error type: an Error with its own GraphQL name and nothing more."""
    return strawberry.type(type(name, (Error,), {"__module__": __name__}))


def result_union(name: str, payload: type, error: type[Error]) -> Any:
    """What a mutation returns: its payload or its error, as the union named name."""
    return Annotated[payload | error, strawberry.union(name)]


P = TypeVar("P")


async def mutation_boundary(
    info: Info, error_type: type[Error], work: Callable[[], Awaitable[P]]
) -> P | Error:
    """Run one mutation's service work and end the unit of work (see context_boundary)."""
    return await context_boundary(info.context, error_type, work)


async def context_boundary(
    context: Context, error_type: type[Error], work: Callable[[], Awaitable[P]]
) -> P | Error:
    """Run one change's service work and end it: a mutation's, or an endpoint's that is a mutation sent as
    something else (an upload is multipart, not GraphQL).

    A user mistake becomes the error payload. Services check before they change anything,
    so what they flushed by then is only what must be kept even on failure (a wrong-code counter,
    an audit line), and it is committed. Anything else rolls back and propagates.
    """
    try:
        result = await work()
    except LaoyouError as exc:
        await context.commit()
        context.forget_reads()
        return error_type.from_exception(exc, context.language)
    except BaseException:
        await context.rollback()
        context.forget_reads()
        raise
    await context.commit()
    context.forget_reads()
    return result


def translated_denial(info: Info, exc: PermissionDenied) -> PermissionDenied:
    return PermissionDenied(i18n.gettext(exc.message, info.context.language))
