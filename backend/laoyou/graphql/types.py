"""Types every domain's schema shares: page info, connections, ids."""

from __future__ import annotations

from typing import Generic, TypeVar

import strawberry

from laoyou.core.errors import NotFound
from laoyou.core.pagination import Page, clamp_first, decode_cursor

T = TypeVar("T")


@strawberry.type
class PageInfo:
    has_next_page: bool
    end_cursor: str | None


@strawberry.type
class Connection(Generic[T]):
    nodes: list[T]
    page_info: PageInfo


def connection(page: Page, convert) -> Connection:  # noqa: ANN001
    return Connection(
        nodes=[convert(row=item) for item in page.items],
        page_info=PageInfo(has_next_page=page.has_next_page, end_cursor=page.end_cursor),
    )


def page_args(info, first: int | None, after: str | None) -> tuple[int, int | None]:  # noqa: ANN001
    return clamp_first(first, info.context.settings.max_page_size), decode_cursor(after)


def encode_id(value: int | None) -> strawberry.ID | None:
    """A row's id as the API shows it (None stays None: a row not yet saved, or an optional link)."""
    return strawberry.ID(str(value)) if value is not None else None


def decode_id(value: strawberry.ID | str) -> int:
    """IDs are decimal strings; anything else names nothing."""
    text = str(value)
    if not text.isdigit() or len(text) > 18:
        raise NotFound()
    return int(text)


def format_area(centi_m2: int) -> str:
    return f"{centi_m2 // 100}.{centi_m2 % 100:02d}"
