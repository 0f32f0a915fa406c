"""Billing pages: my bills, paying (through the sandbox cashier in demo and dev), the result that
survives a lost connection, receipts; for staff: bill runs, cash, waivers, arrears, collection rate and
each fund's ledger with CSV export. Also the gateways' notify endpoints."""

from __future__ import annotations

import csv
import io
import secrets
from datetime import date
from urllib.parse import urlencode

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import Response
from starlette.datastructures import UploadFile

from laoyou.billing import ledger
from laoyou.billing import service as billing
from laoyou.billing.gateways import lower_headers, unit_of_work
from laoyou.billing.gateways.registry import gateways
from laoyou.billing.models import Fund, Payment
from laoyou.billing.money import parse_yuan, yuan
from laoyou.core import i18n
from laoyou.core.errors import LaoyouError, NotFound
from laoyou.core.events import commit_and_publish
from laoyou.core.settings import Settings
from laoyou.core.time import SHANGHAI, utcnow
from laoyou.media import service as media
from laoyou.web.render import OperationFailed, Page, check_csrf, form_with_csrf, page_endpoint


def this_period() -> str:
    return utcnow().astimezone(SHANGHAI).strftime("%Y-%m")


async def deliver(
    session,  # noqa: ANN001
    provider: str,
    headers: dict[str, str],
    body: bytes,
    *,
    settings: Settings,
) -> tuple[int, bytes, str, str]:
    """Hand one notification to the billing service (the notify endpoint and the sandbox cashier share this
    road); the caller ends the unit of work, one per notification."""
    gateway = gateways(settings).get(provider)
    if gateway is None:
        raise HTTPException(404, "no such gateway")
    reply, outcome = await billing.do_receive_notification(
        session, gateway=gateway, headers=headers, body=body
    )
    return reply.status_code, reply.body, reply.media_type, outcome


