"""WeChat Pay's platform keys as they really change (issue 15, items 4 and 8): certificates rotated and downloaded
from /v3/certificates, kept across a restart, serials compared as hex numbers, the platform public key mode, and
notifications retried re-signed on WeChat Pay's schedule, driven through the sandbox."""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlmodel import select

from laoyou.billing.gateways import GatewayError, InvalidNotification, OrderRequest, TradeState
from laoyou.billing.gateways import alipay as ali
from laoyou.billing.gateways import wechatpay as wx
from laoyou.billing.gateways.registry import Gateways, PaySettings, gateways
from laoyou.billing.gateways.sandbox import RETRY_INTERVALS, Delivery, SandboxGateway, SandboxServer
from laoyou.billing.gateways.wechat_keys import REFRESH_INTERVAL_SECONDS, serial_key
from laoyou.billing.models import Payment, PaymentStatus

from .helpers import check_books
from .test_payments import notify, out_trade_no, start_payment


class Clock:
    """Time that a test moves on."""

    def __init__(self, now: float | None = None) -> None:
        self.now = time.time() if now is None else now

    def __call__(self) -> float:
        return self.now

    async def wait(self, seconds: float) -> None:
        self.now += seconds


def downloads(server: SandboxServer) -> int:
    return sum(1 for r in server.requests if r.url.path == "/v3/certificates")


def adapter(server: SandboxServer, *, transport=None, **more) -> wx.WeChatPayGateway:  # noqa: ANN001
    """The real adapter, as the operator configures it with the sandbox's first certificate."""
    first = server.certificates[0]
    return wx.WeChatPayGateway(
        mchid=server.mchid,
        appid=server.appid,
        serial_no=server.merchant_serial,
        private_key=server.merchant_key,
        apiv3_key=server.apiv3_key,
        platform_keys={first.serial: first.key.public_key()},
        notify_url="https://example.org/billing/notify/wechat",
        base_url="https://sandbox.laoyou.invalid",
        transport=transport or httpx.MockTransport(server.handle),
        clock=server.clock,
        **more,
    )


async def paid_notification(sandbox: SandboxGateway, number: str) -> Delivery:
    await sandbox.create_order(OrderRequest(out_trade_no=number, amount_fen=100, description="物业费"))
    [delivery] = sandbox.pay(number)
    return delivery


@pytest.fixture
def sandbox(monkeypatch):  # noqa: ANN001, ANN201
    """The process's sandbox on a clock the test moves, with the adapter as after a restart: configured with the
    first certificate, having downloaded nothing yet. Its certificates are put back after the test, so that a
    rotation here does not make the tests after it download."""
    sandbox = gateways().sandbox
    monkeypatch.setattr(sandbox.server, "clock", Clock())
    monkeypatch.setattr(sandbox.server, "certificates", list(sandbox.server.certificates))
    monkeypatch.setattr(sandbox, "adapter", adapter(sandbox.server))
    return sandbox


def test_serials_are_compared_as_hex_numbers():
    assert serial_key("00A1b2") == serial_key("a1B2") == serial_key(" A1B2 ") == "A1B2"
    assert serial_key("0A1B2") != serial_key("A1B3")
    assert serial_key("pub_key_id_0112") == serial_key("PUB_KEY_ID_0112") != serial_key("PUB_KEY_ID_112")


async def test_a_rotated_certificate_is_downloaded_and_the_payment_credited(gql, client, db, sandbox):
    # Given a resident paying through the sandbox, whose platform has just rotated its certificate
    _, _, payment = await start_payment(gql)
    await sandbox.server.clock.wait(REFRESH_INTERVAL_SECONDS)  # past a download starting the payment made
    before = downloads(sandbox.server)
    new_serial = sandbox.server.rotate_certificate()
    # When the payment's notification comes signed under the new serial
    [delivery] = sandbox.pay(out_trade_no(payment))
    assert delivery.headers["Wechatpay-Serial"] == new_serial
    response = await notify(client, delivery)
    # Then Laoyou downloaded the certificates once, believed the new one, and credited the payment
    assert response.status_code == 204, response.content
    assert downloads(sandbox.server) == before + 1
    row = (await db.exec(select(Payment).where(Payment.out_trade_no == out_trade_no(payment)))).one()
    assert row.status == PaymentStatus.paid.value
    # And the old certificate is still believed while it is valid (a late retry may be signed with it)
    assert sandbox.adapter.platform_keys.get(sandbox.server.certificates[0].serial) is not None
    await check_books(db)


