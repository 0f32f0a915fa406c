"""Paying bills: through the sandbox, idempotently, with notifications recorded once and applied once."""

from __future__ import annotations

import secrets

from sqlmodel import select

from laoyou.billing import service as billing
from laoyou.billing.gateways.registry import gateways
from laoyou.billing.models import RefusedNotification
from laoyou.core.logs import BoundedLog

from ..conftest import FAMILY_OF_XIUSHAN, RESIDENT_JINGJU, RESIDENT_XIUSHAN, STEWARD_YUEYANG, login_demo
from .helpers import MY_BILLS, PAY_BILLS, PAYMENT, check_books, pay_form


def key() -> str:
    return secrets.token_hex(8)


async def start_payment(gql, phone=RESIDENT_XIUSHAN):  # noqa: ANN001, ANN201
    person = await login_demo(gql, phone)
    bills = (await person(MY_BILLS))["data"]["myBills"]
    assert bills, "the demo resident has bills to pay"
    result = (await person(PAY_BILLS, {"billIds": [bills[0]["id"]], "key": key()}))["data"]["payBills"]
    assert result["__typename"] == "PaymentSaved", result
    return person, bills[0], result["payment"]


async def notify(client, delivery):  # noqa: ANN001, ANN201
    return await client.post("/billing/notify/sandbox", content=delivery.body, headers=delivery.headers)


def out_trade_no(payment) -> str:  # noqa: ANN001
    return payment["payUrl"].rsplit("/", 1)[-1]


async def test_resident_pays_a_bill_through_the_sandbox(gql, client, db):
    # Given the demo resident with an unpaid bill, who starts paying it
    resident, bill, payment = await start_payment(gql)
    assert payment["status"] == "pending" and payment["amount"]["fen"] == bill["outstanding"]["fen"]
    assert payment["payUrl"].startswith("/pay/sandbox/")
    # When the sandbox takes the money and notifies the app over HTTP
    [delivery] = gateways().sandbox.pay(out_trade_no(payment))
    response = await notify(client, delivery)
    # Then WeChat's documented reply comes back, and the payment and the bill are paid
    assert response.status_code == 204 and response.content == b""
    found = (await resident(PAYMENT, {"id": payment["id"]}))["data"]["payment"]
    assert found["status"] == "paid" and found["receiptUrl"] == f"/receipts/{payment['id']}"
    assert (
        found["bills"][0]["status"] == "paid"
        and found["bills"][0]["paid"]["fen"] == bill["outstanding"]["fen"]
    )
    assert found["amount"]["capitals"].endswith(("分", "整"))
    await check_books(db)


async def test_a_retry_returns_the_first_payment_and_other_details_are_refused(gql):
    resident = await login_demo(gql, RESIDENT_XIUSHAN)
    bills = (await resident(MY_BILLS))["data"]["myBills"]
    assert len(bills) >= 2
    k = key()
    first = (await resident(PAY_BILLS, {"billIds": [bills[0]["id"]], "key": k}))["data"]["payBills"]
    again = (await resident(PAY_BILLS, {"billIds": [bills[0]["id"]], "key": k}))["data"]["payBills"]
    assert again["payment"]["id"] == first["payment"]["id"]
    other = (await resident(PAY_BILLS, {"billIds": [bills[1]["id"]], "key": k}))["data"]["payBills"]
    assert other["__typename"] == "PayBillsError" and other["code"] == "IDEMPOTENCY_CONFLICT"


async def test_duplicate_notifications_are_applied_once(gql, client, db):
    resident, bill, payment = await start_payment(gql)
    sandbox = gateways().sandbox
    sandbox.misbehaviour.duplicate = True
    try:
        deliveries = sandbox.pay(out_trade_no(payment))
    finally:
        sandbox.misbehaviour.duplicate = False
    assert len(deliveries) == 2
    replies = [await notify(client, d) for d in deliveries]
    assert [r.status_code for r in replies] == [204, 204]  # a duplicate is acknowledged, not applied again
    found = (await resident(PAYMENT, {"id": payment["id"]}))["data"]["payment"]
    assert found["bills"][0]["paid"]["fen"] == bill["outstanding"]["fen"]
    await check_books(db)


async def test_forged_and_stale_notifications_are_refused_and_logged_not_stored(
    gql, client, db, caplog, monkeypatch
):
    monkeypatch.setattr(
        "laoyou.billing.service.notifications.unverified_log", BoundedLog(billing.log)
    )  # a log budget of its own
    resident, _, payment = await start_payment(gql)
    sandbox = gateways().sandbox
    order = sandbox.server.pay(out_trade_no(payment))
    with caplog.at_level("WARNING", logger="laoyou.billing"):
        for delivery in (
            sandbox.server.notification(order, forge=True),
            sandbox.server.notification(order, stale=True),
        ):
            response = await notify(client, delivery)
            assert response.status_code == 400 and response.json()["code"] == "FAIL"
    found = (await resident(PAYMENT, {"id": payment["id"]}))["data"]["payment"]
    assert found["status"] == "pending"
    assert list(await db.exec(select(RefusedNotification.reason))) == []
    logged = [r.getMessage() for r in caplog.records if r.name == "laoyou.billing"]
    assert logged == [
        "refused sandbox notification: bad signature",
        "refused sandbox notification: timestamp outside the 5-minute window",
    ]


