"""The typed per-request Context: settings, database session, actor, loaders, pub/sub."""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from fastapi import Request, Response
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession
from strawberry.dataloader import DataLoader
from strawberry.fastapi import BaseContext
from strawberry.types import Info as StrawberryInfo

from laoyou.accounts.actor import ANONYMOUS, Actor
from laoyou.accounts.sms import SmsSender
from laoyou.core import events
from laoyou.core.pubsub import PubSub
from laoyou.core.settings import Settings
from laoyou.estates import loaders as estate_loaders

SESSION_COOKIE = "laoyou_session"
CSRF_COOKIE = "laoyou_csrf"
LANGUAGE_COOKIE = "laoyou_lang"


def _shared(loader: DataLoader, pending: set[asyncio.Future]) -> DataLoader:
    """Each caller awaits its own shield of the cached future. GraphQL cancels a resolver when a non-null
    sibling fails; awaiting the shared future directly would cancel it for every other resolver too, and
    their CancelledError would end the whole request. The futures not yet settled are kept in `pending`, so
    that the request's end can cancel them (the shields keep them from ever being cancelled otherwise)."""
    load, this = type(loader).load, weakref.ref(loader)  # weakly: a bound method here would be a cycle

    def shared_load(key: Any) -> Any:
        future = load(this(), key)
        if not future.done() and future not in pending:
            pending.add(future)
            future.add_done_callback(pending.discard)
        return asyncio.shield(future)

    loader.load = shared_load  # type: ignore[method-assign]
    return loader


class Loaders:
    """Every DataLoader, made on first use within one request."""

    def __init__(self, session: AsyncSession, actor: Callable[[], Actor] | None = None) -> None:
        self._session = session
        self._actor = actor or (lambda: ANONYMOUS)  # read when a batch runs: a login may change it
        self._made: dict[str, DataLoader] = {}
        self._pending: set[asyncio.Future] = set()

    def cancel_pending(self) -> None:
        """Cancel the loads nobody will wait for any more (their request is over), so that their batches are
        skipped instead of reading, and writing audit lines, for nobody."""
        for future in list(self._pending):
            future.cancel()

    def forget(self) -> None:
        """Drop what the loaders have read, after a change committed: its payload, and a page's next operation
        (a page runs several on one context), read what it changed, not a count or ballot from before it."""
        for loader in self._made.values():
            loader.clear_all()

    def _get(self, factory: Any, *needs: DataLoader) -> DataLoader:
        name = factory.__name__
        if name not in self._made:
            self._made[name] = _shared(factory(self._session, *needs), self._pending)
        return self._made[name]

    @property
    def district_by_id(self) -> DataLoader:
        return self._get(estate_loaders.DistrictByIdLoader)

    @property
    def community_by_id(self) -> DataLoader:
        return self._get(estate_loaders.CommunityByIdLoader)

    @property
    def building_by_id(self) -> DataLoader:
        return self._get(estate_loaders.BuildingByIdLoader)

    @property
    def unit_by_id(self) -> DataLoader:
        return self._get(estate_loaders.UnitByIdLoader)

    @property
    def household_by_id(self) -> DataLoader:
        return self._get(estate_loaders.HouseholdByIdLoader)

    @property
    def household_by_unit(self) -> DataLoader:
        return self._get(estate_loaders.HouseholdByUnitLoader, self._actor)

    @property
    def attached_communities_by_host(self) -> DataLoader:
        return self._get(estate_loaders.AttachedCommunitiesByHostLoader)

    @property
    def community_stats_by_id(self) -> DataLoader:
        return self._get(estate_loaders.CommunityStatsByIdLoader)

    @property
    def stewards_by_community(self) -> DataLoader:
        return self._get(estate_loaders.StewardsByCommunityLoader, self.community_by_id)

    @property
    def members_by_household(self) -> DataLoader:
        return self._get(estate_loaders.MembersByHouseholdLoader, self._actor)

    @property
    def family_by_household(self) -> DataLoader:
        return self._get(estate_loaders.FamilyByHouseholdLoader, self._actor)

    @property
    def bill_by_id(self) -> DataLoader:
        from laoyou.billing import loaders as billing_loaders

        return self._get(billing_loaders.BillByIdLoader)

    @property
    def fee_plan_by_id(self) -> DataLoader:
        from laoyou.billing import loaders as billing_loaders

        return self._get(billing_loaders.FeePlanByIdLoader)

    @property
    def fee_plan_items_by_plan(self) -> DataLoader:
        from laoyou.billing import loaders as billing_loaders

        return self._get(billing_loaders.FeePlanItemsByPlanLoader)

    @property
    def refunds_by_payment(self) -> DataLoader:
        from laoyou.billing import loaders as billing_loaders

        return self._get(billing_loaders.RefundsByPaymentLoader)

    @property
    def waiting_payments_by_household(self) -> DataLoader:
        from laoyou.billing import loaders as billing_loaders

        return self._get(billing_loaders.WaitingPaymentsByHouseholdLoader)

    @property
    def person_name_by_id(self) -> DataLoader:
        from laoyou.billing import loaders as billing_loaders

        return self._get(billing_loaders.PersonNameByIdLoader)

    @property
    def briefing_media(self) -> DataLoader:
        from laoyou.briefings import loaders as briefing_loaders

        return self._get(briefing_loaders.BriefingMediaByBriefingLoader)

    @property
    def briefing_audience(self) -> DataLoader:
        from laoyou.briefings import loaders as briefing_loaders

        return self._get(briefing_loaders.BriefingAudienceByBriefingLoader)

    @property
    def briefing_marks(self) -> DataLoader:
        from laoyou.briefings import loaders as briefing_loaders

        return self._get(briefing_loaders.BriefingMarksByPersonLoader)

    @property
    def disclosure_lines(self) -> DataLoader:
        from laoyou.governance.disclosures import loaders as disclosure_loaders

        return self._get(disclosure_loaders.DisclosureLinesLoader)

    @property
    def disclosure_invoices(self) -> DataLoader:
        from laoyou.governance.disclosures import loaders as disclosure_loaders

        return self._get(disclosure_loaders.DisclosureInvoicesLoader)

    @property
    def person_by_id(self) -> DataLoader:
        from laoyou.support import loaders as support_loaders

        return self._get(support_loaders.PersonByIdLoader)

    @property
    def media_file_by_id(self) -> DataLoader:
        from laoyou.support import loaders as support_loaders

        return self._get(support_loaders.MediaFileByIdLoader)

    @property
    def sos_resident_phone(self) -> DataLoader:
        from laoyou.support import loaders as support_loaders

        return self._get(support_loaders.SosResidentPhoneLoader, self._actor)

    @property
    def work_order_attachments(self) -> DataLoader:
        from laoyou.tickets import loaders as ticket_loaders

        return self._get(ticket_loaders.AttachmentsByWorkOrderLoader)

    @property
    def work_order_events(self) -> DataLoader:
        from laoyou.tickets import loaders as ticket_loaders

        return self._get(ticket_loaders.EventsByWorkOrderLoader)

    @property
    def ticket_person_by_id(self) -> DataLoader:
        from laoyou.tickets import loaders as ticket_loaders

        return self._get(ticket_loaders.TicketPersonByIdLoader)

    @property
    def vote_tally(self) -> DataLoader:
        from laoyou.governance.votes import loaders as vote_loaders

        return self._get(vote_loaders.VoteTallyByVoteLoader, self._actor)

    @property
    def my_vote_ballots(self) -> DataLoader:
        from laoyou.governance.votes import loaders as vote_loaders

        return self._get(vote_loaders.MyBallotsByVoteLoader, self._actor)

    @property
    def vote_households(self) -> DataLoader:
        from laoyou.governance.votes import loaders as vote_loaders

        return self._get(vote_loaders.VoteHouseholdsByVoteLoader, self._actor)


