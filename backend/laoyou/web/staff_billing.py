"""Staff billing pages: a community's fees (bill runs, arrears, collection rate), a household's bills (cash
taken at the office, waivers), fee plans, and each fund's ledger with CSV export and invoice photos."""

from __future__ import annotations

import csv
import io
import secrets
from datetime import date
from urllib.parse import urlencode

from fastapi import HTTPException
from fastapi.responses import Response

from laoyou.billing import ledger
from laoyou.billing import service as billing
from laoyou.billing.models import Fund
from laoyou.billing.money import parse_yuan, yuan
from laoyou.core import i18n
from laoyou.core.errors import LaoyouError
from laoyou.core.time import SHANGHAI, utcnow
from laoyou.media import service as media
from laoyou.web.media import store_posted_file
from laoyou.web.render import OperationFailed, Page, PageRoute, check_csrf, form_with_csrf


def this_period() -> str:
    return utcnow().astimezone(SHANGHAI).strftime("%Y-%m")


async def staff_billing(
    page: Page, *, run: dict | None = None, error: str | None = None, status_code: int = 200
) -> Response:
    community_id = page.request.path_params["community_id"]
    period = page.request.query_params.get("period") or this_period()
    data = await page.run("StaffBillingPage", communityId=community_id, period=period[:10])
    try:
        books = (await page.run("StaffBooks", communityId=community_id))["fundBalances"]
    except OperationFailed:
        books = None  # field staff and agents see bills, not the books
    return page.render(
        "billing/staff_billing.html",
        status_code=status_code,
        period=period[:10],
        books=books,
        run=run,
        error=error,
        **data,
    )


async def staff_run(page: Page) -> Response:
    form = await form_with_csrf(page.request)
    data = (
        await page.run(
            "RunBills",
            communityId=page.request.path_params["community_id"],
            period=form.get("period", ""),
        )
    )["runBills"]
    if data["__typename"] != "BillRunProgress":
        return await staff_billing(page, error=data["message"], status_code=400)
    return await staff_billing(page, run=data["run"])


async def district_billing(
    page: Page, *, district_run: dict | None = None, error: str | None = None, status_code: int = 200
) -> Response:
    """A district's bill run: one button for every community, and where each one stands."""
    period = (page.request.query_params.get("period") or this_period())[:10]
    if district_run is not None:
        period = district_run["period"]
    data = await page.run(
        "DistrictBillingPage", districtId=page.request.path_params["district_id"], period=period
    )
    return page.render(
        "billing/district_billing.html",
        status_code=status_code,
        district=data["district"],
        district_run=district_run or data["districtBillRun"],
        period=period,
        error=error,
    )


async def district_run(page: Page) -> Response:
    form = await form_with_csrf(page.request)
    data = (
        await page.run(
            "RunDistrictBills",
            districtId=page.request.path_params["district_id"],
            period=form.get("period", ""),
        )
    )["runDistrictBills"]
    if data["__typename"] != "DistrictBillRunProgress":
        return await district_billing(page, error=data["message"], status_code=400)
    return await district_billing(page, district_run=data["districtRun"])


async def staff_household(
    page: Page, *, error: str | None = None, done: str | None = None, status_code: int = 200
) -> Response:
    data = await page.run("StaffHouseholdBills", householdId=page.request.path_params["household_id"])
    return page.render(
        "billing/staff_household.html",
        status_code=status_code,
        household=data["household"],
        bills=data["householdBills"]["nodes"],
        payments=data["householdPayments"]["nodes"],
        owed_bill_ids=[b["id"] for b in data["householdBills"]["nodes"] if b["outstanding"]["fen"] > 0],
        error=error,
        done=done,
        key=secrets.token_urlsafe(16),
    )


async def staff_cash(page: Page) -> Response:
    form = await form_with_csrf(page.request)
    try:
        amount = parse_yuan(form.get("amount", ""))
    except ValueError:
        return await staff_household(
            page,
            error=i18n.gettext("Enter an amount above zero.", page.context.language),
            status_code=400,
        )
    data = (
        await page.run(
            "RecordOfficePayment",
            billIds=[form.get("bill_id", "")],
            method=form.get("method", "cash"),
            amountFen=amount,
            officeReceiptNo=form.get("office_receipt_no", ""),
            idempotencyKey=form.get("key", ""),
        )
    )["recordOfficePayment"]
    if data["__typename"] != "PaymentSaved":
        return await staff_household(page, error=data["message"], status_code=400)
    return await staff_household(page, done=data["payment"]["receiptNumber"])


