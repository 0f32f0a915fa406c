"""Paying property fees in Chromium at a phone's size: three taps from the home page to a receipt, a result
page that tells the truth after a lost connection, a family member paying for a parent's home, no axe-core
violations on the billing pages, and elderly-size targets everywhere a resident taps."""

from __future__ import annotations

import itertools
import re
from typing import Any

import pytest

from ..conftest import FAMILY_OF_XIUSHAN, RESIDENT_XIUSHAN, STEWARD_XIUSHAN
from ..support.servers import AppProcess
from .helpers import Taps, axe_violations, logged_in, tappable_too_small

pytestmark = pytest.mark.browser
PERIODS = (f"2031-{month:02d}" for month in itertools.count(1))

STAFF_COMMUNITIES = "query { viewer { staffCommunities { id name } } }"
RUN_BILLS = """
mutation ($communityId: ID!, $period: String!) {
  runBills(communityId: $communityId, period: $period) { __typename ... on BillRunProgress { run { created finished } } }
}
"""
MY_BILLS = "query { myBills(unpaidOnly: true) { id period household { id address } } }"


@pytest.fixture
def site(own_server: AppProcess) -> dict[str, Any]:
    """A server of the module's own (its bills are paid), in English."""
    return {"base_url": own_server.url, "locale": "en-US"}


def fresh_bills(server: AppProcess) -> str:
    """The Xiushan steward runs bills for a period nobody has paid yet, so every test has something owed."""
    token = server.login(STEWARD_XIUSHAN)
    [community] = server.graphql(token, STAFF_COMMUNITIES)["viewer"]["staffCommunities"]
    period = next(PERIODS)
    run = server.graphql(token, RUN_BILLS, {"communityId": community["id"], "period": period})["runBills"]
    assert run["__typename"] == "BillRunProgress" and run["run"]["finished"] and run["run"]["created"] > 0, (
        run
    )
    return period


def test_resident_pays_in_three_taps_from_home_and_sees_the_receipt(new_context, own_server):
    # Given the demo resident on her home page, with a bill for a new period
    period = fresh_bills(own_server)
    page = logged_in(new_context, RESIDENT_XIUSHAN)
    page.goto("/")
    taps = Taps()
    # When she taps My bills, the big Pay button for her home, and Confirm at the cashier
    taps.on(page.get_by_role("link", name="My bills").first)
    page.wait_for_url("**/bills")
    own = page.locator("section.bill-card").filter(has=page.get_by_role("heading", name="My home"))
    assert period in own.inner_text()
    taps.on(own.get_by_role("button", name=re.compile(r"^Pay ")))
    page.wait_for_url("**/pay/sandbox/*")
    taps.on(page.get_by_role("button", name="Confirm payment"))
    page.wait_for_url(re.compile(r"/payments/\d+$"))
    # Then three taps were enough, the payment is confirmed and the receipt is on the page
    assert taps.count <= 3
    assert "Paid. Thank you!" in page.inner_text("main")
    receipt = page.locator("article.receipt")
    assert "Electronic receipt" in receipt.inner_text()
    assert re.search(r"[壹贰叁肆伍陆柒捌玖].*[元角分整]", receipt.locator(".capitals").inner_text())
    assert period in receipt.inner_text()
    # And the printable receipt opens from the result, and her bills show nothing owed for that period
    page.get_by_role("link", name="Open the receipt").click()
    assert re.search(r"/receipts/\d+$", page.url)
    assert "Electronic receipt" in page.inner_text("h1")
    page.goto("/bills")
    owed = (
        page.locator("section.bill-card").filter(has=page.get_by_role("heading", name="My home")).inner_text()
    )
    assert f"{period}:" not in owed


def test_the_result_page_shows_the_true_state_after_the_connection_drops(new_context, own_server):
    # Given the resident who started paying and went back to the result page, still waiting
    fresh_bills(own_server)
    page = logged_in(new_context, RESIDENT_XIUSHAN)
    page.goto("/bills")
    page.locator("section.bill-card").first.get_by_role("button", name=re.compile(r"^Pay ")).click()
    page.wait_for_url("**/pay/sandbox/*")
    cashier = page.url
    page.get_by_role("link", name="See where it stands").click()
    page.wait_for_url(re.compile(r"/payments/\d+$"))
    result = page.url
    assert "Waiting for the payment service to confirm." in page.inner_text("main")
    # When the phone loses its connection, and meanwhile the payment service takes the money
    page.context.set_offline(True)
    token = next(c["value"] for c in page.context.cookies() if c["name"] == "laoyou_csrf")
    paid = page.context.request.post(cashier, form={"csrf_token": token}, max_redirects=0)
    assert paid.status == 303
    # Then, back online, the page resumes by itself and shows the payment as paid
    page.context.set_offline(False)
    page.wait_for_function(
        "() => document.querySelector('main').innerText.includes('Paid. Thank you!')", timeout=15_000
    )
    # And reloading the result page shows the same true state
    page.goto(result)
    assert "Paid. Thank you!" in page.inner_text("main")
    assert page.locator("article.receipt").count() == 1


def test_a_family_member_sees_and_pays_the_linked_household(new_context, own_server):
    # Given new bills, and Wang Xiaoming who follows his mother's home
    period = fresh_bills(own_server)
    token = own_server.login(FAMILY_OF_XIUSHAN)
    owed = own_server.graphql(token, MY_BILLS)["myBills"]
    address = next(b["household"]["address"] for b in owed if b["period"] == period)
    page = logged_in(new_context, FAMILY_OF_XIUSHAN)
    page.goto("/bills")
    # When he opens the card of his family's home and pays it
    family = page.locator("section.bill-card").filter(
        has=page.get_by_role("heading", name="My family's home")
    )
    assert address in family.inner_text() and period in family.inner_text()
    family.get_by_role("button", name=re.compile(r"^Pay ")).click()
    page.get_by_role("button", name="Confirm payment").click()
    page.wait_for_url(re.compile(r"/payments/\d+$"))
    # Then the payment is confirmed for that home, and nothing of that period is owed any more
    assert "Paid. Thank you!" in page.inner_text("main")
    assert address in page.locator("article.receipt").inner_text()
    assert all(b["period"] != period for b in own_server.graphql(token, MY_BILLS)["myBills"])


