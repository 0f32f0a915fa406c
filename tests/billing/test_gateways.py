"""Gateway adapters against the published signing and encryption rules, with keys made here."""

from __future__ import annotations

import base64
import json
import secrets
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from sqlmodel import col, select

from laoyou.billing import service as billing
from laoyou.billing.gateways import (
    GatewayError,
    GatewayRefused,
    InvalidNotification,
    OrderRequest,
    TradeState,
)
from laoyou.billing.gateways import alipay as ali
from laoyou.billing.gateways import wechatpay as wx
from laoyou.billing.gateways.registry import Gateways, PaySettings
from laoyou.billing.gateways.sandbox import SandboxGateway
from laoyou.billing.models import Bill, PaymentMethod
from laoyou.billing.money import yuan

from ..conftest import RESIDENT_XIUSHAN
from .helpers import actor_for

MCHID = "1230000109"
APPID = "wxd678efh567hg6787"
APIV3_KEY = b"0123456789abcdef0123456789abcdef"
PAYER_IP = "203.0.113.7"  # the resident phone's address, as the trusted proxy tells it


@pytest.fixture(scope="module")
def keys():
    return {
        name: rsa.generate_private_key(public_exponent=65537, key_size=2048)
        for name in ("merchant", "platform", "stranger", "alipay", "app")
    }


