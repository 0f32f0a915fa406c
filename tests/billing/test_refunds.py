"""Refunds through the gateway: WeChat Pay APIv3 and Alipay by their published rules, the sandbox speaking the
WeChat refund protocol, idempotent by out_refund_no, posted once when the gateway confirms."""

from __future__ import annotations

import json
import secrets
import time

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlmodel import select

from laoyou.billing import service as billing
from laoyou.billing.gateways import RefundRequest, RefundResult, RefundState, unit_of_work
from laoyou.billing.gateways import alipay as ali
from laoyou.billing.gateways import wechatpay as wx
from laoyou.billing.gateways.registry import gateways
from laoyou.billing.models import JournalEntry, Payment, Refund, RefundStatus
from laoyou.core.errors import LaoyouError, NotFound, PermissionDenied

from ..conftest import OFFICIAL_XIUSHAN, RESIDENT_XIUSHAN, STEWARD_XIUSHAN, STEWARD_YUEYANG
from .helpers import actor_for, check_books, refund_payment
from .test_gateways import APIV3_KEY, MCHID, alipay_gateway, signed_response, wechat
from .test_payments import notify, out_trade_no, start_payment


@pytest.fixture(scope="module")
def keys():
    return {
        name: rsa.generate_private_key(public_exponent=65537, key_size=2048)
        for name in ("merchant", "platform", "stranger", "alipay", "app")
    }


# --- WeChat Pay APIv3 -----------------------------------------------------------------------------------


async def test_wechat_refund_request_is_signed_and_follows_the_api(keys):
    seen = {}

    def handler(request: httpx.Request) -> httpx.Response:
        auth = wx.parse_authorization(request.headers["authorization"])
        message = wx.request_message(
            "POST",
            request.url.raw_path.decode(),
            auth["timestamp"],
            auth["nonce_str"],
            request.content.decode(),
        )
        assert wx.rsa_verify(keys["merchant"].public_key(), message, auth["signature"])
        seen.update(path=request.url.raw_path.decode(), body=json.loads(request.content))
        return signed_response(
            keys,
            {
                "refund_id": "50000000382019052709732678859",
                "out_refund_no": "RF1",
                "out_trade_no": "LY1",
                "status": "PROCESSING",
                "amount": {"refund": 1000, "total": 4703, "currency": "CNY"},
            },
        )

    result = await wechat(keys, transport=httpx.MockTransport(handler)).create_refund(
        RefundRequest(out_trade_no="LY1", out_refund_no="RF1", amount_fen=1000, total_fen=4703, reason="多缴")
    )
    # The documented endpoint and body; the answer is believed only with the platform's signature
    assert seen["path"] == "/v3/refund/domestic/refunds"
    assert seen["body"]["amount"] == {"refund": 1000, "total": 4703, "currency": "CNY"}
    assert seen["body"]["out_refund_no"] == "RF1" and seen["body"]["notify_url"].endswith(
        "/billing/notify/wechat"
    )
    assert (result.state, result.amount_fen, result.refund_id) == (
        RefundState.processing,
        1000,
        "50000000382019052709732678859",
    )


async def test_wechat_refund_notification_is_verified_and_decrypted(keys):
    plaintext = json.dumps(
        {
            "mchid": MCHID,
            "out_trade_no": "LY1",
            "transaction_id": "4200000001",
            "out_refund_no": "RF1",
            "refund_id": "5000001",
            "refund_status": "SUCCESS",
            "amount": {"total": 4703, "refund": 1000, "payer_total": 4703, "payer_refund": 1000},
        }
    ).encode()
    body = json.dumps(
        {
            "id": "EV-2",
            "event_type": "REFUND.SUCCESS",
            "resource_type": "encrypt-resource",
            "resource": wx.encrypt_resource(APIV3_KEY, plaintext, associated_data="refund"),
        }
    ).encode()
    ts = str(int(time.time()))
    headers = {
        "Wechatpay-Timestamp": ts,
        "Wechatpay-Nonce": "N1",
        "Wechatpay-Serial": "PLATFORMSERIAL",
        "Wechatpay-Signature": wx.rsa_sign(keys["platform"], wx.notify_message(ts, "N1", body).decode()),
    }
    result = await wechat(keys).verify_notification(headers, body)
    assert isinstance(result, RefundResult)
    assert (result.state, result.out_refund_no, result.amount_fen, result.merchant_id) == (
        RefundState.success,
        "RF1",
        1000,
        MCHID,
    )