class RequestClosed(RuntimeError):
    """Work that outlived its request asked for the request's database session."""

    def __init__(self) -> None:
        super().__init__("the request is over: its database session is closed")


@dataclass
class PendingCookie:
    name: str
    value: str
    max_age: int | None  # None deletes it


class Context(BaseContext):
    def __init__(
        self,
        *,
        settings: Settings,
        sessionmaker: async_sessionmaker[AsyncSession],
        pubsub: PubSub,
        sms: SmsSender,
        actor: Actor,
        language: str,
        request: Request | None = None,
        response: Response | None = None,
        session: AsyncSession | None = None,
        session_token: str | None = None,
    ) -> None:
        super().__init__()
        self.settings = settings
        self.sessionmaker = sessionmaker
        self.pubsub = pubsub
        self.sms = sms
        self.actor = actor
        self.language = language
        self.request = request
        self.response = response
        self._session = session
        # The token the actor was resolved from: a WebSocket reads its session again when the account changes.
        self.session_token = session_token
        self._closed = False
        self.cookies: list[PendingCookie] = []

    @property
    def session(self) -> AsyncSession:
        if self._session is None:
            if self._closed:  # work that outlived its request must not open a session nobody would close
                raise RequestClosed()
            self._session = self.sessionmaker()
        return self._session

    @cached_property
    def loaders(self) -> Loaders:
        # Weakly: a closure over the context, kept by the context, is a cycle only the cycle collector frees,
        # and with it the request's session, loaders and everything they cached.
        context = weakref.ref(self)
        return Loaders(self.session, lambda: getattr(context(), "actor", ANONYMOUS))

    async def commit(self) -> None:
        """The request boundary: commit what the services flushed, then publish their events."""
        await events.commit_and_publish(self.session, self.pubsub)

    async def rollback(self) -> None:
        await events.rollback(self.session)

    def forget_reads(self) -> None:
        """After a change ends (committed or rolled back), what the loaders read before it may be stale."""
        if "loaders" in self.__dict__:
            self.loaders.forget()

    async def close(self) -> None:
        """End the request's unit of work: roll back what was not committed and give the connection back."""
        self._closed = True
        if "loaders" in self.__dict__:
            self.loaders.cancel_pending()
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    def set_cookie(self, name: str, value: str, max_age: int) -> None:
        self.cookies.append(PendingCookie(name, value, max_age))

    def delete_cookie(self, name: str) -> None:
        self.cookies.append(PendingCookie(name, "", None))

    def apply_cookies(self, response: Response) -> None:
        for cookie in self.cookies:
            if cookie.max_age is None:
                response.delete_cookie(cookie.name, path="/")
            else:
                response.set_cookie(
                    cookie.name,
                    cookie.value,
                    max_age=cookie.max_age,
                    httponly=cookie.name == SESSION_COOKIE,
                    samesite="lax",
                    secure=self.settings.cookie_secure,
                    path="/",
                )
        self.cookies.clear()


Info = StrawberryInfo[Context, None]
