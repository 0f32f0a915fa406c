"""A resident on a cheap phone: logging in with an SMS code, the home page, settings, big text and targets."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from ..conftest import FAMILY_OF_XIUSHAN, RESIDENT_JINGJU, RESIDENT_XIUSHAN
from .helpers import font_size, login_demo, shot, tappable_too_small, text_too_small

pytestmark = pytest.mark.browser


def test_a_resident_logs_in_with_a_code_and_sees_her_home(page: Any, live_server: Any) -> None:
    page.goto("/login")
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    page.fill("#phone", RESIDENT_XIUSHAN)
    page.locator('form[action="/login/code"] button[type="submit"]').click()
    page.wait_for_url(re.compile(r"/login/verify$"))  # the phone is not in the address
    expect(page.locator("h1")).to_have_text("输入验证码")
    shot(page, "verify")

    page.fill("#code", live_server.sms_code(RESIDENT_XIUSHAN))
    page.locator('form[action="/login/verify"] button[type="submit"]').click()
    page.wait_for_url(re.compile(r"/$"))

    expect(page.locator("h1")).to_contain_text("王秀英")
    call = page.locator("a.call").first
    expect(call).to_be_visible()
    expect(call).to_have_text(re.compile("给管家打电话"))
    assert (call.get_attribute("href") or "").startswith("tel:")
    box = call.bounding_box()
    assert box and box["height"] >= 90 and box["width"] >= 250, box  # huge, and the width of the screen
    expect(page.locator(".household .address").first).to_contain_text("秀山花园")
    expect(page.locator('nav.tiles a[href="/family"]')).to_be_visible()
    expect(page.locator('nav.tiles a[href="/settings"]')).to_be_visible()
    # Read-aloud buttons appear because this browser can speak.
    expect(page.locator("button.read-aloud").first).to_be_visible()
    shot(page, "home")


def test_a_wrong_code_is_refused_plainly(page: Any, live_server: Any) -> None:
    page.goto("/login/verify?phone=13800000009")
    page.fill("#code", "000000")
    page.locator('form[action="/login/verify"] button[type="submit"]').click()
    expect(page.locator(".error[role=alert]")).to_contain_text("验证码")
    expect(page.locator("#code")).to_have_attribute("aria-invalid", "true")


def test_language_and_text_size_through_the_settings_page(page: Any) -> None:
    login_demo(page, RESIDENT_JINGJU)
    page.goto("/settings")
    assert font_size(page) == 20  # the elderly default: large
    page.locator("label.choice", has=page.locator('input[name="language"][value="en"]')).click()
    page.locator("label.choice", has=page.locator('input[name="text_size"][value="largest"]')).click()
    page.locator('form.card[action="/settings"] button[type="submit"]').click()
    page.wait_for_url(re.compile(r"/settings\?saved=1$"))

    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.locator("h1")).to_have_text("Settings")
    expect(page.locator(".ok[role=status]")).to_have_text(re.compile("Saved"))
    assert font_size(page) >= 30
    assert font_size(page, "main p, main label") >= 30
    shot(page, "settings-en-largest")

    # The choice belongs to the person: it follows her to the home page.
    page.goto("/")
    expect(page.locator("h1")).to_have_text(re.compile(r"Hello, 李桂兰"))
    assert font_size(page) >= 30
    shot(page, "home-en-largest")

    # The language switch at the foot of every page, back where she was.
    page.locator('.lang-switch button[value="zh_TW"]').click()
    page.wait_for_url(re.compile(r"/$"))
    expect(page.locator("html")).to_have_attribute("lang", "zh-TW")
    expect(page.locator("h1")).to_have_text(re.compile("李桂兰，您好|李桂蘭，您好"))
    expect(page.locator("a.call").first).to_contain_text("打電話給管家")
    expect(page.locator('.lang-switch button[value="zh_TW"]')).to_have_attribute("aria-current", "true")
    shot(page, "home-zh-tw-largest")

    page.goto("/settings")
    expect(page.locator("h1")).to_have_text("設定")
    assert page.locator('input[name="text_size"][value="largest"]').is_checked()


def test_a_visitor_can_change_language_without_logging_in(page: Any) -> None:
    page.goto("/login")
    page.locator('.lang-switch button[value="en"]').click()
    page.wait_for_url(re.compile(r"/login$"))
    expect(page.locator("h1")).to_have_text("Log in")
    page.locator('.lang-switch button[value="zh_CN"]').click()
    expect(page.locator("h1")).to_have_text("登录")


RESIDENT_PAGES = ["/", "/family", "/settings", "/offline", "/no-such-page"]
VISITOR_PAGES = [
    "/login",
    "/login/verify?phone=13800000001",
    "/card/some-card-token",
    "/offline",
    "/settings",
    "/no-such-page",
]


def _check_big(page: Any, path: str, *, targets: int = 60, text: int = 18) -> None:
    page.goto(path)
    for summary in page.locator("details:not([open]) > summary").all():
        summary.click()  # look inside folded parts too
    assert page.locator("html.mode-elderly").count() == 1
    assert font_size(page) >= text, path
    assert not tappable_too_small(page, targets), (
        f"{path}: targets under {targets}px: {tappable_too_small(page, targets)}"
    )
    assert not text_too_small(page, text), f"{path}: text under {text}px: {text_too_small(page, text)}"


def test_elderly_mode_targets_and_text_for_a_visitor(page: Any) -> None:
    for path in VISITOR_PAGES:
        _check_big(page, path)


def test_elderly_mode_targets_and_text_for_a_resident(page: Any) -> None:
    login_demo(page, RESIDENT_XIUSHAN)
    for path in RESIDENT_PAGES:
        _check_big(page, path)
    assert font_size(page) == 20


def test_the_smallest_text_setting_still_gives_18px(page: Any) -> None:
    login_demo(page, FAMILY_OF_XIUSHAN)
    page.goto("/settings")
    page.locator("label.choice", has=page.locator('input[name="text_size"][value="standard"]')).click()
    page.locator('form.card[action="/settings"] button[type="submit"]').click()
    page.wait_for_url(re.compile(r"saved=1"))
    assert font_size(page) == 18
    for path in RESIDENT_PAGES:
        _check_big(page, path)
    shot(page, "home-standard-text")


def test_standard_mode_is_denser_but_still_readable(new_context: Any, live_server: Any) -> None:
    context = new_context()
    context.add_cookies(
        [
            {"name": "laoyou_mode", "value": "standard", "url": live_server.url},
            {"name": "laoyou_text", "value": "standard", "url": live_server.url},
        ]
    )
    page = context.new_page()
    page.goto("/login")
    assert page.locator("html.mode-standard.text-standard").count() == 1
    assert font_size(page) == 18
    assert not text_too_small(page, 18)
    assert not tappable_too_small(page, 48), tappable_too_small(page, 48)
