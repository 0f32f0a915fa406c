"""Chat delivery: 1,000 subscribed WebSocket clients, 20 messages per second across conversations.

Runs a Laoyou app (uvicorn, SQLite in a temp dir, small demo) and, as the floor, a raw WebSocket broadcast
server (the `websockets` package) that fans the same messages out to the same number of clients. Each
message carries its send time; each client records the delay until it arrives.

    python bench/chat.py [--quick] [--clients N] [--rate R] [--seconds S]

Prints latency p50/p99 and delivered messages per second for both, and `ratio:` (Laoyou ÷ raw) last.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import websockets

LOGIN = """mutation ($phone: String!) { loginAsDemoPerson(phone: $phone, sessionKind: BEARER) { ... on LoggedIn { token } } }"""
SEND = """mutation ($c: String!, $b: String!, $id: ID) { sendChatMessage(clientId: $c, body: $b, conversationId: $id) {
  __typename ... on SupportError { message } } }"""
CHAT = """subscription ($id: ID!, $after: Int!) { supportChat(conversationId: $id, afterSeq: $after) { messages { seq body } } }"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


class Stats:
    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.delivered = 0
        self.server_cpu = float("nan")  # seconds of CPU the app process spent while messages flowed


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc); a figure that other load on the machine barely moves."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return float("nan")


# --- Laoyou --------------------------------------------------------------------------------------------