def install(app: FastAPI) -> None:
    # --- gateways' notifications ------------------------------------------------------------------

    @app.post("/billing/notify/{provider}", include_in_schema=False)
    async def notify(provider: str, request: Request) -> Response:
        body = await request.body()
        async with request.app.state.sessionmaker() as session:
            status, content, media_type, _ = await deliver(
                session, provider, lower_headers(request.headers), body, settings=request.app.state.settings
            )
            # This endpoint is its request's boundary (no page, no GraphQL): commit, then publish.
            await commit_and_publish(session, request.app.state.pubsub)
        return Response(content, status_code=status, media_type=media_type)

    # --- resident ---------------------------------------------------------------------------------

    async def my_bills(page: Page, *, error: str | None = None, status_code: int = 200) -> Response:
        data = await page.run("MyBillsPage")
        bills_by_household: dict[str, list] = {}
        for bill in data["myBills"]:
            bills_by_household.setdefault(bill["household"]["id"], []).append(bill)
        return page.render(
            "billing/my_bills.html",
            status_code=status_code,
            viewer=data["viewer"],
            bills=bills_by_household,
            due={d["householdId"]: d["due"] for d in data["myAmountsDue"]},
            methods=data["paymentMethods"],
            error=error,
            pay_key=secrets.token_urlsafe(16),
        )

    app.add_api_route("/bills", page_endpoint(my_bills), methods=["GET"], include_in_schema=False)

    async def pay(page: Page) -> Response:
        form = await form_with_csrf(page.request)
        bill_ids = [b for b in form.get("bill_ids", "").split(",") if b]
        data = (
            await page.run(
                "PayBills",
                billIds=bill_ids,
                idempotencyKey=form.get("key", ""),
                method=form.get("method") or None,
            )
        )["payBills"]
        if data["__typename"] != "PaymentSaved":
            return await my_bills(page, error=data["message"], status_code=400)
        payment = data["payment"]
        if payment["status"] == "pending" and payment["payUrl"]:
            return page.redirect(payment["payUrl"])
        return page.redirect(f"/payments/{payment['id']}")

    app.add_api_route("/bills/pay", page_endpoint(pay), methods=["POST"], include_in_schema=False)

    async def payment_page(page: Page) -> Response:
        data = await page.run("PaymentPage", id=page.request.path_params["payment_id"])
        return page.render("billing/payment.html", payment=data["payment"])

    app.add_api_route(
        "/payments/{payment_id}", page_endpoint(payment_page), methods=["GET"], include_in_schema=False
    )

    async def refresh(page: Page) -> Response:
        await form_with_csrf(page.request)
        payment_id = page.request.path_params["payment_id"]
        await page.run("RefreshPayment", id=payment_id)
        return page.redirect(f"/payments/{payment_id}")

    app.add_api_route(
        "/payments/{payment_id}/refresh", page_endpoint(refresh), methods=["POST"], include_in_schema=False
    )

    async def receipts(page: Page) -> Response:
        data = await page.run("MyReceipts")
        return page.render("billing/receipts.html", payments=data["myPayments"]["nodes"])

    app.add_api_route("/receipts", page_endpoint(receipts), methods=["GET"], include_in_schema=False)

    async def receipt(page: Page) -> Response:
        data = await page.run("ReceiptPage", id=page.request.path_params["payment_id"])
        if data["payment"]["status"] == "pending":
            return page.redirect(f"/payments/{data['payment']['id']}")
        return page.render("billing/receipt.html", payment=data["payment"])

    app.add_api_route(
        "/receipts/{payment_id}", page_endpoint(receipt), methods=["GET"], include_in_schema=False
    )

    if not app.state.settings.is_production:
        _install_sandbox_cashier(app)

    # --- staff ------------------------------------------------------------------------------------

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

    app.add_api_route(
        "/staff/communities/{community_id}/billing",
        page_endpoint(staff_billing),
        methods=["GET"],
        include_in_schema=False,
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

    app.add_api_route(
        "/staff/communities/{community_id}/billing/run",
        page_endpoint(staff_run),
        methods=["POST"],
        include_in_schema=False,
    )

    async def staff_household(
        page: Page, *, error: str | None = None, done: str | None = None, status_code: int = 200
    ) -> Response:
        data = await page.run("StaffHouseholdBills", householdId=page.request.path_params["household_id"])
        return page.render(
            "billing/staff_household.html",
            status_code=status_code,
            household=data["household"],
            bills=data["householdBills"]["nodes"],
            error=error,
            done=done,
            key=secrets.token_urlsafe(16),
        )

    app.add_api_route(
        "/staff/households/{household_id}/bills",
        page_endpoint(staff_household),
        methods=["GET"],
        include_in_schema=False,
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

    app.add_api_route(
        "/staff/households/{household_id}/bills/cash",
        page_endpoint(staff_cash),
        methods=["POST"],
        include_in_schema=False,
    )

    async def staff_waive(page: Page) -> Response:
        form = await form_with_csrf(page.request)
        data = (await page.run("WaiveBill", id=form.get("bill_id", ""), reason=form.get("reason", "")))[
            "waiveBill"
        ]
        if data["__typename"] != "BillSaved":
            return await staff_household(page, error=data["message"], status_code=400)
        return page.redirect(f"/staff/households/{page.request.path_params['household_id']}/bills")

    app.add_api_route(
        "/staff/households/{household_id}/bills/waive",
        page_endpoint(staff_waive),
        methods=["POST"],
        include_in_schema=False,
    )

    async def fee_plans(page: Page, *, error: str | None = None, status_code: int = 200) -> Response:
        data = await page.run("FeePlansPage", communityId=page.request.path_params["community_id"])
        return page.render("billing/fee_plans.html", status_code=status_code, error=error, **data)

    app.add_api_route(
        "/staff/communities/{community_id}/fee-plans",
        page_endpoint(fee_plans),
        methods=["GET"],
        include_in_schema=False,
    )

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

    app.add_api_route(
        "/staff/communities/{community_id}/fee-plans",
        page_endpoint(create_plan),
        methods=["POST"],
        include_in_schema=False,
    )

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

    app.add_api_route(
        "/staff/communities/{community_id}/fee-plans/{plan_id}/activate",
        page_endpoint(activate_plan),
        methods=["POST"],
        include_in_schema=False,
    )

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

    app.add_api_route(
        "/staff/communities/{community_id}/ledger",
        page_endpoint(staff_ledger),
        methods=["GET"],
        include_in_schema=False,
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

    app.add_api_route(
        "/staff/communities/{community_id}/ledger.csv",
        page_endpoint(staff_ledger_csv),
        methods=["GET"],
        include_in_schema=False,
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
        photo_id = None
        upload = raw.get("photo")
        if isinstance(upload, UploadFile) and upload.filename:
            data = await upload.read(media.MAX_IMAGE_BYTES + 1)
            try:
                stored = await media.do_store_upload(
                    page.context.session,
                    settings=page.context.settings,
                    storage=request.app.state.storage,
                    actor=page.context.actor,
                    data=data,
                    community_id=int(community_id) if community_id.isdigit() else 0,
                    allowed={"image"},
                )
            except LaoyouError as exc:  # refused before anything is stored
                return await staff_ledger(
                    page,
                    error=i18n.gettext(exc.message, page.context.language, **exc.params),
                    status_code=400,
                )
            photo_id = stored.id
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

    app.add_api_route(
        "/staff/communities/{community_id}/ledger/{what}",
        page_endpoint(staff_entry),
        methods=["POST"],
        include_in_schema=False,
    )


def _install_sandbox_cashier(app: FastAPI) -> None:
    """The sandbox cashier (stands in for WeChat Pay's own page): demo and dev only, for the payer's side only."""
    settings = app.state.settings

    async def sandbox_order(page: Page) -> tuple[Payment, object]:
        number = page.request.path_params["out_trade_no"]
        try:
            payment = await billing.access_payment_to_confirm(
                page.context.session, actor=page.context.actor, out_trade_no=number
            )
        except NotFound:
            raise HTTPException(404, "not found") from None
        with unit_of_work(page.context.session):
            order = await gateways(settings).sandbox.load(number)  # from the database after a restart
        if order is None:
            raise HTTPException(404, "not found")
        return payment, order

    async def sandbox_cashier(page: Page) -> Response:
        payment, order = await sandbox_order(page)
        return page.render(
            "billing/sandbox_pay.html",
            payment_id=payment.id,
            order=order,
            amount=yuan(order.amount_fen),
            merchant=gateways(settings).sandbox.merchant_id,
        )

    app.add_api_route(
        "/pay/sandbox/{out_trade_no}",
        page_endpoint(sandbox_cashier),
        methods=["GET"],
        include_in_schema=False,
    )

    async def sandbox_confirm(page: Page) -> Response:
        await form_with_csrf(page.request)
        payment, order = await sandbox_order(page)
        sandbox = gateways(settings).sandbox
        deliveries = sandbox.pay(order.out_trade_no)
        with unit_of_work(page.context.session):
            await sandbox.save(order.out_trade_no)
        await page.context.commit()
        for delivery in deliveries:
            # In-process, on the page's session: byte for byte what the notify endpoint receives, and like it
            # one unit of work per notification.
            await deliver(
                page.context.session,
                "sandbox",
                lower_headers(delivery.headers),
                delivery.body,
                settings=settings,
            )
            await page.context.commit()
        return page.redirect(f"/payments/{payment.id}")

    app.add_api_route(
        "/pay/sandbox/{out_trade_no}",
        page_endpoint(sandbox_confirm),
        methods=["POST"],
        include_in_schema=False,
    )


def _(message: str) -> str:
    """Marks a msgid for extraction; the templates translate these words with _(value)."""
    return message


# Words the templates show by value: bill and payment states, methods, phases, funds and accounts.
LABELS = (
    _("open"),
    _("partly_paid"),
    _("paid"),
    _("waived"),
    _("cancelled"),
    _("statement"),
    _("pending"),
    _("failed"),
    _("refunded"),
    _("sandbox"),
    _("wechat"),
    _("alipay"),
    _("cash"),
    _("bank_transfer"),
    _("trial"),
    _("cost"),
    _("market"),
    _("draft"),
    _("active"),
    _("retired"),
    _("property_fee"),
    _("maintenance_fund"),
    _("public_income"),
    _("receivable"),
    _("fee_income"),
    _("fee_waived"),
    _("advance_received"),
    _("shared_cost_payable"),
    _("fund_balance"),
    _("income"),
    _("expense"),
)
