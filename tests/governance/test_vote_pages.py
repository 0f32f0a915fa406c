"""The vote pages: a resident taps an option, confirms, and sees her vote; the steward enters a paper ballot with its
photo, which residents cannot open; the official certifies; the proposal form refuses a past day in plain words."""

from __future__ import annotations

import io
import re
from datetime import timedelta

from PIL import Image
from sqlalchemy import update
from sqlmodel import select

from laoyou.core.time import local_date, utcnow
from laoyou.governance.votes.models import Ballot, Vote

from ..conftest import OFFICIAL_XIUSHAN, RESIDENT_JINGJU, RESIDENT_XIUSHAN, STEWARD_XIUSHAN, login_demo

CSRF = "page-csrf-token-votes"


def jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (600, 800), (240, 240, 230)).save(out, "JPEG")
    return out.getvalue()


def as_person(token: str) -> dict:
    return {
        "headers": {
            "Authorization": f"Bearer {token}",
            "Accept-Language": "en",
            "Cookie": f"laoyou_csrf={CSRF}",
        }
    }


async def xiushan_vote(db) -> Vote:  # noqa: ANN001
    return (await db.exec(select(Vote).where(Vote.certified_at.is_(None)))).first()


async def test_a_resident_votes_in_two_taps(gql, client, db):
    resident = await login_demo(gql, RESIDENT_XIUSHAN)
    vote = await xiushan_vote(db)
    listed = await client.get("/votes", **as_person(resident.token))
    assert listed.status_code == 200 and vote.title in listed.text
    page = await client.get(f"/votes/{vote.id}", **as_person(resident.token))
    link = re.search(rf'href="(/votes/{vote.id}/confirm\?household=(\d+)&amp;choice=YES)"', page.text)
    assert link is not None, page.text
    confirm = await client.get(link.group(1).replace("&amp;", "&"), **as_person(resident.token))
    assert confirm.status_code == 200 and "You chose: Agree" in confirm.text
    sent = await client.post(
        f"/votes/{vote.id}/ballot",
        **as_person(resident.token),
        data={"csrf_token": CSRF, "household": link.group(2), "choice": "YES"},
    )
    assert sent.status_code == 303
    done = await client.get(sent.headers["location"], **as_person(resident.token))
    assert "Your vote is recorded" in done.text and "You voted: Agree" in done.text
    # A second door: the steward cannot also enter a paper ballot for her household
    steward = await login_demo(gql, STEWARD_XIUSHAN)
    twice = await client.post(
        f"/votes/{vote.id}/paper",
        **as_person(steward.token),
        data={"csrf_token": CSRF, "household": link.group(2), "choice": "NO"},
        files={"photo": ("ballot.jpg", jpeg(), "image/jpeg")},
    )
    assert twice.status_code == 400 and "This household has already voted." in twice.text


async def test_the_steward_enters_a_paper_ballot_and_the_official_certifies(gql, client, db):
    steward = await login_demo(gql, STEWARD_XIUSHAN)
    official = await login_demo(gql, OFFICIAL_XIUSHAN)
    vote = await xiushan_vote(db)
    page = await client.get(f"/votes/{vote.id}", **as_person(steward.token))
    household = re.search(
        r'<select id="paper-household" name="household" required>\s*<option value="(\d+)"', page.text
    )
    assert household is not None
    no_photo = await client.post(
        f"/votes/{vote.id}/paper",
        **as_person(steward.token),
        data={"csrf_token": CSRF, "household": household.group(1), "choice": "YES"},
    )
    assert no_photo.status_code == 400 and "Add a photo of the signed paper ballot." in no_photo.text
    entered = await client.post(
        f"/votes/{vote.id}/paper",
        **as_person(steward.token),
        data={"csrf_token": CSRF, "household": household.group(1), "choice": "YES"},
        files={"photo": ("ballot.jpg", jpeg(), "image/jpeg")},
    )
    assert entered.status_code == 200 and "The paper ballot is recorded." in entered.text
    # The page shown after the entry reads it afresh (the loaders of the page's first reading are forgotten
    # once the ballot is committed): the household no longer waits for a ballot
    assert f'<option value="{household.group(1)}">' not in entered.text
    ballot = (await db.exec(select(Ballot).where(Ballot.household_id == int(household.group(1))))).one()
    # The ballot's photo shows how a household voted: the steward sees it, a resident of the community does not
    assert (await client.get(f"/media/{ballot.photo_id}", **as_person(steward.token))).status_code == 200
    resident = await login_demo(gql, RESIDENT_XIUSHAN)
    assert (await client.get(f"/media/{ballot.photo_id}", **as_person(resident.token))).status_code == 404

    await db.exec(update(Vote).where(Vote.id == vote.id).values(deadline=utcnow() - timedelta(minutes=1)))
    await db.commit()
    certified = await client.post(
        f"/votes/{vote.id}/certify", **as_person(official.token), data={"csrf_token": CSRF}
    )
    assert certified.status_code == 303
    shown = await client.get(f"/votes/{vote.id}", **as_person(resident.token))
    assert "Result: Not passed: fewer than two thirds took part" in shown.text


async def test_the_proposal_form_refuses_a_past_day_and_opens_a_vote(gql, client):
    steward = await login_demo(gql, STEWARD_XIUSHAN)
    form = await client.get("/votes/new", **as_person(steward.token))
    community = re.search(r'<option value="(\d+)">秀山花园</option>', form.text).group(1)
    fields = {"csrf_token": CSRF, "community": community, "matter": "USE_FUND", "title": "维修屋顶"}
    yesterday = (local_date(utcnow()) - timedelta(days=1)).isoformat()
    past = await client.post("/votes/new", **as_person(steward.token), data=fields | {"deadline": yesterday})
    assert past.status_code == 400 and "The deadline must be after now" in past.text
    week = (local_date(utcnow()) + timedelta(days=7)).isoformat()
    made = await client.post("/votes/new", **as_person(steward.token), data=fields | {"deadline": week})
    assert made.status_code == 303
    stranger = await login_demo(gql, RESIDENT_JINGJU)
    assert (await client.get(made.headers["location"], **as_person(stranger.token))).status_code == 404
