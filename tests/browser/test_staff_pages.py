"""Every staff page on a phone (360×740), for each staff role: axe-core finds nothing, every target is at least
48×48 CSS px and nothing scrolls sideways.

Logged in through the staff form, a crawler starts at the staff home and opens every same-origin page it leads to
by a link or a GET form (a filter, a search, a page of results), breadth first, down to the pages of a role's
main tasks (the briefing form, a household's bills, the ledger, a refund, the fee plans, the import, the estates,
link requests, people and a person, the support console, the work orders). Pages whose addresses differ only in
their ids are one kind, and one sample of each kind is checked. Not followed: logging out, downloads (a
spreadsheet, a ledger export) and anything that is not a page. The module runs a server of its own, where a
resident has first written to customer service, raised an SOS, and another has asked to be linked to her home, so the
pages that list such things have one to show and to lead to.
"""

from __future__ import annotations

import re
from collections import deque
from typing import Any
from urllib.parse import urlsplit

import pytest
from axe_playwright_python.sync_playwright import Axe

from ..conftest import (
    ADMIN,
    AGENT_NANNING,
    FAMILY_OF_XIUSHAN,
    FIELD_ZHUJIAJIAO,
    OFFICIAL_XIUSHAN,
    OFFICIAL_ZHUJIAJIAO,
    RESIDENT_JINGJU,
    RESIDENT_XIUSHAN,
    STEWARD_XIUSHAN,
)
from ..support.servers import AppProcess
from .helpers import assert_accessible, login_demo, login_staff, shot, tappable_too_small

pytestmark = pytest.mark.browser

# px: staff pages are denser than a resident's (60 px targets), still a finger's width (WCAG 2.5.5 asks for 44)
STAFF_TARGET = 48
RESIDENT_TARGET = 60
# Four links deep from the home: the main tasks sit at the third (a household's bills under the community's fees,
# the refund of one of its payments, a building of a community in the estates) and a unit of that building at the
# fourth. Kinds of page are few (30-60 a role), so the crawl ends by itself.
DEPTH = 4
SKIPPED_PREFIXES = ("/static/", "/logout", "/login", "/media/")
DOWNLOADS = (".csv", ".xlsx", ".pdf", ".json", ".webmanifest", ".png", ".jpg", ".svg")

# The links and GET forms of the page, as the browser resolves them; a GET form as first submitted.
LINKS = """
() => {
  const found = [];
  for (const a of document.querySelectorAll("a[href]")) {
    if (!a.hasAttribute("download")) found.push(a.href);
  }
  for (const form of document.querySelectorAll("form")) {
    if ((form.getAttribute("method") || "get").toLowerCase() !== "get") continue;
    const url = new URL(form.action, location.href);
    url.search = new URLSearchParams(new FormData(form)).toString();
    found.push(url.href);
  }
  return found;
}
"""

SIDEWAYS = "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"

# Each role, and the kinds of page its crawl must reach (its main tasks).
ROLES = {
    "steward": (
        STEWARD_XIUSHAN,
        [
            "/briefings/new",
            "/staff/communities/N/households",
            "/staff/communities/N/billing",
            "/staff/households/N/bills",
            "/staff/communities/N/ledger",
            "/staff/communities/N/fee-plans",
            "/staff/payments/N/refund",
            "/staff/estates/communities/N/buildings/N/units/N",
            "/board",
            "/orders/N",
        ],
    ),
    "field": (FIELD_ZHUJIAJIAO, ["/work", "/orders/N"]),
    "agent": (AGENT_NANNING, ["/staff/support", "/staff/support/N"]),
    "official-xiushan": (OFFICIAL_XIUSHAN, ["/briefings", "/staff/communities/N/households"]),
    "official-zhujiajiao": (OFFICIAL_ZHUJIAJIAO, ["/briefings", "/staff/communities/N/households"]),
    "admin": (
        ADMIN,
        [
            "/staff/estates",
            "/staff/estates/communities/N",
            "/staff/estates/communities/N/buildings/N",
            "/staff/estates/communities/N/buildings/N/units/N",
            "/staff/communities/N/import",
            "/staff/people",
            "/staff/people/N",
            "/staff/link-requests",
            "/staff/link-requests/N/decline",
            "/staff/support/sos/N",
        ],
    ),
}

