"""PostgreSQL pub/sub across a database restart: the listener comes back once (whether its watchdog or /readyz
reconnects first), subscribers are told to catch up once, and what is published afterwards arrives. Before, a
/readyz reconnection and the watchdog's each opened a listener; the one dropped closed, which started the watchdog
again: reconnections and catch-ups without end."""

from __future__ import annotations

import asyncio
import gc
import time

import asyncpg
import pytest

from laoyou.core.pubsub import PostgresPubSub

from ..conftest import BACKENDS
from ..pg import PostgresCluster

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif("postgres" not in BACKENDS, reason="restarts a PostgreSQL server"),
]


async def test_after_a_restart_the_listener_comes_back_once_and_subscribers_catch_up_once(tmp_path):
    cluster = PostgresCluster().start()
    pubsub = None
    try:
        url = cluster.create_database("laoyou_pubsub")
        pubsub = PostgresPubSub(url)
        got: list[dict] = []
        async with pubsub.subscribe("community:1") as messages:

            async def read() -> None:
                async for message in messages:
                    got.append(message)

            reader = asyncio.create_task(read())
            # When the database restarts and /readyz asks whether it listens while the watchdog retries
            await asyncio.to_thread(cluster.stop_server)
            assert not await pubsub.ready()
            await asyncio.sleep(4)  # long enough for the watchdog to be between tries when it is back
            await asyncio.to_thread(cluster.start_server)
            deadline = time.monotonic() + 30
            while not await pubsub.ready():
                assert time.monotonic() < deadline, "never listening again"
                await asyncio.sleep(0.1)
            await asyncio.wait_for(pubsub._watchdog, 30)
            gc.collect()  # a listener connection dropped without closing is closed now, if there was one

            # Then one listener, one catch-up, and what is published now arrives, once
            for notice in (7, 8):
                await pubsub.publish("community:1", {"notice": notice})
                deadline = time.monotonic() + 30
                while {"notice": notice} not in got:
                    assert time.monotonic() < deadline, "the message after the restart never came"
                    await asyncio.sleep(0.05)
            assert got == [{"resync": True}, {"notice": 7}, {"notice": 8}]
            connection = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
            try:
                listening = await connection.fetchval(
                    "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'LISTEN %'"
                )
            finally:
                await connection.close()
            assert listening == 1
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)
    finally:
        if pubsub is not None:
            await pubsub.close()
        cluster.stop()
