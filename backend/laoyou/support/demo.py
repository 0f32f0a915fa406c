"""Demo customer service: 孙婷's hours, a FAQ for every district, and a past conversation of 王秀英."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from laoyou.accounts.models import Person, Role, RoleGrant
from laoyou.core.time import utcnow
from laoyou.estates.models import District
from laoyou.support.models import (
    AgentStatus,
    Conversation,
    ConversationStatus,
    FaqEntry,
    Message,
    MessageKind,
)

FAQ = (
    (
        "怎么交物业费？",
        "在首页点“交费”，可以用微信、支付宝或银行卡交；也可以到小区服务站交现金。",
        "物业费 交费 缴费 付钱",
    ),
    (
        "家里东西坏了，怎么报修？",
        "在首页点“报修”，说一句话或拍张照片就行，管家会安排师傅上门。",
        "报修 维修 坏了 修理",
    ),
    (
        "停水停电了怎么办？",
        "先看看小区公告。没有公告的话，请打首页上管家的电话，我们马上去查。",
        "停水 停电 没水 没电",
    ),
    ("小区里可以停车吗？", "小区车位有限，请到服务站登记车牌，按先来后到安排。", "停车 车位 车牌"),
)

PAST_CONVERSATION = (
    (False, "你好，我家楼道的灯不亮了，晚上下楼看不见。"),
    (True, "王阿姨您好，我是客服孙婷。您住在几栋几单元？我马上让师傅去换灯泡。"),
    (False, "1栋101，谢谢你啊。"),
    (True, "好的，师傅今天下午去换。换好了我再告诉您。"),
    (True, "王阿姨，楼道灯已经换好了。还有别的事随时找我们。"),
)


async def load_support_demo(session: AsyncSession) -> None:
    people = {p.phone: p for p in await session.exec(select(Person))}
    agent = people.get("+8613800000031")
    resident = people.get("+8613800000001")
    grants = {(g.person_id, g.role): g for g in await session.exec(select(RoleGrant))}
    if agent is not None:
        grant = grants[(agent.id, Role.agent.value)]
        session.add(
            AgentStatus(
                person_id=agent.id,
                district_id=grant.district_id,
                online=True,
                hours_start=8 * 60,
                hours_end=22 * 60,
            )
        )
    for district in await session.exec(select(District).order_by(District.id)):
        for question, answer, keywords in FAQ:
            session.add(
                FaqEntry(
                    district_id=district.id,
                    question=question,
                    answer=answer,
                    keywords=keywords,
                    updated_by_id=agent.id if agent else None,
                )
            )
    if agent is None or resident is None:
        await session.flush()
        return
    home = grants[(resident.id, Role.resident.value)]
    started = utcnow() - timedelta(days=3, hours=2)
    conversation = Conversation(
        community_id=home.community_id,
        district_id=home.district_id,
        household_id=home.household_id,
        resident_id=resident.id,
        status=ConversationStatus.closed.value,
        assignee_id=agent.id,
        last_seq=len(PAST_CONVERSATION),
        resident_delivered_seq=len(PAST_CONVERSATION),
        resident_read_seq=len(PAST_CONVERSATION),
        staff_delivered_seq=len(PAST_CONVERSATION),
        staff_read_seq=len(PAST_CONVERSATION),
        created_at=started,
        last_message_at=started + timedelta(hours=5),
        first_response_at=started + timedelta(minutes=2),
        first_responder_id=agent.id,
        closed_at=started + timedelta(hours=5),
        rating=5,
        rating_comment="孙婷很耐心",
    )
    session.add(conversation)
    await session.flush()
    minutes = (0, 2, 4, 6, 300)
    for seq, ((from_staff, body), after) in enumerate(zip(PAST_CONVERSATION, minutes, strict=True), start=1):
        session.add(
            Message(
                conversation_id=conversation.id,
                community_id=conversation.community_id,
                district_id=conversation.district_id,
                seq=seq,
                sender_id=agent.id if from_staff else resident.id,
                from_staff=from_staff,
                kind=MessageKind.text.value,
                body=body,
                created_at=started + timedelta(minutes=after),
            )
        )
    await session.flush()
