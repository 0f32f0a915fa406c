"""GraphQL for fee plans, bills, payments, receipts and each community's books."""

from __future__ import annotations

from datetime import date, datetime

import segno
import strawberry

from laoyou.billing import models
from laoyou.billing import service as billing
from laoyou.billing.gateways.registry import gateways
from laoyou.billing.gateways.wechatpay import WeChatPayGateway
from laoyou.billing.money import capitals, yuan
from laoyou.billing.service import payments as billing_payments
from laoyou.core import i18n
from laoyou.core.errors import LaoyouError
from laoyou.core.time import as_utc
from laoyou.estates.schema import Building, Community, District, FloorArea, Household
from laoyou.graphql.context import Info
from laoyou.graphql.errors import error_type, mutation_boundary, result_union
from laoyou.graphql.permissions import IsAuthenticated, IsStaff
from laoyou.graphql.types import (
    Connection,
    PageInfo,
    connection,
    decode_id,
    encode_id,
    format_area,
    page_args,
)

PhaseEnum = strawberry.enum(models.Phase, name="FeePhase", description="trial (free), cost recovery, market")
PlanStatusEnum = strawberry.enum(models.PlanStatus, name="FeePlanStatus")
ItemKindEnum = strawberry.enum(models.ItemKind, name="FeeItemKind")
BillStatusEnum = strawberry.enum(models.BillStatus, name="BillStatus")
PaymentMethodEnum = strawberry.enum(models.PaymentMethod, name="PaymentMethod")
PaymentStatusEnum = strawberry.enum(models.PaymentStatus, name="PaymentStatus")
RefundStatusEnum = strawberry.enum(
    models.RefundStatus,
    name="RefundStatus",
    description="pending (asked, not confirmed: checked again automatically, never paid twice), succeeded, "
    "failed (nothing moved)",
)
FundEnum = strawberry.enum(models.Fund, name="Fund")
AccountEnum = strawberry.enum(models.Account, name="LedgerAccount")


JSAPI_PACKAGE = billing_payments.JSAPI_PACKAGE


@strawberry.type(description="The signed parameters of WeixinJSBridge.invoke('getBrandWCPayRequest').")
class WechatPay:
    app_id: str = strawberry.field(name="appId")
    time_stamp: str = strawberry.field(name="timeStamp")
    nonce_str: str = strawberry.field(name="nonceStr")
    package: str
    sign_type: str = strawberry.field(name="signType")
    pay_sign: str = strawberry.field(name="paySign")


@strawberry.type(description="An amount of money; fen is exact, the rest are for showing.")
class Money:
    fen: int

    @strawberry.field(description="Yuan with two decimals, e.g. 123.45.")
    def yuan(self) -> str:
        return yuan(self.fen)

    @strawberry.field(description="In Chinese financial capitals (大写), e.g. 壹佰贰拾叁元肆角伍分.")
    def capitals(self) -> str:
        return capitals(self.fen)


def money(fen: int) -> Money:
    return Money(fen=fen)


@strawberry.type(description="What a household owes on the bills listed.")
class HouseholdDue:
    household_id: strawberry.ID
    due: Money


@strawberry.type(
    description="Bills chosen to be paid together, checked as payBills checks them, and their total."
)
class PayPreview:
    bills: list[Bill] = strawberry.field(description="Oldest first.")
    total: Money
    problem: str | None = strawberry.field(
        description="Why they cannot be paid together, in the viewer's language; payBills would refuse them."
    )


@strawberry.type
class FeePlanItem:
    row: strawberry.Private[models.FeePlanItem]

    @strawberry.field
    def package(self) -> str:
        return self.row.package

    @strawberry.field
    def name(self) -> str:
        return self.row.name

    @strawberry.field
    def kind(self) -> ItemKindEnum:  # type: ignore[valid-type]
        return models.ItemKind(self.row.kind)

    @strawberry.field(description="Fen per m² per month, or per household per month.")
    def unit_price(self) -> Money:
        return money(self.row.unit_price_fen)


@strawberry.type(description="A versioned fee plan of a community or of a whole district.")
class FeePlan:
    row: strawberry.Private[models.FeePlan]

    @strawberry.field
    def id(self) -> strawberry.ID:
        return encode_id(self.row.id)

    @strawberry.field
    def name(self) -> str:
        return self.row.name

    @strawberry.field
    def version(self) -> int:
        return self.row.version

    @strawberry.field
    def phase(self) -> PhaseEnum:  # type: ignore[valid-type]
        return models.Phase(self.row.phase)

    @strawberry.field
    def status(self) -> PlanStatusEnum:  # type: ignore[valid-type]
        return models.PlanStatus(self.row.status)

    @strawberry.field(description="1 monthly, 3 quarterly.")
    def period_months(self) -> int:
        return self.row.period_months

    @strawberry.field(description="True when the plan is set for the whole district.")
    def is_district_plan(self) -> bool:
        return self.row.community_id is None

    @strawberry.field
    async def district(self, info: Info) -> District:
        return District(row=await info.context.loaders.district_by_id.load(self.row.district_id))

    @strawberry.field
    async def community(self, info: Info) -> Community | None:
        if self.row.community_id is None:
            return None
        return Community(row=await info.context.loaders.community_by_id.load(self.row.community_id))

    @strawberry.field
    def approved_at(self) -> datetime | None:
        return as_utc(self.row.approved_at) if self.row.approved_at else None

    @strawberry.field
    async def approved_by_name(self, info: Info) -> str | None:
        if self.row.approved_by_id is None:
            return None
        return await info.context.loaders.person_name_by_id.load(self.row.approved_by_id)

    @strawberry.field(description="The owners' decision that approved it.")
    def decision_ref(self) -> str:
        return self.row.decision_ref

    @strawberry.field
    async def items(self, info: Info) -> list[FeePlanItem]:
        return [
            FeePlanItem(row=i) for i in await info.context.loaders.fee_plan_items_by_plan.load(self.row.id)
        ]


