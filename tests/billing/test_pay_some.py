"""Paying one month, several or all: the months listed oldest first and all ticked, a total the server works
out again when it no longer matches the button, and no month in two waiting payments."""

from __future__ import annotations

import re
import secrets

from sqlalchemy import func
from sqlmodel import select

from laoyou.billing.models import Payment

from ..conftest import FAMILY_OF_XIUSHAN, RESIDENT_JINGJU, RESIDENT_XIUSHAN, login_demo
from ..web.conftest import log_in
from .helpers import MY_BILLS, PAY_BILLS, months_owed, pay_form

PAY_PREVIEW = """
query ($billIds: [ID!]!) { payPreview(billIds: $billIds) { problem total { fen } bills { id period } } }
"""


def key() -> str:
    return secrets.token_hex(8)


async def payments(db) -> int:  # noqa: ANN001
    return await db.scalar(select(func.count()).select_from(Payment))


async def owed_oldest_first(person) -> list[dict]:  # noqa: ANN001
    bills = (await person(MY_BILLS))["data"]["myBills"]
    home = bills[0]["household"]["id"]
    return sorted((b for b in bills if b["household"]["id"] == home), key=lambda b: b["period"])


async def test_the_page_lists_every_month_owed_oldest_first_all_ticked(client):
    # Given the demo resident, who owes several months
    await log_in(client, RESIDENT_XIUSHAN)
    # When she opens her bills
    html = (await client.get("/bills")).text
    form = html[html.index("data-pay-months") : html.index("</form>", html.index("data-pay-months"))]
    # Then every month owed has its own big ticked box inside its label, the oldest first
    months = re.findall(
        r'<label class="choice"><input type="checkbox" name="bill" value="(\d+)"[^>]*checked', form
    )
    periods = re.findall(r"<span>(\d{4}-\d{2})", form)
    assert len(months) >= 2 and periods == sorted(periods)
    # And the button's total is what all of them come to
    fields = pay_form(html)
    assert fields["bill"] == months
    assert f"¥<span data-total>{int(fields['expected']) // 100}." in form


async def test_paying_one_month_of_several_orders_only_that_month(client, db):
    # Given the resident's page with every month ticked
    await log_in(client, RESIDENT_XIUSHAN)
    html = (await client.get("/bills")).text
    fields = pay_form(html)
    oldest = fields["bill"][0]
    one = months_owed(html)[oldest]
    # When she leaves only the oldest ticked, and the button (updated by the page's script) says its total
    paying = await client.post("/bills/pay", data={**fields, "bill": [oldest], "expected": str(one)})
    # Then the cashier opens for that month alone
    assert paying.status_code == 303 and paying.headers["location"].startswith("/pay/sandbox/")
    number = paying.headers["location"].rsplit("/", 1)[-1]
    payment = (await db.exec(select(Payment).where(Payment.out_trade_no == number))).one()
    assert payment.bill_ids == [int(oldest)] and payment.amount_fen == one


async def test_a_pay_whose_total_no_longer_matches_shows_the_months_again_with_the_servers_total(client, db):
    # Given the page without JavaScript: the button still says the total of every month
    await log_in(client, RESIDENT_XIUSHAN)
    fields = pay_form((await client.get("/bills")).text)
    before = await payments(db)
    # When she unticks the newest month and presses Pay
    page = await client.post("/bills/pay", data={**fields, "bill": fields["bill"][:-1]})
    # Then nothing is ordered: the page shows her months as she ticked them, with their total, and says so
    assert page.status_code == 200 and await payments(db) == before
    again = pay_form(page.text)
    assert again["bill"] == fields["bill"][:-1]
    assert int(again["expected"]) < int(fields["expected"])
    assert "金额已按您勾选的月份重新计算" in page.text
    # And pressing Pay on that page orders exactly those months
    paying = await client.post("/bills/pay", data=again)
    assert paying.status_code == 303 and paying.headers["location"].startswith("/pay/sandbox/")


async def test_the_review_button_works_out_the_total_without_ordering(client, db):
    await log_in(client, RESIDENT_XIUSHAN)
    fields = pay_form((await client.get("/bills")).text)
    before = await payments(db)
    page = await client.post("/bills/pay", data={**fields, "bill": fields["bill"][:1], "action": "review"})
    assert page.status_code == 200 and await payments(db) == before
    assert pay_form(page.text)["bill"] == fields["bill"][:1]
    assert "金额已按您勾选的月份重新计算" not in page.text  # she asked for it: nothing to warn about


async def test_no_month_ticked_is_a_translated_error_and_changes_nothing(client, db):
    await log_in(client, RESIDENT_XIUSHAN)
    fields = pay_form((await client.get("/bills")).text)
    before = await payments(db)
    page = await client.post("/bills/pay", data={**fields, "bill": []})
    assert page.status_code == 400 and "请选择要缴的账单。" in page.text
    assert await payments(db) == before


