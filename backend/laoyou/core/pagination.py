"""Cursor pagination on an integer key, with a capped page size."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Generic, TypeVar

from laoyou.core.errors import ErrorCode, LaoyouError

T = TypeVar("T")


def encode_cursor(key: int) -> str:
    return base64.urlsafe_b64encode(f"k:{key}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> int | None:
    if not cursor:
        return None
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        prefix, _, value = text.partition(":")
        if prefix != "k":
            raise ValueError(cursor)
        return int(value)
    except (ValueError, UnicodeDecodeError):
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