async def staff_counter_qr(page: Page) -> Response:
    """At the counter or for a printed bill: every bill still owed, as one order paid by scanning a QR code."""
    form = await form_with_csrf(page.request)
    data = (
        await page.run(
            "StartCounterPayment",
            billIds=[b for b in form.get("bill_ids", "").split(",") if b],
            idempotencyKey=form.get("key", ""),
        )
    )["startCounterPayment"]
    if data["__typename"] != "PaymentSaved":
        return await staff_household(page, error=data["message"], status_code=400)
    return page.redirect(f"/staff/payments/{data['payment']['id']}/qr")


async def staff_counter_qr_page(page: Page) -> Response:
    data = await page.run("CounterPaymentPage", id=page.request.path_params["payment_id"])
    return page.render("billing/counter_qr.html", payment=data["payment"])


async def staff_counter_qr_refresh(page: Page) -> Response:
    await form_with_csrf(page.request)
    payment_id = page.request.path_params["payment_id"]
    await page.run("RefreshPayment", id=payment_id)
    return page.redirect(f"/staff/payments/{payment_id}/qr")


async def staff_waive(page: Page) -> Response:
    form = await form_with_csrf(page.request)
    data = (await page.run("WaiveBill", id=form.get("bill_id", ""), reason=form.get("reason", "")))[
        "waiveBill"
    ]
    if data["__typename"] != "BillSaved":
        return await staff_household(page, error=data["message"], status_code=400)
    return page.redirect(f"/staff/households/{page.request.path_params['household_id']}/bills")


def _refund_form(page: Page, form: dict[str, str]) -> tuple[int | None, str, str | None]:
    """The amount (fen) and reason a steward wrote, or the mistake to show on the form."""
    language = page.context.language
    try:
        amount = parse_yuan(form.get("amount", ""))
    except ValueError:
        return None, form.get("reason", ""), i18n.gettext("Enter an amount above zero.", language)
    reason = form.get("reason", "").strip()
    if not reason:
        return amount, reason, i18n.gettext("Say why the money is refunded.", language)
    return amount, reason, None


