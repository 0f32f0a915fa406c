"""Chat: stored in server order, exactly once per client id, answered around the clock, scoped."""

from __future__ import annotations

from laoyou.core import i18n

from ..conftest import (
    AGENT_NANNING,
    FAMILY_OF_XIUSHAN,
    RESIDENT_JINGJU,
    RESIDENT_XIUSHAN,
    STEWARD_XIUSHAN,
    STEWARD_YUEYANG,
    GraphQLClient,
    login_demo,
)
from .helpers import CONVERSATION, QUEUE, cid, go_online, send

CLAIM = """mutation ($id: ID!) { claimConversation(id: $id) { __typename ... on ConversationUpdated { conversation { status assignee { name } } } ... on SupportError { message } } }"""
TRANSFER = """mutation ($id: ID!, $to: ID!) { transferConversation(id: $id, toPersonId: $to) { __typename ... on ConversationUpdated { conversation { status assignee { name } } } ... on SupportError { message field } } }"""
TARGETS = """query ($id: ID!) { supportConversation(id: $id) { transferTargets { id name role } household { address } } }"""
CLOSE = """mutation ($id: ID!) { closeConversation(id: $id) { __typename ... on ConversationUpdated { conversation { status closedAt } } } }"""
RATE = """mutation ($id: ID!, $stars: Int!) { rateConversation(id: $id, stars: $stars, comment: "good") { __typename ... on ConversationUpdated { conversation { rating } } ... on SupportError { message code } } }"""
MARK = """mutation ($id: ID!, $seq: Int!, $read: Boolean!) { markChatSeen(conversationId: $id, seq: $seq, read: $read) { __typename ... on ConversationUpdated { conversation { residentReadSeq residentDeliveredSeq staffReadSeq staffDeliveredSeq } } } }"""
FIGURES = """query { supportFigures { districts { label conversations answered closed firstResponseSeconds resolutionSeconds satisfaction } agents { label conversations satisfaction } } }"""
MINE = "query { supportConversations { id status } }"
NOTIFICATIONS = "query { viewer { notifications { kind title link } } }"


async def test_messages_take_the_next_seq_and_a_repeated_client_id_changes_nothing(gql, db):
    # Given a resident
    resident = await login_demo(gql, RESIDENT_XIUSHAN)
    agent = await login_demo(gql, AGENT_NANNING)
    await go_online(agent)
    # When they send two messages and then repeat the first send with the same client id
    first_id = cid()
    first = await send(resident, "楼道的灯坏了", client_id=first_id)
    conversation_id = first["conversation"]["id"]
    second = await send(resident, "还有门也关不上", conversation_id)
    again = await send(resident, "楼道的灯坏了", client_id=first_id)
    # Then the messages carry 1 and 2, and the repeat is the first message, not a third one
    assert first["chatMessage"]["seq"] == 1 and second["chatMessage"]["seq"] == 2
    assert again["chatMessage"]["id"] == first["chatMessage"]["id"]
    data = (await resident(CONVERSATION, {"id": conversation_id, "after": 0}))["data"]["supportConversation"]
    assert [m["seq"] for m in data["messages"]] == [1, 2]
    # And a cursor returns only what came after it
    data = (await resident(CONVERSATION, {"id": conversation_id, "after": 1}))["data"]["supportConversation"]
    assert [m["body"] for m in data["messages"]] == ["还有门也关不上"]


async def test_agent_sees_queue_replies_and_the_resident_is_notified(gql, db):
    # Given a question waiting in the Nanning queue
    resident = await login_demo(gql, RESIDENT_XIUSHAN)
    agent = await login_demo(gql, AGENT_NANNING)
    await go_online(agent)
    asked = await send(resident, "电梯有异响")
    conversation_id = asked["conversation"]["id"]
    queue = (await agent(QUEUE))["data"]["supportQueue"]
    waiting = next(c for c in queue if c["id"] == conversation_id)
    assert waiting["status"] == "waiting" and waiting["resident"]["name"] == "王秀英"
    assert waiting["household"]["address"].startswith("秀山花园")
    # When the agent replies
    reply = await send(agent, "您好，我们马上安排师傅", conversation_id)
    # Then the conversation is theirs, the reply is from staff, and the resident (app closed) gets a notification
    assert reply["chatMessage"]["fromStaff"] is True
    assert reply["conversation"]["status"] == "active" and reply["conversation"]["assignee"]["name"] == "孙婷"
    notes = (await resident(NOTIFICATIONS))["data"]["viewer"]["notifications"]
    assert notes[0]["kind"] == "support_reply" and notes[0]["link"] == "/support"


