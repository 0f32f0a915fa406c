"""An owners' vote, the proxies a steward recorded for it, and its ballots (one per household)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Column, Text
from sqlmodel import Field, SQLModel, UniqueConstraint

from laoyou.core.models import utc_field


class Matter(StrEnum):
    """What is decided; art. 278 items 6–8 (the last three) need three quarters, the rest more than half."""

    choose_provider = "choose_provider"
    use_fund = "use_fund"
    adopt_phase = "adopt_phase"
    adopt_package = "adopt_package"
    renew_service = "renew_service"
    raise_fund = "raise_fund"
    rebuild = "rebuild"
    common_use = "common_use"

    @property
    def special(self) -> bool:
        return self in (Matter.raise_fund, Matter.rebuild, Matter.common_use)


class Choice(StrEnum):
    yes = "yes"  # 同意
    no = "no"  # 反对
    abstain = "abstain"  # 弃权


class Channel(StrEnum):
    online = "online"
    paper = "paper"


class Outcome(StrEnum):
    passed = "passed"
    rejected = "rejected"
    no_quorum = "no_quorum"  # fewer than two thirds of the area or of the owners took part


class Vote(SQLModel, table=True):
    __tablename__ = "owners_vote"

    id: int | None = Field(default=None, primary_key=True)
    community_id: int = Field(foreign_key="community.id", index=True)
    district_id: int = Field(foreign_key="district.id", index=True)
    title: str = Field(max_length=100)
    body: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    matter: str = Field(max_length=20)
    # The decision it takes in billing: a draft plan to activate, or an add-on package of a plan to adopt.
    fee_plan_id: int | None = Field(default=None, foreign_key="fee_plan.id")
    package: str = Field(default="", max_length=50)
    deadline: datetime = utc_field()
    proposed_by_id: int = Field(foreign_key="person.id")
    created_at: datetime = utc_field(default_now=True)
    # Set once, at certification: the count as it was certified.
    certified_by_id: int | None = Field(default=None, foreign_key="person.id")
    certified_at: datetime | None = utc_field(nullable=True)
    outcome: str | None = Field(default=None, max_length=10)
    total_area: int | None = None  # hundredths of m²
    total_owners: int | None = None
    voted_area: int | None = None
    voted_owners: int | None = None
    yes_area: int | None = None
    yes_owners: int | None = None
    no_area: int | None = None
    no_owners: int | None = None


class VoteProxy(SQLModel, table=True):
    """A family member's written proxy to vote online for a household, recorded by the steward."""

    __tablename__ = "owners_vote_proxy"
    __table_args__ = (UniqueConstraint("vote_id", "household_id"),)

    id: int | None = Field(default=None, primary_key=True)
    vote_id: int = Field(foreign_key="owners_vote.id", index=True)
    household_id: int = Field(foreign_key="household.id", index=True)
    community_id: int = Field(foreign_key="community.id", index=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    note: str = Field(default="", max_length=100)  # where the signed proxy is kept
    recorded_by_id: int = Field(foreign_key="person.id")
    created_at: datetime = utc_field(default_now=True)


class Ballot(SQLModel, table=True):
    """One household's ballot; the unique key is what keeps a household from voting twice, online or on paper."""

    __tablename__ = "owners_vote_ballot"
    __table_args__ = (UniqueConstraint("vote_id", "household_id"),)

    id: int | None = Field(default=None, primary_key=True)
    vote_id: int = Field(foreign_key="owners_vote.id", index=True)
    household_id: int = Field(foreign_key="household.id", index=True)
    community_id: int = Field(foreign_key="community.id", index=True)
    choice: str = Field(max_length=10)
    channel: str = Field(max_length=10)
    cast_by_id: int | None = Field(default=None, foreign_key="person.id")  # online: who tapped
    proxy_id: int | None = Field(default=None, foreign_key="owners_vote_proxy.id")
    photo_id: int | None = Field(default=None, foreign_key="media_file.id")  # paper: the ballot's photo
    recorded_by_id: int | None = Field(default=None, foreign_key="person.id")  # paper: the steward
    created_at: datetime = utc_field(default_now=True)
