"""Large CSV imports run as jobs: the request answers 202 at once with a status resource that
shows progress and, once done, the per-line report.

Small files (up to ``SYNC_ROWS`` rows) are still imported within the request (200 with the
result), as before. A job writes its rows in batches (expense_service.ledger.import_rows), each
batch one transaction with its rows' fingerprints and its ``expenses.imported`` event, so an
import is never half-applied silently: the job's status says how many rows are in, and if the
process stops mid-way (a crash, a restart) the job shows ``interrupted`` once its heartbeat is
older than ``STALE_SECONDS``; importing the same file again finishes it, because rows already
imported are recognised by their fingerprints and skipped.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from expense_service.csv_io import CsvFile
from expense_service.ledger import ImportInterruptedError, ImportOutcome, Ledger
from expense_service.models import ImportJob, ImportProblem
from shared.auth import Principal
from shared.mongo import Database, Document, utcnow

log = logging.getLogger(__name__)

SYNC_ROWS = 2_000
STALE_SECONDS = 120
MAX_REPORTED_ERRORS = 1_000


@dataclass
class ImportJobs:
    """The background tasks of this process (kept referenced until they finish)."""

    tasks: set[asyncio.Task[None]] = field(default_factory=set)

    async def start(
        self,
        ledger: Ledger,
        user: Principal,
        csv_file: CsvFile,
    ) -> ImportJob:
        now = utcnow()
        doc: Document = {
            "_id": str(uuid.uuid4()),
            "user_id": user.user_id,
            "state": "running",
            "rows": csv_file.rows,
            "processed": 0,
            "imported": 0,
            "skipped": 0,
            "errors": [],
            "errors_total": 0,
            "created_categories": [],
            "delimiter": csv_file.delimiter,
            "decimal": csv_file.decimal,
            "detail": None,
            "created_at": now,
            "heartbeat_at": now,
            "finished_at": None,
        }
        await ledger.db.import_jobs.insert_one(doc)
        task = asyncio.create_task(self._run(ledger, user, csv_file, doc))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return job_out(doc)

    async def _run(
        self,
        ledger: Ledger,
        user: Principal,
        csv_file: CsvFile,
        doc: Document,
    ) -> None:
        jobs = ledger.db.import_jobs

        async def progress(outcome: ImportOutcome, read_rows: int) -> None:
            await jobs.update_one(
                {"_id": doc["_id"]},
                {
                    "$set": {
                        "processed": read_rows,
                        "imported": outcome.imported,
                        "skipped": outcome.skipped,
                        "errors_total": len(outcome.problems),
                        "heartbeat_at": utcnow(),
                    }
                },
            )

        final: dict[str, Any]
        try:
            outcome = await ledger.import_rows(user, csv_file.entries(), progress)
            final = {"state": "done", **_counts(outcome, csv_file.rows)}
        except ImportInterruptedError as exc:
            final = {"state": "failed", "detail": str(exc), **_counts(exc.outcome, None)}
        except Exception as exc:  # the job's status must say it stopped, whatever stopped it
            log.exception("import job %s failed", doc["_id"])
            final = {
                "state": "failed",
                "detail": f"the import stopped ({exc!r}); import the same file again to add "
                "the rest: rows already imported are skipped",
            }
        await jobs.update_one(
            {"_id": doc["_id"]},
            {"$set": {**final, "heartbeat_at": utcnow(), "finished_at": utcnow()}},
        )


def _counts(outcome: ImportOutcome, processed: int | None) -> dict[str, Any]:
    errors = sorted(outcome.problems, key=lambda p: p.line)
    counts: dict[str, Any] = {
        "imported": outcome.imported,
        "skipped": outcome.skipped,
        "errors": [p.model_dump() for p in errors[:MAX_REPORTED_ERRORS]],
        "errors_total": len(errors),
        "created_categories": outcome.created_categories,
    }
    if processed is not None:
        counts["processed"] = processed
    return counts


async def read_job(db: Database, user_id: str, job_id: str) -> ImportJob | None:
    doc = await db.import_jobs.find_one({"_id": job_id, "user_id": user_id})
    return job_out(doc) if doc else None


def job_out(doc: Document) -> ImportJob:
    state = doc["state"]
    detail = doc.get("detail")
    heartbeat = doc["heartbeat_at"]
    if heartbeat.tzinfo is None:
        heartbeat = heartbeat.replace(tzinfo=UTC)
    if state == "running" and datetime.now(UTC) - heartbeat > timedelta(seconds=STALE_SECONDS):
        state = "interrupted"
        detail = (
            f"the import stopped after {doc['imported']} rows (the service restarted); "
            "import the same file again to add the rest: rows already imported are skipped"
        )
    return ImportJob(
        id=doc["_id"],
        state=state,
        rows=doc["rows"],
        processed=doc["processed"],
        imported=doc["imported"],
        skipped=doc["skipped"],
        errors=[ImportProblem(**p) for p in doc["errors"]],
        errors_total=doc["errors_total"],
        created_categories=doc["created_categories"],
        delimiter=doc["delimiter"],
        decimal=doc["decimal"],
        detail=detail,
        created_at=doc["created_at"],
        finished_at=doc.get("finished_at"),
    )