def test_the_resident_pays_one_month_of_several(new_context, own_server):
    # Given two new months owed, on the resident's bills at a phone's size (360×740)
    first, second = fresh_bills(own_server), fresh_bills(own_server)
    page = logged_in(new_context, RESIDENT_XIUSHAN)
    page.goto("/bills")
    own = page.locator("section.bill-card").filter(has=page.get_by_role("heading", name="My home"))
    boxes = own.get_by_role("checkbox")
    # Then every month owed is ticked, in a label big enough for a shaky finger
    assert boxes.count() >= 2 and all(boxes.nth(i).is_checked() for i in range(boxes.count()))
    assert not tappable_too_small(page)
    all_months = own.get_by_role("button", name=re.compile(r"^Pay ")).inner_text()
    # When she leaves only the first new month ticked (by tapping the others' labels)
    for i in range(boxes.count()):
        if first not in boxes.nth(i).evaluate("box => box.closest('label').innerText"):
            own.locator("label.choice").nth(i).click()
    # Then the total and the button follow, before anything is sent
    amount = re.search(rf"{first}: ([\d.]+) yuan", own.inner_text()).group(1)
    pay = own.get_by_role("button", name=re.compile(r"^Pay "))
    assert pay.inner_text() == f"Pay {amount} yuan" != all_months
    assert own.locator("[data-total]").inner_text() == amount
    # And paying it at the sandbox cashier pays that month alone
    pay.click()
    page.wait_for_url("**/pay/sandbox/*")
    page.get_by_role("button", name="Confirm payment").click()
    page.wait_for_url(re.compile(r"/payments/\d+$"))
    assert "Paid. Thank you!" in page.inner_text("main")
    receipt = page.locator("article.receipt").inner_text()
    assert first in receipt and second not in receipt
    page.goto("/bills")
    owed = (
        page.locator("section.bill-card").filter(has=page.get_by_role("heading", name="My home")).inner_text()
    )
    assert f"{first}:" not in owed and f"{second}:" in owed


def resident_pages(new_context: Any, server: AppProcess) -> list[tuple[Any, str]]:
    """The resident's billing pages, each opened in its own tab: bills, the cashier, the result, the receipt."""
    fresh_bills(server)
    page = logged_in(new_context, RESIDENT_XIUSHAN)
    page.goto("/bills")
    bills = page.url
    page.locator("section.bill-card").first.get_by_role("button", name=re.compile(r"^Pay ")).click()
    page.wait_for_url("**/pay/sandbox/*")
    cashier = page.url
    page.get_by_role("link", name="See where it stands").click()
    page.wait_for_url(re.compile(r"/payments/\d+$"))
    pending = page.url
    page.goto(cashier)
    page.get_by_role("button", name="Confirm payment").click()
    page.wait_for_url(re.compile(r"/payments/\d+$"))
    result = page.url
    receipt = result.replace("/payments/", "/receipts/")
    urls = [bills, pending, result, receipt, "/receipts"]
    fresh_bills(server)
    page.goto("/bills")
    page.locator("section.bill-card").first.get_by_role("button", name=re.compile(r"^Pay ")).click()
    page.wait_for_url("**/pay/sandbox/*")
    urls.insert(1, page.url)
    return [(page, url) for url in urls]


def test_axe_finds_no_violations_on_the_billing_pages(new_context, own_server, axe):
    # Given the resident's pages (bills, cashier, waiting and paid results, receipt, receipts)
    pages = resident_pages(new_context, own_server)
    # And the steward's (fees of the community, a household's bills, the ledger, the fee plans)
    steward = logged_in(new_context, STEWARD_XIUSHAN)
    token = own_server.login(STEWARD_XIUSHAN)
    [community] = own_server.graphql(token, STAFF_COMMUNITIES)["viewer"]["staffCommunities"]
    household = own_server.graphql(
        own_server.login(RESIDENT_XIUSHAN), MY_BILLS.replace("(unpaidOnly: true)", "")
    )["myBills"][0]
    base = f"/staff/communities/{community['id']}"
    for url in (
        f"{base}/billing",
        f"{base}/ledger",
        f"{base}/ledger?fund=public_income",
        f"/staff/households/{household['household']['id']}/bills",
        f"{base}/fee-plans",
    ):
        pages.append((steward, url))
    violations = {}
    for page, url in pages:
        # When axe-core checks each page against WCAG 2.1 A and AA
        response = page.goto(url)
        assert response is not None and response.status == 200, url
        if found := axe_violations(axe, page):
            violations[url] = found
    # Then there are none
    assert not violations, "\n".join(f"{u}:\n{r}" for u, r in violations.items())


def test_every_tappable_thing_on_the_resident_billing_pages_is_at_least_60_px(new_context, own_server):
    # Given the resident's billing pages in the elderly mode (her default)
    pages = resident_pages(new_context, own_server)
    too_small = {}
    for page, url in pages:
        page.goto(url)
        assert page.evaluate("document.documentElement.className").find("mode-standard") == -1
        # When every link, button and field is measured
        found = tappable_too_small(page)
        if found:
            too_small[url] = found
    # Then none is smaller than 60×60 CSS px
    assert not too_small, too_small
