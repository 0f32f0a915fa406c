"""A photo of the invoice on public income and expenses: uploaded with the staff ledger form through the media
service, linked to the entry, shown as a thumbnail on the ledger page, and fetched only by those who may read
that community's books; a script renamed .jpg is refused with a clear message and nothing is stored."""

from __future__ import annotations

import io

from PIL import Image
from sqlalchemy import func
from sqlmodel import select

from laoyou.billing.models import JournalEntry, LedgerAttachment
from laoyou.estates.models import Community
from laoyou.media.models import MediaFile

from ..conftest import OFFICIAL_XIUSHAN, RESIDENT_JINGJU, RESIDENT_XIUSHAN, STEWARD_XIUSHAN, STEWARD_YUEYANG
from .test_fee_plan_pages import log_in


def jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (320, 200), (200, 30, 30)).save(out, "JPEG")
    return out.getvalue()


async def count(db, table) -> int:  # noqa: ANN001
    return (await db.exec(select(func.count()).select_from(table))).one()


async def test_an_invoice_photo_is_stored_linked_shown_and_guarded(client, db):
    xiushan = (await db.exec(select(Community.id).where(Community.name == "秀山花园"))).one()
    base = f"/staff/communities/{xiushan}/ledger"
    csrf = await log_in(client, STEWARD_XIUSHAN)
    # When the steward records parking income with a photo of the invoice
    done = await client.post(
        f"{base}/income",
        data={
            "csrf_token": csrf,
            "fund": "public_income",
            "amount": "320",
            "memo": "停车费 发票照片",
            "attachment_ref": "",
        },
        files={"photo": ("invoice.jpg", jpeg(), "image/jpeg")},
    )
    # Then the entry carries the photo, stored by the media service in the same community
    assert done.status_code == 303
    entry = (await db.exec(select(JournalEntry).where(JournalEntry.memo == "停车费 发票照片"))).one()
    link = (await db.exec(select(LedgerAttachment).where(LedgerAttachment.entry_id == entry.id))).one()
    photo = await db.get(MediaFile, link.media_id)
    assert photo.community_id == xiushan and photo.kind == "image" and link.community_id == xiushan
    # And the ledger page shows its thumbnail, which the steward can fetch
    page = await client.get(base)
    assert f'src="/media/{photo.id}/thumb"' in page.text
    assert (await client.get(f"/media/{photo.id}/thumb")).status_code == 200
    # An official of the community reads the books, so sees the photo
    await log_in(client, OFFICIAL_XIUSHAN)
    assert (await client.get(f"/media/{photo.id}")).status_code == 200
    # A resident of the same community and a stranger get 404
    for phone in (RESIDENT_XIUSHAN, RESIDENT_JINGJU, STEWARD_YUEYANG):
        await log_in(client, phone)
        assert (await client.get(f"/media/{photo.id}")).status_code == 404, phone
        assert (await client.get(f"/media/{photo.id}/thumb")).status_code == 404, phone


async def test_a_script_renamed_jpg_is_refused_and_nothing_is_stored(client, db):
    xiushan = (await db.exec(select(Community.id).where(Community.name == "秀山花园"))).one()
    base = f"/staff/communities/{xiushan}/ledger"
    csrf = await log_in(client, STEWARD_XIUSHAN)
    files_before, entries_before = await count(db, MediaFile), await count(db, JournalEntry)
    links_before = await count(db, LedgerAttachment)
    # When the steward attaches a shell script named invoice.jpg
    refused = await client.post(
        f"{base}/income",
        data={
            "csrf_token": csrf,
            "fund": "public_income",
            "amount": "50",
            "memo": "广告费",
            "attachment_ref": "",
        },
        files={"photo": ("invoice.jpg", b"#!/bin/sh\nrm -rf /\n", "image/jpeg")},
    )
    # Then it is refused with a clear message, and no file, entry or link is stored
    assert refused.status_code == 400
    assert "这种文件不能发送" in refused.text and 'role="alert"' in refused.text
    assert await count(db, MediaFile) == files_before
    assert await count(db, JournalEntry) == entries_before
    assert await count(db, LedgerAttachment) == links_before