async def refund_page(
    page: Page,
    *,
    step: str = "form",
    form: dict[str, str] | None = None,
    refund: dict | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    """Give money back from a payment: the amount (the whole remaining by default) and a reason, a step to
    confirm them, then what the payment service said, in plain words, with the refund's number."""
    data = await page.run("RefundPage", id=page.request.path_params["payment_id"])
    return page.render(
        "billing/refund.html",
        status_code=status_code,
        payment=data["payment"],
        step=step,
        form=form or {},
        refund=refund,
        error=error,
    )


async def refund_check(page: Page) -> Response:
    form = await form_with_csrf(page.request)
    amount, reason, error = _refund_form(page, form)
    if error:
        return await refund_page(page, form=form, error=error, status_code=400)
    return await refund_page(
        page,
        step="confirm",
        form={"amount": yuan(amount), "reason": reason, "key": secrets.token_urlsafe(16)},
    )


async def refund_send(page: Page) -> Response:
    form = await form_with_csrf(page.request)
    amount, reason, error = _refund_form(page, form)
    if error:
        return await refund_page(page, form=form, error=error, status_code=400)
    data = (
        await page.run(
            "RefundPayment",
            id=page.request.path_params["payment_id"],
            amountFen=amount,
            reason=reason,
            idempotencyKey=form.get("key", ""),
        )
    )["refundPayment"]
    if data["__typename"] != "PaymentRefunded":
        return await refund_page(page, form=form, error=data["message"], status_code=400)
    return await refund_page(page, step="done", refund=data["refund"])


async def fee_plans(page: Page, *, error: str | None = None, status_code: int = 200) -> Response:
    data = await page.run("FeePlansPage", communityId=page.request.path_params["community_id"])
    return page.render("billing/fee_plans.html", status_code=status_code, error=error, **data)


async def create_plan(page: Page) -> Response:
    form = await form_with_csrf(page.request)
    language = page.context.language
    items = []
    try:
        items.append(
            {
                "name": i18n.gettext("Property service", language),
                "kind": "per_m2",
                "package": "base",
                "unitPriceFen": parse_yuan(form.get("unit_price", "")),
            }
        )
        if form.get("fixed_name", "").strip():
            items.append(
                {
                    "name": form["fixed_name"].strip(),
                    "kind": "per_household",
                    "package": "base",
                    "unitPriceFen": parse_yuan(form.get("fixed_price", "")),
                }
            )
        if form.get("addon_name", "").strip():
            items.append(
                {
                    "name": form["addon_name"].strip(),
                    "kind": "per_m2",
                    "package": form["addon_name"].strip(),
                    "unitPriceFen": parse_yuan(form.get("addon_price", "")),
                }
            )
    except ValueError:
        return await fee_plans(
            page, error=i18n.gettext("Enter an amount above zero.", language), status_code=400
        )
    data = (
        await page.run(
            "CreateFeePlan",
            communityId=page.request.path_params["community_id"],
            planName=form.get("name", ""),
            phase=form.get("phase", "trial"),
            periodMonths=3 if form.get("period_months") == "3" else 1,
            items=items,
        )
    )["createFeePlan"]
    if data["__typename"] != "FeePlanSaved":
        return await fee_plans(page, error=data["message"], status_code=400)
    return page.redirect(f"/staff/communities/{page.request.path_params['community_id']}/fee-plans")


async def activate_plan(page: Page) -> Response:
    form = await form_with_csrf(page.request)
    decided_on = form.get("decided_on", "").strip()[:10]
    reference = form.get("decision_ref", "").strip()
    data = (
        await page.run(
            "ActivateFeePlan",
            id=page.request.path_params["plan_id"],
            decisionRef=f"{reference} ({decided_on})" if reference and decided_on else reference,
        )
    )["activateFeePlan"]
    if data["__typename"] != "FeePlanSaved":
        return await fee_plans(page, error=data["message"], status_code=400)
    return page.redirect(f"/staff/communities/{page.request.path_params['community_id']}/fee-plans")


def _fund(page: Page) -> str | None:
    fund = page.request.query_params.get("fund")
    return fund if fund in {f.value for f in Fund} else None


def _period(page: Page) -> dict[str, str | None]:
    """from and to (YYYY-MM-DD, Asia/Shanghai days, both included); anything else is no bound."""
    found: dict[str, str | None] = {}
    for param, var in (("from", "fromDate"), ("to", "toDate")):
        try:
            found[var] = date.fromisoformat(page.request.query_params.get(param, "")).isoformat()
        except ValueError:
            found[var] = None
    return found


def _period_query(period: dict[str, str | None]) -> str:
    return urlencode({k: v for k, v in (("from", period["fromDate"]), ("to", period["toDate"])) if v})


async def staff_ledger(page: Page, *, error: str | None = None, status_code: int = 200) -> Response:
    fund = _fund(page)
    expenses = page.request.query_params.get("fund") == "expenses"
    period = _period(page)
    data = await page.run(
        "LedgerPage",
        communityId=page.request.path_params["community_id"],
        fund=fund,
        expensesOnly=expenses,
        first=100,
        after=page.request.query_params.get("after"),
        **period,
    )
    photos = await billing.ledger_attachments(
        page.context.session,
        actor=page.context.actor,
        community_id=int(data["community"]["id"]),
        entry_ids=[int(n["entryId"]) for n in data["ledger"]["nodes"]],
    )
    return page.render(
        "billing/ledger.html",
        status_code=status_code,
        fund=fund or ("expenses" if expenses else ""),
        error=error,
        photos=photos,
        period=period,
        period_query=_period_query(period),
        **data,
    )


async def staff_ledger_csv(page: Page) -> Response:
    fund = _fund(page)
    expenses = page.request.query_params.get("fund") == "expenses"
    period = _period(page)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        [
            "line",
            "entry",
            "time",
            "fund",
            "account",
            "kind",
            "memo",
            "debit_yuan",
            "credit_yuan",
            "attachment",
        ]
    )
    after = None
    while True:
        data = await page.run(
            "LedgerPage",
            communityId=page.request.path_params["community_id"],
            fund=fund,
            expensesOnly=expenses,
            first=100,
            after=after,
            **period,
        )
        for n in data["ledger"]["nodes"]:
            writer.writerow(
                [
                    ledger.csv_cell(value)
                    for value in (
                        n["id"],
                        n["entryId"],
                        n["createdAt"],
                        n["fund"],
                        n["account"],
                        n["kind"],
                        n["memo"],
                        n["debit"]["yuan"],
                        n["credit"]["yuan"],
                        n["attachmentRef"],
                    )
                ]
            )
        if not data["ledger"]["pageInfo"]["hasNextPage"]:
            break
        after = data["ledger"]["pageInfo"]["endCursor"]
    span = (
        "".join(f"-{v}" for v in (period["fromDate"] or "start", period["toDate"] or "now"))
        if period["fromDate"] or period["toDate"]
        else ""
    )
    name = f"ledger-{page.request.path_params['community_id']}-{fund or ('expenses' if expenses else 'all')}{span}.csv"
    return Response(
        "\ufeff" + out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"},
    )