@strawberry.type
class BillLine:
    name: str
    package: str
    kind: ItemKindEnum  # type: ignore[valid-type]
    unit_price: Money
    quantity: str = strawberry.field(
        description="Square metres for per-m² items, 1.00 for per-household items."
    )
    months: int
    amount: Money


@strawberry.type(description="What one household owes for one period.")
class Bill:
    row: strawberry.Private[models.Bill]

    @strawberry.field
    def id(self) -> strawberry.ID:
        return encode_id(self.row.id)

    @strawberry.field(description="2026-05, or 2026-Q2 for a quarterly plan.")
    def period(self) -> str:
        return self.row.period

    @strawberry.field
    def period_start(self) -> date:
        return self.row.period_start

    @strawberry.field
    def period_end(self) -> date:
        return self.row.period_end

    @strawberry.field
    def due_date(self) -> date:
        return self.row.due_date

    @strawberry.field
    def status(self) -> BillStatusEnum:  # type: ignore[valid-type]
        return models.BillStatus(self.row.status)

    @strawberry.field
    def amount(self) -> Money:
        return money(self.row.amount_fen)

    @strawberry.field(description="What the service costs; in the trial phase nothing is charged.")
    def would_be(self) -> Money:
        return money(self.row.would_be_fen)

    @strawberry.field
    def paid(self) -> Money:
        return money(self.row.paid_fen)

    @strawberry.field
    def waived(self) -> Money:
        return money(self.row.waived_fen)

    @strawberry.field
    def outstanding(self) -> Money:
        return money(self.row.outstanding_fen)

    @strawberry.field(
        description="A payment of this bill still waiting for the payment service: paying the bill again waits "
        "for it (payBills refuses the bill meanwhile)."
    )
    async def waiting_payment(self, info: Info) -> Payment | None:
        if self.row.outstanding_fen <= 0:
            return None
        for payment in await info.context.loaders.waiting_payments_by_household.load(self.row.household_id):
            if self.row.id in payment.bill_ids:
                return Payment(row=payment)
        return None

    @strawberry.field
    def is_trial_statement(self) -> bool:
        return self.row.status == models.BillStatus.statement.value

    @strawberry.field
    def overdue(self) -> bool:
        return billing.is_overdue(self.row)

    @strawberry.field
    def waived_reason(self) -> str:
        return self.row.waived_reason

    @strawberry.field
    def floor_area(self) -> FloorArea:
        return FloorArea(centi_square_metres=self.row.floor_area_centi_m2)

    @strawberry.field
    def lines(self) -> list[BillLine]:
        return [
            BillLine(
                name=line["name"],
                package=line["package"],
                kind=models.ItemKind(line["kind"]),
                unit_price=money(line["unit_price_fen"]),
                quantity=format_area(line["quantity_centi"]),
                months=line["months"],
                amount=money(line["amount_fen"]),
            )
            for line in self.row.lines
        ]

    @strawberry.field
    async def household(self, info: Info) -> Household:
        return Household(row=await info.context.loaders.household_by_id.load(self.row.household_id))

    @strawberry.field
    async def community(self, info: Info) -> Community:
        return Community(row=await info.context.loaders.community_by_id.load(self.row.community_id))

    @strawberry.field
    async def plan(self, info: Info) -> FeePlan:
        return FeePlan(row=await info.context.loaders.fee_plan_by_id.load(self.row.plan_id))


@strawberry.type(description="Money given back from a payment.")
class Refund:
    row: strawberry.Private[models.Refund]

    @strawberry.field
    def id(self) -> strawberry.ID:
        return encode_id(self.row.id)

    @strawberry.field(description="The refund's number at the payment service (out_refund_no).")
    def number(self) -> str:
        return self.row.out_refund_no or ""

    @strawberry.field
    def status(self) -> RefundStatusEnum:  # type: ignore[valid-type]
        return models.RefundStatus(self.row.status)

    @strawberry.field
    def amount(self) -> Money:
        return money(self.row.amount_fen)

    @strawberry.field
    def reason(self) -> str:
        return self.row.reason

    @strawberry.field
    def created_at(self) -> datetime:
        return as_utc(self.row.created_at)

    @strawberry.field
    def confirmed_at(self) -> datetime | None:
        return as_utc(self.row.confirmed_at) if self.row.confirmed_at else None


