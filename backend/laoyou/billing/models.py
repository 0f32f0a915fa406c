"""Fee plans, bills, payments, notifications and each community's double-entry books.

Money is an integer number of fen everywhere; areas are hundredths of a square metre.
Every table that holds resident data carries community_id and district_id.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column, String, UniqueConstraint
from sqlmodel import Field, SQLModel

from laoyou.core.models import utc_field


class Phase(StrEnum):
    trial = "trial"  # 先尝后买: service free, statements show what it would cost
    cost = "cost"  # cost recovery, agreed by the owners
    market = "market"


class PlanStatus(StrEnum):
    draft = "draft"
    active = "active"
    retired = "retired"


class ItemKind(StrEnum):
    per_m2 = "per_m2"  # fen per m² per month
    per_household = "per_household"  # fen per household per month


class BillStatus(StrEnum):
    open = "open"
    partly_paid = "partly_paid"
    paid = "paid"
    waived = "waived"
    cancelled = "cancelled"
    statement = "statement"  # trial phase: nothing to pay, the would-be amount is shown


class PaymentMethod(StrEnum):
    sandbox = "sandbox"
    wechat = "wechat"
    alipay = "alipay"
    cash = "cash"
    bank_transfer = "bank_transfer"

    @property
    def is_online(self) -> bool:
        return self in (PaymentMethod.sandbox, PaymentMethod.wechat, PaymentMethod.alipay)


class PaymentStatus(StrEnum):
    pending = "pending"  # order created, no confirmed notification yet
    paid = "paid"
    failed = "failed"  # closed at the gateway without payment
    refunded = "refunded"  # fully refunded


class LateMoney(StrEnum):
    """Money the gateway took for an order already closed or failed here (paid after it expired)."""

    credited = "credited"  # applied to its bills all the same
    refunded = "refunded"  # its bills were paid another way meanwhile: given back automatically


class RefundStatus(StrEnum):
    pending = "pending"  # asked of the gateway, not confirmed yet: nothing posted
    succeeded = "succeeded"  # confirmed (or cash given back at the office): posted once
    failed = "failed"  # the gateway closed it: nothing posted


class Fund(StrEnum):
    property_fee = "property_fee"  # 物业费
    maintenance_fund = "maintenance_fund"  # 专项维修资金
    public_income = "public_income"  # 公共收益


class Account(StrEnum):
    cash = "cash"  # money held for the fund (bank or office)
    receivable = "receivable"  # 应收物业费
    fee_income = "fee_income"
    fee_waived = "fee_waived"  # contra-income: fees forgiven
    advance_received = "advance_received"  # 预收: paid but not owed (a bill was settled another way)
    shared_cost_payable = "shared_cost_payable"  # the district's shared costs owed to the operator
    fund_balance = "fund_balance"  # deposits into the special maintenance fund
    income = "income"  # public income: parking, advertising, rent of common space
    expense = "expense"


# Debit-normal accounts; the rest are credit-normal. Balances are shown in their normal direction.
DEBIT_NORMAL = {Account.cash, Account.receivable, Account.fee_waived, Account.expense}


class FeePlan(SQLModel, table=True):
    """A versioned fee plan of a community, or of a district (inherited by its communities)."""

    __tablename__ = "fee_plan"
    __table_args__ = (UniqueConstraint("scope_key", "version"),)

    id: int | None = Field(default=None, primary_key=True)
    district_id: int = Field(foreign_key="district.id", index=True)
    community_id: int | None = Field(default=None, foreign_key="community.id", index=True)
    scope_key: str = Field(max_length=30)  # "c:<id>" or "d:<id>": versions count per scope
    version: int = 1
    name: str = Field(max_length=100)
    phase: str = Field(max_length=10, default=Phase.trial.value)
    period_months: int = 1  # 1 monthly, 3 quarterly
    status: str = Field(max_length=10, default=PlanStatus.draft.value)
    approved_by_id: int | None = Field(default=None, foreign_key="person.id")
    approved_at: datetime | None = utc_field(nullable=True)
    decision_ref: str = Field(default="", max_length=200)  # the owners' decision document
    created_by_id: int | None = Field(default=None, foreign_key="person.id")
    created_at: datetime = utc_field(default_now=True)


class FeePlanItem(SQLModel, table=True):
    """One priced line of a plan's base package or of an add-on package (菜单式)."""

    __tablename__ = "fee_plan_item"

    id: int | None = Field(default=None, primary_key=True)
    plan_id: int = Field(foreign_key="fee_plan.id", index=True)
    package: str = Field(max_length=50, default="base")  # "base" or the add-on's name
    name: str = Field(max_length=100)
    kind: str = Field(max_length=20, default=ItemKind.per_m2.value)
    unit_price_fen: int = Field(ge=0)


