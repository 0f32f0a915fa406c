"""Paying property fees in Chromium at a phone's size: three taps from the home page to a receipt, a result
page that tells the truth after a lost connection, a family member paying for a parent's home, no axe-core
violations on the billing pages, and elderly-size targets everywhere a resident taps."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator

import pytest
from axe_playwright_python.sync_playwright import Axe

from ..conftest import FAMILY_OF_XIUSHAN, RESIDENT_XIUSHAN, STEWARD_XIUSHAN
from ..support.servers import AppProcess

pytestmark = pytest.mark.browser
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
PERIODS = (f"2031-{month:02d}" for month in itertools.count(1))

STAFF_COMMUNITIES = "query { viewer { staffCommunities { id name } } }"
RUN_BILLS = """
mutation ($communityId: ID!, $period: String!) {
  runBills(communityId: $communityId, period: $period) { __typename ... on BillRunProgress { run { created finished } } }
}
"""
MY_BILLS = "query { myBills(unpaidOnly: true) { id period household { id address } } }"

# Everything a finger can land on; hidden inputs and elements that are not shown are left out.
TAPPABLE_TOO_SMALL = """
() => Array.from(document.querySelectorAll(
    'a[href], button, input:not([type=hidden]), select, textarea, summary, [role=button], [tabindex]:not([tabindex="-1"])'))
  .filter(el => { const r = el.getBoundingClientRect(); return r.width > 0 && r.height > 0; })
  .filter(el => { const r = el.getBoundingClientRect(); return r.width < 60 || r.height < 60; })
  .map(el => { const r = el.getBoundingClientRect();
    return `${el.tagName.toLowerCase()} "${(el.innerText || el.value || el.name || '').trim().slice(0, 40)}" ${Math.round(r.width)}x${Math.round(r.height)}`; })
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppProcess]:
    tmp = tmp_path_factory.mktemp("browser-billing")
    app = AppProcess(tmp, f"sqlite+aiosqlite:///{tmp / 'b.sqlite3'}").wait_ready()
    yield app
    app.stop()


@pytest.fixture(scope="module")
def axe() -> Axe:
    return Axe()


def logged_in(browser, server: AppProcess, phone: str):  # noqa: ANN001, ANN201
    context = browser.new_context(base_url=server.url, viewport={"width": 360, "height": 740}, locale="en-US")
    context.request.get("/login")
    token = next(c["value"] for c in context.cookies() if c["name"] == "laoyou_csrf")
    response = context.request.post(
        "/login/demo", form={"phone": phone, "csrf_token": token}, max_redirects=0
    )
    assert response.status == 303
    return context.new_page()


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


class Taps:
    """Counts what the person taps."""

    def __init__(self, page) -> None:  # noqa: ANN001
        self.page = page
        self.count = 0

    def on(self, locator) -> None:  # noqa: ANN001
        self.count += 1
        locator.click()


def test_resident_pays_in_three_taps_from_home_and_sees_the_receipt(browser, server):
    # Given the demo resident on her home page, with a bill for a new period
    period = fresh_bills(server)
    page = logged_in(browser, server, RESIDENT_XIUSHAN)
    page.goto("/")
    taps = Taps(page)
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


def test_the_result_page_shows_the_true_state_after_the_connection_drops(browser, server):
    # Given the resident who started paying and went back to the result page, still waiting
    fresh_bills(server)
    page = logged_in(browser, server, RESIDENT_XIUSHAN)
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


def test_a_family_member_sees_and_pays_the_linked_household(browser, server):
    # Given new bills, and Wang Xiaoming who follows his mother's home
    period = fresh_bills(server)
    token = server.login(FAMILY_OF_XIUSHAN)
    owed = server.graphql(token, MY_BILLS)["myBills"]
    address = next(b["household"]["address"] for b in owed if b["period"] == period)
    page = logged_in(browser, server, FAMILY_OF_XIUSHAN)
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
    assert all(b["period"] != period for b in server.graphql(token, MY_BILLS)["myBills"])


def resident_pages(browser, server: AppProcess) -> list[tuple[object, str]]:
    """The resident's billing pages, each opened in its own tab: bills, the cashier, the result, the receipt."""
    fresh_bills(server)
    page = logged_in(browser, server, RESIDENT_XIUSHAN)
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


def test_axe_finds_no_violations_on_the_billing_pages(browser, server, axe):
    # Given the resident's pages (bills, cashier, waiting and paid results, receipt, receipts)
    pages = resident_pages(browser, server)
    # And the steward's (fees of the community, a household's bills, the ledger, the fee plans)
    steward = logged_in(browser, server, STEWARD_XIUSHAN)
    token = server.login(STEWARD_XIUSHAN)
    [community] = server.graphql(token, STAFF_COMMUNITIES)["viewer"]["staffCommunities"]
    household = server.graphql(server.login(RESIDENT_XIUSHAN), MY_BILLS.replace("(unpaidOnly: true)", ""))[
        "myBills"
    ][0]
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
        results = axe.run(page, options={"runOnly": {"type": "tag", "values": AXE_TAGS}})
        if results.violations_count:
            violations[url] = results.generate_report()
    # Then there are none
    assert not violations, "\n".join(f"{u}:\n{r}" for u, r in violations.items())


def test_every_tappable_thing_on_the_resident_billing_pages_is_at_least_60_px(browser, server):
    # Given the resident's billing pages in the elderly mode (her default)
    pages = resident_pages(browser, server)
    too_small = {}
    for page, url in pages:
        page.goto(url)
        assert page.evaluate("document.documentElement.className").find("mode-standard") == -1
        # When every link, button and field is measured
        found = page.evaluate(TAPPABLE_TOO_SMALL)
        if found:
            too_small[url] = found
    # Then none is smaller than 60×60 CSS px
    assert not too_small, too_small
