"""The foundation in a real browser (Debian's chromium) at a phone's size: login, home, settings, cards,
the service worker, the live badge; axe-core finds no WCAG 2 A/AA violation and elderly mode keeps its
promises (60×60 px targets, 18 px text)."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ..support.servers import AppProcess

CHROMIUM = Path("/usr/bin/chromium")
PHONE = {"width": 360, "height": 740}
RESIDENT = "13800000001"  # 王秀英, 秀山花园
STEWARD = "13800000011"  # 张建国, steward of 秀山花园
STAFF_PASSWORD = "laoyou-demo-2026"
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
TAPPABLE = "a[href], button, input:not([type=hidden]), select, textarea, summary, label:has(input)"

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppProcess]:
    tmp = tmp_path_factory.mktemp("browser-foundation")
    app = AppProcess(tmp, f"sqlite+aiosqlite:///{tmp / 'f.sqlite3'}", LAOYOU_JOBS_INTERVAL_SCALE="0").wait_ready()
    yield app
    app.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--no-first-run"],
        )
        yield launched
        launched.close()


def phone_context(browser, server: AppProcess, **options):  # noqa: ANN001, ANN201
    return browser.new_context(base_url=server.url, viewport=PHONE, locale="zh-CN", **options)


def sms_code(server: AppProcess, phone_e164: str, after: int) -> str:
    """The console SMS sender writes each message to the server's log; read the newest code for a phone."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        text = Path(server.log.name).read_text(encoding="utf-8", errors="replace")[after:]
        found = re.findall(rf"SMS to {re.escape(phone_e164)}: .*?(\d{{6}})", text)
        if found:
            return found[-1]
        time.sleep(0.2)
    raise AssertionError("no SMS was sent")


def log_size(server: AppProcess) -> int:
    return len(Path(server.log.name).read_text(encoding="utf-8", errors="replace"))


def login_with_code(page, server: AppProcess, phone: str = RESIDENT) -> None:  # noqa: ANN001
    page.goto("/login")
    mark = log_size(server)
    page.fill("#phone", phone)
    page.click("form[action='/login/code'] button[type=submit]")
    page.wait_for_url(re.compile(r"/login/verify"))
    page.fill("#code", sms_code(server, f"+86{phone}", mark))
    page.click("form[action='/login/verify'] button[type=submit]")
    page.wait_for_url(re.compile(r"/$"))


def login_demo_tap(page, phone: str = RESIDENT) -> None:  # noqa: ANN001
    """Demo mode: one tap on the person in the login page's list."""
    page.goto("/login")
    page.click(f"form[action='/login/demo']:has(input[name=phone][value='{phone}']) button")
    page.wait_for_url(re.compile(r"/$"))


def login_staff(page, phone: str = STEWARD) -> None:  # noqa: ANN001
    page.goto("/login")
    page.locator("details summary").first.click()
    page.fill("#staff-phone", phone)
    page.fill("#password", STAFF_PASSWORD)
    page.click("form[action='/login/password'] button[type=submit]")
    page.wait_for_url(re.compile(r"/$"))


def axe_violations(page) -> list[str]:  # noqa: ANN001
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page, options={"runOnly": {"type": "tag", "values": AXE_TAGS}})
    return [f"{v['id']}: {v['help']} ({len(v['nodes'])})" for v in results.response["violations"]]


def too_small(page) -> list[str]:  # noqa: ANN001
    """Visible tappable elements under 60×60 CSS px."""
    return page.evaluate(
        """(selector) => [...document.querySelectorAll(selector)]
            .filter(el => { const s = getComputedStyle(el); return s.display !== 'none' && s.visibility !== 'hidden'
                             && el.getClientRects().length && !el.closest('[hidden]') && !el.closest('.skip')
                             // a radio or checkbox inside its label is tapped through the whole label, measured itself
                             && !(el.tagName === 'INPUT' && el.closest('label')); })
            .map(el => [el, el.getBoundingClientRect()])
            .filter(([el, r]) => r.width < 60 || r.height < 60)
            .map(([el, r]) => `${el.tagName.toLowerCase()} "${(el.textContent || el.value || '').trim().slice(0, 30)}" ${Math.round(r.width)}x${Math.round(r.height)}`)""",
        TAPPABLE,
    )


def body_font_px(page) -> float:  # noqa: ANN001
    return float(page.evaluate("parseFloat(getComputedStyle(document.body).fontSize)"))


def test_resident_logs_in_with_a_code_and_sees_home(browser, server):
    context = phone_context(browser, server)
    page = context.new_page()
    login_with_code(page, server)
    assert "王秀英" in page.inner_text("main")
    call = page.locator("a.call").first
    assert call.get_attribute("href").startswith("tel:")
    context.close()


def test_wrong_code_is_a_clear_error_in_the_page(browser, server):
    context = phone_context(browser, server)
    page = context.new_page()
    page.goto("/login")
    page.fill("#phone", "13800000002")
    page.click("form[action='/login/code'] button[type=submit]")
    page.wait_for_url(re.compile(r"/login/verify"))
    page.fill("#code", "000000")
    page.click("form[action='/login/verify'] button[type=submit]")
    assert page.locator("[role=alert]").inner_text().strip()
    assert "/login/verify" in page.url
    context.close()


