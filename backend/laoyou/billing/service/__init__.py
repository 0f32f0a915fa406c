"""Billing: fee plans, bill runs, payments and notifications, refunds, waivers and each community's books.

Scoping lives here. Residents and family act on the households of their grants; stewards (and the
operator's admin) write to the communities they serve; officials read the same and write nothing.

One module per capability; this package names them all, so callers keep writing `billing.do_pay_bills`.
"""

from datetime import timedelta

from sqlalchemy import func

from laoyou.billing import ledger
from laoyou.billing.gateways import GatewayError, TradeState
from laoyou.billing.service.bills import (
    BuildingArrears,
    CollectionRate,
    Notifier,
    access_bill,
    amounts_due,
    arrears_by_building,
    bills_by_ids,
    collection_rate,
    do_cancel_bill,
    do_remind_overdue,
    do_waive_bill,
    is_overdue,
    list_household_bills,
    list_my_bills,
    notify_overdue,
    restatus,
)
from laoyou.billing.service.books import (
    INCOME_FUNDS,
    FundBalance,
    apportion,
    check_media_access,
    do_apportion_shared_cost,
    do_attach_invoice,
    do_record_expense,
    do_record_income,
    entry_debit_fen,
    fund_balances,
    ledger_attachments,
    ledger_lines,
)
from laoyou.billing.service.common import (
    PF,
    billing_channel,
    books_community_ids,
    check_can_read_books,
    check_can_write,
    log,
    writable_community_ids,
)
from laoyou.billing.service.notifications import do_receive_notification, unverified_log
from laoyou.billing.service.payments import (
    MAX_BILLS_PER_PAYMENT,
    access_payment,
    access_payment_to_confirm,
    apply_payment,
    do_pay_bills,
    do_record_office_payment,
    do_refresh_payment,
    list_my_payments,
    payment_bills,
    reconcile,
    record_trade,
)
from laoyou.billing.service.plans import (
    ItemInput,
    access_fee_plan,
    do_activate_fee_plan,
    do_adopt_package,
    do_create_fee_plan,
    effective_fee_plan,
    effective_plan,
    items_for_community,
    list_fee_plans,
    plan_items,
)
from laoyou.billing.service.refunds import (
    do_request_refund,
    do_send_refund,
    reconcile_refunds,
    record_refund_result,
)
from laoyou.billing.service.runs import (
    access_bill_run,
    compute_bill,
    do_bill_run_step,
    do_run_bills,
    do_start_bill_run,
    period_bounds,
)
from laoyou.core.time import utcnow

__all__ = [
    "BuildingArrears",
    "CollectionRate",
    "Notifier",
    "access_bill",
    "amounts_due",
    "arrears_by_building",
    "bills_by_ids",
    "collection_rate",
    "do_cancel_bill",
    "do_remind_overdue",
    "do_waive_bill",
    "is_overdue",
    "list_household_bills",
    "list_my_bills",
    "notify_overdue",
    "restatus",
    "INCOME_FUNDS",
    "FundBalance",
    "apportion",
    "check_media_access",
    "do_apportion_shared_cost",
    "do_attach_invoice",
    "do_record_expense",
    "do_record_income",
    "entry_debit_fen",
    "fund_balances",
    "ledger_attachments",
    "ledger_lines",
    "PF",
    "billing_channel",
    "books_community_ids",
    "check_can_read_books",
    "check_can_write",
    "log",
    "writable_community_ids",
    "do_receive_notification",
    "unverified_log",
    "MAX_BILLS_PER_PAYMENT",
    "access_payment",
    "access_payment_to_confirm",
    "apply_payment",
    "do_pay_bills",
    "do_record_office_payment",
    "do_refresh_payment",
    "list_my_payments",
    "payment_bills",
    "reconcile",
    "record_trade",
    "ItemInput",
    "access_fee_plan",
    "do_activate_fee_plan",
    "do_adopt_package",
    "do_create_fee_plan",
    "effective_fee_plan",
    "effective_plan",
    "items_for_community",
    "list_fee_plans",
    "plan_items",
    "do_request_refund",
    "do_send_refund",
    "reconcile_refunds",
    "record_refund_result",
    "access_bill_run",
    "compute_bill",
    "do_bill_run_step",
    "do_run_bills",
    "do_start_bill_run",
    "period_bounds",
    # Names callers reached through the single module this package replaced.
    "timedelta",
    "func",
    "ledger",
    "GatewayError",
    "TradeState",
    "utcnow",
]
