"""Daily briefings in Chromium: a steward logs in with the staff password and posts a briefing with a photo
through the form; a resident at a phone's size sees it at the top of her home page, the steward's read count
for 秀山花园 moves, the photo opens full screen; axe-core finds no violations on the form, the steward's
briefing page, the resident's home, the archive, the share page and the notification settings; every tappable
element on the resident's briefing pages is at least 60×60 px."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from ..conftest import RESIDENT_XIUSHAN, STEWARD_XIUSHAN
from ..support.servers import AppProcess
from .helpers import assert_accessible, logged_in, login_staff, shot, tappable_too_small

pytestmark = pytest.mark.browser


@pytest.fixture
def site(own_server: AppProcess) -> dict[str, Any]:
    """A own_server of the module's own (its read counts are counted), in English."""
    return {"base_url": own_server.url, "locale": "en-US"}


@pytest.fixture
def photo(tmp_path: Path) -> Path:
    path = tmp_path / "lamp.jpg"
    image = Image.new("RGB", (1200, 900), (40, 120, 200))
    for x in range(300, 900):  # something to see: a white bar
        for y in range(400, 500):
            image.putpixel((x, y), (255, 255, 255))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG")
    path.write_bytes(buffer.getvalue())
    return path


def steward_page(new_context: Any, viewport: dict) -> Any:
    """The steward logs in as a person would: the staff form on /login, phone and password."""
    page = new_context(viewport=viewport).new_page()
    login_staff(page, STEWARD_XIUSHAN)
    return page


def resident_page(new_context: Any) -> Any:
    """The resident taps her name in the demo list (the one-tap demo login), at a phone's size."""
    return logged_in(new_context, RESIDENT_XIUSHAN, has_touch=True, is_mobile=True)


def read_count(page, briefing_url: str) -> int:  # noqa: ANN001
    page.goto(briefing_url)
    row = page.locator("tr").filter(has=page.locator("th", has_text="秀山花园"))
    return int(row.locator("[data-read-count]").inner_text())


@pytest.mark.parametrize(
    "viewport", [{"width": 1280, "height": 900}, {"width": 390, "height": 844}], ids=["desktop", "phone"]
)
def test_steward_posts_with_a_photo_and_a_resident_reads_it_on_her_phone(
    new_context, own_server, axe, photo, viewport
):
    steward = steward_page(new_context, viewport)
    title = f"Street lamps mended ({viewport['width']})"
    # Given the briefing form, which has no accessibility violations
    steward.goto("/briefings/new")
    assert_accessible(axe, steward, "briefing form")
    shot(steward, f"briefings-form-{viewport['width']}")
    # When the steward writes for 秀山花园, adds a photo and publishes
    steward.get_by_role("checkbox", name="秀山花园", exact=True).check()
    steward.fill("#title", title)
    steward.fill("#body", "The lamps by building 3 work again. Thank you for your patience.")
    steward.fill("#done_repair", "Lamp by building 3\nWater pipe in building 5")
    steward.fill("#done_cleaning", "Swept the main road")
    steward.set_input_files("#photos", str(photo))
    # And ticks a repair finished today (the demo has one), which fills the repairs box
    repair = steward.locator("[data-work-orders] input[type=checkbox]").first
    repair_text = repair.get_attribute("data-text")
    repair.check()
    assert steward.input_value("#done_repair").splitlines()[-1] == repair_text
    steward.get_by_role("button", name="Publish now").click()
    steward.wait_for_url("**/briefings/*")
    briefing_url = steward.url.replace(own_server.url, "")
    assert steward.get_by_role("heading", name=title).is_visible()
    assert steward.locator(".done-list li").all_inner_texts().count(repair_text) == 1
    assert steward.locator(".briefing-photos img").count() == 1
    before = read_count(steward, briefing_url)
    assert_accessible(axe, steward, "steward's briefing page")
    shot(steward, f"briefings-steward-briefing-{viewport['width']}")

    # When a resident opens her home page at 360×740
    resident = resident_page(new_context)
    resident.goto("/")
    # Then today's briefing is at the top, with its photo, and can be read aloud
    today = resident.locator("section.briefing.today").filter(has_text=title)
    today.wait_for()
    assert today.locator("button.read-aloud").count() == 1
    assert today.locator(".briefing-photos img").count() == 1
    assert resident.locator("video[autoplay]").count() == 0
    assert_accessible(axe, resident, "resident home with the briefing")
    shot(resident, "briefings-resident-home")
    # And the steward's read count for 秀山花园 moved by her household
    assert read_count(steward, briefing_url) == before + 1

    # When she taps the photo, it fills the screen
    today.locator("a[data-fullscreen-photo]").first.click()
    resident.wait_for_function("() => document.fullscreenElement !== null")
    shown = resident.evaluate(
        "() => { const el = document.fullscreenElement; const r = el.getBoundingClientRect();"
        " return {tag: el.tagName, w: r.width, h: r.height, loaded: el.complete && el.naturalWidth > 0}; }"
    )
    assert shown["tag"] == "IMG" and shown["w"] >= 350 and shown["h"] >= 700, shown
    resident.wait_for_function(
        "() => document.fullscreenElement && document.fullscreenElement.naturalWidth > 0"
    )
    shot(resident, "briefings-photo-fullscreen")
    # And a tap brings her back
    resident.locator("img.photo-fullscreen").click()
    resident.wait_for_function("() => document.fullscreenElement === null")
    # The viewer is removed on the fullscreenchange event, which comes just after fullscreenElement clears.
    resident.wait_for_function("() => document.querySelector('img.photo-fullscreen') === null", timeout=5000)
    assert resident.locator("img.photo-fullscreen").count() == 0
    resident.context.close()
    steward.context.close()


