"""The resident's first screen in Chromium at 320×568 and 360×740: 给管家打电话 (largest), 紧急求助, 交费 with the
amount due, 报修 and 问客服, then one line of today's briefing, all above the fold; a family member sees the same
for the home they follow, and can call the one living there. Taps from a cold home page: the steward 1, SOS 2
(a tap, then 确认求助; a 2-second hold raises it too), the cashier for everything due 2, a leak reported with a
photo 4. No axe-core violations,
text at least 18 px and targets at least 60 px."""

from __future__ import annotations

import itertools
import re
from typing import Any

import pytest
from PIL import Image

from ..conftest import FAMILY_OF_XIUSHAN, RESIDENT_XIUSHAN, STEWARD_XIUSHAN
from ..support.servers import AppProcess
from .helpers import Taps, assert_accessible, logged_in, shot, tappable_too_small, text_too_small

pytestmark = pytest.mark.browser

SMALL = {"width": 320, "height": 568}
PHONE = {"width": 360, "height": 740}
PERIODS = (f"2033-{month:02d}" for month in itertools.count(1))
STAFF_COMMUNITIES = "query { viewer { staffCommunities { id name } } }"
RUN_BILLS = """
mutation ($communityId: ID!, $period: String!) {
  runBills(communityId: $communityId, period: $period) { __typename ... on BillRunProgress { run { created } } }
}
"""
BRIEFING = """
mutation ($communityIds: [ID!]!) {
  createBriefing(input: {communityIds: $communityIds, title: "今天修好了3号楼的路灯", body: "路灯修好了。"},
                 mode: NOW) {
    __typename ... on Error { message }
  }
}
"""


@pytest.fixture
def site(own_server: AppProcess) -> dict[str, Any]:
    """A server of the module's own (its SOS alerts and bills), in Chinese as the residents see it."""
    return {"base_url": own_server.url, "locale": "zh-CN"}


@pytest.fixture(scope="module")
def xiushan(own_server: AppProcess) -> None:
    """秀山花园 owes a month's bill and has today's briefing."""
    token = own_server.login(STEWARD_XIUSHAN)
    [community] = own_server.graphql(token, STAFF_COMMUNITIES)["viewer"]["staffCommunities"]
    run = own_server.graphql(token, RUN_BILLS, {"communityId": community["id"], "period": next(PERIODS)})
    assert run["runBills"]["__typename"] == "BillRunProgress" and run["runBills"]["run"]["created"], run
    made = own_server.graphql(token, BRIEFING, {"communityIds": [community["id"]]})["createBriefing"]
    assert made["__typename"] != "BriefingError", made


def first_screen(page: Any) -> dict[str, Any]:
    """The first screen's parts, in the order a person meets them."""
    tiles = page.locator(".first-tiles")
    return {
        "call": page.locator("a.call").first,
        "sos": tiles.get_by_role("link", name=re.compile("紧急求助")),
        "pay": tiles.get_by_role("link", name=re.compile("交费")),
        "repair": tiles.get_by_role("link", name=re.compile("报修")),
        "chat": tiles.get_by_role("link", name=re.compile("问客服")),
        "briefing": page.locator(".briefing-line a"),
    }


def assert_above_the_fold(page: Any, parts: dict[str, Any], viewport: dict) -> None:
    boxes = {name: part.bounding_box() for name, part in parts.items()}
    for name, box in boxes.items():
        assert box, name
        assert box["y"] >= 0 and box["y"] + box["height"] <= viewport["height"], (name, box, viewport)
        assert box["x"] >= 0 and box["x"] + box["width"] <= viewport["width"], (name, box, viewport)
    # In reading order: the call, SOS beside 交费, 报修 beside 问客服, then the briefing's line
    order = [boxes[n]["y"] for n in ("call", "sos", "repair", "briefing")]
    assert order == sorted(order), boxes
    assert boxes["sos"]["y"] == boxes["pay"]["y"] and boxes["sos"]["x"] < boxes["pay"]["x"], boxes
    assert boxes["repair"]["y"] == boxes["chat"]["y"] and boxes["repair"]["x"] < boxes["chat"]["x"], boxes
    # And the call to the steward is the largest button
    area = {name: box["width"] * box["height"] for name, box in boxes.items()}
    assert area["call"] == max(area.values()), area


