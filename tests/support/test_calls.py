"""Calls whose caller left: they stop ringing for the staff and are kept as missed calls, whether the caller's
page hung up as it closed or the caller went silent."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import select

from laoyou.accounts.models import Notification
from laoyou.core.time import utcnow
from laoyou.graphql.types import decode_id
from laoyou.support import service as support
from laoyou.support.models import Call

from ..conftest import AGENT_NANNING, RESIDENT_XIUSHAN, STEWARD_XIUSHAN, login_demo
from .helpers import CONVERSATION, go_online
from .test_pages import page_login

START = """
mutation ($toSteward: Boolean!) {
  startCall(video: false, toSteward: $toSteward) {
    __typename ... on CallUpdated { call { id status conversationId } } ... on SupportError { message }
  }
}
"""
RINGING = "query { ringingCalls { id } }"
CALL = "query ($id: ID!) { supportCall(id: $id) { status } }"
MESSAGES = """
query ($id: ID!) { supportConversation(id: $id) { messages(afterSeq: 0) { kind body senderLabel fromStaff } } }
"""


async def ringing_ids(client) -> list[str]:  # noqa: ANN001
    return [c["id"] for c in (await client(RINGING))["data"]["ringingCalls"]]


async def test_a_caller_whose_page_closes_stops_the_ringing_and_leaves_a_missed_call(gql, client, db):
    # Given 王秀英 calling customer service, ringing for the agent
    resident = await login_demo(gql, RESIDENT_XIUSHAN)
    agent = await login_demo(gql, AGENT_NANNING)
    await go_online(agent)
    call = (await resident(START, {"toSteward": False}))["data"]["startCall"]["call"]
    assert call["status"] == "ringing" and call["id"] in await ringing_ids(agent)
    # When her call page is closed before anyone answers: the page sends its hang-up form (call.js's beacon)
    token = await page_login(client, RESIDENT_XIUSHAN)
    sent = await client.post(f"/support/call/{call['id']}/hangup", data={"csrf_token": token})
    assert sent.status_code == 303
    # Then it rings for nobody any more, and is a missed call
    assert call["id"] not in await ringing_ids(agent)
    assert (await resident(CALL, {"id": call["id"]}))["data"]["supportCall"]["status"] == "missed"
    # And the conversation says so, from her, in the reader's language
    messages = (await agent(MESSAGES, {"id": call["conversationId"]}))["data"]["supportConversation"][
        "messages"
    ]
    missed = [m for m in messages if m["kind"] == "missed_call"]
    assert missed == [
        {
            "kind": "missed_call",
            "body": "Missed voice call from 王秀英",
            "senderLabel": "王秀英",
            "fromStaff": False,
        }
    ]


async def test_a_call_whose_caller_went_silent_is_ended_as_missed_after_the_ring_time(gql, db):
    # Given 王秀英 calling her steward, whose phone then dies (no hang-up comes)
    resident = await login_demo(gql, RESIDENT_XIUSHAN)
    steward = await login_demo(gql, STEWARD_XIUSHAN)
    call = (await resident(START, {"toSteward": True}))["data"]["startCall"]["call"]
    assert call["id"] in await ringing_ids(steward)
    row = await db.get(Call, decode_id(call["id"]))
    # When the unanswered calls are ended before the ring time is over, nothing happens
    assert await support.do_end_unanswered_calls(db, now=row.created_at + support.RING_TIMEOUT) == 0
    # And once it is over, the call ends as missed, once however often it runs
    later = row.created_at + support.RING_TIMEOUT + timedelta(seconds=1)
    assert await support.do_end_unanswered_calls(db, now=later) == 1
    assert await support.do_end_unanswered_calls(db, now=later) == 0
    await db.commit()
    # Then it no longer rings for the steward, and he is told of the missed call
    assert call["id"] not in await ringing_ids(steward)
    await db.refresh(row)
    assert row.status == "missed" and row.ended_by_id == row.caller_id and row.ended_at <= utcnow()
    told = list(
        await db.exec(
            select(Notification).where(
                Notification.person_id == row.callee_id, Notification.kind == "missed_call"
            )
        )
    )
    assert len(told) == 1 and "王秀英" in told[0].title and told[0].link.startswith("/staff/support/")
    # And the resident's chat keeps it as a missed call
    data = (await resident(CONVERSATION, {"id": call["conversationId"], "after": 0}))["data"]
    assert [m["kind"] for m in data["supportConversation"]["messages"]][-1] == "missed_call"


async def test_a_call_answered_in_time_is_not_ended(gql, db):
    # Given a call the agent answered
    resident = await login_demo(gql, RESIDENT_XIUSHAN)
    agent = await login_demo(gql, AGENT_NANNING)
    call = (await resident(START, {"toSteward": False}))["data"]["startCall"]["call"]
    answered = await agent("mutation ($id: ID!) { answerCall(id: $id) { __typename } }", {"id": call["id"]})
    assert answered["data"]["answerCall"]["__typename"] == "CallUpdated"
    # When the unanswered calls are ended long after
    ended = await support.do_end_unanswered_calls(db, now=utcnow() + timedelta(hours=1))
    # Then the call goes on
    assert ended == 0
    assert (await resident(CALL, {"id": call["id"]}))["data"]["supportCall"]["status"] == "connected"