class PackageAdoption(SQLModel, table=True):
    """A community adopts an add-on package of its (own or district) plan."""

    __tablename__ = "package_adoption"
    __table_args__ = (UniqueConstraint("community_id", "plan_id", "package"),)

    id: int | None = Field(default=None, primary_key=True)
    community_id: int = Field(foreign_key="community.id", index=True)
    district_id: int = Field(foreign_key="district.id", index=True)
    plan_id: int = Field(foreign_key="fee_plan.id", index=True)
    package: str = Field(max_length=50)
    decision_ref: str = Field(default="", max_length=200)
    created_at: datetime = utc_field(default_now=True)


class BillRun(SQLModel, table=True):
    """One community's bill run for one period and plan version; resumable from its cursor."""

    __tablename__ = "bill_run"
    __table_args__ = (UniqueConstraint("community_id", "period", "plan_id"),)

    id: int | None = Field(default=None, primary_key=True)
    community_id: int = Field(foreign_key="community.id", index=True)
    district_id: int = Field(foreign_key="district.id", index=True)
    plan_id: int = Field(foreign_key="fee_plan.id")
    period: str = Field(max_length=10)
    total: int = 0
    processed: int = 0
    created: int = 0
    cursor: int = 0  # the last household id done
    finished_at: datetime | None = utc_field(nullable=True)
    started_by_id: int | None = Field(default=None, foreign_key="person.id")
    created_at: datetime = utc_field(default_now=True)


class Bill(SQLModel, table=True):
    __tablename__ = "bill"
    __table_args__ = (UniqueConstraint("household_id", "period", "plan_id"),)

    id: int | None = Field(default=None, primary_key=True)
    household_id: int = Field(foreign_key="household.id", index=True)
    community_id: int = Field(foreign_key="community.id", index=True)
    district_id: int = Field(foreign_key="district.id", index=True)
    plan_id: int = Field(foreign_key="fee_plan.id")
    run_id: int | None = Field(default=None, foreign_key="bill_run.id", index=True)
    period: str = Field(max_length=10, index=True)  # 2026-05 or 2026-Q2
    period_start: date
    period_end: date
    due_date: date
    floor_area_centi_m2: int = 0
    amount_fen: int = 0
    would_be_fen: int = 0  # what the service costs; equals amount outside the trial
    paid_fen: int = 0  # always the sum of this bill's payment allocations
    waived_fen: int = 0
    status: str = Field(max_length=12, default=BillStatus.open.value, index=True)
    lines: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    waived_reason: str = Field(default="", max_length=200)
    waived_by_id: int | None = Field(default=None, foreign_key="person.id")
    waived_at: datetime | None = utc_field(nullable=True)
    reminded_at: datetime | None = utc_field(nullable=True)
    created_at: datetime = utc_field(default_now=True)

    @property
    def outstanding_fen(self) -> int:
        if self.status in (BillStatus.cancelled.value, BillStatus.statement.value):
            return 0
        return self.amount_fen - self.paid_fen - self.waived_fen


