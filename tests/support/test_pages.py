"""The customer-service pages work without JavaScript: chat, send, steward call, SOS, console, FAQ, figures."""

from __future__ import annotations

import re

import httpx

from ..conftest import AGENT_NANNING, RESIDENT_JINGJU, RESIDENT_XIUSHAN


async def page_login(client: httpx.AsyncClient, phone: str) -> str:
    """Log in with the demo form as a browser would; returns the CSRF token."""
    client.cookies.clear()
    await client.get("/login")
    token = client.cookies["laoyou_csrf"]
    response = await client.post("/login/demo", data={"phone": phone, "csrf_token": token})
    assert response.status_code == 303, response.text
    return token


def hidden(html: str, name: str) -> str:
    return re.search(rf'name="{name}" value="([^"]*)"', html).group(1)


async def test_resident_chats_without_javascript_and_the_agent_answers_in_the_console(client, db):
    # Given 王秀英 on the chat page (her past conversation asks for stars... it is already rated in the demo)
    token = await page_login(client, RESIDENT_XIUSHAN)
    home = await client.get("/")
    assert 'href="/support"' in home.text
    page = await client.get("/support")
    assert page.status_code == 200
    # When she posts a message twice with the same form (a double tap)
    form = {"csrf_token": token, "client_id": hidden(page.text, "client_id"), "household_id": hidden(page.text, "household_id"),
            "community_id": hidden(page.text, "community_id"), "body": "楼下的路灯不亮了"}
    for _ in range(2):
        sent = await client.post("/support/send", data=form)
        assert sent.status_code == 303
    # Then it shows once
    page = await client.get("/support")
    assert page.text.count("楼下的路灯不亮了") == 1
    # And the agent sees it in the console queue and answers from the conversation page
    token = await page_login(client, AGENT_NANNING)
    console = await client.get("/staff/support")
    assert console.status_code == 200 and "王秀英" in console.text
    conversation_id = re.search(r'href="/staff/support/(\d+)"', console.text).group(1)
    view = await client.get(f"/staff/support/{conversation_id}")
    assert "楼下的路灯不亮了" in view.text and "秀山花园" in view.text
    reply = await client.post("/support/send?back=staff", data={
        "csrf_token": token, "client_id": hidden(view.text, "client_id"), "conversation_id": conversation_id,
        "body": "我们马上去修"})
    assert reply.status_code == 303 and reply.headers["location"].startswith(f"/staff/support/{conversation_id}")
    for path in ("/staff/support/faq", "/staff/support/figures"):
        assert (await client.get(path)).status_code == 200, path


async def test_steward_call_is_logged_and_sos_shows_who_is_coming(client, db):
    token = await page_login(client, RESIDENT_XIUSHAN)
    page = await client.get("/support")
    household_id = hidden(page.text, "household_id")
    dial = await client.post("/support/steward-call", data={"csrf_token": token, "household_id": household_id})
    assert dial.status_code == 200 and 'href="tel:' in dial.text
    confirm = await client.get("/support/sos")
    assert confirm.status_code == 200
    raised = await client.post("/support/sos", data={"csrf_token": token, "household_id": household_id,
                                                     "client_id": hidden(confirm.text, "client_id")})
    assert raised.status_code == 303
    status = await client.get(raised.headers["location"])
    assert "张建国" in status.text


async def test_a_stranger_gets_not_found_for_another_persons_pages(client, db):
    token = await page_login(client, RESIDENT_XIUSHAN)
    page = await client.get("/support")
    await client.post("/support/send", data={"csrf_token": token, "client_id": "p1", "household_id": hidden(page.text, "household_id"),
                                             "body": "只给客服看"})
    raised = await client.post("/support/sos", data={"csrf_token": token, "household_id": hidden(page.text, "household_id"),
                                                     "client_id": "sos-p1"})
    sos_path = raised.headers["location"]
    await page_login(client, AGENT_NANNING)
    console = await client.get("/staff/support")
    conversation_id = re.search(r'href="/staff/support/(\d+)"', console.text).group(1)
    await page_login(client, RESIDENT_JINGJU)
    assert (await client.get(f"/staff/support/{conversation_id}")).status_code == 404
    assert (await client.get(sos_path)).status_code == 404
    assert "只给客服看" not in (await client.get("/support")).text
