"""The sandbox cashier: only the payer's side sees and confirms an order; production has no sandbox at all."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from sqlalchemy import func
from sqlmodel import select

from laoyou.app import create_app
from laoyou.billing.gateways.registry import Gateways, PaySettings
from laoyou.billing.models import Bill, Payment, SandboxOrder

from ..accounts.helpers import RecordedSmsGateway, login_with_code, request_code, sent_code
from ..conftest import (
    FAMILY_OF_XIUSHAN,
    RESIDENT_JINGJU,
    RESIDENT_XIUSHAN,
    STEWARD_XIUSHAN,
    STEWARD_YUEYANG,
    GraphQLClient,
    login_demo,
    make_database_url,
    make_settings,
)
from .helpers import MY_BILLS, check_books
from .test_payments import start_payment

CSRF = "csrf-token-of-the-test"

PAY_WITH = """
mutation ($billIds: [ID!]!, $key: String!, $method: PaymentMethod) {
  payBills(billIds: $billIds, idempotencyKey: $key, method: $method) {
    __typename
    ... on PaymentSaved { payment { id } }
    ... on Error { field message code }
  }
}
"""


@asynccontextmanager
async def pages(app: Any, token: str | None = None) -> AsyncIterator[httpx.AsyncClient]:
    """The PWA's pages as one person (a bearer session, or nobody), with a CSRF cookie for the forms."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    transport = httpx.ASGITransport(app=app, client=("10.9.8.7", 5000))
    async with httpx.AsyncClient(
        transport=transport, base_url="http://testserver", headers=headers, cookies={"laoyou_csrf": CSRF}
    ) as http:
        yield http


async def order_state(db, number: str) -> tuple[str, str]:  # noqa: ANN001
    order = (
        await db.exec(
            select(SandboxOrder)
            .where(SandboxOrder.out_trade_no == number)
            .execution_options(populate_existing=True)
        )
    ).one()
    payment = (
        await db.exec(
            select(Payment).where(Payment.out_trade_no == number).execution_options(populate_existing=True)
        )
    ).one()
    return order.state, payment.status


async def test_only_the_payers_side_sees_and_confirms_the_cashier(app, gql, db):
    # Given the demo resident who started paying a bill: the order waits at the sandbox cashier
    resident, _, payment = await start_payment(gql)
    cashier = payment["payUrl"]
    number = cashier.rsplit("/", 1)[-1]
    # When another community's resident, another community's steward, or even the steward of the household's
    # own community (who may see payments, not pay them) opens or confirms it, then it is not found
    for phone in (RESIDENT_JINGJU, STEWARD_YUEYANG, STEWARD_XIUSHAN):
        stranger = await login_demo(gql, phone)
        async with pages(app, stranger.token) as http:
            assert (await http.get(cashier)).status_code == 404, phone
            assert (await http.post(cashier, data={"csrf_token": CSRF})).status_code == 404, phone
    # and nobody logged in is sent to log in
    async with pages(app) as http:
        for response in (await http.get(cashier), await http.post(cashier, data={"csrf_token": CSRF})):
            assert response.status_code == 303 and response.headers["location"] == "/login"
    assert await order_state(db, number) == ("NOTPAY", "pending")
    # The family following the household may pay for it, so sees it; the resident confirms it
    family = await login_demo(gql, FAMILY_OF_XIUSHAN)
    async with pages(app, family.token) as http:
        assert (await http.get(cashier)).status_code == 200
    async with pages(app, resident.token) as http:
        assert (await http.get(cashier)).status_code == 200
        done = await http.post(cashier, data={"csrf_token": CSRF})
        assert done.status_code == 303 and done.headers["location"] == f"/payments/{payment['id']}"
    assert await order_state(db, number) == ("SUCCESS", "paid")
    await check_books(db)


# --- production ------------------------------------------------------------------------------------------


