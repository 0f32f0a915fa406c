"""Who may fetch an uploaded file: while it is attached to nothing, its uploader alone; once it is a draft
briefing's photo, the staff who may see the draft; once published, the briefing's readers."""

from __future__ import annotations

from ..briefings.helpers import BRIEFING, CREATE, PUBLISH, briefing_input, community_ids
from ..conftest import (
    ADMIN,
    FAMILY_OF_XIUSHAN,
    OFFICIAL_XIUSHAN,
    RESIDENT_JINGJU,
    RESIDENT_XIUSHAN,
    STEWARD_XIUSHAN,
    STEWARD_YUEYANG,
    login_demo,
)
from ..tickets.helpers import report
from .helpers import new_resident
from .test_uploads import jpeg_with_gps, upload

HOUSEHOLDS = "query { viewer { households { id community { id } } } }"


async def fetch_statuses(client, urls: list[str], token: str | None) -> set[int]:  # noqa: ANN001
    """The statuses of fetching these files (the photo and its thumbnail) as the holder of the token."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return {(await client.get(url, headers=headers)).status_code for url in urls}


async def test_a_file_attached_to_nothing_is_seen_by_its_uploader_alone(app, client, gql, db):
    # Given a resident's photo, uploaded for a report that then failed: attached to nothing
    owner = await login_demo(gql, RESIDENT_XIUSHAN)
    household = (await owner(HOUSEHOLDS))["data"]["viewer"]["households"][0]
    community_id = household["community"]["id"]
    stored = (await upload(client, owner.token, jpeg_with_gps(300, 200), community_id)).json()
    urls = [stored["url"], stored["thumbUrl"]]
    # Then she can fetch it
    assert await fetch_statuses(client, urls, owner.token) == {200}
    # And nobody else can: a neighbour, her son, the community's steward and official, the operator's admin,
    # a resident of another community, or anyone without a login
    neighbour = await new_resident(
        db,
        app.state.settings,
        community_id=int(community_id),
        phone="+8613900077001",
        not_household=int(household["id"]),
    )
    others = {"neighbour": neighbour}
    for name, phone in {
        "family": FAMILY_OF_XIUSHAN,
        "steward": STEWARD_XIUSHAN,
        "official": OFFICIAL_XIUSHAN,
        "admin": ADMIN,
        "other community": RESIDENT_JINGJU,
    }.items():
        others[name] = (await login_demo(gql, phone)).token
    others["anonymous"] = None
    for name, token in others.items():
        assert await fetch_statuses(client, urls, token) == {404}, name


async def test_a_file_is_seen_by_those_who_see_what_it_is_attached_to(app, client, gql, db):
    # Given a resident's photo, not yet sent with anything
    owner = await login_demo(gql, RESIDENT_XIUSHAN)
    household = (await owner(HOUSEHOLDS))["data"]["viewer"]["households"][0]
    stored = (await upload(client, owner.token, jpeg_with_gps(300, 200), household["community"]["id"])).json()
    steward = await login_demo(gql, STEWARD_XIUSHAN)
    assert await fetch_statuses(client, [stored["url"]], steward.token) == {404}
    # When she reports a repair with it
    reported = await report(owner, photoIds=[stored["id"]])
    assert reported["__typename"] == "WorkOrderReported", reported
    # Then the community's steward, who handles the work order, sees it; a stranger still does not
    assert await fetch_statuses(client, [stored["url"], stored["thumbUrl"]], steward.token) == {200}
    stranger = await login_demo(gql, RESIDENT_JINGJU)
    assert await fetch_statuses(client, [stored["url"]], stranger.token) == {404}
    assert await fetch_statuses(client, [stored["url"]], None) == {404}


async def test_a_draft_briefings_photos_are_seen_by_its_staff_alone_until_it_is_published(
    app, client, gql, db
):
    # Given a steward's draft briefing with a photo, for Xiushan Garden
    steward = await login_demo(gql, STEWARD_XIUSHAN)
    xiushan = (await community_ids(steward))["秀山花园"]
    photo = (await upload(client, steward.token, jpeg_with_gps(300, 200), xiushan)).json()
    created = await steward(
        CREATE, {"input": briefing_input([xiushan], photoIds=[photo["id"]]), "mode": "DRAFT"}
    )
    briefing = created["data"]["createBriefing"]["briefing"]
    assert briefing["status"] == "DRAFT", created
    shown = (await steward(BRIEFING, {"id": briefing["id"]}))["data"]["briefing"]["photos"][0]
    urls = [photo["url"], photo["thumbUrl"], shown["url"], shown["thumbUrl"]]
    # Then its steward, the community's official and the operator's admin see the photo
    for phone in (STEWARD_XIUSHAN, OFFICIAL_XIUSHAN, ADMIN):
        assert await fetch_statuses(client, urls, (await login_demo(gql, phone)).token) == {200}, phone
    # But no resident of the community (nor her son, nor a neighbour), no steward of another community,
    # no resident of another community and nobody without a login
    resident = await login_demo(gql, RESIDENT_XIUSHAN)
    household = (await resident(HOUSEHOLDS))["data"]["viewer"]["households"][0]
    neighbour = await new_resident(
        db,
        app.state.settings,
        community_id=int(xiushan),
        phone="+8613900077002",
        not_household=int(household["id"]),
    )
    strangers = {
        "resident": resident.token,
        "neighbour": neighbour,
        "family": (await login_demo(gql, FAMILY_OF_XIUSHAN)).token,
        "other steward": (await login_demo(gql, STEWARD_YUEYANG)).token,
        "other community": (await login_demo(gql, RESIDENT_JINGJU)).token,
        "anonymous": None,
    }
    for name, token in strangers.items():
        assert await fetch_statuses(client, urls, token) == {404}, name
    # When it is published, the community's residents see it; strangers still do not
    published = (await steward(PUBLISH, {"id": briefing["id"]}))["data"]["publishBriefing"]
    assert published["__typename"] == "BriefingSaved", published
    for name in ("resident", "neighbour", "family"):
        assert await fetch_statuses(client, urls, strangers[name]) == {200}, name
    for name in ("other steward", "other community", "anonymous"):
        assert await fetch_statuses(client, urls, strangers[name]) == {404}, name
