"""The resident's billing pages: my bills and paying them, the payment result that survives a lost
connection, and receipts."""

from __future__ import annotations

import secrets

from fastapi.responses import Response

from laoyou.billing.service.wechat import safe_return_path
from laoyou.web.render import Page, PageRoute, form_with_csrf


async def my_bills(
    page: Page, *, error: str | None = None, review: dict | None = None, status_code: int = 200
) -> Response:
    """Every home's months still owed, all ticked; `review` is one home's months as the person ticked them,
    with the total the server worked out for them."""
    data = await page.run("MyBillsPage")
    bills_by_household: dict[str, list] = {}
    for bill in data["myBills"]:
        bills_by_household.setdefault(bill["household"]["id"], []).append(bill)
    chosen = {review["household"]: review} if review else {}
    for household_id, bills in bills_by_household.items():
        owed = [b for b in bills if b["outstanding"]["fen"]]
        if household_id in chosen or not any(b["waitingPayment"] for b in owed):
            continue
        # Months already in a payment that waits are not "due" again: the default is the rest, totalled by
        # the server.
        rest = [b["id"] for b in owed if not b["waitingPayment"]]
        total = (
            (await page.run("PayPreview", billIds=rest))["payPreview"]["total"]
            if rest
            else {"fen": 0, "yuan": "0.00"}
        )
        chosen[household_id] = {"household": household_id, "billIds": set(rest), "total": total}
    return page.render(
        "billing/my_bills.html",
        status_code=status_code,
        viewer=data["viewer"],
        bills=bills_by_household,
        due={d["householdId"]: d["due"] for d in data["myAmountsDue"]},
        methods=data["paymentMethods"],
        error=error,
        chosen=chosen,
        review=review,
        pay_key=secrets.token_urlsafe(16),
    )


async def pay(page: Page) -> Response:
    """Pay the ticked months. The button said a total; when the ticked months come to another (no JavaScript
    updated it) or cannot be paid together, the page shows them again with the server's total instead."""
    form = await form_with_csrf(page.request)
    bill_ids = [b for b in (await page.request.form()).getlist("bill") if isinstance(b, str)]
    preview = (await page.run("PayPreview", billIds=bill_ids))["payPreview"]
    review = {"household": form.get("household", ""), "billIds": set(bill_ids), "total": preview["total"]}
    if preview["problem"]:
        return await my_bills(page, error=preview["problem"], review=review, status_code=400)
    if form.get("action") == "review" or form.get("expected") != str(preview["total"]["fen"]):
        review["changed"] = form.get("action") != "review"
        return await my_bills(page, review=review)
    data = (
        await page.run(
            "PayBills",
            billIds=bill_ids,
            idempotencyKey=form.get("key", ""),
            method=form.get("method") or None,
        )
    )["payBills"]
    if data["__typename"] != "PaymentSaved":
        if data["code"] == "WECHAT_PAYER_UNKNOWN":
            return await wechat_payer_link(page)
        return await my_bills(page, error=data["message"], review=review, status_code=400)
    payment = data["payment"]
    if payment["status"] == "pending" and payment["payUrl"]:
        return page.redirect(payment["payUrl"])
    # Paid inside WeChat (JSAPI): the payment page hands the order to WeChat's own payment sheet at once.
    return page.redirect(f"/payments/{payment['id']}?start=1")


async def wechat_payer_link(page: Page) -> Response:
    """Inside WeChat, before the first payment: WeChat says who is paying (no question asked of the person),
    then brings them back to their bills to tap Pay once more."""
    data = (await page.run("BeginWechatPayerLink", returnPath="/bills"))["beginWechatPayerLink"]
    if data["__typename"] != "WechatAuthorization":
        return await my_bills(page, error=data["message"], status_code=400)
    return page.redirect(data["url"])


async def wechat_payer_back(page: Page) -> Response:
    """WeChat's way back from its authorisation, with a one-time code and the state this session sent."""
    query = page.request.query_params
    data = (await page.run("LinkWechatPayer", code=query.get("code", ""), state=query.get("state", "")))[
        "linkWechatPayer"
    ]
    if data["__typename"] != "WechatPayerLinked":
        return await my_bills(page, error=data["message"], status_code=400)
    return page.redirect(safe_return_path(query.get("next", "/bills")))


async def payment_page(page: Page) -> Response:
    payment_id = page.request.path_params["payment_id"]
    data = await page.run("PaymentPage", id=payment_id)
    wechat = (await page.run("PaymentWechatPay", id=payment_id))["payment"]["wechatPay"]
    return page.render(
        "billing/payment.html",
        payment=data["payment"],
        wechat_pay=wechat,
        start=page.request.query_params.get("start") == "1",
    )


async def refresh(page: Page) -> Response:
    await form_with_csrf(page.request)
    payment_id = page.request.path_params["payment_id"]
    await page.run("RefreshPayment", id=payment_id)
    return page.redirect(f"/payments/{payment_id}")


async def receipts(page: Page) -> Response:
    data = await page.run("MyReceipts")
    payments = data["myPayments"]["nodes"]
    # Newest months first, then the latest paid: a payment for older months can be made after one for newer
    # months (a backfill, or paying arrears later), so the order payments were made in is not hers.
    payments.sort(key=_receipt_order, reverse=True)
    return page.render("billing/receipts.html", payments=payments)


def _receipt_order(payment: dict) -> tuple[str, str]:
    newest = max((b["periodStart"] for b in payment["bills"]), default="")
    return newest, payment["paidAt"] or payment["createdAt"] or ""


async def receipt(page: Page) -> Response:
    data = await page.run("ReceiptPage", id=page.request.path_params["payment_id"])
    if data["payment"]["status"] == "pending":
        return page.redirect(f"/payments/{data['payment']['id']}")
    return page.render("billing/receipt.html", payment=data["payment"])


PAGES = (
    PageRoute("GET", "/bills", my_bills),
    PageRoute("POST", "/bills/pay", pay),
    PageRoute("GET", "/bills/wechat", wechat_payer_back),
    PageRoute("GET", "/payments/{payment_id}", payment_page),
    PageRoute("POST", "/payments/{payment_id}/refresh", refresh),
    PageRoute("GET", "/receipts", receipts),
    PageRoute("GET", "/receipts/{payment_id}", receipt),
)
