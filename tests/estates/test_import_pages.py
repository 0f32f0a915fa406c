"""The import pages as a steward uses them without JavaScript: upload a spreadsheet, read the preview, confirm
or discard it, see the result. Strangers see none of it and change nothing."""

from __future__ import annotations

import re

from sqlalchemy import func, select, update

from laoyou.estates.models import Building, EstateImport, Unit

from ..conftest import ADMIN, OFFICIAL_XIUSHAN, RESIDENT_XIUSHAN, STEWARD_XIUSHAN, STEWARD_YUEYANG, login_demo
from ..web.conftest import csrf_in, log_in
from .test_import import HEADER_EN, HEADER_ZH, SHEET, csv_bytes, xlsx

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


async def log_in_as(client, phone: str) -> None:  # noqa: ANN001
    client.cookies.clear()
    await log_in(client, phone)


async def own_community_id(client) -> str:  # noqa: ANN001
    """The first community the logged-in steward's estates page links to."""
    page = await client.get("/staff/estates")
    return re.search(r'href="/staff/estates/communities/(\d+)"', page.text).group(1)


async def upload(client, community_id: str, name: str, data: bytes, kind: str = XLSX):  # noqa: ANN001, ANN201
    form = await client.get(f"/staff/communities/{community_id}/import")
    assert form.status_code == 200, form.text
    return await client.post(
        f"/staff/communities/{community_id}/import",
        data={"csrf_token": csrf_in(form.text)},
        files={"file": (name, data, kind)},
    )


async def decide(client, preview_url: str, what: str):  # noqa: ANN001, ANN201
    page = await client.get(preview_url)
    return await client.post(f"{preview_url}/{what}", data={"csrf_token": csrf_in(page.text)})


async def units_of(db, community_id: str) -> int:  # noqa: ANN001
    return await db.scalar(
        select(func.count()).select_from(Unit).where(Unit.community_id == int(community_id))
    )


async def test_a_steward_uploads_a_sheet_sees_the_preview_confirms_and_the_same_file_changes_nothing(
    client, db
):
    # Given a steward on their community's page, which links to the import
    await log_in(client, STEWARD_XIUSHAN)
    client.headers["Accept-Language"] = "en"
    community_id = await own_community_id(client)
    community_page = await client.get(f"/staff/estates/communities/{community_id}")
    assert f'href="/staff/communities/{community_id}/import"' in community_page.text
    form = await client.get(f"/staff/communities/{community_id}/import")
    assert (
        "/staff/estates/import-template.xlsx" in form.text
        and "/staff/estates/import-template.csv" in form.text
    )
    before = await units_of(db, community_id)

    # When they upload a spreadsheet
    sent = await upload(client, community_id, "住户.xlsx", xlsx(SHEET))
    assert sent.status_code == 303, sent.text
    preview_url = sent.headers["location"]
    # Then the preview counts the rows and says what each will do, and nothing is imported yet
    preview = await client.get(preview_url)
    assert preview.status_code == 200
    assert "Units to add: 3" in preview.text and "Will be added" in preview.text
    assert "导入1号楼 101" in preview.text and "Nothing has been imported yet." in preview.text
    assert await units_of(db, community_id) == before

    # When they confirm
    done = await decide(client, preview_url, "confirm")
    assert done.status_code == 303 and done.headers["location"] == preview_url
    # Then the units are there and the result page says what was created
    assert await units_of(db, community_id) == before + 3
    result = await client.get(preview_url)
    assert "Imported" in result.text and "Units added: 3" in result.text and "Added" in result.text
    assert 'action="' + preview_url + '/confirm"' not in result.text
    stored = (
        await db.exec(select(EstateImport).where(EstateImport.id == int(preview_url.rsplit("/", 1)[1])))
    ).one()[0]
    assert stored.status == "applied" and stored.data is None and len(stored.sha256) == 64

    # And the same file again (as .csv this time) has nothing to import
    again = await upload(client, community_id, "住户.csv", csv_bytes(SHEET))
    second = await client.get(again.headers["location"])
    assert "Units already up to date: 3" in second.text and "There is nothing to import." in second.text
    assert "/confirm" not in second.text
    assert (await decide(client, again.headers["location"], "confirm")).status_code == 303
    assert await units_of(db, community_id) == before + 3