@pytest.mark.parametrize("viewport", [SMALL, PHONE], ids=["320x568", "360x740"])
def test_the_resident_meets_what_she_needs_most_above_the_fold(new_context, xiushan, axe, viewport):
    # Given 王秀英, who owes a bill and has today's briefing, on a small phone
    page = logged_in(new_context, RESIDENT_XIUSHAN, viewport=viewport, has_touch=True, is_mobile=True)
    page.goto("/")
    parts = first_screen(page)
    # Then the steward's call, SOS, 交费 with what she owes, 报修, 问客服 and the briefing's line are all on the
    # first screen, in that order
    assert_above_the_fold(page, parts, viewport)
    assert parts["call"].inner_text().strip() == "给管家打电话"
    assert (parts["call"].get_attribute("href") or "").startswith("tel:")
    assert re.search(r"要交 ¥\d+\.\d\d", parts["pay"].inner_text()), parts["pay"].inner_text()
    assert parts["pay"].get_attribute("href") == "/bills"
    # And SOS says how it works
    sos = parts["sos"].inner_text()
    assert "点一下再确认" in sos and "或按住两秒" in sos
    # And the briefing's line is one line that opens it
    line = parts["briefing"]
    assert "今天修好了3号楼的路灯" in line.inner_text()
    assert line.bounding_box()["height"] < 2 * 60
    assert re.fullmatch(r"/briefings/\d+", line.get_attribute("href") or "")
    # And the page has no axe-core violations, no text under 18 px and no target under 60 px
    assert_accessible(axe, page, f"resident home {viewport['width']}")
    assert not text_too_small(page), text_too_small(page)
    assert not tappable_too_small(page), tappable_too_small(page)
    shot(page, f"first-screen-{viewport['width']}")


@pytest.mark.parametrize("viewport", [SMALL, PHONE], ids=["320x568", "360x740"])
def test_family_see_the_same_for_the_home_they_follow_and_can_call_mum(new_context, xiushan, axe, viewport):
    # Given 王小明, who follows his mother's home from another city
    page = logged_in(new_context, FAMILY_OF_XIUSHAN, viewport=viewport, has_touch=True, is_mobile=True)
    page.goto("/")
    parts = first_screen(page)
    mum = page.get_by_role("link", name="给王秀英打电话")
    # Then he meets the same first screen for her home, with a call to her among it
    assert_above_the_fold(page, {**parts, "mum": mum}, viewport)
    assert parts["call"].inner_text().strip() == "给他们的管家打电话"
    assert mum.get_attribute("href") == "tel:13800000001"
    assert re.search(r"要交 ¥\d+\.\d\d", parts["pay"].inner_text())
    assert_accessible(axe, page, f"family home {viewport['width']}")
    assert not text_too_small(page), text_too_small(page)
    assert not tappable_too_small(page), tappable_too_small(page)
    shot(page, f"first-screen-family-{viewport['width']}")


def test_calling_the_steward_is_one_tap(new_context, xiushan):
    # Given a cold home page, which notes whether anything stops a tap from doing what its link says
    page = logged_in(new_context, RESIDENT_XIUSHAN, viewport=SMALL, has_touch=True, is_mobile=True)
    page.goto("/")
    page.evaluate(
        """() => document.addEventListener("click", (event) => {
             window.tapped = {href: event.target.closest("a")?.getAttribute("href"), stopped: event.defaultPrevented};
             event.preventDefault();  // the test's browser has no phone to dial
           })"""
    )
    # When she taps 给管家打电话 once
    taps = Taps()
    call = first_screen(page)["call"]
    taps.on(call)
    # Then that one tap asks the phone to dial her steward: a tel: link that nothing intercepts
    tapped = page.evaluate("() => window.tapped")
    assert tapped["href"].startswith("tel:") and tapped["href"] == call.get_attribute("href")
    assert not tapped["stopped"]
    assert taps.count == 1


