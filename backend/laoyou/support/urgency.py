"""Does a chat message look like an emergency? A readable rule set, no model.

A message is an emergency when it names a danger happening now: fire or smoke, a gas smell, a fall, not being
able to breathe, chest pain, someone unconscious, someone trapped (in a lift), water pouring in. Everyday
matters (a leaking pipe, a broken lift, noise, bills, parcels) name none of these. A sign does not count when
its own clause cancels it just before: a negation ("没有着火", "not on fire"), a what-if ("万一着火"), the past
("去年着火"). Some phrases that merely contain a sign are masked first ("火灾隐患", "fire drill").

What follows from a match is decided by the service: the conversation is marked urgent and the agent on duty
is paged. An SOS is only ever raised by the resident's own SOS button.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum


class Danger(StrEnum):
    fire = "fire"
    gas = "gas"
    medical = "medical"
    trapped = "trapped"
    flood = "flood"
    help = "help"  # a plain cry for help


@dataclass(frozen=True)
class Emergency:
    danger: Danger
    words: str  # what was matched, shown to the agent


def _any(*phrases: str) -> str:
    return "|".join(phrases)


# Chinese: the phrases that name a danger now. A bare "漏水" (a leak) or "电梯坏了" (a broken lift) is not here.
CHINESE: tuple[tuple[Danger, re.Pattern[str]], ...] = (
    (
        Danger.fire,
        re.compile(
            _any(
                "着火",
                "起火",
                "失火",
                "火灾",
                "火警",
                "烧起来",
                "烧着了",
                "冒烟",
                "冒黑烟",
                "浓烟",
                "烟很大",
                "好大的烟",
                "全是烟",
                "(烟|火)越来越大",
                "冒火花",
            )
        ),
    ),
    (
        Danger.gas,
        re.compile(
            _any(
                "(煤气|燃气|天然气|液化气)的?(味|泄漏|泄露|漏了|漏气|在漏)",
                "(闻到|有股|一股)[^，。！？]{0,3}(煤气|燃气|天然气|液化气)",
                "(煤气|燃气|天然气)报警器.{0,4}响",
            )
        ),
    ),
    (
        Danger.medical,
        re.compile(
            _any(
                "摔倒",
                "跌倒",
                "滑倒",
                "摔了一跤",
                "摔伤",
                "(摔|倒|躺)在地上",
                "站不起来",
                "爬不起来",
                "喘不过气",
                "喘不上气",
                "透不过气",
                "上不来气",
                "呼吸困难",
                "不能呼吸",
                "没有呼吸",
                "没呼吸了",
                "胸口(疼|痛|闷)",
                "胸痛",
                "心口(疼|痛)",
                "心脏病(犯|发作)",
                "心梗",
                "心肌梗",
                "昏迷",
                "晕倒",
                "昏倒",
                "晕过去",
                "昏过去",
                "不省人事",
                "叫不醒",
                "失去意识",
                "没有意识",
                "无法(呼吸|站立|起身)",
                "大出血",
                "血流不止",
                "血止不住",
                "流了很多血",
                "抽搐",
                "触电",
                "噎住",
                "中风了",
                "快不行了",
            )
        ),
    ),
    (
        Danger.trapped,
        re.compile(
            _any("被困", "困在", "关在电梯", "电梯里出不来", "电梯困人", "卡在电梯", "电梯.{0,4}(困|关)住")
        ),
    ),
    (
        Danger.flood,
        re.compile(
            _any(
                "水漫",
                "漫进来",
                "灌进来",
                "涌进来",
                "往里涌",
                "被淹",
                "淹了",
                "水淹",
                "淹水",
                "爆管",
                "水管爆",
                "到处都是水",
                "满屋子都是水",
            )
        ),
    ),
    (Danger.help, re.compile(_any("救命", "救救我", "快来人", "求救"))),
)

# Phrases that contain a sign's words without naming a danger now.
CHINESE_MASKS = re.compile(
    _any(
        "火灾隐患",
        "火灾险",
        "防火",
        "火警电话",
        "消防演习",
        "消防演练",
        "火灾演练",
        "油烟",
        "困扰",
        "困在外面",
        "被困在门外",
    )
)
# Words before a sign, in its clause, that cancel it: a negation, a what-if, the past.
CHINESE_CANCELS = re.compile(
    _any(
        "没",
        "不",
        "无",
        "未",
        "并非",
        "如果",
        "万一",
        "要是",
        "假如",
        "假设",
        "以防",
        "防止",
        "预防",
        "去年",
        "前年",
        "上次",
        "以前",
        "之前",
        "上个月",
        "曾经",
    )
)
# ...except where those words mean something else ("不小心" is "by accident", "不好了" is "oh no").
CHINESE_NOT_CANCELS = re.compile(
    _any(
        "不小心",
        "不知道",
        "不知怎么",
        "不好了",
        "不得了",
        "不停",
        "不舒服",
        "一动不动",
        "没想到",
        "是不是",
        "无缘无故",
        "无法",
    )
)


def _words(*patterns: str) -> re.Pattern[str]:
    """English patterns, each a whole word or phrase, any case."""
    return re.compile("|".join(rf"\b(?:{p})\b" for p in patterns), re.IGNORECASE)


PERSON = r"i|he|she|mum|mom|dad|mother|father|husband|wife|grandma|grandpa"
ENGLISH: tuple[tuple[Danger, re.Pattern[str]], ...] = (
    (Danger.fire, _words("on fire", "fire", "flames?", "burning", "smoke")),
    (Danger.gas, _words("gas (leak|smell)", "smell(s|ing)? (of )?gas", "gas is leaking", "leaking gas")),
    (
        Danger.medical,
        _words(
            "(fell|fallen|fall) (down|over)",
            "had a fall",
            rf"({PERSON}) (has |have |just )?(fell|fallen)(?! asleep)",
            "(can'?t|cannot|can not|unable to) (get up|stand up|breathe)",
            "(not|isn'?t|stopped) breathing",
            "chest pains?",
            "heart attack",
            "stroke(?! of)",
            "unconscious",
            "collapsed",
            "passed out",
            "fainted",
            "bleeding (badly|heavily|a lot)",
            "choking",
            "electric shock",
        ),
    ),
    (Danger.trapped, _words("(trapped|stuck) in (the |a )?(lift|elevator)", "trapped")),
    (
        Danger.flood,
        _words(
            "flood(ed|ing)?", "water (is )?(pouring|gushing|everywhere)", "burst pipe", "pipe (has )?burst"
        ),
    ),
    (Danger.help, re.compile(r"\bhelp!|\bsave me\b|\bemergency\b", re.IGNORECASE)),
)
ENGLISH_MASKS = _words(
    "fire (drill|alarm test|extinguishers?|safety|doors?|exits?|escape|hazard)",
    "smoke (detectors?|alarm battery)",
    "emergency (exits?|lights?|numbers?)",
)
ENGLISH_CANCELS = re.compile(
    r"\b(no|not|never|without|if|whether|nothing|nobody|in case|last (year|month|week))\b"
    r"|n't\b",
    re.IGNORECASE,
)
ENGLISH_NOT_CANCELS = _words("don'?t know (why|how)")

CLAUSE_END = re.compile(r"[，。！？；、,.!?;\n…]")


def _chinese_lead(clause: str) -> str:
    return clause[-6:]  # the six characters before a sign


def _english_lead(clause: str) -> str:
    return " ".join(clause.split()[-4:])  # the four words before a sign


def _cancelled(
    before: str, cancels: re.Pattern[str], not_cancels: re.Pattern[str], lead: Callable[[str], str]
) -> bool:
    """Whether the words just before a sign, in its clause, cancel it."""
    clause = not_cancels.sub("", CLAUSE_END.split(before)[-1])
    return bool(cancels.search(lead(clause)))


def _mask(text: str, masks: re.Pattern[str]) -> str:
    # Masked with a clause end, so a masked phrase neither matches nor reads as a cancelling word.
    return masks.sub(lambda m: "。" * len(m.group(0)), text)


def emergency_in(text: str) -> Emergency | None:
    """The first danger a message names and does not cancel; None for everyday matters."""
    if not text:
        return None
    for rules, masks, cancels, not_cancels, lead in (
        (CHINESE, CHINESE_MASKS, CHINESE_CANCELS, CHINESE_NOT_CANCELS, _chinese_lead),
        (ENGLISH, ENGLISH_MASKS, ENGLISH_CANCELS, ENGLISH_NOT_CANCELS, _english_lead),
    ):
        masked = _mask(text, masks)
        for danger, pattern in rules:
            for match in pattern.finditer(masked):
                if not _cancelled(masked[: match.start()], cancels, not_cancels, lead):
                    return Emergency(danger, match.group(0))
    return None
