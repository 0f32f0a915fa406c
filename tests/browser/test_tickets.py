"""Work orders in Chromium at a phone's size: a resident reports a repair with a photo while offline, sees it
waiting, comes back online and exactly one work order with its photo exists; four taps from the home page;
no axe-core violations on the resident, field worker and steward pages; elderly-size targets for residents."""

from __future__ import annotations

import io
import re
from typing import Any

import pytest

from ..conftest import FIELD_ZHUJIAJIAO, RESIDENT_XIUSHAN, STEWARD_ZHUJIAJIAO
from ..support.servers import AppProcess
from .helpers import Taps, axe_violations, logged_in, shot, tappable_too_small

pytestmark = pytest.mark.browser

MY_ORDERS = "query { myWorkOrders(first: 50) { nodes { id description photos { id url thumbUrl } } } }"
VIEWER = "query { viewer { households { id community { id district { id } } } } }"


def jpeg(width: int = 1200, height: int = 900) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (30, 120, 200)).save(buffer, "JPEG", quality=80)
    return buffer.getvalue()


@pytest.fixture
def site(own_server: AppProcess) -> dict[str, Any]:
    """A server of the module's own (its work orders are counted), in English."""
    return {"base_url": own_server.url, "locale": "en-US"}


def test_offline_report_with_a_photo_waits_then_makes_exactly_one_work_order(
    new_context, own_server, tmp_path
):
    token = own_server.login(RESIDENT_XIUSHAN)
    before = {o["id"] for o in own_server.graphql(token, MY_ORDERS)["myWorkOrders"]["nodes"]}
    photo = tmp_path / "tap.jpg"
    photo.write_bytes(jpeg())
    # Given the resident on her home page, online
    page = logged_in(new_context, RESIDENT_XIUSHAN)
    page.goto("/")
    taps = Taps()
    # Tap 1: the Report a repair tile; tap 2: the picture of what is wrong
    taps.on(page.get_by_role("link", name="Report a repair").first)
    page.wait_for_url("**/repairs/new")
    shot(page, "tickets-1-choices")
    taps.on(page.get_by_role("link", name="Water"))
    page.wait_for_url("**/repairs/new?category=water")
    page.wait_for_function("() => !!document.querySelector('[data-report-form]')")
    # When the connection drops
    page.context.set_offline(True)
    # Tap 3: add a photo (the phone's picker); tap 4: Send
    with page.expect_file_chooser() as chooser:
        taps.on(page.locator("label.tk-file", has_text="Add photos"))
    chooser.value.set_files(str(photo))
    # And she sees the photo she chose
    assert page.get_by_role("status").filter(has_text="Photos chosen: 1").is_visible()
    assert page.locator("[data-photo-preview] img").count() == 1
    taps.on(page.get_by_role("button", name="Send"))
    # Then it visibly waits to be sent, on the page
    waiting = page.locator("[data-report-queue] .tk-waiting")
    waiting.wait_for(state="visible", timeout=10_000)
    assert "Waiting for a connection" in waiting.inner_text()
    shot(page, "tickets-2-waiting-offline")
    # And nothing has reached the server yet
    assert {o["id"] for o in own_server.graphql(token, MY_ORDERS)["myWorkOrders"]["nodes"]} == before
    # When the connection comes back
    page.context.set_offline(False)
    page.evaluate(
        "() => window.dispatchEvent(new Event('online'))"
    )  # a second 'online' must not send it twice
    sent = page.locator("[data-report-queue] a", has_text="Sent")
    sent.wait_for(state="visible", timeout=15_000)
    assert page.locator("[data-report-queue] .tk-waiting").count() == 0
    shot(page, "tickets-3-sent")
    # Then exactly one new work order exists, with its photo, in four taps
    assert taps.count <= 4
    orders = own_server.graphql(token, MY_ORDERS)["myWorkOrders"]["nodes"]
    new = [o for o in orders if o["id"] not in before]
    assert len(new) == 1, new
    [order] = new
    assert len(order["photos"]) == 1
    for url in (order["photos"][0]["url"], order["photos"][0]["thumbUrl"]):
        response = page.context.request.get(url)
        assert response.status == 200 and response.headers["content-type"].startswith("image/"), url
    # And the link opens its page, with the photo and the timeline
    sent.click()
    page.wait_for_url(f"**/orders/{order['id']}**")
    assert page.locator(".tk-photos img").count() == 1
    assert "Reported" in page.locator(".tk-timeline").inner_text()
    shot(page, "tickets-4-order")
    # And the report shows once in My reports
    page.goto("/repairs")
    assert page.locator(f'a[href="/orders/{order["id"]}"]').count() == 1
    shot(page, "tickets-5-mine")