def test_resident_briefing_pages_are_accessible_with_elderly_size_targets(
    new_context, own_server, axe, photo
):
    steward = steward_page(new_context, {"width": 1280, "height": 900})
    steward.goto("/briefings/new")
    steward.get_by_role("checkbox", name="秀山花园", exact=True).check()
    steward.fill("#title", "Lift inspection done")
    steward.fill("#body", "Both lifts of building 2 passed today's inspection.")
    steward.fill("#done_patrol", "Night patrol twice")
    steward.set_input_files("#photos", str(photo))
    steward.get_by_role("button", name="Publish now").click()
    steward.wait_for_url("**/briefings/*")
    briefing_url = steward.url.replace(own_server.url, "")
    share_url = steward.locator("#share-url").input_value()
    share_path = share_url[share_url.index("/share/") :]
    steward.context.close()

    resident = resident_page(new_context)
    for path, what in [
        ("/", "resident home"),
        (briefing_url, "resident's briefing page"),
        ("/briefings", "archive"),
        ("/settings/notifications", "notification settings"),
    ]:
        # Given each page a resident reads briefings on
        resident.goto(path)
        # Then axe finds nothing and every target is big enough for an old finger
        assert_accessible(axe, resident, what)
        too_small = tappable_too_small(resident)
        assert not too_small, f"{what}: {too_small}"
        shot(resident, "briefings-resident" + (path.replace("/", "-") if path != "/" else "-home2"))
    # When the resident says thank you with one tap
    resident.goto(briefing_url)
    resident.get_by_role("button", name="Thank you").click()
    assert resident.get_by_text("You said thank you.").is_visible()

    # And the public share page, opened by anybody from the chat group, is accessible too
    stranger = new_context().new_page()
    stranger.goto(share_path)
    assert stranger.get_by_role("heading", name="Lift inspection done").is_visible()
    assert RESIDENT_XIUSHAN not in stranger.content()
    assert_accessible(axe, stranger, "share page")
    too_small = tappable_too_small(stranger)
    assert not too_small, f"share page: {too_small}"
    shot(stranger, "briefings-share")
    stranger.context.close()
    resident.context.close()


# Two seconds of ffmpeg's test pattern, 160×120, H.264 baseline with its index first, as a phone records it:
#   ffmpeg -f lavfi -i testsrc=size=160x120:rate=10 -t 2 -c:v libx264 -pix_fmt yuv420p -profile:v baseline
#          -movflags +faststart clip.mp4
CLIP = Path(__file__).with_name("clip.mp4")


def test_a_briefings_video_plays_and_seeks_on_the_residents_phone(new_context, own_server, photo):
    # Given a steward's briefing with a photo and a short video
    steward = steward_page(new_context, {"width": 1280, "height": 900})
    steward.goto("/briefings/new")
    steward.get_by_role("checkbox", name="秀山花园", exact=True).check()
    steward.fill("#title", "Drain cleared, see the video")
    steward.fill("#body", "The blocked drain by building 4 was cleared this morning.")
    steward.set_input_files("#photos", str(photo))
    steward.set_input_files("#video", str(CLIP))
    steward.get_by_role("button", name="Publish now").click()
    steward.wait_for_url("**/briefings/*")
    steward.context.close()
    # When the resident opens her home page and starts the video (it never loads or plays by itself)
    resident = resident_page(new_context)
    answers: list[tuple[int, str | None]] = []
    resident.on(
        "response",
        lambda r: answers.append((r.status, r.headers.get("content-range"))) if "/media/" in r.url else None,
    )
    resident.goto("/")
    video = resident.locator("section.briefing.today video.briefing-video")
    video.wait_for()
    video.evaluate("v => { v.muted = true; v.preload = 'metadata'; v.load(); }")
    # Then the phone's player reads the video in parts, learns its length, and can jump into it
    resident.wait_for_function(
        "() => { const v = document.querySelector('video.briefing-video');"
        " return v.error || v.readyState >= 1; }"
    )
    assert video.evaluate("v => v.error && v.error.code") is None
    assert round(video.evaluate("v => v.duration")) == 2
    video.evaluate(
        "v => new Promise(done => { v.addEventListener('seeked', done, {once: true}); v.currentTime = 1.5; })"
    )
    assert video.evaluate("v => v.readyState") >= 1
    assert any(
        status == 206 and (spans or "").endswith(f"/{CLIP.stat().st_size}") for status, spans in answers
    )
    resident.context.close()
