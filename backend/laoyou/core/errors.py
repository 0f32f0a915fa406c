"""Typed failures. Services raise them; resolvers turn user mistakes into payload errors."""

from __future__ import annotations

from enum import StrEnum


class ErrorCode(StrEnum):
    INVALID = "INVALID"
    INVALID_PHONE = "INVALID_PHONE"
    INVALID_CODE = "INVALID_CODE"
    CODE_EXPIRED = "CODE_EXPIRED"
    TOO_MANY_ATTEMPTS = "TOO_MANY_ATTEMPTS"
    RATE_LIMITED = "RATE_LIMITED"
    INVALID_CREDENTIALS = "INVALID_CREDENTIALS"
    INVALID_CARD = "INVALID_CARD"
    NOT_FOUND = "NOT_FOUND"
    ALREADY_EXISTS = "ALREADY_EXISTS"
    NOT_ALLOWED = "NOT_ALLOWED"
    IDEMPOTENCY_CONFLICT = "IDEMPOTENCY_CONFLICT"
    NOTHING_TO_PAY = "NOTHING_TO_PAY"
    INSUFFICIENT_FUNDS = "INSUFFICIENT_FUNDS"
    GATEWAY_ERROR = "GATEWAY_ERROR"
    PAYMENT_WAITING = "PAYMENT_WAITING"
    WECHAT_PAYER_UNKNOWN = "WECHAT_PAYER_UNKNOWN"
    UNAVAILABLE = "UNAVAILABLE"  # the database cannot be reached: try again in a few minutes


class LaoyouError(Exception):
    """A user mistake: shown in the caller's language, nothing changed."""

    def __init__(self, code: ErrorCode, message: str, *, field: str | None = None, **params: object):
        super().__init__(message)
        self.code = code
        self.message = message  # an English msgid, translated when shown
        self.field = field
        self.params = params


class PermissionDenied(Exception):
    """The actor may not do this. Becomes a top-level GraphQL error, never a payload."""

    def __init__(self, message: str = "You are not allowed to do this."):
        super().__init__(message)
        self.message = message


class NotFound(PermissionDenied):
    """Not there, or not yours: the two are deliberately told apart by nobody."""

    def __init__(self, message: str = "Not found."):
        super().__init__(message)
