"""The finance disclosure in Chromium at a phone's size (360×740): a resident of 秀山花园 finds it from her home
page's "more" tiles, reads it (a chart per fund with its table, read aloud, large targets, no axe violations)
and asks customer service about the parking income; she lands in the chat with her question and the line it is
about. The steward's prepare form and the notice-board print have no violations either."""

from __future__ import annotations

from typing import Any

import pytest

from ..conftest import RESIDENT_XIUSHAN, STEWARD_XIUSHAN
from ..support.servers import AppProcess
from .helpers import (
    PHONE,
    assert_accessible,
    logged_in,
    login_staff,
    shot,
    tappable_too_small,
    text_too_small,
)

pytestmark = pytest.mark.browser


@pytest.fixture
def site(own_server: AppProcess) -> dict[str, Any]:
    """A server of its own (the resident's read and question are written), in English."""
    return {"base_url": own_server.url, "locale": "en-US"}


def test_a_resident_reads_the_disclosure_on_her_phone_and_asks_about_a_line(new_context, axe):
    resident = logged_in(new_context, RESIDENT_XIUSHAN, has_touch=True, is_mobile=True)
    assert resident.viewport_size == PHONE
    # Given her home page, where the disclosure is one of the "more" tiles below the first screen
    resident.locator('a.tile[href="/disclosures"]').click()
    resident.wait_for_url("**/disclosures")
    assert_accessible(axe, resident, "disclosure list")
    # When she opens this quarter's disclosure of 秀山花园
    resident.locator('ul.plain a[href^="/disclosures/"]').first.click()
    resident.wait_for_url("**/disclosures/*")
    # Then each fund is a bar chart read as a list: each line's words, amount and bar, and it can be read aloud
    funds = resident.locator("section.disclosure-fund")
    assert funds.count() == 3
    assert resident.locator("section.disclosure-fund ul.disclosure-lines").count() == 3
    lines = resident.locator("ul.disclosure-lines > li")
    assert lines.count() == resident.locator("ul.disclosure-lines > li svg.line-bar").count() > 3
    assert resident.locator("button.read-aloud").count() >= 1
    parking = lines.filter(has_text="停车位租金")
    assert "3600.00" in parking.inner_text()
    # And every amount is on the screen, none past its edge
    for amount in resident.locator("ul.disclosure-lines .amount").all():
        box = amount.bounding_box()
        assert box and box["x"] + box["width"] <= 360, amount.inner_text()
    assert_accessible(axe, resident, "disclosure")
    assert tappable_too_small(resident) == [], tappable_too_small(resident)
    assert text_too_small(resident) == [], text_too_small(resident)
    shot(resident, "disclosure-resident")
    # When she taps Ask beside the parking income and writes her question
    parking.get_by_role("link", name="Ask").click()
    resident.wait_for_url("**/ask")
    assert_accessible(axe, resident, "ask about a line")
    resident.fill("#question", "What is the parking money used for?")
    resident.get_by_role("button", name="Send to customer service").click()
    # Then she is in the customer-service chat, her question there with the line it is about
    resident.wait_for_url("**/support**")
    assert resident.get_by_text("What is the parking money used for?").first.is_visible()
    assert resident.get_by_text("停车位租金", exact=False).first.is_visible()
    shot(resident, "disclosure-question-in-chat")
    # And back on the disclosure, the line offers the answer instead of a second question
    resident.go_back()
    resident.go_back()
    resident.reload()
    assert (
        resident.locator("ul.disclosure-lines > li")
        .filter(has_text="停车位租金")
        .get_by_role("link", name="See the answer")
        .is_visible()
    )


def test_the_steward_prepare_form_and_the_print_are_accessible(new_context, axe):
    steward = new_context(viewport={"width": 1280, "height": 900}).new_page()
    login_staff(steward, STEWARD_XIUSHAN)
    steward.goto("/disclosures")
    assert_accessible(axe, steward, "disclosures for the steward")
    steward.locator("#quarter").select_option(index=7)  # this quarter's is the demo's; two years ago is free
    steward.get_by_role("button", name="Prepare").click()
    steward.wait_for_url("**/disclosures/*")
    assert_accessible(axe, steward, "draft disclosure")
    steward.get_by_role("link", name="Print for the notice board").click()
    steward.wait_for_url("**/print")
    assert steward.locator(".disclosure-qr .qr svg").count() == 1
    assert_accessible(axe, steward, "disclosure print")
