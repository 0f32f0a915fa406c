"""Reaching people, in Chromium at 360×740: a steward sends an emergency notice, opens its report of who was
reached (nothing scrolls sideways), walks one building of it, and with one tap calls everyone not reached yet; a
resident chooses how she is reached on the settings page. axe-core finds nothing on these pages."""

from __future__ import annotations

import re
from typing import Any

import pytest

from ..conftest import RESIDENT_XIUSHAN, STEWARD_XIUSHAN
from ..support.servers import AppProcess
from .helpers import PHONE, assert_accessible, logged_in, shot
from .test_larger_text import LAYOUT_FAULTS

pytestmark = pytest.mark.browser


@pytest.fixture
def site(own_server: AppProcess) -> dict[str, Any]:
    """A server of the module's own (it sends a notice and queues calls), in Chinese."""
    return {"base_url": own_server.url, "locale": "zh-CN"}


def test_a_steward_sends_a_notice_sees_who_it_reached_and_calls_the_rest(new_context, axe):
    # Given the steward's emergency page
    page = logged_in(new_context, STEWARD_XIUSHAN)
    page.goto("/staff/emergency")
    page.locator("label.choice", has_text="秀山花园").click()
    page.locator('input[name="kind"][value="lift_out"]').check()
    page.fill("#em-title", "2号楼电梯停用")
    # When she sends it, then opens its report from the list of notices sent
    page.locator('form[action="/staff/emergency"] button[type="submit"]').click()
    page.wait_for_selector("p.ok[role=status]")
    page.locator('a[href$="/reach"]').first.click()
    page.wait_for_url(re.compile(r"/staff/emergency/\d+/reach$"))
    shot(page, "reach-1-report")
    # Then the report counts who was reached and who not, and the call-the-rest button is big, on the first screen
    assert "2号楼电梯停用" in page.locator("main").inner_text()
    assert "还没收到" in page.locator("main").inner_text()
    button = page.get_by_role("button", name="给没收到的人打电话")
    box = button.bounding_box()
    assert box and box["height"] >= 60 and box["y"] + box["height"] <= PHONE["height"], box
    # and each person not reached has a big button to call her
    call = page.locator('#people-title ~ ul a.call[href^="tel:1"]').first
    assert call.bounding_box()["height"] >= 60
    assert_accessible(axe, page, "the reach report")
    # and nothing scrolls sideways or reaches past the screen's edge
    assert page.evaluate(LAYOUT_FAULTS, []) == []
    # When she walks one building: its link is big, and its page shows only that building's people
    building = page.locator(".reach-buildings a").nth(1)
    assert building.bounding_box()["height"] >= 60
    name = building.evaluate("a => a.firstChild.textContent.trim()")
    building.click()
    page.wait_for_url(re.compile(r"building="))
    shot(page, "reach-1b-building")
    assert name in page.locator("#people-title").inner_text() and not page.locator("h3.reach-group").count()
    listed = page.locator("#people-title ~ ul > li").all_inner_texts()
    assert listed and all(name in item for item in listed), listed  # each shows her flat in that building
    assert page.evaluate(LAYOUT_FAULTS, []) == []
    assert_accessible(axe, page, "the reach report of one building")
    # When she taps to call the rest
    button = page.get_by_role("button", name="给没收到的人打电话")
    button.click()
    # Then the calls are on their way
    status = page.locator("p.ok[role=status]")
    assert re.search(r"正在拨打\d+个电话", status.inner_text())
    shot(page, "reach-2-called")


def test_a_resident_chooses_how_she_is_reached(new_context, axe):
    # Given her notification settings
    page = logged_in(new_context, RESIDENT_XIUSHAN)
    page.goto("/settings/notifications")
    form = page.locator("form#reach")
    assert "紧急通知总会送到" in form.inner_text()
    # When she asks to be called for what is important, and for quiet from 22:00 to 07:00
    form.locator("label.choice", has_text="有要紧事请直接打电话给我").click()
    form.locator('input[name="quiet"][value="22:00-07:00"]').check()
    shot(page, "reach-3-choices")
    assert_accessible(axe, page, "the settings page")
    form.get_by_role("button", name="保存联系方式").click()
    page.wait_for_url(re.compile(r"reach_saved=1"))
    # Then it is saved and the page shows her choice
    form = page.locator("form#reach")
    assert form.locator("p.ok[role=status]").is_visible()
    assert form.locator('input[name="call_me"]').is_checked()
    assert form.locator('input[name="quiet"][value="22:00-07:00"]').is_checked()
