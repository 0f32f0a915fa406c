"""The assessment dashboard for officials: each figure by month as an accessible SVG chart with its data table
and a CSV download; and the resident's one-tap answer to the quarter's satisfaction survey.

Every figure is defined once (FIGURES): its columns give the table, the CSV and the chart, so what is drawn is
what is listed and what is downloaded. The pages run the PWA's own operations (pwa/operations/assessment.graphql).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, HTTPException
from fastapi.responses import Response

from laoyou.billing.ledger import csv_cell
from laoyou.billing.money import yuan
from laoyou.core import i18n
from laoyou.tickets.service import CATEGORY_LABELS
from laoyou.web.render import Page, PageRoute, add_pages, form_with_csrf


def _(message: str) -> str:
    """Marks a msgid for extraction; translated where it is shown."""
    return message


Row = dict[str, Any]
Cell = str | int | None  # None is shown as "—" and downloaded as an empty cell


def percent(value: int | None) -> str | None:
    return None if value is None else f"{value // 10}.{value % 10}%"


def hours(value: float | None) -> str | None:
    return None if value is None else f"{value / 60:.1f}"


@dataclass(frozen=True)
class Column:
    header: str  # msgid
    cell: Callable[[Row], Cell]


@dataclass(frozen=True)
class Figure:
    title: str  # msgid
    rows: Callable[[dict], list[Row]]  # from the operation's assessment
    columns: tuple[Column, ...]
    bar: Callable[[Row], float | None]  # the value each row's bar shows
    ceiling: float | None = None  # the chart's top; None: the largest value
    label: Callable[[Row], str] = lambda row: row["month"][5:]  # under each bar


def _months(data: dict) -> list[Row]:
    return data["months"]


def _categories(data: dict) -> list[Row]:
    totals: dict[str, int] = {}
    for month in data["months"]:
        for item in month["byCategory"]:
            totals[item["category"]] = totals.get(item["category"], 0) + item["count"]
    return [
        {"category": c, "count": n} for c, n in sorted(totals.items(), key=lambda item: (-item[1], item[0]))
    ]


def _ranking(data: dict) -> list[Row]:
    return data["ranking"]


MONTH = Column(_("Month"), lambda r: r["month"])
FIGURES: dict[str, Figure] = {
    "coverage": Figure(
        _("Coverage: households with an active service plan"),
        _months,
        (
            MONTH,
            Column(_("Households"), lambda r: r["households"]),
            Column(_("Covered"), lambda r: r["covered"]),
            Column(_("Coverage"), lambda r: percent(r["coveragePermille"])),
        ),
        lambda r: r["coveragePermille"],
        ceiling=1000,
    ),
    "collection": Figure(
        _("Collection rate"),
        _months,
        (
            MONTH,
            Column(_("Billed (yuan)"), lambda r: yuan(r["billedFen"])),
            Column(_("Paid (yuan)"), lambda r: yuan(r["paidFen"])),
            Column(_("Collection rate"), lambda r: percent(r["collectionPermille"])),
        ),
        lambda r: r["collectionPermille"],
        ceiling=1000,
    ),
    "ratings": Figure(
        _("Satisfaction with repairs: rated 4 or 5 of 5"),
        _months,
        (
            MONTH,
            Column(_("Ratings"), lambda r: r["ratings"]),
            Column(_("Satisfied"), lambda r: percent(r["ratingPermille"])),
            Column(_("Return visits"), lambda r: r["returnVisits"]),
        ),
        lambda r: r["ratingPermille"],
        ceiling=1000,
    ),
    "survey": Figure(
        _("Quarterly survey: residents satisfied"),
        _months,
        (
            MONTH,
            Column(_("Answers"), lambda r: r["surveyAnswers"]),
            Column(_("Satisfied"), lambda r: r["surveySatisfied"]),
            Column(_("Share satisfied"), lambda r: percent(r["surveyPermille"])),
        ),
        lambda r: r["surveyPermille"],
        ceiling=1000,
    ),
    "work-orders": Figure(
        _("Work orders reported"),
        _months,
        (MONTH, Column(_("Work orders"), lambda r: r["workOrders"])),
        lambda r: r["workOrders"],
    ),
    "categories": Figure(
        _("Work orders by category"),
        _categories,
        (
            Column(_("Category"), lambda r: i18n.gettext(CATEGORY_LABELS.get(r["category"], r["category"]))),
            Column(_("Work orders"), lambda r: r["count"]),
        ),
        lambda r: r["count"],
        label=lambda r: "",
    ),
    "handling": Figure(
        _("Handling time (hours, from report to done)"),
        _months,
        (
            MONTH,
            Column(_("Done"), lambda r: r["handled"]),
            Column(_("Half within"), lambda r: hours(r["medianHandlingMinutes"])),
            Column(_("Nine in ten within"), lambda r: hours(r["p90HandlingMinutes"])),
        ),
        lambda r: r["medianHandlingMinutes"],
    ),
    "complaints": Figure(
        _("Complaints and their outcomes"),
        _months,
        (
            MONTH,
            Column(_("Complaints"), lambda r: r["complaints"]),
            Column(_("Resolved"), lambda r: r["complaintsResolved"]),
            Column(_("Still open"), lambda r: r["complaintsOpen"]),
            Column(_("Withdrawn"), lambda r: r["complaintsWithdrawn"]),
        ),
        lambda r: r["complaints"],
    ),
    "care": Figure(
        _("Care visits to elderly residents"),
        _months,
        (MONTH, Column(_("Visits made"), lambda r: r["careVisits"])),
        lambda r: r["careVisits"],
    ),
    "replies": Figure(
        _("Customer service: minutes to the first reply"),
        _months,
        (
            MONTH,
            Column(_("Answered"), lambda r: r["answered"]),
            Column(_("Half within"), lambda r: r["medianReplyMinutes"]),
            Column(_("Nine in ten within"), lambda r: r["p90ReplyMinutes"]),
        ),
        lambda r: r["medianReplyMinutes"],
    ),
    "ranking": Figure(
        _("Ranking of the communities"),
        _ranking,
        (
            Column(_("Rank"), lambda r: r["position"]),
            Column(_("Community"), lambda r: r["community"]["name"]),
            Column(_("Collection rate"), lambda r: percent(r["month"]["collectionPermille"])),
            Column(_("Coverage"), lambda r: percent(r["month"]["coveragePermille"])),
            Column(_("Satisfied"), lambda r: percent(r["month"]["ratingPermille"])),
        ),
        lambda r: r["month"]["collectionPermille"],
        ceiling=1000,
        label=lambda r: str(r["position"]),
    ),
}

CHART_WIDTH, CHART_HEIGHT, CHART_TOP, CHART_BOTTOM = 360, 180, 10, 150


def chart(figure: Figure, rows: list[Row]) -> dict:
    """Bars in a 360×180 box (the SVG scales to the screen); a row with no value has no bar."""
    values = [figure.bar(r) for r in rows]
    ceiling = figure.ceiling or max((v for v in values if v is not None), default=0) or 1
    slot = CHART_WIDTH / max(len(rows), 1)
    bars = []
    for index, (row, value) in enumerate(zip(rows, values, strict=True)):
        height = 0.0 if value is None else (CHART_BOTTOM - CHART_TOP) * min(value, ceiling) / ceiling
        bars.append(
            {
                "x": round(index * slot + slot * 0.15, 1),
                "width": round(slot * 0.7, 1),
                "y": round(CHART_BOTTOM - height, 1),
                "height": round(height, 1),
                "label": figure.label(row),
                "label_x": round(index * slot + slot / 2, 1),
            }
        )
    return {"bars": bars, "bottom": CHART_BOTTOM, "width": CHART_WIDTH, "height": CHART_HEIGHT}


def table(figure: Figure, data: dict) -> tuple[list[str], list[list[Cell]]]:
    rows = figure.rows(data)
    return [i18n.gettext(c.header) for c in figure.columns], [
        [c.cell(r) for c in figure.columns] for r in rows
    ]


async def _assessment(page: Page) -> dict:
    """The district asked for (else the first of the viewer's), and one of its communities if asked for."""
    q = page.request.query_params
    district = q.get("district", "")
    if not district.isdigit():
        communities = (await page.run("AssessmentScope"))["viewer"]["staffCommunities"]
        if not communities:
            raise HTTPException(404, "not found")
        district = communities[0]["district"]["id"]
    community = q.get("community", "")
    data = await page.run(
        "AssessmentPage", districtId=district, communityId=community if community.isdigit() else None
    )
    return data["assessment"]


async def dashboard(page: Page) -> Response:
    i18n.current_language.set(page.context.language)
    data = await _assessment(page)
    figures = []
    for key, figure in FIGURES.items():
        headers, rows = table(figure, data)
        figures.append(
            {
                "key": key,
                "title": figure.title,
                "headers": headers,
                "rows": rows,
                "chart": chart(figure, figure.rows(data)),
            }
        )
    query = f"district={data['district']['id']}"
    if data["community"]:
        query += f"&community={data['community']['id']}"
    first, last = data["months"][0]["month"], data["months"][-1]["month"]
    return page.render(
        "assessment/dashboard.html", data=data, figures=figures, query=query, first=first, last=last
    )


async def export(page: Page) -> Response:
    """One figure as CSV: a header row, UTF-8 with a byte-order mark so that Excel reads the Chinese."""
    figure = FIGURES.get(page.request.path_params["figure"])
    if figure is None:
        raise HTTPException(404, "not found")
    i18n.current_language.set(page.context.language)
    data = await _assessment(page)
    headers, rows = table(figure, data)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([csv_cell(h) for h in headers])
    writer.writerows([csv_cell(v) for v in row] for row in rows)
    scope = data["community"]["id"] if data["community"] else f"d{data['district']['id']}"
    name = f"assessment-{page.request.path_params['figure']}-{scope}.csv"
    return Response(
        "\ufeff" + out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"},
    )


async def answer_survey(page: Page) -> Response:
    """The face tapped on the home page's survey card: one tap answers."""
    posted = await form_with_csrf(page.request)
    score = posted.get("score", "")
    result = (
        await page.run(
            "AnswerSatisfactionSurvey",
            householdId=posted.get("household", ""),
            score=int(score) if score.isdigit() else 0,
        )
    )["answerSatisfactionSurvey"]
    if result["__typename"] != "SurveyAnswered":
        return page.render("assessment/survey_done.html", status_code=400, error=result["message"])
    return page.render("assessment/survey_done.html", error=None)


PAGES = (
    PageRoute("GET", "/assessment", dashboard, staff=True),
    PageRoute("GET", "/assessment/{figure}.csv", export, staff=True),
    PageRoute("POST", "/survey", answer_survey),
)


def install(app: FastAPI) -> None:
    add_pages(app, PAGES)
