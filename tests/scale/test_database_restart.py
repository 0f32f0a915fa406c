"""PostgreSQL restarted under load: two app processes answer 503 (or the UNAVAILABLE error) while it is down, never
a 500 or a raw driver message, come back by themselves, listen again (LISTEN/NOTIFY), and a resident's open chat
subscription on one process receives a message sent through the other once the database is back."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter

import httpx
import pytest
from gql import GraphQLRequest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from ..conftest import BACKENDS, RESIDENT_XIUSHAN
from ..pg import PostgresCluster
from ..support.servers import AppProcess
from ..support.test_live import CHAT, client, send

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif("postgres" not in BACKENDS, reason="restarts a PostgreSQL server"),
]

HOME = {
    "query": "query { viewer { person { name } households { id } } myAmountsDue(first: 5) { householdId } }"
}
PATIENCE = 30.0


def outcome(response: httpx.Response) -> str:
    """What a phone saw: served, or told to come back (503, or the GraphQL UNAVAILABLE error); anything else is a
    fault, with the body's start so the test says which."""
    if response.status_code == 503:
        return "unavailable"
    if response.status_code == 200:
        errors = response.json().get("errors")
        if not errors:
            return "served"
        if all(e.get("extensions", {}).get("code") == "UNAVAILABLE" for e in errors):
            return "unavailable"
    return f"{response.status_code}: {response.text[:200]}"


async def hammer(apps: list[AppProcess], token: str, stop: asyncio.Event, seen: Counter) -> None:
    """A resident opening home again and again, on either process, until told to stop."""
    async with httpx.AsyncClient(timeout=10, headers={"Authorization": f"Bearer {token}"}) as http:
        n = 0
        while not stop.is_set():
            try:
                seen[outcome(await http.post(f"{apps[n % 2].url}/graphql", json=HOME))] += 1
            except httpx.HTTPError as exc:
                seen[f"no answer: {exc!r}"] += 1
            n += 1
            await asyncio.sleep(0.02)


async def until(check, what: str) -> None:  # noqa: ANN001
    deadline = time.monotonic() + PATIENCE
    while not await check():
        assert time.monotonic() < deadline, f"not within {PATIENCE:g} s: {what}"
        await asyncio.sleep(0.2)


async def test_a_database_restart_is_answered_with_503_and_the_apps_recover_and_listen_again(tmp_path):
    # Given a PostgreSQL server of its own (it is restarted), two app processes on it sharing live events
    cluster = PostgresCluster().start()
    apps: list[AppProcess] = []
    try:
        url = cluster.create_database("laoyou_restart")
        apps.append(AppProcess(tmp_path, url, LAOYOU_PUBSUB="postgres"))
        await asyncio.to_thread(apps[0].wait_ready)
        apps.append(AppProcess(tmp_path, url, LAOYOU_PUBSUB="postgres", LAOYOU_WORKER="external"))
        await asyncio.to_thread(apps[1].wait_ready)
        resident = await asyncio.to_thread(apps[0].login, RESIDENT_XIUSHAN)
        first = await asyncio.to_thread(send, apps[1], resident, "你好")
        conversation_id = first["conversation"]["id"]
        after = first["chatMessage"]["seq"]

        # and her chat open on the first process, and her opening home on both, all the time
        received: list[str] = []
        subscribed = asyncio.Event()

        async def chat() -> None:
            async with client(apps[0], resident) as session:
                async for update in session.subscribe(
                    GraphQLRequest(CHAT, variable_values={"id": conversation_id, "after": after})
                ):
                    subscribed.set()
                    received.extend(m["body"] for m in update["supportChat"]["messages"])

        listening = asyncio.create_task(chat())
        await asyncio.wait_for(subscribed.wait(), PATIENCE)
        stop, before, during, after_restart = asyncio.Event(), Counter(), Counter(), Counter()
        load = asyncio.create_task(hammer(apps, resident, stop, before))
        await asyncio.sleep(1)

        # When the database stops for a few seconds and starts again
        stop.set()
        await load
        await asyncio.to_thread(cluster.stop_server)
        stop = asyncio.Event()
        load = asyncio.create_task(hammer(apps, resident, stop, during))
        await asyncio.sleep(3)
        stop.set()
        await load
        await asyncio.to_thread(cluster.start_server)

        # Then, while it was down, every answer was a 503 or the UNAVAILABLE error, never a fault
        assert set(before) == {"served"}, before
        assert set(during) == {"unavailable"}, during

        # And both processes are ready again by themselves: database and listener
        async with httpx.AsyncClient(timeout=5) as http:

            async def ready() -> bool:
                answers = [await http.get(f"{app.url}/readyz") for app in apps]
                return all(a.status_code == 200 for a in answers)

            await until(ready, "both processes ready")
        stop = asyncio.Event()
        load = asyncio.create_task(hammer(apps, resident, stop, after_restart))
        await asyncio.sleep(1)

        # And a message sent through the second process once it is back reaches the chat open on the first
        marker = f"回来了{uuid.uuid4().hex[:6]}"
        await asyncio.to_thread(send, apps[1], resident, marker, conversation_id)

        async def delivered() -> bool:
            assert not listening.done(), listening.exception()
            return marker in received

        await until(delivered, "the message after the restart, live on the other process")
        # And each process listens once again, not twice (its watchdog and /readyz both reconnecting)
        engine = create_async_engine(url)
        try:
            async with engine.connect() as connection:
                listening_sessions = await connection.scalar(
                    text("SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'LISTEN %'")
                )
        finally:
            await engine.dispose()
        assert listening_sessions == 2
        stop.set()
        await load
        assert set(after_restart) == {"served"}, after_restart
        listening.cancel()
        await asyncio.gather(listening, return_exceptions=True)
    finally:
        for app in apps:
            app.stop()
        cluster.stop()