async def staff_entry(page: Page) -> Response:
    """Record public income or an expense; a photo of the invoice (multipart, optional) goes through the
    media service and is linked to the entry in the same transaction."""
    request = page.request
    if request.path_params["what"] not in ("income", "expense"):
        raise HTTPException(404, "not found")
    raw = await request.form(max_files=1, max_fields=10, max_part_size=media.MAX_IMAGE_BYTES + 1024)
    if not check_csrf(request, str(raw.get("csrf_token", ""))):
        raise HTTPException(403, "csrf")
    form = {k: v for k, v in raw.items() if isinstance(v, str)}
    what = request.path_params["what"]
    community_id = request.path_params["community_id"]
    try:
        amount = parse_yuan(form.get("amount", ""))
    except ValueError:
        return await staff_ledger(
            page,
            error=i18n.gettext("Enter an amount above zero.", page.context.language),
            status_code=400,
        )
    try:
        stored = await store_posted_file(
            page,
            raw.get("photo"),
            kind="image",
            community_id=int(community_id) if community_id.isdigit() else 0,
        )
    except LaoyouError as exc:  # refused before anything is stored
        return await staff_ledger(
            page, error=i18n.gettext(exc.message, page.context.language, **exc.params), status_code=400
        )
    photo_id = stored.id if stored is not None else None
    operation = "RecordIncome" if what == "income" else "RecordExpense"
    data = await page.run(
        operation,
        communityId=community_id,
        fund=form.get("fund", ""),
        amountFen=amount,
        memo=form.get("memo", ""),
        attachmentRef=form.get("attachment_ref", ""),
        invoicePhotoId=photo_id,
    )
    result = data["recordIncome" if what == "income" else "recordExpense"]
    if result["__typename"] != "LedgerEntryRecorded":
        return await staff_ledger(page, error=result["message"], status_code=400)
    return page.redirect(f"/staff/communities/{community_id}/ledger")


PAGES = (
    PageRoute("GET", "/staff/communities/{community_id}/billing", staff_billing),
    PageRoute("POST", "/staff/communities/{community_id}/billing/run", staff_run),
    PageRoute("GET", "/staff/districts/{district_id}/billing", district_billing, staff=True),
    PageRoute("POST", "/staff/districts/{district_id}/billing/run", district_run, staff=True),
    PageRoute("GET", "/staff/households/{household_id}/bills", staff_household),
    PageRoute("POST", "/staff/households/{household_id}/bills/cash", staff_cash),
    PageRoute("POST", "/staff/households/{household_id}/bills/waive", staff_waive),
    PageRoute("GET", "/staff/payments/{payment_id}/refund", refund_page, staff=True, may="take_money"),
    PageRoute("POST", "/staff/payments/{payment_id}/refund", refund_check, staff=True, may="take_money"),
    PageRoute("POST", "/staff/payments/{payment_id}/refund/send", refund_send, staff=True, may="take_money"),
    PageRoute("POST", "/staff/households/{household_id}/bills/qr", staff_counter_qr, staff=True),
    PageRoute("GET", "/staff/payments/{payment_id}/qr", staff_counter_qr_page, staff=True),
    PageRoute("POST", "/staff/payments/{payment_id}/qr/refresh", staff_counter_qr_refresh, staff=True),
    PageRoute("GET", "/staff/communities/{community_id}/fee-plans", fee_plans),
    PageRoute("POST", "/staff/communities/{community_id}/fee-plans", create_plan),
    PageRoute("POST", "/staff/communities/{community_id}/fee-plans/{plan_id}/activate", activate_plan),
    PageRoute("GET", "/staff/communities/{community_id}/ledger", staff_ledger),
    PageRoute("GET", "/staff/communities/{community_id}/ledger.csv", staff_ledger_csv),
    PageRoute("POST", "/staff/communities/{community_id}/ledger/{what}", staff_entry),
)
