"""Times on cards: instants in the configured zone with their UTC offset, and durations."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from app.models import Alert
from app.text import human_duration


# Alerts of one rule evaluation share their start: each distinct instant is formatted once.
@lru_cache(maxsize=1024)
def local_time(moment: datetime | None, zone: ZoneInfo) -> str:
    """`moment` in `zone` with its UTC offset; a naive datetime is taken as UTC, never local."""
    if moment is None:
        return ""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    try:
        local = moment.astimezone(zone)
    except OverflowError:  # within hours of year 1 or 9999: the zone's offset would leave the range
        local = moment.astimezone(UTC)
    return f"{local:%Y-%m-%d %H:%M:%S} {utc_offset(local.utcoffset())}"


def utc_offset(offset: timedelta | None) -> str:
    minutes = int((offset or timedelta()).total_seconds() // 60)
    if minutes == 0:
        return "UTC"
    hours, rest = divmod(abs(minutes), 60)
    sign = "+" if minutes > 0 else "-"
    return f"UTC{sign}{hours}" + (f":{rest:02d}" if rest else "")


def elapsed(alert: Alert, now: datetime) -> str:
    if alert.starts_at is None:
        return ""
    end = alert.ends_at if alert.status == "resolved" and alert.ends_at else now
    return _time_between(alert.starts_at, end)


@lru_cache(maxsize=1024)  # the alerts of one rule evaluation started together
def _time_between(start: datetime, end: datetime) -> str:
    return human_duration((_aware(end) - _aware(start)).total_seconds())


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
