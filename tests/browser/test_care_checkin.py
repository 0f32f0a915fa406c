"""The daily check-in in Chromium: the resident, on a 360×740 phone, sets it up in two taps from her home and taps
the big 我很好 ("I'm fine") there; the steward opens today's board from her home, takes a missed check-in (everyone
then sees who handles it), calls with one tap and records that all is well. axe-core finds nothing on these pages
and every tappable element is at least 60×60 px."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

from ..conftest import RESIDENT_XIUSHAN, STEWARD_XIUSHAN
from ..support.servers import AppProcess
from .helpers import PHONE, Taps, assert_accessible, logged_in, login_staff, shot, tappable_too_small

pytestmark = pytest.mark.browser


BOARD_TARGETS = """() => [...document.querySelectorAll("ul.checkin-board a, ul.checkin-board button")]
    .filter((el) => { const box = el.getBoundingClientRect(); return box.height < 59.5 || box.width < 59.5; })
    .map((el) => el.textContent.trim())"""


def board_targets_too_small(page: Any) -> list[str]:
    """The board's calls and actions, at least 60×60 px (a staff member's other pages may be denser)."""
    return page.evaluate(BOARD_TARGETS)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppProcess]:
    """A server of the module's own: the resident's check-in and the steward's outcome change what others see."""
    tmp = tmp_path_factory.mktemp("care")
    app = AppProcess(tmp, f"sqlite+aiosqlite:///{tmp / 'care.sqlite3'}").wait_ready()
    yield app
    app.stop()


@pytest.fixture
def site(server: AppProcess) -> dict[str, Any]:
    return {"base_url": server.url, "locale": "en-US"}


def test_the_resident_sets_it_up_and_says_she_is_fine(new_context, server, axe):
    # Given the resident on her phone, at home
    resident = logged_in(new_context, RESIDENT_XIUSHAN, viewport=PHONE, has_touch=True, is_mobile=True)
    card = resident.locator("section.checkin")
    taps = Taps()
    # When she sets up the daily check-in: two taps
    taps.on(card.get_by_role("link", name="Set up the daily check-in"))
    assert_accessible(axe, resident, "check-in settings")
    assert tappable_too_small(resident) == []
    taps.on(resident.get_by_role("button", name="By 10:00"))
    resident.wait_for_url(re.compile(r"/care\?done=setup$"))
    assert taps.count == 2
    expect(resident.get_by_text("Check in by 10:00 each day", exact=False)).to_be_visible()
    # And back home taps the big 我很好
    resident.goto("/")
    fine = card.get_by_role("button", name="I'm fine")
    expect(fine).to_be_visible()
    assert tappable_too_small(resident) == []
    fine.click()
    resident.wait_for_url(re.compile(r"/\?fine=1"))
    # Then her home says she has checked in today
    expect(card.locator(".ok[role=status]")).to_contain_text("You have checked in today")
    assert_accessible(axe, resident, "home with the check-in")
    shot(resident, "care-home")


def test_the_steward_handles_a_missed_check_in_from_the_board(new_context, server, axe):
    # Given the steward on her phone, and the demo's missed check-in nobody has taken yet
    steward = new_context(viewport=PHONE, has_touch=True, is_mobile=True).new_page()
    login_staff(steward, STEWARD_XIUSHAN)
    steward.get_by_role("link", name="Today's check-ins").click()
    steward.wait_for_url(re.compile(r"/care/board$"))
    assert_accessible(axe, steward, "check-in board")
    assert board_targets_too_small(steward) == []
    missed = steward.locator('li[data-status="MISSED"]').first
    expect(missed).to_contain_text("Missed: nobody handling")
    name = missed.locator("h2").inner_text()
    # A call is one tap
    expect(missed.get_by_role("link", name=f"Call {name}")).to_have_attribute(
        "href", re.compile(r"^tel:\+86")
    )
    shot(steward, "care-board")
    # When she takes it
    missed.get_by_role("button", name="I will handle it").click()
    steward.wait_for_url(re.compile(r"/care/board$"))
    line = steward.locator("li.card").filter(has=steward.get_by_role("heading", name=name, exact=True))
    # Then everyone sees who handles it
    expect(line).to_contain_text("Being handled")
    expect(line).to_contain_text("Handled by")
    # And when she records that all is well, the line says so
    line.get_by_role("button", name="Reached her: all well").click()
    steward.wait_for_url(re.compile(r"/care/board$"))
    expect(line).to_contain_text("Confirmed fine")
    assert board_targets_too_small(steward) == []
