"""GraphQL for the assessment dashboard (officials) and the quarterly satisfaction survey (residents)."""

from __future__ import annotations

import strawberry

from laoyou.core.time import utcnow
from laoyou.estates.schema import Community, District
from laoyou.governance.assessment import service as assessment
from laoyou.governance.assessment.service import Month
from laoyou.graphql.context import Info
from laoyou.graphql.errors import error_type, mutation_boundary, result_union
from laoyou.graphql.permissions import IsAuthenticated, IsStaff
from laoyou.graphql.types import decode_id, encode_id
from laoyou.tickets.models import Category
from laoyou.tickets.schema import CategoryCount


@strawberry.type(
    description="One Shanghai month's figures. A rate is in permille, null when there was nothing to count."
)
class AssessmentMonth:
    month: str  # 2026-05
    households: int
    covered: int  # with an active service plan: billed, or sent a trial statement
    coverage_permille: int | None
    billed_fen: int
    paid_fen: int
    collection_permille: int | None
    ratings: int  # work orders rated when done
    ratings_satisfied: int  # rated 4 or 5
    rating_permille: int | None
    return_visits: int
    survey_answers: int
    survey_satisfied: int
    survey_permille: int | None
    work_orders: int
    by_category: list[CategoryCount]
    handled: int  # work orders done in the month
    median_handling_minutes: float | None
    p90_handling_minutes: float | None
    complaints: int
    complaints_resolved: int
    complaints_open: int
    complaints_withdrawn: int
    answered: int  # residents' messages answered by a person
    median_reply_minutes: float | None
    p90_reply_minutes: float | None
    care_visits: int  # the steward's visits recorded in the care ledger: how many, never to whom

    @classmethod
    def of(cls, m: Month) -> AssessmentMonth:
        categories = sorted(m.by_category.items(), key=lambda item: (-item[1], item[0]))
        return cls(
            month=m.label,
            households=m.households,
            covered=m.covered,
            coverage_permille=m.coverage_permille,
            billed_fen=m.billed_fen,
            paid_fen=m.paid_fen,
            collection_permille=m.collection_permille,
            ratings=m.ratings,
            ratings_satisfied=m.ratings_satisfied,
            rating_permille=m.rating_permille,
            return_visits=m.return_visits,
            survey_answers=m.survey_answers,
            survey_satisfied=m.survey_satisfied,
            survey_permille=m.survey_permille,
            work_orders=m.work_orders,
            by_category=[CategoryCount(category=Category(c), count=n) for c, n in categories],
            handled=m.handled,
            median_handling_minutes=m.median_handling_minutes,
            p90_handling_minutes=m.p90_handling_minutes,
            complaints=m.complaints,
            complaints_resolved=m.complaints_resolved,
            complaints_open=m.complaints_open,
            complaints_withdrawn=m.complaints_withdrawn,
            care_visits=m.care_visits,
            answered=m.answered,
            median_reply_minutes=m.median_reply_minutes,
            p90_reply_minutes=m.p90_reply_minutes,
        )


@strawberry.type
class AssessmentRank:
    position: int
    community: Community
    month: AssessmentMonth


@strawberry.type(description="A district's months (or one community's), oldest first, and its ranking.")
class Assessment:
    district: District
    community: Community | None
    communities: list[Community]
    months: list[AssessmentMonth]
    ranking_month: str
    ranking: list[AssessmentRank]


@strawberry.type(description="The quarter's survey: the resident's households that have not answered yet.")
class SatisfactionSurvey:
    quarter: str
    open_household_ids: list[strawberry.ID]


@strawberry.type
class SurveyAnswered:
    quarter: str
    score: int


AnswerSurveyError = error_type("AnswerSurveyError")
AnswerSurveyResult = result_union("AnswerSurveyResult", SurveyAnswered, AnswerSurveyError)


@strawberry.type
class AssessmentQuery:
    @strawberry.field(
        permission_classes=[IsStaff],
        description="Coverage, collection, satisfaction, work orders and replies by month, for officials.",
    )
    async def assessment(
        self,
        info: Info,
        district_id: strawberry.ID,
        community_id: strawberry.ID | None = None,
        months: int = 12,
    ) -> Assessment:
        context = info.context
        result = await assessment.assessment(
            context.session,
            actor=context.actor,
            district_id=decode_id(district_id),
            community_id=decode_id(community_id) if community_id is not None else None,
            months=months,
        )
        return Assessment(
            district=District(row=result.district),
            community=Community(row=result.community) if result.community is not None else None,
            communities=[Community(row=c) for c in result.communities],
            months=[AssessmentMonth.of(m) for m in result.months],
            ranking_month=f"{result.ranking_month:%Y-%m}",
            ranking=[
                AssessmentRank(position=i, community=Community(row=c), month=AssessmentMonth.of(m))
                for i, (c, m) in enumerate(result.ranking, start=1)
            ],
        )

    @strawberry.field(permission_classes=[IsAuthenticated])
    async def satisfaction_survey(self, info: Info) -> SatisfactionSurvey:
        context = info.context
        households = await assessment.open_surveys(context.session, actor=context.actor)
        return SatisfactionSurvey(
            quarter=assessment.quarter_of(utcnow()),
            open_household_ids=[encode_id(h) for h in households],
        )


@strawberry.type
class AssessmentMutation:
    @strawberry.mutation(
        permission_classes=[IsAuthenticated],
        description="A household's one-tap answer to the quarter's survey.",
    )
    async def answer_satisfaction_survey(
        self, info: Info, household_id: strawberry.ID, score: int
    ) -> AnswerSurveyResult:
        context = info.context

        async def work() -> SurveyAnswered:
            row = await assessment.do_answer_survey(
                context.session, actor=context.actor, household_id=decode_id(household_id), score=score
            )
            return SurveyAnswered(quarter=row.quarter, score=row.score)

        return await mutation_boundary(info, AnswerSurveyError, work)
