"""Cursor pagination on an integer key, with a capped page size."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Generic, TypeVar

from laoyou.core.errors import ErrorCode, LaoyouError

T = TypeVar("T")


def wrap_cursor(kind: str, text: str) -> str:
    """An opaque cursor: what a client passes back as it got it, `kind:text` in URL-safe base64 without padding
    (page links carry it)."""
    return base64.urlsafe_b64encode(f"{kind}:{text}".encode()).decode().rstrip("=")


def unwrap_cursor(cursor: str, kind: str) -> str:
    """The text of a cursor of this kind; ValueError for anything else (the caller words the refusal)."""
    text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    prefix, _, value = text.partition(":")
    if prefix != kind:
        raise ValueError(cursor)
    return value


def encode_cursor(key: int) -> str:
    return wrap_cursor("k", str(key))


def decode_cursor(cursor: str | None) -> int | None:
    if not cursor:
        return None
    try:
        return int(unwrap_cursor(cursor, "k"))
    except ValueError:  # UnicodeDecodeError and binascii.Error are ValueErrors too
        raise LaoyouError(ErrorCode.INVALID, "That page link is not valid.", field="after") from None


def clamp_first(first: int | None, maximum: int, default: int = 20) -> int:
    if first is None:
        return min(default, maximum)
    if first < 1 or first > maximum:
        raise LaoyouError(
            ErrorCode.INVALID, "Ask for between 1 and %(max)s items.", field="first", max=maximum
        )
    return first


@dataclass
class Page(Generic[T]):
    items: list[T]
    has_next_page: bool

    @property
    def end_cursor(self) -> str | None:
        return encode_cursor(self.items[-1].id) if self.items else None  # type: ignore[attr-defined]
