"""A database from before the one rollup collection is brought over at start (real Mongo)."""

from __future__ import annotations

from datetime import date

from analytics_service.reports import Reports
from analytics_service.storage import create_indexes
from shared.mongo import Mongo


async def test_monthly_and_daily_cells_move_to_rollups(fresh_mongo: Mongo) -> None:
    cell = {"user_id": "u1", "kind": "expense", "category": "food", "month": "2026-10"}
    await fresh_mongo.db.monthly.insert_one(
        {"_id": "monthly|u1|2026-10|expense|food", **cell, "total_cents": 1500, "count": 2}
    )
    await fresh_mongo.db.daily.insert_many(
        [
            {"_id": f"daily|u1|{day}|expense|food", **cell, "date": day, **figures}
            for day, figures in (
                ("2026-10-03", {"total_cents": 1000, "count": 1}),
                ("2026-10-20", {"total_cents": 500, "count": 1}),
            )
        ]
    )
    await fresh_mongo.db.users.insert_one(
        {"_id": "u1", "email": "u@example.com", "currency": "EUR", "timezone": "UTC"}
    )

    await create_indexes(fresh_mongo.db)
    await create_indexes(fresh_mongo.db)  # a second start (or replica) changes nothing

    assert await fresh_mongo.db.rollups.count_documents({"period": "month"}) == 1
    assert await fresh_mongo.db.rollups.count_documents({"period": "day"}) == 2
    assert not {"monthly", "daily"} & set(await fresh_mongo.db.list_collection_names())
    reports = Reports(fresh_mongo.db, "u1")
    month = await reports.month_summary("2026-10")
    days = await reports.summary(date(2026, 10, 1), date(2026, 10, 10))
    assert (str(month.expense), month.count) == ("15.00", 2)
    assert (str(days.expense), days.count) == ("10.00", 1)