async def test_a_csv_in_english_previews_changes_and_applies_them(client, db):
    await log_in(client, STEWARD_XIUSHAN)
    client.headers["Accept-Language"] = "en"
    community_id = await own_community_id(client)
    await decide(
        client, (await upload(client, community_id, "a.xlsx", xlsx(SHEET))).headers["location"], "confirm"
    )
    changed = [HEADER_EN, ["导入1号楼", "101", "1", "76", "王秀英", "13912340001", "tenant"]]
    sent = await upload(client, community_id, "b.csv", b"\xef\xbb\xbf" + csv_bytes(changed), "text/csv")
    preview = await client.get(sent.headers["location"])
    assert "Units to update: 1" in preview.text and "Will be updated" in preview.text
    assert (
        "area 75.50 → 76.00 m²" in preview.text
        and "owner or tenant of 139****0001 业主 → 租户" in preview.text
    )
    assert (await decide(client, sent.headers["location"], "confirm")).status_code == 303
    unit = (
        await db.exec(select(Unit).where(Unit.community_id == int(community_id), Unit.number == "101"))
    ).all()
    assert [u[0].floor_area_centi_m2 for u in unit] == [7600]


async def test_a_file_with_mistakes_names_the_cells_and_cannot_be_confirmed(client, db):
    await log_in(client, STEWARD_XIUSHAN)
    client.headers["Accept-Language"] = "en"
    community_id = await own_community_id(client)
    bad = [HEADER_ZH, ["错误楼", "1", 1, "75.505", "", "", ""], ["错误楼", "2", 1, "60", "", "", ""]]
    before = await units_of(db, community_id)
    sent = await upload(client, community_id, "bad.xlsx", xlsx(bad))
    preview = await client.get(sent.headers["location"])
    assert "Rows with a mistake: 1" in preview.text and "Has a mistake" in preview.text
    assert "Cell D2 (面积)" in preview.text and "Fix them in the file and upload it again." in preview.text
    assert "/confirm" not in preview.text
    # Errors come first in the list
    assert preview.text.index("Has a mistake") < preview.text.index("Will be added")
    refused = await decide(client, sent.headers["location"], "confirm")
    assert refused.status_code == 400 and "upload it again" in refused.text
    assert await units_of(db, community_id) == before


async def test_what_changed_since_the_preview_is_planned_again_on_confirm(client, db):
    await log_in(client, STEWARD_XIUSHAN)
    client.headers["Accept-Language"] = "en"
    community_id = await own_community_id(client)
    await decide(
        client, (await upload(client, community_id, "a.xlsx", xlsx(SHEET))).headers["location"], "confirm"
    )
    more = [HEADER_ZH, ["导入1号楼", "103", 1, "70", "", "", ""]]
    sent = await upload(client, community_id, "more.xlsx", xlsx(more))
    # Given the building is archived after the preview
    await db.execute(
        update(Building)
        .where(Building.community_id == int(community_id), Building.name == "导入1号楼")
        .values(archived_at=func.now())
    )
    await db.commit()
    before = await units_of(db, community_id)
    refused = await decide(client, sent.headers["location"], "confirm")
    assert refused.status_code == 400 and "changed since the preview" in refused.text
    assert "This building is archived." in refused.text
    assert await units_of(db, community_id) == before
    # And the preview kept shows the mistake now, still pending, so the file can be fixed and sent again
    stored = await db.get(EstateImport, int(sent.headers["location"].rsplit("/", 1)[1]))
    await db.refresh(stored)
    assert (stored.status, stored.error_count) == ("pending", 1) and stored.data is not None


async def test_bad_files_are_refused_plainly_and_nothing_is_kept(client, db):
    await log_in(client, STEWARD_XIUSHAN)
    client.headers["Accept-Language"] = "en"
    community_id = await own_community_id(client)
    kept = await db.scalar(select(func.count()).select_from(EstateImport))
    for name, data, words in [
        ("a.pdf", b"%PDF-1.4", "Please upload an .xlsx or .csv file."),
        ("a.xlsx", b"not a zip", "Please upload an .xlsx or .csv file."),
        ("a.csv", csv_bytes([["楼栋", "单元号"], ["1", "1"]]), "The column 楼层 is missing."),
        ("a.csv", b"x" * (5 * 1024 * 1024 + 1), "This file is too large. The limit is 5 MB."),
    ]:
        answer = await upload(client, community_id, name, data, "application/octet-stream")
        assert answer.status_code in (400, 413) and words in answer.text, (name, answer.text[-800:])
    assert await db.scalar(select(func.count()).select_from(EstateImport)) == kept


async def test_discard_sets_the_file_aside_and_it_cannot_be_confirmed_afterwards(client, db):
    await log_in(client, STEWARD_XIUSHAN)
    client.headers["Accept-Language"] = "en"
    community_id = await own_community_id(client)
    before = await units_of(db, community_id)
    sent = await upload(client, community_id, "a.xlsx", xlsx(SHEET))
    url = sent.headers["location"]
    assert (await decide(client, url, "discard")).status_code == 303
    page = await client.get(url)
    assert "Not imported" in page.text and "/confirm" not in page.text
    stored = await db.get(EstateImport, int(url.rsplit("/", 1)[1]))
    await db.refresh(stored)
    assert stored.status == "discarded" and stored.data is None
    refused = await client.post(f"{url}/confirm", data={"csrf_token": csrf_in(page.text)})
    assert refused.status_code == 400 and "already confirmed or discarded" in refused.text
    assert await units_of(db, community_id) == before


