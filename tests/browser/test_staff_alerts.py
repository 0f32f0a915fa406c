"""In Chromium: a call whose caller closes her page stops ringing on the staff side and is kept as a missed call;
an SOS appears on the steward's home as it is raised, and the 新消息 badge opens his notifications."""

from __future__ import annotations

from typing import Any

import pytest

from ..conftest import AGENT_NANNING, RESIDENT_XIUSHAN, STEWARD_XIUSHAN
from ..support.servers import AppProcess
from .helpers import axe_violations, logged_in

pytestmark = pytest.mark.browser


@pytest.fixture
def site(own_server: AppProcess) -> dict[str, Any]:
    """A server of the module's own (its calls and SOS), in English, where the phones may use the microphone."""
    return {"base_url": own_server.url, "locale": "en-US", "permissions": ["microphone", "camera"]}


def test_a_call_whose_caller_closes_her_page_stops_ringing_and_is_a_missed_call(new_context, own_server):
    # Given the agent's console, and the resident calling customer service
    agent = logged_in(new_context, AGENT_NANNING)
    agent.goto("/staff/support")
    resident = logged_in(new_context, RESIDENT_XIUSHAN)
    resident.goto("/support")
    resident.get_by_role("button", name="Voice call with customer service").click()
    resident.wait_for_url("**/support/call/*")
    resident.wait_for_selector('[data-call][data-status="ringing"]')
    # And the agent's console rings, naming her
    agent.wait_for_selector("[data-ringing]:not([hidden])", timeout=10_000)
    assert "王秀英" in agent.locator("[data-ringing-who]").inner_text()
    call_path = resident.url.replace(own_server.url, "")
    # When she closes the page before anyone answers
    resident.close(run_before_unload=True)
    # Then the ringing stops on the console, with no reload
    agent.wait_for_selector("[data-ringing][hidden]", state="attached", timeout=10_000)
    # And the call is over: opening it says so, and the conversation keeps it as a missed call
    agent.goto(call_path)
    assert "The call has ended." in agent.locator("[data-call-state]").inner_text()
    agent.get_by_role("link", name="Back to the chat").click()
    missed = agent.locator(".chat-msg", has_text="Missed voice call from 王秀英")
    assert missed.count() == 1 and "王秀英" in missed.locator(".who").inner_text()


def test_an_sos_appears_on_the_stewards_home_as_it_is_raised(new_context, own_server, axe):
    # Given the steward on his home
    steward = logged_in(new_context, STEWARD_XIUSHAN)
    steward.goto("/")
    steward.wait_for_load_state("networkidle")
    # When 王秀英 taps SOS and confirms
    resident = logged_in(new_context, RESIDENT_XIUSHAN)
    resident.goto("/support/sos")
    resident.get_by_role("button", name="Confirm: send for help").click()
    resident.wait_for_url("**/support/sos/*")
    alert_id = resident.url.rsplit("/", 1)[1]
    # Then, with no reload, his home shows it first as an alert: her name, home, phone and a button to take it
    alert = steward.locator(f'[data-sos-alert="{alert_id}"]')
    alert.wait_for(timeout=15_000)
    assert steward.get_by_role("alert").first.is_visible()
    assert "王秀英" in alert.inner_text() and "秀山花园" in alert.inner_text()
    assert alert.locator('a[href^="tel:"]').count() == 1
    assert not axe_violations(axe, steward), axe_violations(axe, steward)
    # When he takes it
    alert.get_by_role("button", name="I am going").click()
    # Then its page says so, and the resident's page names him as coming, with no reload
    steward.wait_for_url(f"**/staff/support/sos/{alert_id}")
    resident.wait_for_selector(
        '[data-sos-live][data-status="acknowledged"]', state="attached", timeout=10_000
    )
    # And his messages list holds the SOS, linked to it
    steward.goto("/")
    steward.locator("[data-notifications-link]").click()
    steward.wait_for_url("**/notifications")
    assert steward.locator(f'a[href="/staff/support/sos/{alert_id}"]').count() >= 1
    assert not axe_violations(axe, steward), axe_violations(axe, steward)