async def test_concurrent_notifications_under_a_new_serial_download_once_and_made_up_serials_once_a_minute():
    clock = Clock()
    sandbox = SandboxGateway(clock=clock)
    numbers = [f"LYROT{n}" for n in range(9)]
    for number in numbers:
        await sandbox.create_order(OrderRequest(out_trade_no=number, amount_fen=100, description="物业费"))
    deliveries = [d for number in numbers[:3] for d in sandbox.pay(number)]
    sandbox.server.rotate_certificate()
    rotated = [d for number in numbers[3:] for d in sandbox.pay(number)]
    # When six notifications under the new serial arrive together with three under the old one
    results = await asyncio.gather(
        *(sandbox.verify_notification(d.headers, d.body) for d in [*rotated, *deliveries])
    )
    # Then all are believed after a single download
    assert {r.state for r in results} == {TradeState.success}
    assert downloads(sandbox.server) == 1
    # When someone posts notifications under made-up serials, again and again, within that minute and after
    body = rotated[0].body
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    async def made_up(count: int) -> None:
        for n in range(count):
            headers = sandbox.server.sign_headers(body, key=stranger, serial=f"{n:040X}")
            with pytest.raises(InvalidNotification):
                await sandbox.verify_notification(headers, body)

    await made_up(5)
    assert downloads(sandbox.server) == 1
    # Then the certificates are downloaded at most once a minute
    await clock.wait(REFRESH_INTERVAL_SECONDS)
    await made_up(5)
    assert downloads(sandbox.server) == 2


async def test_a_serial_in_another_spelling_is_the_same_certificate():
    sandbox = SandboxGateway()
    delivery = await paid_notification(sandbox, "LYSPELL")
    serial = delivery.headers["Wechatpay-Serial"]
    assert serial.startswith("0") and len(serial) == 40  # as WeChat Pay writes it
    for spelled in (serial.lower(), serial.lstrip("0"), serial.lstrip("0").lower()):
        headers = sandbox.server.sign_headers(delivery.body, serial=spelled)
        assert (await sandbox.verify_notification(headers, delivery.body)).state == TradeState.success
    assert downloads(sandbox.server) == 0


