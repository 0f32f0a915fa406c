"""Isolation through the PWA's pages: no route shows or changes anything of another community.

Every route of the app (each path and method in app.routes) is requested by the strangers of
test_isolation.py, aimed at the target's objects: its ids in the path, the query or the form. The answer must
hold nothing of the target (its marked text, names, phones, addresses), no table may change but the
attacker's own rows, a request that names the target's things answers 404 to a stranger who is logged in
(as if they did not exist), and a page that needs a login sends an anonymous visitor to /login (or refuses
with 401, 403 or 404).

ROUTES holds an entry for every route; a route without one fails the test, so a new page is aimed too.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import count
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute
from starlette.routing import Mount

from laoyou.core.phone import mask_phone
from laoyou.core.time import utcnow
from laoyou.estates.importing import template_csv
from laoyou.graphql.router import LaoyouGraphQLRouter

from ..accounts.helpers import login_new_person
from ..conftest import GraphQLClient, login_demo
from ..tickets.helpers import jpeg
from .test_isolation import (  # noqa: F401  (quiet and written_tables are fixtures)
    ATTACKS,
    NOT_SNAPSHOTTED,
    TABLES,
    Target,
    changed_rows,
    leaks,
    ok,
    prepare_target,
    quiet,
    rows_by_key,
    rows_of,
    snapshot,
    uid_phone,
    written_tables,
)

CSRF = "isolation-csrf-token"
PHOTO = ("p.jpg", jpeg(), "image/jpeg")
_unique = count(1)


def uid(prefix: str = "iso-page") -> str:
    return f"{prefix}-{next(_unique)}"


# --- what the target has besides test_isolation's objects -------------------------------------------------------


def more_of_the_target(gql: GraphQLClient, app: Any, db: Any) -> Callable[[Target], Any]:
    """A pending sandbox payment, an upload of the resident's, and a briefing with a photo (made before the
    target's text is marked, so the briefing's title is marked too)."""

    async def make(t: Target) -> None:
        resident = await login_demo(gql, t.resident_phone)
        steward = await login_demo(gql, t.steward_phone)
        # A bill with something owed (a community in its trial phase bills nothing), paid by its own resident
        bill, grant = TABLES["bill"].c, TABLES["role_grant"].c
        homes = {
            row["household_id"]: row for row in await rows_of(db, "role_grant", grant.role == "resident")
        }
        owed = next(
            row
            for row in await rows_of(
                db, "bill", bill.community_id.in_(t.community_ids), bill.status == "open", bill.amount_fen > 0
            )
            if row["household_id"] in homes
        )
        home = homes[owed["household_id"]]
        person = (await rows_of(db, "person", TABLES["person"].c.id == home["person_id"]))[0]
        payer = await login_new_person(gql, app, person["phone"][3:])
        paid = await ok(
            payer,
            """mutation ($b: [ID!]!, $k: String!) { payBills(billIds: $b, idempotencyKey: $k,
            method: sandbox) { ... on PaymentSaved { payment { id payUrl } } ... on Error { code message } } }""",
            {"b": [str(owed["id"])], "k": uid()},
            "payBills",
        )
        t.ids["pending_payment_id"] = paid["payment"]["id"]
        t.ids["out_trade_no"] = paid["payment"]["payUrl"].rsplit("/", 1)[1]
        t.ids["media_id"] = await upload(resident, t.community_id)
        photo = await upload(steward, t.community_id)
        briefing = await ok(
            steward,
            """mutation ($input: BriefingInput!) { createBriefing(input: $input, mode: NOW) {
            ... on BriefingSaved { briefing { id } } ... on Error { code message } } }""",
            {"input": {"communityIds": [t.community_id], "title": "今日简报", "photoIds": [photo]}},
            "createBriefing",
        )
        t.ids["photo_briefing_id"] = briefing["briefing"]["id"]
        t.ids["briefing_media_id"] = photo

    return make


async def upload(client: GraphQLClient, community_id: str) -> str:
    response = await client.http.post(
        "/media",
        data={"community_id": community_id},
        files={"file": PHOTO},
        headers={"Authorization": f"Bearer {client.token}"},
    )
    assert response.status_code == 201, response.text
    return response.json()["id"]


# --- the registry --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Aim:
    """One request: path parameters, query and (for POST) form fields; the CSRF token is added."""

    path: dict[str, str] = field(default_factory=dict)
    query: dict[str, str] = field(default_factory=dict)
    form: dict[str, Any] = field(default_factory=dict)
    files: dict[str, tuple] | None = None
    body: bytes | None = None  # sent as is instead of a form

    def names_target(self) -> bool:
        return bool(self.path or self.query or self.form or self.files or self.body)


@dataclass(frozen=True)
class Page:
    """How to aim one route at the target."""

    aims: Callable[[Target], Aim | list[Aim]] = lambda t: Aim()
    # Anyone may open it (the login pages, the shell): an anonymous visitor is not sent to /login.
    public: bool = False
    # What a logged-in stranger gets when the request names the target's things; None where the answer is
    # about the stranger's own things and differs by role (their own preferences, say).
    stranger: int | None = 404
    own_tables: frozenset[str] = frozenset()  # the attacker's own rows may change (their preferences…)
    by_design: frozenset[str] = frozenset()  # tables that change in the target by design (say why)
    echoes: Callable[[Target], set[str]] = lambda t: set()  # what of the target the answer repeats back
    ends_session: bool = False


def P(aims=lambda t: Aim(), **kw) -> Page:  # noqa: ANN001, ANN003, N802
    return Page(aims=aims, **kw)


def phones_of(*numbers: str) -> set[str]:
    """A national number as the pages may show it back."""
    return {f for n in numbers for f in (n, mask_phone("+86" + n), f"{n[:3]} {n[3:7]} {n[7:]}")}


def open_data(t: Target) -> set[str]:
    """What Open311 publishes of the target's work orders: their words (marked here) and communities' names."""
    return {t.spec.marker, *t.spec.communities}


def demo_logins(t: Target) -> set[str]:
    """The demo people's names, phones and homes, which demo mode's login page lists."""
    return set(t.sensitive) - {t.spec.marker}


ORDER_ACTIONS = (
    "assign",
    "grab",
    "accept",
    "start",
    "finish",
    "note",
    "transfer",
    "release",
    "confirm",
    "reopen",
    "cancel",
    "escalate",
    "return_visit",
)

ROUTES: dict[tuple[str, str], Page] = {
    ("GET", "/healthz"): P(public=True),
    # For the operator's machines: whether it can serve, and /metrics (this machine or the token's holder only)
    ("GET", "/readyz"): P(public=True),
    ("GET", "/metrics"): P(public=True),
    # --- media
    ("POST", "/media"): P(lambda t: Aim(form={"community_id": t.community_id}, files={"file": PHOTO})),
    ("GET", "/media/{media_id}"): P(
        lambda t: [Aim({"media_id": t.media_id}), Aim({"media_id": t.briefing_media_id})]
    ),
    ("GET", "/media/{media_id}/thumb"): P(
        lambda t: [Aim({"media_id": t.media_id}), Aim({"media_id": t.briefing_media_id})]
    ),
    # --- work orders
    ("GET", "/repairs/new"): P(),
    ("POST", "/repairs"): P(
        lambda t: [
            Aim(
                form={
                    "client_id": uid(),
                    "kind": "repair",
                    "category": "water",
                    "source": "app",
                    "place": "unit",
                    "urgency": "normal",
                    "description": "伪造",
                    "household_id": t.household_id,
                },
                files={"photos": PHOTO},
            ),
            Aim(
                form={
                    "client_id": uid(),
                    "kind": "repair",
                    "category": "water",
                    "source": "phone",
                    "place": "common",
                    "urgency": "normal",
                    "description": "伪造",
                    "community_id": t.community_id,
                },
                files={"photos": PHOTO},
            ),
        ]
    ),
    ("GET", "/repairs"): P(),
    ("GET", "/orders/{order_id}"): P(lambda t: Aim({"order_id": t.work_order_id})),
    ("POST", "/orders/{order_id}/{action}"): P(
        lambda t: [
            Aim(
                {"order_id": t.work_order_id, "action": action},
                form={"note": "伪造", "assignee_id": t.steward_id, "rating": "1", "comment": "伪造"},
                files={"photos": PHOTO},
            )
            for action in ORDER_ACTIONS
        ]
    ),
    ("GET", "/work"): P(),
    ("GET", "/board"): P(
        lambda t: [
            Aim(query={"district": t.district_id}),
            Aim(query={"district": t.district_id, "community": t.community_id}),
        ]
    ),
    ("GET", "/board/figures"): P(
        lambda t: Aim(query={"district": t.district_id, "community": t.community_id})
    ),
    ("GET", "/board/staff"): P(lambda t: Aim(query={"district": t.district_id})),
    ("POST", "/board/staff/{person_id}"): P(
        lambda t: Aim(
            {"person_id": t.steward_id},
            query={"district": t.district_id},
            form={"skills": ["plumbing"], "communities": [t.community_id], "on_duty": "on"},
        )
    ),
    # --- customer service
    ("GET", "/support"): P(),
    ("POST", "/support/send"): P(
        lambda t: [
            Aim(form={"client_id": uid(), "body": "伪造", "conversation_id": t.conversation_id}),
            Aim(form={"client_id": uid(), "body": "伪造", "household_id": t.household_id}),
            Aim(
                form={"client_id": uid(), "body": "伪造", "conversation_id": t.conversation_id},
                query={"back": "staff"},
            ),
            Aim(
                form={"client_id": uid(), "body": "伪造", "community_id": t.community_id},
                files={"photo": PHOTO},
            ),
        ]
    ),
    ("POST", "/support/{cid}/rate"): P(lambda t: Aim({"cid": t.conversation_id}, form={"stars": "1"})),
    ("POST", "/support/{cid}/close"): P(lambda t: Aim({"cid": t.conversation_id})),
    ("POST", "/support/steward-call"): P(lambda t: Aim(form={"household_id": t.household_id})),
    ("GET", "/support/sos"): P(),
    ("POST", "/support/sos"): P(lambda t: Aim(form={"household_id": t.household_id, "client_id": uid()})),
    ("GET", "/support/sos/{sid}"): P(lambda t: Aim({"sid": t.sos_id})),
    ("POST", "/support/sos/{sid}/cancel"): P(
        lambda t: [Aim({"sid": t.sos_id}), Aim({"sid": t.sos_id}, form={"confirm": "1"})]
    ),
    ("POST", "/support/call"): P(
        lambda t: [
            Aim(form={"conversation_id": t.conversation_id}),
            Aim(form={"conversation_id": t.conversation_id, "to": "steward"}),
        ]
    ),
    ("GET", "/support/call/{call_id}"): P(lambda t: Aim({"call_id": t.call_id})),
    ("POST", "/support/call/{call_id}/{action}"): P(
        lambda t: [
            Aim({"call_id": t.call_id, "action": "answer"}),
            Aim({"call_id": t.call_id, "action": "hangup"}),
        ]
    ),
    ("GET", "/staff/support"): P(),
    # An agent's own availability: their own row only.
    ("POST", "/staff/support/status"): P(
        lambda t: Aim(form={"online": "1"}), stranger=None, own_tables=frozenset({"support_agent_status"})
    ),
    ("GET", "/staff/support/{cid:int}"): P(lambda t: Aim({"cid": t.conversation_id})),
    ("POST", "/staff/support/{cid:int}/{action}"): P(
        lambda t: [
            Aim({"cid": t.conversation_id, "action": action}, form={"to": t.steward_id, "category": "water"})
            for action in ("claim", "transfer", "close", "work-order")
        ]
    ),
    ("GET", "/staff/support/faq"): P(),
    ("POST", "/staff/support/faq"): P(
        lambda t: [
            Aim(form={"id": t.faq_id, "question": "伪造", "answer": "伪造", "keywords": ""}),
            Aim(form={"district_id": t.district_id, "question": "伪造", "answer": "伪造", "keywords": ""}),
        ]
    ),
    ("POST", "/staff/support/faq/{fid}/delete"): P(lambda t: Aim({"fid": t.faq_id})),
    ("GET", "/staff/support/figures"): P(),
    ("GET", "/staff/support/sos/{sid}"): P(lambda t: Aim({"sid": t.sos_id})),
    ("POST", "/staff/support/sos/{sid}"): P(
        lambda t: [Aim({"sid": t.sos_id}), Aim({"sid": t.sos_id}, form={"resolve": "1"})]
    ),
    # --- billing
    # Refusals are logged (a bounded log of the attacker's own posts), never anything of the target's.
    ("POST", "/billing/notify/{provider}"): P(
        lambda t: [Aim({"provider": p}, body=b'{"id": "forged"}') for p in ("sandbox", "wechat", "alipay")],
        public=True,
        stranger=None,
        own_tables=frozenset({"refused_notification"}),
    ),
    # --- voice call reports: the providers post them to a URL holding LAOYOU_VOICE_CALLBACK_TOKEN; a forged
    # token gets 404 and changes nothing (a call of the target's is named by its provider's call id only).
    ("POST", "/reach/voice/aliyun/{token}"): P(
        lambda t: Aim(
            {"token": "forged-voice-token"},
            body=b'[{"call_id": "1^2", "status_code": "300000", "dtmf": "1"}]',
        ),
        public=True,
    ),
    ("POST", "/reach/voice/tencent/{token}"): P(
        lambda t: Aim(
            {"token": "forged-voice-token"}, body=b'{"voicekey_callback": {"callid": "c-1", "keypress": "1"}}'
        ),
        public=True,
    ),
    # --- Open311 (open data): anyone reads the work orders' category, status, words, community and building, by
    # design; names, phones and units only with an integration key (tests/governance/test_open311.py). Filing
    # needs a key: without one it is refused with the spec's 403 and changes nothing.
    ("GET", "/open311/v2/services.{fmt}"): P(
        lambda t: [Aim({"fmt": f}) for f in ("json", "xml")], public=True, stranger=None
    ),
    ("GET", "/open311/v2/requests.{fmt}"): P(
        lambda t: (
            [Aim({"fmt": f}) for f in ("json", "xml")]
            + [Aim({"fmt": "json"}, query={"service_request_id": t.work_order_id})]
        ),
        public=True,
        stranger=None,
        echoes=open_data,
    ),
    ("GET", "/open311/v2/requests/{request_id}.{fmt}"): P(
        lambda t: [Aim({"request_id": t.work_order_id, "fmt": f}) for f in ("json", "xml")],
        public=True,
        stranger=None,
        echoes=open_data,
    ),
    ("POST", "/open311/v2/requests.{fmt}"): P(
        lambda t: [
            Aim(
                {"fmt": "json"},
                form={"service_code": "water", "description": "伪造", "attribute[community]": t.community_id},
            ),
            Aim(
                {"fmt": "xml"},
                form={
                    "api_key": "forged",
                    "service_code": "water",
                    "description": "伪造",
                    "attribute[community]": t.community_id,
                },
            ),
        ],
        public=True,
        stranger=403,
    ),
    ("GET", "/bills"): P(),
    ("POST", "/bills/pay"): P(
        lambda t: [
            Aim(form={"bill": t.bill_id, "key": uid(), "method": "sandbox", "action": action})
            for action in ("pay", "review")
        ]
    ),
    ("GET", "/payments/{payment_id}"): P(
        lambda t: [Aim({"payment_id": t.payment_id}), Aim({"payment_id": t.pending_payment_id})]
    ),
    ("POST", "/payments/{payment_id}/refresh"): P(lambda t: Aim({"payment_id": t.pending_payment_id})),
    # WeChat's way back: a state is bound to the session that asked, so another's code is refused.
    ("GET", "/bills/wechat"): P(
        lambda t: Aim(query={"code": "CODE", "state": "0" * 42, "next": "/bills"}), stranger=400
    ),
    # WeChat's way back when linking for messages: a state bound to the session that asked, refused to another.
    ("GET", "/wechat/link/callback"): P(lambda t: Aim(query={"code": "CODE", "state": "0" * 42})),
    ("POST", "/staff/households/{household_id}/bills/qr"): P(
        lambda t: Aim({"household_id": t.household_id}, form={"bill_ids": t.bill_id, "key": uid()})
    ),
    ("GET", "/staff/payments/{payment_id}/qr"): P(
        lambda t: [Aim({"payment_id": t.payment_id}), Aim({"payment_id": t.pending_payment_id})]
    ),
    ("POST", "/staff/payments/{payment_id}/qr/refresh"): P(
        lambda t: Aim({"payment_id": t.pending_payment_id})
    ),
    ("GET", "/receipts"): P(),
    ("GET", "/receipts/{payment_id}"): P(lambda t: Aim({"payment_id": t.payment_id})),
    # The sandbox cashier: only the person who owns the payment may see or confirm it.
    ("GET", "/pay/sandbox/{out_trade_no}"): P(lambda t: Aim({"out_trade_no": t.out_trade_no})),
    ("POST", "/pay/sandbox/{out_trade_no}"): P(lambda t: Aim({"out_trade_no": t.out_trade_no})),
    ("GET", "/staff/communities/{community_id}/billing"): P(
        lambda t: Aim({"community_id": t.community_id}, query={"period": t.period})
    ),
    ("POST", "/staff/communities/{community_id}/billing/run"): P(
        lambda t: Aim({"community_id": t.community_id}, form={"period": t.month})
    ),
    ("GET", "/staff/households/{household_id}/bills"): P(lambda t: Aim({"household_id": t.household_id})),
    ("POST", "/staff/households/{household_id}/bills/cash"): P(
        lambda t: Aim(
            {"household_id": t.household_id},
            form={
                "bill_id": t.bill_id,
                "amount": "1",
                "method": "cash",
                "office_receipt_no": uid("R"),
                "key": uid(),
            },
        )
    ),
    ("POST", "/staff/households/{household_id}/bills/waive"): P(
        lambda t: Aim({"household_id": t.household_id}, form={"bill_id": t.bill_id, "reason": "伪造"})
    ),
    ("GET", "/staff/districts/{district_id}/billing"): P(lambda t: Aim({"district_id": t.district_id})),
    ("POST", "/staff/districts/{district_id}/billing/run"): P(
        lambda t: Aim({"district_id": t.district_id}, form={"period": t.month})
    ),
    ("GET", "/staff/payments/{payment_id}/refund"): P(lambda t: Aim({"payment_id": t.payment_id})),
    ("POST", "/staff/payments/{payment_id}/refund"): P(
        lambda t: Aim({"payment_id": t.payment_id}, form={"amount": "0.01", "reason": "伪造"})
    ),
    ("POST", "/staff/payments/{payment_id}/refund/send"): P(
        lambda t: Aim({"payment_id": t.payment_id}, form={"amount": "0.01", "reason": "伪造", "key": uid()})
    ),
    ("GET", "/staff/communities/{community_id}/fee-plans"): P(
        lambda t: Aim({"community_id": t.community_id})
    ),
    ("POST", "/staff/communities/{community_id}/fee-plans"): P(
        lambda t: Aim(
            {"community_id": t.community_id},
            form={"name": "抢占", "phase": "market", "period_months": "1", "unit_price": "1"},
        )
    ),
    ("POST", "/staff/communities/{community_id}/fee-plans/{plan_id}/activate"): P(
        lambda t: Aim(
            {"community_id": t.community_id, "plan_id": t.fee_plan_id},
            form={"decision_ref": "伪造", "decided_on": "2027-01-05"},
        )
    ),
    ("GET", "/staff/communities/{community_id}/ledger"): P(lambda t: Aim({"community_id": t.community_id})),
    ("GET", "/staff/communities/{community_id}/ledger.csv"): P(
        lambda t: Aim({"community_id": t.community_id})
    ),
    ("POST", "/staff/communities/{community_id}/ledger/{what}"): P(
        lambda t: [
            Aim(
                {"community_id": t.community_id, "what": what},
                form={"fund": fund, "amount": "1", "memo": "伪造", "attachment_ref": ""},
                files={"photo": PHOTO},
            )
            for what, fund in (("income", "public_income"), ("expense", "maintenance_fund"))
        ]
    ),
    # --- finance disclosures
    ("GET", "/disclosures"): P(),
    ("POST", "/disclosures/new"): P(
        lambda t: Aim(form={"community_id": t.community_id, "quarter": f"{utcnow().year - 1}-1"})
    ),
    ("GET", "/disclosures/{disclosure_id}"): P(lambda t: Aim({"disclosure_id": t.disclosure_id})),
    ("GET", "/disclosures/{disclosure_id}/print"): P(lambda t: Aim({"disclosure_id": t.disclosure_id})),
    ("GET", "/disclosures/{disclosure_id}/lines/{line_id}/ask"): P(
        lambda t: Aim({"disclosure_id": t.disclosure_id, "line_id": t.disclosure_line_id})
    ),
    ("POST", "/disclosures/{disclosure_id}/lines/{line_id}/ask"): P(
        lambda t: Aim(
            {"disclosure_id": t.disclosure_id, "line_id": t.disclosure_line_id},
            form={"question": "伪造", "client_id": "iso-ask"},
        )
    ),
    ("POST", "/disclosures/{disclosure_id}/spending"): P(
        lambda t: Aim(
            {"disclosure_id": t.disclosure_id}, form={"fund": "property_fee", "title": "伪造", "amount": "1"}
        )
    ),
    ("POST", "/disclosures/{disclosure_id}/lines/{line_id}/remove"): P(
        lambda t: Aim({"disclosure_id": t.disclosure_id, "line_id": t.disclosure_line_id})
    ),
    ("POST", "/disclosures/{disclosure_id}/share"): P(
        lambda t: Aim({"disclosure_id": t.disclosure_id}, form={"cost": "1", "key": "households"})
    ),
    ("POST", "/disclosures/{disclosure_id}/publish"): P(lambda t: Aim({"disclosure_id": t.disclosure_id})),
    ("POST", "/disclosures/{disclosure_id}/correct"): P(
        lambda t: Aim({"disclosure_id": t.disclosure_id}, form={"note": "伪造"})
    ),
    # --- owners' votes
    ("GET", "/votes"): P(),
    ("GET", "/votes/new"): P(),
    ("POST", "/votes/new"): P(
        lambda t: Aim(
            form={
                "community": t.community_id,
                "matter": "RENEW_SERVICE",
                "title": "伪造表决",
                "deadline": "2099-01-01",
            }
        )
    ),
    ("GET", "/votes/{vote_id:int}"): P(lambda t: Aim({"vote_id": t.vote_id})),
    ("GET", "/votes/{vote_id:int}/confirm"): P(
        lambda t: Aim({"vote_id": t.vote_id}, query={"household": t.household_id, "choice": "NO"})
    ),
    ("POST", "/votes/{vote_id:int}/ballot"): P(
        lambda t: Aim({"vote_id": t.vote_id}, form={"household": t.household_id, "choice": "NO"})
    ),
    ("POST", "/votes/{vote_id:int}/paper"): P(
        lambda t: Aim(
            {"vote_id": t.vote_id},
            form={"household": t.other_household_id, "choice": "NO"},
            files={"photo": PHOTO},
        )
    ),
    ("POST", "/votes/{vote_id:int}/proxy"): P(
        lambda t: Aim(
            {"vote_id": t.vote_id},
            form={"household": t.household_id, "phone": t.resident_phone, "note": "伪造"},
        )
    ),
    ("POST", "/votes/{vote_id:int}/certify"): P(lambda t: Aim({"vote_id": t.vote_id})),
    # --- care: the resident's own check-in and record, family's view, the steward's board and records
    ("GET", "/care"): P(),
    ("POST", "/care/fine"): P(stranger=None, own_tables=frozenset({"care_checkin_day"})),
    ("POST", "/care/setup"): P(
        lambda t: Aim(form={"window_end": "600"}), stranger=None, own_tables=frozenset({"care_checkin_plan"})
    ),
    ("POST", "/care/pause"): P(
        lambda t: Aim(form={"days": "3"}), stranger=None, own_tables=frozenset({"care_checkin_plan"})
    ),
    ("POST", "/care/stop"): P(stranger=None, own_tables=frozenset({"care_checkin_plan"})),
    ("POST", "/care/consent"): P(lambda t: Aim(form={"household_id": t.household_id})),
    ("POST", "/care/withdraw"): P(lambda t: Aim(form={"id": t.care_record_id})),
    ("GET", "/care/export.json"): P(),
    ("GET", "/care/export.csv"): P(),
    ("GET", "/care/family"): P(),
    ("POST", "/care/family/{resident_id:int}/fine"): P(lambda t: Aim({"resident_id": t.resident_id})),
    ("GET", "/care/board"): P(),
    ("POST", "/staff/households/{household_id}/care-consent"): P(
        lambda t: Aim(
            {"household_id": t.household_id},
            form={"community_id": t.community_id, "resident_id": t.resident_id},
            files={"photo": PHOTO},
        )
    ),
    ("POST", "/care/board/{day_id:int}/take"): P(lambda t: Aim({"day_id": t.checkin_day_id})),
    ("POST", "/care/board/{day_id:int}/outcome"): P(
        lambda t: Aim({"day_id": t.checkin_day_id}, form={"outcome": "ALL_WELL"})
    ),
    ("GET", "/care/records"): P(),
    ("GET", "/care/records/{record_id:int}"): P(lambda t: Aim({"record_id": t.care_record_id})),
    ("POST", "/care/records/{record_id:int}"): P(
        lambda t: Aim({"record_id": t.care_record_id}, form={"living": "ALONE", "mobility": "INDEPENDENT"})
    ),
    ("POST", "/care/records/{record_id:int}/checkin"): P(
        lambda t: Aim({"record_id": t.care_record_id}, form={"window_end": "600"})
    ),
    ("POST", "/care/records/{record_id:int}/visit"): P(
        lambda t: Aim({"record_id": t.care_record_id}, form={"finding": "ALL_WELL", "note": "伪造"})
    ),
    # --- the assessment dashboard and the satisfaction survey
    ("GET", "/assessment"): P(
        lambda t: [
            Aim(query={"district": t.district_id}),
            Aim(query={"district": t.district_id, "community": t.community_id}),
        ]
    ),
    ("GET", "/assessment/{figure}.csv"): P(
        lambda t: [
            Aim({"figure": "ranking"}, query={"district": t.district_id}),
            Aim({"figure": "coverage"}, query={"district": t.district_id, "community": t.community_id}),
        ]
    ),
    ("POST", "/survey"): P(lambda t: Aim(form={"household": t.household_id, "score": "3"})),
    # --- briefings
    ("GET", "/briefings"): P(),
    ("GET", "/briefings/{briefing_id:int}"): P(
        lambda t: [Aim({"briefing_id": t.briefing_id}), Aim({"briefing_id": t.photo_briefing_id})]
    ),
    ("POST", "/briefings/{briefing_id:int}/ask"): P(lambda t: Aim({"briefing_id": t.briefing_id})),
    ("POST", "/briefings/{briefing_id:int}/thank"): P(lambda t: Aim({"briefing_id": t.briefing_id})),
    ("POST", "/briefings/{briefing_id:int}/publish"): P(lambda t: Aim({"briefing_id": t.briefing_id})),
    ("POST", "/briefings/{briefing_id:int}/withdraw"): P(lambda t: Aim({"briefing_id": t.briefing_id})),
    ("GET", "/briefings/new"): P(),
    ("GET", "/briefings/{briefing_id:int}/edit"): P(lambda t: Aim({"briefing_id": t.briefing_id})),
    ("POST", "/briefings/new"): P(
        lambda t: Aim(
            form={"community_ids": [t.community_id], "title": "伪造简报", "mode": "now"},
            files={"photos": PHOTO},
        )
    ),
    ("POST", "/briefings/{briefing_id:int}/edit"): P(
        lambda t: Aim(
            {"briefing_id": t.briefing_id},
            form={"community_ids": [t.community_id], "title": "伪造", "mode": "now"},
            files={"photos": PHOTO},
        )
    ),
    ("GET", "/briefings/{briefing_id:int}/media/{media_id:int}"): P(
        lambda t: Aim({"briefing_id": t.photo_briefing_id, "media_id": t.briefing_media_id})
    ),
    ("GET", "/briefings/{briefing_id:int}/media/{media_id:int}/thumb"): P(
        lambda t: Aim({"briefing_id": t.photo_briefing_id, "media_id": t.briefing_media_id})
    ),
    # A share link is a capability: whoever holds the real token may read; a forged one finds nothing.
    ("GET", "/share/briefings/{token}"): P(lambda t: Aim({"token": "forged-share-token"}), public=True),
    ("GET", "/share/briefings/{token}/media/{media_id:int}"): P(
        lambda t: Aim({"token": "forged-share-token", "media_id": t.briefing_media_id}), public=True
    ),
    ("GET", "/share/briefings/{token}/media/{media_id:int}/thumb"): P(
        lambda t: Aim({"token": "forged-share-token", "media_id": t.briefing_media_id}), public=True
    ),
    # --- notifications
    ("GET", "/settings/notifications"): P(),
    # The attacker's own choices: their own rows only.
    ("POST", "/settings/notifications"): P(
        lambda t: Aim(form={"kind_chat": "on"}), stranger=303, own_tables=frozenset({"push_preference"})
    ),
    # The attacker's own choice of how to be reached: their own row only.
    ("POST", "/settings/notifications/reach"): P(
        lambda t: Aim(form={"channel_sms": "on", "quiet": "off"}),
        stranger=303,
        own_tables=frozenset({"reach_choice"}),
    ),
    # --- estates
    ("GET", "/staff/estates"): P(),
    ("GET", "/staff/estates/import-template.xlsx"): P(),
    ("GET", "/staff/estates/import-template.csv"): P(),
    ("POST", "/staff/estates"): P(
        lambda t: Aim(
            form={
                "district_id": t.district_id,
                "name": "伪造小区",
                "address": "伪造路1号",
                "on_duty_phone": "13912340000",
            }
        )
    ),
    ("POST", "/staff/estates/districts"): P(
        lambda t: Aim(
            form={
                "name": "伪造片区",
                "city": "上海",
                "operator_name": "伪造",
                "operator_phone": "13912340000",
            }
        )
    ),
    ("GET", "/staff/estates/districts/{district_id}"): P(lambda t: Aim({"district_id": t.district_id})),
    ("POST", "/staff/estates/districts/{district_id}"): P(
        lambda t: Aim(
            {"district_id": t.district_id},
            form={
                "name": "伪造片区",
                "city": "上海",
                "operator_name": "伪造",
                "operator_phone": "13912340000",
            },
        )
    ),
    ("POST", "/staff/estates/districts/{district_id}/communities"): P(
        lambda t: Aim(
            {"district_id": t.district_id},
            form={"name": "伪造小区", "address": "伪造路1号", "on_duty_phone": "13912340000"},
        )
    ),
    ("GET", "/staff/estates/districts/{district_id}/archive"): P(
        lambda t: Aim({"district_id": t.district_id})
    ),
    ("POST", "/staff/estates/districts/{district_id}/archive"): P(
        lambda t: Aim({"district_id": t.district_id})
    ),
    ("GET", "/staff/estates/households/{household_id}/archive"): P(
        lambda t: Aim({"household_id": t.household_id})
    ),
    ("POST", "/staff/estates/households/{household_id}/archive"): P(
        lambda t: [Aim({"household_id": t.household_id}), Aim({"household_id": t.other_household_id})]
    ),
    ("GET", "/staff/estates/communities/{community_id}"): P(lambda t: Aim({"community_id": t.community_id})),
    ("POST", "/staff/estates/communities/{community_id}"): P(
        lambda t: Aim({"community_id": t.community_id}, form={"name": "伪造楼", "floors": "6"})
    ),
    ("GET", "/staff/estates/communities/{community_id}/buildings/{building_id}"): P(
        lambda t: Aim({"community_id": t.community_id, "building_id": t.building_id})
    ),
    ("POST", "/staff/estates/communities/{community_id}/buildings/{building_id}"): P(
        lambda t: Aim(
            {"community_id": t.community_id, "building_id": t.building_id},
            form={"name": "伪造楼", "floors": "6"},
        )
    ),
    ("POST", "/staff/estates/communities/{community_id}/buildings/{building_id}/units"): P(
        lambda t: Aim(
            {"community_id": t.community_id, "building_id": t.building_id},
            form={"number": "9-909", "floor": "1", "floor_area": "50.00"},
        )
    ),
    ("GET", "/staff/estates/communities/{community_id}/buildings/{building_id}/units/{unit_id}"): P(
        lambda t: Aim({"community_id": t.community_id, "building_id": t.building_id, "unit_id": t.unit_id})
    ),
    ("POST", "/staff/estates/communities/{community_id}/buildings/{building_id}/units/{unit_id}"): P(
        lambda t: Aim(
            {"community_id": t.community_id, "building_id": t.building_id, "unit_id": t.unit_id},
            form={"number": "9-909", "floor": "1", "floor_area": "50.00"},
        )
    ),
    (
        "POST",
        "/staff/estates/communities/{community_id}/buildings/{building_id}/units/{unit_id}/household",
    ): P(
        lambda t: Aim(
            {"community_id": t.community_id, "building_id": t.building_id, "unit_id": t.unit_id},
            form={"head_name": "伪造户主", "household_id": t.household_id},
        )
    ),
    # --- the bulk import of a community's units
    ("GET", "/staff/communities/{community_id}/import"): P(lambda t: Aim({"community_id": t.community_id})),
    ("POST", "/staff/communities/{community_id}/import"): P(
        lambda t: Aim(
            {"community_id": t.community_id},
            files={"file": ("伪造.csv", template_csv(), "text/csv")},
        )
    ),
    ("GET", "/staff/communities/{community_id}/import/{import_id}"): P(
        lambda t: Aim({"community_id": t.community_id, "import_id": t.estate_import_id})
    ),
    ("POST", "/staff/communities/{community_id}/import/{import_id}/confirm"): P(
        lambda t: Aim({"community_id": t.community_id, "import_id": t.estate_import_id})
    ),
    ("POST", "/staff/communities/{community_id}/import/{import_id}/discard"): P(
        lambda t: Aim({"community_id": t.community_id, "import_id": t.estate_import_id})
    ),
    # --- staff roles and passwords (the admin's pages; a forged setup link changes nothing)
    ("GET", "/staff/people"): P(),
    ("POST", "/staff/people"): P(
        lambda t: Aim(
            form={"phone": t.steward_phone, "name": "伪造", "role": "steward", "scope": f"c:{t.community_id}"}
        )
    ),
    ("GET", "/staff/people/{person_id}"): P(lambda t: Aim({"person_id": t.steward_id})),
    ("POST", "/staff/people/{person_id}/revoke"): P(
        lambda t: Aim({"person_id": t.steward_id}, form={"grant_id": t.steward_grant_id})
    ),
    ("POST", "/staff/people/{person_id}/password"): P(lambda t: Aim({"person_id": t.steward_id})),
    ("GET", "/password/set"): P(
        lambda t: Aim(query={"token": "forged-setup-token"}), public=True, stranger=200
    ),
    ("POST", "/password/set"): P(
        lambda t: Aim(form={"token": "forged-setup-token", "password": "a-long-enough-password"}),
        public=True,
        stranger=400,
    ),
    ("GET", "/password/code"): P(public=True),
    # A code is texted to whatever number is typed (the answer is the same for anyone's); the form shows it back.
    ("POST", "/password/code"): P(
        lambda t: Aim(form={"phone": t.steward_phone}),
        public=True,
        stranger=200,
        echoes=lambda t: phones_of(t.steward_phone),
    ),
    ("POST", "/password/code/set"): P(
        lambda t: Aim(
            form={"phone": t.steward_phone, "code": "000000", "password": "a-long-enough-password"}
        ),
        public=True,
        stranger=400,
        echoes=lambda t: phones_of(t.steward_phone),
    ),
    ("GET", "/staff/emergency"): P(),
    ("POST", "/staff/emergency"): P(
        lambda t: Aim(
            form={"community_ids": [t.community_id], "kind": "water_cut", "title": "伪造停水", "body": "伪造"}
        )
    ),
    ("GET", "/staff/emergency/{notice_id}/reach"): P(lambda t: Aim({"notice_id": t.emergency_id})),
    ("POST", "/staff/emergency/{notice_id}/reach"): P(lambda t: Aim({"notice_id": t.emergency_id})),
    ("GET", "/emergencies/{notice_id}"): P(lambda t: Aim({"notice_id": t.emergency_id})),
    # Staff see the costs of their own communities (a resident gets 404); only the admin sets a cap.
    ("GET", "/staff/reach/costs"): P(stranger=None),
    ("POST", "/staff/reach/costs"): P(
        lambda t: Aim(form={"community_id": t.community_id, "channel": "sms", "monthly": "1"})
    ),
    # --- the shell, logins, home, family, settings
    ("GET", "/manifest.webmanifest"): P(public=True),
    ("GET", "/sw.js"): P(public=True),
    ("GET", "/operations.json"): P(public=True),
    ("GET", "/offline"): P(public=True),
    # Demo mode lists the fixed demo logins on purpose (production lists nobody: tests/graphql/test_hardening.py).
    ("GET", "/login"): P(public=True, echoes=demo_logins),
    # A code is sent to whatever number is typed; the next page shows that number back.
    ("POST", "/login/code"): P(
        lambda t: Aim(form={"phone": t.resident_phone}),
        public=True,
        stranger=303,
        echoes=lambda t: phones_of(t.resident_phone),
    ),
    ("GET", "/login/verify"): P(
        lambda t: Aim(query={"phone": t.resident_phone}),
        public=True,
        stranger=200,
        echoes=lambda t: phones_of(t.resident_phone),
    ),
    ("POST", "/login/verify"): P(
        lambda t: Aim(form={"phone": t.resident_phone, "code": "000000"}),
        public=True,
        stranger=400,
        echoes=lambda t: phones_of(t.resident_phone),
    ),
    # A refused login shows the login page again, demo logins and all.
    ("POST", "/login/password"): P(
        lambda t: Aim(form={"phone": t.steward_phone, "password": "guessing-123"}),
        public=True,
        stranger=400,
        echoes=demo_logins,
    ),
    ("POST", "/login/demo"): P(
        lambda t: Aim(form={"phone": t.other_resident_phone}), public=True, stranger=400, echoes=demo_logins
    ),
    # A login card is a capability: opening the link shows a button; this one was spent already.
    ("GET", "/card/{token}"): P(lambda t: Aim({"token": t.card_used_token}), public=True, stranger=200),
    ("POST", "/card/{token}"): P(lambda t: Aim({"token": t.card_used_token}), public=True, stranger=400),
    ("POST", "/logout"): P(public=True, ends_session=True),
    ("POST", "/logout/everywhere"): P(public=True, ends_session=True),
    # Today's newest briefing is shown in full on a resident's home, which counts as their reading it.
    ("GET", "/"): P(own_tables=frozenset({"briefing_read"})),
    # The list of one's own notifications: opening it reads them.
    ("GET", "/notifications"): P(own_tables=frozenset({"notification"})),
    ("POST", "/notifications/read"): P(own_tables=frozenset({"notification"})),
    ("GET", "/family"): P(),
    # By design anyone may ask to follow a resident's household by phone: the request is pending, grants
    # nothing, and the resident is told. The answer is the same for any number.
    ("POST", "/family/request"): P(
        lambda t: Aim(form={"phone": t.resident_phone, "relation": "邻居"}),
        stranger=200,
        by_design=frozenset({"family_link", "notification", "push_outbox"}),
        echoes=lambda t: phones_of(t.resident_phone),
    ),
    ("POST", "/family/{link_id}/{action}"): P(
        lambda t: [
            Aim({"link_id": t.link_pending_id, "action": "accept"}),
            Aim({"link_id": t.link_pending_id, "action": "decline"}),
            Aim({"link_id": t.link_accepted_id, "action": "remove"}),
        ]
    ),
    ("GET", "/settings"): P(public=True),
    # Anyone may choose a language and a text size; a logged-in person keeps them in their own row.
    ("POST", "/settings"): P(
        lambda t: Aim(form={"language": "zh-CN", "text_size": "large"}),
        public=True,
        stranger=303,
        own_tables=frozenset({"person"}),
    ),
    ("GET", "/staff/communities/{community_id}/households"): P(
        lambda t: Aim({"community_id": t.community_id})
    ),
    ("GET", "/staff/communities/{community_id}/cards"): P(
        lambda t: [
            Aim({"community_id": t.community_id}),
            Aim({"community_id": t.community_id}, query={"building": t.building_id}),
        ]
    ),
    ("POST", "/staff/communities/{community_id}/cards"): P(
        lambda t: [
            Aim({"community_id": t.community_id}),
            Aim({"community_id": t.community_id}, query={"building": t.building_id}),
        ]
    ),
    ("GET", "/staff/households/{household_id}/cards"): P(lambda t: Aim({"household_id": t.household_id})),
    ("POST", "/staff/households/{household_id}/cards"): P(
        lambda t: Aim({"household_id": t.household_id}, form={"person_id": t.resident_id})
    ),
    ("POST", "/staff/households/{household_id}/cards/{card_id}/revoke"): P(
        lambda t: Aim({"household_id": t.household_id, "card_id": t.card_id})
    ),
    ("GET", "/staff/households/{household_id}/residents"): P(lambda t: Aim({"household_id": t.household_id})),
    ("POST", "/staff/households/{household_id}/residents"): P(
        lambda t: Aim(
            {"household_id": t.household_id}, form={"name": "伪造", "phone": uid_phone(), "relation": "OWNER"}
        )
    ),
    ("POST", "/staff/households/{household_id}/residents/{person_id}/remove"): P(
        lambda t: Aim({"household_id": t.household_id, "person_id": t.resident_id})
    ),
    # --- home sensors and shared-area cameras
    ("GET", "/staff/sensors/households/{household_id}"): P(lambda t: Aim({"household_id": t.household_id})),
    ("POST", "/staff/sensors/households/{household_id}"): P(
        lambda t: Aim(
            {"household_id": t.household_id},
            form={
                "code": uid("LY"),
                "kind": "DOOR",
                "consenter": t.resident_id,
                "method": "PHONE",
                "hours": "12",
            },
        )
    ),
    ("POST", "/staff/sensors/households/{household_id}/devices/{device_id}/deregister"): P(
        lambda t: Aim({"household_id": t.household_id, "device_id": t.sensor_device_id})
    ),
    ("GET", "/staff/sensors/communities/{community_id}"): P(lambda t: Aim({"community_id": t.community_id})),
    ("POST", "/staff/sensors/communities/{community_id}/cameras"): P(
        lambda t: Aim({"community_id": t.community_id}, form={"name": "伪造", "url": "https://x.example/"})
    ),
    ("POST", "/staff/sensors/communities/{community_id}/cameras/{camera_id}/remove"): P(
        lambda t: Aim({"community_id": t.community_id, "camera_id": t.camera_id})
    ),
    # --- asking to be linked to a home
    # Anyone logged in finds communities by name (names only) and may ask to be linked to any home: the
    # request is their own, grants nothing, and waits for that community's steward.
    ("GET", "/link"): P(
        lambda t: Aim(query={"q": t.spec.communities[0]}),
        stranger=200,
        echoes=lambda t: set(t.spec.communities),
    ),
    ("POST", "/link"): P(
        lambda t: Aim(
            form={
                "community_id": t.community_id,
                "building": t.building_name,
                "unit": t.unit_number,
                "name": "伪造",
                "relation": "OWNER",
            }
        ),
        stranger=None,
        by_design=frozenset({"link_request"}),
        echoes=lambda t: set(t.spec.communities),
    ),
    ("POST", "/link/cancel"): P(stranger=None, by_design=frozenset({"link_request"})),
    ("GET", "/staff/link-requests"): P(),
    ("POST", "/staff/link-requests/{request_id}/confirm"): P(
        lambda t: Aim({"request_id": t.link_request_id})
    ),
    ("GET", "/staff/link-requests/{request_id}/decline"): P(lambda t: Aim({"request_id": t.link_request_id})),
    ("POST", "/staff/link-requests/{request_id}/decline"): P(
        lambda t: Aim({"request_id": t.link_request_id}, form={"reason": "伪造"})
    ),
    ("GET", "/favicon.ico"): P(public=True),
}


def app_routes(app: Any) -> list[tuple[str, str]]:
    """Every path and method the app answers, but GraphQL's own (test_isolation.py and
    test_isolation_subscriptions.py aim its every field) and the static files; a route of any other kind is
    listed as it is, so that it has no entry and fails the test until it is aimed here."""
    found = []
    for route in app.routes:
        if isinstance(route, APIRoute):
            found += [(method, route.path) for method in sorted(route.methods - {"HEAD"})]
        elif isinstance(getattr(route, "original_router", None), LaoyouGraphQLRouter):
            continue
        elif isinstance(route, Mount) and route.path == "/static":
            continue  # the PWA's own css, js and icons, the same for everyone
        else:
            found.append((type(route).__name__, getattr(route, "path", repr(route))))
    return found


def test_every_route_has_an_entry(app):
    routes = app_routes(app)
    assert not [r for r in routes if r not in ROUTES], "add these routes to ROUTES"
    assert not [r for r in ROUTES if r not in routes], "these ROUTES entries name no route"


def test_a_new_route_without_an_entry_is_caught(tmp_path):
    # Given an app with a new page and a new mount of files
    from starlette.staticfiles import StaticFiles

    from laoyou.app import create_app

    from ..conftest import make_settings

    new = create_app(make_settings(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'new.sqlite3'}"))
    new.add_api_route("/staff/communities/{community_id}/secrets", lambda community_id: None, methods=["GET"])
    new.mount("/uploads", StaticFiles(directory=tmp_path), name="uploads")
    # Then both are found without an entry
    assert [r for r in app_routes(new) if r not in ROUTES] == [
        ("GET", "/staff/communities/{community_id}/secrets"),
        ("Mount", "/uploads"),
    ]


# --- the test -----------------------------------------------------------------------------------------------


def fill(path: str, params: dict[str, str]) -> str:
    def value(match: re.Match) -> str:
        name = match.group(1).split(":")[0]
        assert name in params, f"{path}: no value for {name}"
        return str(params[name])

    return re.sub(r"\{([^}]+)\}", value, path)


async def attack_pages(
    app: Any,
    client: Any,
    gql: GraphQLClient,
    db: Any,
    writes: Any,
    attacker_phone: str | None,
    target: Target,
    only: set[tuple[str, str]] | None = None,
) -> list[str]:
    """Request every route (or only some) as the attacker (None: nobody logged in) aimed at the target; list
    what went wrong."""

    async def log_in() -> str | None:
        return (await login_demo(gql, attacker_phone)).token if attacker_phone else None

    token = await log_in()
    problems: list[str] = []
    state = await snapshot(db)
    for method, path in app_routes(app):
        if only is not None and (method, path) not in only:
            continue
        entry = ROUTES.get((method, path))
        if entry is None:
            problems.append(f"{method} {path}: no registry entry")
            continue
        aims = entry.aims(target)
        for aim in aims if isinstance(aims, list) else [aims]:
            url = fill(path, aim.path)
            what = f"{method} {url}{'?' + str(aim.query) if aim.query else ''}"
            watched = (entry.own_tables | entry.by_design) & TABLES.keys()
            rows_before = {name: await rows_by_key(db, name) for name in watched}
            writes.names.clear()
            # When the attacker requests it, aimed at the target
            client.cookies.clear()
            headers = {"Accept-Language": "zh-CN", "Cookie": f"laoyou_csrf={CSRF}"}
            if token:
                headers["Authorization"] = f"Bearer {token}"
            if method == "GET":
                response = await client.get(url, params=aim.query, headers=headers)
            elif aim.body is not None:
                response = await client.post(url, params=aim.query, content=aim.body, headers=headers)
            else:
                response = await client.post(
                    url,
                    params=aim.query,
                    headers=headers,
                    files=aim.files,
                    data={"csrf_token": CSRF, **aim.form},
                )
            status, location = response.status_code, response.headers.get("location", "")
            # Then it answers as a refusal should
            if status >= 500:
                problems.append(f"{what}: HTTP {status} {response.text[:200]}")
            elif (
                token is None
                and not entry.public
                and not ((status == 303 and location == "/login") or status in (401, 403, 404))
            ):
                problems.append(f"{what}: anonymous got {status} {location}")
            elif token and aim.names_target() and entry.stranger is not None and status != entry.stranger:
                problems.append(f"{what}: a stranger got {status} {location}, not {entry.stranger}")
            elif token and status == 403 and entry.stranger != 403:
                problems.append(f"{what}: 403 (was the CSRF token refused?)")
            # And it holds nothing of the target
            found = leaks(f"{location}\n{response.text}", target, entry.echoes(target))
            if found:
                problems.append(f"{what}: leaks {found} in {location} {response.text[:300]!r}")
            # And nothing changed, apart from the attacker's own rows where the entry allows it
            after = {**state, **await snapshot(db, writes.names - NOT_SNAPSHOTTED)}
            changed = {name for name in after if after[name] != state[name]}
            if changed - watched:
                problems.append(f"{what}: changed {sorted(changed - watched)}")
            for name, rows in (await changed_rows(rows_before, db, changed & entry.own_tables)).items():
                if theirs := [row for row in rows if target.owns(row)]:
                    problems.append(f"{what}: changed the target's {name} rows {theirs}")
            state = after
        if entry.ends_session:
            token = await log_in()
            state = {**state, **await snapshot(db, writes.names - NOT_SNAPSHOTTED)}
    # And a full snapshot agrees with the one kept up to date request by request
    final = await snapshot(db)
    if unseen := sorted(name for name in final if final[name] != state[name]):
        problems.append(f"tables changed without a statement seen: {unseen}")
    return problems


@pytest.fixture
async def browser(app: Any, db: Any) -> Any:
    """A client that gets a crashed page as the 500 a phone would see, so the run goes on to the next route."""
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False, client=("10.9.8.7", 5000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


@pytest.mark.usefixtures("quiet")
@pytest.mark.parametrize("attacker_phone, target_key", ATTACKS)
async def test_no_page_shows_or_changes_anything_of_another_community(
    app,
    browser,
    gql,
    db,
    attacker_phone,
    target_key,
    written_tables,  # noqa: F811  (the fixture)
):
    target = await prepare_target(target_key, gql, app, db, more_of_the_target(gql, app, db))
    problems = await attack_pages(app, browser, gql, db, written_tables, attacker_phone, target)
    assert not problems, "\n".join(problems)


# --- the test can fail ---------------------------------------------------------------------------------------


@pytest.mark.usefixtures("quiet")
async def test_a_work_order_page_shown_to_a_stranger_is_caught(
    app,
    browser,
    gql,
    db,
    monkeypatch,
    written_tables,  # noqa: F811  (the fixture)
):
    # Given a scoping hole: any work order is handed to anyone who asks
    target = await prepare_target("A", gql, app, db, more_of_the_target(gql, app, db))
    from laoyou.tickets import service as tickets

    async def unscoped(session, *, actor, order_id, **kw):  # noqa: ANN001, ANN003, ANN202
        return await session.get(tickets.WorkOrder, order_id)

    monkeypatch.setattr(tickets, "access_work_order", unscoped)
    # Then the page check reports what the page showed
    problems = await attack_pages(
        app, browser, gql, db, written_tables, "13800000002", target, only={("GET", "/orders/{order_id}")}
    )
    assert any("not 404" in p for p in problems), problems
    assert any("leaks" in p and "LEAKA" in p for p in problems), problems
