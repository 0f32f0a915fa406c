"""On a 360x740 phone, a new staff member follows the staff login's link, gets a code by SMS, sets a password and
logs in with it; every step has large targets and large text, and axe finds nothing."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from ..conftest import ADMIN
from .helpers import assert_accessible, login_staff, shot, tappable_too_small, text_too_small

pytestmark = pytest.mark.browser

NEW_STAFF = "13987650002"
PASSWORD = "老友记-短信密码-2026"
GRANT = """mutation ($input: StaffGrantInput!) { grantStaffRole(input: $input) {
  __typename ... on StaffRoleSaved { staffMember { id } } ... on StaffRoleError { message } } }"""


def check_the_page(page: Any, axe: Any, name: str) -> None:
    assert tappable_too_small(page) == [], name
    assert text_too_small(page) == [], name
    assert_accessible(axe, page, name)
    shot(page, name)


def test_new_staff_set_their_password_by_sms_and_log_in(new_context: Any, live_server: Any, axe: Any) -> None:
    # Given a steward the admin has just given a role, who has no password yet
    admin = live_server.login(ADMIN)
    nodes = live_server.graphql(admin, "query { communities(first: 50) { nodes { id name } } }")
    community = next(c for c in nodes["communities"]["nodes"] if c["name"] == "秀山花园")
    saved = live_server.graphql(
        admin,
        GRANT,
        {"input": {"phone": NEW_STAFF, "name": "钱新", "role": "steward", "communityId": community["id"]}},
    )
    assert saved["grantStaffRole"]["__typename"] == "StaffRoleSaved", saved

    # When, on their own phone, they follow the staff login's link and ask for a code
    page = new_context().new_page()
    page.goto("/login")
    page.locator("details summary").click()
    page.get_by_role("link", name="新员工或忘记密码？用短信验证码设置").click()
    page.wait_for_url(re.compile(r"/password/code$"))
    check_the_page(page, axe, "password-code-phone")
    page.fill("#phone", NEW_STAFF)
    page.get_by_role("button", name="给我发验证码").click()
    expect(page.locator("p.lead")).to_contain_text("139****0002")
    check_the_page(page, axe, "password-code-code")

    # and type the code with a new password
    page.fill("#code", live_server.sms_code(NEW_STAFF))
    page.fill("#password", PASSWORD)
    page.get_by_role("button", name="保存密码").click()

    # Then the password is set, and it logs them in
    expect(page.locator("p.lead[role=status]")).to_contain_text("钱新")
    check_the_page(page, axe, "password-code-done")
    login_staff(page, NEW_STAFF, PASSWORD)
    expect(page.locator("h1")).to_contain_text("钱新")
