"""Larger text in Chromium at 320×568 and 360×740 (issue 16, item 5): text at 200 % of the default, whether the
resident chose it in the app's settings or her phone's own font size is twice the usual. Every resident page then
has no sideways scrolling and nothing wider than the screen; the amount due and the 交 N 元 button each keep to
one line; phone numbers are whole and inside the screen; no button stacks its words a character a line; the
receipt's items show every column (数量, 单价, 月数, 金额) within 320 px.

The phone's font setting is modelled by Chromium's default font size (CDP Page.setFontSizes), which is what a
browser's own "font size" setting changes and what Chrome's `<meta name="text-scale">` scales with the phone's
font setting: the page's rem grows with it. Setting `document.documentElement.style.fontSize` instead would only
override the app's own CSS, which no phone does.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from typing import Any

import pytest

from ..conftest import RESIDENT_XIUSHAN, STEWARD_XIUSHAN
from ..support.servers import AppProcess
from .helpers import PHONE, login_demo, shot

pytestmark = pytest.mark.browser

SMALL = {"width": 320, "height": 568}
VIEWPORTS = pytest.mark.parametrize("viewport", [SMALL, PHONE], ids=["320x568", "360x740"])
PERIODS = (f"2035-{month:02d}" for month in itertools.count(1))
STAFF_COMMUNITIES = "query { viewer { staffCommunities { id name } } }"
RUN_BILLS = """
mutation ($communityId: ID!, $period: String!) {
  runBills(communityId: $communityId, period: $period) { __typename ... on BillRunProgress { run { created } } }
}
"""
TEXT_SIZE = "mutation ($size: TextSize!) { updatePreferences(textSize: $size) { __typename } }"
MY_ORDERS = "query { myWorkOrders(first: 5) { nodes { id } } }"
REPORT = """mutation ($input: ReportProblemInput!) { reportProblem(input: $input) {
  __typename ... on WorkOrderReported { workOrder { id } } } }"""
BRIEFING = """
mutation ($communityIds: [ID!]!) {
  createBriefing(input: {communityIds: $communityIds, title: "三号楼的路灯修好了，电梯下周一保养", body: "路灯修好了。"},
                 mode: NOW) { __typename }
}
"""

# What is wrong with the page's layout as it is now, one line per fault: sideways scrolling; an element reaching
# past either edge of the screen; text cut off inside its box; a phone number (tel: link) not whole on the screen;
# a button whose words stand a character a line; and, named by `one_line`, elements whose text must keep to one line.
LAYOUT_FAULTS = """
(oneLine) => {
  const width = document.documentElement.clientWidth;
  const faults = [];
  const name = (el) => `${el.tagName.toLowerCase()}${el.className && typeof el.className === "string"
    ? "." + el.className.trim().split(/\\s+/).join(".") : ""} "${(el.textContent || "").trim().replace(/\\s+/g, " ").slice(0, 30)}"`;
  const shown = (el) => el.getClientRects().length && getComputedStyle(el).visibility !== "hidden"
    && !el.closest(".sr-only, [hidden], details:not([open]) > :not(summary)");
  // How many lines an element's words take (an icon above them is no line of text)
  const lines = (el) => {
    const tops = [];
    const walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
    while (walker.nextNode()) {
      const text = walker.currentNode;
      if (!text.textContent.trim() || !shown(text.parentElement)) continue;
      const range = document.createRange();
      range.selectNodeContents(text);
      for (const r of range.getClientRects()) {
        if (r.width < 1 || r.height < 1) continue;
        if (!tops.some((t) => Math.abs(t - r.top) < r.height / 2)) tops.push(r.top);
      }
    }
    return tops.length;
  };
  if (document.documentElement.scrollWidth > width + 1) {
    faults.push(`the page scrolls sideways: ${document.documentElement.scrollWidth} > ${width}`);
  }
  for (const el of document.body.querySelectorAll("*")) {
    if (!shown(el) || el.closest("script, style, svg")) continue;
    const box = el.getBoundingClientRect();
    if (box.left < -1 || box.right > width + 1) faults.push(`wider than the screen: ${name(el)} ${Math.round(box.left)}..${Math.round(box.right)}`);
    const style = getComputedStyle(el);
    const clips = /(hidden|clip|auto|scroll)/.test(style.overflowX) && !el.matches("html, body");
    if (clips && el.scrollWidth > el.clientWidth + 1 && !el.matches(".briefing-line a span, input, label.tk-file")) {
      faults.push(`cut off or scrolls inside: ${name(el)} ${el.scrollWidth} > ${el.clientWidth}`);
    }
  }
  for (const link of document.querySelectorAll('a[href^="tel:"]')) {
    if (!shown(link)) continue;
    const box = link.getBoundingClientRect();
    const walker = document.createTreeWalker(link, NodeFilter.SHOW_TEXT);
    while (walker.nextNode()) {
      const text = walker.currentNode;
      const match = /\\d[\\d\\s-]{2,}\\d/.exec(text.textContent);
      if (!match) continue;
      const range = document.createRange();
      range.setStart(text, match.index);
      range.setEnd(text, match.index + match[0].length);
      const parts = [...range.getClientRects()].filter((r) => r.width >= 1);
      const out = parts.some((r) => r.left < box.left - 1 || r.right > box.right + 1 || r.left < 0 || r.right > width + 1);
      if (out) faults.push(`phone number cut off: ${name(link)}`);
      if (parts.length > 1) faults.push(`phone number broken over lines: ${name(link)}`);
    }
  }
  for (const el of document.querySelectorAll('button, .button, a.call, a.call-family, a.tile, a.first-tile, a.tk-choice, input[type="submit"]')) {
    if (!shown(el)) continue;
    const chars = (el.textContent || el.value || "").replace(/\\s+/g, "").length;
    const count = lines(el);
    if (count > 1 && chars / count < 2) faults.push(`a character a line (${count} lines): ${name(el)}`);
  }
  for (const selector of oneLine) {
    for (const el of document.querySelectorAll(selector)) {
      if (shown(el) && lines(el) !== 1) faults.push(`not on one line (${lines(el)}): ${name(el)}`);
    }
  }
  return faults;
}
"""
ONE_LINE = [".amount-due", "button[data-pay-button]"]


@pytest.fixture
def site(own_server: AppProcess) -> dict[str, Any]:
    """A server of the module's own (its bills are paid and its text sizes changed), in Chinese."""
    return {"base_url": own_server.url, "locale": "zh-CN"}