async def test_read_marks_move_forward_only(gql, db):
    resident = await login_demo(gql, RESIDENT_XIUSHAN)
    agent = await login_demo(gql, AGENT_NANNING)
    await go_online(agent)
    conversation_id = (await send(resident, "你好"))["conversation"]["id"]
    await send(agent, "您好", conversation_id)
    marks = (await resident(MARK, {"id": conversation_id, "seq": 2, "read": True}))["data"]["markChatSeen"][
        "conversation"
    ]
    assert marks["residentReadSeq"] == 2 and marks["residentDeliveredSeq"] == 2
    marks = (await resident(MARK, {"id": conversation_id, "seq": 1, "read": True}))["data"]["markChatSeen"][
        "conversation"
    ]
    assert marks["residentReadSeq"] == 2
    marks = (await agent(MARK, {"id": conversation_id, "seq": 99, "read": False}))["data"]["markChatSeen"][
        "conversation"
    ]
    assert marks["staffDeliveredSeq"] == 2 and marks["staffReadSeq"] == 0


async def test_nobody_online_gets_the_faq_answer_and_when_a_person_replies(gql, db):
    # Given no agent online in Nanning
    resident = await login_demo(gql, RESIDENT_XIUSHAN)
    agent = await login_demo(gql, AGENT_NANNING)
    await go_online(agent, online=False)
    # When the resident asks in plain words about paying the fee
    sent = await send(resident, "我想交物业费，怎么交啊")
    # Then the demo FAQ answers at once and says a person will reply
    replies = sent["serviceReplies"]
    assert replies[0]["kind"] == "system" and "微信" in replies[0]["body"]
    assert replies[-1]["body"].startswith("Nobody is on duty right now.") and ":00" in replies[-1]["body"]
    # And a second question gets the FAQ but not the same notice again
    again = await send(resident, "停水了怎么办", sent["conversation"]["id"])
    assert len(again["serviceReplies"]) == 1 and "公告" in again["serviceReplies"][0]["body"]


async def test_claim_transfer_to_steward_close_rate_and_figures(gql, db):
    resident = await login_demo(gql, RESIDENT_XIUSHAN)
    agent = await login_demo(gql, AGENT_NANNING)
    steward = await login_demo(gql, STEWARD_XIUSHAN)
    await go_online(agent)
    conversation_id = (await send(resident, "想问问垃圾什么时候收"))["conversation"]["id"]
    claimed = (await agent(CLAIM, {"id": conversation_id}))["data"]["claimConversation"]["conversation"]
    assert claimed["assignee"]["name"] == "孙婷"
    targets = (await agent(TARGETS, {"id": conversation_id}))["data"]["supportConversation"][
        "transferTargets"
    ]
    to = next(t for t in targets if t["role"] == "steward")
    moved = (await agent(TRANSFER, {"id": conversation_id, "to": to["id"]}))["data"]["transferConversation"]
    assert moved["conversation"]["assignee"]["name"] == "张建国"
    # The steward it was handed to can now read and answer it
    await send(steward, "明早八点收", conversation_id)
    # A rating before it ends is refused
    early = (await resident(RATE, {"id": conversation_id, "stars": 5}))["data"]["rateConversation"]
    assert early["__typename"] == "SupportError"
    closed = (await steward(CLOSE, {"id": conversation_id}))["data"]["closeConversation"]["conversation"]
    assert closed["status"] == "closed"
    rated = (await resident(RATE, {"id": conversation_id, "stars": 4}))["data"]["rateConversation"]
    assert rated["conversation"]["rating"] == 4
    figures = (await agent(FIGURES))["data"]["supportFigures"]
    nanning = figures["districts"][0]
    assert nanning["conversations"] >= 2 and nanning["closed"] >= 2 and nanning["satisfaction"] is not None
    assert any(a["label"] == "孙婷" for a in figures["agents"])


async def test_the_resident_who_asked_is_offered_nobody_to_hand_it_to(gql, db):
    # Given a resident's conversation, which the district's agent could hand to colleagues
    resident = await login_demo(gql, RESIDENT_XIUSHAN)
    agent = await login_demo(gql, AGENT_NANNING)
    conversation_id = (await send(resident, "想问问垃圾什么时候收"))["conversation"]["id"]
    offered = (await agent(TARGETS, {"id": conversation_id}))["data"]["supportConversation"][
        "transferTargets"
    ]
    assert offered
    # When the resident asks whom it may be handed to
    asked = (await resident(TARGETS, {"id": conversation_id}))["data"]["supportConversation"]
    # Then the service offers them nobody (only the staff side hands a conversation on)
    assert asked["transferTargets"] == []


async def test_strangers_cannot_read_write_or_act_on_a_conversation(gql, db):
    # Given 王秀英's conversation in Nanning
    resident = await login_demo(gql, RESIDENT_XIUSHAN)
    conversation_id = (await send(resident, "私事"))["conversation"]["id"]
    other_resident = await login_demo(gql, RESIDENT_JINGJU)
    other_steward = await login_demo(gql, STEWARD_YUEYANG)
    family = await login_demo(gql, FAMILY_OF_XIUSHAN)
    for stranger in (other_resident, other_steward, family):
        # Then reading it is "Not found."
        result = await stranger(CONVERSATION, {"id": conversation_id, "after": 0}, expect_errors=True)
        assert result["errors"][0]["message"] == "Not found."
        # And writing, marking and closing are refused the same way
        result = await stranger(
            """mutation ($id: ID!) { sendChatMessage(clientId: "x1", body: "hi", conversationId: $id) { __typename } }""",
            {"id": conversation_id},
            expect_errors=True,
        )
        assert result["errors"][0]["message"] == "Not found."
        for document in (MARK, CLOSE):
            variables = {"id": conversation_id, "seq": 1, "read": True}
            result = await stranger(document, variables, expect_errors=True)
            assert result["errors"][0]["message"] == "Not found.", document
        # And their own lists do not show it
        result = await stranger(MINE)
        assert conversation_id not in [c["id"] for c in result["data"]["supportConversations"]]
    # And an agent of another district does not see it in a queue (Yueyang's steward is staff in Tianping)
    queue = (await other_steward(QUEUE))["data"]["supportQueue"]
    assert conversation_id not in [c["id"] for c in queue]


