"""People, their scoped roles, logins and sessions."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Column, String
from sqlmodel import Field, SQLModel

from laoyou.core.models import read_model, utc_field


class Role(StrEnum):
    resident = "resident"  # scope: household
    family = "family"  # scope: household, through an accepted link
    steward = "steward"  # scope: community or district
    field_staff = "field_staff"  # scope: district
    agent = "agent"  # scope: district (customer service)
    official = "official"  # scope: community or district, read-only
    admin = "admin"  # the operator's administrator: every district

    @property
    def is_staff(self) -> bool:
        return self not in (Role.resident, Role.family)


class TextSize(StrEnum):
    """Sizes as a share of the phone's own base size (16 px unless she changed it); app.css has the figures."""

    large = "large"  # 125 %: 20 px on a default phone, the elderly default
    larger = "larger"  # 25 px
    largest = "largest"  # 30 px
    standard = "standard"  # 18 px
    huge = "huge"  # 40 px: twice the default, for failing eyes


class UiMode(StrEnum):
    elderly = "elderly"
    standard = "standard"


class Person(SQLModel, table=True):
    __tablename__ = "person"

    id: int | None = Field(default=None, primary_key=True)
    phone: str = Field(sa_column=Column(String(20), unique=True, nullable=False, index=True))  # E.164
    name: str = Field(max_length=50, default="")
    password_hash: str | None = Field(default=None, max_length=200)
    language: str | None = Field(default=None, max_length=8)
    text_size: str = Field(default=TextSize.large.value, max_length=10)
    ui_mode: str = Field(default=UiMode.elderly.value, max_length=10)
    is_active: bool = True
    created_at: datetime = utc_field(default_now=True)


class RoleGrant(SQLModel, table=True):
    """One role of one person with its scope. Exactly the scope columns the role needs are set."""

    __tablename__ = "role_grant"

    id: int | None = Field(default=None, primary_key=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    role: str = Field(max_length=20)
    district_id: int | None = Field(default=None, foreign_key="district.id", index=True)
    community_id: int | None = Field(default=None, foreign_key="community.id", index=True)
    household_id: int | None = Field(default=None, foreign_key="household.id", index=True)
    on_duty: bool = False  # a steward who answers the community's call button
    tenure: str | None = Field(default=None, max_length=10)  # a resident's: owner or tenant
    created_at: datetime = utc_field(default_now=True)
    revoked_at: datetime | None = utc_field(nullable=True)


class LoginCode(SQLModel, table=True):
    """A one-time code sent by SMS. Kept for every request, registered number or not, for rate limits."""

    __tablename__ = "login_code"

    id: int | None = Field(default=None, primary_key=True)
    phone: str = Field(max_length=20, index=True)
    # What the code may do: "login", or "password" (a staff member sets their password); one never does the other.
    purpose: str = Field(default="login", max_length=10, sa_column_kwargs={"server_default": "login"})
    client_ip: str = Field(max_length=64, index=True)
    code_hash: str = Field(max_length=64)
    attempts: int = 0
    created_at: datetime = utc_field(default_now=True, index=True)
    expires_at: datetime = utc_field()
    used_at: datetime | None = utc_field(nullable=True)


class AuthSession(SQLModel, table=True):
    __tablename__ = "auth_session"

    id: int | None = Field(default=None, primary_key=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    token_hash: str = Field(sa_column=Column(String(64), unique=True, nullable=False, index=True))
    kind: str = Field(max_length=10)  # cookie or bearer
    method: str = Field(max_length=10)  # code, password, card
    user_agent: str = Field(default="", max_length=300)
    created_at: datetime = utc_field(default_now=True)
    expires_at: datetime = utc_field()
    last_seen_at: datetime = utc_field(default_now=True)
    revoked_at: datetime | None = utc_field(nullable=True)


class LoginCard(SQLModel, table=True):
    """A printed QR code that logs one resident in on their own phone, once."""

    __tablename__ = "login_card"

    id: int | None = Field(default=None, primary_key=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    household_id: int = Field(foreign_key="household.id", index=True)
    community_id: int = Field(foreign_key="community.id", index=True)
    district_id: int = Field(foreign_key="district.id", index=True)
    token_hash: str = Field(sa_column=Column(String(64), unique=True, nullable=False))
    issued_by_id: int = Field(foreign_key="person.id")
    created_at: datetime = utc_field(default_now=True)
    expires_at: datetime = utc_field()
    used_at: datetime | None = utc_field(nullable=True)
    revoked_at: datetime | None = utc_field(nullable=True)


class PasswordSetup(SQLModel, table=True):
    """A one-time link with which a staff member sets their own password; the token is stored hashed."""

    __tablename__ = "password_setup"

    id: int | None = Field(default=None, primary_key=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    token_hash: str = Field(sa_column=Column(String(64), unique=True, nullable=False))
    issued_by_id: int = Field(foreign_key="person.id")
    created_at: datetime = utc_field(default_now=True)
    expires_at: datetime = utc_field()
    used_at: datetime | None = utc_field(nullable=True)
    revoked_at: datetime | None = utc_field(nullable=True)


class FamilyLinkStatus(StrEnum):
    pending = "pending"
    accepted = "accepted"
    declined = "declined"
    removed = "removed"


class FamilyLink(SQLModel, table=True):
    """A family member asks to follow a household; a resident of that household accepts."""

    __tablename__ = "family_link"

    id: int | None = Field(default=None, primary_key=True)
    person_id: int = Field(foreign_key="person.id", index=True)  # the family member
    household_id: int = Field(foreign_key="household.id", index=True)
    community_id: int = Field(foreign_key="community.id", index=True)
    district_id: int = Field(foreign_key="district.id", index=True)
    relation: str = Field(max_length=30, default="")
    status: str = Field(max_length=10, default=FamilyLinkStatus.pending.value)
    created_at: datetime = utc_field(default_now=True)
    decided_at: datetime | None = utc_field(nullable=True)
    decided_by_id: int | None = Field(default=None, foreign_key="person.id")


class Notification(SQLModel, table=True):
    """Something a person should see on their home page; the unread count is live."""

    __tablename__ = "notification"

    id: int | None = Field(default=None, primary_key=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    kind: str = Field(max_length=30)
    title: str = Field(max_length=200)
    body: str = Field(default="", max_length=1000)
    link: str = Field(default="", max_length=200)
    created_at: datetime = utc_field(default_now=True)
    read_at: datetime | None = utc_field(nullable=True)


class AuditEvent(SQLModel, table=True):
    """Who did what to whom: logins, cards, staff access to personal data."""

    __tablename__ = "audit_event"

    id: int | None = Field(default=None, primary_key=True)
    actor_id: int | None = Field(default=None, foreign_key="person.id", index=True)
    action: str = Field(max_length=50, index=True)
    subject_type: str = Field(default="", max_length=30)
    subject_id: int | None = None
    detail: str = Field(default="", max_length=500)
    client_ip: str = Field(default="", max_length=64)
    created_at: datetime = utc_field(default_now=True, index=True)


# Read-only rows of the tables a request reads to know who asks (accounts.service.resolve_session).
SessionRow, PersonRow, GrantRow = read_model(AuthSession), read_model(Person), read_model(RoleGrant)