def run_bills(server: AppProcess) -> None:
    token = server.login(STEWARD_XIUSHAN)
    [community] = server.graphql(token, STAFF_COMMUNITIES)["viewer"]["staffCommunities"]
    run = server.graphql(token, RUN_BILLS, {"communityId": community["id"], "period": next(PERIODS)})
    assert run["runBills"]["__typename"] == "BillRunProgress" and run["runBills"]["run"]["created"], run


@pytest.fixture(scope="module")
def resident_pages(own_server: AppProcess, browser: Any) -> list[str]:
    """Every kind of page a resident meets: with a receipt (a month paid), a month still owed, a repair and
    today's briefing."""
    steward = own_server.login(STEWARD_XIUSHAN)
    [community] = own_server.graphql(steward, STAFF_COMMUNITIES)["viewer"]["staffCommunities"]
    made = own_server.graphql(steward, BRIEFING, {"communityIds": [community["id"]]})["createBriefing"]
    assert made["__typename"] == "BriefingPublished" or "Error" not in made["__typename"], made
    token = own_server.login(RESIDENT_XIUSHAN)
    orders = own_server.graphql(token, MY_ORDERS)["myWorkOrders"]["nodes"]
    if not orders:
        reported = own_server.graphql(
            token,
            REPORT,
            {
                "input": {
                    "clientId": "larger-text-1",
                    "category": "lighting",
                    "description": "楼道灯坏了",
                    "place": "common",
                }
            },
        )["reportProblem"]
        orders = [reported["workOrder"]]
    run_bills(own_server)
    context = browser.new_context(base_url=own_server.url, locale="zh-CN", viewport=PHONE)
    try:
        page = context.new_page()
        login_demo(page, RESIDENT_XIUSHAN)
        page.goto("/bills")
        page.locator("section.bill-card").first.locator("button[data-pay-button]").click()
        page.wait_for_url("**/pay/sandbox/*")
        page.locator("form button[type=submit]").first.click()
        page.wait_for_url(re.compile(r"/payments/\d+$"))
        receipt = page.url.replace("/payments/", "/receipts/").removeprefix(own_server.url)
        page.goto("/briefings")
        briefing = page.locator('main a[href^="/briefings/"]').first.get_attribute("href")
    finally:
        context.close()
    run_bills(own_server)  # and a month still owed, for the amount due and its 交 N 元 button
    return [
        "/",
        "/bills",
        receipt,
        "/receipts",
        "/repairs",
        "/repairs/new",
        "/repairs/new?category=water",
        "/repairs/new?category=gas",
        f"/orders/{orders[0]['id']}",
        "/briefings",
        briefing,
        "/support",
        "/support/sos",
        "/settings",
        "/family",
        "/offline",
    ]


@pytest.fixture
def text_size(own_server: AppProcess) -> Iterator[Any]:
    """Set the resident's own text size in the app (her preference, kept on the server); back to large after."""
    token = own_server.login(RESIDENT_XIUSHAN)

    def choose(size: str) -> None:
        assert own_server.graphql(token, TEXT_SIZE, {"size": size})["updatePreferences"]["__typename"]

    yield choose
    choose("large")


