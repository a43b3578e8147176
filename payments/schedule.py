"""When a failed charge is tried again: "the upcoming evening" in the account's own time zone.

The retry hour (20:00 by default) of the failure's own local calendar date, unless that is less
than two hours away (or past): then the same hour of the next date that is far enough. Dates are
calendar dates, not 24-hour steps, so a 23- or 25-hour day (daylight saving time) still lands on
20:00 local. One retry per evening follows: a retry that fails at 20:00 is retried the next day.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

MIN_GAP = timedelta(hours=2)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    retries: int = 3  # scheduled retries after the first failed charge; 0 deactivates at once
    hour: int = 20  # local hour of the day the retries run
    min_gap: timedelta = MIN_GAP

    def __post_init__(self) -> None:
        if self.retries < 0 or not 0 <= self.hour <= 23 or self.min_gap < timedelta(0):
            raise ValueError("retries must not be negative, the hour 0 to 23")


def local_hour(day: date, hour: int, zone: ZoneInfo) -> datetime:
    """``hour``:00 on ``day`` in ``zone``, as UTC. An hour that a clock change skips (a spring-
    forward gap) is the first instant after it; of an hour that occurs twice, the first."""
    naive = datetime.combine(day, time(hour))
    aware = naive.replace(tzinfo=zone, fold=0)
    # A non-existent local time does not survive a round trip through UTC: take the instant
    # it maps to (zoneinfo reads it with the offset before the gap, which is after it).
    return aware.astimezone(UTC)


def upcoming_evening(
    after: datetime, timezone: str, policy: RetryPolicy = RetryPolicy()
) -> datetime:
    """The retry time for a failure at ``after`` (aware), in UTC."""
    if after.tzinfo is None:
        raise ValueError("a naive failure time")
    zone = ZoneInfo(timezone)
    day = after.astimezone(zone).date()
    while True:
        candidate = local_hour(day, policy.hour, zone)
        if candidate - after >= policy.min_gap:
            return candidate
        day += timedelta(days=1)
