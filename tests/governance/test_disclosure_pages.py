"""The disclosure pages: a resident reads it (read counted) and asks about a line (into customer service), the
steward prepares one through the forms with an invoice photo, publishes it and prints the notice with its QR."""

from __future__ import annotations

import io
import re

from PIL import Image

from ..conftest import OFFICIAL_XIUSHAN, RESIDENT_JINGJU, RESIDENT_XIUSHAN, STEWARD_XIUSHAN, login_demo
from .test_disclosures import LIST, ONE

CSRF = "page-csrf-token-5678"


def jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (400, 300), (30, 140, 90)).save(out, "JPEG")
    return out.getvalue()


def as_person(token: str) -> dict:
    return {
        "headers": {
            "Authorization": f"Bearer {token}",
            "Accept-Language": "en",
            "Cookie": f"laoyou_csrf={CSRF}",
        }
    }


async def test_a_resident_reads_and_asks_and_the_official_sees_the_read(gql, client):
    resident = await login_demo(gql, RESIDENT_XIUSHAN)
    disclosure_id = (await resident(LIST))["data"]["disclosures"][0]["id"]
    # When she opens the list and the disclosure
    listed = await client.get("/disclosures", **as_person(resident.token))
    assert listed.status_code == 200 and f"/disclosures/{disclosure_id}" in listed.text
    page = await client.get(f"/disclosures/{disclosure_id}", **as_person(resident.token))
    assert (
        page.status_code == 200 and 'class="plain disclosure-lines"' in page.text and "line-bar" in page.text
    )
    # Then it counts as read for the community's official
    official = await login_demo(gql, OFFICIAL_XIUSHAN)
    seen = (await official(ONE, {"id": disclosure_id}))["data"]["disclosure"]["readership"]
    assert seen["householdsRead"] == 1
    official_page = await client.get(f"/disclosures/{disclosure_id}", **as_person(official.token))
    assert "Who has read it" in official_page.text
    # When she taps Ask beside a line and sends her question
    ask_link = re.search(rf'href="(/disclosures/{disclosure_id}/lines/[^/"]+/ask)"', page.text).group(1)
    form = await client.get(ask_link, **as_person(resident.token))
    assert form.status_code == 200
    sent = await client.post(
        ask_link,
        **as_person(resident.token),
        data={"csrf_token": CSRF, "question": "停车费怎么用？", "client_id": "p-1"},
    )
    # Then she lands in the customer-service chat, where the answer comes
    assert sent.status_code == 303 and sent.headers["location"].startswith("/support")
    after = await client.get(f"/disclosures/{disclosure_id}", **as_person(resident.token))
    assert "See the answer" in after.text
    # And a resident of another community gets nothing
    stranger = await login_demo(gql, RESIDENT_JINGJU)
    assert (await client.get(f"/disclosures/{disclosure_id}", **as_person(stranger.token))).status_code == 404


async def test_the_steward_prepares_with_an_invoice_publishes_and_prints(gql, client):
    steward = await login_demo(gql, STEWARD_XIUSHAN)
    listed = await client.get("/disclosures", **as_person(steward.token))
    community = re.search(r'<option value="([^"]+)">秀山花园', listed.text).group(1)
    quarters = re.findall(r'<option value="(\d{4}-\d)">', listed.text)
    created = await client.post(
        "/disclosures/new",
        **as_person(steward.token),
        data={"csrf_token": CSRF, "community_id": community, "quarter": quarters[-1]},
    )
    assert created.status_code == 303, created.text
    url = created.headers["location"]
    # A bad amount is refused on the page
    bad = await client.post(
        f"{url}/spending",
        **as_person(steward.token),
        data={"csrf_token": CSRF, "fund": "property_fee", "title": "x", "amount": "abc"},
    )
    assert bad.status_code == 400
    added = await client.post(
        f"{url}/spending",
        **as_person(steward.token),
        data={"csrf_token": CSRF, "fund": "property_fee", "title": "水泵维修", "amount": "320.50"},
        files={"photos": ("invoice.jpg", jpeg(), "image/jpeg")},
    )
    assert added.status_code == 303, added.text
    shared = await client.post(
        f"{url}/share",
        **as_person(steward.token),
        data={"csrf_token": CSRF, "cost": "9000", "key": "floor_area"},
    )
    assert shared.status_code == 303
    published = await client.post(f"{url}/publish", **as_person(steward.token), data={"csrf_token": CSRF})
    assert published.status_code == 303
    page = await client.get(url, **as_person(steward.token))
    assert "水泵维修" in page.text and "320.50" in page.text and "Invoice photo 1" in page.text
    # The invoice photo is served to a resident of the community, not to a stranger
    photo = re.search(r'href="(/media/\d+)"', page.text).group(1)
    resident = await login_demo(gql, RESIDENT_XIUSHAN)
    assert (await client.get(photo, **as_person(resident.token))).status_code == 200
    stranger = await login_demo(gql, RESIDENT_JINGJU)
    assert (await client.get(photo, **as_person(stranger.token))).status_code == 404
    # The notice-board print carries the QR of the online page
    printed = await client.get(f"{url}/print", **as_person(steward.token))
    assert printed.status_code == 200 and "<svg" in printed.text and 'class="qr"' in printed.text
