"""The notify endpoints take posts from anyone: junk is refused and logged within a budget, never stored, while
a notification the gateway signed is still applied."""

from __future__ import annotations

import os

from sqlalchemy import func, select

from laoyou.billing import service as billing
from laoyou.billing.gateways.registry import gateways
from laoyou.billing.models import PaymentNotification, RefusedNotification
from laoyou.core.logs import BoundedLog

from .test_payments import PAYMENT, notify, out_trade_no, start_payment


async def rows(db, model) -> int:  # noqa: ANN001
    return await db.scalar(select(func.count()).select_from(model))


def junk(n: int) -> tuple[bytes, dict[str, str]]:
    """A post shaped like a WeChat Pay notification (or not at all), signed by nobody."""
    body = os.urandom(8) + b"x" * (n * 37 % 10_000)
    headers = (
        {
            "content-type": "application/json",
            "wechatpay-serial": "PLATFORM",
            "wechatpay-nonce": f"n{n}",
            "wechatpay-timestamp": "1700000000",
            "wechatpay-signature": "c2lnbmVk",
        }
        if n % 2
        else {}
    )
    return body, headers


async def test_a_flood_of_junk_stores_nothing_and_logs_within_its_budget(client, db, caplog, monkeypatch):
    # Given a log budget of 10 lines a minute, on a clock that stands still
    monkeypatch.setattr(
        "laoyou.billing.service.notifications.unverified_log",
        BoundedLog(billing.log, per_window=10, clock=lambda: 0.0),
    )
    before = (await rows(db, RefusedNotification), await rows(db, PaymentNotification))
    # When 300 unsigned posts of up to 10 KB arrive
    with caplog.at_level("WARNING", logger="laoyou.billing"):
        for n in range(300):
            body, headers = junk(n)
            response = await client.post("/billing/notify/sandbox", content=body, headers=headers)
            assert response.status_code == 400 and response.json()["code"] == "FAIL"
    # Then nothing was stored, and the log has 10 refusals and one line saying the rest are counted
    assert (await rows(db, RefusedNotification), await rows(db, PaymentNotification)) == before
    logged = [r.getMessage() for r in caplog.records if r.name == "laoyou.billing"]
    assert len(logged) == 11, logged
    assert all(m.startswith("refused sandbox notification: ") for m in logged[:10])
    assert "counted, not logged" in logged[10]


async def test_the_count_of_what_was_left_out_is_logged_when_the_next_window_opens(caplog):
    now = [0.0]
    bounded = BoundedLog(billing.log, per_window=2, window_seconds=60, clock=lambda: now[0])
    with caplog.at_level("WARNING", logger="laoyou.billing"):
        for _ in range(7):
            bounded.warning("refused %s", "junk")
        now[0] = 61.0
        bounded.warning("refused %s", "later")
    assert [r.getMessage() for r in caplog.records] == [
        "refused junk",
        "refused junk",
        "more than 2 like this within 60 s: the rest are counted, not logged",
        "5 more like this were not logged in the last 60 s",
        "refused later",
    ]


async def test_a_signed_notification_is_still_applied_amid_the_junk(gql, client, db):
    # Given a resident paying a bill, and junk arriving before and after the gateway's notification
    resident, bill, payment = await start_payment(gql)
    [delivery] = gateways().sandbox.pay(out_trade_no(payment))
    for n in range(20):
        await client.post("/billing/notify/sandbox", content=junk(n)[0], headers=junk(n)[1])
    response = await notify(client, delivery)
    # Then the signed one is acknowledged, recorded once and applied
    assert response.status_code == 204
    found = (await resident(PAYMENT, {"id": payment["id"]}))["data"]["payment"]
    assert found["status"] == "paid" and found["bills"][0]["paid"]["fen"] == bill["outstanding"]["fen"]
    assert await rows(db, PaymentNotification) >= 1
    assert await rows(db, RefusedNotification) == 0
