"""The assessment of a district and its communities by month (Shanghai months), and the quarterly satisfaction
survey. Figures are read through billing's, tickets' and support's services, which scope them again."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from laoyou.accounts.actor import Actor
from laoyou.billing import service as billing
from laoyou.care.ledger import service as care
from laoyou.core.errors import ErrorCode, LaoyouError, NotFound, PermissionDenied
from laoyou.core.time import day_start, local_date, utcnow
from laoyou.estates import service as estates
from laoyou.estates.models import Community, District
from laoyou.governance.assessment.models import SATISFIED, SCORES, SurveyAnswer
from laoyou.support import service as support
from laoyou.tickets import service as tickets
from laoyou.tickets.models import Kind, Status

ASSESSMENT_ROLES = tickets.BOARD_ROLES  # who sees the district board's figures sees its assessment
MAX_MONTHS = 24
RESOLVED = frozenset({Status.done.value, Status.confirmed.value, Status.closed.value})


def permille(part: int, whole: int) -> int | None:
    """None when there is nothing to divide: a month with no data is "—", never 0 %."""
    # Rounded half up, as a reader expects (2 of 3 is 66.7%, not the 66.6% that flooring showed)
    return (2000 * part + whole) // (2 * whole) if whole else None


def minutes(value: float | None) -> float | None:
    return round(value, 1) if value is not None else None


@dataclass
class Month:
    """One month's figures of a community, or of the communities together."""

    month: date
    households: int = 0
    covered: int = 0
    billed_fen: int = 0
    paid_fen: int = 0
    ratings: int = 0
    ratings_satisfied: int = 0  # 4 or 5 of 5
    return_visits: int = 0
    survey_answers: int = 0
    survey_satisfied: int = 0
    work_orders: int = 0
    by_category: dict[str, int] = field(default_factory=dict)
    handling: list[float] = field(default_factory=list)  # minutes from report to done, of orders done
    complaints: int = 0
    complaints_resolved: int = 0
    complaints_withdrawn: int = 0
    replies: list[float] = field(default_factory=list)  # minutes to the first reply
    care_visits: int = 0  # the steward's visits recorded in the care ledger

    @property
    def label(self) -> str:
        return f"{self.month.year}-{self.month.month:02d}"

    @property
    def coverage_permille(self) -> int | None:
        return permille(self.covered, self.households)

    @property
    def collection_permille(self) -> int | None:
        return permille(self.paid_fen, self.billed_fen)

    @property
    def rating_permille(self) -> int | None:
        return permille(self.ratings_satisfied, self.ratings)

    @property
    def survey_permille(self) -> int | None:
        return permille(self.survey_satisfied, self.survey_answers)

    @property
    def complaints_open(self) -> int:
        return self.complaints - self.complaints_resolved - self.complaints_withdrawn

    @property
    def handled(self) -> int:
        return len(self.handling)

    @property
    def median_handling_minutes(self) -> float | None:
        return minutes(tickets.percentile(self.handling, 0.5))

    @property
    def p90_handling_minutes(self) -> float | None:
        return minutes(tickets.percentile(self.handling, 0.9))

    @property
    def answered(self) -> int:
        return len(self.replies)

    @property
    def median_reply_minutes(self) -> float | None:
        return minutes(tickets.percentile(self.replies, 0.5))

    @property
    def p90_reply_minutes(self) -> float | None:
        return minutes(tickets.percentile(self.replies, 0.9))

    def merge(self, other: Month) -> None:
        for name in (
            "households",
            "covered",
            "billed_fen",
            "paid_fen",
            "ratings",
            "ratings_satisfied",
            "return_visits",
            "survey_answers",
            "survey_satisfied",
            "work_orders",
            "complaints",
            "complaints_resolved",
            "complaints_withdrawn",
            "care_visits",
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for category, count in other.by_category.items():
            self.by_category[category] = self.by_category.get(category, 0) + count
        self.handling += other.handling
        self.replies += other.replies


@dataclass
class Assessment:
    district: District
    community: Community | None  # None: every community of the district the actor oversees
    communities: list[Community]  # those the actor oversees in the district, for the choice and the ranking
    months: list[Month]  # oldest first, the current month last
    ranking_month: date  # the last full month
    ranking: list[tuple[Community, Month]]  # best first


def month_of(moment: datetime) -> date:
    return local_date(moment).replace(day=1)


def months_back(today: date, count: int) -> list[date]:
    """This month and the count - 1 before it, oldest first."""
    first = today.replace(day=1)
    result = []
    for back in range(count - 1, -1, -1):
        index = first.year * 12 + first.month - 1 - back
        result.append(date(index // 12, index % 12 + 1, 1))
    return result


def quarter_of(moment: datetime) -> str:
    day = local_date(moment)
    return f"{day.year}-Q{(day.month - 1) // 3 + 1}"


def _rank_key(month: Month) -> tuple:
    """Collection first (what the street assesses hardest), then coverage, then satisfaction; "—" last."""
    values = (month.collection_permille, month.coverage_permille, month.rating_permille)
    return tuple(-1 if v is None else -v for v in values)


async def assessment(
    session: AsyncSession,
    *,
    actor: Actor,
    district_id: int,
    community_id: int | None = None,
    months: int = 12,
    now: datetime | None = None,
) -> Assessment:
    """A district's months (or one community's), with the ranking of its communities by the last full month.
    Officials, stewards and agents see the communities they oversee; what is not theirs is NotFound."""
    actor.require_login()
    if not actor.has(*ASSESSMENT_ROLES):
        raise PermissionDenied()
    if not 1 <= months <= MAX_MONTHS:
        raise LaoyouError(ErrorCode.INVALID, "Choose between 1 and 24 months.", field="months")
    district = await estates.access_district(session, actor=actor, district_id=district_id)
    staff = await estates.staff_community_ids(session, actor)
    ids = [
        c for c in await estates.district_community_ids(session, district_id) if staff is None or c in staff
    ]
    if not ids:
        raise NotFound()
    if community_id is not None and community_id not in ids:
        raise NotFound()
    communities = list(
        await session.exec(select(Community).where(Community.id.in_(ids)).order_by(Community.id))  # type: ignore[union-attr]
    )
    now = now or utcnow()
    calendar = months_back(local_date(now), months + 1)  # one more: the ranking's last full month
    per = await _months(session, actor=actor, community_ids=ids, months=calendar, now=now)
    shown = [community_id] if community_id is not None else ids
    totals = []
    for month in calendar[1:]:
        total = Month(month=month)
        for cid in shown:
            total.merge(per[(cid, month)])
        totals.append(total)
    last_full = calendar[-2]
    ranking = sorted(
        ((c, per[(c.id, last_full)]) for c in communities), key=lambda pair: (_rank_key(pair[1]), pair[0].id)
    )
    community = next((c for c in communities if c.id == community_id), None)
    return Assessment(district, community, communities, totals, last_full, ranking)


async def _months(
    session: AsyncSession, *, actor: Actor, community_ids: list[int], months: list[date], now: datetime
) -> dict[tuple[int, date], Month]:
    result = {(c, m): Month(month=m) for c in community_ids for m in months}
    since = day_start(months[0])
    until = now
    money = await billing.billing_by_month(session, actor=actor, community_ids=community_ids, months=months)
    for key, cell in money.items():
        month = result[key]
        month.households, month.covered = cell.households, cell.covered
        month.billed_fen, month.paid_fen = cell.billed_fen, cell.paid_fen

    def cell(community: int, moment: datetime | None) -> Month | None:
        if moment is None or not since <= moment < until:
            return None
        return result.get((community, month_of(moment)))

    for order in await tickets.order_facts(
        session, actor=actor, community_ids=community_ids, since=since, until=until
    ):
        reported = cell(order.community_id, order.created_at)
        if reported is not None:
            reported.work_orders += 1
            reported.by_category[order.category] = reported.by_category.get(order.category, 0) + 1
            if order.kind == Kind.complaint.value:
                reported.complaints += 1
                if order.status in RESOLVED:
                    reported.complaints_resolved += 1
                elif order.status == Status.cancelled.value:
                    reported.complaints_withdrawn += 1
        done = cell(order.community_id, order.done_at)
        if done is not None and order.done_at is not None:
            done.handling.append((order.done_at - order.created_at).total_seconds() / 60)
            if order.rating is not None:
                done.ratings += 1
                done.ratings_satisfied += order.rating >= 4
        visited = cell(order.community_id, order.return_visit_done_at)
        if visited is not None:
            visited.return_visits += 1
    for community, asked, waited in await support.reply_times(
        session, actor=actor, community_ids=community_ids, since=since, until=until
    ):
        asked_in = cell(community, asked)
        if asked_in is not None:
            asked_in.replies.append(waited)
    for community, visited_on in await care.visit_counts(
        session,
        actor=actor,
        community_ids=community_ids,
        since=months[0],
        until=local_date(now) + timedelta(days=1),
    ):
        visited_month = result.get((community, visited_on.replace(day=1)))
        if visited_month is not None:
            visited_month.care_visits += 1
    answers = await session.exec(
        select(SurveyAnswer.community_id, SurveyAnswer.score, SurveyAnswer.created_at).where(
            SurveyAnswer.community_id.in_(community_ids),  # type: ignore[attr-defined]
            SurveyAnswer.created_at >= since,
        )
    )
    for community, score, created_at in answers:
        answered = cell(community, created_at)
        if answered is not None:
            answered.survey_answers += 1
            answered.survey_satisfied += score == SATISFIED
    return result


# --- the quarterly satisfaction survey ------------------------------------------------------------------


async def open_surveys(session: AsyncSession, *, actor: Actor, now: datetime | None = None) -> list[int]:
    """The households of the resident (not a family member elsewhere) not answered yet this quarter."""
    if not actor.is_authenticated:
        return []
    households = sorted(actor.resident_household_ids)
    if not households:
        return []
    quarter = quarter_of(now or utcnow())
    answered = set(
        await session.exec(
            select(SurveyAnswer.household_id).where(
                SurveyAnswer.household_id.in_(households),  # type: ignore[attr-defined]
                SurveyAnswer.quarter == quarter,
            )
        )
    )
    return [h for h in households if h not in answered]


async def do_answer_survey(
    session: AsyncSession, *, actor: Actor, household_id: int, score: int, now: datetime | None = None
) -> SurveyAnswer:
    """One tap: the household's answer for this quarter; a second answer in the same quarter is refused."""
    actor.require_login()
    if household_id not in actor.resident_household_ids:
        raise NotFound()
    if score not in SCORES:
        raise LaoyouError(ErrorCode.INVALID, "Please tap one of the faces.", field="score")
    now = now or utcnow()
    if household_id not in await open_surveys(session, actor=actor, now=now):
        raise LaoyouError(
            ErrorCode.ALREADY_EXISTS,
            "Your household has already answered this quarter. Thank you.",
            field="score",
        )
    household = await estates.access_household(session, actor=actor, household_id=household_id)
    answer = SurveyAnswer(
        household_id=household.id,
        community_id=household.community_id,
        district_id=household.district_id,
        person_id=actor.person_id,
        quarter=quarter_of(now),
        score=score,
        created_at=now,
    )
    session.add(answer)
    await session.flush()
    return answer
