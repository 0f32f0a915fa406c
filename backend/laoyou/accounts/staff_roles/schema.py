"""GraphQL for the operator's admin managing staff roles (accounts.staff_roles)."""

from __future__ import annotations

from datetime import datetime

import strawberry

from laoyou.accounts.models import AuditEvent as AuditEventRow
from laoyou.accounts.models import Person as PersonRow
from laoyou.accounts.models import Role as RoleValue
from laoyou.accounts.models import RoleGrant as RoleGrantRow
from laoyou.accounts.schema import LoginCodeSent, Role
from laoyou.accounts.service import RESEND_AFTER
from laoyou.accounts.staff_roles import service as staff
from laoyou.core.phone import mask_phone, national, normalise_phone
from laoyou.core.time import as_utc
from laoyou.estates.schema import Community, District
from laoyou.graphql.context import Info
from laoyou.graphql.errors import error_type, mutation_boundary, result_union
from laoyou.graphql.permissions import IsStaff
from laoyou.graphql.types import decode_id, encode_id


@strawberry.type(description="A staff role of one person in one district or community, live or revoked.")
class StaffGrant:
    row: strawberry.Private[RoleGrantRow]

    @strawberry.field
    def id(self) -> strawberry.ID:
        return encode_id(self.row.id)

    @strawberry.field
    def role(self) -> Role:  # type: ignore[valid-type]
        return RoleValue(self.row.role)

    @strawberry.field
    async def district(self, info: Info) -> District:
        return District(row=await info.context.loaders.district_by_id.load(self.row.district_id))

    @strawberry.field(description="The community, when the role serves one community only.")
    async def community(self, info: Info) -> Community | None:
        if self.row.community_id is None:
            return None
        return Community(row=await info.context.loaders.community_by_id.load(self.row.community_id))

    @strawberry.field
    def granted_at(self) -> datetime:
        return as_utc(self.row.created_at)

    @strawberry.field
    def revoked_at(self) -> datetime | None:
        return as_utc(self.row.revoked_at) if self.row.revoked_at else None


@strawberry.type(description="One audited grant, revocation or password setup of a staff member.")
class StaffAuditLine:
    row: strawberry.Private[AuditEventRow]

    @strawberry.field(
        description="staff.grant, staff.revoke, staff.password_setup, staff.password_set (with a link) or "
        "staff.password_sms (with a code texted to them)."
    )
    def action(self) -> str:
        return self.row.action

    @strawberry.field
    def at(self) -> datetime:
        return as_utc(self.row.created_at)

    @strawberry.field(
        description="The role and scope concerned, as ids; for a password by SMS, reset or first."
    )
    def detail(self) -> str:
        return self.row.detail

    @strawberry.field(description="Who did it.")
    async def by_name(self, info: Info) -> str | None:
        if self.row.actor_id is None:
            return None
        person = await info.context.session.get(PersonRow, self.row.actor_id)
        return person.name if person else None


@strawberry.type(description="A staff member as the operator's admin sees them.")
class StaffMember:
    found: strawberry.Private[staff.StaffPerson]

    @strawberry.field
    def id(self) -> strawberry.ID:
        return encode_id(self.found.person.id)

    @strawberry.field
    def name(self) -> str:
        return self.found.person.name

    @strawberry.field(description="Their work number, in full.")
    def phone(self) -> str:
        return national(self.found.person.phone)

    @strawberry.field(description="Whether they have set a password.")
    def has_password(self) -> bool:
        return self.found.person.password_hash is not None

    @strawberry.field(description="In the list: the live grants; for one person: live first, then revoked.")
    def grants(self) -> list[StaffGrant]:
        return [StaffGrant(row=g) for g in self.found.grants]

    @strawberry.field(description="Grants, revocations and password setups, newest first.")
    async def audit(self, info: Info) -> list[StaffAuditLine]:
        rows = await staff.staff_audit(info.context.session, person_id=self.found.person.id)
        return [StaffAuditLine(row=r) for r in rows]


@strawberry.type
class StaffQuery:
    @strawberry.field(permission_classes=[IsStaff], description="The operator's admin only.")
    async def staff_people(self, info: Info) -> list[StaffMember]:
        found = await staff.list_staff_people(info.context.session, actor=info.context.actor)
        return [StaffMember(found=f) for f in found]

    @strawberry.field(permission_classes=[IsStaff], description="The operator's admin only.")
    async def staff_person(self, info: Info, id: strawberry.ID) -> StaffMember:
        found = await staff.access_staff_person(
            info.context.session, actor=info.context.actor, person_id=decode_id(id)
        )
        return StaffMember(found=found)


@strawberry.input
class StaffGrantInput:
    phone: str = strawberry.field(description="A mobile number, e.g. 13812345678.")
    name: str
    role: Role  # type: ignore[valid-type]
    district_id: strawberry.ID | None = strawberry.field(
        default=None, description="Exactly one of districtId and communityId."
    )
    community_id: strawberry.ID | None = None


