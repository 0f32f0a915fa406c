"""The ledger's period filter: from and to are Asia/Shanghai days (both included), in the GraphQL field, on the
staff ledger page and in its CSV export."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlmodel import select

from laoyou.billing import service as billing
from laoyou.billing.models import Fund, JournalEntry
from laoyou.estates.models import Community

from ..conftest import STEWARD_XIUSHAN, login_demo
from .helpers import actor_for
from .test_fee_plan_pages import log_in

LEDGER = """
query ($c: ID!, $from: Date, $to: Date) {
  ledger(communityId: $c, fromDate: $from, toDate: $to, first: 100) { nodes { memo createdAt } }
}
"""
# 23:30 on 1 March and 00:30 on 2 March in Shanghai: the same UTC day, different Shanghai days
LATE_1_MARCH = datetime(2026, 3, 1, 15, 30, tzinfo=UTC)
EARLY_2_MARCH = datetime(2026, 3, 1, 16, 30, tzinfo=UTC)
LATE_2_MARCH = datetime(2026, 3, 2, 15, 59, tzinfo=UTC)
EARLY_3_MARCH = datetime(2026, 3, 2, 16, 0, tzinfo=UTC)


async def given_entries(db) -> int:  # noqa: ANN001
    xiushan = (await db.exec(select(Community.id).where(Community.name == "秀山花园"))).one()
    steward = await actor_for(db, STEWARD_XIUSHAN)
    for memo, when in (
        ("三月一日夜", LATE_1_MARCH),
        ("三月二日晨", EARLY_2_MARCH),
        ("三月二日夜", LATE_2_MARCH),
        ("三月三日晨", EARLY_3_MARCH),
    ):
        entry = await billing.do_record_income(
            db, actor=steward, community_id=xiushan, fund=Fund.public_income, amount_fen=100, memo=memo
        )
        entry = await db.get(JournalEntry, entry.id)
        entry.created_at = when
        db.add(entry)
    await db.flush()
    return xiushan


async def test_the_ledger_field_keeps_the_shanghai_days_asked_for(gql, db):
    xiushan = str(await given_entries(db))
    steward = await login_demo(gql, STEWARD_XIUSHAN)
    # When the steward asks for 2 March only
    nodes = (await steward(LEDGER, {"c": xiushan, "from": "2026-03-02", "to": "2026-03-02"}))["data"][
        "ledger"
    ]["nodes"]
    # Then she gets exactly that Shanghai day's lines (both lines of each entry), not the UTC day's
    assert {n["memo"] for n in nodes} == {"三月二日晨", "三月二日夜"} and len(nodes) == 4
    # Only a start, or only an end, bounds one side
    since = (await steward(LEDGER, {"c": xiushan, "from": "2026-03-03"}))["data"]["ledger"]["nodes"]
    assert "三月三日晨" in {n["memo"] for n in since} and not {"三月一日夜", "三月二日夜"} & {
        n["memo"] for n in since
    }
    until = (await steward(LEDGER, {"c": xiushan, "to": "2026-03-01"}))["data"]["ledger"]["nodes"]
    assert "三月一日夜" in {n["memo"] for n in until} and not {"三月二日晨", "三月三日晨"} & {
        n["memo"] for n in until
    }


async def test_the_page_and_the_csv_keep_the_period(client, db):
    xiushan = await given_entries(db)
    await log_in(client, STEWARD_XIUSHAN)
    base = f"/staff/communities/{xiushan}/ledger"
    # When the steward picks 2 March to 2 March on the page
    page = await client.get(base, params={"from": "2026-03-02", "to": "2026-03-02", "fund": "public_income"})
    assert page.status_code == 200
    assert "三月二日晨" in page.text and "三月二日夜" in page.text
    assert "三月一日夜" not in page.text and "三月三日晨" not in page.text
    # And the download link carries the period, and the CSV holds the same lines
    assert "ledger.csv?fund=public_income&amp;from=2026-03-02&amp;to=2026-03-02" in page.text
    csv = await client.get(
        f"{base}.csv", params={"from": "2026-03-02", "to": "2026-03-02", "fund": "public_income"}
    )
    assert csv.status_code == 200 and "2026-03-02-2026-03-02.csv" in csv.headers["content-disposition"]
    assert csv.text.count("三月二日晨") == 2 and csv.text.count("三月二日夜") == 2
    assert "三月一日夜" not in csv.text and "三月三日晨" not in csv.text
    # A date that is not a date is no bound
    assert "三月一日夜" in (await client.get(base, params={"from": "yesterday"})).text
