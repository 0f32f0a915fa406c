"""A resident calls customer service in Chromium and an agent answers in another: WebRTC connects over
loopback (fake camera and microphone), one hangs up, both see the call end."""

from __future__ import annotations

from typing import Any

import pytest

from ..conftest import AGENT_NANNING, RESIDENT_XIUSHAN
from ..support.servers import AppProcess
from .helpers import axe_violations, logged_in, tappable_too_small

pytestmark = pytest.mark.browser


@pytest.fixture
def site(own_server: AppProcess) -> dict[str, Any]:
    """A server of the module's own (its calls and SOS), in English, where the phones may use the microphone."""
    return {"base_url": own_server.url, "locale": "en-US", "permissions": ["microphone", "camera"]}


def test_resident_calls_an_agent_both_connect_then_both_see_the_hang_up(new_context, own_server):
    resident = logged_in(new_context, RESIDENT_XIUSHAN)
    agent = logged_in(new_context, AGENT_NANNING)
    # Given the resident on the chat page, who starts a voice call with customer service
    resident.goto("/support")
    resident.get_by_role("button", name="Voice call with customer service").click()
    resident.wait_for_url("**/support/call/*")
    resident.wait_for_selector('[data-call][data-status="ringing"]')
    # When the agent opens the ringing call and answers with the huge button
    agent.goto(resident.url.replace(own_server.url, ""))
    agent.get_by_role("button", name="Answer").click()
    # Then both browsers reach a connected WebRTC call
    for page in (resident, agent):
        page.wait_for_selector('[data-call][data-connection="connected"]', timeout=20_000)
    # When the agent hangs up, both see it ended
    agent.get_by_role("button", name="Hang up").click()
    for page in (agent, resident):
        page.wait_for_selector('[data-call][data-status="ended"]', timeout=10_000)
    assert "ended" in resident.locator("[data-call-state]").inner_text()


def resident_support_pages(new_context: Any, server: AppProcess) -> tuple[Any, list[str]]:
    """The resident's chat (with a message in it), the SOS confirm and status pages, and a ringing call page."""
    resident = logged_in(new_context, RESIDENT_XIUSHAN)
    resident.goto("/support")
    resident.fill("#chat-body", "楼道的灯不亮")
    resident.get_by_role("button", name="Send", exact=True).click()
    resident.wait_for_selector(".chat-msg.mine[data-seq]")
    urls = ["/support", "/support/sos"]
    resident.goto("/support/sos")
    resident.get_by_role("button", name="Confirm: send for help").click()
    resident.wait_for_url("**/support/sos/*")
    urls.append(resident.url.replace(server.url, ""))
    resident.goto("/support")
    resident.get_by_role("button", name="Voice call with customer service").click()
    resident.wait_for_url("**/support/call/*")
    urls.append(resident.url.replace(server.url, ""))
    return resident, urls


def test_axe_finds_no_violations_on_the_support_pages(new_context, own_server, axe):
    # Given the resident's chat, SOS and call pages and the agent's console and conversation
    resident, urls = resident_support_pages(new_context, own_server)
    pages = [(resident, url) for url in urls]
    agent = logged_in(new_context, AGENT_NANNING)
    agent.goto("/staff/support")
    conversation = (
        agent.locator('a[href^="/staff/support/"]').filter(has_text="王秀英").first.get_attribute("href")
    )
    pages += [(agent, "/staff/support"), (agent, conversation), (agent, urls[-1])]
    violations = {}
    for page, url in pages:
        # When axe-core checks each page against WCAG 2.1 A and AA
        response = page.goto(url)
        assert response is not None and response.status == 200, url
        if found := axe_violations(axe, page):
            violations[url] = found
    # Then there are none
    assert not violations, "\n".join(f"{u}:\n{r}" for u, r in violations.items())


def test_every_tappable_thing_on_the_resident_support_pages_is_at_least_60_px(new_context, own_server):
    # Given the resident's support pages in the elderly mode (her default)
    resident, urls = resident_support_pages(new_context, own_server)
    too_small = {}
    for url in urls:
        resident.goto(url)
        assert "mode-standard" not in resident.evaluate("document.documentElement.className")
        # When every link, button and field is measured
        found = tappable_too_small(resident)
        if found:
            too_small[url] = found
    # Then none is smaller than 60×60 CSS px
    assert not too_small, too_small


