"""Family members ask customer service about the household they follow, and about nothing else."""

from __future__ import annotations

import re

from ..conftest import AGENT_NANNING, FAMILY_OF_XIUSHAN, RESIDENT_JINGJU, RESIDENT_XIUSHAN, login_demo
from .helpers import QUEUE, cid, go_online, send

HOMES = "query { viewer { households { id address } ownHouseholdIds } }"
SEND_ABOUT = """
mutation ($clientId: String!, $householdId: ID) {
  sendChatMessage(clientId: $clientId, body: "我妈妈家的水费怎么交？", householdId: $householdId) {
    __typename ... on SupportError { message code }
  }
}
"""


async def test_a_family_member_asks_about_the_home_they_follow_and_the_agent_answers(gql, db):
    # Given 王小明, who follows his mother 王秀英's home in 秀山花园 and lives in none himself
    family = await login_demo(gql, FAMILY_OF_XIUSHAN)
    homes = (await family(HOMES))["data"]["viewer"]
    assert homes["ownHouseholdIds"] == [] and len(homes["households"]) == 1
    followed = homes["households"][0]
    agent = await login_demo(gql, AGENT_NANNING)
    await go_online(agent)
    # When he asks customer service (the page names no household)
    asked = await send(family, "我妈妈家的水费怎么交？")
    # Then the question is sent, about his mother's home, and waits in that district's queue under his name
    assert asked["__typename"] == "ChatMessageSent", asked
    conversation_id = asked["conversation"]["id"]
    waiting = next(c for c in (await agent(QUEUE))["data"]["supportQueue"] if c["id"] == conversation_id)
    assert waiting["resident"]["name"] == "王小明" and waiting["household"]["address"] == followed["address"]
    # And the agent's reply reaches him
    await send(agent, "您好，可以在“我的账单”里交", conversation_id)
    messages = (
        await family(
            "query ($id: ID!) { supportConversation(id: $id) { messages { body fromStaff } } }",
            {"id": conversation_id},
        )
    )["data"]["supportConversation"]["messages"]
    assert messages[-1] == {"body": "您好，可以在“我的账单”里交", "fromStaff": True}


async def test_a_family_member_cannot_ask_about_a_home_they_do_not_follow(gql, db):
    # Given another resident's home
    other = await login_demo(gql, RESIDENT_JINGJU)
    elsewhere = (await other(HOMES))["data"]["viewer"]["ownHouseholdIds"][0]
    family = await login_demo(gql, FAMILY_OF_XIUSHAN)
    # When the family member names it
    result = await family(SEND_ABOUT, {"clientId": cid(), "householdId": elsewhere}, expect_errors=True)
    # Then it is not found, as any home that is not theirs
    assert result["errors"][0]["message"] == "Not found."


async def test_a_resident_who_also_follows_another_home_asks_about_their_own_first(gql, db):
    # Given 王秀英, who lives in her home
    resident = await login_demo(gql, RESIDENT_XIUSHAN)
    own = (await resident(HOMES))["data"]["viewer"]["ownHouseholdIds"][0]
    # When she asks without naming a home
    conversation_id = (await send(resident, "楼道的灯坏了"))["conversation"]["id"]
    # Then it is about her own home
    data = (
        await resident(
            "query ($id: ID!) { supportConversation(id: $id) { household { id } } }", {"id": conversation_id}
        )
    )["data"]["supportConversation"]
    assert data["household"]["id"] == own


async def test_the_family_member_s_support_page_is_about_the_followed_home(client, db):
    # Given 王小明 logged in on his phone
    from ..web.conftest import log_in

    await log_in(client, FAMILY_OF_XIUSHAN)
    # When he opens customer service
    response = await client.get("/support", headers={"Accept-Language": "en"})
    # Then he may write about his mother's home, call her steward, and the SOS button is left to her
    assert response.status_code == 200
    assert "not linked to a home yet" not in response.text
    assert re.search(r'<p class="address">[^<]*: 秀山花园', response.text)
    assert "Call their steward" in response.text and 'action="/support/send"' in response.text
    assert "data-sos-button" not in response.text