OWN_HOMES = "query { viewer { ownHouseholdIds } }"
WRITE = """
mutation ($clientId: String!, $body: String!) {
  sendChatMessage(clientId: $clientId, body: $body) { __typename }
}
"""
SOS = """
mutation ($householdId: ID!, $clientId: String!) {
  raiseSos(householdId: $householdId, clientId: $clientId) { __typename }
}
"""
COMMUNITIES = "query ($search: String!) { linkableCommunities(search: $search) { id } }"
ASK_TO_LINK = """
mutation ($communityId: ID!) {
  requestHouseholdLink(communityId: $communityId, building: "1", unit: "101", name: "钱阿姨", relation: FAMILY) {
    __typename
    ... on LinkRequestError { message }
  }
}
"""


def kind_of(path: str) -> str:
    """Addresses that differ only in their ids (a number, or an opaque id holding a digit) are one kind."""
    parts = urlsplit(path)
    segments = ["N" if re.search(r"\d", s) else s for s in parts.path.split("/")]
    keys = sorted({pair.partition("=")[0] for pair in parts.query.split("&") if pair})
    return "/".join(segments) + (f"?{'&'.join(keys)}" if keys else "")


def to_visit(url: str, origin: str) -> str | None:
    parts = urlsplit(url)
    if f"{parts.scheme}://{parts.netloc}" != origin:
        return None  # tel:, sms:, another site
    if parts.path.startswith(SKIPPED_PREFIXES) or parts.path.endswith(DOWNLOADS):
        return None
    return parts.path + (f"?{parts.query}" if parts.query else "")


@pytest.fixture
def site(own_server: AppProcess) -> dict[str, Any]:
    return {"base_url": own_server.url, "locale": "zh-CN"}


@pytest.fixture(scope="module")
def something_waiting(own_server: AppProcess) -> AppProcess:
    """A conversation and an SOS from the Xiushan resident, and a request to be linked to her home, all waiting
    for staff."""
    token = own_server.login(RESIDENT_XIUSHAN)
    [home, *_] = own_server.graphql(token, OWN_HOMES)["viewer"]["ownHouseholdIds"]
    sent = own_server.graphql(token, WRITE, {"clientId": "staff-pages-1", "body": "水管漏水了"})
    assert sent["sendChatMessage"]["__typename"] == "ChatMessageSent", sent
    sos = own_server.graphql(token, SOS, {"householdId": home, "clientId": "staff-pages-sos"})
    assert sos["raiseSos"]["__typename"] == "SosRaised", sos
    # The Jingju resident asks to be linked to the Xiushan resident's home too
    token = own_server.login(RESIDENT_JINGJU)
    [community, *_] = own_server.graphql(token, COMMUNITIES, {"search": "秀山"})["linkableCommunities"]
    asked = own_server.graphql(token, ASK_TO_LINK, {"communityId": community["id"]})
    assert asked["requestHouseholdLink"]["__typename"] == "LinkRequestSaved", asked
    return own_server


def crawl(
    axe: Axe, page: Any, origin: str, target: int = STAFF_TARGET
) -> tuple[list[tuple[str, int]], list[str]]:
    """Each kind of page the home leads to within DEPTH steps, once, checked: the pages with their depth, and
    what was wrong with them."""
    queue: deque[tuple[str, int]] = deque([("/", 0)])
    kinds: set[str] = {kind_of("/")}
    checked: list[tuple[str, int]] = []
    failures: list[str] = []
    while queue:
        path, depth = queue.popleft()
        response = page.goto(path)
        assert response is not None and response.ok, f"{path} answered {response and response.status}"
        if not response.headers.get("content-type", "").startswith("text/html"):
            continue
        checked.append((path, depth))
        if depth < DEPTH:
            for url in page.evaluate(LINKS):
                target = to_visit(url, origin)
                if target is not None and kind_of(target) not in kinds:
                    kinds.add(kind_of(target))
                    queue.append((target, depth + 1))
        failures += problems(axe, page, path, target)
    return checked, failures


