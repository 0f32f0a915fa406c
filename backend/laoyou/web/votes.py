"""Owners' vote pages: the list, one vote (the ballot for owners; the live count, paper ballots, proxies and
certification for officials and stewards), the confirmation screen, and the proposal form.

Every page runs the PWA's own operations (pwa/operations/votes.graphql). A paper ballot's photo comes in with the
form (multipart) and is stored by the media service before the mutation names it, in the same unit of work.
"""

from __future__ import annotations

from datetime import date, timedelta

from fastapi import FastAPI, HTTPException
from fastapi.responses import Response

from laoyou.core import i18n
from laoyou.core.errors import LaoyouError
from laoyou.core.time import day_start
from laoyou.graphql.router import check_csrf
from laoyou.media import service as media
from laoyou.web.media import store_posted_file
from laoyou.web.render import Page, PageRoute, add_pages, form_with_csrf


def _(message: str) -> str:
    """Marks a msgid for extraction; translated in the template."""
    return message


CHOICES = {"YES": _("Agree"), "NO": _("Disagree"), "ABSTAIN": _("Abstain")}
MATTERS = {
    "CHOOSE_PROVIDER": _("Choose the property service provider"),
    "USE_FUND": _("Use the maintenance fund"),
    "ADOPT_PHASE": _("Adopt a fee phase"),
    "ADOPT_PACKAGE": _("Adopt an add-on package"),
    "RENEW_SERVICE": _("Renew the service contract"),
    "RAISE_FUND": _("Raise the maintenance fund"),
    "REBUILD": _("Rebuild or alter buildings"),
    "COMMON_USE": _("Change the use of common parts, or run a business on them"),
}
OUTCOMES = {
    "PASSED": _("Passed"),
    "REJECTED": _("Not passed"),
    "NO_QUORUM": _("Not passed: fewer than two thirds took part"),
}
LABELS = {"choices": CHOICES, "matters": MATTERS, "outcomes": OUTCOMES}
PAGE_SIZE = 30


async def index(page: Page) -> Response:
    data = await page.run("VoteList", first=PAGE_SIZE, after=page.request.query_params.get("after"))
    connection = data["votes"]
    return page.render(
        "votes/list.html",
        viewer=data["viewer"],
        votes=connection["nodes"],
        page_info=connection["pageInfo"],
        **LABELS,
    )


async def view(
    page: Page, *, error: str | None = None, message: str | None = None, status_code: int = 200
) -> Response:
    data = await page.run("VotePage", id=page.request.path_params["vote_id"])
    if message is None and page.request.query_params.get("done") == "1":
        message = i18n.gettext("Your vote is recorded. Thank you.", page.context.language)
    return page.render(
        "votes/view.html",
        status_code=status_code,
        viewer=data["viewer"],
        vote=data["vote"],
        error=error,
        message=message,
        **LABELS,
    )


async def confirm(page: Page) -> Response:
    """The second step of one tap: what was chosen, in large words, and one button to send it."""
    data = await page.run("VotePage", id=page.request.path_params["vote_id"])
    vote = data["vote"]
    choice = page.request.query_params.get("choice", "")
    household = page.request.query_params.get("household", "")
    mine = {b["householdId"] for b in vote["myBallots"]}
    if choice not in CHOICES or household not in mine or vote["status"] != "OPEN":
        raise HTTPException(404, "not found")
    return page.render("votes/confirm.html", vote=vote, choice=choice, household=household, **LABELS)


async def cast(page: Page) -> Response:
    posted = await form_with_csrf(page.request)
    vote_id = page.request.path_params["vote_id"]
    if posted.get("choice") not in CHOICES:
        raise HTTPException(404, "not found")
    result = (
        await page.run(
            "CastBallot", voteId=vote_id, householdId=posted.get("household", ""), choice=posted["choice"]
        )
    )["castBallot"]
    if result["__typename"] != "VoteSaved":
        return await view(page, error=result["message"], status_code=400)
    return page.redirect(f"/votes/{vote_id}?done=1")


async def paper(page: Page) -> Response:
    """The steward's entry of a ballot collected door to door, with its photo."""
    vote_id = page.request.path_params["vote_id"]
    posted = await page.request.form(max_files=1, max_fields=10, max_part_size=media.MAX_IMAGE_BYTES + 1024)
    if not check_csrf(page.request, str(posted.get("csrf_token", ""))):
        raise HTTPException(403, "csrf")
    choice = str(posted.get("choice", ""))
    if choice not in CHOICES:
        raise HTTPException(404, "not found")
    # Before the upload: a query ends by committing what its session holds; the photo goes with the ballot.
    community_id = (await page.run("VotePage", id=vote_id))["vote"]["community"]["id"]
    try:
        photo = await store_posted_file(
            page, posted.get("photo"), kind="image", community_id=int(community_id)
        )
    except LaoyouError as exc:
        return await view(
            page, error=i18n.gettext(exc.message, page.context.language, **exc.params), status_code=400
        )
    result = (
        await page.run(
            "RecordPaperBallot",
            voteId=vote_id,
            householdId=str(posted.get("household", "")),
            choice=choice,
            photoId=str(photo.id) if photo is not None else "0",
        )
    )["recordPaperBallot"]
    if result["__typename"] != "VoteSaved":
        return await view(page, error=result["message"], status_code=400)
    done = i18n.gettext("The paper ballot is recorded.", page.context.language)
    return await view(page, message=done)


