"""GraphQL for people, logins, sessions, preferences, family links, login cards and notifications."""

from __future__ import annotations

import secrets
from collections.abc import AsyncGenerator, Awaitable, Callable
from datetime import datetime
from enum import Enum
from typing import Annotated, TypeVar

import segno
import strawberry

from laoyou.accounts import service as accounts
from laoyou.accounts.actor import Actor
from laoyou.accounts.models import FamilyLink as FamilyLinkRow
from laoyou.accounts.models import LoginCard as LoginCardRow
from laoyou.accounts.models import Notification as NotificationRow
from laoyou.accounts.models import Person as PersonModel
from laoyou.accounts.models import Role as RoleValue
from laoyou.accounts.models import TextSize as TextSizeValue
from laoyou.accounts.models import UiMode as UiModeValue
from laoyou.core import i18n
from laoyou.core.errors import NotFound
from laoyou.core.phone import mask_phone, national, normalise_phone
from laoyou.core.time import as_utc
from laoyou.estates import service as estates
from laoyou.estates.schema import Community, Household
from laoyou.graphql.context import CSRF_COOKIE, SESSION_COOKIE, Info
from laoyou.graphql.errors import Error, mutation_boundary
from laoyou.graphql.live import Gathered, listen
from laoyou.graphql.permissions import IsAuthenticated, IsStaff
from laoyou.graphql.types import decode_id, encode_id

Role = strawberry.enum(RoleValue, name="Role")
TextSize = strawberry.enum(TextSizeValue, name="TextSize")
UiMode = strawberry.enum(UiModeValue, name="UiMode")


@strawberry.enum(
    description="COOKIE sets an httpOnly cookie (the PWA); BEARER returns the token (other clients)."
)
class SessionKind(Enum):
    COOKIE = "cookie"
    BEARER = "bearer"


@strawberry.type(description="A person as they see themselves.")
class Person:
    row: strawberry.Private[PersonModel]

    @strawberry.field
    def id(self) -> strawberry.ID:
        return encode_id(self.row.id)

    @strawberry.field
    def name(self) -> str:
        return self.row.name

    @strawberry.field(description="Their own number, in full.")
    def phone(self) -> str:
        return national(self.row.phone)

    @strawberry.field
    def masked_phone(self) -> str:
        return mask_phone(self.row.phone)

    @strawberry.field
    def language(self) -> str | None:
        return self.row.language

    @strawberry.field
    def text_size(self) -> TextSize:  # type: ignore[valid-type]
        return TextSizeValue(self.row.text_size)

    @strawberry.field
    def ui_mode(self) -> UiMode:  # type: ignore[valid-type]
        return UiModeValue(self.row.ui_mode)


@strawberry.type(description="One role with its scope.")
class RoleGrant:
    role: Role  # type: ignore[valid-type]
    district_id: strawberry.ID | None
    community_id: strawberry.ID | None
    household_id: strawberry.ID | None
    on_duty: bool


@strawberry.type
class Notification:
    id: strawberry.ID
    kind: str
    title: str
    body: str
    link: str
    created_at: datetime
    read: bool

    @classmethod
    def of(cls, row: NotificationRow) -> Notification:
        return cls(
            id=encode_id(row.id),
            kind=row.kind,
            title=row.title,
            body=row.body,
            link=row.link,
            created_at=as_utc(row.created_at),
            read=row.read_at is not None,
        )


@strawberry.type(description="A request to follow a household as family, or an accepted link.")
class FamilyLink:
    row: strawberry.Private[FamilyLinkRow]
    viewer_id: strawberry.Private[int]

    @strawberry.field
    def id(self) -> strawberry.ID:
        return encode_id(self.row.id)

    @strawberry.field
    def status(self) -> str:
        return self.row.status

    @strawberry.field
    def relation(self) -> str:
        return self.row.relation

    @strawberry.field(description="True when the viewer is the family member who asked.")
    def is_mine(self) -> bool:
        return self.row.person_id == self.viewer_id

    @strawberry.field(description="The family member, as the household sees them.")
    async def family_member_name(self, info: Info) -> str:
        person = await info.context.loaders.person_by_id.load(self.row.person_id)
        return person.name or mask_phone(person.phone)

    @strawberry.field
    async def family_member_masked_phone(self, info: Info) -> str:
        person = await info.context.loaders.person_by_id.load(self.row.person_id)
        return mask_phone(person.phone)

    @strawberry.field
    async def household(self, info: Info) -> Household | None:
        """Visible once accepted (or to the household itself)."""
        if self.row.household_id not in info.context.actor.household_ids:
            return None
        return Household(row=await info.context.loaders.household_by_id.load(self.row.household_id))


