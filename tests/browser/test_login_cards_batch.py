"""A steward prints a whole community's login cards: eight to an A4 sheet, two across and four down, each
card inside a dashed cut line, with the QR code the single card has."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from ..conftest import STEWARD_XIUSHAN
from .helpers import login_staff, shot

pytestmark = pytest.mark.browser

A4_MM = (210, 297)


def test_a_community_s_cards_print_eight_to_an_a4_sheet_with_cut_lines(new_context: Any) -> None:
    staff = new_context().new_page()
    login_staff(staff, STEWARD_XIUSHAN)
    staff.get_by_role("link", name="秀山花园").click()
    staff.wait_for_url(re.compile(r"/staff/communities/[^/]+/households"))
    staff.locator('a[href$="/cards"].button').click()
    staff.wait_for_url(re.compile(r"/staff/communities/[^/]+/cards$"))
    heading = staff.locator("#count-title").inner_text()
    count = int(re.search(r"\d+", heading).group(0))
    assert count > 8, heading  # more than one sheet
    shot(staff, "login-cards-plan")
    staff.locator('form[method="post"] button.primary').click()

    cards = staff.locator(".card-sheet .login-card")
    expect(cards).to_have_count(count)
    sheets = staff.locator(".card-sheet")
    expect(sheets).to_have_count(-(-count // 8))
    expect(sheets.first.locator(".login-card")).to_have_count(8)
    expect(cards.first.locator(".qr svg")).to_be_visible()

    staff.emulate_media(media="print")
    expect(staff.locator('[data-action="print"]')).to_be_hidden()
    first = [sheets.first.locator(".login-card").nth(i).bounding_box() for i in range(8)]
    # Two across, four down: the cards of a row share their top, the columns their left.
    tops = sorted({round(box["y"]) for box in first})
    lefts = sorted({round(box["x"]) for box in first})
    assert len(tops) == 4 and len(lefts) == 2, (tops, lefts)
    border = cards.first.evaluate("card => getComputedStyle(card).borderTopStyle")
    assert border == "dashed"
    qr = cards.first.locator(".qr svg").bounding_box()
    assert qr and qr["width"] >= 110, qr  # about 32 mm: big enough to scan from the paper
    shot(staff, "login-cards-print")

    # Printed, each sheet is one A4 page (the MediaBox is in points, 72 to the inch).
    pdf = staff.pdf(prefer_css_page_size=True)
    sizes = {
        (round(float(w) / 72 * 25.4), round(float(h) / 72 * 25.4))
        for w, h in re.findall(rb"/MediaBox \[0 0 ([\d.]+) ([\d.]+)\]", pdf)
    }
    assert sizes == {A4_MM}, sizes
    assert len(re.findall(rb"/Type\s*/Page\b(?!s)", pdf)) == -(-count // 8)
