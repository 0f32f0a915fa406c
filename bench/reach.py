"""Reach every resident: one emergency notice to 10,000 people across channels, against push alone.

The people: a quarter reached by push only... precisely, of every four residents two have a phone with web
push, one follows the official account in WeChat (no push) and one has only a phone number (SMS). Prints, in
alternating windows (each side runs once per round, so the shared machine's noise falls on both alike):
  - push_only: a normal notice to the residents who have push: the outbox rows written (for more than 500
    people, by the worker's fan-out, timed too) and the production push sender delivering them to a local
    push-service stand-in (bench/push.py's);
  - reach: an emergency notice to all of them: push as above, plus each person's climb planned with them
    (one reach row and one first step each) and the reach sender delivering the WeChat template
    messages (the real adapter, to WeChat's protocol-exact stand-in in its own process) and the SMS (the
    console sender: no provider is reachable here);
  - deliveries per second of each (a delivery: one message handed to a push service, WeChat or an SMS
    provider), then `ratio:` reach ÷ push_only (what reaching everyone costs per message against push alone).

    python bench/reach.py [--quick] [--people N] [--rounds R]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import multiprocessing
import os
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "backend"))
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import push as push_bench  # noqa: E402  (the push stand-in, the people and their devices)


def serve_wechat(port: int, ready) -> None:  # noqa: ANN001
    import uvicorn
    from tests.notify.wechat_standin import WechatStandIn

    ready.set()
    uvicorn.run(WechatStandIn().app(), host="127.0.0.1", port=port, log_level="error", access_log=False)


def wait_for(port: int) -> None:
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"nothing answers on port {port}")


async def mix_channels(maker, people: int) -> tuple[list[int], list[int]]:  # noqa: ANN001
    """Of every four: two keep push, one has WeChat instead, one only a phone. Returns (everyone, push people)."""
    from sqlalchemy import delete, insert
    from sqlmodel import col, select
    from tests.notify.wechat_standin import APPID

    from laoyou.accounts.models import Person
    from laoyou.notify.models import PushSubscription
    from laoyou.notify.reach.models import WechatLink

    async with maker() as session:
        ids = list(
            await session.exec(select(Person.id).where(col(Person.phone).like("+86137%")).order_by(Person.id))
        )
        assert len(ids) == people
        without_push = [pid for i, pid in enumerate(ids) if i % 4 in (2, 3)]
        await session.exec(delete(PushSubscription).where(col(PushSubscription.person_id).in_(without_push)))
        wechat = [pid for i, pid in enumerate(ids) if i % 4 == 2]
        await session.execute(
            insert(WechatLink),
            [{"person_id": pid, "appid": APPID, "openid": f"o-bench-{pid}"} for pid in wechat],
        )
        await session.commit()
    return ids, [pid for i, pid in enumerate(ids) if i % 4 in (0, 1)]


async def one_round(maker, push_sender, reach_sender, *, people: list[int], kind: str) -> tuple[float, int]:  # noqa: ANN001
    from laoyou.core.pubsub import InProcessPubSub
    from laoyou.notify import outbox
    from laoyou.notify import service as notify

    start = time.perf_counter()
    async with maker() as session:
        await notify.do_notify_people(
            session, person_ids=people, kind=kind, title="3号楼今晚停水", body="晚8点恢复", link="/"
        )
        await session.commit()
    # A notice to thousands fans out in the worker's round before its senders drain.
    await outbox.expand_fanouts(maker, InProcessPubSub())
    pushed, reached = await asyncio.gather(push_sender.drain(), reach_sender.drain())
    elapsed = time.perf_counter() - start
    others = {key: n for key, n in reached.outcomes.items() if key[1] != "sent"}
    if others or pushed.failed or pushed.retried:
        print(
            f"not sent this round: {others}, push failed {pushed.failed}, retried {pushed.retried}",
            file=sys.stderr,
        )
    return elapsed, pushed.sent + reached.outcomes.get(("wechat", "sent"), 0) + reached.outcomes.get(
        ("sms", "sent"), 0
    )


async def run(settings, people: int, rounds: int, push_base: str, wechat_base: str) -> dict:  # noqa: ANN001
    from tests.notify.wechat_standin import APPID, SECRET, TEMPLATE_ID

    from laoyou.accounts.sms import ConsoleSmsSender
    from laoyou.notify.reach.sender import ReachSender
    from laoyou.notify.reach.wechat import WechatOfficialAccount
    from laoyou.notify.sender import PushSender
    from laoyou.notify.vapid import signer_for

    engine, maker, _community, _steward, _keys = await push_bench.setup(settings, people, push_base)
    everyone, with_push = await mix_channels(maker, people)
    push_sender = PushSender(sessionmaker=maker, signer=signer_for(settings), concurrency=64, batch_size=500)
    await push_sender.start()
    reach_sender = ReachSender(
        sessionmaker=maker,
        public_url="https://laoyou.example.cn",
        sms=ConsoleSmsSender(keep=10),
        wechat=WechatOfficialAccount(
            appid=APPID,
            secret=SECRET,
            template_id=TEMPLATE_ID,
            keywords={"thing1": "title", "thing2": "body", "time3": "time"},
            api_base=wechat_base,
        ),
        batch_size=500,
    )
    results: dict[str, list[tuple[float, int]]] = {"push_only": [], "reach": []}
    try:
        for _ in range(rounds):
            results["push_only"].append(
                await one_round(maker, push_sender, reach_sender, people=with_push, kind="briefings")
            )
            results["reach"].append(
                await one_round(maker, push_sender, reach_sender, people=everyone, kind="emergencies")
            )
    finally:
        await push_sender.aclose()
        await reach_sender.aclose()
        await engine.dispose()
    return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--people", type=int, default=None)
    parser.add_argument("--rounds", type=int, default=None)
    args = parser.parse_args()
    people = args.people or (2000 if args.quick else 10_000)
    rounds = args.rounds or (2 if args.quick else 3)
    # No cap stops the bench's own SMS: its community sends a month's worth every round.
    os.environ["LAOYOU_REACH_SMS_MONTHLY_CAP"] = "1000000"
    os.environ["LAOYOU_REACH_SMS_DAILY_PER_PERSON"] = "1000"
    logging.disable(logging.WARNING)  # the console SMS sender logs each message at WARNING

    servers = []
    ports = {}
    for name, target in (("push", push_bench.serve_standin), ("wechat", serve_wechat)):
        port = push_bench.free_port()
        ready = multiprocessing.Event()
        server = multiprocessing.Process(target=target, args=(port, ready), daemon=True)
        server.start()
        ready.wait(10)
        wait_for(port)
        servers.append(server)
        ports[name] = port

    import uvloop

    from laoyou.core.settings import Settings

    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp), mode="dev", vapid_subject="mailto:push@laoyou.invalid")
        try:
            results = uvloop.run(
                run(
                    settings,
                    people,
                    rounds,
                    f"http://127.0.0.1:{ports['push']}",
                    f"http://127.0.0.1:{ports['wechat']}",
                )
            )
        finally:
            for server in servers:
                server.terminate()
    rates = {side: [n / t for t, n in rows] for side, rows in results.items()}
    delivered = {side: rows[-1][1] for side, rows in results.items()}
    print(f"people: {people} (half with push, a quarter WeChat only, a quarter a phone only)")
    print(f"rounds: {rounds} of each, alternating")
    print(f"push_only_delivered: {delivered['push_only']} messages a round")
    print(f"reach_delivered: {delivered['reach']} messages a round (push, WeChat and SMS)")
    for side in ("push_only", "reach"):
        print(f"{side}_seconds: {statistics.median(t for t, _ in results[side]):.2f} s (median)")
        print(f"{side}: {statistics.median(rates[side]):.0f} deliveries/s (median)")
    print(f"ratio: {statistics.median(rates['reach']) / statistics.median(rates['push_only']):.2f}")


if __name__ == "__main__":
    main()