def start_app(tmp: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {
        **os.environ,
        "LAOYOU_MODE": "demo",
        "LAOYOU_DATA_DIR": str(tmp),
        "LAOYOU_DEMO_HOUSEHOLDS_SCALE": "0.1",
        "LAOYOU_SECRET_KEY": "bench-secret-key-that-is-long-enough-0123456789",
        "LAOYOU_LOG_LEVEL": "warning",
    }
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            "laoyou.app:create_app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--ws-max-queue",
            "64",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return process, url
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError("app did not start")


def make_conversations(tmp: Path, count: int) -> list[int]:
    """Open conversations for Nanning residents, straight in the database (the bench's own data)."""
    db = sqlite3.connect(tmp / "laoyou.sqlite3")
    rows = db.execute(
        "SELECT person_id, household_id, community_id, district_id FROM role_grant WHERE role='resident' AND "
        "district_id=(SELECT district_id FROM role_grant WHERE role='agent' LIMIT 1) LIMIT ?",
        (count,),
    ).fetchall()
    now = time.strftime("%Y-%m-%d %H:%M:%S")
    ids = []
    for person_id, household_id, community_id, district_id in rows:
        cursor = db.execute(
            "INSERT INTO support_conversation (community_id, district_id, household_id, resident_id, status, urgent, "
            "last_seq, resident_delivered_seq, resident_read_seq, staff_delivered_seq, staff_read_seq, created_at, "
            "last_message_at, rating_comment) VALUES (?, ?, ?, ?, 'active', 0, 0, 0, 0, 0, 0, ?, ?, '')",
            (community_id, district_id, household_id, person_id, now, now),
        )
        ids.append(cursor.lastrowid)
    db.commit()
    db.close()
    return ids


RAMP = 100  # connections opened at a time; the next batch starts once these are subscribed
OPEN_TIMEOUT = 120.0


async def laoyou_client(
    ws_url: str,
    token: str,
    conversation_id: int,
    stats: Stats,
    ready: asyncio.Event,
    counter: list[int],
    total: int,
    stop: asyncio.Event,
) -> None:
    async with websockets.connect(
        ws_url,
        subprotocols=["graphql-transport-ws"],
        max_queue=None,
        ping_interval=None,
        open_timeout=OPEN_TIMEOUT,
        close_timeout=2,
    ) as ws:
        await ws.send(
            json.dumps({"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}})
        )
        await ws.recv()
        await ws.send(
            json.dumps(
                {
                    "id": "1",
                    "type": "subscribe",
                    "payload": {"query": CHAT, "variables": {"id": str(conversation_id), "after": 0}},
                }
            )
        )
        await ws.recv()  # the first answer: the state now
        counter[0] += 1
        if counter[0] == total:
            ready.set()
        while not stop.is_set():
            try:
                raw = await asyncio.wait_for(ws.recv(), timeout=0.5)
            except TimeoutError:
                continue
            now = time.time()
            message = json.loads(raw)
            if message.get("type") == "ping":
                await ws.send(json.dumps({"type": "pong"}))
                continue
            for m in (
                (message.get("payload", {}).get("data") or {}).get("supportChat", {}).get("messages", [])
            ):
                stats.latencies.append(now - float(m["body"]))
                stats.delivered += 1


async def run_laoyou(clients: int, conversations: int, rate: float, seconds: float) -> tuple[Stats, float]:
    tmp = Path(tempfile.mkdtemp(prefix="laoyou-bench-chat-"))
    process, url = start_app(tmp)
    try:
        ids = make_conversations(tmp, conversations)
        async with httpx.AsyncClient(base_url=url, timeout=30) as http:
            token = (
                await http.post("/graphql", json={"query": LOGIN, "variables": {"phone": "13800000031"}})
            ).json()["data"]["loginAsDemoPerson"]["token"]
            stats, ready, stop, counter = Stats(), asyncio.Event(), asyncio.Event(), [0]
            ws_url = url.replace("http", "ws") + "/graphql"
            tasks = []
            for start in range(0, clients, RAMP):
                for i in range(start, min(clients, start + RAMP)):
                    tasks.append(
                        asyncio.create_task(
                            laoyou_client(
                                ws_url, token, ids[i % len(ids)], stats, ready, counter, clients, stop
                            )
                        )
                    )
                # Wait until this batch is subscribed (or has failed) before opening the next.
                deadline = time.monotonic() + OPEN_TIMEOUT
                while counter[0] + sum(t.done() for t in tasks) < len(tasks) and time.monotonic() < deadline:
                    await asyncio.sleep(0.05)
            failed = [t for t in tasks if t.done() and t.exception() is not None]
            if failed:
                raise RuntimeError(
                    f"{len(failed)} of {clients} clients failed to subscribe: {failed[0].exception()!r}"
                )
            await asyncio.wait_for(ready.wait(), timeout=OPEN_TIMEOUT)
            headers = {"Authorization": f"Bearer {token}"}
            sent = 0
            sends: list[asyncio.Task] = []
            cpu_before = cpu_seconds(process.pid)
            started = time.perf_counter()
            while (elapsed := time.perf_counter() - started) < seconds:
                target = int(elapsed * rate) + 1
                while sent < target:
                    conversation_id = ids[sent % len(ids)]
                    sends.append(
                        asyncio.create_task(
                            http.post(
                                "/graphql",
                                headers=headers,
                                json={
                                    "query": SEND,
                                    "variables": {
                                        "c": uuid.uuid4().hex,
                                        "b": repr(time.time()),
                                        "id": str(conversation_id),
                                    },
                                },
                            )
                        )
                    )
                    sent += 1
                await asyncio.sleep(0.005)
            await asyncio.sleep(2)  # let the last ones arrive
            duration = time.perf_counter() - started
            stats.server_cpu = cpu_seconds(process.pid) - cpu_before
            stop.set()
            for task in sends:  # sends still in flight when the app stops are not errors of the bench
                task.cancel()
            await asyncio.gather(*sends, return_exceptions=True)
            await asyncio.gather(*tasks, return_exceptions=True)
        return stats, duration
    finally:
        process.terminate()
        process.wait(10)


# --- the floor: a raw WebSocket broadcast server ----------------------------------------------------------


async def run_raw(clients: int, conversations: int, rate: float, seconds: float) -> tuple[Stats, float]:
    rooms: dict[int, set] = {}

    async def handler(ws) -> None:  # noqa: ANN001
        first = json.loads(await ws.recv())
        if first["kind"] == "subscribe":
            rooms.setdefault(first["room"], set()).add(ws)
            await ws.send("ok")
            await ws.wait_closed()
            rooms[first["room"]].discard(ws)
        else:
            async for raw in ws:
                message = json.loads(raw)
                websockets.broadcast(rooms.get(message["room"], ()), raw)

    port = free_port()
    stats, stop = Stats(), asyncio.Event()
    async with websockets.serve(handler, "127.0.0.1", port, max_queue=None, ping_interval=None):
        url = f"ws://127.0.0.1:{port}"

        async def client(room: int) -> None:
            async with websockets.connect(
                url, max_queue=None, ping_interval=None, open_timeout=OPEN_TIMEOUT, close_timeout=2
            ) as ws:
                await ws.send(json.dumps({"kind": "subscribe", "room": room}))
                await ws.recv()
                while not stop.is_set():
                    try:
                        raw = await asyncio.wait_for(ws.recv(), timeout=0.5)
                    except TimeoutError:
                        continue
                    stats.latencies.append(time.time() - json.loads(raw)["ts"])
                    stats.delivered += 1

        tasks = []
        for start in range(0, clients, RAMP):
            tasks += [
                asyncio.create_task(client(i % conversations))
                for i in range(start, min(clients, start + RAMP))
            ]
            while sum(len(r) for r in rooms.values()) < len(tasks):
                await asyncio.sleep(0.05)
        async with websockets.connect(url, max_queue=None) as sender:
            await sender.send(json.dumps({"kind": "send"}))
            sent = 0
            started = time.perf_counter()
            while (elapsed := time.perf_counter() - started) < seconds:
                while sent < int(elapsed * rate) + 1:
                    await sender.send(json.dumps({"room": sent % conversations, "ts": time.time()}))
                    sent += 1
                await asyncio.sleep(0.005)
            await asyncio.sleep(2)
            duration = time.perf_counter() - started
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
    return stats, duration


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a short run (5 s, 200 clients)")
    parser.add_argument("--clients", type=int)
    parser.add_argument("--rate", type=float, default=20.0, help="messages per second, across conversations")
    parser.add_argument("--seconds", type=float)
    parser.add_argument("--conversations", type=int, default=50)
    args = parser.parse_args()
    clients = args.clients or (200 if args.quick else 1000)
    seconds = args.seconds or (5.0 if args.quick else 30.0)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, clients * 4 + 256)), hard))

    ours, our_time = asyncio.run(run_laoyou(clients, args.conversations, args.rate, seconds))
    raw, raw_time = asyncio.run(run_raw(clients, args.conversations, args.rate, seconds))
    our_rate = ours.delivered / our_time
    raw_rate = raw.delivered / raw_time
    print(f"clients: {clients}")
    print(f"messages_sent_per_second: {args.rate:.0f} msg/s")
    print(f"laoyou_latency_p50: {percentile(ours.latencies, 50) * 1000:.1f} ms")
    print(f"laoyou_latency_p99: {percentile(ours.latencies, 99) * 1000:.1f} ms")
    print(f"laoyou_delivered: {our_rate:.1f} msg/s")
    print(f"laoyou_server_cpu_per_delivery: {ours.server_cpu / max(1, ours.delivered) * 1000:.2f} ms")
    print(f"raw_websocket_latency_p50: {percentile(raw.latencies, 50) * 1000:.1f} ms")
    print(f"raw_websocket_latency_p99: {percentile(raw.latencies, 99) * 1000:.1f} ms")
    print(f"raw_websocket_delivered: {raw_rate:.1f} msg/s")
    print(f"ratio: {our_rate / raw_rate:.2f}")


if __name__ == "__main__":
    main()
