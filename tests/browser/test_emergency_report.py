"""An emergency report in Chromium at 360×740, with no emoji font installed: the resident picks 燃气, sees what to
do and the big call buttons on the first screen, sends, and her report says 紧急; every category's picture is
drawn (an <svg> with a size); axe-core finds nothing on these pages."""

from __future__ import annotations

import re
from typing import Any

import pytest

from ..conftest import RESIDENT_XIUSHAN
from ..support.servers import AppProcess
from .helpers import PHONE, assert_accessible, logged_in, shot

pytestmark = pytest.mark.browser

# Each repair category's picture as drawn: its size, and whether any text (an emoji) stands in for it.
CATEGORY_PICTURES = """
() => [...document.querySelectorAll("a.tk-choice")].map((a) => {
  const svg = a.querySelector("svg");
  const box = svg ? svg.getBoundingClientRect() : {width: 0, height: 0};
  return {href: a.getAttribute("href"), width: box.width, height: box.height, shape: svg ? svg.innerHTML : "",
          text: a.textContent.trim()};
})
"""


@pytest.fixture
def site(own_server: AppProcess) -> dict[str, Any]:
    """A server of the module's own (it makes a work order), in Chinese."""
    return {"base_url": own_server.url, "locale": "zh-CN"}


def test_every_category_picture_is_drawn_without_an_emoji_font_and_none_is_shared(new_context, axe):
    page = logged_in(new_context, RESIDENT_XIUSHAN)
    page.goto("/repairs/new")
    pictures = page.evaluate(CATEGORY_PICTURES)
    assert len(pictures) == 15
    for picture in pictures:
        assert picture["width"] >= 24 and picture["height"] >= 24, picture
        # nothing but the category's name is text: no emoji left to fall back to a box
        assert not re.search(r"[\U0001F000-\U0001FAFF\u2600-\u27BF]", picture["text"]), picture
    assert len({p["shape"] for p in pictures}) == len(pictures), "two categories share a picture"
    shot(page, "emergency-0-choices")
    assert_accessible(axe, page, "the report's choices")


def test_a_gas_smell_shows_what_to_do_and_whom_to_call_then_is_sent_as_an_emergency(new_context, axe):
    # Given the resident on the report page
    page = logged_in(new_context, RESIDENT_XIUSHAN)
    page.goto("/repairs/new")
    # When she taps 燃气 (the gas smell)
    page.locator('a.tk-choice[href="/repairs/new?category=gas"]').click()
    page.wait_for_url("**/repairs/new?category=gas")
    shot(page, "emergency-1-gas")
    # Then the first screen says what to do first and has the big buttons to call 119 and her steward
    advice = page.locator("[data-emergency-advice]")
    assert "不要开关任何电器" in advice.inner_text()
    for button in (advice.locator('a.call[href="tel:119"]'), advice.locator('a.call[href^="tel:1"]').last):
        box = button.bounding_box()
        assert box and box["y"] + box["height"] <= PHONE["height"], box
        assert box["height"] >= 60 and box["width"] >= 60
    assert advice.locator('a.call[href^="tel:"]').count() == 2
    # and the form asks no urgency: it says 紧急
    assert page.locator('input[name="urgency"][type="radio"]').count() == 0
    assert page.locator("[data-urgency]").inner_text() == "紧急"
    assert_accessible(axe, page, "the gas report")
    # When she says what is wrong and sends it
    page.fill("#description", "厨房有煤气味")
    page.get_by_role("button", name="发送紧急报修").click()
    page.wait_for_url(re.compile(r"/orders/\d+"))
    shot(page, "emergency-2-sent")
    # Then her report is marked 紧急
    assert "紧急" in page.locator("main .lead").inner_text()
    assert_accessible(axe, page, "the gas report sent")
