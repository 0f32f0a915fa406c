"""axe-core finds no WCAG 2.0/2.1 A or AA violation on any page, for residents, visitors and staff."""

from __future__ import annotations

import re
from typing import Any

import pytest
from axe_playwright_python.sync_playwright import Axe

from ..conftest import RESIDENT_XIUSHAN, STEWARD_XIUSHAN
from .helpers import assert_accessible, login_demo, login_staff, shot

pytestmark = pytest.mark.browser


def test_visitor_pages(axe: Axe, page: Any) -> None:
    for path, name in [
        ("/login", "login"),
        ("/login/verify?phone=13800000001", "verify"),
        ("/card/not-a-real-card", "card"),
        ("/offline", "offline"),
        ("/settings", "settings-visitor"),
        ("/no-such-page", "error-404"),
    ]:
        page.goto(path)
        assert_accessible(axe, page, name, unfold=True)


def test_a_spent_card_page(axe: Axe, page: Any) -> None:
    page.goto("/card/not-a-real-card")
    page.locator('form[action^="/card/"] button').click()
    assert page.locator(".error[role=alert]").count() == 1
    assert_accessible(axe, page, "card-refused", unfold=True)


def test_resident_pages(axe: Axe, page: Any) -> None:
    login_demo(page, RESIDENT_XIUSHAN)
    for path, name in [
        ("/", "home"),
        ("/family", "family"),
        ("/settings", "settings"),
        ("/offline", "offline"),
        ("/no-such-page", "error-404-resident"),
    ]:
        page.goto(path)
        assert_accessible(axe, page, name, unfold=True)
    page.goto("/settings")
    page.locator('.lang-switch button[value="en"]').click()
    page.wait_for_url(re.compile(r"/settings$"))
    assert_accessible(axe, page, "settings-en", unfold=True)
    page.locator('.lang-switch button[value="zh_CN"]').click()


def test_staff_pages(axe: Axe, page: Any) -> None:
    login_staff(page, STEWARD_XIUSHAN)
    assert_accessible(axe, page, "staff-home", unfold=True)
    shot(page, "staff-home")
    page.locator("table.data a").first.click()
    page.wait_for_url(re.compile(r"/staff/communities/[^/]+/households"))
    assert_accessible(axe, page, "households", unfold=True)
    shot(page, "households")
    page.locator("table.data a").first.click()
    page.wait_for_url(re.compile(r"/staff/households/[^/]+/cards"))
    assert_accessible(axe, page, "household-cards", unfold=True)
    shot(page, "household-cards")
    page.locator("ul.plain form button").first.click()
    page.locator(".login-card").wait_for()
    assert_accessible(axe, page, "printed-login-card", unfold=True)
    shot(page, "login-card")
