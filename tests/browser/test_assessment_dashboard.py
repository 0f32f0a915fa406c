"""The assessment dashboard in Chromium at a phone's size (360×740): the street official of Zhujiajiao finds it
on his home page, sees each figure as a chart (an image with a title and a description) beside its table and its
CSV download, with no axe violations, targets a finger's width and nothing scrolling sideways; he narrows it to
one community; the committee official of 秀山花园 sees hers."""

from __future__ import annotations

import pytest

from ..conftest import OFFICIAL_XIUSHAN, OFFICIAL_ZHUJIAJIAO
from .helpers import PHONE, assert_accessible, logged_in, shot, tappable_too_small, text_too_small

pytestmark = pytest.mark.browser

FIGURES = 11
SIDEWAYS = "() => document.documentElement.scrollWidth"


def test_an_official_reads_the_dashboard_on_a_phone(new_context, axe):
    official = logged_in(new_context, OFFICIAL_ZHUJIAJIAO, has_touch=True, is_mobile=True)
    assert official.viewport_size == PHONE
    # Given his home page, where the dashboard is a button
    official.locator('a[href="/assessment"]').click()
    official.wait_for_url("**/assessment")
    # Then each figure is a chart with its table and a CSV download, and the ranking lists the district
    assert official.locator('svg[role="img"]').count() == FIGURES
    assert official.locator("svg[role=img] > title").count() == FIGURES
    assert official.locator("svg[role=img] > desc").count() == FIGURES
    assert official.locator("table.data").count() == FIGURES
    assert official.locator('a[href^="/assessment/"][href*=".csv"]').count() == FIGURES
    assert official.locator("#fig-ranking tbody tr").count() == 9
    for chart in official.locator('svg[role="img"]').all():
        box = chart.bounding_box()
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]
    assert official.evaluate(SIDEWAYS) <= PHONE["width"]
    assert_accessible(axe, official, "assessment dashboard")
    assert tappable_too_small(official, 48) == [], tappable_too_small(official, 48)
    assert text_too_small(official) == [], text_too_small(official)
    shot(official, "assessment-district")
    # When he narrows it to 新风新村
    official.select_option("#a-community", label="新风新村")
    official.locator('form[action="/assessment"] button[type="submit"]').click()
    official.wait_for_url("**/assessment?**community=**")
    assert "新风新村" in official.locator("h1").inner_text()
    assert official.evaluate(SIDEWAYS) <= PHONE["width"]
    assert_accessible(axe, official, "assessment of one community")


def test_the_committee_official_sees_her_community(new_context, axe):
    official = logged_in(new_context, OFFICIAL_XIUSHAN, has_touch=True, is_mobile=True)
    official.goto("/assessment")
    assert official.locator("#fig-ranking tbody tr").count() == 1
    assert "秀山花园" in official.locator("#fig-ranking tbody").inner_text()
    assert official.evaluate(SIDEWAYS) <= PHONE["width"]
    assert_accessible(axe, official, "assessment of a committee")
    shot(official, "assessment-committee")
