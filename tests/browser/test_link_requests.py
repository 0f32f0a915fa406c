"""On a phone: someone in no household asks to be linked to their home, the district steward confirms, and the
person's home page then shows the home."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from ..conftest import STEWARD_ZHUJIAJIAO
from .helpers import login_staff, shot, tappable_too_small, text_too_small

pytestmark = pytest.mark.browser

NEWCOMER = "13900007788"


def test_an_unlinked_resident_asks_and_the_steward_confirms(new_context: Any, live_server: Any) -> None:
    # Given a newcomer who logs in with an SMS code and lives in no household yet
    phone = new_context().new_page()
    phone.goto("/login")
    phone.fill("#phone", NEWCOMER)
    phone.locator('form[action="/login/code"] button[type="submit"]').click()
    phone.wait_for_url(re.compile(r"/login/verify$"))
    phone.fill("#code", live_server.sms_code(NEWCOMER))
    phone.locator('form[action="/login/verify"] button[type="submit"]').click()
    phone.wait_for_url(re.compile(r"/$"))
    # Then their home asks where they live instead of sending them away
    expect(phone.locator("#link-ask")).to_have_text("告诉我们您住在哪里")
    # When they find their community by part of its name and type building and unit as they say them
    phone.fill("#link-search", "新风")
    phone.locator("form.search button").click()
    phone.wait_for_url(re.compile(r"/link\?q="))
    community = phone.get_by_label("新风新村")
    expect(community).to_be_checked()  # the only one found is already chosen
    phone.fill("#link-building", "3栋")
    phone.fill("#link-unit", "101")
    phone.fill("#link-name", "钱阿姨")
    phone.get_by_label("租户").check()
    assert tappable_too_small(phone) == [] and text_too_small(phone) == []
    shot(phone, "link-ask")
    phone.get_by_role("button", name="发给管家").click()
    phone.wait_for_url(re.compile(r"/$"))
    # Then the home shows the request waiting, with the home it matched
    expect(phone.locator("#link-waiting")).to_have_text("您的申请正在等管家确认")
    expect(phone.locator("section[aria-labelledby=link-waiting] .address")).to_have_text(
        "新风新村 3号楼 101室"
    )
    expect(phone.get_by_role("button", name="撤回我的申请")).to_be_visible()
    shot(phone, "link-waiting")

    # When the district steward opens the waiting requests from their home and confirms
    staff = new_context().new_page()
    login_staff(staff, STEWARD_ZHUJIAJIAO)
    waiting = staff.locator('a[href="/staff/link-requests"]')
    expect(waiting).to_contain_text("1")
    waiting.click()
    staff.wait_for_url(re.compile(r"/staff/link-requests$"))
    item = staff.locator("li.card", has_text="钱阿姨")
    expect(item.locator(".address")).to_have_text("新风新村 3号楼 101室")
    expect(item).to_contain_text("139****7788")
    shot(staff, "link-requests")
    item.get_by_role("button", name="确认钱阿姨住在这里").click()
    staff.wait_for_url(re.compile(r"/staff/link-requests$"))
    expect(staff.locator("li.card", has_text="钱阿姨")).to_have_count(0)

    # Then the newcomer's next visit lands in their home
    phone.goto("/")
    expect(phone.locator(".household .address").first).to_have_text("新风新村 3号楼 101室")
    expect(phone.locator("#link-ask")).to_have_count(0)
    shot(phone, "link-confirmed")