class Payment(SQLModel, table=True):
    __tablename__ = "payment"
    __table_args__ = (UniqueConstraint("payer_id", "idempotency_key"),)

    id: int | None = Field(default=None, primary_key=True)
    household_id: int = Field(foreign_key="household.id", index=True)
    community_id: int = Field(foreign_key="community.id", index=True)
    district_id: int = Field(foreign_key="district.id", index=True)
    payer_id: int = Field(foreign_key="person.id", index=True)  # the person, or the staff who recorded it
    method: str = Field(max_length=20)
    amount_fen: int = Field(gt=0)
    applied_fen: int = 0  # allocated to bills, net of refunds
    unapplied_fen: int = 0  # received for bills settled another way meanwhile (预收)
    refunded_fen: int = 0
    status: str = Field(max_length=10, default=PaymentStatus.pending.value, index=True)
    out_trade_no: str = Field(sa_column=Column(String(32), unique=True, nullable=False))
    transaction_id: str | None = Field(default=None, max_length=64)
    receipt_number: str = Field(sa_column=Column(String(32), unique=True, nullable=False))
    office_receipt_no: str = Field(default="", max_length=50)  # staff's paper receipt or bank reference
    pay_url: str = Field(default="", max_length=2000)  # Alipay's is the whole signed request: ~1000 long
    idempotency_key: str = Field(max_length=64)
    request_hash: str = Field(max_length=64)
    bill_ids: list[int] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    created_at: datetime = utc_field(default_now=True, index=True)
    paid_at: datetime | None = utc_field(nullable=True)
    expires_at: datetime | None = utc_field(nullable=True)  # the order's time_expire at the gateway
    late: str | None = Field(default=None, max_length=10, index=True)  # a LateMoney, for the few it concerns
    late_reported_at: datetime | None = utc_field(nullable=True)  # when reconciliation's report named it


class PaymentAllocation(SQLModel, table=True):
    """Part of a payment applied to a bill; a refund is a negative allocation."""

    __tablename__ = "payment_allocation"

    id: int | None = Field(default=None, primary_key=True)
    payment_id: int = Field(foreign_key="payment.id", index=True)
    bill_id: int = Field(foreign_key="bill.id", index=True)
    community_id: int = Field(foreign_key="community.id", index=True)
    district_id: int = Field(foreign_key="district.id", index=True)
    amount_fen: int
    refund_id: int | None = Field(default=None, foreign_key="refund.id")
    created_at: datetime = utc_field(default_now=True)


class Refund(SQLModel, table=True):
    __tablename__ = "refund"
    __table_args__ = (UniqueConstraint("created_by_id", "idempotency_key"),)

    id: int | None = Field(default=None, primary_key=True)
    payment_id: int = Field(foreign_key="payment.id", index=True)
    community_id: int = Field(foreign_key="community.id", index=True)
    district_id: int = Field(foreign_key="district.id", index=True)
    amount_fen: int = Field(gt=0)
    reason: str = Field(max_length=200)
    created_by_id: int = Field(foreign_key="person.id")
    idempotency_key: str = Field(max_length=64)
    request_hash: str = Field(max_length=64)
    # The gateway's side: the merchant's refund number (idempotent at the gateway), its state and id there.
    out_refund_no: str | None = Field(default=None, sa_column=Column(String(64), unique=True, nullable=True))
    # Migration 0002b filled these in for existing refunds through server defaults, which the databases keep.
    status: str = Field(
        max_length=12,
        default=RefundStatus.succeeded.value,
        index=True,
        sa_column_kwargs={"server_default": RefundStatus.succeeded.value},
    )
    provider_refund_id: str = Field(default="", max_length=64, sa_column_kwargs={"server_default": ""})
    confirmed_at: datetime | None = utc_field(nullable=True)
    created_at: datetime = utc_field(default_now=True)


class PaymentNotification(SQLModel, table=True):
    """A verified notification (or a gateway query result), recorded once per provider transaction."""

    __tablename__ = "payment_notification"
    __table_args__ = (UniqueConstraint("provider", "transaction_id"),)

    id: int | None = Field(default=None, primary_key=True)
    provider: str = Field(max_length=20)
    transaction_id: str = Field(max_length=64)
    out_trade_no: str = Field(max_length=32, index=True)
    amount_fen: int
    merchant_id: str = Field(max_length=64)
    source: str = Field(max_length=10, default="notify")  # notify or query
    payment_id: int | None = Field(default=None, foreign_key="payment.id")
    community_id: int | None = Field(default=None, foreign_key="community.id", index=True)
    district_id: int | None = Field(default=None, foreign_key="district.id", index=True)
    received_at: datetime = utc_field(default_now=True)


