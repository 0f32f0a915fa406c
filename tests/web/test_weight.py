"""Weight and caching: answers compressed (brotli, else gzip) for a client that accepts it and never for
one that does not; photos and event streams as they are; static files under content-hashed names kept for
a year; pages that Back may restore from the back/forward cache, except one-time-token pages."""

from __future__ import annotations

import re

import httpx
from starlette.applications import Starlette
from starlette.responses import StreamingResponse
from starlette.routing import Route

from laoyou.app import add_compression
from laoyou.web.assets import HASHED

from ..accounts.test_login_cards import issue, token_of, xiushan_household
from ..conftest import RESIDENT_XIUSHAN, STEWARD_XIUSHAN, login_demo
from ..web.test_edge import noisy_jpeg
from .conftest import csrf_in, log_in, open_page

# --- compression ----------------------------------------------------------------------------------------


async def test_a_page_is_sent_brotli_or_gzip_to_a_client_that_accepts_it_and_plain_to_one_that_does_not(
    client, db
):
    # Given a logged-in resident
    await log_in(client, RESIDENT_XIUSHAN)
    plain = await client.get("/", headers={"Accept-Encoding": "identity"})
    # When her phone accepts brotli and gzip, or gzip only, or neither
    both = await client.get("/", headers={"Accept-Encoding": "gzip, deflate, br, zstd"})
    gzip = await client.get("/", headers={"Accept-Encoding": "gzip"})
    refused = await client.get("/", headers={"Accept-Encoding": "br;q=0, gzip;q=0"})
    # Then she gets brotli, then gzip, then the page as it is: the same page each time
    assert both.headers["content-encoding"] == "br"
    assert gzip.headers["content-encoding"] == "gzip"
    assert "content-encoding" not in plain.headers and "content-encoding" not in refused.headers
    for response in (both, gzip, plain, refused):
        assert "accept-encoding" in response.headers["vary"].lower()
        assert "王秀英" in response.text
    # And the compressed page is a fraction of the plain one
    assert int(both.headers["content-length"]) < int(plain.headers["content-length"]) / 2


async def test_scripts_and_styles_are_compressed_too(client):
    response = await client.get("/static/css/app.css", headers={"Accept-Encoding": "br"})
    assert response.headers["content-encoding"] == "br"
    sw = await client.get("/sw.js", headers={"Accept-Encoding": "gzip"})
    assert sw.headers["content-encoding"] == "gzip"


async def test_a_photo_is_sent_as_it_is(client, gql):
    # Given a photo a resident uploaded (a JPEG: compressed already)
    resident = await login_demo(gql, RESIDENT_XIUSHAN)
    community = (await resident("query { viewer { households { community { id } } } }"))["data"]["viewer"][
        "households"
    ][0]["community"]["id"]
    auth = {"Authorization": f"Bearer {resident.token}"}
    uploaded = await client.post(
        "/media",
        files={"file": ("photo.jpg", noisy_jpeg(200), "image/jpeg")},
        data={"community_id": community},
        headers=auth,
    )
    assert uploaded.status_code == 201, uploaded.text
    # When it is fetched by a phone that accepts brotli
    response = await client.get(uploaded.json()["url"], headers={**auth, "Accept-Encoding": "br, gzip"})
    # Then it comes as it was stored
    assert response.status_code == 200 and response.headers["content-type"] == "image/jpeg"
    assert "content-encoding" not in response.headers


async def test_an_event_stream_is_sent_as_it_happens_uncompressed():
    # Given an app with Laoyou's compression and an event stream
    async def events(request):  # noqa: ANN001, ANN202
        async def stream():  # noqa: ANN202
            for n in range(3):
                yield f"data: {n} {'x' * 400}\n\n"

        return StreamingResponse(stream(), media_type="text/event-stream")

    app = Starlette(routes=[Route("/events", events)])
    add_compression(app)
    # When a client that accepts brotli listens
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as http:
        response = await http.get("/events", headers={"Accept-Encoding": "br, gzip"})
    # Then the events come uncompressed
    assert "content-encoding" not in response.headers
    assert response.text.count("data: ") == 3


# --- static files under hashed names ----------------------------------------------------------------------


async def test_pages_ask_for_static_files_by_hashed_names_kept_for_a_year(client, app):
    # Given the login page
    html = await open_page(client, "/login")
    # Then its stylesheet and script have content-hashed names
    css = re.search(r'<link rel="stylesheet" href="(/static/css/app\.[0-9a-f]{12}\.css)">', html)
    js = re.search(r'<script type="module" src="(/static/js/app\.[0-9a-f]{12}\.js)">', html)
    assert css and js
    # And under that name the stylesheet is kept a year without asking again
    hashed = await client.get(css.group(1))
    assert hashed.status_code == 200 and hashed.headers["cache-control"] == HASHED
    assert "public" in HASHED and "max-age=31536000" in HASHED and "immutable" in HASHED
    # And it is the stylesheet itself
    assert hashed.content == (app.state.settings.pwa_dir / "static" / "css" / "app.css").read_bytes()
    # And the plain name (the scripts' own imports) and a name from before a deploy still work, briefly kept
    for path in ("/static/css/app.css", "/static/css/app.000000000000.css"):
        response = await client.get(path)
        assert response.status_code == 200 and response.content == hashed.content
        assert response.headers["cache-control"] == "public, max-age=600"
    assert (await client.get("/static/css/nothing.css")).status_code == 404
    # And the service worker precaches the names the pages ask for, under a version made from them
    sw = (await client.get("/sw.js")).text
    assert sw.startswith("const BUILD = {")
    assert css.group(1) in sw and js.group(1) in sw


