"""A steward imports 200 units from a spreadsheet on a phone: upload, preview, confirm, result."""

from __future__ import annotations

import io
import re
from typing import Any

import openpyxl
import pytest
from playwright.sync_api import expect

from ..conftest import STEWARD_XIUSHAN
from ..support.servers import AppProcess
from .helpers import login_staff, shot

pytestmark = pytest.mark.browser


@pytest.fixture
def site(own_server: AppProcess) -> dict[str, Any]:
    """A server of this module's own: the import adds buildings that other tests' pages would show."""
    return {"base_url": own_server.url, "locale": "en-US"}


def two_hundred_rows() -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["楼栋", "单元号", "楼层", "面积", "户主", "电话", "业主/租户"])
    for n in range(200):
        sheet.append(
            [
                f"浏览器{n // 50 + 1}号楼",
                f"{n % 50 + 101}",
                1 + n % 6,
                "68.20",
                f"户主{n}",
                f"1397{n:07d}",
                "业主",
            ]
        )
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def test_a_steward_imports_two_hundred_units_from_a_spreadsheet(new_context: Any) -> None:
    page = new_context().new_page()
    login_staff(page, STEWARD_XIUSHAN)
    page.goto("/staff/estates")
    page.locator('a[href^="/staff/estates/communities/"]').first.click()
    page.get_by_role("link", name="Import units from a spreadsheet").click()
    page.wait_for_url(re.compile(r"/staff/communities/\d+/import$"))
    expect(page.get_by_role("link", name="Download the template (.xlsx)")).to_be_visible()
    shot(page, "import-upload")

    page.set_input_files(
        "#import-file",
        files=[
            {
                "name": "units.xlsx",
                "mimeType": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                "buffer": two_hundred_rows(),
            }
        ],
    )
    page.get_by_role("button", name="Upload and check").click()
    page.wait_for_url(re.compile(r"/staff/communities/\d+/import/\d+$"))
    expect(page.locator("h1")).to_have_text("Check before importing")
    expect(page.get_by_text("Units to add: 200")).to_be_visible()
    expect(page.get_by_text("Rows with a mistake: 0")).to_be_visible()
    expect(page.locator(".import-rows li").first).to_contain_text("Will be added")
    expect(page.get_by_role("link", name="More rows")).to_be_visible()
    shot(page, "import-preview")

    page.get_by_role("button", name="Import 200 units").click()
    expect(page.locator("h1")).to_have_text("Imported")
    expect(page.get_by_text("Units added: 200")).to_be_visible()
    expect(page.locator(".import-rows li").first).to_contain_text("Added")
    shot(page, "import-result")

    page.get_by_role("link", name=re.compile("^Back to")).last.click()
    expect(page.get_by_role("link", name="浏览器1号楼")).to_be_visible()
