"""Her earlier bills and her receipts read newest month first, even when older months were billed and paid after
newer ones (a backfill of past months, arrears paid late): ids are not the order she reads them in."""

from __future__ import annotations

import re
from datetime import date

from sqlmodel import col, select

from laoyou.billing.demo import pay_in_cash
from laoyou.billing.models import Bill, BillStatus
from laoyou.core.time import utcnow

from ..conftest import RESIDENT_XIUSHAN
from .helpers import actor_for


def months_before(day: date, n: int) -> date:
    index = day.year * 12 + day.month - 1 - n
    return date(index // 12, index % 12 + 1, 1)


async def test_earlier_bills_and_receipts_are_newest_month_first(client, db):
    # Given her home's newest bill, and two months older than all her bills billed and paid in cash after it
    actor = await actor_for(db, RESIDENT_XIUSHAN)
    bills = list(
        await db.exec(
            select(Bill)
            .where(col(Bill.household_id).in_(actor.household_ids))
            .order_by(col(Bill.period_start))
        )
    )
    oldest, newest = bills[0], bills[-1]
    backfill = []
    for n in (2, 1):  # the older of the two made first, so neither id order nor its reverse is month order
        start = months_before(oldest.period_start, n)
        bill = Bill(
            **newest.model_dump(exclude={"id", "run_id", "created_at", "paid_fen", "status"}),
        )
        bill.period, bill.period_start = f"{start:%Y-%m}", start
        bill.period_end = bill.due_date = months_before(start, -1).replace(day=1)
        db.add(bill)
        await db.flush()
        backfill.append(bill)
    await pay_in_cash(db, backfill, payer_of={}, fallback=actor.person_id, when=utcnow())
    await db.commit()
    # Paid months of her newest bills too, so both lists have months on either side of the backfill
    assert any(b.status == BillStatus.paid.value for b in bills)

    # When she opens her bills and her receipts
    page = await client.get("/login")
    csrf = page.cookies.get("laoyou_csrf") or client.cookies.get("laoyou_csrf")
    await client.post("/login/demo", data={"phone": "+86" + RESIDENT_XIUSHAN, "csrf_token": csrf})
    mine = await client.get("/bills")
    receipts = await client.get("/receipts")

    # Then each lists its months newest first
    history = mine.text[mine.text.index("<details>") : mine.text.index("</details>")]
    earlier = re.findall(r"<li>(\d{4}-\d{2}) ·", history)
    listed = re.findall(r'<a href="/receipts/[^"]+">([^<·]+) ·', receipts.text)
    receipt_months = [max(m.strip().split("、")) for m in listed]
    for months in (earlier, receipt_months):
        assert f"{backfill[0].period_start:%Y-%m}" in months, months
        assert len(months) >= 3 and months == sorted(months, reverse=True), months
