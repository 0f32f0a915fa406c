"""A household's answer to the quarterly satisfaction survey (满意度调查): one face, one tap, once a quarter."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel, UniqueConstraint

from laoyou.core.models import utc_field

# The faces a resident taps: 3 satisfied (满意), 2 so-so (一般), 1 not satisfied (不满意).
SCORES = (3, 2, 1)
SATISFIED = 3


class SurveyAnswer(SQLModel, table=True):
    __tablename__ = "satisfaction_survey_answer"
    __table_args__ = (UniqueConstraint("household_id", "quarter"),)

    id: int | None = Field(default=None, primary_key=True)
    household_id: int = Field(foreign_key="household.id", index=True)
    community_id: int = Field(foreign_key="community.id", index=True)
    district_id: int = Field(foreign_key="district.id", index=True)
    person_id: int = Field(foreign_key="person.id", index=True)  # who tapped
    quarter: str = Field(max_length=7)  # 2026-Q4, a Shanghai quarter
    score: int
    created_at: datetime = utc_field(default_now=True)