async def test_downloaded_certificates_survive_a_restart_without_the_network(tmp_path):
    # Given a merchant whose platform rotated, and who downloaded the certificates into its data directory
    server = SandboxServer()
    store = tmp_path / "wechatpay" / "platform-certificates.json"
    sandbox = SandboxGateway()
    sandbox.server, sandbox.adapter = server, adapter(server, certificate_store=store)
    server.rotate_certificate()
    delivery = await paid_notification(sandbox, "LYSTORE")
    assert (await sandbox.verify_notification(delivery.headers, delivery.body)).state == TradeState.success
    assert store.is_file() and b"BEGIN CERTIFICATE" not in store.read_bytes()  # kept as sent: encrypted

    def offline(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("no network after the restart", request=request)

    # When the app restarts with no network
    restarted = adapter(server, transport=httpx.MockTransport(offline), certificate_store=store)
    # Then the new certificate is still believed
    assert (await restarted.verify_notification(delivery.headers, delivery.body)).state == TradeState.success
    # And a file changed by someone without the APIv3 key is not
    kept = json.loads(store.read_text())
    for entry in kept["certificates"]:
        entry["encrypt_certificate"] |= wx.encrypt_resource(b"x" * 32, b"not WeChat's", "certificate")
    store.write_text(json.dumps(kept))
    tampered = adapter(server, transport=httpx.MockTransport(offline), certificate_store=store)
    with pytest.raises(InvalidNotification):
        await tampered.verify_notification(delivery.headers, delivery.body)


async def test_the_platform_public_key_mode_beside_certificates_and_never_downloaded():
    server = SandboxServer()
    public_key = server.certificates[0].key  # WeChat Pay's public key, as the operator downloaded it
    certificate = server.rotate_certificate()
    both = wx.WeChatPayGateway(
        mchid=server.mchid,
        appid=server.appid,
        serial_no=server.merchant_serial,
        private_key=server.merchant_key,
        apiv3_key=server.apiv3_key,
        platform_keys={
            "PUB_KEY_ID_0114232134912410000000000000000": public_key.public_key(),
            certificate: server.platform_key.public_key(),
        },
        notify_url="https://example.org/billing/notify/wechat",
        transport=httpx.MockTransport(server.handle),
        clock=server.clock,
    )
    sandbox = SandboxGateway()
    sandbox.server, sandbox.adapter = server, both
    delivery = await paid_notification(sandbox, "LYPUBKEY")
    # A notification signed under the public key id, and one under the certificate, are both believed
    by_public_key = server.sign_headers(
        delivery.body, key=public_key, serial="PUB_KEY_ID_0114232134912410000000000000000"
    )
    for headers in (by_public_key, delivery.headers):
        assert (await both.verify_notification(headers, delivery.body)).state == TradeState.success
    # An unknown public key id is refused without asking /v3/certificates, which serves no public keys
    other = server.sign_headers(
        delivery.body, key=public_key, serial="PUB_KEY_ID_0199999999999999999999999999999"
    )
    with pytest.raises(InvalidNotification):
        await both.verify_notification(other, delivery.body)
    assert downloads(server) == 0


async def test_wechat_retries_a_notification_re_signed_until_laoyou_answers(gql, client, db, sandbox):
    # Given a resident who paid while Laoyou was down
    _, _, payment = await start_payment(gql)
    [first] = sandbox.pay(out_trade_no(payment))
    down_for = 10  # tries: about three hours
    tries: list[Delivery] = []

    async def send(delivery: Delivery) -> int:
        tries.append(delivery)
        if len(tries) <= down_for:
            return 503
        return (await notify(client, delivery)).status_code

    # When WeChat Pay retries on its schedule, time compressed
    started = sandbox.server.clock()
    statuses = await sandbox.deliver(first, send, wait=sandbox.server.clock.wait)
    # Then the try after Laoyou came back is believed, though the first signature is hours old
    assert statuses == [503] * down_for + [204]
    assert sandbox.server.clock() - started == sum(RETRY_INTERVALS[:down_for]) > 3 * 3600
    stamps = [int(d.headers["Wechatpay-Timestamp"]) for d in tries]
    assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)
    assert {d.body for d in tries} == {first.body}
    assert (await notify(client, first)).status_code == 400  # the untouched first try: too old
    row = (await db.exec(select(Payment).where(Payment.out_trade_no == out_trade_no(payment)))).one()
    assert row.status == PaymentStatus.paid.value
    await check_books(db)


async def test_wechat_gives_up_after_fifteen_retries_over_a_day():
    clock = Clock()
    sandbox = SandboxGateway(clock=clock)
    delivery = await paid_notification(sandbox, "LYGIVEUP")

    async def unanswered(delivery: Delivery) -> int:
        return 500

    statuses = await sandbox.deliver(delivery, unanswered, wait=clock.wait)
    assert len(statuses) == 16 and sum(RETRY_INTERVALS) == 24 * 3600 + 4 * 60


