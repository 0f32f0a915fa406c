"""Live where it matters: an open repair page follows what staff do, and an open home shows a new briefing,
without reloading (GraphQL subscriptions over one WebSocket, live.js)."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from playwright.sync_api import expect

from ..conftest import RESIDENT_XIUSHAN, STEWARD_XIUSHAN
from ..support.servers import AppProcess
from .helpers import logged_in, login_demo, shot

pytestmark = pytest.mark.browser

HOMES = "query { viewer { households { id community { id } } } }"
ME = "query { viewer { person { id } } }"
REPORT = """
mutation ($input: ReportProblemInput!) {
  reportProblem(input: $input) { ... on WorkOrderReported { workOrder { id } } ... on Error { message } }
}
"""
ASSIGN = """
mutation ($id: ID!, $to: ID) { assignWorkOrder(id: $id, assigneeId: $to) { __typename ... on Error { message } } }
"""
PUBLISH = """
mutation ($c: ID!, $title: String!) {
  createBriefing(mode: NOW, input: {communityIds: [$c], title: $title, body: "楼道灯全部换好了"}) {
    ... on BriefingSaved { briefing { id } } ... on Error { message }
  }
}
"""

# Every WebSocket the page opens, kept in window.__sockets.
KEEP_SOCKETS = """
window.__sockets = [];
const Original = window.WebSocket;
window.WebSocket = class extends Original {
  constructor(...args) {
    super(...args);
    window.__sockets.push(this);
  }
};
"""


@pytest.fixture
def site(own_server: AppProcess) -> dict[str, Any]:
    """A server of the module's own (it reports repairs and publishes briefings), in Chinese."""
    return {"base_url": own_server.url, "locale": "zh-CN"}


class Frames:
    """What the page's GraphQL WebSocket sends and receives."""

    def __init__(self, page: Any) -> None:
        self.sent: list[dict] = []
        self.received: list[dict] = []
        page.on("websocket", self.watch)

    def watch(self, socket: Any) -> None:
        if socket.url.endswith("/graphql"):
            socket.on("framesent", lambda payload: self.sent.append(json.loads(payload)))
            socket.on("framereceived", lambda payload: self.received.append(json.loads(payload)))

    def wait_for(self, page: Any, field: str) -> None:
        """Until the page has had its first answer for that subscription field."""
        deadline = time.monotonic() + 15
        while not any(field in ((f.get("payload") or {}).get("data") or {}) for f in self.received):
            assert time.monotonic() < deadline, f"no {field}; frames: {self.received}"
            page.wait_for_timeout(100)

    def subscribed_by_hash(self) -> bool:
        subscribes = [f["payload"] for f in self.sent if f.get("type") == "subscribe"]
        return bool(subscribes) and all(
            "query" not in p and p["extensions"]["persistedQuery"]["sha256Hash"] for p in subscribes
        )


def report_and_open(
    new_context: Any, own_server: AppProcess, client_id: str, script: str = ""
) -> tuple[Any, Frames, str]:
    """Her new report of a leak, open on her phone, its subscription answered."""
    token = own_server.login(RESIDENT_XIUSHAN)
    home = own_server.graphql(token, HOMES)["viewer"]["households"][0]
    variables = {
        "input": {
            "clientId": client_id,
            "category": "water",
            "householdId": home["id"],
            "description": "厨房漏水",
        }
    }
    order_id = own_server.graphql(token, REPORT, variables)["reportProblem"]["workOrder"]["id"]
    page = new_context().new_page()
    if script:
        page.add_init_script(script)
    frames = Frames(page)
    login_demo(page, RESIDENT_XIUSHAN)
    page.goto(f"/orders/{order_id}")
    frames.wait_for(page, "workOrder")
    return page, frames, order_id


def steward_takes(own_server: AppProcess, order_id: str) -> None:
    token = own_server.login(STEWARD_XIUSHAN)
    me = own_server.graphql(token, ME)["viewer"]["person"]["id"]
    assert own_server.graphql(token, ASSIGN, {"id": order_id, "to": me})["assignWorkOrder"] == {
        "__typename": "WorkOrderChanged"
    }


