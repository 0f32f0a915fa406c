"""Words in a chat never raise an SOS nor alarm the family. Everyday matters (a leaking pipe, a broken lift,
noise, bills, parcels) raise nothing at all; a true emergency marks the conversation urgent, reaches the agent
on duty within a second, and the bot offers a one-tap SOS and calls instead of saying help is on its way."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator

import pytest
from gql import gql as parse_subscription
from sqlmodel import col, func, select

from laoyou.accounts.models import Notification, Person
from laoyou.support import urgency
from laoyou.support.models import Conversation, SosAlert

from ..conftest import (
    AGENT_NANNING,
    FAMILY_OF_XIUSHAN,
    RESIDENT_XIUSHAN,
    STEWARD_XIUSHAN,
    GraphQLClient,
    login_demo,
    make_database_url,
)
from .helpers import cid, go_online, send
from .servers import AppProcess
from .test_live import client
from .test_pages import hidden, page_login

LEAKING_PIPE = "你好，我家厨房水管漏水，什么时候能来修？"

EVERYDAY = (
    # leaks
    LEAKING_PIPE,
    "卫生间天花板漏水，是楼上渗下来的",
    "阳台的下水管有点渗水",
    "水龙头一直滴水，关不紧",
    "暖气片漏水了，地上湿了一小块",
    "马桶水箱漏水，请派个师傅",
    "楼上漏水把我家墙泡了，想请物业协调一下",
    "下雨天窗户漏雨",
    "热水器漏水，能来看看吗",
    "楼上空调滴水到我家窗台上",
    "The kitchen tap is leaking, can someone fix it?",
    # bills
    "我想交物业费，怎么交啊",
    "这个月水费怎么这么多",
    "燃气费在哪里交？",
    "电费账单看不懂",
    "物业费能开发票吗",
    "我已经交过钱了，为什么还显示欠费",
    "停车费一个月多少钱",
    "天然气开户怎么办理",
    "燃气表在哪里看读数",
    "How do I pay the gas bill?",
    # noise
    "楼上每天晚上很吵，能不能管一管",
    "隔壁装修太吵了，中午也不停",
    "广场舞音乐太响了",
    "晚上楼下有人大声唱歌",
    "空调外机噪音很大",
    "我被困扰很久了，楼上的噪音太大",
    "The neighbours are very noisy at night.",
    # lifts
    "电梯坏了，什么时候修好",
    "电梯有异响",
    "电梯按钮没反应",
    "3号楼电梯又停了，老人上楼很难",
    "电梯门关不上",
    "电梯什么时候年检",
    "The lift is broken again.",
    # parcels
    "我的快递放哪里了",
    "快递柜打不开",
    "有个包裹放在门卫那，能帮我送上来吗",
    "快递员把我的包裹弄丢了",
    "Where is my parcel?",
    # greetings and thanks
    "你好",
    "在吗",
    "早上好",
    "谢谢你们，师傅修得很好",
    "辛苦了，谢谢",
    "好的，知道了",
    "老伴身体挺好的，谢谢关心",
    "Thank you very much!",
    # complaints
    "楼道堆了很多杂物，有火灾隐患",
    "有人在楼道里抽烟，烟味很大",
    "楼下饭店的油烟很大",
    "垃圾好几天没人收了",
    "小区门口的路灯坏了",
    "保安态度不好",
    "楼下的狗总是乱叫",
    "消防通道被车堵住了，万一着火怎么办",
    "电线老化了，会不会起火？",
    "物业服务太差了，我要投诉",
    "小区的车出不去，门口被堵了",
    "The emergency exit in building 3 is blocked by bikes.",
    # words that look like danger and are not: negated, hypothetical, past, or another sense
    "煤气灶打不着火，能来看看吗",
    "我想吃火锅，附近有推荐吗",
    "今天小区搞消防演习吗",
    "灭火器过期了要换吗",
    "没有着火，就是插座有点发烫，想找电工看看",
    "去年楼下着火了，现在墙还是黑的，能刷一下吗",
    "我不小心把手机摔了，屏幕碎了",
    "我妈上次摔倒以后，想申请在卫生间装扶手",
    "我闻了一下，没有煤气味，放心了",
    "It's not an emergency, but the hallway light is out.",
    "Is there a fire drill today?",
    "There is no smoke, the smoke detector just beeps.",
    # other everyday matters
    "暖气不热",
    "停水了怎么办",
    "门禁卡丢了，怎么补办",
    "能不能派人来通一下下水道",
    "窗户关不严，漏风",
)

EMERGENCIES = (
    "厨房着火了！",
    "楼道里冒烟了，好大的烟",
    "家里有很浓的煤气味",
    "我闻到燃气味了，好难闻",
    "是不是煤气泄漏了，味道很大",
    "天然气报警器一直在响",
    "我老伴摔倒了，起不来",
    "我妈在卫生间滑倒了",
    "我不小心摔倒了，腿动不了",
    "我奶奶倒在地上动不了",
    "我喘不过气来",
    "我呼吸困难",
    "老伴胸口疼得厉害",
    "老伴心脏病犯了",
    "我爸晕倒了，叫不醒",
    "我老伴突然昏迷了",
    "有人触电了",
    "我被困在电梯里了",
    "电梯困人了，在3号楼",
    "水管爆了，水哗哗地往家里灌进来",
    "楼上的水漫进来了",
    "隔壁起火了，快来人",
    "电动车在楼道里烧起来了",
    "救命！",
    "There is a fire in my kitchen!",
    "I smell gas in the flat.",
    "My husband fell and can't get up.",
    "I can't breathe.",
    "I'm stuck in the lift.",
)

STEWARD_PHONE = STEWARD_XIUSHAN  # 张建国, on duty for 秀山花园
ALARMS = ("sos", "sos_family")  # what only the SOS button may send
PAGE = "support_urgent"  # what an emergency in the chat sends to the agents
SEND_PLAIN = """mutation ($c: String!, $b: String!) { sendChatMessage(clientId: $c, body: $b) {
  ... on ChatMessageSent { conversation { urgent } serviceReplies { kind body } } } }"""
MESSAGES = """query ($id: ID!) { supportConversation(id: $id) { latestMessages(last: 5) {
  kind body actions { kind label phone href } } } }"""


# --- the rule set ------------------------------------------------------------------------------------------


def test_the_corpus_is_as_large_as_promised_without_repeats():
    assert len(set(EVERYDAY)) == len(EVERYDAY) >= 60 and len(set(EMERGENCIES)) == len(EMERGENCIES) >= 20
    assert not set(EVERYDAY) & set(EMERGENCIES)


def test_everyday_messages_name_no_emergency():
    assert [(text, found) for text in EVERYDAY if (found := urgency.emergency_in(text))] == []


def test_true_emergencies_are_recognised_with_their_danger():
    assert [text for text in EMERGENCIES if urgency.emergency_in(text) is None] == []
    assert urgency.emergency_in("厨房着火了！").danger is urgency.Danger.fire
    assert urgency.emergency_in("我闻到燃气味了").danger is urgency.Danger.gas
    assert urgency.emergency_in("我老伴摔倒了，起不来").danger is urgency.Danger.medical
    assert urgency.emergency_in("I'm stuck in the lift.").danger is urgency.Danger.trapped


def test_a_cancelling_word_counts_only_in_the_signs_own_clause():
    assert urgency.emergency_in("没有着火") is None
    assert urgency.emergency_in("没有人管，厨房着火了") is not None  # "没有" is in the clause before
    assert urgency.emergency_in("The house is not on fire.") is None
    assert urgency.emergency_in("No idea why, but there is smoke everywhere") is not None


# --- through GraphQL and the pages (in process, both backends) -----------------------------------------------


_FAMILY = Person.phone == f"+86{FAMILY_OF_XIUSHAN}"


@pytest.fixture
async def family_seen(db) -> int:  # noqa: ANN001
    """The last notification 王秀英's son had before the test (the demo sends him some: a vote opened, a
    disclosure published): only what comes after counts."""
    last = (
        await db.exec(
            select(func.max(Notification.id)).join(Person, Person.id == Notification.person_id).where(_FAMILY)
        )
    ).one()
    return last or 0


async def _alarms_and_pages(db, family_seen: int) -> dict[str, int]:  # noqa: ANN001
    """SOS rows, SOS notices and agents' pages, and every notification 王秀英's son got since family_seen."""
    counts = {
        kind: n
        for kind, n in await db.exec(
            select(Notification.kind, func.count())
            .where(col(Notification.kind).in_([*ALARMS, PAGE]))
            .group_by(Notification.kind)
        )
    }
    counts["sos_alerts"] = (await db.exec(select(func.count()).select_from(SosAlert))).one()
    counts["to_family"] = (
        await db.exec(
            select(func.count())
            .select_from(Notification)
            .join(Person, Person.id == Notification.person_id)
            .where(_FAMILY, Notification.id > family_seen)
        )
    ).one()
    return {key: counts.get(key, 0) for key in (*ALARMS, PAGE, "sos_alerts", "to_family")}


NOTHING = {"sos": 0, "sos_family": 0, PAGE: 0, "sos_alerts": 0, "to_family": 0}


async def test_the_leaking_pipe_through_graphql_raises_nothing(gql, db, family_seen):
    # Given 王秀英, her son following her home, and the agent on duty
    resident = await login_demo(gql, RESIDENT_XIUSHAN)
    await login_demo(gql, FAMILY_OF_XIUSHAN)
    await login_demo(gql, AGENT_NANNING)
    # When she asks about her leaking kitchen pipe
    sent = (await resident(SEND_PLAIN, {"c": cid(), "b": LEAKING_PIPE}))["data"]["sendChatMessage"]
    # Then it is an everyday question: not urgent, no emergency reply, no SOS, nobody alarmed or paged
    assert sent["conversation"]["urgent"] is False
    assert [
        reply for reply in sent["serviceReplies"] if reply["kind"] == "emergency" or "119" in reply["body"]
    ] == []
    assert await _alarms_and_pages(db, family_seen) == NOTHING


async def test_the_leaking_pipe_on_the_support_page_raises_nothing(client, db, family_seen):
    # Given 王秀英 on the chat page
    token = await page_login(client, RESIDENT_XIUSHAN)
    page = await client.get("/support")
    form = {
        "csrf_token": token,
        "client_id": hidden(page.text, "client_id"),
        "household_id": hidden(page.text, "household_id"),
        "body": LEAKING_PIPE,
    }
    # When she posts the leaking-pipe question
    assert (await client.post("/support/send", data=form)).status_code == 303
    page = await client.get("/support")
    # Then the page shows her question and no emergency reply, and nothing was raised
    assert LEAKING_PIPE in page.text
    assert "data-chat-actions" not in page.text and "马上过来" not in page.text
    conversation = (await db.exec(select(Conversation).order_by(col(Conversation.id).desc()))).first()
    assert conversation.urgent is False
    assert await _alarms_and_pages(db, family_seen) == NOTHING


async def test_everyday_messages_raise_nothing(gql, db, family_seen):
    # Given the agent on duty and the family following 王秀英's home
    resident = await login_demo(gql, RESIDENT_XIUSHAN)
    await login_demo(gql, FAMILY_OF_XIUSHAN)
    await login_demo(gql, AGENT_NANNING)
    conversation_id = None
    for text in EVERYDAY:
        # When she writes each everyday message
        sent = await send(resident, text, conversation_id)
        conversation_id = sent["conversation"]["id"]
        # Then the conversation stays ordinary and the service offers no emergency help
        assert sent["conversation"]["urgent"] is False, text
        assert all(reply["kind"] != "emergency" for reply in sent["serviceReplies"]), text
    # And no SOS was raised, the family was not told, and no agent was paged
    assert await _alarms_and_pages(db, family_seen) == NOTHING


async def test_an_emergency_is_urgent_for_the_agent_and_offers_sos_and_calls_but_raises_no_sos(
    gql, db, family_seen
):
    # Given 王秀英, her son, and the agent 孙婷
    resident = await login_demo(gql, RESIDENT_XIUSHAN)
    await login_demo(gql, FAMILY_OF_XIUSHAN)
    agent = await login_demo(gql, AGENT_NANNING)
    # When she writes that her kitchen is on fire
    sent = await send(resident, "厨房着火了！")
    # Then the conversation is urgent and the agent is paged, with the address and her words
    assert sent["conversation"]["urgent"] is True
    pages = (await agent("query { viewer { notifications(first: 5) { kind title body link } } }"))["data"][
        "viewer"
    ]["notifications"]
    page = next(n for n in pages if n["kind"] == PAGE)
    assert page["link"] == f"/staff/support/{sent['conversation']['id']}"
    assert "秀山花园" in page["body"] and "厨房着火了" in page["body"] and "王秀英" in page["title"]
    # And the bot does not say help is coming: it offers a one-tap SOS, her steward's phone, 119 and 120
    reply = next(r for r in sent["serviceReplies"] if r["kind"] == "emergency")
    assert "119" in reply["body"] and "120" in reply["body"]
    assert [(a["kind"], a["href"]) for a in reply["actions"]] == [
        ("SOS", "/support/sos"),
        ("CALL", f"tel:{STEWARD_PHONE}"),
        ("CALL", "tel:119"),
        ("CALL", "tel:120"),
    ]
    # And no SOS was raised and the family was not alarmed
    assert await _alarms_and_pages(db, family_seen) == {**NOTHING, PAGE: 1}
    # And a second urgent message in the same conversation gets the offer again but pages nobody twice
    again = await send(resident, "烟越来越大了", sent["conversation"]["id"])
    assert [r["kind"] for r in again["serviceReplies"]] == ["emergency"]
    assert await _alarms_and_pages(db, family_seen) == {**NOTHING, PAGE: 1}


async def test_an_emergency_pages_the_districts_agents_even_when_none_is_on_shift(gql, db):
    # Given no agent on shift in Nanning (the night, or everyone offline)
    agent = await login_demo(gql, AGENT_NANNING)
    await go_online(agent, online=False)
    resident = await login_demo(gql, RESIDENT_XIUSHAN)
    # When 王秀英 writes that she cannot breathe
    sent = await send(resident, "我喘不过气来")
    # Then the district's agent is paged all the same, and the reply is the emergency offer, not "wait till 8"
    assert [r["kind"] for r in sent["serviceReplies"]] == ["emergency"]
    pages = (await agent("query { viewer { notifications(first: 5) { kind } } }"))["data"]["viewer"][
        "notifications"
    ]
    assert [n["kind"] for n in pages].count(PAGE) == 1


@pytest.mark.parametrize(
    ("language", "sos", "steward", "fire"),
    [
        ("zh-CN", "SOS：通知我的管家和家人", "给管家张建国打电话", "打119（火警）"),
        ("zh-TW", "SOS：通知我的管家和家人", "打電話給管家张建国", "打119（火警）"),
        ("en", "SOS: alert my steward and family", "Call steward 张建国", "Call 119 (fire)"),
    ],
)
async def test_the_offered_actions_are_in_the_readers_language(gql, db, language, sos, steward, fire):
    resident = await login_demo(gql, RESIDENT_XIUSHAN)
    conversation_id = (await send(resident, "我闻到燃气味了"))["conversation"]["id"]
    reader = GraphQLClient(resident.http, resident.token, language)
    messages = (await reader(MESSAGES, {"id": conversation_id}))["data"]["supportConversation"][
        "latestMessages"
    ]
    labels = [a["label"] for a in messages[-1]["actions"]]
    assert labels[:3] == [sos, steward, fire]


async def test_the_support_page_offers_one_tap_sos_and_calls_and_only_the_tap_raises_it(
    client, db, family_seen
):
    # Given 王秀英 on the chat page
    token = await page_login(client, RESIDENT_XIUSHAN)
    page = await client.get("/support")
    form = {
        "csrf_token": token,
        "client_id": hidden(page.text, "client_id"),
        "household_id": hidden(page.text, "household_id"),
        "body": "我老伴摔倒了，起不来",
    }
    # When she writes that her husband fell
    assert (await client.post("/support/send", data=form)).status_code == 303
    page = await client.get("/support")
    # Then the reply offers a one-tap SOS and calls, in plain words, and raises nothing by itself
    actions = page.text[page.text.index("data-chat-actions") :]
    actions = actions[: actions.index("</div>")]
    assert 'action="/support/sos"' in actions and "SOS：通知我的管家和家人" in actions
    assert (
        f'href="tel:{STEWARD_PHONE}"' in actions
        and 'href="tel:119"' in actions
        and 'href="tel:120"' in actions
    )
    assert "马上过来" not in page.text
    assert await _alarms_and_pages(db, family_seen) == {**NOTHING, PAGE: 1}
    # And when she taps SOS, that (and only that) raises it and tells her family
    sos = {
        name: re.search(rf'name="{name}" value="([^"]*)"', actions).group(1)
        for name in ("csrf_token", "household_id", "client_id")
    }
    raised = await client.post("/support/sos", data=sos)
    assert raised.status_code == 303 and raised.headers["location"].startswith("/support/sos/")
    counts = await _alarms_and_pages(db, family_seen)
    assert counts["sos_alerts"] == 1 and counts["sos_family"] == 1 and counts["to_family"] == 1


# --- live: the agent on duty hears each emergency within a second (a real server, both backends) -------------


QUEUE_LIVE = parse_subscription("subscription { supportQueue { id urgent } }")
SEND = """mutation ($c: String!, $b: String!) { sendChatMessage(clientId: $c, body: $b) {
  ... on ChatMessageSent { conversation { id urgent } serviceReplies { kind } } } }"""
CLOSE = """mutation ($id: ID!) { closeConversation(id: $id) { __typename } }"""
NOTIFICATIONS = "query { viewer { notifications(first: 50) { kind link } } }"
SOS_ALERTS = "query { sosAlerts { id } }"


@pytest.fixture(scope="module")
def server(
    backend: str, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[AppProcess]:
    tmp = tmp_path_factory.mktemp(f"urgency-{backend}")
    # On PostgreSQL the events travel as they do between production workers: LISTEN/NOTIFY.
    env = {"LAOYOU_PUBSUB": "postgres"} if backend == "postgres" else {}
    app = AppProcess(tmp, make_database_url(backend, tmp, request), **env).wait_ready()
    yield app
    app.stop()


async def test_every_emergency_reaches_the_agent_on_duty_as_urgent_within_a_second(server):
    # Given the agent on duty watching her queue live, 王秀英, her son and her steward
    resident, agent, family, steward = [
        await asyncio.to_thread(server.login, phone)
        for phone in (RESIDENT_XIUSHAN, AGENT_NANNING, FAMILY_OF_XIUSHAN, STEWARD_XIUSHAN)
    ]
    alerts_before = (await asyncio.to_thread(server.graphql, steward, SOS_ALERTS))["sosAlerts"]
    told_before = (await asyncio.to_thread(server.graphql, family, NOTIFICATIONS))["viewer"]["notifications"]
    async with client(server, agent) as session:
        queue = session.subscribe(QUEUE_LIVE)
        await asyncio.wait_for(anext(queue), timeout=30)  # the queue as it is now
        for text in EMERGENCIES:
            # When she writes an emergency (each in a conversation of its own)
            sent = (await asyncio.to_thread(server.graphql, resident, SEND, {"c": cid(), "b": text}))[
                "sendChatMessage"
            ]
            conversation_id = sent["conversation"]["id"]
            assert sent["conversation"]["urgent"] is True and sent["serviceReplies"] == [
                {"kind": "emergency"}
            ], text
            # Then the agent's live queue shows it as urgent within a second
            async with asyncio.timeout(1):
                while not any(
                    c["id"] == conversation_id and c["urgent"] for c in (await anext(queue))["supportQueue"]
                ):
                    pass
            await asyncio.to_thread(server.graphql, resident, CLOSE, {"id": conversation_id})
    # And each one paged the agent, while no SOS was raised and the family heard nothing
    pages = (await asyncio.to_thread(server.graphql, agent, NOTIFICATIONS))["viewer"]["notifications"]
    assert len([n for n in pages if n["kind"] == PAGE]) == len(EMERGENCIES)
    assert (await asyncio.to_thread(server.graphql, steward, SOS_ALERTS))["sosAlerts"] == alerts_before
    told = (await asyncio.to_thread(server.graphql, family, NOTIFICATIONS))["viewer"]["notifications"]
    assert told == told_before
