"""Working days: the calendar a dispute's due date is counted in.

Saturdays and Sundays are rest days, the configured public holidays are rest days too, and the
configured adjusted working days (China's 调休: a weekend day worked in exchange for a longer
holiday) are working days although they fall on a weekend.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta


class WorkingCalendar:
    def __init__(self, holidays: Iterable[date] = (), working_weekend_days: Iterable[date] = ()):
        self._holidays = frozenset(holidays)
        self._working_weekend_days = frozenset(working_weekend_days)

    def is_working_day(self, day: date) -> bool:
        if day in self._working_weekend_days:
            return True
        return day.weekday() < 5 and day not in self._holidays

    def due_date(self, start: date, days: int, counted: str) -> date:
        """The last day of a period of ``days`` from ``start``: ``working`` days, or
        ``calendar`` days with a last day that is not a working day moved to the next working
        day (Civil Code of the PRC, Art. 203)."""
        if counted == "working":
            return self.add_working_days(start, days)
        day = start + timedelta(days=days)
        while not self.is_working_day(day):
            day += timedelta(days=1)
        return day

    def add_working_days(self, start: date, days: int) -> date:
        """The ``days``-th working day after ``start`` (the day of filing does not count, as
        a period counted in days starts the next day)."""
        if days < 0:
            raise ValueError("days must not be negative")
        day = start
        while days:
            day += timedelta(days=1)
            days -= self.is_working_day(day)
        return day


def parse_days(text: str, where: str) -> tuple[date, ...]:
    """Comma-separated ISO 8601 dates, or ranges ``first..last`` (both included)."""
    found: list[date] = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        first_text, _, last_text = item.partition("..")
        try:
            first = date.fromisoformat(first_text.strip())
            last = date.fromisoformat(last_text.strip()) if last_text else first
        except ValueError as exc:
            raise ValueError(f"{where}: {item!r} is not a date or a range first..last") from exc
        if last < first or (last - first).days > 366:
            raise ValueError(f"{where}: {item!r} is not a range of at most a year, first first")
        found.extend(first + timedelta(days=n) for n in range((last - first).days + 1))
    return tuple(sorted(set(found)))