class RefusedNotification(SQLModel, table=True):
    """A signed notification that did not match its order or refund: kept, never applied (unsigned ones are only
    logged: anyone can post to the notify endpoint)."""

    __tablename__ = "refused_notification"

    id: int | None = Field(default=None, primary_key=True)
    provider: str = Field(max_length=20)
    reason: str = Field(max_length=200)
    out_trade_no: str = Field(default="", max_length=64)
    transaction_id: str = Field(default="", max_length=64)
    headers: str = Field(default="", max_length=2000)
    body: str = Field(default="", max_length=8000)
    received_at: datetime = utc_field(default_now=True, index=True)


class JournalEntry(SQLModel, table=True):
    """One balanced posting in one community's books."""

    __tablename__ = "journal_entry"

    id: int | None = Field(default=None, primary_key=True)
    community_id: int = Field(foreign_key="community.id", index=True)
    district_id: int = Field(foreign_key="district.id", index=True)
    kind: str = Field(max_length=30)  # bills, payment, refund, waiver, cancel, income, expense, apportion
    memo: str = Field(default="", max_length=300)
    ref_type: str = Field(default="", max_length=20)
    ref_id: int | None = None
    attachment_ref: str = Field(default="", max_length=300)  # the media domain's id or path, when it exists
    created_by_id: int | None = Field(default=None, foreign_key="person.id")
    created_at: datetime = utc_field(default_now=True, index=True)


class JournalLine(SQLModel, table=True):
    __tablename__ = "journal_line"

    id: int | None = Field(default=None, primary_key=True)
    entry_id: int = Field(foreign_key="journal_entry.id", index=True)
    community_id: int = Field(foreign_key="community.id", index=True)
    district_id: int = Field(foreign_key="district.id", index=True)
    fund: str = Field(max_length=20)
    account: str = Field(max_length=30)
    debit_fen: int = 0
    credit_fen: int = 0


class LedgerAttachment(SQLModel, table=True):
    """A photo of the invoice (a media file) attached to an entry in a community's books."""

    __tablename__ = "ledger_attachment"
    __table_args__ = (UniqueConstraint("entry_id", "media_id"),)

    id: int | None = Field(default=None, primary_key=True)
    entry_id: int = Field(foreign_key="journal_entry.id", index=True)
    media_id: int = Field(foreign_key="media_file.id", index=True)
    community_id: int = Field(foreign_key="community.id", index=True)
    district_id: int = Field(foreign_key="district.id", index=True)
    created_at: datetime = utc_field(default_now=True)


class SandboxOrder(SQLModel, table=True):
    """The embedded sandbox gateway's own record of an order (its side of the world), kept in the database
    so that a restart loses no order, payment or refund."""

    __tablename__ = "sandbox_order"

    id: int | None = Field(default=None, primary_key=True)
    out_trade_no: str = Field(sa_column=Column(String(32), unique=True, nullable=False))
    amount_fen: int
    description: str = Field(default="", max_length=200)
    state: str = Field(default="NOTPAY", max_length=12)
    transaction_id: str = Field(default="", max_length=64)
    success_time: str = Field(default="", max_length=40)
    time_expire: str = Field(default="", max_length=40, sa_column_kwargs={"server_default": ""})
    refunds: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    updated_at: datetime = utc_field(default_now=True)


class WechatPayer(SQLModel, table=True):
    """A person's openid under one official account, told by its web authorisation: what JSAPI pays as. An
    openid means nothing under another app id, so it is kept per app id."""

    __tablename__ = "wechat_payer"
    __table_args__ = (UniqueConstraint("person_id", "appid"),)

    id: int | None = Field(default=None, primary_key=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    appid: str = Field(max_length=32)
    openid: str = Field(max_length=128)
    updated_at: datetime = utc_field(default_now=True)