def phone(new_context: Any, viewport: dict, *, base_font_px: int = 16) -> Any:
    """A logged-in resident's phone; base_font_px is the phone's own default font size (16 unless she changed it)."""
    context = new_context(viewport=viewport, has_touch=True, is_mobile=True)
    page = context.new_page()
    if base_font_px != 16:
        context.new_cdp_session(page).send("Page.setFontSizes", {"fontSizes": {"standard": base_font_px}})
    login_demo(page, RESIDENT_XIUSHAN)
    return page


def report(faults: dict[str, list[str]]) -> str:
    return "\n".join(f"{url}:\n  " + "\n  ".join(found) for url, found in faults.items())


def check_every_page(page: Any, pages: list[str], label: str) -> dict[str, list[str]]:
    faults = {}
    for url in pages:
        response = page.goto(url)
        assert response is not None and response.status == 200, url
        # The text really is twice the default: 40 px (a phone left as it came gives 20 px)
        assert page.evaluate("parseFloat(getComputedStyle(document.body).fontSize)") == 40, url
        if found := page.evaluate(LAYOUT_FAULTS, ONE_LINE):
            faults[url] = found
        if label.startswith("app"):  # a full-page screenshot drops Page.setFontSizes while it is taken
            shot(page, f"larger-text-{label}-{url.strip('/').replace('/', '-').replace('?', '-') or 'home'}")
    return faults


@VIEWPORTS
def test_every_resident_page_fits_at_twice_the_text_chosen_in_the_app(
    new_context, resident_pages, text_size, viewport
):
    # Given the resident chose the largest text in the app's settings, on a phone left as it came
    text_size("huge")
    page = phone(new_context, viewport)
    # Then every page she can open fits the screen at 40 px text
    faults = check_every_page(page, resident_pages, f"app-{viewport['width']}")
    assert not faults, report(faults)


@VIEWPORTS
def test_every_resident_page_fits_when_the_phone_itself_doubles_the_text(
    new_context, resident_pages, viewport
):
    # Given the resident left the app at its default and set her phone's own font size to twice the usual
    page = phone(new_context, viewport, base_font_px=32)
    # Then the app's text follows the phone (125 % of 32 px) and every page fits the screen
    faults = check_every_page(page, resident_pages, f"phone-{viewport['width']}")
    assert not faults, report(faults)


def test_the_pay_button_and_the_receipt_at_twice_the_text_on_a_small_phone(
    new_context, resident_pages, text_size
):
    # Given the largest text on a 320 px phone
    text_size("huge")
    page = phone(new_context, SMALL)
    # Then the amount due and 交 N 元 are each one line, the button reading the same amount
    page.goto("/bills")
    own = page.locator("section.bill-card").first
    amount = own.locator(".amount-due [data-total]").inner_text()
    assert own.locator("button[data-pay-button]").inner_text().replace(" ", "") == f"交{amount}元"
    # And so they are for a year of a large flat's fees, ¥1,234.56, as the months she ticks can add up to
    page.evaluate(
        """() => { document.querySelector("[data-total]").textContent = "1,234.56";
                   document.querySelector("button[data-pay-button]").textContent = "交 1,234.56 元"; }"""
    )
    assert not page.evaluate(LAYOUT_FAULTS, ONE_LINE), page.evaluate(LAYOUT_FAULTS, ONE_LINE)
    # And the receipt shows each item's every column, side by side with its name, inside the screen
    page.goto(resident_pages[2])
    items = page.locator(".receipt .items")
    assert items.count() >= 1
    first = items.first
    for column in ("数量", "单价", "月数", "金额"):
        cell = first.get_by_text(column, exact=True).first
        assert cell.is_visible(), column
        box = cell.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= SMALL["width"], (column, box)


def test_the_settings_offer_five_sizes_each_shown_in_its_size(new_context, text_size):
    # Given the resident at the default size on a phone whose own font size is 20 px (125 %)
    page = phone(new_context, PHONE, base_font_px=20)
    page.goto("/settings")
    sizes = {
        size: page.evaluate(
            "(s) => parseFloat(getComputedStyle(document.querySelector(`label.size-${s}`)).fontSize)", size
        )
        for size in ("standard", "large", "larger", "largest", "huge")
    }
    # Then each choice is shown at its share of the phone's size: 90 %, 100 %, 125 %, 150 % and 200 % of the
    # app's default, which here is 25 px
    assert sizes == {"standard": 22.5, "large": 25, "larger": 31.25, "largest": 37.5, "huge": 50}
    # When she picks 最大 and saves
    page.locator("label.choice", has=page.locator('input[name="text_size"][value="huge"]')).click()
    page.get_by_role("button", name="保存").click()
    page.wait_for_url(re.compile(r"/settings\?saved=1$"))
    # Then the page's text is twice the default, on her phone's scale: 50 px
    assert page.evaluate("parseFloat(getComputedStyle(document.body).fontSize)") == 50
    assert page.locator('input[name="text_size"][value="huge"]').is_checked()