# --- Alipay ------------------------------------------------------------------------------------------------


async def test_alipay_refund_is_signed_and_its_answer_verified(keys):
    def handler(request: httpx.Request) -> httpx.Response:
        from urllib.parse import parse_qsl

        form = dict(parse_qsl(request.content.decode()))
        assert form["method"] == "alipay.trade.refund"
        assert wx.rsa_verify(keys["app"].public_key(), ali.sign_content(form), form["sign"])
        biz = json.loads(form["biz_content"])
        assert (biz["refund_amount"], biz["out_request_no"], biz["out_trade_no"]) == ("10.00", "RF1", "LY1")
        node = (
            '{"code":"10000","msg":"Success","trade_no":"2013112011001004330000121536","out_trade_no":"LY1",'
            '"fund_change":"Y","refund_fee":"10.00"}'
        )
        sign = wx.rsa_sign(keys["alipay"] if "forged" not in request.url.path else keys["stranger"], node)
        return httpx.Response(200, text=f'{{"alipay_trade_refund_response":{node},"sign":"{sign}"}}')

    request = RefundRequest(out_trade_no="LY1", out_refund_no="RF1", amount_fen=1000, total_fen=4703)
    result = await alipay_gateway(keys, httpx.MockTransport(handler)).create_refund(request)
    assert (result.state, result.amount_fen) == (RefundState.success, 1000)
    forged = alipay_gateway(keys, httpx.MockTransport(handler))
    forged.gateway_url = "https://openapi.alipay.com/forged"
    with pytest.raises(billing.GatewayError):
        await forged.create_refund(request)


# --- the sandbox, through the real adapter, and the books ----------------------------------------------------


async def paid_payment(gql, client, db) -> Payment:  # noqa: ANN001
    _, _, payment = await start_payment(gql)
    [delivery] = gateways().sandbox.pay(out_trade_no(payment))
    assert (await notify(client, delivery)).status_code == 204
    return (
        await db.exec(
            select(Payment).where(Payment.id == int(payment["id"])).execution_options(populate_existing=True)
        )
    ).one()


def refund_entries(db, refund_id: int):  # noqa: ANN001, ANN201
    return db.exec(
        select(JournalEntry).where(JournalEntry.ref_type == "refund", JournalEntry.ref_id == refund_id)
    )


async def test_an_online_refund_is_posted_once_when_the_sandbox_confirms(gql, client, db):
    # Given a payment made through the sandbox, and its steward
    payment = await paid_payment(gql, client, db)
    steward = await actor_for(db, STEWARD_XIUSHAN)
    sandbox = gateways().sandbox
    sandbox.outbox.clear()
    sandbox.misbehaviour.duplicate = True
    key = secrets.token_hex(8)
    try:
        # When the steward refunds part of it
        refund = await refund_payment(
            db, actor=steward, payment_id=payment.id, amount_fen=100, reason="多缴", idempotency_key=key
        )
    finally:
        sandbox.misbehaviour.duplicate = False
    await db.commit()
    # Then it waits for the gateway, and nothing is posted yet
    assert refund.status == RefundStatus.pending.value and refund.out_refund_no
    assert list(await refund_entries(db, refund.id)) == []
    # When the sandbox's REFUND.SUCCESS notification arrives, twice
    deliveries = sandbox.take_outbox()
    assert len(deliveries) == 2 and json.loads(deliveries[0].body)["event_type"] == "REFUND.SUCCESS"
    replies = [await notify(client, d) for d in deliveries]
    # Then both are acknowledged, the refund is posted once, and the payment shows it
    assert [r.status_code for r in replies] == [204, 204]
    await db.refresh(refund)
    await db.refresh(payment)
    assert refund.status == RefundStatus.succeeded.value and refund.provider_refund_id.startswith("5030")
    assert len(list(await refund_entries(db, refund.id))) == 1
    # And a retry with the same key is the same refund, not asked for again
    again = await refund_payment(
        db, actor=steward, payment_id=payment.id, amount_fen=100, reason="多缴", idempotency_key=key
    )
    assert again.id == refund.id and sandbox.take_outbox() == []
    assert payment.refunded_fen == 100
    await check_books(db)