@strawberry.type(description="A demo person, listed on the login page in demo mode only.")
class DemoPerson:
    phone: str
    name: str
    role: Role  # type: ignore[valid-type]
    description: str


@strawberry.type(description="Whoever is asking; an anonymous viewer has no person.")
class Viewer:
    actor: strawberry.Private[Actor]

    @strawberry.field
    def person(self) -> Person | None:
        return Person(row=self.actor.person) if self.actor.person else None

    @strawberry.field
    def is_staff(self) -> bool:
        return self.actor.is_staff

    @strawberry.field
    def roles(self) -> list[RoleGrant]:
        def sid(value: int | None) -> strawberry.ID | None:
            return encode_id(value) if value is not None else None

        return [
            RoleGrant(
                role=RoleValue(g.role),
                district_id=sid(g.district_id),
                community_id=sid(g.community_id),
                household_id=sid(g.household_id),
                on_duty=g.on_duty,
            )
            for g in self.actor.grants
        ]

    @strawberry.field(description="Households the viewer lives in or follows as family.")
    async def households(self, info: Info) -> list[Household]:
        loaders = info.context.loaders
        found = await estates.my_households(info.context.session, actor=self.actor)
        # Prime the loaders so the household's unit, building, community and district cost no more queries.
        for household, unit, building, community, district in found:
            loaders.household_by_id.prime(household.id, household)
            loaders.unit_by_id.prime(unit.id, unit)
            loaders.building_by_id.prime(building.id, building)
            loaders.community_by_id.prime(community.id, community)
            loaders.district_by_id.prime(district.id, district)
        return [Household(row=row[0]) for row in found]

    @strawberry.field(description="Households the viewer lives in (not those followed as family).")
    def own_household_ids(self) -> list[strawberry.ID]:
        return [encode_id(i) for i in sorted(self.actor.resident_household_ids)]

    @strawberry.field(description="Communities the viewer serves or oversees as staff.")
    async def staff_communities(self, info: Info, first: int | None = None) -> list[Community]:
        if not self.actor.is_staff:
            return []
        cap = info.context.settings.max_page_size
        limit = max(1, min(first or cap, cap))  # a negative LIMIT is an error on PostgreSQL
        rows = await estates.list_staff_communities(info.context.session, actor=self.actor, first=limit)
        # A micro-community's host (挂单) is usually on the same list: its attachedTo costs no query.
        for row in rows:
            info.context.loaders.community_by_id.prime(row.id, row)
        return [Community(row=c) for c in rows]

    @strawberry.field
    async def unread_notifications(self, info: Info) -> int:
        if not self.actor.is_authenticated:
            return 0
        return await accounts.unread_count(info.context.session, self.actor.person_id)

    @strawberry.field
    async def notifications(self, info: Info, first: int = 20) -> list[Notification]:
        if not self.actor.is_authenticated:
            return []
        limit = max(1, min(first, info.context.settings.max_page_size))
        return [
            Notification.of(n)
            for n in await accounts.list_notifications(info.context.session, actor=self.actor, first=limit)
        ]

    @strawberry.field
    async def family_links(self, info: Info) -> list[FamilyLink]:
        rows = await accounts.list_family_links(info.context.session, actor=self.actor)
        return [FamilyLink(row=r, viewer_id=self.actor.person_id) for r in rows]

    @strawberry.field
    def language(self, info: Info) -> str:
        return info.context.language


@strawberry.type
class LoginCard:
    row: strawberry.Private[LoginCardRow]

    @strawberry.field
    def id(self) -> strawberry.ID:
        return encode_id(self.row.id)

    @strawberry.field
    def person_id(self) -> strawberry.ID:
        return encode_id(self.row.person_id)

    @strawberry.field
    def created_at(self) -> datetime:
        return as_utc(self.row.created_at)

    @strawberry.field
    def expires_at(self) -> datetime:
        return as_utc(self.row.expires_at)

    @strawberry.field
    def used_at(self) -> datetime | None:
        return as_utc(self.row.used_at) if self.row.used_at else None

    @strawberry.field
    def revoked_at(self) -> datetime | None:
        return as_utc(self.row.revoked_at) if self.row.revoked_at else None


# --- payloads and errors -----------------------------------------------------------------------------


@strawberry.type
class LoginError(Error):
    pass


@strawberry.type
class LoginCodeSent:
    masked_phone: str
    expires_in_seconds: int
    resend_after_seconds: int


@strawberry.type
class LoggedIn:
    viewer: Viewer
    token: str | None = strawberry.field(description="Only for BEARER sessions.")
    expires_at: datetime