def test_the_sos_page_shows_who_is_coming_without_a_reload(new_context, own_server):
    # Given the resident on her SOS status page, where the on-duty steward is named
    resident = logged_in(new_context, RESIDENT_XIUSHAN)
    resident.goto("/support/sos")
    resident.get_by_role("button", name="Confirm: send for help").click()
    resident.wait_for_url("**/support/sos/*")
    resident.wait_for_selector('[data-sos-live][data-status="open"]')  # the subscription has answered
    # who has been alerted, with nobody said to be coming before anyone has answered
    assert resident.locator("[data-sos-coming]").inner_text() == "We have alerted 张建国"
    assert resident.locator("h1").inner_text() == "Your call for help has been sent"
    assert (
        "coming" not in resident.locator("main").inner_text()
        and "on its way" not in resident.locator("main").inner_text()
    )
    # When an agent answers "I am going" in another browser
    agent = logged_in(new_context, AGENT_NANNING)
    agent.goto(resident.url.replace(own_server.url, "").replace("/support/sos/", "/staff/support/sos/"))
    agent.get_by_role("button", name="I am going").click()
    # Then, with no reload, her page names the agent, offers to call them and says someone is on the way
    resident.wait_for_selector('[data-sos-live][data-status="acknowledged"]', timeout=10_000)
    assert resident.locator("[data-sos-coming]").inner_text() == "孙婷 is coming"
    assert resident.locator("[data-sos-call]").is_visible()
    assert resident.locator("h1").inner_text() == "Help is on its way"
    assert resident.locator('p[data-sos-state="acknowledged"]').is_visible()


def test_an_emergency_in_the_chat_offers_a_one_tap_sos_and_calls_and_only_the_tap_raises_it(new_context):
    # Given the resident on the chat page, with chat.js running (a marker a reload would lose)
    resident = logged_in(new_context, RESIDENT_XIUSHAN)
    resident.goto("/support")
    resident.evaluate("window.stillThisPage = true")
    # When she writes that she smells gas
    resident.fill("#chat-body", "I smell gas in the kitchen")
    resident.get_by_role("button", name="Send", exact=True).click()
    # Then, without a reload, the reply offers SOS and calls to her steward, 119 and 120, none smaller than 60 px
    sos = resident.get_by_role("button", name="SOS: alert my steward and family")
    sos.wait_for()
    assert resident.evaluate("window.stillThisPage === true")
    log = resident.locator("[data-chat-log]")
    assert [log.locator(f'a[href="tel:{n}"]').count() for n in ("13800000011", "119", "120")] == [1, 1, 1]
    assert "is coming" not in log.inner_text()
    assert tappable_too_small(resident) == []
    # And one tap on SOS raises it: the status page opens
    sos.click()
    resident.wait_for_url("**/support/sos/*")
    resident.wait_for_selector("[data-sos-live]")


def test_a_refused_file_is_taken_off_and_her_words_still_go(new_context, tmp_path):
    # Given the resident on the chat page, with a text file dressed as a photo chosen to send
    fake = tmp_path / "fake.jpg"
    fake.write_text("this is not a photo")
    resident = logged_in(new_context, RESIDENT_XIUSHAN)
    resident.goto("/support")
    resident.set_input_files("#chat-photo", str(fake))
    # Then its name shows with a big button to take it off
    attached = resident.locator("[data-chat-attached]")
    assert attached.is_visible() and "fake.jpg" in attached.inner_text()
    remove = resident.get_by_role("button", name="Remove this file")
    box = remove.bounding_box()
    assert box is not None and box["height"] >= 59.5 and box["width"] >= 59.5
    # When she sends it with nothing written
    resident.get_by_role("button", name="Send", exact=True).click()
    status = resident.locator("[data-chat-status]")
    status.filter(has_text="This kind of file cannot be sent").wait_for()
    # Then she is told the file was taken off, and it is
    assert "taken off" in status.inner_text()
    assert attached.is_hidden()
    assert resident.evaluate("document.querySelector('#chat-photo').files.length") == 0
    # When she then writes and sends
    resident.fill("#chat-body", "The gas smells strong, what should I do")
    resident.get_by_role("button", name="Send", exact=True).click()
    # Then her words are sent
    log = resident.locator("[data-chat-log]")
    log.locator(".chat-msg.mine[data-seq]", has_text="The gas smells strong").wait_for()
    assert "cannot be sent" not in status.inner_text()

    # Given the bad file chosen again together with words written
    resident.set_input_files("#chat-photo", str(fake))
    resident.fill("#chat-body", "The light in the stairs is broken")
    # When she sends both
    resident.get_by_role("button", name="Send", exact=True).click()
    # Then her words go without it, and she is told so
    log.locator(".chat-msg.mine[data-seq]", has_text="The light in the stairs is broken").wait_for()
    status.filter(has_text="Your words were sent without it").wait_for()
    assert attached.is_hidden()

    # And a file chosen can be taken off with the big button before sending
    resident.set_input_files("#chat-photo", str(fake))
    remove.click()
    assert attached.is_hidden()
    assert resident.evaluate("document.querySelector('#chat-photo').files.length") == 0


