"""A steward prints a login card; it logs the resident in once on a new phone, then never again."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from ..conftest import STEWARD_XIUSHAN
from .helpers import login_staff, shot

pytestmark = pytest.mark.browser


def test_a_printed_card_logs_the_resident_in_once(new_context: Any, live_server: Any) -> None:
    staff = new_context().new_page()
    login_staff(staff, STEWARD_XIUSHAN)
    staff.get_by_role("link", name="秀山花园").click()
    staff.wait_for_url(re.compile(r"/staff/communities/[^/]+/households"))
    row = staff.locator("table.data tbody tr").first
    address = row.locator("th").inner_text().strip()
    assert "秀山花园" in address
    row.locator('a[href$="/cards"]').click()
    staff.wait_for_url(re.compile(r"/staff/households/[^/]+/cards$"))
    expect(staff.locator("h1")).to_have_text(address)
    button = staff.locator("ul.plain form button").first
    name = re.sub(r"^给|的卡.*$", "", button.inner_text().strip())
    button.click()

    card = staff.locator(".login-card")
    expect(card).to_be_visible()
    expect(card.locator(".who")).to_have_text(name)
    expect(card.locator(".qr svg")).to_be_visible()
    qr = card.locator(".qr svg").bounding_box()
    assert qr and qr["width"] >= 250, qr  # big enough to scan from the paper
    expect(staff.locator('[data-action="print"]')).to_be_visible()
    shot(staff, "login-card")
    staff.emulate_media(media="print")
    expect(staff.locator(".top")).to_be_hidden()
    expect(staff.locator('[data-action="print"]')).to_be_hidden()
    expect(card).to_be_visible()
    shot(staff, "login-card-print")
    staff.emulate_media(media="screen")
    staff.locator("details.no-print summary").click()
    url = staff.locator("#card-link").input_value()
    assert url.startswith(f"{live_server.url}/card/"), url

    # The resident's own phone: opening the link only shows a button (link previews must not spend it).
    phone = new_context().new_page()
    phone.goto(url)
    expect(phone.locator("h1")).to_have_text("用登录卡登录")
    shot(phone, "card")
    phone.locator('form[action^="/card/"] button').click()
    phone.wait_for_url(re.compile(r"/$"))
    expect(phone.locator("h1")).to_contain_text(name)
    expect(phone.locator("a.call").first).to_be_visible()

    # A second use, on another phone, is refused with a clear message.
    other = new_context().new_page()
    other.goto(url)
    other.locator('form[action^="/card/"] button').click()
    expect(other.locator(".error[role=alert]")).to_have_text("这张登录卡已经不能用了，请找管家要一张新的。")
    expect(other.locator('a[href="/login"].button')).to_be_visible()
    shot(other, "card-spent")

    # The steward sees the card as used.
    staff.goto(staff.url)
    expect(staff.locator("table.data tbody tr").first).to_contain_text("已使用")
