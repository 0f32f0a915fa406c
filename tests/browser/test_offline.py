"""The service worker keeps the shell and the last-seen pages: reading offline works."""

from __future__ import annotations

import re
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
    assert page.evaluate(
        "async () => !!(await caches.match('/offline')) && !!(await caches.match('/static/css/app.css'))"
    )

    login_demo(page, RESIDENT_XIUSHAN)
    expect(page.locator("h1")).to_contain_text("王秀英")
    page.wait_for_function(KEPT, arg="/")
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
    page.wait_for_function(KEPT, arg="/")
    page.goto("/settings")
    page.locator('form[action="/logout"] button').click()
    page.wait_for_url(re.compile(r"/login$"))
    page.wait_for_function(f"async () => !(await ({KEPT})('/'))")
