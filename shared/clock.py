"""The time that schedules and "today" are read from.

Normally the wall clock. In development and test a process may be started with ``CLOCK_START``
(settings refuse it in production): its clock then starts at that moment and runs at real
speed, so a test can live through a Monday morning, or a rule's due date, without waiting for
one. Timestamps of records (``utcnow`` in shared.mongo) stay on the wall clock.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

_offset = timedelta(0)


def now() -> datetime:
    """Aware UTC."""
    return datetime.now(UTC) + _offset


def start_at(moment: datetime) -> None:
    """From now on, ``now()`` runs from ``moment`` (aware)."""
    global _offset
    _offset = moment - datetime.now(UTC)
