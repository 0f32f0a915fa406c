"""The assessment pages: the official's dashboard (charts with their tables), each figure as CSV (a header row,
UTF-8 with a byte-order mark), nobody else's district, and the resident's one-tap survey card on her home."""

from __future__ import annotations

import csv
import io
import re

from sqlmodel import select

from laoyou.core.time import utcnow
from laoyou.estates.models import Community, District
from laoyou.governance.assessment.models import SurveyAnswer
from laoyou.governance.assessment.service import quarter_of

from ..conftest import (
    OFFICIAL_XIUSHAN,
    OFFICIAL_ZHUJIAJIAO,
    RESIDENT_XIUSHAN,
    STEWARD_YUEYANG,
    login_demo,
)

CSRF = "page-csrf-token-assessment"
FIGURES = (
    "coverage",
    "collection",
    "ratings",
    "survey",
    "work-orders",
    "categories",
    "handling",
    "complaints",
)


def as_person(token: str, language: str = "en") -> dict:
    return {
        "headers": {
            "Authorization": f"Bearer {token}",
            "Accept-Language": language,
            "Cookie": f"laoyou_csrf={CSRF}",
        }
    }


async def places(db) -> tuple[Community, District]:  # noqa: ANN001
    xiushan = (await db.exec(select(Community).where(Community.name == "秀山花园"))).one()
    zhujiajiao = (await db.exec(select(District).where(District.name.startswith("朱家角")))).one()
    return xiushan, zhujiajiao


async def test_the_street_official_sees_the_district_with_charts_tables_and_csv(gql, client, db):
    _xiushan, zhujiajiao = await places(db)
    official = await login_demo(gql, OFFICIAL_ZHUJIAJIAO)
    # The officials' home links to the dashboard
    home = await client.get("/", **as_person(official.token))
    assert 'href="/assessment"' in home.text
    page = await client.get("/assessment", **as_person(official.token))
    assert page.status_code == 200
    # One chart (an image with a title and a description) and one table per figure, each with its CSV
    assert page.text.count('role="img"') >= len(FIGURES)
    assert page.text.count("<desc id=") == page.text.count('role="img"')
    for key in (*FIGURES, "replies", "ranking"):
        assert f'href="/assessment/{key}.csv?district={zhujiajiao.id}"' in page.text
    assert "新风新村" in page.text  # the ranking names the district's communities
    download = await client.get(
        f"/assessment/ranking.csv?district={zhujiajiao.id}", **as_person(official.token)
    )
    assert download.status_code == 200
    assert download.headers["content-type"].startswith("text/csv")
    assert download.content.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(download.content.decode("utf-8-sig"))))
    assert rows[0] == ["Rank", "Community", "Collection rate", "Coverage", "Satisfied"]
    assert len(rows) == 1 + 9


async def test_a_csv_in_chinese_opens_as_chinese(gql, client, db):
    xiushan, _zhujiajiao = await places(db)
    official = await login_demo(gql, OFFICIAL_XIUSHAN)
    download = await client.get(
        f"/assessment/coverage.csv?district={xiushan.district_id}&community={xiushan.id}",
        **as_person(official.token, "zh-CN"),
    )
    assert download.status_code == 200
    rows = list(csv.reader(io.StringIO(download.content.decode("utf-8-sig"))))
    assert (rows[0][0], rows[0][2], rows[0][3]) == ("月份", "已覆盖", "覆盖率")
    assert len(rows) == 1 + 12
    assert all(re.fullmatch(r"\d{4}-\d{2}", row[0]) for row in rows[1:])
    assert 'filename="assessment-coverage-' in download.headers["content-disposition"]


async def test_nobody_reads_another_districts_figures_or_csv(gql, client, db):
    xiushan, zhujiajiao = await places(db)
    committee = await login_demo(gql, OFFICIAL_XIUSHAN)
    stranger = await login_demo(gql, STEWARD_YUEYANG)
    resident = await login_demo(gql, RESIDENT_XIUSHAN)
    for token, path in (
        (committee.token, f"/assessment?district={zhujiajiao.id}"),
        (committee.token, f"/assessment/coverage.csv?district={zhujiajiao.id}"),
        (stranger.token, f"/assessment?district={xiushan.district_id}&community={xiushan.id}"),
        (stranger.token, f"/assessment/ranking.csv?district={xiushan.district_id}"),
        (resident.token, f"/assessment?district={xiushan.district_id}"),
        (resident.token, f"/assessment/coverage.csv?district={xiushan.district_id}"),
        (committee.token, f"/assessment/nothing.csv?district={xiushan.district_id}"),
    ):
        answer = await client.get(path, **as_person(token))
        assert answer.status_code == 404, path
        assert "秀山花园" not in answer.text or token == committee.token
    # And the committee official's own page shows her community only
    own = await client.get("/assessment", **as_person(committee.token))
    assert own.status_code == 200 and "秀山花园" in own.text and "新风新村" not in own.text


async def test_a_resident_answers_the_survey_with_one_tap(gql, client, db):
    resident = await login_demo(gql, RESIDENT_XIUSHAN)
    home = await client.get("/", **as_person(resident.token))
    card = re.search(r'<input type="hidden" name="household" value="(\d+)">', home.text)
    assert card is not None and 'name="score" value="3"' in home.text
    answered = await client.post(
        "/survey",
        **as_person(resident.token),
        data={"csrf_token": CSRF, "household": card.group(1), "score": "3"},
    )
    assert answered.status_code == 200 and "Your answer is recorded" in answered.text
    [row] = (
        await db.exec(
            select(SurveyAnswer).where(
                SurveyAnswer.household_id == int(card.group(1)), SurveyAnswer.quarter == quarter_of(utcnow())
            )
        )
    ).all()
    assert row.score == 3
    # The card is gone for the rest of the quarter, and a second answer is refused in plain words
    again = await client.get("/", **as_person(resident.token))
    assert 'action="/survey"' not in again.text
    twice = await client.post(
        "/survey",
        **as_person(resident.token),
        data={"csrf_token": CSRF, "household": card.group(1), "score": "1"},
    )
    assert twice.status_code == 400 and "already answered this quarter" in twice.text