def wechat_settings(tmp_path, **more: str) -> PaySettings:  # noqa: ANN001
    """A merchant's WeChat Pay settings, with key files of its own."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    merchant, platform = (rsa.generate_private_key(public_exponent=65537, key_size=2048) for _ in range(2))
    (tmp_path / "merchant.pem").write_bytes(
        merchant.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    (tmp_path / "platform.pem").write_bytes(
        platform.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return PaySettings(
        wechat_mchid="1900000001",
        wechat_appid="wx0000000000000001",
        wechat_serial_no="SERIAL",
        wechat_private_key_file=tmp_path / "merchant.pem",
        wechat_apiv3_key="k" * 32,
        wechat_platform_serial="PLATFORM",
        wechat_platform_key_file=tmp_path / "platform.pem",
        **more,
    )


def test_production_offers_only_the_configured_gateways_and_defaults_to_one(tmp_path):
    production = Gateways(wechat_settings(tmp_path), production=True)
    assert production.sandbox is None and production.get("sandbox") is None
    assert production.online_methods() == ["wechat"] and production.default_method() == "wechat"
    # Demo and dev keep the sandbox, after the configured default
    development = Gateways(wechat_settings(tmp_path, default_method="wechat"))
    assert development.online_methods() == ["wechat", "sandbox"]
    # Production with the sandbox configured does not start
    with pytest.raises(ValueError, match="LAOYOU_PAY_DEFAULT_METHOD=sandbox"):
        Gateways(wechat_settings(tmp_path, default_method="sandbox"), production=True)


@pytest.fixture(scope="module")
async def production_app(
    backend: str, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> AsyncIterator[Any]:
    """Production mode with the demo's households and bills (loaded on purpose, as only a test can)."""
    tmp = tmp_path_factory.mktemp(f"production-bills-{backend}")
    settings = make_settings(tmp, make_database_url(backend, tmp, request), mode="production")
    application = create_app(settings, load_demo=True)
    application.state.sms = RecordedSmsGateway(
        settings
    )  # this module's own app: its residents log in by code
    async with application.router.lifespan_context(application):
        yield application


async def counts(app: Any) -> tuple[int, int, list[tuple[int, str, int]]]:
    async with app.state.sessionmaker() as session:
        bills = (await session.exec(select(Bill.id, Bill.status, Bill.paid_fen).order_by(Bill.id))).all()
        return (
            await session.scalar(select(func.count()).select_from(Payment)),
            await session.scalar(select(func.count()).select_from(SandboxOrder)),
            [tuple(b) for b in bills],
        )


async def test_production_refuses_to_pay_through_the_sandbox_and_changes_nothing(production_app):
    # Given the demo resident, logged in with a code in production, with unpaid bills
    transport = httpx.ASGITransport(app=production_app, client=("10.5.5.5", 5000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        anonymous = GraphQLClient(http)
        assert (await request_code(anonymous, RESIDENT_XIUSHAN))["__typename"] == "LoginCodeSent"
        login = await login_with_code(
            anonymous, RESIDENT_XIUSHAN, sent_code(production_app, RESIDENT_XIUSHAN)
        )
        resident = anonymous.as_token(login["token"])
        bills = (await resident(MY_BILLS))["data"]["myBills"]
        assert bills
        before = await counts(production_app)
        # When they look for ways to pay, then the sandbox is not one
        assert (await resident("query { paymentMethods }"))["data"]["paymentMethods"] == []
        # and paying with it (or with the default, which is no gateway here) is refused, in their language
        for method in ("sandbox", None):
            for language, words in (
                ("en", "That way of paying is not available."),
                ("zh-CN", "暂不支持这种付款方式。"),
            ):
                refused = await GraphQLClient(http, resident.token, language)(
                    PAY_WITH, {"billIds": [bills[0]["id"]], "key": secrets.token_hex(8), "method": method}
                )
                assert refused["data"]["payBills"] == {
                    "__typename": "PayBillsError",
                    "field": "method",
                    "message": words,
                    "code": "INVALID",
                }
        # Then nothing changed: no payment, no order, every bill as it was
        assert await counts(production_app) == before
        # And the bills page offers no online payment, only the office
        page = await http.get("/bills", headers={"Authorization": f"Bearer {resident.token}"})
        assert page.status_code == 200
        assert 'action="/bills/pay"' not in page.text
        assert "请到物业办公室缴费" in page.text or "Please pay at the property office." in page.text
