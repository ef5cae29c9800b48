"""Quota periods and the server clock.

Quota periods are calendar months in Western Indonesia Time (WIB, UTC+7, no
daylight saving), written "YYYY-MM". A redemption tapped at 2026-03-31 17:30
UTC belongs to period 2026-04 because it is already April in Kota Jambi.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime, timedelta, timezone

__all__ = ["WIB", "Clock", "PERIOD_PATTERN", "period_of", "utc_datetime", "wib_date"]

WIB = timezone(timedelta(hours=7), "WIB")

Clock = Callable[[], float]
"""A function returning the current time in Unix seconds, such as time.time."""

PERIOD_PATTERN = re.compile(r"^[0-9]{4}-(0[1-9]|1[0-2])$")


def utc_datetime(timestamp: float) -> datetime:
    return datetime.fromtimestamp(timestamp, timezone.utc)


def wib_date(timestamp: float) -> date:
    """Return the calendar date in WIB at the given Unix time."""
    return datetime.fromtimestamp(timestamp, WIB).date()


def period_of(timestamp: float) -> str:
    """Return the quota period "YYYY-MM" that contains the given Unix time."""
    return datetime.fromtimestamp(timestamp, WIB).strftime("%Y-%m")
