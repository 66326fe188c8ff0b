"""analytics_service's HTTP API under ``/api/analytics``."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, status
from fastapi.responses import StreamingResponse

from analytics_service.models import (
    BudgetActual,
    CategoryShare,
    Forecast,
    Insights,
    Summary,
    Trends,
    Weekly,
)
from analytics_service.pdf_report import render
from analytics_service.reports import Reports
from shared.auth import CurrentUser
from shared.month import Month as CalendarMonth
from shared.service import Runtime
from shared.types import CalendarDate, Month

MAX_RANGE_DAYS = 5 * 366

router = APIRouter(prefix="/api/analytics", tags=["analytics"])


async def get_reports(user: CurrentUser, runtime: Runtime) -> Reports:
    return Reports(runtime.db, user.user_id)


ReportsDep = Annotated[Reports, Depends(get_reports)]
MonthQuery = Annotated[Month | None, Query(description="YYYY-MM; this month when left out")]


async def this_month(reports: Reports, month: str | None) -> str:
    if month:
        return month
    _, today = await reports.profile()
    return CalendarMonth.key_of(today)


@router.get(
    "/summary",
    response_model=Summary,
    response_model_by_alias=True,
    summary="Income, expense, savings and categories for a month or a date range",
)
async def summary(
    reports: ReportsDep,
    month: MonthQuery = None,
    date_from: Annotated[CalendarDate | None, Query(alias="from")] = None,
    date_to: Annotated[CalendarDate | None, Query(alias="to")] = None,
) -> Summary:
    """Give `month`, or `from` and `to` (inclusive, at most 5 years apart)."""
    if date_from is None and date_to is None:
        return await reports.month_summary(await this_month(reports, month))
    if month is not None or date_from is None or date_to is None:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, "give either month, or both from and to"
        )
    if date_from > date_to:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "'from' is after 'to'")
    if (date_to - date_from).days + 1 > MAX_RANGE_DAYS:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "a range covers at most 5 years")
    return await reports.summary(date_from, date_to)


@router.get(
    "/categories", response_model=list[CategoryShare], summary="A month's spending by category"
)
async def categories(reports: ReportsDep, month: MonthQuery = None) -> list[CategoryShare]:
    return (await reports.month_summary(await this_month(reports, month))).categories


@router.get(
    "/trends",
    response_model=Trends,
    summary="The last months' totals, by category (zeros for empty months)",
)
async def trends(
    reports: ReportsDep, months: Annotated[int, Query(ge=1, le=60)] = 6, month: MonthQuery = None
) -> Trends:
    """`months` months ending with `month` (this month by default)."""
    return await reports.trends(await this_month(reports, month), months)


@router.get("/weekly", response_model=Weekly, summary="The last weeks' totals, by ISO week")
async def weekly(reports: ReportsDep, weeks: Annotated[int, Query(ge=1, le=104)] = 8) -> Weekly:
    return await reports.weekly(weeks)


@router.get("/budget-vs-actual", response_model=list[BudgetActual])
async def budget_vs_actual(reports: ReportsDep, month: MonthQuery = None) -> list[BudgetActual]:
    return await reports.budget_vs_actual(await this_month(reports, month))


@router.get(
    "/insights",
    response_model=Insights,
    summary="Changes, top categories, largest and unusual expenses, in sentences",
)
async def insights(reports: ReportsDep, month: MonthQuery = None) -> Insights:
    """Unusual: at least twice the median of your other expenses in that category over the
    past year, and more than 3.5 robust standard deviations (1.4826 x the median absolute
    deviation) above it; at least 5 earlier expenses are needed to judge."""
    return await reports.insights(await this_month(reports, month))


@router.get(
    "/forecast",
    response_model=Forecast,
    summary="Month-end spending at the pace so far, and when each budget reaches 100%",
)
async def forecast(reports: ReportsDep, month: MonthQuery = None) -> Forecast:
    return await reports.forecast(await this_month(reports, month))


@router.get(
    "/report.pdf",
    response_class=StreamingResponse,
    summary="The month's statement as PDF",
    responses={200: {"content": {"application/pdf": {}}}},
)
async def report_pdf(reports: ReportsDep, month: MonthQuery = None) -> StreamingResponse:
    """One to three pages in your currency and time zone: income, expenses and savings against
    the month before; every budget with spent, limit and state; spending by category as a
    chart and a table; the largest expenses."""
    month = await this_month(reports, month)
    statement = await reports.statement(month)
    document = await asyncio.to_thread(render, statement)  # CPU work, off the event loop
    chunk = 64 * 1024
    return StreamingResponse(
        iter([document[i : i + chunk] for i in range(0, len(document), chunk)]),
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'attachment; filename="statement-{month}.pdf"',
            "Content-Length": str(len(document)),
        },
    )