def problems(axe: Axe, page: Any, name: str, target: int = STAFF_TARGET) -> list[str]:
    """What is wrong with the page as it is now: what axe-core finds (with what its <details> fold away shown),
    targets under 48×48 (a resident's: 60×60) and a sideways scroll."""
    found = []
    try:
        assert_accessible(axe, page, name, unfold=True)
    except AssertionError as violations:  # every page's findings at once, not only the first page's
        found.append(str(violations))
    if small := tappable_too_small(page, target):
        found.append(f"{name}: targets under {target}×{target}: {small}")
    if (sideways := page.evaluate(SIDEWAYS)) > 0:
        found.append(f"{name}: scrolls sideways by {sideways} px at 360 px")
    shot(page, "staff" + re.sub(r"\W+", "-", name))
    return found


@pytest.mark.parametrize("role", list(ROLES))
def test_every_staff_page_on_a_phone(axe: Axe, page: Any, something_waiting: AppProcess, role: str) -> None:
    phone, must_reach = ROLES[role]
    # Given a staff member logged in on a phone
    login_staff(page, phone)
    # When they open everything their home leads to (each page checked as it is opened)
    checked, failures = crawl(axe, page, something_waiting.url)
    # Then no page has anything axe-core finds, a target under 48×48 or a sideways scroll
    assert not failures, f"{role}:\n" + "\n".join(failures)
    # And the crawl reached the pages of their main tasks
    reached = {kind_of(path) for path, _ in checked}
    missing = [kind for kind in must_reach if kind not in reached]
    assert not missing, f"{role} never reached {missing}; reached {sorted(reached)}"


def test_the_pages_a_stewards_forms_lead_to(axe: Axe, page: Any, something_waiting: AppProcess) -> None:
    # Given the Xiushan steward on a phone, at the first household of her community
    login_staff(page, STEWARD_XIUSHAN)
    page.locator('table.data a[href$="/households"]').first.click()
    households = page.url
    failures: list[str] = []
    # When she makes a QR code for what the household owes
    page.locator('table.data a[href$="/bills"]').first.click()
    page.locator('form[action$="/bills/qr"] button').click()
    page.wait_for_url(re.compile(r"/staff/payments/\d+/qr$"))
    failures += problems(axe, page, "counter QR code")
    # And prints the household's login card
    page.goto(households)
    page.locator('table.data a[href$="/cards"]').first.click()
    page.locator('form[action$="/cards"] button').first.click()
    page.locator(".login-card").wait_for()
    failures += problems(axe, page, "a household's login card")
    # And the login cards of the whole community
    page.goto(households.replace("/households", "/cards"))
    page.locator('form[action*="/cards"] button[type="submit"]').click()
    page.locator(".card-sheet").first.wait_for()
    failures += problems(axe, page, "the community's login cards")
    # And uploads the import template, filled in as it comes, to see what it would import
    page.goto(households.replace("/households", "/import"))
    template = page.request.get(page.locator('a[href$=".csv"]').get_attribute("href") or "")
    page.set_input_files(
        "#import-file", {"name": "units.csv", "mimeType": "text/csv", "buffer": template.body()}
    )
    page.locator('form[action$="/import"] button[type="submit"]').click()
    page.wait_for_url(re.compile(r"/import/[^/]+$"))
    failures += problems(axe, page, "the import's preview")
    # Then none of those pages has anything axe-core finds, a target under 48×48 or a sideways scroll
    assert not failures, "\n".join(failures)


# The residents' side, crawled the same way: every page a resident or a family member reaches from home.
RESIDENTS = {
    "resident": (
        RESIDENT_XIUSHAN,
        ["/bills", "/repairs", "/repairs/new", "/orders/N", "/support", "/votes/N"],
    ),
    "family": (FAMILY_OF_XIUSHAN, ["/bills", "/repairs", "/support"]),
}


@pytest.mark.parametrize("role", list(RESIDENTS))
def test_every_resident_page_on_a_phone(
    axe: Axe, page: Any, something_waiting: AppProcess, role: str
) -> None:
    phone, must_reach = RESIDENTS[role]
    # Given a resident (or her son) logged in on a phone
    login_demo(page, phone)
    # When they open everything their home leads to
    checked, failures = crawl(axe, page, something_waiting.url, target=RESIDENT_TARGET)
    # Then no page has anything axe-core finds, a target under 60×60 or a sideways scroll
    assert not failures, f"{role}:\n" + "\n".join(failures)
    reached = {kind_of(path) for path, _ in checked}
    missing = [kind for kind in must_reach if kind not in reached]
    assert not missing, f"{role} never reached {missing}; reached {sorted(reached)}"