async def test_a_reply_reads_before_it_writes_and_its_update_brings_the_conversation_back(gql, db, app):
    # Given a question waiting for Nanning's agent, and a watch on the statements the app sends
    from sqlalchemy import event

    resident = await login_demo(gql, RESIDENT_XIUSHAN)
    agent = await login_demo(gql, AGENT_NANNING)
    await go_online(agent)
    conversation_id = (await send(resident, "水管漏了"))["conversation"]["id"]
    statements: list[str] = []

    def watch(_conn, _cursor, statement, *_args) -> None:  # noqa: ANN001
        statements.append(" ".join(statement.split()).lower())

    engine = app.state.engine.sync_engine
    event.listen(engine, "before_cursor_execute", watch)
    try:
        # When the agent replies (the resident's app is closed, so the reply is also a notification)
        reply = await send(agent, "师傅十分钟后到", conversation_id)
    finally:
        event.remove(engine, "before_cursor_execute", watch)
    # Then the reply is stored and the conversation it returns is current
    assert reply["chatMessage"]["seq"] == 2 and reply["conversation"]["lastSeq"] == 2
    assert reply["conversation"]["status"] == "active" and reply["conversation"]["assignee"]["name"] == "孙婷"
    # And the resident (for the notification's language) is read before the first write takes the write lock,
    # and the conversation is not read again after the UPDATE that numbers the message
    first_write = next(i for i, s in enumerate(statements) if s.startswith(("update", "insert", "delete")))
    assert any(s.startswith("select") and "from person" in s for s in statements[:first_write]), statements
    numbering = next(i for i, s in enumerate(statements) if s.startswith("update support_conversation"))
    assert "returning" in statements[numbering]
    assert not any(
        s.startswith("select") and "from support_conversation" in s for s in statements[numbering:]
    )
    notes = (await resident(NOTIFICATIONS))["data"]["viewer"]["notifications"]
    assert notes[0]["kind"] == "support_reply"


async def test_numbering_a_message_refreshes_a_conversation_changed_meanwhile(db):
    # Given a conversation this session loaded, then changed behind its back (another request's commit)
    from sqlalchemy import text

    from laoyou.support import service as support
    from laoyou.support.models import Conversation, MessageKind

    conversation = (await db.exec(select_first_conversation())).first()
    before = conversation.last_seq
    await db.exec(
        text("UPDATE support_conversation SET status = 'waiting', last_seq = last_seq + 5 WHERE id = :id"),
        params={"id": conversation.id},
    )
    # When a message is appended
    message = await support.append_message(db, conversation, kind=MessageKind.system, body="note")
    # Then it takes the next seq after the other's, and the loaded conversation shows the row as it is now
    assert message.seq == before + 6 == conversation.last_seq
    assert conversation.status == "waiting"
    assert not db.is_modified(conversation)
    assert isinstance(conversation, Conversation)


def select_first_conversation():  # noqa: ANN201
    from sqlmodel import select

    from laoyou.support.models import Conversation

    return select(Conversation).order_by(Conversation.id).limit(1)


async def test_what_the_service_says_is_shown_in_each_readers_language(gql, db):
    # Given a resident's question, claimed by the agent 孙婷, then hung up on before anyone answered
    resident = await login_demo(gql, RESIDENT_XIUSHAN)
    agent = await login_demo(gql, AGENT_NANNING)
    await go_online(agent)
    conversation_id = (await send(resident, "想问问垃圾什么时候收"))["conversation"]["id"]
    await agent(CLAIM, {"id": conversation_id})
    # When it is read in Chinese, in Traditional Chinese and in English
    bodies = {}
    for language in ("zh-CN", "zh-TW", "en"):
        reader = GraphQLClient(resident.http, resident.token, language)
        data = (await reader(CONVERSATION, {"id": conversation_id, "after": 0}))["data"][
            "supportConversation"
        ]
        bodies[language] = [m["body"] for m in data["messages"] if m["kind"] == "system"][-1]
    # Then each reader sees the note in their own language, and what she typed stays as she typed it
    assert bodies == {
        "zh-CN": "孙婷正在为您解答。",
        "zh-TW": i18n.gettext("%(name)s is answering you now.", "zh_TW", name="孙婷"),
        "en": "孙婷 is answering you now.",
    }
    assert bodies["zh-TW"] != bodies["en"]
    assert [m["body"] for m in data["messages"] if m["kind"] == "text"] == ["想问问垃圾什么时候收"]
