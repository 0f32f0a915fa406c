"""What the service itself says in a chat (the FAQ bot, "孙婷正在为您解答", a missed call) is shown in the reader's
language with who said it, on the resident's chat and on the agent's console."""

from __future__ import annotations

import re

from ..conftest import AGENT_NANNING, RESIDENT_XIUSHAN, GraphQLClient, login_demo
from .helpers import go_online, send
from .test_pages import page_login

CLAIM = "mutation ($id: ID!) { claimConversation(id: $id) { __typename } }"
MESSAGES = """
query ($id: ID!) { supportConversation(id: $id) { messages(afterSeq: 0) { kind body senderLabel } } }
"""


def who_lines(html: str) -> list[str]:
    """Each message's 'who · when' line, without the time."""
    return [
        re.sub(r"\s+", " ", who).split(" · <time")[0].strip()
        for who in re.findall(r'<p class="who">(.*?)</p>', html, re.S)
    ]


async def test_the_bot_and_the_service_notes_say_who_they_are_from_in_each_readers_language(gql, client, db):
    # Given nobody on duty: 王秀英 asks how to pay and the FAQ bot answers, with a note on when a person will reply
    resident = await login_demo(gql, RESIDENT_XIUSHAN)
    agent = await login_demo(gql, AGENT_NANNING)
    await go_online(agent, online=False)
    conversation_id = (await send(resident, "我想交物业费，怎么交啊"))["conversation"]["id"]
    # And then the agent 孙婷 takes the conversation
    await agent(CLAIM, {"id": conversation_id})
    # When it is read in Chinese and in English
    read = {}
    for language in ("zh-CN", "en"):
        reader = GraphQLClient(resident.http, resident.token, language)
        read[language] = (await reader(MESSAGES, {"id": conversation_id}))["data"]["supportConversation"][
            "messages"
        ]
    # Then what the service said comes from 老友管家 · 系统 (Laoyou · system), in the reader's language
    system = {language: [m for m in messages if m["kind"] == "system"] for language, messages in read.items()}
    assert {m["senderLabel"] for m in system["zh-CN"]} == {"老友管家 · 系统"}
    assert {m["senderLabel"] for m in system["en"]} == {"Laoyou · system"}
    assert system["zh-CN"][0]["body"].startswith("常见问题：") and "微信" in system["zh-CN"][0]["body"]
    assert system["en"][0]["body"].startswith("Common answer: ") and "微信" in system["en"][0]["body"]
    assert system["zh-CN"][-1]["body"] == "孙婷正在为您解答。"
    assert system["en"][-1]["body"] == "孙婷 is answering you now."
    # And what she typed is hers
    assert [m["senderLabel"] for m in read["en"] if m["kind"] == "text"] == ["王秀英"]

    # When she opens her chat page in English
    client.headers["Accept-Language"] = "en"
    await page_login(client, RESIDENT_XIUSHAN)
    chat = (await client.get("/support")).text
    # Then each message names who said it
    assert who_lines(chat)[-4:] == ["王秀英", "Laoyou · system", "Laoyou · system", "Laoyou · system"]
    assert "孙婷 is answering you now." in chat
    # And the agent's console shows the same senders for the same messages
    await page_login(client, AGENT_NANNING)
    console = (await client.get(f"/staff/support/{conversation_id}")).text
    assert who_lines(console)[-4:] == ["王秀英", "Laoyou · system", "Laoyou · system", "Laoyou · system"]
