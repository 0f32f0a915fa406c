"""Demo briefings: the last few days at 秀山花园 and 岳阳花苑 (with the attached 京剧院小区), today's included."""

from __future__ import annotations

import secrets
from datetime import UTC, timedelta

import orjson
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from laoyou.accounts.models import Person
from laoyou.briefings.models import Briefing, BriefingAudience, BriefingStatus
from laoyou.core.time import SHANGHAI, start_of_local_day, utcnow
from laoyou.estates.models import Community

DAYS = (
    (
        "今日工作简报：雨后清理",
        "昨夜下雨，今天一早清理了积水和落叶。5号楼楼道灯已修好。",
        [
            ("cleaning", "清扫主干道和各楼门口积水"),
            ("repair", "5号楼2单元楼道灯"),
            ("patrol", "白天巡查3次，夜间2次"),
        ],
    ),
    (
        "工作简报：下水道疏通",
        "3号楼下水道堵了，今天上午已经疏通。请大家不要往下水道倒油。",
        [("repair", "3号楼下水道疏通"), ("cleaning", "垃圾清运两车"), ("patrol", "检查消防通道，清走杂物")],
    ),
    (
        "工作简报：绿化修剪",
        "今天修剪了小区的树木和草地，给1号楼门口补种了花草。",
        [("other", "修剪树木和草地"), ("cleaning", "楼道扫拖"), ("patrol", "巡查电动车充电点")],
    ),
)

COMMUNITIES = (
    ("秀山花园", "+8613800000011", ("秀山花园",)),
    ("岳阳花苑", "+8613800000013", ("岳阳花苑", "京剧院小区")),
)


async def load_briefings_demo(session: AsyncSession) -> None:
    now = utcnow()
    for _, steward_phone, names in COMMUNITIES:
        steward = (await session.exec(select(Person).where(Person.phone == steward_phone))).first()
        communities = list(await session.exec(select(Community).where(col(Community.name).in_(names))))
        if steward is None or not communities:
            continue
        for days_ago, (title, body, items) in reversed(list(enumerate(DAYS))):  # oldest first
            # Published at 17:30 Shanghai time that day (today, before 17:30: a little before now, yet today).
            day = (now - timedelta(days=days_ago)).astimezone(SHANGHAI)
            published = day.replace(hour=17, minute=30, second=0, microsecond=0).astimezone(UTC)
            if published > now:
                published = max(now - timedelta(minutes=5), start_of_local_day(now))
            briefing = Briefing(
                author_id=steward.id,
                title=title,
                body=body,
                items_json=orjson.dumps([{"kind": k, "text": t} for k, t in items]).decode(),
                status=BriefingStatus.published.value,
                published_at=published,
                share_token=secrets.token_urlsafe(24),
                created_at=published,
                updated_at=published,
            )
            session.add(briefing)
            await session.flush()
            for community in communities:
                session.add(
                    BriefingAudience(
                        briefing_id=briefing.id, community_id=community.id, district_id=community.district_id
                    )
                )
    await session.flush()