# --- pages and the back/forward cache ------------------------------------------------------------------------


async def test_pages_may_be_restored_by_back_but_a_one_time_token_page_is_kept_nowhere(client, gql):
    # Given a login card printed for a resident, and a logged-in resident
    household_id, person_id = await xiushan_household(gql)
    card = token_of(await issue(await login_demo(gql, STEWARD_XIUSHAN), household_id, person_id))
    client.cookies.clear()
    await log_in(client, RESIDENT_XIUSHAN)
    # Then her pages are for this browser only, checked again before any reuse, and not no-store
    for path in ("/", "/bills", "/repairs", "/settings"):
        response = await client.get(path)
        assert response.status_code == 200
        assert response.headers["cache-control"] == "private, no-cache", path
    # And the answer to a form is kept nowhere
    token = csrf_in(await open_page(client, "/settings"))
    answer = await client.post("/settings", data={"language": "zh_CN", "csrf_token": token})
    assert answer.status_code == 303 and answer.headers["cache-control"] == "no-store"
    # And a login card's page, which holds its one-time token, is kept nowhere
    response = await client.get(f"/card/{card}")
    assert response.status_code == 200 and response.headers["cache-control"] == "no-store"


async def test_logging_out_renews_the_csrf_token_so_back_cannot_show_the_old_session(client):
    # Given a logged-in resident on her home page
    await log_in(client, RESIDENT_XIUSHAN)
    before = csrf_in(await open_page(client, "/settings"))
    # When she logs out
    response = await client.post("/logout", data={"csrf_token": before})
    assert response.status_code == 303
    # Then the CSRF cookie of her session is gone, and the next page has a new one
    assert 'laoyou_csrf=""' in response.headers.get("set-cookie", "")
    assert csrf_in(await open_page(client, "/login")) != before


async def test_a_briefings_headings_never_skip_a_level(client):
    # Given a resident opening each briefing of her list on its own page
    await log_in(client, RESIDENT_XIUSHAN)
    links = sorted(set(re.findall(r'href="(/briefings/[^"/?]+)"', await open_page(client, "/briefings"))))
    assert links
    checked = 0
    for link in links:
        html = await open_page(client, link)
        levels = [int(n) for n in re.findall(r"<h([1-6])[\s>]", html.split('<main id="main"', 1)[1])]
        # Then the title is the h1 and every heading is at most one level below the one before (axe heading-order)
        assert levels[0] == 1, link
        assert all(b <= a + 1 for a, b in zip(levels, levels[1:], strict=False)), (link, levels)
        checked += len(levels) > 1
    assert checked  # a briefing with headings under its title ("Done today") was among them


# --- budgets ----------------------------------------------------------------------------------------------

PAGE_BUDGET = 30 * 1024  # a resident page and all it loads, as sent compressed (issue 16)
JS_BUDGET = 30 * 1024  # of which scripts


async def sent_size(client, path: str) -> int:  # noqa: ANN001
    """Bytes on the wire for a phone that accepts brotli."""
    async with client.stream("GET", path, headers={"Accept-Encoding": "gzip, deflate, br"}) as response:
        assert response.status_code == 200, path
        await response.aread()
        return response.num_bytes_downloaded


async def test_each_resident_page_with_all_it_loads_is_sent_in_at_most_30_kb(client, capsys):
    from laoyou.web.routes import resident_pages

    # Given a resident, her own pages and every page her home links to
    await log_in(client, RESIDENT_XIUSHAN)
    home = await open_page(client, "/")
    linked = set(re.findall(r'href="(/[^"#]*)"', home)) - {"/sw.js"}
    paths = sorted(set(resident_pages()) | linked | {"/settings"})
    figures = []
    for path in paths:
        response = await client.get(path)
        if response.status_code != 200 or not response.headers["content-type"].startswith("text/html"):
            continue
        html = response.text
        # What a first visit loads: the stylesheet, the scripts (with app.js's own imports) and the images
        styles = re.findall(r'<link rel="stylesheet" href="([^"]+)"', html)
        scripts = re.findall(r'<script type="module" src="([^"]+)"', html)
        if "data-read-aloud" in html:
            scripts.append("/static/js/read-aloud.js")
        if 'data-live="unread"' in html:
            scripts.append("/static/js/live.js")
        images = re.findall(r'<img[^>]+src="(/static/[^"]+)"', html)
        page = await sent_size(client, path)
        js = sum([await sent_size(client, s) for s in set(scripts)])
        rest = sum([await sent_size(client, s) for s in set(styles) | set(images)])
        figures.append((path, page, js, page + js + rest))
    with capsys.disabled():
        for path, page, js, total in figures:
            print(
                f"\n{path}: page {page / 1024:.1f} KB, js {js / 1024:.1f} KB, total {total / 1024:.1f} KB",
                end="",
            )
    # Then each, with everything it loads, is at most 30 KB, of which scripts at most 30 KB
    assert len(figures) >= 10
    for path, _page, js, total in figures:
        assert total <= PAGE_BUDGET, (path, total)
        assert js <= JS_BUDGET, (path, js)