def _an_order_id(server: AppProcess) -> str:
    token = server.login(RESIDENT_XIUSHAN)
    orders = server.graphql(token, MY_ORDERS)["myWorkOrders"]["nodes"]
    if orders:
        return orders[0]["id"]
    report = """mutation ($input: ReportProblemInput!) { reportProblem(input: $input) {
      ... on WorkOrderReported { workOrder { id } } } }"""
    data = server.graphql(
        token,
        report,
        {
            "input": {
                "clientId": "browser-axe-1",
                "category": "lighting",
                "description": "楼道灯坏了",
                "place": "common",
            }
        },
    )
    return data["reportProblem"]["workOrder"]["id"]


RESIDENT_PAGES = ("/repairs/new", "/repairs/new?category=water", "/repairs/new?kind=complaint", "/repairs")


def test_axe_finds_no_violations_on_the_work_order_pages(new_context, own_server, axe):
    order_id = _an_order_id(own_server)
    pages = [(RESIDENT_XIUSHAN, url) for url in (*RESIDENT_PAGES, f"/orders/{order_id}")]
    pages += [
        (FIELD_ZHUJIAJIAO, "/work"),
        (STEWARD_ZHUJIAJIAO, "/board"),
        (STEWARD_ZHUJIAJIAO, "/board?overdue=1"),
        (STEWARD_ZHUJIAJIAO, "/board/figures"),
        (STEWARD_ZHUJIAJIAO, "/board/staff"),
    ]
    browsers = {}
    violations = {}
    for phone, url in pages:
        page = browsers.get(phone) or browsers.setdefault(phone, logged_in(new_context, phone))
        # When axe-core checks each page against WCAG 2.1 A and AA
        response = page.goto(url)
        assert response is not None and response.status == 200, url
        shot(page, f"tickets-axe-{phone[-2:]}-{re.sub(r'[^a-z0-9]+', '-', url).strip('-') or 'home'}")
        if found := axe_violations(axe, page):
            violations[url] = found
    # Then there are none
    assert not violations, "\n".join(f"{u}:\n{r}" for u, r in violations.items())


def test_every_tappable_thing_on_the_resident_work_order_pages_is_at_least_60_px(new_context, own_server):
    # Given the resident's work-order pages in the elderly mode (her default)
    order_id = _an_order_id(own_server)
    page = logged_in(new_context, RESIDENT_XIUSHAN)
    too_small = {}
    for url in (*RESIDENT_PAGES, f"/orders/{order_id}"):
        page.goto(url)
        assert "mode-standard" not in page.evaluate("document.documentElement.className")
        # When every link, button and field is measured
        found = tappable_too_small(page)
        if found:
            too_small[url] = found
    # Then none is smaller than 60×60 CSS px
    assert not too_small, too_small


def test_a_report_with_a_long_unbroken_word_does_not_widen_her_phone(new_context, own_server):
    # Given a report whose place note and description are one long unbroken string (a pasted link)
    token = own_server.login(RESIDENT_XIUSHAN)
    long_word = "https://example.com/" + "a1b2c3d4e5" * 17  # 190 characters: a place note holds 200
    report = """mutation ($input: ReportProblemInput!) { reportProblem(input: $input) {
      ... on WorkOrderReported { workOrder { id } } ... on Error { message } } }"""
    data = own_server.graphql(
        token,
        report,
        {
            "input": {
                "clientId": "browser-long-word-1",
                "category": "lighting",
                "place": "common",
                "placeNote": long_word,
                "description": long_word,
            }
        },
    )
    assert "workOrder" in data["reportProblem"], data
    order_id = data["reportProblem"]["workOrder"]["id"]
    page = logged_in(new_context, RESIDENT_XIUSHAN)
    for url in ("/repairs", f"/orders/{order_id}"):
        # When she opens her reports and the report itself on a 360 px wide phone
        page.goto(url)
        assert long_word[:40] in page.locator("main").inner_text(), url
        # Then nothing scrolls sideways: the long string breaks to fit
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 360, (url, width)


def test_a_report_refused_as_sent_says_why_above_the_form_not_as_waiting(new_context, own_server):
    # Given the resident on the water form, online, with nothing written
    token = own_server.login(RESIDENT_XIUSHAN)
    before = len(own_server.graphql(token, MY_ORDERS)["myWorkOrders"]["nodes"])
    page = logged_in(new_context, RESIDENT_XIUSHAN)
    page.goto("/repairs/new?category=water")
    page.wait_for_function("() => !!document.querySelector('[data-report-form]')")
    # When she sends it with a description of spaces only (the browser's own check lets that pass)
    page.fill("#description", "   ")
    page.get_by_role("button", name="Send").click()
    # Then the server's words are above the form, the field is marked, and nothing says it waits to be sent
    alert = page.locator("#report-error")
    alert.wait_for(state="visible", timeout=10_000)
    assert alert.inner_text().strip()
    assert page.locator("#description").get_attribute("aria-invalid") == "true"
    assert page.locator("[data-report-queue]").is_hidden()
    assert len(own_server.graphql(token, MY_ORDERS)["myWorkOrders"]["nodes"]) == before
