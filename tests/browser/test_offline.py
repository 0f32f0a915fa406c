"""The service worker keeps the shell and the last-seen pages: reading offline works."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
from playwright.sync_api import expect

from ..conftest import RESIDENT_XIUSHAN
from .helpers import login_demo, shot

pytestmark = pytest.mark.browser

KEPT = (
    "async (path) => { const names = await caches.keys(); "
    "for (const n of names) { if (n.startsWith('laoyou-pages-') && await (await caches.open(n)).match(path)) "
    "return true; } return false; }"
)


def test_last_seen_pages_are_kept_for_reading_offline(new_context: Any) -> None:
    context = new_context()
    page = context.new_page()
    page.goto("/login")
    # The service worker installs from the first page and takes control of it.
    page.wait_for_function(
        "() => navigator.serviceWorker && navigator.serviceWorker.controller !== null", timeout=20_000
    )
    shell = page.evaluate("async () => (await caches.keys()).filter(n => n.startsWith('laoyou-shell-'))")
    assert len(shell) == 1
    # The shell holds the offline page and the stylesheet by the hashed name the pages ask for
    stylesheet = page.locator('link[rel="stylesheet"]').get_attribute("href")
    assert re.fullmatch(r"/static/css/app\.[0-9a-f]{12}\.css", stylesheet or "")
    assert page.evaluate(
        "async (css) => !!(await caches.match('/offline')) && !!(await caches.match(css))", stylesheet
    )

    login_demo(page, RESIDENT_XIUSHAN)
    expect(page.locator("h1")).to_contain_text("王秀英")
    _wait_until(page, KEPT, "/")
    assert not page.evaluate(
        "async () => { for (const n of await caches.keys()) { const c = await caches.open(n);"
        " for (const r of await c.keys()) if (new URL(r.url).pathname.startsWith('/graphql')"
        " || new URL(r.url).pathname.startsWith('/login')) return true; } return false; }"
    )

    context.set_offline(True)
    try:
        page.reload()
        expect(page.locator("h1")).to_contain_text("王秀英")
        expect(page.locator("a.call").first).to_be_visible()
        expect(page.locator("[data-offline-note]")).to_be_visible()
        shot(page, "home-offline")

        page.goto("/family")  # never opened on this phone
        expect(page.locator("h1")).to_have_text("没有网络")
        shot(page, "offline")
    finally:
        context.set_offline(False)

    page.goto("/family")
    expect(page.locator("h1")).to_have_text("家人")


def test_logging_out_forgets_the_kept_pages(new_context: Any) -> None:
    context = new_context()
    page = context.new_page()
    page.goto("/login")
    page.wait_for_function(
        "() => navigator.serviceWorker && navigator.serviceWorker.controller !== null", timeout=20_000
    )
    login_demo(page, RESIDENT_XIUSHAN)
    _wait_until(page, KEPT, "/")
    page.goto("/settings")
    page.locator('form[action="/logout"] button').click()
    page.wait_for_url(re.compile(r"/login$"))
    _wait_until(page, f"async (path) => !(await ({KEPT})(path))", "/")


MY_ORDERS = "query { myWorkOrders(first: 100) { nodes { id description } } }"
ALL_KEPT = (
    "async (paths) => { const names = (await caches.keys()).filter(n => n.startsWith('laoyou-pages-'));"
    " if (names.length !== 1) return false; const cache = await caches.open(names[0]);"
    " for (const p of paths) if (!(await cache.match(p))) return false; return true; }"
)


def test_after_only_the_home_page_her_pages_and_every_report_form_work_offline(
    new_context, own_server
) -> None:
    """The worker comes after the first page loaded: it still keeps that page and the resident's own pages, so
    bills, her reports and the form of a category she never opened open offline; a report made there is
    sent once when the phone is back online, and the offline page calls her steward."""
    token = own_server.login(RESIDENT_XIUSHAN)
    description = "门锁坏了，钥匙转不动（离线）"
    # Given she logs in and sees only her home page
    context = new_context(base_url=own_server.url)
    page = context.new_page()
    login_demo(page, RESIDENT_XIUSHAN)
    expect(page.locator("h1")).to_contain_text("王秀英")
    kept = [
        "/",
        "/bills",
        "/repairs",
        "/repairs/new?category=door_lock",
        "/repairs/new?category=gas",
        "/offline",
    ]
    _wait_until(page, ALL_KEPT, kept)
    # When the connection drops
    context.set_offline(True)
    try:
        # Then her bills and her reports open, from the phone's copies
        page.goto("/bills")
        expect(page.locator("[data-offline-note]")).to_be_visible()
        expect(page.locator("h1")).not_to_have_text("没有网络")
        page.goto("/repairs")
        expect(page.locator("h1")).not_to_have_text("没有网络")
        # And the offline page has a working call button: a tel: link with her steward's number
        page.goto("/family")
        expect(page.locator("h1")).to_have_text("没有网络")
        call = page.locator('a.call[href^="tel:"]').first
        expect(call).to_be_visible()
        assert len(call.get_attribute("href") or "") > len("tel:+86")
        shot(page, "offline-call")
        # And the form of a category she never opened takes a report, which waits on the phone
        page.goto("/repairs/new?category=door_lock")
        page.fill("#description", description)
        page.locator("[data-report-form] button[type=submit]").click()
        page.locator("[data-report-queue] .tk-waiting").wait_for(state="visible", timeout=10_000)
        shot(page, "offline-report-waiting")
        assert not [o for o in _orders(own_server, token) if o["description"] == description]
    finally:
        context.set_offline(False)
    # When the phone is back online (and says so twice)
    page.evaluate("() => window.dispatchEvent(new Event('online'))")
    page.locator("[data-report-queue] a[href^='/orders/']").wait_for(state="visible", timeout=15_000)
    # Then exactly one work order was made
    assert len([o for o in _orders(own_server, token) if o["description"] == description]) == 1
    page.reload()
    expect(page.locator("[data-report-queue] .tk-waiting")).to_have_count(0)
    assert len([o for o in _orders(own_server, token) if o["description"] == description]) == 1


def test_a_report_made_offline_is_sent_when_she_next_opens_any_page(new_context, own_server) -> None:
    """She reports offline and closes the app; the next time she opens it, on her home page with signal, the
    report goes out, without her opening the form or her reports again."""
    token = own_server.login(RESIDENT_XIUSHAN)
    description = "楼道灯不亮（离线，之后从首页发出）"
    context = new_context(base_url=own_server.url)
    page = context.new_page()
    login_demo(page, RESIDENT_XIUSHAN)
    _wait_until(page, ALL_KEPT, ["/", "/repairs/new?category=lighting"])
    # Given a report made offline, waiting on the phone, and the page closed
    context.set_offline(True)
    try:
        page.goto("/repairs/new?category=lighting")
        page.fill("#description", description)
        page.locator("[data-report-form] button[type=submit]").click()
        page.locator("[data-report-queue] .tk-waiting").wait_for(state="visible", timeout=10_000)
        page.close()
    finally:
        context.set_offline(False)
    assert not [o for o in _orders(own_server, token) if o["description"] == description]
    # When she opens the app again, on her home page
    home = context.new_page()
    home.goto("/")
    expect(home.locator("h1")).to_contain_text("王秀英")
    # Then the report is sent, once
    deadline = time.monotonic() + 15
    while not [o for o in _orders(own_server, token) if o["description"] == description]:
        assert time.monotonic() < deadline, "the waiting report was not sent from the home page"
        home.wait_for_timeout(200)
    home.reload()
    home.goto("/repairs")
    expect(home.locator("[data-report-queue] .tk-waiting")).to_have_count(0)
    assert len([o for o in _orders(own_server, token) if o["description"] == description]) == 1


def _orders(server: Any, token: str) -> list[dict[str, Any]]:
    return server.graphql(token, MY_ORDERS)["myWorkOrders"]["nodes"]


def _wait_until(page: Any, script: str, arg: Any, timeout: float = 30.0) -> None:
    """Poll an async script until it answers true (wait_for_function takes its promise for a true answer)."""
    deadline = time.monotonic() + timeout
    while not page.evaluate(script, arg):
        assert time.monotonic() < deadline, f"not true within {timeout} s: {script}"
        page.wait_for_timeout(200)