async def test_a_month_in_a_waiting_payment_is_not_ordered_twice(gql, db):
    # Given the resident started paying her oldest month and left the cashier
    resident = await login_demo(gql, RESIDENT_XIUSHAN)
    owed = await owed_oldest_first(resident)
    first = (await resident(PAY_BILLS, {"billIds": [owed[0]["id"]], "key": key()}))["data"]["payBills"]
    assert first["__typename"] == "PaymentSaved"
    before = await payments(db)
    # When she asks to pay it with the next month under a new request
    both = [owed[0]["id"], owed[1]["id"]]
    refused = (await resident(PAY_BILLS, {"billIds": both, "key": key()}))["data"]["payBills"]
    # Then it is refused, in her language, naming the month, and nothing is ordered
    assert refused["code"] == "PAYMENT_WAITING" and refused["field"] == "billIds"
    assert refused["message"] == (
        f"A payment for {owed[0]['period']} is still waiting for the payment service. Open it in My receipts."
    )
    assert await payments(db) == before
    preview = (await resident(PAY_PREVIEW, {"billIds": both}))["data"]["payPreview"]
    assert preview["problem"] == refused["message"] and preview["total"]["fen"] == 0
    # And the next month alone can be paid
    alone = (await resident(PAY_BILLS, {"billIds": [owed[1]["id"]], "key": key()}))["data"]["payBills"]
    assert alone["__typename"] == "PaymentSaved"


async def test_pressing_pay_again_for_the_same_months_goes_back_to_the_open_order(gql, db):
    resident = await login_demo(gql, RESIDENT_XIUSHAN)
    owed = await owed_oldest_first(resident)
    chosen = [owed[1]["id"], owed[0]["id"]]
    first = (await resident(PAY_BILLS, {"billIds": chosen, "key": key()}))["data"]["payBills"]
    again = (await resident(PAY_BILLS, {"billIds": chosen[::-1], "key": key()}))["data"]["payBills"]
    assert again["__typename"] == "PaymentSaved" and again["payment"]["id"] == first["payment"]["id"]
    assert again["payment"]["payUrl"] == first["payment"]["payUrl"]


async def test_the_preview_lists_the_months_oldest_first_with_their_total(gql):
    resident = await login_demo(gql, RESIDENT_XIUSHAN)
    owed = await owed_oldest_first(resident)
    chosen = [b["id"] for b in owed[:2]][::-1]
    preview = (await resident(PAY_PREVIEW, {"billIds": chosen}))["data"]["payPreview"]
    assert preview["problem"] is None
    assert [b["period"] for b in preview["bills"]] == [owed[0]["period"], owed[1]["period"]]
    assert preview["total"]["fen"] == sum(b["outstanding"]["fen"] for b in owed[:2])


async def test_family_pays_one_month_of_the_parents_home(gql):
    # Given the family member linked to the demo resident's home
    family = await login_demo(gql, FAMILY_OF_XIUSHAN)
    owed = await owed_oldest_first(family)
    # When they pay its oldest month alone
    paid = (await family(PAY_BILLS, {"billIds": [owed[0]["id"]], "key": key()}))["data"]["payBills"]
    # Then the order is for that month
    assert paid["__typename"] == "PaymentSaved"
    assert paid["payment"]["amount"]["fen"] == owed[0]["outstanding"]["fen"]


async def test_a_stranger_cannot_preview_another_homes_months(gql):
    resident = await login_demo(gql, RESIDENT_XIUSHAN)
    owed = await owed_oldest_first(resident)
    stranger = await login_demo(gql, RESIDENT_JINGJU)
    result = await stranger(PAY_PREVIEW, {"billIds": [owed[0]["id"]]}, expect_errors=True)
    assert result["data"] is None and result["errors"][0]["extensions"]["code"] == "NOT_FOUND"


async def test_a_month_waiting_in_a_payment_is_shown_as_waiting_and_not_ticked_again(client, db):
    # Given the resident started paying her oldest month on the page and left the cashier
    await log_in(client, RESIDENT_XIUSHAN)
    html = (await client.get("/bills")).text
    fields = pay_form(html)
    oldest, rest = fields["bill"][0], fields["bill"][1:]
    owed = months_owed(html)
    paying = await client.post("/bills/pay", data={**fields, "bill": [oldest], "expected": str(owed[oldest])})
    number = paying.headers["location"].rsplit("/", 1)[-1]
    payment = (await db.exec(select(Payment).where(Payment.out_trade_no == number))).one()
    assert payment.bill_ids == [int(oldest)]
    payment_id = payment.id
    # When she opens her bills again
    page = await client.get("/bills")
    # Then that month says it is waiting, with a way to see where it stands, and is not offered again
    assert f'href="/payments/{payment_id}"' in page.text
    again = pay_form(page.text)
    assert again["bill"] == rest and oldest not in months_owed(page.text)
    # And the button's total is that of the other months, so pressing Pay orders them at once
    assert int(again["expected"]) == sum(owed[b] for b in rest)
    paid = await client.post("/bills/pay", data=again)
    assert paid.status_code == 303 and paid.headers["location"].startswith("/pay/sandbox/")
