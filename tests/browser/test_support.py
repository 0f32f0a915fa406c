"""A resident calls customer service in Chromium and an agent answers in another: WebRTC connects over
loopback (fake camera and microphone), one hangs up, both see the call end."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ..conftest import AGENT_NANNING, RESIDENT_XIUSHAN
from ..support.servers import AppProcess

pytestmark = pytest.mark.browser
CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppProcess]:
    tmp = tmp_path_factory.mktemp("browser-support")
    app = AppProcess(tmp, f"sqlite+aiosqlite:///{tmp / 'b.sqlite3'}").wait_ready()
    yield app
    app.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    sync_api = pytest.importorskip("playwright.sync_api")
    if not CHROMIUM.exists():
        pytest.skip("chromium is not installed")
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream", "--no-sandbox"],
        )
        yield launched
        launched.close()


def logged_in(browser, server: AppProcess, phone: str):  # noqa: ANN001, ANN201
    context = browser.new_context(base_url=server.url, viewport={"width": 360, "height": 740},
                                  permissions=["microphone", "camera"])
    context.request.get("/login")
    token = next(c["value"] for c in context.cookies() if c["name"] == "laoyou_csrf")
    response = context.request.post("/login/demo", form={"phone": phone, "csrf_token": token}, max_redirects=0)
    assert response.status == 303
    return context.new_page()


def test_resident_calls_an_agent_both_connect_then_both_see_the_hang_up(browser, server):
    resident = logged_in(browser, server, RESIDENT_XIUSHAN)
    agent = logged_in(browser, server, AGENT_NANNING)
    # Given the resident on the chat page, who starts a voice call with customer service
    resident.goto("/support")
    resident.get_by_role("button", name="Voice call with customer service").click()
    resident.wait_for_url("**/support/call/*")
    resident.wait_for_selector('[data-call][data-status="ringing"]')
    # When the agent opens the ringing call and answers with the huge button
    agent.goto(resident.url.replace(server.url, ""))
    agent.get_by_role("button", name="Answer").click()
    # Then both browsers reach a connected WebRTC call
    for page in (resident, agent):
        page.wait_for_selector('[data-call][data-connection="connected"]', timeout=20_000)
    # When the agent hangs up, both see it ended
    agent.get_by_role("button", name="Hang up").click()
    for page in (agent, resident):
        page.wait_for_selector('[data-call][data-status="ended"]', timeout=10_000)
    assert "ended" in resident.locator("[data-call-state]").inner_text()