def test_language_and_text_size_change_through_settings(browser, server):
    context = phone_context(browser, server)
    page = context.new_page()
    login_demo_tap(page)
    page.goto("/settings")
    page.check("input[name=language][value=en]")
    page.check("input[name=text_size][value=largest]")
    page.click("main form.card[action='/settings'] button[type=submit]")
    page.wait_for_load_state()
    assert page.get_attribute("html", "lang") == "en"
    assert body_font_px(page) >= 30
    page.goto("/")
    assert "Call my steward" in page.inner_text("main")
    page.goto("/settings")
    page.check("input[name=language][value=zh_TW]")
    page.check("input[name=text_size][value=large]")
    page.click("main form.card[action='/settings'] button[type=submit]")
    page.wait_for_load_state()
    assert page.get_attribute("html", "lang") == "zh-TW"
    assert 18 <= body_font_px(page) < 30
    context.close()


def test_every_foundation_page_is_accessible_and_elderly_sized(browser, server):
    # Resident pages, in the elderly mode that is the default
    context = phone_context(browser, server)
    page = context.new_page()
    for path in ("/login", "/offline", "/card/not-a-real-card", "/no-such-page"):
        page.goto(path)
        assert axe_violations(page) == [], path
        assert too_small(page) == [], path
        assert body_font_px(page) >= 18, path
    page.goto("/login")
    page.fill("#phone", "13912340001")  # any number gets the same answer
    page.click("form[action='/login/code'] button[type=submit]")
    page.wait_for_url(re.compile(r"/login/verify"))
    assert axe_violations(page) == []
    assert too_small(page) == []
    login_demo_tap(page)
    for path in ("/", "/family", "/settings"):
        page.goto(path)
        assert axe_violations(page) == [], path
        assert too_small(page) == [], path
        assert body_font_px(page) >= 18, path
    context.close()
    # Staff pages: accessible, on a phone too
    context = phone_context(browser, server)
    page = context.new_page()
    login_staff(page)
    assert axe_violations(page) == [], "staff home"
    page.locator("a[href*='/households']").first.click()
    page.wait_for_load_state()
    assert axe_violations(page) == [], "households"
    page.locator("a[href*='/cards']").first.click()
    page.wait_for_load_state()
    assert axe_violations(page) == [], "household cards"
    page.locator("form[action*='/cards'] button[type=submit]").first.click()
    page.wait_for_load_state()
    assert page.locator(".qr svg, svg").count() >= 1
    assert axe_violations(page) == [], "printed card"
    context.close()


CARD = """
mutation ($h: ID!, $p: ID!) {
  issueLoginCard(householdId: $h, personId: $p) { __typename ... on LoginCardIssued { url } ... on Error { message } }
}
"""
MY_HOUSEHOLD = "query { viewer { person { id } households { id } } }"


def test_a_login_card_logs_the_resident_in_once(browser, server):
    resident = server.login(RESIDENT)
    mine = server.graphql(resident, MY_HOUSEHOLD)["viewer"]
    steward = server.login(STEWARD)
    issued = server.graphql(steward, CARD, {"h": mine["households"][0]["id"], "p": mine["person"]["id"]})
    url = issued["issueLoginCard"]["url"]
    path = url[url.index("/card/"):]
    # First phone: opening the link only shows the button; tapping it logs in
    context = phone_context(browser, server)
    page = context.new_page()
    page.goto(path)
    page.click("form[action^='/card/'] button[type=submit]")
    page.wait_for_url(re.compile(r"/$"))
    assert "王秀英" in page.inner_text("main")
    context.close()
    # Second use: refused with a clear message, not logged in
    context = phone_context(browser, server)
    page = context.new_page()
    page.goto(path)
    if page.locator("form[action^='/card/'] button[type=submit]").count():
        page.click("form[action^='/card/'] button[type=submit]")
    assert page.locator("[role=alert]").inner_text().strip()
    page.goto("/")
    assert "/login" in page.url
    context.close()


def test_service_worker_keeps_last_seen_pages_and_shows_the_offline_page(browser, server):
    context = phone_context(browser, server)
    page = context.new_page()
    login_demo_tap(page)
    page.evaluate("navigator.serviceWorker.ready.then(() => true)")
    page.reload()  # now controlled by the service worker, which keeps this page
    page.wait_for_function("navigator.serviceWorker.controller !== null")
    page.goto("/")
    context.set_offline(True)
    page.reload()
    assert "王秀英" in page.inner_text("main")
    page.goto("/family?never-seen=1")
    # A page never seen: the offline page (in whichever language it was kept)
    from laoyou.core import i18n

    headings = {i18n.gettext("No connection", language) for language in i18n.LANGUAGES}
    assert page.locator("main h1").inner_text().strip() in headings
    context.set_offline(False)
    context.close()


REQUEST_LINK = 'mutation ($p: String!) { requestFamilyLink(phone: $p, relation: "女儿") { __typename } }'


def test_unread_badge_updates_live(browser, server):
    context = phone_context(browser, server)
    page = context.new_page()
    login_demo_tap(page)
    before = page.locator("[data-live=unread]").first.inner_text() if page.locator("[data-live=unread]").count() else "0"
    # Someone else asks to follow her household: she gets a notification
    stranger = server.login("13800000002")
    server.graphql(stranger, REQUEST_LINK, {"p": RESIDENT})
    page.wait_for_function(
        "(before) => { const b = document.querySelector('[data-live=unread]'); return b && b.textContent.trim() !== before; }",
        arg=before.strip(), timeout=15000,
    )
    assert int(page.locator("[data-live=unread]").first.inner_text()) == int(before or 0) + 1
    context.close()
