"""A database from before the month documents is brought over at start (real Mongo)."""

from __future__ import annotations

from budget_service.storage import create_indexes, read_month, spent_in
from shared.mongo import Mongo


def projected(n: int, month: str, category: str, cents: int, **extra: object) -> dict[str, object]:
    return {
        "_id": f"e{n}",
        "user_id": "u1",
        "version": 1,
        "kind": "expense",
        "base_amount_cents": cents,
        "month": month,
        "category": category,
        "deleted": False,
    } | extra


async def test_totals_are_summed_from_the_projection_and_alert_states_carried_over(
    fresh_mongo: Mongo,
) -> None:
    await fresh_mongo.db.expense_projection.insert_many(
        [
            projected(1, "2026-10", "food", 1250),
            projected(2, "2026-10", "food", 750),
            projected(3, "2026-10", "eating out.", 300),  # a dot in a category name
            projected(4, "2026-10", "food", 9999, deleted=True),
            projected(5, "2026-10", "food", 5000, kind="income"),
            projected(6, "2026-11", "travel", 4000),
        ]
    )
    # The old layout: totals per cell (deliberately wrong: they are not trusted), alert states,
    # locks.
    await fresh_mongo.db.spending.insert_one({"_id": "u1:2026-10:food", "total_cents": 1})
    await fresh_mongo.db.alert_state.insert_one(
        {
            "_id": "b1:2026-10:8000",
            "user_id": "u1",
            "budget_id": "b1",
            "month": "2026-10",
            "threshold_bp": 8000,
            "spent_cents": 2000,
        }
    )
    await fresh_mongo.db.locks.insert_one({"_id": "u1:2026-10", "user_id": "u1", "writes": 7})

    await create_indexes(fresh_mongo.db)
    await create_indexes(fresh_mongo.db)  # a second start (or replica) changes nothing

    october = await read_month(fresh_mongo.db, "u1", "2026-10")
    november = await read_month(fresh_mongo.db, "u1", "2026-11")
    assert spent_in(october, "food") == 2000
    assert spent_in(october, "eating out.") == 300
    assert spent_in(october, None) == 2300
    assert spent_in(november, None) == 4000
    assert october is not None
    assert october["alerts"] == {"b1": {"8000": 2000}}
    names = set(await fresh_mongo.db.list_collection_names())
    assert not names & {"spending", "alert_state", "locks"}