async def test_amount_or_merchant_mismatch_is_refused(gql, client, db):
    resident, _, payment = await start_payment(gql)
    sandbox = gateways().sandbox
    order = sandbox.server.pay(out_trade_no(payment))
    for delivery in (
        sandbox.server.notification(order, amount_fen=1),
        sandbox.server.notification(order, mchid="1"),
    ):
        response = await notify(client, delivery)
        assert response.status_code == 400
    assert (await resident(PAYMENT, {"id": payment["id"]}))["data"]["payment"]["status"] == "pending"
    reasons = set(await db.exec(select(RefusedNotification.reason)))
    assert {"amount does not match", "merchant does not match"} <= reasons


async def test_reconciliation_finds_a_payment_whose_notification_never_came(gql, client, db):
    resident, _, payment = await start_payment(gql)
    sandbox = gateways().sandbox
    sandbox.misbehaviour.drop = True
    try:
        assert sandbox.pay(out_trade_no(payment)) == []
    finally:
        sandbox.misbehaviour.drop = False
    counts = await billing.reconcile(db, gateways=gateways().by_name, older_than=billing.timedelta(0))
    assert counts.get("applied") == 1
    await db.commit()
    assert (await resident(PAYMENT, {"id": payment["id"]}))["data"]["payment"]["status"] == "paid"
    # A late notification after reconciliation is a duplicate
    order = sandbox.server.orders[out_trade_no(payment)]
    response = await notify(client, sandbox.server.notification(order))
    assert response.status_code == 204
    await check_books(db)


async def test_result_page_check_again_asks_the_gateway(gql):
    resident, _, payment = await start_payment(gql)
    sandbox = gateways().sandbox
    sandbox.misbehaviour.hold = True
    try:
        sandbox.pay(out_trade_no(payment))
    finally:
        sandbox.misbehaviour.hold = False
        sandbox.misbehaviour.held.clear()
    result = (
        await resident(
            "mutation ($id: ID!) { refreshPayment(id: $id) { __typename ... on PaymentSaved { payment { status } } } }",
            {"id": payment["id"]},
        )
    )["data"]["refreshPayment"]
    assert result["payment"]["status"] == "paid"


async def test_family_member_pays_for_the_linked_household(gql, client, db):
    family, bill, payment = await start_payment(gql, FAMILY_OF_XIUSHAN)
    [delivery] = gateways().sandbox.pay(out_trade_no(payment))
    assert (await notify(client, delivery)).status_code == 204
    resident = await login_demo(gql, RESIDENT_XIUSHAN)
    found = (await resident(PAYMENT, {"id": payment["id"]}))["data"]["payment"]
    assert found["status"] == "paid"


async def test_stranger_cannot_see_or_pay_another_households_bills(gql):
    _, bill, payment = await start_payment(gql)
    for phone in (RESIDENT_JINGJU, STEWARD_YUEYANG):
        stranger = await login_demo(gql, phone)
        seen = await stranger(
            "query ($id: ID!) { bill(id: $id) { id } }", {"id": bill["id"]}, expect_errors=True
        )
        assert seen["data"] is None and seen["errors"][0]["message"] == "Not found."
        paid = await stranger(PAY_BILLS, {"billIds": [bill["id"]], "key": key()}, expect_errors=True)
        assert paid["data"] is None
        looked = await stranger(PAYMENT, {"id": payment["id"]}, expect_errors=True)
        assert looked["data"] is None
        bills = await stranger(
            "query ($h: ID!) { householdBills(householdId: $h) { nodes { id } } }",
            {"h": bill["household"]["id"]},
            expect_errors=True,
        )
        assert bills["data"] is None


async def test_pages_pay_in_three_taps_and_show_the_receipt(gql, client, db):
    # Given the demo resident logged in through the page
    page = await client.get("/login")
    csrf = page.cookies.get("laoyou_csrf") or client.cookies.get("laoyou_csrf")
    await client.post("/login/demo", data={"phone": "+8613800000001", "csrf_token": csrf})
    csrf = client.cookies.get("laoyou_csrf")  # the login gave a new token; the pages now carry it
    home = await client.get("/")
    assert 'href="/bills"' in home.text  # tap 1: the bills tile
    bills = await client.get("/bills")
    assert bills.status_code == 200 and "amount-due" in bills.text

    form = pay_form(bills.text)
    # tap 2: pay
    paying = await client.post("/bills/pay", data={**form, "csrf_token": csrf})
    assert paying.status_code == 303 and paying.headers["location"].startswith("/pay/sandbox/")
    cashier = await client.get(paying.headers["location"])
    assert cashier.status_code == 200
    # tap 3: confirm at the sandbox cashier
    done = await client.post(paying.headers["location"], data={"csrf_token": csrf})
    assert done.status_code == 303
    result = await client.get(done.headers["location"])
    main = result.text[result.text.find("<main") : result.text.find("</main>")]
    assert "/receipts/" in main, main
    payment_id = done.headers["location"].rsplit("/", 1)[-1]
    receipt = await client.get(f"/receipts/{payment_id}")
    assert receipt.status_code == 200 and "元" in receipt.text
    await check_books(db)
