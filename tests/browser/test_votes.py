"""An owners' vote in Chromium, from proposal to certified result: the steward proposes it; the resident, on a
360×740 phone, reaches it from her home, taps 同意-style "Agree", confirms, and sees her vote; the steward enters
a paper ballot with its photo and sees the live count; the deadline passes; the official certifies; the resident
sees the published result. axe-core finds nothing on the form, the vote, the confirmation and the result; every
tappable element on the resident's vote pages is at least 60×60 px."""

from __future__ import annotations

import io
import re
import sqlite3
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from playwright.sync_api import expect

from laoyou.core.time import local_date, utcnow

from ..conftest import OFFICIAL_XIUSHAN, RESIDENT_XIUSHAN, STEWARD_XIUSHAN
from ..support.servers import AppProcess
from .helpers import PHONE, assert_accessible, logged_in, login_staff, shot, tappable_too_small

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[AppProcess, Path]]:
    """A server of the module's own, with its SQLite file: the test moves a vote's deadline into the past."""
    tmp = tmp_path_factory.mktemp("votes")
    database = tmp / "votes.sqlite3"
    app = AppProcess(tmp, f"sqlite+aiosqlite:///{database}").wait_ready()
    yield app, database
    app.stop()


@pytest.fixture
def site(server: tuple[AppProcess, Path]) -> dict[str, Any]:
    return {"base_url": server[0].url, "locale": "en-US"}


@pytest.fixture
def ballot_photo(tmp_path: Path) -> Path:
    path = tmp_path / "ballot.jpg"
    buffer = io.BytesIO()
    Image.new("RGB", (900, 1200), (250, 250, 240)).save(buffer, "JPEG")
    path.write_bytes(buffer.getvalue())
    return path


def staff_page(new_context: Any, phone: str) -> Any:
    page = new_context(viewport={"width": 1280, "height": 900}).new_page()
    login_staff(page, phone)
    return page


def test_a_vote_from_proposal_to_certified_result(new_context, server, axe, ballot_photo):
    _app, database = server
    title = "Repaint the stairwells"
    # Given the steward proposes a vote from his home
    steward = staff_page(new_context, STEWARD_XIUSHAN)
    steward.get_by_role("link", name="Owners' votes").click()
    steward.get_by_role("link", name="Propose a vote").click()
    assert_accessible(axe, steward, "proposal form")
    steward.select_option("#vote-community", label="秀山花园")
    steward.select_option("#vote-matter", label="Use the maintenance fund")
    steward.fill("#vote-title", title)
    steward.fill("#vote-body", "The stairwells of all buildings, paid from the maintenance fund.")
    steward.fill("#vote-deadline", (local_date(utcnow()) + timedelta(days=7)).isoformat())
    steward.get_by_role("button", name="Open the vote").click()
    steward.wait_for_url(re.compile(r"/votes/\d+$"))
    vote_url = steward.url
    expect(steward.locator("h1")).to_have_text(title)

    # When the resident, on her phone, finds it from her home and votes in two taps
    resident = logged_in(new_context, RESIDENT_XIUSHAN, viewport=PHONE, has_touch=True, is_mobile=True)
    resident.locator('nav.tiles a[href="/votes"]').click()
    resident.get_by_role("listitem").filter(has_text=title).get_by_role("link", name="Vote now").click()
    assert_accessible(axe, resident, "vote, resident")
    assert tappable_too_small(resident) == []
    shot(resident, "vote-resident")
    resident.get_by_role("link", name="Agree", exact=True).click()
    expect(resident.locator(".vote-chosen")).to_have_text("You chose: Agree")
    assert_accessible(axe, resident, "vote confirmation")
    assert tappable_too_small(resident) == []
    resident.get_by_role("button", name="Yes, send my vote").click()
    expect(resident.locator(".ok[role=status]")).to_contain_text("Your vote is recorded")
    expect(resident.get_by_text("You voted: Agree")).to_be_visible()

    # And the steward enters a paper ballot with its photo
    steward.goto(vote_url)
    steward.locator("label.choice", has=steward.locator('input[value="NO"]')).click()
    steward.set_input_files("#paper-photo", str(ballot_photo))
    steward.get_by_role("button", name="Record the paper ballot").click()
    expect(steward.locator(".ok[role=status]")).to_have_text("The paper ballot is recorded.")
    expect(steward.locator('[data-count="voted"]')).to_contain_text("Owners: 2 ·")
    assert_accessible(axe, steward, "vote, steward")

    # When the deadline passes and the official certifies the result
    with sqlite3.connect(database) as db:
        db.execute("UPDATE owners_vote SET deadline = created_at WHERE title = ?", (title,))
    official = staff_page(new_context, OFFICIAL_XIUSHAN)
    official.goto(vote_url)
    official.get_by_role("button", name="Certify and publish the result").click()
    expect(official.locator(".result")).to_contain_text("Not passed: fewer than two thirds took part")

    # Then the resident sees the published result, and her vote can no longer change
    resident.goto(vote_url)
    expect(resident.locator(".result")).to_contain_text("Not passed")
    expect(resident.get_by_role("link", name="Agree", exact=True)).to_have_count(0)
    assert_accessible(axe, resident, "vote result, resident")
    shot(resident, "vote-result")