def test_sos_is_a_tap_then_confirm(new_context, xiushan, axe):
    # Given a cold home page
    page = logged_in(new_context, RESIDENT_XIUSHAN, viewport=SMALL, has_touch=True, is_mobile=True)
    page.goto("/")
    taps = Taps()
    # When she taps SOS, a large 确认求助 / 取消 page asks her to be sure (nothing is raised yet)
    taps.on(first_screen(page)["sos"])
    page.wait_for_url("**/support/sos")
    confirm = page.get_by_role("button", name="确认求助")
    cancel = page.get_by_role("link", name="取消")
    for target in (confirm, cancel):
        box = target.bounding_box()
        assert box["y"] + box["height"] <= SMALL["height"] and box["height"] >= 60, box
    assert_accessible(axe, page, "SOS confirm page")
    assert not tappable_too_small(page), tappable_too_small(page)
    assert not text_too_small(page), text_too_small(page)
    shot(page, "sos-confirm")
    # Then 取消 brings her home, and nothing was raised
    cancel.click()
    page.wait_for_url(re.compile(r"/$"))
    # When she taps SOS and 确认求助
    taps = Taps()
    taps.on(first_screen(page)["sos"])
    page.wait_for_url("**/support/sos")
    taps.on(page.get_by_role("button", name="确认求助"))
    # Then the SOS page says who was alerted, after two taps
    page.wait_for_url(re.compile(r"/support/sos/\d+$"))
    page.wait_for_selector("[data-sos-live]")
    assert taps.count == 2


def test_sos_held_for_two_seconds_raises_it_at_once(new_context, xiushan):
    # Given a cold home page
    page = logged_in(new_context, RESIDENT_XIUSHAN, viewport=PHONE)
    page.goto("/")
    sos = page.locator("a.sos-tile")
    box = sos.bounding_box()
    # When she presses SOS and keeps holding it
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.down()
    # Then the button tells her to keep holding, and after two seconds the alert is raised without a confirm page
    assert "请继续按住" in sos.inner_text()
    page.wait_for_url(re.compile(r"/support/sos/\d+$"), timeout=10_000)
    page.mouse.up()
    page.wait_for_selector("[data-sos-live]")
    assert not page.url.endswith("/support/sos")


def test_paying_everything_due_reaches_the_cashier_in_two_taps(new_context, xiushan):
    # Given a cold home page showing what she owes
    page = logged_in(new_context, RESIDENT_XIUSHAN, viewport=SMALL, has_touch=True, is_mobile=True)
    page.goto("/")
    owed = re.search(r"要交 ¥(\d+\.\d\d)", first_screen(page)["pay"].inner_text()).group(1)
    taps = Taps()
    # When she taps 交费 and the bills page's pay button (every bill due is chosen to begin with)
    taps.on(first_screen(page)["pay"])
    page.wait_for_url("**/bills")
    taps.on(page.locator('form[action="/bills/pay"] button[type="submit"]').first)
    # Then the cashier asks her for that amount, after two taps
    page.wait_for_url("**/pay/sandbox/*")
    assert owed in page.inner_text("main")
    assert taps.count == 2


MY_ORDERS = "query { myWorkOrders(first: 100) { nodes { id category photos { id } } } }"


def test_reporting_a_leak_with_a_photo_is_four_taps(new_context, xiushan, own_server, tmp_path):
    token = own_server.login(RESIDENT_XIUSHAN)
    before = {o["id"] for o in own_server.graphql(token, MY_ORDERS)["myWorkOrders"]["nodes"]}
    photo = tmp_path / "leak.jpg"
    Image.new("RGB", (640, 480), (40, 90, 160)).save(photo, "JPEG")
    # Given a cold home page
    page = logged_in(new_context, RESIDENT_XIUSHAN, viewport=SMALL, has_touch=True, is_mobile=True)
    page.goto("/")
    taps = Taps()
    # When she taps 报修, the leaking pipe, 添加照片 (her phone's camera gives the picture) and 发送
    taps.on(first_screen(page)["repair"])
    page.wait_for_url("**/repairs/new")
    taps.on(page.locator('a.tk-choice[href$="category=water"]'))
    page.wait_for_url("**/repairs/new?category=water")
    with page.expect_file_chooser() as chooser:
        taps.on(page.locator("label.tk-file"))
    chooser.value.set_files(str(photo))
    taps.on(page.locator("[data-report-form] button[type=submit]"))
    # Then, after four taps, her report of a leak with its photo is made and shown to her
    page.wait_for_url(re.compile(r"/orders/\d+"))
    assert taps.count == 4
    made = [o for o in own_server.graphql(token, MY_ORDERS)["myWorkOrders"]["nodes"] if o["id"] not in before]
    assert [(o["category"], len(o["photos"])) for o in made] == [("water", 1)], made