@strawberry.type(description="One payment: online, cash or bank transfer; its receipt once paid.")
class Payment:
    row: strawberry.Private[models.Payment]

    @strawberry.field
    def id(self) -> strawberry.ID:
        return encode_id(self.row.id)

    @strawberry.field
    def status(self) -> PaymentStatusEnum:  # type: ignore[valid-type]
        return models.PaymentStatus(self.row.status)

    @strawberry.field
    def method(self) -> PaymentMethodEnum:  # type: ignore[valid-type]
        return models.PaymentMethod(self.row.method)

    @strawberry.field
    def amount(self) -> Money:
        return money(self.row.amount_fen)

    @strawberry.field
    def refunded(self) -> Money:
        return money(self.row.refunded_fen)

    @strawberry.field(description="Received for bills that were settled another way meanwhile.")
    def unapplied(self) -> Money:
        return money(self.row.unapplied_fen)

    @strawberry.field(description="Newest first.")
    async def refunds(self, info: Info) -> list[Refund]:
        rows = await info.context.loaders.refunds_by_payment.load(self.row.id)
        return [Refund(row=r) for r in reversed(rows)]

    @strawberry.field(description="What may still be given back: paid, less refunds made or still pending.")
    async def refundable(self, info: Info) -> Money:
        rows = await info.context.loaders.refunds_by_payment.load(self.row.id)
        return money(billing.refundable_fen(self.row, rows))

    @strawberry.field
    def receipt_number(self) -> str:
        return self.row.receipt_number

    @strawberry.field(description="The office's paper receipt or the bank reference.")
    def office_receipt_no(self) -> str:
        return self.row.office_receipt_no

    @strawberry.field(description="Where to go to pay, while the payment is pending.")
    def pay_url(self) -> str:
        url = self.row.pay_url
        if self.row.status != models.PaymentStatus.pending.value or url.startswith(
            (JSAPI_PACKAGE, "weixin://")
        ):
            return ""  # JSAPI and Native orders are paid in WeChat, through wechatPay and payQrSvg
        return url

    @strawberry.field(
        description="Inside WeChat, while pending and only for the payer: what WeixinJSBridge's "
        "getBrandWCPayRequest is handed, signed afresh by the merchant key."
    )
    def wechat_pay(self, info: Info) -> WechatPay | None:
        row, person = self.row, info.context.actor.person
        if (
            row.status != models.PaymentStatus.pending.value
            or not row.pay_url.startswith(JSAPI_PACKAGE)
            or person is None
            or row.payer_id != person.id
        ):
            return None
        gateway = gateways(info.context.settings).get(row.method)
        if not isinstance(gateway, WeChatPayGateway):
            return None
        signed = gateway.jsapi_params(row.pay_url.removeprefix(JSAPI_PACKAGE))
        return WechatPay(
            app_id=signed["appId"],
            time_stamp=signed["timeStamp"],
            nonce_str=signed["nonceStr"],
            package=signed["package"],
            sign_type=signed["signType"],
            pay_sign=signed["paySign"],
        )

    @strawberry.field(
        description="While pending, for an order paid by scanning (WeChat Pay Native, or the sandbox "
        "cashier in the demo): the QR code as an SVG document."
    )
    def pay_qr_svg(self, info: Info) -> str | None:
        row = self.row
        if row.status != models.PaymentStatus.pending.value:
            return None
        if row.pay_url.startswith("weixin://"):
            content = row.pay_url
        elif row.method == models.PaymentMethod.sandbox.value and row.pay_url.startswith("/pay/sandbox/"):
            content = info.context.settings.public_url.rstrip("/") + row.pay_url
        else:
            return None
        return segno.make(content, error="m").svg_inline(scale=6, border=2, title=row.receipt_number)

    @strawberry.field
    def receipt_url(self) -> str | None:
        return f"/receipts/{self.row.id}" if self.row.status != models.PaymentStatus.pending.value else None

    @strawberry.field
    def created_at(self) -> datetime:
        return as_utc(self.row.created_at)

    @strawberry.field
    def paid_at(self) -> datetime | None:
        return as_utc(self.row.paid_at) if self.row.paid_at else None

    @strawberry.field(description="After it an online order takes no payment.")
    def expires_at(self) -> datetime | None:
        return as_utc(self.row.expires_at) if self.row.expires_at else None

    @strawberry.field
    async def bills(self, info: Info) -> list[Bill]:
        rows = await info.context.loaders.bill_by_id.load_many(self.row.bill_ids)
        return [Bill(row=b) for b in rows if b is not None]

    @strawberry.field
    async def household(self, info: Info) -> Household:
        return Household(row=await info.context.loaders.household_by_id.load(self.row.household_id))

    @strawberry.field
    async def community(self, info: Info) -> Community:
        return Community(row=await info.context.loaders.community_by_id.load(self.row.community_id))


@strawberry.type(description="A community's bill run for one period; resumable.")
class BillRun:
    row: strawberry.Private[models.BillRun]

    @strawberry.field
    def id(self) -> strawberry.ID:
        return encode_id(self.row.id)

    @strawberry.field
    def period(self) -> str:
        return self.row.period

    @strawberry.field(description="Households in the community when the run started.")
    def total(self) -> int:
        return self.row.total

    @strawberry.field
    def processed(self) -> int:
        return self.row.processed

    @strawberry.field(description="Bills this run created (a repeated run creates none).")
    def created(self) -> int:
        return self.row.created

    @strawberry.field
    def finished(self) -> bool:
        return self.row.finished_at is not None

    @strawberry.field
    async def community(self, info: Info) -> Community:
        return Community(row=await info.context.loaders.community_by_id.load(self.row.community_id))


@strawberry.type(description="One community's part of a district's bill run.")
class DistrictRunLine:
    community: Community
    run: BillRun | None = strawberry.field(description="None until its run is started.")
    problem: str | None = strawberry.field(
        description="Why it is not billed (no active plan, a period its plan does not use), in the viewer's "
        "language."
    )


@strawberry.type(description="A district's bill run for one period: every community's run, resumable.")
class DistrictBillRun:
    period: str
    communities: list[DistrictRunLine]

    @strawberry.field(description="Every community that can be billed is done.")
    def finished(self) -> bool:
        return all(
            line.run is not None and line.run.row.finished_at is not None or line.problem
            for line in self.communities
        )


def _district_run(info: Info, period: str, lines: list[billing.DistrictRunLine]) -> DistrictBillRun:
    language = info.context.language
    return DistrictBillRun(
        period=period,
        communities=[
            DistrictRunLine(
                community=Community(row=line.community),
                run=BillRun(row=line.run) if line.run is not None else None,
                problem=i18n.gettext(line.problem.message, language, **line.problem.params)
                if line.problem
                else None,
            )
            for line in lines
        ],
    )


def _percent(permille: int) -> str:
    return f"{permille // 10}.{permille % 10}"


@strawberry.type(
    description="paid ÷ billed for a period, by count and by amount (waived amounts leave the base)."
)
class CollectionRate:
    period: str
    billed_count: int
    paid_count: int
    billed: Money
    paid: Money
    by_count_percent: str
    by_amount_percent: str


def _rate(rate: billing.CollectionRate) -> CollectionRate:
    return CollectionRate(
        period=rate.period,
        billed_count=rate.billed_count,
        paid_count=rate.paid_count,
        billed=money(rate.billed_fen),
        paid=money(rate.paid_fen),
        by_count_percent=_percent(rate.by_count_permille),
        by_amount_percent=_percent(rate.by_amount_permille),
    )


