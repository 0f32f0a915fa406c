"""Staff pages for fee plans: a steward creates a plan (phase, unit price, fixed item, add-on package) and
activates it on the owners' decision (approver, document, date); officials read but cannot change; a steward
of another community sees nothing."""

from __future__ import annotations

from sqlmodel import select

from laoyou.billing.models import FeePlan, FeePlanItem, PlanStatus
from laoyou.estates.models import Community

from ..conftest import OFFICIAL_XIUSHAN, STEWARD_XIUSHAN, STEWARD_YUEYANG


async def log_in(client, phone: str) -> str:  # noqa: ANN001
    await client.get("/login")
    csrf = client.cookies.get("laoyou_csrf")
    response = await client.post("/login/demo", data={"phone": "+86" + phone, "csrf_token": csrf})
    assert response.status_code == 303
    return client.cookies.get("laoyou_csrf")  # the login gave a new token; the pages now carry it


async def test_a_steward_creates_and_activates_a_plan_on_the_pages(client, db):
    xiushan = (await db.exec(select(Community.id).where(Community.name == "秀山花园"))).one()
    csrf = await log_in(client, STEWARD_XIUSHAN)
    base = f"/staff/communities/{xiushan}/fee-plans"
    assert (await client.get(base)).status_code == 200
    # When the steward saves a draft with a base price, a fixed item and an add-on package
    saved = await client.post(
        base,
        data={
            "csrf_token": csrf,
            "name": "2027 成本价",
            "phase": "cost",
            "period_months": "3",
            "unit_price": "0.85",
            "fixed_name": "垃圾清运",
            "fixed_price": "5",
            "addon_name": "电梯维保",
            "addon_price": "0.2",
        },
    )
    assert saved.status_code == 303
    plan = (await db.exec(select(FeePlan).where(FeePlan.name == "2027 成本价"))).one()
    items = {
        (i.package, i.name, i.kind, i.unit_price_fen)
        for i in await db.exec(select(FeePlanItem).where(FeePlanItem.plan_id == plan.id))
    }
    assert plan.status == PlanStatus.draft.value and plan.phase == "cost" and plan.period_months == 3
    assert ("base", "垃圾清运", "per_household", 500) in items and (
        "电梯维保",
        "电梯维保",
        "per_m2",
        20,
    ) in items
    page = await client.get(base)
    assert "2027 成本价" in page.text and f"/fee-plans/{plan.id}/activate" in page.text
    # in the staff's words: the base package by name, never its internal code
    assert (
        "垃圾清运 (基础服务)" in page.text
        and "(base)" not in page.text
        and "电梯维保 (电梯维保)" in page.text
    )
    # Without the decision's reference it is refused; with it, the plan is active, approved by the steward
    refused = await client.post(
        f"{base}/{plan.id}/activate",
        data={"csrf_token": csrf, "decision_ref": "", "decided_on": "2027-01-05"},
    )
    assert refused.status_code == 400
    done = await client.post(
        f"{base}/{plan.id}/activate",
        data={"csrf_token": csrf, "decision_ref": "业主大会决议 2027-1号", "decided_on": "2027-01-05"},
    )
    assert done.status_code == 303
    await db.refresh(plan)
    assert (
        plan.status == PlanStatus.active.value and plan.decision_ref == "业主大会决议 2027-1号 (2027-01-05)"
    )
    assert plan.approved_by_id is not None and plan.approved_at is not None
    assert "业主大会决议 2027-1号" in (await client.get(base)).text


async def test_officials_read_and_strangers_see_nothing(client, db):
    xiushan = (await db.exec(select(Community.id).where(Community.name == "秀山花园"))).one()
    base = f"/staff/communities/{xiushan}/fee-plans"
    csrf = await log_in(client, OFFICIAL_XIUSHAN)
    assert (await client.get(base)).status_code == 200
    tried = await client.post(
        base,
        data={
            "csrf_token": csrf,
            "name": "官员的方案",
            "phase": "market",
            "period_months": "1",
            "unit_price": "9",
        },
    )
    assert tried.status_code == 404
    assert (await db.exec(select(FeePlan).where(FeePlan.name == "官员的方案"))).first() is None
    await client.post("/logout", data={"csrf_token": csrf})
    client.cookies.clear()
    await log_in(client, STEWARD_YUEYANG)
    assert (await client.get(base)).status_code == 404
