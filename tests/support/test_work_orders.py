"""The agent console: "turn this into a work order" in one action, and the household's bills and open work
orders beside the chat, each scoped to the agent."""

from __future__ import annotations

from ..conftest import (
    AGENT_NANNING,
    FIELD_ZHUJIAJIAO,
    RESIDENT_JINGJU,
    RESIDENT_XIUSHAN,
    STEWARD_YUEYANG,
    login_demo,
)
from .helpers import CONVERSATION, go_online, send

TURN = """
mutation ($id: ID!, $category: WorkOrderCategory!) {
  turnConversationIntoWorkOrder(id: $id, category: $category) {
    __typename
    ... on WorkOrderOpened {
      workOrderId
      workOrder { id source category status description reporter { name } }
      conversation { workOrderId }
    }
    ... on SupportError { message }
  }
}
"""
SIDE = """
query ($id: ID!) {
  supportConversation(id: $id) {
    workOrderId
    workOrder { id source }
    household { id address members { name } }
    openBills { id period status outstanding { fen } }
    openWorkOrders { id status description }
  }
}
"""
MY_REPORTS = "query { myWorkOrders { nodes { id source } } }"
MY_BILLS = "query { myBills(unpaidOnly: true) { id } }"


async def test_an_agent_turns_the_conversation_into_a_work_order_in_one_action(gql, db):
    # Given 王秀英 tells customer service about a leaking pipe and the agent is on it
    resident = await login_demo(gql, RESIDENT_XIUSHAN)
    agent = await login_demo(gql, AGENT_NANNING)
    await go_online(agent)
    conversation_id = (await send(resident, "厨房水管一直在滴水"))["conversation"]["id"]
    await send(resident, "在水槽下面", conversation_id)
    # When the agent turns it into a work order with one action
    opened = (await agent(TURN, {"id": conversation_id, "category": "water"}))["data"][
        "turnConversationIntoWorkOrder"
    ]
    # Then a work order exists for her, logged from the chat with what she wrote
    assert opened["__typename"] == "WorkOrderOpened", opened
    order = opened["workOrder"]
    assert order["source"] == "chat" and order["category"] == "water" and order["status"] == "reported"
    assert "厨房水管一直在滴水" in order["description"] and "在水槽下面" in order["description"]
    assert order["reporter"]["name"] == "王秀英"
    # And the conversation links to it
    assert opened["conversation"]["workOrderId"] == opened["workOrderId"] == order["id"]
    # And the resident sees a message in the chat with its number, and finds it among her reports
    messages = (await resident(CONVERSATION, {"id": conversation_id, "after": 0}))["data"][
        "supportConversation"
    ]["messages"]
    assert messages[-1]["kind"] == "system" and order["id"] in messages[-1]["body"]
    reports = (await resident(MY_REPORTS))["data"]["myWorkOrders"]["nodes"]
    assert order["id"] in [n["id"] for n in reports]
    # And doing it again (a double click) returns the same work order, with no second note
    again = (await agent(TURN, {"id": conversation_id, "category": "water"}))["data"][
        "turnConversationIntoWorkOrder"
    ]
    assert again["workOrderId"] == order["id"]
    after = (await resident(CONVERSATION, {"id": conversation_id, "after": 0}))["data"][
        "supportConversation"
    ]["messages"]
    assert len(after) == len(messages)
    # And the agent's side panel shows it among the household's open work orders
    side = (await agent(SIDE, {"id": conversation_id}))["data"]["supportConversation"]
    assert side["workOrder"]["id"] == order["id"]
    assert order["id"] in [o["id"] for o in side["openWorkOrders"]]


async def test_strangers_cannot_turn_a_conversation_into_a_work_order(gql, db):
    # Given 王秀英's conversation in Nanning
    resident = await login_demo(gql, RESIDENT_XIUSHAN)
    conversation_id = (await send(resident, "门锁坏了"))["conversation"]["id"]
    # When the resident herself, another district's steward, a field worker elsewhere or another resident try
    for phone in (RESIDENT_XIUSHAN, STEWARD_YUEYANG, FIELD_ZHUJIAJIAO, RESIDENT_JINGJU):
        stranger = await login_demo(gql, phone)
        result = await stranger(TURN, {"id": conversation_id, "category": "door_lock"}, expect_errors=True)
        # Then it is refused as a top-level error and nothing was opened
        assert result["errors"], phone
        assert result["data"] is None or result["data"]["turnConversationIntoWorkOrder"] is None
    agent = await login_demo(gql, AGENT_NANNING)
    side = (await agent(SIDE, {"id": conversation_id}))["data"]["supportConversation"]
    assert side["workOrderId"] is None


async def test_the_console_shows_the_households_bills_and_open_work_orders_only_to_staff(gql, db):
    # Given 王秀英's conversation and her household's unpaid bills
    resident = await login_demo(gql, RESIDENT_XIUSHAN)
    conversation_id = (await send(resident, "我家的账单对不对"))["conversation"]["id"]
    unpaid = {b["id"] for b in (await resident(MY_BILLS))["data"]["myBills"]}
    assert unpaid  # the demo leaves her some bills to pay
    agent = await login_demo(gql, AGENT_NANNING)
    # When the agent opens the conversation
    side = (await agent(SIDE, {"id": conversation_id}))["data"]["supportConversation"]
    # Then the household and exactly its unpaid bills are beside the chat
    assert side["household"]["address"].startswith("秀山花园")
    assert {b["id"] for b in side["openBills"]} == unpaid
    assert all(b["outstanding"]["fen"] > 0 for b in side["openBills"])
    assert all(
        o["status"] not in ("done", "closed", "confirmed", "cancelled") for o in side["openWorkOrders"]
    )
    # And the resident's own view of the conversation does not carry the staff panel
    own = (await resident(SIDE, {"id": conversation_id}))["data"]["supportConversation"]
    assert own["openBills"] == [] and own["openWorkOrders"] == []
