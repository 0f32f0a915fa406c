"""Back restores a resident's page from the back/forward cache (no Cache-Control: no-store), and a page of a
session that has ended since (logged out) is loaded afresh instead of shown again."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ..conftest import RESIDENT_XIUSHAN
from .helpers import CHROMIUM, CHROMIUM_ARGS, logged_in

pytestmark = pytest.mark.browser

RESTORED = "window.addEventListener('pageshow', (e) => { window.__restored = e.persisted; });"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Chromium with its back/forward cache on (Playwright turns it off by default)."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Debian's chromium is not installed at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, ignore_default_args=["--disable-back-forward-cache"]
        )
        yield chromium
        chromium.close()


def test_back_restores_her_bills_at_once_but_not_after_logging_out(new_context) -> None:
    # Given a resident on her bills, then on the settings page
    page = logged_in(new_context, RESIDENT_XIUSHAN)
    page.add_init_script(RESTORED)
    page.goto("/bills")
    page.evaluate("() => { window.__marker = 'still here'; }")
    page.goto("/settings")
    # When she goes back (a page restored from memory fires no load event)
    page.go_back(wait_until="commit")
    page.wait_for_function("() => window.__restored !== undefined")
    # Then her bills come back from memory, as she left them
    assert page.evaluate("() => [window.__restored, window.__marker]") == [True, "still here"]
    # When she logs out, then goes back to her settings and her bills
    page.goto("/settings")
    page.locator('form[action="/logout"] button').click()
    page.wait_for_url(re.compile(r"/login$"))
    page.go_back(wait_until="commit")
    page.wait_for_url(re.compile(r"/settings$"))
    # Then the settings page of the ended session is loaded afresh: it has no logout button now
    page.wait_for_function("() => window.__restored === false")
    assert page.locator('form[action="/logout"]').count() == 0
    # And her bills, too, are not shown again: she is asked to log in
    page.go_back(wait_until="commit")
    page.wait_for_url(re.compile(r"/login$"))