StaffRoleError = error_type("StaffRoleError")


@strawberry.type
class StaffRoleSaved:
    grant: StaffGrant
    staff_member: StaffMember


StaffRoleResult = result_union("StaffRoleResult", StaffRoleSaved, StaffRoleError)


async def _saved(info: Info, grant: RoleGrantRow) -> StaffRoleSaved:
    found = await staff.access_staff_person(
        info.context.session, actor=info.context.actor, person_id=grant.person_id
    )
    return StaffRoleSaved(grant=StaffGrant(row=grant), staff_member=StaffMember(found=found))


PasswordSetupError = error_type("PasswordSetupError")


@strawberry.type(description="A one-time link to hand to the staff member; shown once, valid for 24 hours.")
class PasswordSetupIssued:
    url: str
    expires_at: datetime


PasswordSetupResult = result_union("PasswordSetupResult", PasswordSetupIssued, PasswordSetupError)


@strawberry.type
class PasswordSet:
    name: str


SetPasswordResult = result_union("SetPasswordResult", PasswordSet, PasswordSetupError)
RequestPasswordCodeResult = result_union("RequestPasswordCodeResult", LoginCodeSent, PasswordSetupError)


@strawberry.type
class StaffMutation:
    @strawberry.mutation(
        permission_classes=[IsStaff],
        description="The operator's admin only: steward, field staff, agent or official; never admin.",
    )
    async def grant_staff_role(self, info: Info, input: StaffGrantInput) -> StaffRoleResult:
        context = info.context

        async def work() -> StaffRoleSaved:
            grant = await staff.do_grant_staff_role(
                context.session,
                actor=context.actor,
                phone=input.phone,
                name=input.name,
                role=RoleValue(input.role).value,
                district_id=decode_id(input.district_id) if input.district_id is not None else None,
                community_id=decode_id(input.community_id) if input.community_id is not None else None,
            )
            return await _saved(info, grant)

        return await mutation_boundary(info, StaffRoleError, work)

    @strawberry.mutation(
        permission_classes=[IsStaff],
        description="The operator's admin only; the person loses the role at once.",
    )
    async def revoke_staff_role(self, info: Info, grant_id: strawberry.ID) -> StaffRoleResult:
        context = info.context

        async def work() -> StaffRoleSaved:
            grant = await staff.do_revoke_staff_role(
                context.session, actor=context.actor, grant_id=decode_id(grant_id)
            )
            return await _saved(info, grant)

        return await mutation_boundary(info, StaffRoleError, work)

    @strawberry.mutation(
        permission_classes=[IsStaff],
        description="The operator's admin only: a one-time link to set or reset a staff member's password.",
    )
    async def issue_password_setup(self, info: Info, person_id: strawberry.ID) -> PasswordSetupResult:
        context = info.context

        async def work() -> PasswordSetupIssued:
            issued = await staff.do_issue_password_setup(
                context.session, actor=context.actor, person_id=decode_id(person_id)
            )
            url = f"{context.settings.public_url.rstrip('/')}/password/set?token={issued.token}"
            return PasswordSetupIssued(url=url, expires_at=as_utc(issued.setup.expires_at))

        return await mutation_boundary(info, PasswordSetupError, work)

    @strawberry.mutation(description="Whoever holds a setup link sets the password once; all sessions end.")
    async def set_password_with_token(self, info: Info, token: str, password: str) -> SetPasswordResult:
        context = info.context

        async def work() -> PasswordSet:
            person = await staff.do_set_password_with_token(
                context.session, actor=context.actor, token=token, password=password
            )
            return PasswordSet(name=person.name)

        return await mutation_boundary(info, PasswordSetupError, work)

    @strawberry.mutation(
        description="Text a 6-digit code for setting a staff password. The answer never tells whether a number "
        "is staff's."
    )
    async def request_password_code(self, info: Info, phone: str) -> RequestPasswordCodeResult:
        context = info.context

        async def work() -> LoginCodeSent:
            await staff.do_request_password_code(
                context.session,
                settings=context.settings,
                sms=context.sms,
                phone=phone,
                client_ip=context.actor.client_ip,
            )
            return LoginCodeSent(
                masked_phone=mask_phone(normalise_phone(phone)),
                expires_in_seconds=context.settings.login_code_minutes * 60,
                resend_after_seconds=int(RESEND_AFTER.total_seconds()),
            )

        return await mutation_boundary(info, PasswordSetupError, work)

    @strawberry.mutation(
        description="A staff member (not the admin) sets or resets their password with a texted code; all their "
        "sessions end."
    )
    async def set_password_with_code(
        self, info: Info, phone: str, code: str, password: str
    ) -> SetPasswordResult:
        context = info.context

        async def work() -> PasswordSet:
            person = await staff.do_set_password_with_code(
                context.session,
                actor=context.actor,
                settings=context.settings,
                phone=phone,
                code=code,
                password=password,
            )
            return PasswordSet(name=person.name)

        return await mutation_boundary(info, PasswordSetupError, work)