async def proxy(page: Page) -> Response:
    posted = await form_with_csrf(page.request)
    vote_id = page.request.path_params["vote_id"]
    result = (
        await page.run(
            "RecordVoteProxy",
            voteId=vote_id,
            householdId=posted.get("household", ""),
            phone=posted.get("phone", ""),
            note=posted.get("note", ""),
        )
    )["recordVoteProxy"]
    if result["__typename"] != "VoteSaved":
        return await view(page, error=result["message"], status_code=400)
    return await view(page, message=i18n.gettext("The proxy is recorded.", page.context.language))


async def certify(page: Page) -> Response:
    await form_with_csrf(page.request)
    vote_id = page.request.path_params["vote_id"]
    result = (await page.run("CertifyVote", id=vote_id))["certifyVote"]
    if result["__typename"] != "VoteSaved":
        return await view(page, error=result["message"], status_code=400)
    return page.redirect(f"/votes/{vote_id}")


async def new(
    page: Page,
    *,
    values: dict | None = None,
    error: str | None = None,
    field: str | None = None,
    status_code: int = 200,
) -> Response:
    """The proposal form: the community, the matter, the text, the deadline, and for a fee matter the plan."""
    communities = (await page.run("VoteForm"))["viewer"]["staffCommunities"]
    decisions = []
    for community in communities:
        for plan in (await page.run("VoteFeePlans", communityId=community["id"]))["feePlans"]:
            if plan["status"] == "DRAFT":
                decisions.append(
                    {"value": f"{plan['id']}:", "label": f"{community['name']} · {plan['name']}"}
                )
            for package in sorted({i["package"] for i in plan["items"]} - {"base"}):
                label = f"{community['name']} · {plan['name']} · {package}"
                decisions.append({"value": f"{plan['id']}:{package}", "label": label})
    return page.render(
        "votes/new.html",
        status_code=status_code,
        communities=communities,
        decisions=decisions,
        values=values or {},
        error=error,
        field=field,
        **LABELS,
    )


async def propose(page: Page) -> Response:
    posted = await form_with_csrf(page.request)
    values = {k: posted.get(k, "") for k in ("community", "matter", "title", "body", "deadline", "decision")}
    try:
        # The last minute of the chosen Shanghai day, so the page says "until 23:59" of the day the person chose.
        last_day = date.fromisoformat(values["deadline"])
        deadline = (day_start(last_day + timedelta(days=1)) - timedelta(minutes=1)).isoformat()
    except ValueError:
        message = i18n.gettext("Please choose the last day of voting.", page.context.language)
        return await new(page, values=values, error=message, field="deadline", status_code=400)
    plan_id, _sep, package = values["decision"].partition(":")
    result = (
        await page.run(
            "ProposeVote",
            input={
                "communityId": values["community"],
                "matter": values["matter"] if values["matter"] in MATTERS else "RENEW_SERVICE",
                "title": values["title"],
                "body": values["body"],
                "deadline": deadline,
                "feePlanId": plan_id or None,
                "package": package,
            },
        )
    )["proposeVote"]
    if result["__typename"] != "VoteSaved":
        return await new(
            page, values=values, error=result["message"], field=result.get("field"), status_code=400
        )
    return page.redirect(f"/votes/{result['vote']['id']}")


PAGES = (
    PageRoute("GET", "/votes", index),
    PageRoute("GET", "/votes/new", new, staff=True),
    PageRoute("POST", "/votes/new", propose, staff=True),
    PageRoute("GET", "/votes/{vote_id:int}", view),
    PageRoute("GET", "/votes/{vote_id:int}/confirm", confirm),
    PageRoute("POST", "/votes/{vote_id:int}/ballot", cast),
    PageRoute("POST", "/votes/{vote_id:int}/paper", paper, staff=True),
    PageRoute("POST", "/votes/{vote_id:int}/proxy", proxy, staff=True),
    PageRoute("POST", "/votes/{vote_id:int}/certify", certify, staff=True),
)


def install(app: FastAPI) -> None:
    add_pages(app, PAGES)
