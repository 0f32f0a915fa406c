"""Fan one briefing out to 10,000 push subscriptions against a local push-service stand-in.

Prints notifications per second for:
  - fanout: publishing the briefing (a fan-out row written in its transaction, expanded into outbox rows as the
    worker's round does) and the sender delivering them
    all: guarded claims; pywebpush aes128gcm in a pool of encryption processes (the `cryptography` library
    holds the GIL, so threads could not share the work), 50 messages a trip, each chunk posted as soon as it
    comes back while the next batch is claimed and encrypted; VAPID signed once per origin; one aiohttp
    session with kept-alive connections and a fixed set of posters; answers recorded as they come. The
    sender's processes are started before the clock, as a running worker's are (it starts them with its
    first batch and keeps them); what starting them costs once is printed as pool_start_seconds. It runs on
    uvloop, as the sender does in production (uvicorn picks it for the embedded worker; so does `laoyou worker`);
  - naive: pywebpush's plain webpush() called once per subscription (signs VAPID and opens a connection each time);
The stand-in push service runs in its own process (uvicorn), so its CPU is not counted against the sender;
it speaks plain HTTP on loopback (production push services are HTTPS; TLS over kept-alive connections adds
little per request).
  - ceiling: encryption and the VAPID header alone, in a loop, no database and no network.
ratio: fanout / ceiling (1.0 means delivery costs nothing beyond the cryptography).

    python bench/push.py [--quick] [--subscriptions N]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import logging
import multiprocessing
import os
import socket
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "backend"))


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def serve_standin(port: int, ready) -> None:  # noqa: ANN001
    """The push service: accepts every request with 201, like FCM or Mozilla's autopush on a good day."""
    import uvicorn

    async def app(scope, receive, send):  # noqa: ANN001, ANN202
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        more = True
        while more:
            more = (await receive()).get("more_body", False)
        await send({"type": "http.response.start", "status": 201, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    ready.set()
    uvicorn.run(
        app, host="127.0.0.1", port=port, log_level="error", access_log=False, http="httptools", loop="uvloop"
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def device_keys(count: int) -> list[tuple[str, str]]:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    keys = []
    for _ in range(count):
        public = (
            ec.generate_private_key(ec.SECP256R1())
            .public_key()
            .public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
        )
        keys.append((b64url(public), b64url(os.urandom(16))))
    return keys


async def setup(settings, subscriptions: int, endpoint_base: str):  # noqa: ANN001, ANN202
    from sqlalchemy import insert
    from sqlmodel import select

    from laoyou.accounts.models import Person, Role, RoleGrant
    from laoyou.core.db import make_engine, make_sessionmaker
    from laoyou.core.migrate import upgrade
    from laoyou.demo.data import load_demo_if_empty
    from laoyou.estates.models import Community, Household
    from laoyou.notify.models import PushSubscription

    engine = make_engine(settings)
    await upgrade(engine)
    maker = make_sessionmaker(engine)
    await load_demo_if_empty(maker, scale=0.02)
    async with maker() as session:
        community = (await session.exec(select(Community).where(Community.name == "秀山花园"))).first()
        household = (
            await session.exec(select(Household).where(Household.community_id == community.id))
        ).first()
        now = __import__("laoyou.core.time", fromlist=["utcnow"]).utcnow()
        await session.execute(
            insert(Person),
            [
                {
                    "phone": f"+86137{i:08d}",
                    "name": f"住户{i}",
                    "text_size": "large",
                    "ui_mode": "elderly",
                    "is_active": True,
                    "created_at": now,
                }
                for i in range(subscriptions)
            ],
        )
        ids = list(
            await session.exec(select(Person.id).where(Person.phone.like("+86137%")).order_by(Person.id))
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
        keys = device_keys(subscriptions)
        await session.execute(
            insert(PushSubscription),
            [
                {
                    "person_id": pid,
                    "endpoint": f"{endpoint_base}/push/{i}",
                    "p256dh": p,
                    "auth": a,
                    "user_agent": "bench",
                    "created_at": now,
                }
                for i, (pid, (p, a)) in enumerate(zip(ids, keys, strict=True))
            ],
        )
        await session.commit()
        steward = (await session.exec(select(Person).where(Person.phone == "+8613800000011"))).first()
    return engine, maker, community.id, steward.id, keys


async def fanout(settings, maker, community_id: int, steward_id: int) -> tuple[float, int, float]:  # noqa: ANN001
    from laoyou.accounts import service as accounts
    from laoyou.accounts.actor import Actor
    from laoyou.accounts.models import Person
    from laoyou.briefings import service as briefings
    from laoyou.core.pubsub import InProcessPubSub
    from laoyou.notify import outbox
    from laoyou.notify.sender import PushSender
    from laoyou.notify.vapid import signer_for

    # The production sender, with the session it makes for itself (aiohttp, kept-alive connections).
    sender = PushSender(sessionmaker=maker, signer=signer_for(settings), concurrency=64, batch_size=500)
    started = time.perf_counter()
    await sender.start()
    pool_start = time.perf_counter() - started
    start = time.perf_counter()
    async with maker() as session:
        person = await session.get(Person, steward_id)
        actor = Actor(person=person, grants=await accounts.live_grants(session, steward_id))
        draft = briefings.BriefingDraft(
            community_ids=[community_id],
            title="今日工作简报",
            body="清扫道路，修好路灯，夜间巡逻两次。",
            items=[("cleaning", "清扫主干道"), ("repair", "3号楼路灯")],
        )
        await briefings.do_create_briefing(session, actor=actor, draft=draft, mode="now")
        await session.commit()
    # A briefing to thousands fans out in the worker's round before its sender drains the outbox.
    await outbox.expand_fanouts(maker, InProcessPubSub())
    stats = await sender.drain()
    elapsed = time.perf_counter() - start
    await sender.aclose()
    return elapsed, stats.sent, pool_start


def naive(settings, endpoint_base: str, keys, count: int) -> float:  # noqa: ANN001
    import requests
    from py_vapid import Vapid
    from pywebpush import webpush

    from laoyou.notify.vapid import load_or_create_private_key

    vapid = Vapid(private_key=load_or_create_private_key(settings))
    payload = '{"title":"今日工作简报","body":"清扫道路，修好路灯，夜间巡逻两次。","url":"/briefings/1"}'
    start = time.perf_counter()
    for i in range(count):
        p, a = keys[i]
        webpush(
            {"endpoint": f"{endpoint_base}/push/{i}", "keys": {"p256dh": p, "auth": a}},
            data=payload,
            vapid_private_key=vapid,
            vapid_claims={"sub": "mailto:push@laoyou.invalid"},
            ttl=86400,
        )
    del requests
    return count / (time.perf_counter() - start)


def ceiling(settings, endpoint_base: str, keys, count: int) -> float:  # noqa: ANN001
    from laoyou.notify.sender import Message, encrypt
    from laoyou.notify.vapid import signer_for

    signer = signer_for(settings)
    payload = b'{"title":"\\u4eca\\u65e5\\u5de5\\u4f5c\\u7b80\\u62a5","body":"...","url":"/briefings/1"}'
    start = time.perf_counter()
    for i in range(count):
        p, a = keys[i % len(keys)]
        message = Message(
            outbox_id=i,
            subscription_id=i,
            endpoint=f"{endpoint_base}/push/{i}",
            p256dh=p,
            auth=a,
            payload=payload,
            ttl=86400,
            urgency="normal",
            topic="briefings",
            attempts=1,
        )
        encrypt(message)
        signer.authorization(message.endpoint)
    return count / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--subscriptions", type=int, default=None)
    args = parser.parse_args()
    subscriptions = args.subscriptions or (2000 if args.quick else 10_000)
    naive_count = 200 if args.quick else 500
    logging.disable(logging.INFO)

    port = free_port()
    ready = multiprocessing.Event()
    server = multiprocessing.Process(target=serve_standin, args=(port, ready), daemon=True)
    server.start()
    ready.wait(10)
    base = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.1)

    import uvloop

    from laoyou.core.settings import Settings

    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp), mode="dev", vapid_subject="mailto:push@laoyou.invalid")
        try:
            engine, maker, community_id, steward_id, keys = asyncio.run(setup(settings, subscriptions, base))
            ceiling_rate = ceiling(settings, base, keys, min(subscriptions, 3000))

            async def run_fanout() -> tuple[float, int, float]:
                try:
                    return await fanout(settings, maker, community_id, steward_id)
                finally:
                    await engine.dispose()

            # On uvloop, as production runs the sender: under uvicorn (embedded) or `laoyou worker`.
            elapsed, sent, pool_start = uvloop.run(run_fanout())
            naive_rate = naive(settings, base, keys, naive_count)
        finally:
            server.terminate()
    fanout_rate = sent / elapsed
    print(f"subscriptions: {subscriptions} devices")
    print(f"delivered: {sent} notifications")
    print(f"fanout_seconds: {elapsed:.2f} s")
    print(f"pool_start_seconds: {pool_start:.2f} s (once per sender, not in fanout_seconds)")
    print(f"fanout: {fanout_rate:.0f} notifications/s")
    print(f"naive_webpush: {naive_rate:.0f} notifications/s")
    print(f"encryption_ceiling: {ceiling_rate:.0f} notifications/s")
    print(f"fanout_vs_naive: {fanout_rate / naive_rate:.1f} x")
    print(f"ratio: {fanout_rate / ceiling_rate:.2f}")


if __name__ == "__main__":
    main()