def offline(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("no network in the tests", request=request)


def wechat(keys, *, transport=None, clock=time.time) -> wx.WeChatPayGateway:
    """An adapter that never reaches the network: an unknown serial's certificate download fails."""
    return wx.WeChatPayGateway(
        mchid=MCHID,
        appid=APPID,
        serial_no="MERCHANTSERIAL",
        private_key=keys["merchant"],
        apiv3_key=APIV3_KEY,
        platform_keys={"PLATFORMSERIAL": keys["platform"].public_key()},
        notify_url="https://example.org/billing/notify/wechat",
        transport=transport or httpx.MockTransport(offline),
        clock=clock,
    )


def signed_response(keys, payload: dict, status: int = 200) -> httpx.Response:
    body = json.dumps(payload).encode()
    ts, nonce = str(int(time.time())), "RESPONSENONCE"
    signature = base64.b64encode(
        keys["platform"].sign(wx.notify_message(ts, nonce, body), padding.PKCS1v15(), hashes.SHA256())
    ).decode()
    return httpx.Response(
        status,
        content=body,
        headers={
            "Wechatpay-Timestamp": ts,
            "Wechatpay-Nonce": nonce,
            "Wechatpay-Signature": signature,
            "Wechatpay-Serial": "PLATFORMSERIAL",
        },
    )


def notification(
    keys, resource: dict, *, ts: int | None = None, key: str = "platform", serial: str = "PLATFORMSERIAL"
):
    plaintext = json.dumps(resource).encode()
    body = json.dumps(
        {
            "id": "EV-1",
            "event_type": "TRANSACTION.SUCCESS",
            "resource_type": "encrypt-resource",
            "resource": wx.encrypt_resource(APIV3_KEY, plaintext),
        }
    ).encode()
    ts_text = str(ts if ts is not None else int(time.time()))
    signature = wx.rsa_sign(keys[key], wx.notify_message(ts_text, "NOTIFYNONCE", body).decode())
    return {
        "Wechatpay-Timestamp": ts_text,
        "Wechatpay-Nonce": "NOTIFYNONCE",
        "Wechatpay-Signature": signature,
        "Wechatpay-Serial": serial,
    }, body


TRANSACTION = {
    "mchid": MCHID,
    "appid": APPID,
    "out_trade_no": "LY1",
    "transaction_id": "4200000001",
    "trade_state": "SUCCESS",
    "amount": {"total": 4703, "currency": "CNY"},
}


async def test_wechat_request_is_signed_by_the_published_rule(keys):
    # Given a WeChat Pay server that checks the Authorization header with the merchant's public key
    seen = {}

    def handler(request: httpx.Request) -> httpx.Response:
        auth = wx.parse_authorization(request.headers["authorization"])
        message = (
            f"{request.method}\n{request.url.raw_path.decode()}\n{auth['timestamp']}\n{auth['nonce_str']}\n"
            f"{request.content.decode()}\n"
        ).encode()
        keys["merchant"].public_key().verify(
            base64.b64decode(auth["signature"]), message, padding.PKCS1v15(), hashes.SHA256()
        )
        seen.update(auth=auth, body=json.loads(request.content), path=request.url.path)
        return signed_response(keys, {"h5_url": "https://wx.tenpay.com/cgi-bin/mmpayweb-bin/checkmweb?x=1"})

    gateway = wechat(keys, transport=httpx.MockTransport(handler))
    # When an H5 order is created
    created = await gateway.create_order(
        OrderRequest(out_trade_no="LY1", amount_fen=4703, description="物业费", client_ip=PAYER_IP)
    )
    # Then the header carries every field, the body the amount in fen, and the H5 link comes back
    assert request_header_fields(seen["auth"]) == {
        "mchid",
        "nonce_str",
        "signature",
        "timestamp",
        "serial_no",
    }
    assert seen["auth"]["mchid"] == MCHID and seen["auth"]["serial_no"] == "MERCHANTSERIAL"
    assert seen["path"] == "/v3/pay/transactions/h5"
    assert seen["body"]["amount"] == {"total": 4703, "currency": "CNY"}
    assert seen["body"]["scene_info"]["h5_info"] == {"type": "Wap"}
    assert created.pay_url.startswith("https://wx.tenpay.com/")


def request_header_fields(auth: dict) -> set:
    return set(auth)


async def test_wechat_jsapi_and_native(keys):
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/jsapi"):
            assert json.loads(request.content)["payer"] == {"openid": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"}
            return signed_response(keys, {"prepay_id": "wx201410272009395522657a690389285100"})
        return signed_response(keys, {"code_url": "weixin://wxpay/bizpayurl?pr=p4lpSuKzz"})

    gateway = wechat(keys, transport=httpx.MockTransport(handler))
    jsapi = await gateway.create_order(
        OrderRequest(
            out_trade_no="LY2",
            amount_fen=1,
            description="x",
            kind="jsapi",
            payer_openid="oUpF8uMuAJO_M2pxb1Q9zNjWeS6o",
        )
    )
    params = jsapi.jsapi_params
    assert (
        params["package"] == "prepay_id=wx201410272009395522657a690389285100" and params["signType"] == "RSA"
    )
    message = f"{APPID}\n{params['timeStamp']}\n{params['nonceStr']}\n{params['package']}\n"
    assert wx.rsa_verify(keys["merchant"].public_key(), message, params["paySign"])
    native = await gateway.create_order(
        OrderRequest(out_trade_no="LY3", amount_fen=1, description="x", kind="native")
    )
    assert native.code_url.startswith("weixin://")


async def test_wechat_refuses_an_unsigned_response(keys):
    gateway = wechat(keys, transport=httpx.MockTransport(lambda r: httpx.Response(200, json={"h5_url": "x"})))
    with pytest.raises(InvalidNotification):
        await gateway.create_order(
            OrderRequest(out_trade_no="LY1", amount_fen=1, description="x", client_ip=PAYER_IP)
        )


async def test_wechat_order_query(keys):
    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.raw_path.decode() == f"/v3/pay/transactions/out-trade-no/LY1?mchid={MCHID}"
        return signed_response(keys, TRANSACTION)

    result = await wechat(keys, transport=httpx.MockTransport(handler)).query_order("LY1")
    assert (result.state, result.transaction_id, result.amount_fen, result.merchant_id) == (
        TradeState.success,
        "4200000001",
        4703,
        MCHID,
    )


async def test_wechat_notification_verified_and_decrypted(keys):
    headers, body = notification(keys, TRANSACTION)
    result = await wechat(keys).verify_notification(headers, body)
    assert (result.out_trade_no, result.transaction_id, result.amount_fen, result.state) == (
        "LY1",
        "4200000001",
        4703,
        TradeState.success,
    )


@pytest.mark.parametrize(
    "case", ["stale", "future", "forged", "unknown_serial", "tampered", "missing", "wrong_key"]
)
async def test_wechat_notification_refused(keys, case):
    now = int(time.time())
    headers, body = notification(
        keys,
        TRANSACTION,
        ts=now - 301 if case == "stale" else now + 301 if case == "future" else None,
        key="stranger" if case == "forged" else "platform",
        serial="OTHER" if case == "unknown_serial" else "PLATFORMSERIAL",
    )
    if case == "tampered":
        body = body.replace(b"EV-1", b"EV-2")
    if case == "missing":
        headers.pop("Wechatpay-Signature")
    gateway = wechat(keys)
    if case == "wrong_key":
        gateway.apiv3_key = b"f" * 32
    with pytest.raises(InvalidNotification):
        await gateway.verify_notification(headers, body)


async def test_wechat_notification_inside_the_window_is_accepted(keys):
    headers, body = notification(keys, TRANSACTION, ts=int(time.time()) - 290)
    assert (await wechat(keys).verify_notification(headers, body)).state == TradeState.success


def test_wechat_replies(keys):
    gateway = wechat(keys)
    assert gateway.success_reply().status_code == 204 and gateway.success_reply().body == b""
    failure = gateway.failure_reply("签名错误")
    assert failure.status_code == 400 and json.loads(failure.body) == {"code": "FAIL", "message": "签名错误"}


# --- the sandbox against the adapter ----------------------------------------------------------------


async def test_sandbox_speaks_apiv3_to_the_real_adapter():
    sandbox = SandboxGateway()
    created = await sandbox.create_order(
        OrderRequest(out_trade_no="LYSANDBOX1", amount_fen=8000, description="x")
    )
    assert created.pay_url == "/pay/sandbox/LYSANDBOX1"
    # The adapter's own request signature was checked by the sandbox server
    assert sandbox.server.requests[-1].headers["authorization"].startswith("WECHATPAY2-SHA256-RSA2048 mchid=")
    assert (await sandbox.query_order("LYSANDBOX1")).state == TradeState.not_paid
    [delivery] = sandbox.pay("LYSANDBOX1")
    result = await sandbox.verify_notification(delivery.headers, delivery.body)
    assert (result.state, result.amount_fen, result.merchant_id) == (
        TradeState.success,
        8000,
        sandbox.merchant_id,
    )
    # The notification is the documented envelope with an AES-GCM resource
    envelope = json.loads(delivery.body)
    assert (
        envelope["event_type"] == "TRANSACTION.SUCCESS"
        and envelope["resource"]["algorithm"] == "AEAD_AES_256_GCM"
    )
    queried = await sandbox.query_order("LYSANDBOX1")
    assert queried.state == TradeState.success and queried.transaction_id == result.transaction_id


async def test_sandbox_misbehaves_on_purpose():
    sandbox = SandboxGateway()
    for n in range(4):
        await sandbox.create_order(OrderRequest(out_trade_no=f"LYM{n}", amount_fen=100, description="x"))
    sandbox.misbehaviour.duplicate = True
    first, second = sandbox.pay("LYM0")
    assert first.body == second.body
    sandbox.misbehaviour.duplicate = False
    sandbox.misbehaviour.forge = True
    [forged] = sandbox.pay("LYM1")
    with pytest.raises(InvalidNotification):
        await sandbox.verify_notification(forged.headers, forged.body)
    sandbox.misbehaviour.forge = False
    sandbox.misbehaviour.stale = True
    [stale] = sandbox.pay("LYM2")
    with pytest.raises(InvalidNotification):
        await sandbox.verify_notification(stale.headers, stale.body)
    sandbox.misbehaviour.stale = False
    sandbox.misbehaviour.drop = True
    assert sandbox.pay("LYM3") == []


async def test_sandbox_refuses_a_request_not_signed_by_the_merchant(keys):
    sandbox = SandboxGateway()
    sandbox.adapter.private_key = keys["stranger"]
    with pytest.raises(GatewayError, match="answered 401.*SIGN_ERROR"):
        await sandbox.create_order(OrderRequest(out_trade_no="LYX", amount_fen=1, description="x"))


# --- Alipay --------------------------------------------------------------------------------------------


ALIPAY_APP_ID = "2014072300007148"
ALIPAY_SELLER_ID = "2088101122136241"


def alipay_gateway(keys, transport=None) -> ali.AlipayGateway:
    return ali.AlipayGateway(
        app_id=ALIPAY_APP_ID,
        seller_id=ALIPAY_SELLER_ID,
        private_key=keys["app"],
        alipay_public_key=keys["alipay"].public_key(),
        notify_url="https://example.org/n",
        transport=transport,
    )


def test_alipay_sign_content_follows_the_rule():
    params = {"b": "2", "a": "1", "sign": "x", "empty": "", "c": "中文 & =", "sign_type": "RSA2"}
    assert ali.sign_content(params) == "a=1&b=2&c=中文 & =&sign_type=RSA2"
    assert ali.sign_content(params, exclude=("sign", "sign_type")) == "a=1&b=2&c=中文 & ="


async def test_alipay_order_is_a_signed_redirect(keys):
    expires_at = datetime(2026, 6, 8, 2, 34, 56, tzinfo=UTC)
    created = await alipay_gateway(keys).create_order(
        OrderRequest(out_trade_no="LY1", amount_fen=4703, description="物业费", expires_at=expires_at)
    )
    from urllib.parse import parse_qsl, urlsplit

    params = dict(parse_qsl(urlsplit(created.pay_url).query))
    biz = json.loads(params["biz_content"])
    # The absolute expiry, in Beijing time, as the wap and page pay APIs document time_expire
    assert (biz["total_amount"], biz["time_expire"]) == ("47.03", "2026-06-08 10:34:56")
    assert wx.rsa_verify(keys["app"].public_key(), ali.sign_content(params), params["sign"])


async def test_alipay_notification(keys):
    from urllib.parse import urlencode

    params = ali.notification_params(
        keys["alipay"],
        {
            "notify_time": ali.notify_time(),
            "notify_type": "trade_status_sync",
            "notify_id": "ac05099524730693a8b330c5ecf72da9786",
            "app_id": "2014072300007148",
            "seller_id": ALIPAY_SELLER_ID,
            "trade_no": "2013112011001004330000121536",
            "out_trade_no": "LY1",
            "trade_status": "TRADE_SUCCESS",
            "total_amount": "47.03",
            "subject": "物业费",
        },
    )
    gateway = alipay_gateway(keys)
    result = await gateway.verify_notification({}, urlencode(params).encode())
    assert (result.amount_fen, result.transaction_id, result.state, result.merchant_id) == (
        4703,
        "2013112011001004330000121536",
        TradeState.success,
        "2014072300007148",
    )
    tampered = dict(params, total_amount="0.01")
    with pytest.raises(InvalidNotification):
        await gateway.verify_notification({}, urlencode(tampered).encode())
    forged = ali.notification_params(
        keys["stranger"], {k: v for k, v in params.items() if k not in ("sign", "sign_type")}
    )
    with pytest.raises(InvalidNotification):
        await gateway.verify_notification({}, urlencode(forged).encode())
    assert gateway.success_reply().body == b"success"


async def test_alipay_trade_query_verifies_the_response_node(keys):
    def handler(request: httpx.Request) -> httpx.Response:
        from urllib.parse import parse_qsl

        form = dict(parse_qsl(request.content.decode()))
        assert form["method"] == "alipay.trade.query" and form["sign_type"] == "RSA2"
        assert wx.rsa_verify(keys["app"].public_key(), ali.sign_content(form), form["sign"])
        node = (
            '{"code":"10000","msg":"Success","trade_no":"2013112011001004330000121536","out_trade_no":"LY1",'
            '"trade_status":"TRADE_SUCCESS","total_amount":"47.03"}'
        )
        sign = wx.rsa_sign(keys["alipay"], node)
        return httpx.Response(200, text=f'{{"alipay_trade_query_response":{node},"sign":"{sign}"}}')

    result = await alipay_gateway(keys, httpx.MockTransport(handler)).query_order("LY1")
    assert (result.state, result.amount_fen) == (TradeState.success, 4703)


def pem_files(keys, tmp_path: Path) -> tuple[Path, Path]:
    """The app's private key and Alipay's public key, as the settings name them."""
    app, alipay = tmp_path / "app.pem", tmp_path / "alipay.pem"
    app.write_bytes(
        keys["app"].private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    alipay.write_bytes(
        keys["alipay"]
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    return app, alipay


async def test_a_signed_alipay_notification_for_another_seller_or_app_changes_nothing(db, keys, tmp_path):
    # Given Alipay configured from its settings, seller id included, and a resident paying a bill through it
    app_key, alipay_key = pem_files(keys, tmp_path)
    gateway = Gateways(
        PaySettings(
            alipay_app_id=ALIPAY_APP_ID,
            alipay_seller_id=ALIPAY_SELLER_ID,
            alipay_private_key_file=app_key,
            alipay_public_key_file=alipay_key,
            public_url="https://laoyou.example.cn",
        )
    ).get("alipay")
    resident = await actor_for(db, RESIDENT_XIUSHAN)
    bill = (
        await db.exec(
            select(Bill).where(col(Bill.household_id).in_(resident.household_ids), Bill.status == "open")
        )
    ).first()
    paid_before = bill.paid_fen
    payment = await billing.do_pay_bills(
        db,
        actor=resident,
        bill_ids=[bill.id],
        method=PaymentMethod.alipay,
        idempotency_key=secrets.token_hex(8),
        gateway=gateway,
    )

    def notice(**changes: str) -> bytes:
        params = {
            "notify_time": ali.notify_time(),
            "notify_type": "trade_status_sync",
            "notify_id": secrets.token_hex(16),
            "app_id": ALIPAY_APP_ID,
            "seller_id": ALIPAY_SELLER_ID,
            "trade_no": "2026" + secrets.token_hex(8),
            "out_trade_no": payment.out_trade_no,
            "trade_status": "TRADE_SUCCESS",
            "total_amount": yuan(payment.amount_fen),
            **changes,
        }
        return urlencode(ali.notification_params(keys["alipay"], params)).encode()

    # When Alipay's validly signed notifications say the money went to another seller, or another app
    for other in ({"seller_id": "2088000000000001"}, {"app_id": "2021000000000001"}):
        reply, outcome = await billing.do_receive_notification(
            db, gateway=gateway, headers={}, body=notice(**other)
        )
        # Then each is refused and changes nothing
        assert (outcome, reply.body) == ("refused", b"failure"), other
    await db.refresh(payment)
    await db.refresh(bill)
    assert payment.status == "pending" and bill.paid_fen == paid_before
    # And the notification for this app and seller pays the bill
    reply, outcome = await billing.do_receive_notification(db, gateway=gateway, headers={}, body=notice())
    assert (outcome, reply.body) == ("applied", b"success")


def test_alipay_is_not_used_without_its_seller_id(keys, tmp_path):
    app_key, alipay_key = pem_files(keys, tmp_path)
    settings = PaySettings(
        alipay_app_id=ALIPAY_APP_ID, alipay_private_key_file=app_key, alipay_public_key_file=alipay_key
    )
    assert settings.configured() == [] and Gateways(settings).get("alipay") is None


async def test_wechat_order_expiry_and_close_follow_the_api(keys):
    seen = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append((request.url.raw_path.decode(), json.loads(request.content)))
        if request.url.path.endswith("/close"):
            return (
                signed_response(keys, {}, status=204)
                if "PAID" not in request.url.path
                else signed_response(keys, {"code": "ORDERPAID", "message": "订单已支付"}, status=400)
            )
        return signed_response(keys, {"h5_url": "https://wx.tenpay.com/x"})

    gateway = wechat(keys, transport=httpx.MockTransport(handler))
    expires_at = datetime(2026, 6, 8, 2, 34, 56, tzinfo=UTC)
    await gateway.create_order(
        OrderRequest(
            out_trade_no="LY1", amount_fen=1, description="x", client_ip=PAYER_IP, expires_at=expires_at
        )
    )
    assert seen[-1][1]["time_expire"] == "2026-06-08T10:34:56+08:00"  # RFC 3339, Beijing time
    await gateway.close_order("LY1")
    assert seen[-1] == ("/v3/pay/transactions/out-trade-no/LY1/close", {"mchid": MCHID})
    # A paid order is not closed: a clear refusal, which reconciliation tells from an unclear answer
    with pytest.raises(GatewayRefused):
        await gateway.close_order("LYPAID")


async def test_alipay_close_is_signed_and_its_answer_verified(keys):
    def handler(request: httpx.Request) -> httpx.Response:
        from urllib.parse import parse_qsl

        form = dict(parse_qsl(request.content.decode()))
        assert form["method"] == "alipay.trade.close"
        assert wx.rsa_verify(keys["app"].public_key(), ali.sign_content(form), form["sign"])
        number = json.loads(form["biz_content"])["out_trade_no"]
        node = {
            "LY1": '{"code":"10000","msg":"Success","out_trade_no":"LY1"}',
            "LYNEVER": '{"code":"40004","msg":"Business Failed","sub_code":"ACQ.TRADE_NOT_EXIST"}',
            "LYPAID": '{"code":"40004","msg":"Business Failed","sub_code":"ACQ.TRADE_STATUS_ERROR"}',
        }[number]
        return httpx.Response(
            200, text=f'{{"alipay_trade_close_response":{node},"sign":"{wx.rsa_sign(keys["alipay"], node)}"}}'
        )

    gateway = alipay_gateway(keys, httpx.MockTransport(handler))
    await gateway.close_order("LY1")
    await gateway.close_order("LYNEVER")  # never opened: with its time_expire past, it can never be paid
    with pytest.raises(GatewayRefused):
        await gateway.close_order("LYPAID")