@strawberry.type
class LoggedOut:
    sessions_ended: int


@strawberry.type
class PreferencesError(Error):
    pass


@strawberry.type
class PreferencesUpdated:
    viewer: Viewer


@strawberry.type
class FamilyLinkError(Error):
    pass


@strawberry.type
class FamilyLinkRequested:
    message: str


@strawberry.type
class FamilyLinkUpdated:
    link: FamilyLink


@strawberry.type
class LoginCardError(Error):
    pass


@strawberry.type
class LoginCardIssued:
    card: LoginCard
    url: str
    qr_svg: str = strawberry.field(description="The QR code of the URL as an SVG document.")
    person_name: str
    address: str


def card_issued(
    info: Info, card: LoginCardRow, token: str, *, person_name: str, address: str
) -> LoginCardIssued:
    """A printable card: the link the QR code holds, drawn the same way for one card or a sheet of them."""
    url = f"{info.context.settings.public_url.rstrip('/')}/card/{token}"
    return LoginCardIssued(
        card=LoginCard(row=card),
        url=url,
        qr_svg=segno.make(url, error="m").svg_inline(scale=6, border=2, title=person_name),
        person_name=person_name,
        address=address,
    )


@strawberry.type
class LoginCardRevoked:
    card: LoginCard


@strawberry.type
class NotificationsRead:
    unread: int


RequestLoginCodeResult = Annotated[LoginCodeSent | LoginError, strawberry.union("RequestLoginCodeResult")]
LoginResult = Annotated[LoggedIn | LoginError, strawberry.union("LoginResult")]
PreferencesResult = Annotated[PreferencesUpdated | PreferencesError, strawberry.union("PreferencesResult")]
FamilyLinkRequestResult = Annotated[
    FamilyLinkRequested | FamilyLinkError, strawberry.union("FamilyLinkRequestResult")
]
FamilyLinkResult = Annotated[FamilyLinkUpdated | FamilyLinkError, strawberry.union("FamilyLinkResult")]
IssueLoginCardResult = Annotated[LoginCardIssued | LoginCardError, strawberry.union("IssueLoginCardResult")]
RevokeLoginCardResult = Annotated[
    LoginCardRevoked | LoginCardError, strawberry.union("RevokeLoginCardResult")
]


async def _start_session(info: Info, person: PersonModel, kind: SessionKind, method: str) -> LoggedIn:
    context = info.context
    if context.actor.session_id is not None:
        await accounts.do_logout(context.session, actor=context.actor)
    new = await accounts.do_start_session(
        context.session,
        settings=context.settings,
        person=person,
        kind=kind.value,
        method=method,
        user_agent=context.actor.user_agent,
    )
    if kind is SessionKind.COOKIE:
        context.set_cookie(SESSION_COOKIE, new.token, new.max_age_seconds)
        # A fresh CSRF token with every login: one planted or read before it (login CSRF) is worth nothing after.
        context.set_cookie(CSRF_COOKIE, secrets.token_urlsafe(24), new.max_age_seconds)
    actor = Actor(
        person=person,
        grants=await accounts.live_grants(context.session, person.id),
        session_id=new.record.id,
        session_kind=kind.value,
        client_ip=context.actor.client_ip,
        user_agent=context.actor.user_agent,
    )
    context.actor = actor
    return LoggedIn(
        viewer=Viewer(actor=actor),
        token=new.token if kind is SessionKind.BEARER else None,
        expires_at=as_utc(new.record.expires_at),
    )


@strawberry.type
class AccountsQuery:
    @strawberry.field
    def viewer(self, info: Info) -> Viewer:
        return Viewer(actor=info.context.actor)

    @strawberry.field(description="Demo mode only: the people a visitor can log in as with one tap.")
    def demo_people(self, info: Info) -> list[DemoPerson]:
        if not info.context.settings.is_demo:
            return []
        return [
            DemoPerson(
                phone=national(p.phone),
                name=p.name,
                role=p.role,
                description=i18n.gettext(p.description, info.context.language),
            )
            for p in accounts.DEMO_PEOPLE
        ]

    @strawberry.field(permission_classes=[IsStaff], description="Login cards printed for a household.")
    async def login_cards(self, info: Info, household_id: strawberry.ID) -> list[LoginCard]:
        household = await estates.access_household_as_steward(
            info.context.session, actor=info.context.actor, household_id=decode_id(household_id)
        )
        return [
            LoginCard(row=c)
            for c in await accounts.list_login_cards(info.context.session, household_id=household.id)
        ]


P = TypeVar("P")


