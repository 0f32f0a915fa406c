"""Who is asking: the person, their live role grants and the session they came with."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from laoyou.accounts.models import Person, Role, RoleGrant
from laoyou.core.errors import PermissionDenied


@dataclass
class Actor:
    person: Person | None = None
    grants: list[RoleGrant] = field(default_factory=list)
    session_id: int | None = None
    session_kind: str | None = None  # cookie or bearer
    session_expires_at: datetime | None = None  # a WebSocket closes then (graphql/router.py)
    client_ip: str = ""
    user_agent: str = ""
    # Filled once per request by estates.service.staff_community_ids.
    _staff_communities: set[int] | None = None
    _staff_communities_loaded: bool = False

    @property
    def is_authenticated(self) -> bool:
        return self.person is not None

    def require_login(self) -> None:
        if not self.is_authenticated:
            raise PermissionDenied("Please log in first.")

    @property
    def person_id(self) -> int:
        if self.person is None or self.person.id is None:
            raise PermissionDenied("Please log in first.")
        return self.person.id

    @property
    def roles(self) -> set[Role]:
        return {Role(grant.role) for grant in self.grants}

    def has(self, *roles: Role) -> bool:
        return any(Role(grant.role) in roles for grant in self.grants)

    @property
    def is_staff(self) -> bool:
        return any(Role(grant.role).is_staff for grant in self.grants)

    @property
    def is_admin(self) -> bool:
        return self.has(Role.admin)

    def grants_of(self, *roles: Role) -> list[RoleGrant]:
        return [grant for grant in self.grants if Role(grant.role) in roles]

    @property
    def household_ids(self) -> set[int]:
        """Households this person lives in or follows as family."""
        return {g.household_id for g in self.grants_of(Role.resident, Role.family) if g.household_id}

    @property
    def resident_household_ids(self) -> set[int]:
        return {g.household_id for g in self.grants_of(Role.resident) if g.household_id}


ANONYMOUS = Actor()
