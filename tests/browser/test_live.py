"""The unread badge on an open home page follows a GraphQL subscription over WebSocket, without reloading."""

from __future__ import annotations

import json
import re
import time
from typing import Any

import pytest
from playwright.sync_api import expect

from ..conftest import RESIDENT_JINGJU, RESIDENT_XIUSHAN
from .helpers import login_demo, shot

pytestmark = pytest.mark.browser

REQUEST_FAMILY_LINK = """
mutation ($phone: String!, $relation: String) {
  requestFamilyLink(phone: $phone, relation: $relation) {
    __typename
    ... on Error { message }
  }
}
"""


def test_the_unread_badge_updates_live(page: Any, live_server: Any) -> None:
    frames: list[dict[str, Any]] = []

    def watch(socket: Any) -> None:
        if socket.url.endswith("/graphql"):
            socket.on("framereceived", lambda payload: frames.append(json.loads(payload)))

    page.on("websocket", watch)
    login_demo(page, RESIDENT_XIUSHAN)
    badge = page.locator('[data-live="unread"]')
    before = int(badge.inner_text() or "0")
    page.evaluate("window.__sameDocument = true")

    deadline = time.monotonic() + 15
    while not any(f.get("type") == "next" for f in frames):
        assert time.monotonic() < deadline, f"no subscription data; frames: {frames}"
        page.wait_for_timeout(100)
    assert any(f.get("type") == "connection_ack" for f in frames)

    # Someone else, on another phone, asks to follow her home: she gets a notification.
    token = live_server.login(RESIDENT_JINGJU)
    data = live_server.graphql(token, REQUEST_FAMILY_LINK, {"phone": RESIDENT_XIUSHAN, "relation": "邻居"})
    assert data["requestFamilyLink"]["__typename"] == "FamilyLinkRequested", data

    expect(badge).to_have_text(str(before + 1))
    expect(page.locator("[data-unread-box]")).to_be_visible()
    expect(page.locator("[data-unread-newer]")).to_be_visible()
    assert page.evaluate("window.__sameDocument === true")  # no reload happened
    shot(page, "home-live-badge")

    # Tapping the prompt shows the new message; reading them clears the badge.
    page.locator("[data-unread-newer] a").click()
    expect(page.locator("ul.notices")).to_contain_text("请求作为家人关注您家")
    page.locator('form[action="/notifications/read"] button').click()
    expect(page.locator("[data-unread-box]")).to_be_hidden()


def test_an_open_page_whose_session_ends_elsewhere_shows_the_login(page: Any, live_server: Any) -> None:
    # Given her home page, live
    frames: list[dict[str, Any]] = []
    page.on(
        "websocket",
        lambda socket: (
            socket.url.endswith("/graphql")
            and socket.on("framereceived", lambda payload: frames.append(json.loads(payload)))
        ),
    )
    login_demo(page, RESIDENT_XIUSHAN)
    deadline = time.monotonic() + 15
    while not any(f.get("type") == "next" for f in frames):
        assert time.monotonic() < deadline, f"no subscription data; frames: {frames}"
        page.wait_for_timeout(100)
    # When she (or her daughter, on another phone) logs out everywhere
    token = live_server.login(RESIDENT_XIUSHAN)
    live_server.graphql(token, "mutation { logoutEverywhere { sessionsEnded } }")
    # Then the page shows what she now sees: the login, rather than a page that stopped without a word
    expect(page).to_have_url(re.compile(r"/login"))