async def _without_mistakes(info: Info, work: Callable[[], Awaitable[P]]) -> P:
    """A mutation whose payload is no union (its service refuses nothing as a user mistake) ends its unit of
    work at the same boundary as the others: committed, its events published after the commit."""
    result = await mutation_boundary(info, Error, work)
    if isinstance(result, Error):  # a service that starts refusing needs an error payload in the schema first
        raise TypeError(f"unexpected user mistake: {result.message}")
    return result


@strawberry.type
class AccountsMutation:
    @strawberry.mutation(
        description="Text a 6-digit login code. The answer never tells whether a number is registered."
    )
    async def request_login_code(self, info: Info, phone: str) -> RequestLoginCodeResult:
        context = info.context

        async def work() -> LoginCodeSent:
            await accounts.do_request_login_code(
                context.session,
                settings=context.settings,
                sms=context.sms,
                phone=phone,
                client_ip=context.actor.client_ip,
            )
            return LoginCodeSent(
                masked_phone=mask_phone(normalise_phone(phone)),
                expires_in_seconds=context.settings.login_code_minutes * 60,
                resend_after_seconds=int(accounts.RESEND_AFTER.total_seconds()),
            )

        return await mutation_boundary(info, LoginError, work)

    @strawberry.mutation
    async def login_with_code(
        self, info: Info, phone: str, code: str, session_kind: SessionKind = SessionKind.COOKIE
    ) -> LoginResult:
        context = info.context

        async def work() -> LoggedIn:
            person = await accounts.do_login_with_code(
                context.session, settings=context.settings, phone=phone, code=code, actor=context.actor
            )
            return await _start_session(info, person, session_kind, "code")

        return await mutation_boundary(info, LoginError, work)

    @strawberry.mutation(description="Staff log in with phone and password.")
    async def login_with_password(
        self, info: Info, phone: str, password: str, session_kind: SessionKind = SessionKind.COOKIE
    ) -> LoginResult:
        context = info.context

        async def work() -> LoggedIn:
            await accounts.check_password_rate(
                context.session, client_ip=context.actor.client_ip, settings=context.settings
            )
            person = await accounts.do_login_with_password(
                context.session, phone=phone, password=password, actor=context.actor
            )
            return await _start_session(info, person, session_kind, "password")

        return await mutation_boundary(info, LoginError, work)

    @strawberry.mutation(description="Log in with the token of a printed household login card (single use).")
    async def login_with_card(
        self, info: Info, token: str, session_kind: SessionKind = SessionKind.COOKIE
    ) -> LoginResult:
        context = info.context

        async def work() -> LoggedIn:
            person = await accounts.do_login_with_card(context.session, token=token, actor=context.actor)
            return await _start_session(info, person, session_kind, "card")

        return await mutation_boundary(info, LoginError, work)

    @strawberry.mutation(description="Demo mode only: log in as one of the listed demo people.")
    async def login_as_demo_person(
        self, info: Info, phone: str, session_kind: SessionKind = SessionKind.COOKIE
    ) -> LoginResult:
        context = info.context

        async def work() -> LoggedIn:
            person = await accounts.do_login_as_demo(
                context.session, settings=context.settings, phone=phone, actor=context.actor
            )
            return await _start_session(info, person, session_kind, "demo")

        return await mutation_boundary(info, LoginError, work)

    @strawberry.mutation(permission_classes=[IsAuthenticated])
    async def logout(self, info: Info) -> LoggedOut:
        context = info.context

        async def work() -> LoggedOut:
            await accounts.do_logout(context.session, actor=context.actor)
            return LoggedOut(sessions_ended=1)

        result = await _without_mistakes(info, work)
        context.delete_cookie(SESSION_COOKIE)
        return result

    @strawberry.mutation(
        permission_classes=[IsAuthenticated], description="End every session of mine, on every phone."
    )
    async def logout_everywhere(self, info: Info) -> LoggedOut:
        context = info.context

        async def work() -> LoggedOut:
            ended = await accounts.do_logout_everywhere(context.session, actor=context.actor)
            return LoggedOut(sessions_ended=ended)

        result = await _without_mistakes(info, work)
        context.delete_cookie(SESSION_COOKIE)
        return result

    @strawberry.mutation(permission_classes=[IsAuthenticated])
    async def update_preferences(
        self,
        info: Info,
        language: str | None = None,
        text_size: TextSize | None = None,  # type: ignore[valid-type]
        ui_mode: UiMode | None = None,  # type: ignore[valid-type]
        name: str | None = None,
    ) -> PreferencesResult:
        context = info.context

        async def work() -> PreferencesUpdated:
            await accounts.do_update_preferences(
                context.session,
                actor=context.actor,
                language=language,
                text_size=text_size.value if text_size else None,
                ui_mode=ui_mode.value if ui_mode else None,
                name=name,
            )
            if language:
                context.language = i18n.valid_language(language) or context.language
            return PreferencesUpdated(viewer=Viewer(actor=context.actor))

        return await mutation_boundary(info, PreferencesError, work)

    @strawberry.mutation(
        permission_classes=[IsAuthenticated],
        description="Ask to follow the household of the resident with this phone; they accept on their phone.",
    )
    async def request_family_link(
        self, info: Info, phone: str, relation: str = ""
    ) -> FamilyLinkRequestResult:
        context = info.context

        async def work() -> FamilyLinkRequested:
            await accounts.do_request_family_link(
                context.session, actor=context.actor, phone=phone, relation=relation
            )
            return FamilyLinkRequested(
                message=i18n.gettext(
                    "If this number belongs to a resident, they will see your request on their phone.",
                    context.language,
                )
            )

        return await mutation_boundary(info, FamilyLinkError, work)

    @strawberry.mutation(permission_classes=[IsAuthenticated])
    async def respond_family_link(self, info: Info, id: strawberry.ID, accept: bool) -> FamilyLinkResult:
        context = info.context

        async def work() -> FamilyLinkUpdated:
            link = await accounts.do_respond_family_link(
                context.session, actor=context.actor, link_id=decode_id(id), accept=accept
            )
            return FamilyLinkUpdated(link=FamilyLink(row=link, viewer_id=context.actor.person_id))

        return await mutation_boundary(info, FamilyLinkError, work)

    @strawberry.mutation(permission_classes=[IsAuthenticated])
    async def remove_family_link(self, info: Info, id: strawberry.ID) -> FamilyLinkResult:
        context = info.context

        async def work() -> FamilyLinkUpdated:
            link = await accounts.do_remove_family_link(
                context.session, actor=context.actor, link_id=decode_id(id)
            )
            return FamilyLinkUpdated(link=FamilyLink(row=link, viewer_id=context.actor.person_id))

        return await mutation_boundary(info, FamilyLinkError, work)

    @strawberry.mutation(permission_classes=[IsAuthenticated])
    async def mark_notifications_read(self, info: Info) -> NotificationsRead:
        context = info.context

        async def work() -> NotificationsRead:
            await accounts.do_mark_notifications_read(context.session, actor=context.actor)
            return NotificationsRead(unread=0)

        return await _without_mistakes(info, work)

    @strawberry.mutation(
        permission_classes=[IsStaff], description="Print a QR card that logs a resident in once."
    )
    async def issue_login_card(
        self, info: Info, household_id: strawberry.ID, person_id: strawberry.ID
    ) -> IssueLoginCardResult:
        context = info.context
        household = await estates.access_household_as_steward(
            context.session, actor=context.actor, household_id=decode_id(household_id)
        )

        async def work() -> LoginCardIssued:
            issued = await accounts.do_issue_login_card(
                context.session,
                settings=context.settings,
                actor=context.actor,
                household=household,
                person_id=decode_id(person_id),
            )
            person = await context.session.get(PersonModel, issued.card.person_id)
            address = await Household(row=household).address(info)
            return card_issued(info, issued.card, issued.token, person_name=person.name, address=address)

        return await mutation_boundary(info, LoginCardError, work)

    @strawberry.mutation(permission_classes=[IsStaff])
    async def revoke_login_card(self, info: Info, id: strawberry.ID) -> RevokeLoginCardResult:
        context = info.context
        card = await context.session.get(LoginCardRow, decode_id(id))
        if card is None:
            raise NotFound()
        await estates.access_household_as_steward(
            context.session, actor=context.actor, household_id=card.household_id
        )

        async def work() -> LoginCardRevoked:
            return LoginCardRevoked(
                card=LoginCard(
                    row=await accounts.do_revoke_login_card(context.session, actor=context.actor, card=card)
                )
            )

        return await mutation_boundary(info, LoginCardError, work)


# A notice to a community wakes every live phone there at once: their counts come from one query.
UNREAD = Gathered(accounts.unread_counts, missing=0)


@strawberry.type
class AccountsSubscription:
    @strawberry.subscription(
        description="The viewer's unread notifications count, now and whenever it changes."
    )
    async def unread_notifications(self, info: Info) -> AsyncGenerator[int, None]:
        context = info.context
        if not context.actor.is_authenticated:
            raise NotFound()
        person_id = context.actor.person_id
        async with listen(context.pubsub, accounts.notification_channels(context.actor)) as wake:
            while True:
                yield await UNREAD.get(context.sessionmaker, person_id)
                await wake.get()