@strawberry.type
class AccountBalance:
    account: AccountEnum  # type: ignore[valid-type]
    balance: Money


@strawberry.type(description="One of a community's funds: what it holds in cash and its accounts.")
class FundBalance:
    fund: FundEnum  # type: ignore[valid-type]
    cash: Money
    accounts: list[AccountBalance]


@strawberry.type(description="One line of a community's books.")
class LedgerLine:
    row: strawberry.Private[models.JournalLine]
    entry: strawberry.Private[models.JournalEntry]

    @strawberry.field
    def id(self) -> strawberry.ID:
        return encode_id(self.row.id)

    @strawberry.field
    def entry_id(self) -> strawberry.ID:
        return encode_id(self.entry.id)

    @strawberry.field
    def fund(self) -> FundEnum:  # type: ignore[valid-type]
        return models.Fund(self.row.fund)

    @strawberry.field
    def account(self) -> AccountEnum:  # type: ignore[valid-type]
        return models.Account(self.row.account)

    @strawberry.field
    def debit(self) -> Money:
        return money(self.row.debit_fen)

    @strawberry.field
    def credit(self) -> Money:
        return money(self.row.credit_fen)

    @strawberry.field
    def kind(self) -> str:
        return self.entry.kind

    @strawberry.field
    def memo(self) -> str:
        return self.entry.memo

    @strawberry.field(description="The invoice photo or document, when one was attached.")
    def attachment_ref(self) -> str:
        return self.entry.attachment_ref

    @strawberry.field
    def created_at(self) -> datetime:
        return as_utc(self.entry.created_at)


@strawberry.type
class BuildingArrears:
    building: Building
    households: int
    bills: int
    owed: Money


# --- payloads and errors -------------------------------------------------------------------------------


@strawberry.type
class FeePlanSaved:
    plan: FeePlan


@strawberry.type
class PackageAdopted:
    community: Community
    package: str


@strawberry.type
class BillRunProgress:
    run: BillRun


@strawberry.type
class DistrictBillRunProgress:
    district_run: DistrictBillRun


@strawberry.type
class PaymentSaved:
    payment: Payment


@strawberry.type
class BillSaved:
    bill: Bill


@strawberry.type
class PaymentRefunded:
    payment: Payment
    amount: Money
    refund: Refund


@strawberry.type
class LedgerEntryRecorded:
    entry_id: strawberry.ID
    funds: list[FundBalance]


@strawberry.type
class SharedCostApportioned:
    shares: list[CommunityShare]


@strawberry.type
class CommunityShare:
    community: Community
    amount: Money


@strawberry.type
class WechatAuthorization:
    url: str = strawberry.field(
        description="open.weixin.qq.com's authorisation page, with this session's state"
    )


@strawberry.type
class WechatPayerLinked:
    linked: bool


CreateFeePlanError = error_type("CreateFeePlanError")
ActivateFeePlanError = error_type("ActivateFeePlanError")
AdoptPackageError = error_type("AdoptPackageError")
RunBillsError = error_type("RunBillsError")
RunDistrictBillsError = error_type("RunDistrictBillsError")
PayBillsError = error_type("PayBillsError")
RefreshPaymentError = error_type("RefreshPaymentError")
BeginWechatPayerLinkError = error_type("BeginWechatPayerLinkError")
LinkWechatPayerError = error_type("LinkWechatPayerError")
StartCounterPaymentError = error_type("StartCounterPaymentError")
RecordOfficePaymentError = error_type("RecordOfficePaymentError")
WaiveBillError = error_type("WaiveBillError")
CancelBillError = error_type("CancelBillError")
RefundPaymentError = error_type("RefundPaymentError")
RecordLedgerEntryError = error_type("RecordLedgerEntryError")
ApportionSharedCostError = error_type("ApportionSharedCostError")

CreateFeePlanResult = result_union("CreateFeePlanResult", FeePlanSaved, CreateFeePlanError)
ActivateFeePlanResult = result_union("ActivateFeePlanResult", FeePlanSaved, ActivateFeePlanError)
AdoptPackageResult = result_union("AdoptPackageResult", PackageAdopted, AdoptPackageError)
RunBillsResult = result_union("RunBillsResult", BillRunProgress, RunBillsError)
RunDistrictBillsResult = result_union(
    "RunDistrictBillsResult", DistrictBillRunProgress, RunDistrictBillsError
)
PayBillsResult = result_union("PayBillsResult", PaymentSaved, PayBillsError)
RefreshPaymentResult = result_union("RefreshPaymentResult", PaymentSaved, RefreshPaymentError)
BeginWechatPayerLinkResult = result_union(
    "BeginWechatPayerLinkResult", WechatAuthorization, BeginWechatPayerLinkError
)
LinkWechatPayerResult = result_union("LinkWechatPayerResult", WechatPayerLinked, LinkWechatPayerError)
StartCounterPaymentResult = result_union("StartCounterPaymentResult", PaymentSaved, StartCounterPaymentError)
RecordOfficePaymentResult = result_union("RecordOfficePaymentResult", PaymentSaved, RecordOfficePaymentError)
WaiveBillResult = result_union("WaiveBillResult", BillSaved, WaiveBillError)
CancelBillResult = result_union("CancelBillResult", BillSaved, CancelBillError)
RefundPaymentResult = result_union("RefundPaymentResult", PaymentRefunded, RefundPaymentError)
RecordLedgerEntryResult = result_union("RecordLedgerEntryResult", LedgerEntryRecorded, RecordLedgerEntryError)
ApportionSharedCostResult = result_union(
    "ApportionSharedCostResult", SharedCostApportioned, ApportionSharedCostError
)