def test_gateway_addresses_and_the_proxy_are_settings(tmp_path):
    server = SandboxServer()
    for name, key in (("merchant.pem", server.merchant_key), ("app.pem", server.merchant_key)):
        (tmp_path / name).write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
    (tmp_path / "pub.pem").write_bytes(
        server.platform_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    settings = PaySettings(
        wechat_mchid="1900000001",
        wechat_appid="wx0000000000000001",
        wechat_serial_no="SERIAL",
        wechat_private_key_file=tmp_path / "merchant.pem",
        wechat_apiv3_key="k" * 32,
        wechat_public_key_id="PUB_KEY_ID_0114232134912410000000000000000",
        wechat_public_key_file=tmp_path / "pub.pem",
        wechat_base_url="https://api2.mch.weixin.qq.com",
        alipay_app_id="2021000000000001",
        alipay_seller_id="2088101122136241",
        alipay_private_key_file=tmp_path / "app.pem",
        alipay_public_key_file=tmp_path / "pub.pem",
        alipay_gateway_url="https://openapi-sandbox.dl.alipaydev.com/gateway.do",
        proxy="http://proxy.example.cn:3128",
    )
    made = Gateways(settings, production=True, data_dir=tmp_path)
    wechat, alipay = made.get("wechat"), made.get("alipay")
    assert (wechat.base_url, wechat.proxy) == (
        "https://api2.mch.weixin.qq.com",
        "http://proxy.example.cn:3128",
    )
    assert wechat.platform_keys.serials() == ["PUB_KEY_ID_0114232134912410000000000000000"]
    assert wechat.platform_keys.store == tmp_path / "wechatpay" / "platform-certificates.json"
    assert alipay.gateway_url == "https://openapi-sandbox.dl.alipaydev.com/gateway.do"
    assert alipay.proxy == "http://proxy.example.cn:3128"


async def test_requests_go_through_the_company_proxy():
    # Given a company proxy (here one that refuses every tunnel after noting where it was asked to go)
    asked: list[str] = []

    async def proxy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        asked.append((await reader.readline()).decode().strip())
        writer.write(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(proxy, "127.0.0.1", 0)
    address = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    sandbox = SandboxServer()
    wechat = wx.WeChatPayGateway(
        mchid=sandbox.mchid,
        appid=sandbox.appid,
        serial_no=sandbox.merchant_serial,
        private_key=sandbox.merchant_key,
        apiv3_key=sandbox.apiv3_key,
        platform_keys={},
        notify_url="https://example.org/billing/notify/wechat",
        base_url="https://api2.mch.weixin.qq.com",
        proxy=address,
    )
    alipay = ali.AlipayGateway(
        app_id="2021000000000001",
        seller_id="2088101122136241",
        private_key=sandbox.merchant_key,
        alipay_public_key=sandbox.platform_key.public_key(),
        notify_url="https://example.org/billing/notify/alipay",
        gateway_url="https://openapi.alipay.com/gateway.do",
        proxy=address,
    )
    async with server:
        # When either gateway is asked something
        with pytest.raises(GatewayError):
            await wechat.query_order("LYPROXY")
        with pytest.raises(GatewayError):
            await alipay.query_order("LYPROXY")
    # Then the request asked the proxy for a tunnel to the configured address
    assert asked == ["CONNECT api2.mch.weixin.qq.com:443 HTTP/1.1", "CONNECT openapi.alipay.com:443 HTTP/1.1"]


async def test_a_data_directory_that_cannot_be_written_still_believes_the_downloaded_certificate(tmp_path):
    (tmp_path / "wechatpay").write_text("a file where the folder should be")
    server = SandboxServer()
    sandbox = SandboxGateway()
    store = tmp_path / "wechatpay" / "platform-certificates.json"
    sandbox.server, sandbox.adapter = server, adapter(server, certificate_store=store)
    server.rotate_certificate()
    delivery = await paid_notification(sandbox, "LYREADONLY")
    assert (await sandbox.verify_notification(delivery.headers, delivery.body)).state == TradeState.success
    assert downloads(server) == 1 and not store.exists()
