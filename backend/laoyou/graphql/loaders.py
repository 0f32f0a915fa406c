"""The DataLoader shapes every domain uses, made per request so nothing leaks between actors.

- `rows_by_id`: one SELECT … WHERE id IN (…) for a batch of ids; a missing id answers None;
- `rows_grouped`: the rows whose key column is in the batch, in id order, grouped by that key;
- `batched`: a service's own batch query (ids → {id: answer}), with an answer for ids it did not name;
- `batched_rows`: a service's batch query over rows in hand (rows → {id: answer}).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Callable, Hashable, Sequence
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from strawberry.dataloader import DataLoader


def rows_by_id(session: AsyncSession, model: type) -> DataLoader:
    async def load(ids: Sequence[int]) -> list:
        rows = {row.id: row for row in await session.exec(select(model).where(col(model.id).in_(list(ids))))}
        return [rows.get(i) for i in ids]

    return DataLoader(load_fn=load)


def rows_grouped(session: AsyncSession, model: type, key: Any) -> DataLoader:
    async def load(ids: Sequence[int]) -> list[list]:
        grouped: dict[int, list] = defaultdict(list)
        for row in await session.exec(select(model).where(col(key).in_(list(ids))).order_by(model.id)):
            grouped[getattr(row, key.key)].append(row)
        return [grouped.get(i, []) for i in ids]

    return DataLoader(load_fn=load)


def batched(
    fetch: Callable[[list], Awaitable[dict]], missing: Callable[[], Any] = lambda: None
) -> DataLoader:
    async def load(keys: Sequence[Hashable]) -> list:
        found = await fetch(list(dict.fromkeys(keys)))
        return [found[k] if k in found else missing() for k in keys]

    return DataLoader(load_fn=load)


def batched_rows(fetch: Callable[[list], Awaitable[dict]]) -> DataLoader:
    """A service's batch query over rows the resolvers already hold (a list of votes, scoped when it was read):
    the rows are the keys, their ids what the service answers by and the cache keeps them by. Table rows
    cannot be hashed, and reading them again by id would cost a statement to learn what is in hand."""

    async def load(rows: Sequence[Any]) -> list:
        found = await fetch(list(rows))
        return [found[row.id] for row in rows]

    return DataLoader(load_fn=load, cache_key_fn=lambda row: row.id)
