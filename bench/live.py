"""Live connections: 5,000 idle residents subscribed over WebSocket to one app process, and a community notice.

Runs the app as production does (`laoyou serve`, uvicorn, in its own process) on SQLite with the in-process
pub/sub and its worker inside it (the embedded mode), then on PostgreSQL (a throwaway cluster) with LISTEN/NOTIFY
and a `laoyou worker` process beside it (the scale-out layout: the app's processes do not send the notice's pushes,
text messages and calls themselves). Each resident of one community has a
session (written straight into the database, the bench's own data) and subscribes to unreadNotifications,
as the PWA's every page does; the client is this process, thousands of connections on one event loop.
A steward then sends an emergency notice to the community (the sendEmergencyNotice mutation), and the bench
waits until every resident's new count has arrived.

The floor: a raw WebSocket broadcast server (the `websockets` package, in its own process) holding the same
number of connections and sending one message to all of them. Notices and broadcasts alternate, a few of
each, so that a slow moment of the shared machine falls on both.

    python bench/live.py [--quick] [--connections N] [--rounds R] [--backends sqlite,postgres]

Prints the server's resident memory per connection (RSS of the app process before, with all connections
open, and after they closed), how long the notice's own request took, the time from the mutation until the last
resident had her count, the number of PostgreSQL notifications one notice made, the floor's figures, and `ratio:` last: the floor's time to
reach the last connection divided by Laoyou's (the slower backend's; 1.0: as fast as the floor).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "backend"))
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import websockets  # noqa: E402

SUBSCRIBE = "subscription { unreadNotifications }"
EMERGENCY = """mutation ($ids: [ID!]!) { sendEmergencyNotice(communityIds: $ids, kind: WATER_CUT,
  title: "明天上午停水", body: "8点到12点停水，请提前储水。") { __typename ... on EmergencyNoticeSent { peopleNotified } } }"""
COMMUNITY = "秀山花园"
STEWARD_PHONE = "+8613800000011"
RAMP = 200  # connections opened at a time
PATIENCE = 120.0  # seconds before a step is given up on (the bench fails rather than hangs)
SETTLE = 3.0  # seconds for the server to let go of closed connections before its memory is read again
# Seconds between one round and the next: one notice is measured, not a notice still sending the last one's
# pushes and planning its climb to text messages for 5,000 people (the worker's work, in the embedded mode
# on the same event loop). Both sides wait alike.
ROUND_GAP = 2.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


# --- data -----------------------------------------------------------------------------------------------


async def seed(database_url: str, data_dir: Path, count: int) -> tuple[list[str], str, str]:
    """The demo's places and people, `count` more residents of one community, and a bearer session for each of
    them and for its steward: their tokens, the steward's, and the community's GraphQL id."""
    from sqlalchemy import insert
    from sqlmodel import select

    from laoyou.accounts.models import AuthSession, Person, Role, RoleGrant
    from laoyou.core.db import make_engine, make_sessionmaker
    from laoyou.core.migrate import upgrade
    from laoyou.core.security import new_token, token_hash
    from laoyou.core.settings import Settings
    from laoyou.core.time import utcnow
    from laoyou.demo.data import load_demo_if_empty
    from laoyou.estates.models import Community, Household
    from laoyou.graphql.types import encode_id

    settings = Settings(data_dir=data_dir, database_url=database_url, mode="dev")
    engine = make_engine(settings)
    await upgrade(engine)
    maker = make_sessionmaker(engine)
    await load_demo_if_empty(maker, scale=0.02)
    now = utcnow()
    async with maker() as session:
        community = (await session.exec(select(Community).where(Community.name == COMMUNITY))).first()
        household = (
            await session.exec(select(Household).where(Household.community_id == community.id))
        ).first()
        await session.execute(
            insert(Person),
            [
                {
                    "phone": f"+86136{i:08d}",
                    "name": f"住户{i}",
                    "text_size": "large",
                    "ui_mode": "elderly",
                    "is_active": True,
                    "created_at": now,
                }
                for i in range(count)
            ],
        )
        ids = list(
            await session.exec(select(Person.id).where(Person.phone.like("+86136%")).order_by(Person.id))
        )
        await session.execute(
            insert(RoleGrant),
            [
                {
                    "person_id": pid,
                    "role": Role.resident.value,
                    "district_id": community.district_id,
                    "community_id": community.id,
                    "household_id": household.id,
                    "on_duty": False,
                    "created_at": now,
                }
                for pid in ids
            ],
        )
        steward = (await session.exec(select(Person).where(Person.phone == STEWARD_PHONE))).first()
        tokens = [new_token() for _ in range(count + 1)]
        await session.execute(
            insert(AuthSession),
            [
                {
                    "person_id": pid,
                    "token_hash": token_hash(token),
                    "kind": "bearer",
                    "method": "code",
                    "user_agent": "bench",
                    "created_at": now,
                    "expires_at": now + timedelta(days=30),
                    "last_seen_at": now,  # fresh: connecting does not write a touch
                }
                for pid, token in zip([*ids, steward.id], tokens, strict=True)
            ],
        )
        await session.commit()
        community_id = encode_id(community.id)
    await engine.dispose()
    return tokens[:-1], tokens[-1], community_id


def start_app(data_dir: Path, database_url: str, pubsub: str) -> tuple[list[subprocess.Popen], str]:
    """The app process (first) and, on PostgreSQL, its worker."""
    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT / "backend"),
        "LAOYOU_MODE": "dev",
        "LAOYOU_DATA_DIR": str(data_dir),
        "LAOYOU_DATABASE_URL": database_url,
        "LAOYOU_PUBSUB": pubsub,
        "LAOYOU_SECRET_KEY": "bench-secret-key-that-is-long-enough-0123456789",
        "LAOYOU_LOG_LEVEL": "warning",
        "LAOYOU_JOBS_INTERVAL_SCALE": "0",
        "LAOYOU_WORKER": "external" if pubsub == "postgres" else "embedded",
    }
    commands = [["serve", "--port", str(port)]] + ([["worker"]] if pubsub == "postgres" else [])
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", "from laoyou.cli import app; app()", *command],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for command in commands
    ]
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return processes, url
        except httpx.HTTPError:
            pass
        if any(process.poll() is not None for process in processes):
            break
        time.sleep(0.2)
    stop(processes)
    raise RuntimeError("app did not start")


def stop(processes: list[subprocess.Popen]) -> None:
    for process in processes:
        process.terminate()
    for process in processes:
        process.wait(10)


# --- clients --------------------------------------------------------------------------------------------


class Crowd:
    """Many WebSocket clients on this event loop; each records when its next message arrives."""

    def __init__(self) -> None:
        self.subscribed = 0
        self.arrivals: list[float] = []
        self.tasks: list[asyncio.Task] = []
        self.sockets: list = []
        self.answered: list[float] = []  # how long each notice's own request took

    async def open(self, count: int, connect) -> None:  # noqa: ANN001
        for start in range(0, count, RAMP):
            self.tasks += [
                asyncio.create_task(connect(self, i)) for i in range(start, min(count, start + RAMP))
            ]
            deadline = time.monotonic() + PATIENCE
            while self.subscribed + sum(t.done() for t in self.tasks) < len(self.tasks):
                if time.monotonic() > deadline:
                    raise RuntimeError("connections did not open in time")
                await asyncio.sleep(0.02)
            failed = [t for t in self.tasks if t.done()]
            if failed:
                raise RuntimeError(f"{len(failed)} connection(s) failed: {failed[0].exception()!r}")

    async def wait_for(self, count: int) -> float:
        """The time of the last of `count` arrivals (then forgotten, for the next round)."""
        deadline = time.monotonic() + PATIENCE
        while len(self.arrivals) < count:
            if time.monotonic() > deadline:
                raise RuntimeError(f"only {len(self.arrivals)} of {count} messages arrived")
            await asyncio.sleep(0.005)
        last, self.arrivals = max(self.arrivals), []
        return last

    async def close(self) -> None:
        await asyncio.gather(*(ws.close() for ws in self.sockets), return_exceptions=True)
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)


def laoyou_client(ws_url: str, tokens: list[str]):  # noqa: ANN201
    async def connect(crowd: Crowd, i: int) -> None:
        token = tokens[i]
        ws = await websockets.connect(
            ws_url,
            subprotocols=["graphql-transport-ws"],
            max_queue=None,
            ping_interval=None,
            open_timeout=PATIENCE,  # per-message deflate is offered, as browsers do; `laoyou serve` declines it
        )
        crowd.sockets.append(ws)
        await ws.send(
            json.dumps({"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}})
        )
        await ws.recv()
        await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": SUBSCRIBE}}))
        await ws.recv()  # the count now
        crowd.subscribed += 1
        async for raw in ws:
            message = json.loads(raw)
            if message.get("type") == "ping":
                await ws.send(json.dumps({"type": "pong"}))
            elif message.get("type") == "next":
                crowd.arrivals.append(time.perf_counter())

    return connect


def raw_client(ws_url: str):  # noqa: ANN201
    async def connect(crowd: Crowd, _i: int) -> None:
        ws = await websockets.connect(ws_url, max_queue=None, ping_interval=None, open_timeout=PATIENCE)
        crowd.sockets.append(ws)
        await ws.send("subscribe")
        await ws.recv()
        crowd.subscribed += 1
        async for _ in ws:
            crowd.arrivals.append(time.perf_counter())

    return connect


# --- the floor: a raw WebSocket broadcast server, in its own process --------------------------------------


def serve_raw(port: int, ready) -> None:  # noqa: ANN001
    async def main() -> None:
        listeners: set = set()

        async def handler(ws) -> None:  # noqa: ANN001
            first = await ws.recv()
            if first == "subscribe":
                listeners.add(ws)
                await ws.send("ok")
                await ws.wait_closed()
                listeners.discard(ws)
            else:  # the sender: each message it sends goes to every listener
                async for message in ws:
                    websockets.broadcast(listeners, message)

        async with websockets.serve(handler, "127.0.0.1", port, max_queue=None, ping_interval=None):
            ready.set()
            await asyncio.Future()

    asyncio.run(main())


# --- the run ------------------------------------------------------------------------------------------------


async def laoyou_round(
    http: httpx.AsyncClient, steward: str, community_id: str, crowd: Crowd, count: int
) -> float:
    started = time.perf_counter()
    answer = await http.post(
        "/graphql",
        json={"query": EMERGENCY, "variables": {"ids": [community_id]}},
        headers={"Authorization": f"Bearer {steward}"},
    )
    answered = time.perf_counter() - started
    sent = answer.json()["data"]["sendEmergencyNotice"]
    assert sent["peopleNotified"] >= count, sent
    crowd.answered.append(answered)
    return await crowd.wait_for(count) - started


async def raw_round(sender, crowd: Crowd, count: int) -> float:  # noqa: ANN001
    started = time.perf_counter()
    await sender.send(json.dumps({"title": "明天上午停水", "at": started}))
    return await crowd.wait_for(count) - started


class PgNotifications:
    """Counts the app's NOTIFYs for live notification counts (what a notice costs the database; the push
    outbox's own wake-up is left out)."""

    def __init__(self, database_url: str) -> None:
        self.dsn = database_url.replace("postgresql+asyncpg://", "postgresql://", 1)
        self.count = 0

    async def __aenter__(self):  # noqa: ANN204
        import asyncpg

        from laoyou.core.pubsub import PostgresPubSub

        self.connection = await asyncpg.connect(self.dsn)
        await self.connection.add_listener(PostgresPubSub.PG_CHANNEL, self._heard)
        return self

    def _heard(self, _connection, _pid, _channel, payload: str) -> None:  # noqa: ANN001
        if json.loads(payload)["c"].startswith(("notices:", "notifications:")):
            self.count += 1

    async def __aexit__(self, *exc: object) -> None:
        await self.connection.close()