async def test_the_sandbox_refunds_an_out_refund_no_once(gql, client, db):
    payment = await paid_payment(gql, client, db)
    sandbox = gateways().sandbox
    request = RefundRequest(
        out_trade_no=payment.out_trade_no,
        out_refund_no="RFTEST" + secrets.token_hex(4),
        amount_fen=50,
        total_fen=payment.amount_fen,
    )
    with unit_of_work(db):
        first = await sandbox.adapter.create_refund(request)
        second = await sandbox.adapter.create_refund(request)
        # The same number is the same refund; with another amount it is refused; never more than was paid
        assert first.refund_id == second.refund_id
        with pytest.raises(billing.GatewayError):
            await sandbox.adapter.create_refund(RefundRequest(**{**request.__dict__, "amount_fen": 60}))
        with pytest.raises(billing.GatewayError):
            await sandbox.adapter.create_refund(
                RefundRequest(
                    **{**request.__dict__, "out_refund_no": "RFMORE", "amount_fen": payment.amount_fen}
                )
            )
        queried = await sandbox.query_refund(request.out_refund_no)
    assert (queried.out_refund_no, queried.amount_fen) == (request.out_refund_no, 50)


async def test_reconciliation_confirms_a_refund_whose_notification_never_came(gql, client, db):
    payment = await paid_payment(gql, client, db)
    steward = await actor_for(db, STEWARD_XIUSHAN)
    sandbox = gateways().sandbox
    sandbox.misbehaviour.drop = True
    try:
        refund = await refund_payment(
            db,
            actor=steward,
            payment_id=payment.id,
            amount_fen=payment.amount_fen,
            reason="退户",
            idempotency_key=secrets.token_hex(8),
        )
    finally:
        sandbox.misbehaviour.drop = False
    assert refund.status == RefundStatus.pending.value
    # A second refund cannot ask for money already being refunded
    with pytest.raises(LaoyouError):
        await refund_payment(
            db,
            actor=steward,
            payment_id=payment.id,
            amount_fen=1,
            reason="再退",
            idempotency_key=secrets.token_hex(8),
        )
    counts = await billing.reconcile_refunds(
        db, gateways={"sandbox": sandbox}, older_than=billing.timedelta(0)
    )
    assert counts == {"applied": 1}
    await db.refresh(payment)
    assert payment.status == "refunded" and payment.refunded_fen == payment.amount_fen
    assert (
        await billing.reconcile_refunds(db, gateways={"sandbox": sandbox}, older_than=billing.timedelta(0))
        == {}
    )
    await check_books(db)


async def test_a_forged_refund_notification_is_refused(gql, client, db):
    payment = await paid_payment(gql, client, db)
    steward = await actor_for(db, STEWARD_XIUSHAN)
    sandbox = gateways().sandbox
    sandbox.outbox.clear()
    refund = await refund_payment(
        db,
        actor=steward,
        payment_id=payment.id,
        amount_fen=10,
        reason="多缴",
        idempotency_key=secrets.token_hex(8),
    )
    await db.commit()
    [delivery] = sandbox.take_outbox()
    headers = dict(
        delivery.headers,
        **{
            "Wechatpay-Signature": wx.rsa_sign(
                rsa.generate_private_key(public_exponent=65537, key_size=2048), "forged"
            )
        },
    )
    reply = await notify(client, type(delivery)(headers, delivery.body))
    assert reply.status_code == 400
    await db.refresh(refund)
    assert refund.status == RefundStatus.pending.value


async def test_only_the_communitys_steward_refunds(gql, client, db):
    payment = await paid_payment(gql, client, db)
    for phone, error in (
        (STEWARD_YUEYANG, NotFound),
        (OFFICIAL_XIUSHAN, PermissionDenied),
        (RESIDENT_XIUSHAN, (NotFound, PermissionDenied)),
    ):
        actor = await actor_for(db, phone)
        with pytest.raises(error):
            await refund_payment(
                db,
                actor=actor,
                payment_id=payment.id,
                amount_fen=1,
                reason="x",
                idempotency_key=secrets.token_hex(8),
            )
    assert (await db.exec(select(Refund).where(Refund.payment_id == payment.id))).all() == []