def test_a_resolved_sos_reads_as_resolved_without_a_reload(new_context, own_server):
    # Given the resident on her SOS page, which an agent has taken
    resident = logged_in(new_context, RESIDENT_XIUSHAN)
    resident.goto("/support/sos")
    resident.get_by_role("button", name="Confirm: send for help").click()
    resident.wait_for_url("**/support/sos/*")
    resident.wait_for_selector('[data-sos-live][data-status="open"]')  # the subscription has answered
    agent = logged_in(new_context, AGENT_NANNING)
    agent.goto(resident.url.replace(own_server.url, "").replace("/support/sos/", "/staff/support/sos/"))
    agent.get_by_role("button", name="I am going").click()
    resident.wait_for_selector('[data-sos-live][data-status="acknowledged"]', timeout=10_000)
    assert resident.title().startswith("Help is on its way")
    # When the agent says it is dealt with
    agent.get_by_role("button", name="It is dealt with").click()
    assert "It has been dealt with." in agent.locator("main").inner_text()
    # Then, with no reload, her page reads as resolved throughout: heading, tab title, nobody said to be coming
    resident.wait_for_selector('[data-sos-live][data-status="resolved"]', timeout=10_000)
    assert resident.locator("h1").inner_text() == "It has been dealt with."
    assert resident.title().startswith("It has been dealt with.")
    assert resident.locator("[data-sos-coming]").is_hidden()
    assert "coming" not in resident.locator("main").inner_text()


def test_a_resident_who_pressed_sos_by_mistake_says_she_is_fine(new_context, own_server):
    # Given the resident on her SOS page, which alerted the steward on duty; the agent has it open
    resident = logged_in(new_context, RESIDENT_XIUSHAN)
    resident.goto("/support/sos")
    resident.get_by_role("button", name="Confirm: send for help").click()
    resident.wait_for_url("**/support/sos/*")
    resident.wait_for_selector('[data-sos-live][data-status="open"]')  # the subscription has answered
    path = resident.url.replace(own_server.url, "")
    agent = logged_in(new_context, AGENT_NANNING)
    agent.goto(path.replace("/support/sos/", "/staff/support/sos/"))
    # When she presses the big "I am fine" button, she is asked once more, and can still go back
    fine = resident.get_by_role("button", name="I am fine: cancel my call for help")
    assert fine.bounding_box()["height"] >= 60
    fine.click()
    resident.wait_for_url("**/cancel")
    assert resident.locator("h1").inner_text() == "Cancel your call for help?"
    assert resident.get_by_role("link", name="No, I still need help").is_visible()
    # When she confirms
    resident.get_by_role("button", name="Confirm: cancel it").click()
    resident.wait_for_url(f"**{path}")
    # Then her page says she cancelled it, heading and tab title, with nobody said to be coming and no button left
    assert resident.locator("h1").inner_text() == "You have cancelled your call for help"
    assert resident.title().startswith("You have cancelled your call for help")
    resident.wait_for_selector('[data-sos-live][data-status="cancelled"]')
    assert resident.get_by_role("button", name="I am fine: cancel my call for help").count() == 0
    assert "coming" not in resident.locator("main").inner_text()
    # And the agent's page, reloaded, says she cancelled it (not that staff dealt with it), with no button left
    agent.reload()
    said = agent.locator("main").inner_text()
    assert (
        "王秀英 cancelled the call for help: they are fine" in said and "It has been dealt with." not in said
    )
    assert agent.get_by_role("button", name="I am going").count() == 0