async def run_backend(backend: str, count: int, rounds: int, raw_url: str, raw_pid: int, cluster) -> dict:  # noqa: ANN001
    data_dir = Path(tempfile.mkdtemp(prefix=f"laoyou-bench-live-{backend}-"))
    if backend == "postgres":
        database_url = cluster.create_database(f"live_{os.getpid()}")
    else:
        database_url = f"sqlite+aiosqlite:///{data_dir / 'laoyou.sqlite3'}"
    tokens, steward, community_id = await seed(database_url, data_dir, count)
    processes, url = start_app(data_dir, database_url, "postgres" if backend == "postgres" else "inprocess")
    process = processes[0]  # the app: its memory is what connections cost
    figures: dict = {}
    try:
        async with httpx.AsyncClient(base_url=url, timeout=PATIENCE) as http:
            # One subscriber first, so that what the first connection loads once is not counted per connection.
            warm = Crowd()
            await warm.open(1, laoyou_client(url.replace("http", "ws") + "/graphql", tokens[-1:]))
            await warm.close()
            await asyncio.sleep(SETTLE)
            before = rss_kb(process.pid)
            ours, theirs = Crowd(), Crowd()
            raw_before = rss_kb(raw_pid)
            await ours.open(count, laoyou_client(url.replace("http", "ws") + "/graphql", tokens))
            await theirs.open(count, raw_client(raw_url))
            await asyncio.sleep(SETTLE)
            figures["open"] = rss_kb(process.pid)
            figures["raw_open"] = rss_kb(raw_pid)
            figures["before"], figures["raw_before"] = before, raw_before
            ours_times, raw_times, notifies = [], [], []
            async with websockets.connect(raw_url, max_queue=None, ping_interval=None) as sender:
                await sender.send("send")
                for _ in range(rounds):
                    await asyncio.sleep(ROUND_GAP)
                    if backend == "postgres":
                        async with PgNotifications(database_url) as heard:
                            ours_times.append(await laoyou_round(http, steward, community_id, ours, count))
                        notifies.append(heard.count)
                    else:
                        ours_times.append(await laoyou_round(http, steward, community_id, ours, count))
                    await asyncio.sleep(ROUND_GAP)
                    raw_times.append(await raw_round(sender, theirs, count))
            await ours.close()
            await theirs.close()
            await asyncio.sleep(SETTLE)
            figures["closed"] = rss_kb(process.pid)
            figures["rounds"] = ours_times
            figures["last"] = sorted(ours_times)[len(ours_times) // 2]
            figures["raw_last"] = sorted(raw_times)[len(raw_times) // 2]
            figures["notifies"] = max(notifies) if notifies else None
            figures["answered"] = sorted(ours.answered)[len(ours.answered) // 2]
    finally:
        stop(processes)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a short run (1,000 connections, 2 rounds)")
    parser.add_argument("--connections", type=int)
    parser.add_argument("--rounds", type=int)
    parser.add_argument("--backends", default="sqlite,postgres")
    args = parser.parse_args()
    count = args.connections or (1000 if args.quick else 5000)
    rounds = args.rounds or (2 if args.quick else 3)
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    # Both servers inherit it: each holds `count` sockets, this process twice that.
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, count * 4 + 1024)), hard))

    port = free_port()
    ready = multiprocessing.get_context("spawn").Event()
    raw = multiprocessing.get_context("spawn").Process(target=serve_raw, args=(port, ready), daemon=True)
    raw.start()
    ready.wait(30)
    cluster = None
    results = {}
    try:
        if "postgres" in backends:
            from tests.pg import PostgresCluster

            cluster = PostgresCluster().start()
        for backend in backends:
            results[backend] = asyncio.run(
                run_backend(backend, count, rounds, f"ws://127.0.0.1:{port}", raw.pid, cluster)
            )
    finally:
        raw.terminate()
        if cluster is not None:
            cluster.stop()
    print(f"connections: {count}")
    print(f"load_average: {os.getloadavg()[0]:.2f}")
    ratios = []
    for backend, f in results.items():
        print(f"{backend}_server_rss_before: {f['before'] / 1024:.1f} MB")
        print(f"{backend}_server_kb_per_connection: {(f['open'] - f['before']) / count:.1f} KB")
        print(f"{backend}_server_kb_per_connection_after_close: {(f['closed'] - f['before']) / count:.1f} KB")
        print(f"{backend}_notice_request: {f['answered'] * 1000:.0f} ms")
        print(f"{backend}_notice_last_delivery: {f['last'] * 1000:.0f} ms")
        # Each round in order: one may hold a full pass of the cycle collector (app.py GcPacing), or the notice's
        # own pushes and text messages being sent beside it; the figure above is their median.
        print(
            f"{backend}_notice_last_delivery_each_round: {' '.join(f'{t * 1000:.0f}' for t in f['rounds'])} ms"
        )
        if f["notifies"] is not None:
            print(f"{backend}_notifies_per_notice: {f['notifies']} NOTIFY")
        print(f"{backend}_raw_kb_per_connection: {(f['raw_open'] - f['raw_before']) / count:.1f} KB")
        print(f"{backend}_raw_broadcast_last_delivery: {f['raw_last'] * 1000:.0f} ms")
        ratios.append(f["raw_last"] / f["last"])
    print(f"ratio: {min(ratios):.2f}")


if __name__ == "__main__":
    main()