@strawberry.input
class FeePlanItemInput:
    name: str
    kind: ItemKindEnum  # type: ignore[valid-type]
    unit_price_fen: int = strawberry.field(description="Fen per m² per month, or per household per month.")
    package: str = "base"


def _funds(rows: list[billing.FundBalance]) -> list[FundBalance]:
    return [
        FundBalance(
            fund=models.Fund(f.fund),
            cash=money(f.cash_fen),
            accounts=[
                AccountBalance(account=models.Account(a), balance=money(v))
                for a, v in sorted(f.accounts.items())
            ],
        )
        for f in rows
    ]


def _ids(values: list[strawberry.ID]) -> list[int]:
    return [decode_id(v) for v in values]


@strawberry.type
class BillingQuery:
    @strawberry.field(permission_classes=[IsAuthenticated], description="A household's bills, newest first.")
    async def household_bills(
        self,
        info: Info,
        household_id: strawberry.ID,
        unpaid_only: bool = False,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[Bill]:
        limit, cursor = page_args(info, first, after)
        page = await billing.list_household_bills(
            info.context.session,
            actor=info.context.actor,
            household_id=decode_id(household_id),
            first=limit,
            after=cursor,
            unpaid_only=unpaid_only,
        )
        return connection(page, Bill)

    @strawberry.field(
        permission_classes=[IsAuthenticated],
        description="Bills of every household the viewer lives in or follows, newest first.",
    )
    async def my_bills(self, info: Info, unpaid_only: bool = False, first: int | None = None) -> list[Bill]:
        limit, _ = page_args(info, first, None)
        rows = await billing.list_my_bills(
            info.context.session, actor=info.context.actor, first=limit, unpaid_only=unpaid_only
        )
        return [Bill(row=b) for b in rows]

    @strawberry.field(
        permission_classes=[IsAuthenticated],
        description="What is owed, per household, on the bills myBills lists with the same first.",
    )
    async def my_amounts_due(self, info: Info, first: int | None = None) -> list[HouseholdDue]:
        limit, _ = page_args(info, first, None)
        rows = await billing.list_my_bills(info.context.session, actor=info.context.actor, first=limit)
        return [
            HouseholdDue(household_id=encode_id(household_id), due=money(fen))
            for household_id, fen in billing.amounts_due(rows).items()
        ]

    @strawberry.field(
        permission_classes=[IsAuthenticated],
        description="Before paying: the total of the chosen bills, or why payBills would refuse them.",
    )
    async def pay_preview(self, info: Info, bill_ids: list[strawberry.ID]) -> PayPreview:
        context = info.context
        try:
            rows = await billing.check_bills_to_pay(
                context.session,
                actor=context.actor,
                bill_ids=_ids(bill_ids[: billing.MAX_BILLS_PER_PAYMENT + 1]),
            )
        except LaoyouError as exc:
            problem = i18n.gettext(exc.message, context.language, **exc.params)
            return PayPreview(bills=[], total=money(0), problem=problem)
        return PayPreview(
            bills=[Bill(row=b) for b in rows], total=money(sum(b.outstanding_fen for b in rows)), problem=None
        )

    @strawberry.field(permission_classes=[IsAuthenticated])
    async def bill(self, info: Info, id: strawberry.ID) -> Bill:
        return Bill(
            row=await billing.access_bill(
                info.context.session, actor=info.context.actor, bill_id=decode_id(id)
            )
        )

    @strawberry.field(permission_classes=[IsAuthenticated])
    async def payment(self, info: Info, id: strawberry.ID) -> Payment:
        row = await billing.access_payment(
            info.context.session, actor=info.context.actor, payment_id=decode_id(id)
        )
        return Payment(row=row)

    @strawberry.field(
        permission_classes=[IsAuthenticated],
        description="Payments the viewer made or that were made for their households.",
    )
    async def my_payments(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> Connection[Payment]:
        limit, cursor = page_args(info, first, after)
        page = await billing.list_my_payments(
            info.context.session, actor=info.context.actor, first=limit, after=cursor
        )
        return connection(page, Payment)

    @strawberry.field(
        permission_classes=[IsAuthenticated],
        description="A household's payments, newest first: for its people and the staff who serve it.",
    )
    async def household_payments(
        self, info: Info, household_id: strawberry.ID, first: int | None = None, after: str | None = None
    ) -> Connection[Payment]:
        limit, cursor = page_args(info, first, after)
        page = await billing.list_household_payments(
            info.context.session,
            actor=info.context.actor,
            household_id=decode_id(household_id),
            first=limit,
            after=cursor,
        )
        return connection(page, Payment)

    @strawberry.field(
        permission_classes=[IsAuthenticated], description="Online ways to pay, the default first."
    )
    def payment_methods(self, info: Info) -> list[PaymentMethodEnum]:  # type: ignore[valid-type]
        registry = gateways(info.context.settings)
        in_wechat = billing.in_wechat(info.context.actor.user_agent)
        return [models.PaymentMethod(name) for name in registry.online_methods(in_wechat=in_wechat)]

    @strawberry.field(
        permission_classes=[IsAuthenticated],
        description="The community's own plans and its district's, newest first.",
    )
    async def fee_plans(self, info: Info, community_id: strawberry.ID) -> list[FeePlan]:
        rows = await billing.list_fee_plans(
            info.context.session, actor=info.context.actor, community_id=decode_id(community_id)
        )
        return [FeePlan(row=p) for p in rows]

    @strawberry.field(
        permission_classes=[IsAuthenticated],
        description="The plan bills are made from: the community's own, else its district's.",
    )
    async def effective_fee_plan(self, info: Info, community_id: strawberry.ID) -> FeePlan | None:
        plan = await billing.effective_fee_plan(
            info.context.session, actor=info.context.actor, community_id=decode_id(community_id)
        )
        return FeePlan(row=plan) if plan else None

    @strawberry.field(permission_classes=[IsStaff])
    async def bill_run(self, info: Info, id: strawberry.ID) -> BillRun:
        return BillRun(
            row=await billing.access_bill_run(
                info.context.session, actor=info.context.actor, run_id=decode_id(id)
            )
        )

    @strawberry.field(
        permission_classes=[IsStaff],
        description="Where each community of a district stands in its bill run for a period: for the "
        "district's stewards and the admin.",
    )
    async def district_bill_run(self, info: Info, district_id: strawberry.ID, period: str) -> DistrictBillRun:
        period = period.strip()[:10]
        lines = await billing.district_bill_runs(
            info.context.session, actor=info.context.actor, district_id=decode_id(district_id), period=period
        )
        return _district_run(info, period, lines)

    @strawberry.field(
        permission_classes=[IsStaff],
        description="Of one community, one district, or everything the viewer serves.",
    )
    async def collection_rate(
        self,
        info: Info,
        period: str,
        community_id: strawberry.ID | None = None,
        district_id: strawberry.ID | None = None,
    ) -> CollectionRate:
        rate = await billing.collection_rate(
            info.context.session,
            actor=info.context.actor,
            period=period[:10],
            community_id=decode_id(community_id) if community_id is not None else None,
            district_id=decode_id(district_id) if district_id is not None else None,
        )
        return _rate(rate)

    @strawberry.field(permission_classes=[IsStaff])
    async def arrears_by_building(self, info: Info, community_id: strawberry.ID) -> list[BuildingArrears]:
        rows = await billing.arrears_by_building(
            info.context.session, actor=info.context.actor, community_id=decode_id(community_id)
        )
        return [
            BuildingArrears(
                building=Building(row=r.building),
                households=r.households,
                bills=r.bills,
                owed=money(r.owed_fen),
            )
            for r in rows
        ]

    @strawberry.field(permission_classes=[IsStaff])
    async def fund_balances(self, info: Info, community_id: strawberry.ID) -> list[FundBalance]:
        return _funds(
            await billing.fund_balances(
                info.context.session, actor=info.context.actor, community_id=decode_id(community_id)
            )
        )

    @strawberry.field(permission_classes=[IsStaff], description="A community's books, newest line first.")
    async def ledger(
        self,
        info: Info,
        community_id: strawberry.ID,
        fund: FundEnum | None = None,  # type: ignore[valid-type]
        expenses_only: bool = False,
        first: int | None = None,
        after: str | None = None,
        from_date: date | None = None,
        to_date: date | None = None,
    ) -> Connection[LedgerLine]:
        """Newest first; fromDate and toDate (both included) are Asia/Shanghai days."""
        limit, cursor = page_args(info, first, after)
        page = await billing.ledger_lines(
            info.context.session,
            actor=info.context.actor,
            community_id=decode_id(community_id),
            fund=fund.value if fund else None,
            first=limit,
            after=cursor,
            expenses_only=expenses_only,
            from_date=from_date,
            to_date=to_date,
        )
        return Connection(
            nodes=[LedgerLine(row=line, entry=entry) for line, entry in page.items],
            page_info=PageInfo(
                has_next_page=page.has_next_page,
                end_cursor=billing_cursor(page.items[-1][0].id) if page.items else None,
            ),
        )


def billing_cursor(key: int) -> str:
    from laoyou.core.pagination import encode_cursor

    return encode_cursor(key)


@strawberry.type
class BillingMutation:
    @strawberry.mutation(permission_classes=[IsStaff])
    async def create_fee_plan(
        self,
        info: Info,
        name: str,
        phase: PhaseEnum,
        items: list[FeePlanItemInput],  # type: ignore[valid-type]
        community_id: strawberry.ID | None = None,
        district_id: strawberry.ID | None = None,
        period_months: int = 1,
    ) -> CreateFeePlanResult:
        context = info.context

        async def work() -> FeePlanSaved:
            plan = await billing.do_create_fee_plan(
                context.session,
                actor=context.actor,
                name=name,
                phase=models.Phase(phase),
                period_months=period_months,
                community_id=decode_id(community_id) if community_id is not None else None,
                district_id=decode_id(district_id) if district_id is not None else None,
                items=[
                    billing.ItemInput(
                        name=i.name,
                        kind=models.ItemKind(i.kind),
                        unit_price_fen=i.unit_price_fen,
                        package=i.package,
                    )
                    for i in items[:50]
                ],
            )
            return FeePlanSaved(plan=FeePlan(row=plan))

        return await mutation_boundary(info, CreateFeePlanError, work)

    @strawberry.mutation(
        permission_classes=[IsStaff], description="Records who approved it, when, and the decision."
    )
    async def activate_fee_plan(
        self, info: Info, id: strawberry.ID, decision_ref: str
    ) -> ActivateFeePlanResult:
        context = info.context

        async def work() -> FeePlanSaved:
            plan = await billing.do_activate_fee_plan(
                context.session, actor=context.actor, plan_id=decode_id(id), decision_ref=decision_ref
            )
            return FeePlanSaved(plan=FeePlan(row=plan))

        return await mutation_boundary(info, ActivateFeePlanError, work)

    @strawberry.mutation(permission_classes=[IsStaff])
    async def adopt_package(
        self, info: Info, community_id: strawberry.ID, plan_id: strawberry.ID, package: str, decision_ref: str
    ) -> AdoptPackageResult:
        context = info.context

        async def work() -> PackageAdopted:
            adoption = await billing.do_adopt_package(
                context.session,
                actor=context.actor,
                community_id=decode_id(community_id),
                plan_id=decode_id(plan_id),
                package=package,
                decision_ref=decision_ref,
            )
            community = await context.loaders.community_by_id.load(adoption.community_id)
            return PackageAdopted(community=Community(row=community), package=adoption.package)

        return await mutation_boundary(info, AdoptPackageError, work)

    @strawberry.mutation(
        permission_classes=[IsStaff],
        description="Start or continue the bill run of a community for a period; idempotent.",
    )
    async def run_bills(self, info: Info, community_id: strawberry.ID, period: str) -> RunBillsResult:
        context = info.context

        async def work() -> BillRunProgress:
            run = await billing.do_run_bills(
                context.session,
                actor=context.actor,
                community_id=decode_id(community_id),
                period=period.strip()[:10],
            )
            return BillRunProgress(run=BillRun(row=run))

        return await mutation_boundary(info, RunBillsError, work)

    @strawberry.mutation(
        permission_classes=[IsStaff],
        description="Start or continue the bill run of every community of a district for a period, once for "
        "all; press again to continue. For the district's stewards and the admin.",
    )
    async def run_district_bills(
        self, info: Info, district_id: strawberry.ID, period: str
    ) -> RunDistrictBillsResult:
        context = info.context
        period = period.strip()[:10]

        async def work() -> DistrictBillRunProgress:
            lines = await billing.do_run_district_bills(
                context.session, actor=context.actor, district_id=decode_id(district_id), period=period
            )
            return DistrictBillRunProgress(district_run=_district_run(info, period, lines))

        return await mutation_boundary(info, RunDistrictBillsError, work)

    @strawberry.mutation(
        permission_classes=[IsAuthenticated],
        description="Pay bills of one household online, by default the first of paymentMethods; "
        "a retry with the same key returns the same payment.",
    )
    async def pay_bills(
        self,
        info: Info,
        bill_ids: list[strawberry.ID],
        idempotency_key: str,
        method: PaymentMethodEnum | None = None,  # type: ignore[valid-type]
    ) -> PayBillsResult:
        context = info.context

        async def work() -> PaymentSaved:
            registry = gateways(context.settings)
            in_wechat = billing.in_wechat(context.actor.user_agent)
            name = method.value if method is not None else registry.default_method(in_wechat=in_wechat)
            oauth = registry.wechat_oauth if in_wechat else None
            payment = await billing.do_pay_bills(
                context.session,
                actor=context.actor,
                bill_ids=_ids(bill_ids[: billing.MAX_BILLS_PER_PAYMENT + 1]),
                method=models.PaymentMethod(name) if name else None,
                idempotency_key=idempotency_key,
                gateway=registry.get(name) if name else None,
                client_ip=context.actor.client_ip,
                jsapi_appid=oauth.appid if oauth is not None else None,
            )
            return PaymentSaved(payment=Payment(row=payment))

        return await mutation_boundary(info, PayBillsError, work)

    @strawberry.mutation(
        permission_classes=[IsAuthenticated],
        description="Ask the gateway about a payment still waiting for its confirmation.",
    )
    async def refresh_payment(self, info: Info, id: strawberry.ID) -> RefreshPaymentResult:
        context = info.context

        async def work() -> PaymentSaved:
            found = await billing.access_payment(
                context.session, actor=context.actor, payment_id=decode_id(id)
            )
            payment = await billing.do_refresh_payment(
                context.session,
                actor=context.actor,
                payment_id=found.id,
                gateway=gateways(context.settings).get(found.method),
            )
            return PaymentSaved(payment=Payment(row=payment))

        return await mutation_boundary(info, RefreshPaymentError, work)

    @strawberry.mutation(
        permission_classes=[IsAuthenticated],
        description="Inside WeChat: where to send the browser so that WeChat says who is paying "
        "(the official account's snsapi_base authorisation), coming back to returnPath.",
    )
    async def begin_wechat_payer_link(self, info: Info, return_path: str) -> BeginWechatPayerLinkResult:
        context = info.context

        async def work() -> WechatAuthorization:
            url = billing.begin_wechat_payer_link(
                actor=context.actor,
                oauth=gateways(context.settings).wechat_oauth,
                secret_key=context.settings.secret_key,
                public_url=context.settings.public_url,
                return_path=return_path,
            )
            return WechatAuthorization(url=url)

        return await mutation_boundary(info, BeginWechatPayerLinkError, work)

    @strawberry.mutation(
        permission_classes=[IsAuthenticated],
        description="WeChat came back with a code and this session's state: remember who pays in WeChat.",
    )
    async def link_wechat_payer(self, info: Info, code: str, state: str) -> LinkWechatPayerResult:
        context = info.context

        async def work() -> WechatPayerLinked:
            await billing.do_link_wechat_payer(
                context.session,
                actor=context.actor,
                oauth=gateways(context.settings).wechat_oauth,
                secret_key=context.settings.secret_key,
                code=code[:200],
                state=state[:200],
            )
            return WechatPayerLinked(linked=True)

        return await mutation_boundary(info, LinkWechatPayerError, work)

    @strawberry.mutation(
        permission_classes=[IsStaff],
        description="At the counter or for a printed bill: an order paid by scanning a QR code (WeChat Pay "
        "Native; the sandbox cashier in the demo), so anyone can pay for the household.",
    )
    async def start_counter_payment(
        self, info: Info, bill_ids: list[strawberry.ID], idempotency_key: str
    ) -> StartCounterPaymentResult:
        context = info.context

        async def work() -> PaymentSaved:
            registry = gateways(context.settings)
            name = "wechat" if registry.get("wechat") is not None else "sandbox"
            payment = await billing.do_start_counter_payment(
                context.session,
                actor=context.actor,
                bill_ids=_ids(bill_ids[: billing.MAX_BILLS_PER_PAYMENT + 1]),
                method=models.PaymentMethod(name),
                idempotency_key=idempotency_key,
                gateway=registry.get(name),
            )
            return PaymentSaved(payment=Payment(row=payment))

        return await mutation_boundary(info, StartCounterPaymentError, work)

    @strawberry.mutation(
        permission_classes=[IsStaff], description="Cash or bank transfer taken at the office."
    )
    async def record_office_payment(
        self,
        info: Info,
        bill_ids: list[strawberry.ID],
        method: PaymentMethodEnum,  # type: ignore[valid-type]
        amount_fen: int,
        office_receipt_no: str,
        idempotency_key: str,
    ) -> RecordOfficePaymentResult:
        context = info.context

        async def work() -> PaymentSaved:
            payment = await billing.do_record_office_payment(
                context.session,
                actor=context.actor,
                bill_ids=_ids(bill_ids[: billing.MAX_BILLS_PER_PAYMENT + 1]),
                method=models.PaymentMethod(method),
                amount_fen=amount_fen,
                office_receipt_no=office_receipt_no,
                idempotency_key=idempotency_key,
            )
            return PaymentSaved(payment=Payment(row=payment))

        return await mutation_boundary(info, RecordOfficePaymentError, work)

    @strawberry.mutation(permission_classes=[IsStaff])
    async def waive_bill(self, info: Info, id: strawberry.ID, reason: str) -> WaiveBillResult:
        context = info.context

        async def work() -> BillSaved:
            bill = await billing.do_waive_bill(
                context.session, actor=context.actor, bill_id=decode_id(id), reason=reason
            )
            return BillSaved(bill=Bill(row=bill))

        return await mutation_boundary(info, WaiveBillError, work)

    @strawberry.mutation(permission_classes=[IsStaff])
    async def cancel_bill(self, info: Info, id: strawberry.ID, reason: str) -> CancelBillResult:
        context = info.context

        async def work() -> BillSaved:
            bill = await billing.do_cancel_bill(
                context.session, actor=context.actor, bill_id=decode_id(id), reason=reason
            )
            return BillSaved(bill=Bill(row=bill))

        return await mutation_boundary(info, CancelBillError, work)

    @strawberry.mutation(permission_classes=[IsStaff])
    async def refund_payment(
        self, info: Info, id: strawberry.ID, amount_fen: int, reason: str, idempotency_key: str
    ) -> RefundPaymentResult:
        context = info.context

        async def record() -> models.Refund:
            return await billing.do_request_refund(
                context.session,
                actor=context.actor,
                payment_id=decode_id(id),
                amount_fen=amount_fen,
                reason=reason,
                idempotency_key=idempotency_key,
            )

        # Two units of work: the refund is recorded under its number and committed before it is sent, so
        # whatever becomes of the answer (or of this request) it is asked for again under the same number,
        # never a new one.
        recorded = await mutation_boundary(info, RefundPaymentError, record)
        if not isinstance(recorded, models.Refund):
            return recorded

        async def work() -> PaymentRefunded:
            refund = await billing.do_send_refund(context.session, refund=recorded)
            payment = await context.session.get(models.Payment, refund.payment_id)
            return PaymentRefunded(
                payment=Payment(row=payment), amount=money(refund.amount_fen), refund=Refund(row=refund)
            )

        return await mutation_boundary(info, RefundPaymentError, work)

    @strawberry.mutation(
        permission_classes=[IsStaff],
        description="Public income, or a deposit into the special maintenance fund.",
    )
    async def record_income(
        self,
        info: Info,
        community_id: strawberry.ID,
        fund: FundEnum,
        amount_fen: int,  # type: ignore[valid-type]
        memo: str,
        attachment_ref: str = "",
        invoice_photo_id: strawberry.ID | None = None,
    ) -> RecordLedgerEntryResult:
        return await _record(
            info, "income", community_id, fund, amount_fen, memo, attachment_ref, invoice_photo_id
        )

    @strawberry.mutation(permission_classes=[IsStaff], description="Spend from one of the community's funds.")
    async def record_expense(
        self,
        info: Info,
        community_id: strawberry.ID,
        fund: FundEnum,
        amount_fen: int,  # type: ignore[valid-type]
        memo: str,
        attachment_ref: str = "",
        invoice_photo_id: strawberry.ID | None = None,
    ) -> RecordLedgerEntryResult:
        return await _record(
            info, "expense", community_id, fund, amount_fen, memo, attachment_ref, invoice_photo_id
        )

    @strawberry.mutation(
        permission_classes=[IsStaff],
        description="Share a district cost among its communities by floor_area or households.",
    )
    async def apportion_shared_cost(
        self, info: Info, district_id: strawberry.ID, amount_fen: int, key: str, memo: str
    ) -> ApportionSharedCostResult:
        context = info.context

        async def work() -> SharedCostApportioned:
            entries = await billing.do_apportion_shared_cost(
                context.session,
                actor=context.actor,
                district_id=decode_id(district_id),
                amount_fen=amount_fen,
                key=key,
                memo=memo,
            )
            shares = []
            for entry in entries:
                community = await context.loaders.community_by_id.load(entry.community_id)
                share = await billing.entry_debit_fen(context.session, entry_id=entry.id)
                shares.append(CommunityShare(community=Community(row=community), amount=money(share)))
            return SharedCostApportioned(shares=shares)

        return await mutation_boundary(info, ApportionSharedCostError, work)


async def _record(
    info: Info,
    what: str,
    community_id: strawberry.ID,
    fund: object,
    amount_fen: int,
    memo: str,
    attachment_ref: str,
    invoice_photo_id: strawberry.ID | None,
) -> RecordLedgerEntryResult:
    context = info.context

    async def work() -> LedgerEntryRecorded:
        do = billing.do_record_income if what == "income" else billing.do_record_expense
        entry = await do(
            context.session,
            actor=context.actor,
            community_id=decode_id(community_id),
            fund=models.Fund(fund),
            amount_fen=amount_fen,
            memo=memo,
            attachment_ref=attachment_ref,
        )
        if invoice_photo_id is not None:
            await billing.do_attach_invoice(
                context.session, actor=context.actor, entry_id=entry.id, media_id=decode_id(invoice_photo_id)
            )
        funds = await billing.fund_balances(
            context.session, actor=context.actor, community_id=entry.community_id
        )
        return LedgerEntryRecorded(entry_id=encode_id(entry.id), funds=_funds(funds))

    return await mutation_boundary(info, RecordLedgerEntryError, work)