async def test_a_new_upload_replaces_the_pending_one(client, db):
    await log_in(client, STEWARD_XIUSHAN)
    community_id = await own_community_id(client)
    first = (await upload(client, community_id, "a.xlsx", xlsx(SHEET))).headers["location"]
    await upload(client, community_id, "b.xlsx", xlsx(SHEET))
    stored = await db.get(EstateImport, int(first.rsplit("/", 1)[1]))
    await db.refresh(stored)
    assert stored.status == "discarded" and stored.data is None


async def test_strangers_cannot_upload_see_confirm_or_discard_another_districts_import(client, db):
    # Given a pending import of the Xiushan steward's community
    await log_in(client, STEWARD_XIUSHAN)
    community_id = await own_community_id(client)
    url = (await upload(client, community_id, "a.xlsx", xlsx(SHEET))).headers["location"]
    before = await units_of(db, community_id)
    for stranger in (STEWARD_YUEYANG, OFFICIAL_XIUSHAN, RESIDENT_XIUSHAN):
        # When someone who may not edit that community tries every step
        await log_in_as(client, stranger)
        home = await client.get("/")
        token = csrf_in(home.text)
        # Then each is a plain 404 and nothing changes
        assert (await client.get(f"/staff/communities/{community_id}/import")).status_code == 404, stranger
        posted = await client.post(
            f"/staff/communities/{community_id}/import",
            data={"csrf_token": token},
            files={"file": ("a.xlsx", xlsx(SHEET), XLSX)},
        )
        assert posted.status_code == 404, stranger
        assert (await client.get(url)).status_code == 404, stranger
        for what in ("confirm", "discard"):
            assert (await client.post(f"{url}/{what}", data={"csrf_token": token})).status_code == 404
    stored = await db.get(EstateImport, int(url.rsplit("/", 1)[1]))
    await db.refresh(stored)
    assert stored.status == "pending" and await units_of(db, community_id) == before
    assert (
        await db.scalar(
            select(func.count()).select_from(EstateImport).where(EstateImport.status == "pending")
        )
        == 1
    )
    # And the operator's admin may confirm it
    await log_in_as(client, ADMIN)
    assert (await decide(client, url, "confirm")).status_code == 303
    assert await units_of(db, community_id) == before + 3


async def test_an_import_is_only_shown_under_its_own_community(client, db):
    await log_in(client, STEWARD_XIUSHAN)
    community_id = await own_community_id(client)
    url = (await upload(client, community_id, "a.xlsx", xlsx(SHEET))).headers["location"]
    import_id = url.rsplit("/", 1)[1]
    other = await db.scalar(select(Building.community_id).where(Building.community_id != int(community_id)))
    assert (await client.get(f"/staff/communities/{other}/import/{import_id}")).status_code == 404


ESTATE_IMPORT = """
query ($id: ID!, $first: Int!, $offset: Int!) {
  estateImport(id: $id) {
    status errorCount newCount shownCount canConfirm
    rows(first: $first, offset: $offset) { line outcome outcomeText cell column problem }
  }
}
"""


async def test_the_preview_over_graphql_pages_its_rows_mistakes_first(client, gql):
    # Given a pending import with one mistake and two new units
    await log_in(client, STEWARD_XIUSHAN)
    community_id = await own_community_id(client)
    bad = [
        HEADER_ZH,
        ["甲楼", "1", 1, "60", "", "", ""],
        ["甲楼", "2", 1, "abc", "", "", ""],
        ["甲楼", "3", 1, "60"],
    ]
    url = (await upload(client, community_id, "bad.xlsx", xlsx(bad))).headers["location"]
    client.cookies.clear()  # the API client below logs in with a bearer token instead
    steward = await login_demo(gql, STEWARD_XIUSHAN)
    # When the steward asks for it a page at a time
    variables = {"id": url.rsplit("/", 1)[1], "first": 2, "offset": 0}
    first = (await steward(ESTATE_IMPORT, variables))["data"]["estateImport"]
    rest = (await steward(ESTATE_IMPORT, {**variables, "offset": 2}))["data"]["estateImport"]
    # Then the mistake comes first, named by its cell, in plain words, and the pages add up
    assert (first["status"], first["errorCount"], first["newCount"], first["shownCount"]) == (
        "PENDING",
        1,
        2,
        3,
    )
    assert first["canConfirm"] is False
    assert [r["line"] for r in first["rows"] + rest["rows"]] == [3, 2, 4]
    mistake = first["rows"][0]
    assert (mistake["outcome"], mistake["cell"], mistake["column"]) == ("ERROR", "D3", "面积")
    assert mistake["outcomeText"] == "Has a mistake" and mistake["problem"]
    assert first["rows"][1]["outcomeText"] == "Will be added"