def test_the_repair_page_follows_what_staff_do(new_context: Any, own_server: AppProcess) -> None:
    # Given her report of a leak, open on her phone, scrolled down to what has happened
    page, frames, order_id = report_and_open(new_context, own_server, "live-page-1")
    assert frames.subscribed_by_hash()  # as production's persisted-only mode requires of a resident
    page.evaluate("window.__sameDocument = true")
    heading = page.locator("#timeline-title")
    heading.scroll_into_view_if_needed()
    page.evaluate("window.scrollBy(0, 40)")
    top = heading.evaluate("el => el.getBoundingClientRect().top")
    timeline = page.locator(".tk-timeline li")
    expect(timeline).to_have_count(1)

    # When the steward sends himself (through the API, as from the board)
    steward_takes(own_server, order_id)
    # Then her page shows the new state and step, says so, and what she was reading stays where it was
    expect(page.locator(".lead strong")).to_have_text("已派师傅")
    expect(timeline).to_have_count(2)
    expect(page.locator("[data-live-say]")).to_contain_text("有新进展")
    assert abs(heading.evaluate("el => el.getBoundingClientRect().top") - top) < 2

    # When he accepts it on his own phone's page of the order
    steward = logged_in(new_context, STEWARD_XIUSHAN)
    steward.goto(f"/orders/{order_id}")
    steward.evaluate("window.__sameDocument = true")
    steward.locator(f'form[action="/orders/{order_id}/accept"] button').click()
    expect(steward.locator(".lead strong")).to_have_text("师傅正在赶来")
    # Then her page follows again, without reloading
    expect(page.locator(".lead strong")).to_have_text("师傅正在赶来")
    expect(timeline).to_have_count(3)
    expect(timeline.last).to_contain_text("师傅已接受")
    expect(page.locator("[data-live-say]")).to_have_text("有新进展：师傅已接受。现在：师傅正在赶来。")
    assert page.evaluate("window.__sameDocument === true")
    shot(page, "order-live")

    # And when she adds a note from her page (its form came with the new parts), his open page shows it
    steward.goto(f"/orders/{order_id}")
    steward.evaluate("window.__sameDocument = true")
    page.fill("#note-note", "下午我都在家")
    page.locator(f'form[action="/orders/{order_id}/note"] button[type="submit"]').click()
    expect(steward.locator(".tk-timeline")).to_contain_text("下午我都在家")
    assert steward.evaluate("window.__sameDocument === true")


def test_a_new_briefing_appears_on_an_open_home(new_context: Any, own_server: AppProcess) -> None:
    # Given her home page open
    page = new_context().new_page()
    frames = Frames(page)
    login_demo(page, RESIDENT_XIUSHAN)
    frames.wait_for(page, "todaysBriefings")
    assert frames.subscribed_by_hash()
    page.evaluate("window.__sameDocument = true")
    # When her steward publishes today's briefing
    token = own_server.login(STEWARD_XIUSHAN)
    community = own_server.graphql(own_server.login(RESIDENT_XIUSHAN), HOMES)["viewer"]["households"][0][
        "community"
    ]["id"]
    saved = own_server.graphql(token, PUBLISH, {"c": community, "title": "楼道灯换新了"})["createBriefing"]
    # Then the home shows its line, linking to it, without reloading
    line = page.locator('[data-live="briefings"] .briefing-line a')
    expect(line).to_have_text("今日简报：楼道灯换新了")
    expect(line).to_have_attribute("href", f"/briefings/{saved['briefing']['id']}")
    assert page.evaluate("window.__sameDocument === true")
    shot(page, "home-live-briefing")
    # And the line opens it
    line.click()
    expect(page.locator("h1")).to_contain_text("楼道灯换新了")


def test_a_dropped_connection_catches_up_when_it_comes_back(new_context: Any, own_server: AppProcess) -> None:
    # Given her repair page open (its sockets kept where the test can drop them)
    page, frames, order_id = report_and_open(new_context, own_server, "live-page-offline", KEEP_SOCKETS)
    sockets: list[Any] = []
    page.on("websocket", lambda socket: sockets.append(socket))
    page.evaluate("window.__sameDocument = true")
    # When her phone loses its connection, which drops the socket
    page.context.set_offline(True)
    page.evaluate("window.__sockets.forEach((s) => s.close(3000))")
    # And the steward acts meanwhile, and the connection comes back
    steward_takes(own_server, order_id)
    page.context.set_offline(False)
    # Then the page connects again and shows what she missed, without reloading
    expect(page.locator(".lead strong")).to_have_text("已派师傅")
    expect(page.locator(".tk-timeline li")).to_have_count(2)
    assert sockets, "the page did not connect again"
    assert page.evaluate("window.__sameDocument === true")


def test_back_to_the_repair_page_shows_what_happened_meanwhile(
    new_context: Any, own_server: AppProcess
) -> None:
    # Given her repair page open, from which she goes to her list of reports
    page, frames, order_id = report_and_open(new_context, own_server, "live-page-back")
    page.goto("/repairs")
    # When the steward acts meanwhile, and she comes back
    steward_takes(own_server, order_id)
    page.go_back()
    # Then the page (restored from the back/forward cache, or loaded again) shows it
    expect(page.locator(".lead strong")).to_have_text("已派师傅")
    expect(page.locator(".tk-timeline li")).to_have_count(2)
