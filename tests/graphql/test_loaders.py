"""DataLoaders made per request: one resolver cancelled by GraphQL must not break the others."""

from __future__ import annotations

import asyncio

import pytest
from strawberry.dataloader import DataLoader

from laoyou.graphql.context import Loaders


async def test_a_cancelled_caller_does_not_cancel_the_shared_load():
    # Given a loader whose batch waits until the test lets it finish, and two resolvers waiting for the same key
    started, release = asyncio.Event(), asyncio.Event()

    def SlowLoader(session) -> DataLoader:  # noqa: ANN001, N802
        async def load(keys):  # noqa: ANN001, ANN202
            started.set()
            await release.wait()
            return [f"value {k}" for k in keys]

        return DataLoader(load_fn=load)

    loader = Loaders(session=None)._get(SlowLoader)  # noqa: SLF001
    first = asyncio.ensure_future(loader.load(1))
    second = asyncio.ensure_future(loader.load(1))
    await started.wait()
    # When GraphQL cancels one of them (a failing non-null sibling blanked its part of the answer)
    first.cancel()
    release.set()
    # Then the other still gets the value, and the cache still holds it
    assert await second == "value 1"
    with pytest.raises(asyncio.CancelledError):
        await first
    assert await loader.load(1) == "value 1"
