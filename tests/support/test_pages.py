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
    return client.cookies["laoyou_csrf"]  # the login gave a new token; the pages now carry it


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
    form = {
        "csrf_token": token,
        "client_id": hidden(page.text, "client_id"),
        "household_id": hidden(page.text, "household_id"),
        "community_id": hidden(page.text, "community_id"),
        "body": "楼下的路灯不亮了",
    }
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
    assert "<th>地址</th>" in console.text and "<th>首页</th>" not in console.text  # the column of flats
    conversation_id = re.search(r'href="/staff/support/(\d+)"', console.text).group(1)
    view = await client.get(f"/staff/support/{conversation_id}")
    assert "楼下的路灯不亮了" in view.text and "秀山花园" in view.text
    reply = await client.post(
        "/support/send?back=staff",
        data={
            "csrf_token": token,
            "client_id": hidden(view.text, "client_id"),
            "conversation_id": conversation_id,
            "body": "我们马上去修",
        },
    )
    assert reply.status_code == 303 and reply.headers["location"].startswith(
        f"/staff/support/{conversation_id}"
    )
    for path in ("/staff/support/faq", "/staff/support/figures"):
        assert (await client.get(path)).status_code == 200, path


async def test_steward_call_is_logged_and_sos_shows_who_is_coming(client, db):
    token = await page_login(client, RESIDENT_XIUSHAN)
    page = await client.get("/support")
    household_id = hidden(page.text, "household_id")
    dial = await client.post(
        "/support/steward-call", data={"csrf_token": token, "household_id": household_id}
    )
    assert dial.status_code == 200 and 'href="tel:' in dial.text
    confirm = await client.get("/support/sos")
    assert confirm.status_code == 200
    raised = await client.post(
        "/support/sos",
        data={
            "csrf_token": token,
            "household_id": household_id,
            "client_id": hidden(confirm.text, "client_id"),
        },
    )
    assert raised.status_code == 303
    status = await client.get(raised.headers["location"])
    assert "张建国" in status.text


async def test_a_stranger_gets_not_found_for_another_persons_pages(client, db):
    token = await page_login(client, RESIDENT_XIUSHAN)
    page = await client.get("/support")
    await client.post(
        "/support/send",
        data={
            "csrf_token": token,
            "client_id": "p1",
            "household_id": hidden(page.text, "household_id"),
            "body": "只给客服看",
        },
    )
    raised = await client.post(
        "/support/sos",
        data={"csrf_token": token, "household_id": hidden(page.text, "household_id"), "client_id": "sos-p1"},
    )
    sos_path = raised.headers["location"]
    await page_login(client, AGENT_NANNING)
    console = await client.get("/staff/support")
    conversation_id = re.search(r'href="/staff/support/(\d+)"', console.text).group(1)
    await page_login(client, RESIDENT_JINGJU)
    assert (await client.get(f"/staff/support/{conversation_id}")).status_code == 404
    assert (await client.get(sos_path)).status_code == 404
    assert "只给客服看" not in (await client.get("/support")).text


async def test_the_console_turns_a_conversation_into_a_work_order_and_the_resident_sees_it(client, db):
    # Given 王秀英's question in the agent's console
    token = await page_login(client, RESIDENT_XIUSHAN)
    page = await client.get("/support")
    await client.post(
        "/support/send",
        data={
            "csrf_token": token,
            "client_id": "wo-page-1",
            "household_id": hidden(page.text, "household_id"),
            "body": "阳台的灯坏了",
        },
    )
    token = await page_login(client, AGENT_NANNING)
    console = await client.get("/staff/support")
    conversation_id = re.search(r'href="/staff/support/(\d+)"', console.text).group(1)
    view = await client.get(f"/staff/support/{conversation_id}")
    # The household's unpaid bills and open work orders are beside the chat
    assert "data-open-bills" in view.text and "data-open-work-orders" in view.text
    assert "¥" in view.text
    # And she can take it with the plain form (no JavaScript)
    claimed = await client.post(f"/staff/support/{conversation_id}/claim", data={"csrf_token": token})
    assert claimed.status_code == 303, claimed.text
    assert (
        await client.post(f"/staff/support/{conversation_id}/nonsense", data={"csrf_token": token})
    ).status_code == 404
    # When the agent picks "Lighting" and presses the one button
    done = await client.post(
        f"/staff/support/{conversation_id}/work-order", data={"csrf_token": token, "category": "lighting"}
    )
    assert done.status_code == 303, done.text
    view = await client.get(f"/staff/support/{conversation_id}")
    number = re.search(r'<p data-work-order><a href="/orders/(\d+)"', view.text).group(1)
    # Then the work order is listed as open for the household and the form is gone
    assert f'href="/orders/{number}"' in view.text.split("data-open-work-orders", 1)[1]
    assert "data-work-order-form" not in view.text
    # And the resident's chat shows the note and a link to it
    await page_login(client, RESIDENT_XIUSHAN)
    chat = await client.get("/support")
    assert f'href="/orders/{number}"' in chat.text and number in chat.text
    assert (await client.get(f"/orders/{number}")).status_code == 200
