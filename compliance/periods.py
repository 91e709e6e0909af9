"""An evidence period: whole UTC days, ``start`` to ``end`` inclusive (a quarter, a
month, an audit's window), and the half-open instants ``[since, until)`` queries use."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

MAX_DAYS = 366


@dataclass(frozen=True)
class Period:
    start: dt.date
    end: dt.date

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise ValueError("the period ends before it starts")

    @classmethod
    def quarter(cls, year: int, number: int) -> Period:
        if number not in (1, 2, 3, 4):
            raise ValueError("a quarter is 1 to 4")
        start = dt.date(year, 3 * number - 2, 1)
        following = dt.date(year + (number == 4), 1 if number == 4 else 3 * number + 1, 1)
        return cls(start, following - dt.timedelta(days=1))

    @classmethod
    def last_full_quarter(cls, today: dt.date) -> Period:
        number = (today.month - 1) // 3  # the current quarter's number less one
        return cls.quarter(today.year - 1, 4) if number == 0 else cls.quarter(today.year, number)

    @property
    def since(self) -> dt.datetime:
        return dt.datetime.combine(self.start, dt.time(), tzinfo=dt.UTC)

    @property
    def until(self) -> dt.datetime:
        return dt.datetime.combine(self.end + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def contains(self, other: Period) -> bool:
        return self.start <= other.start and other.end <= self.end

    def covers(self, moment: dt.datetime) -> bool:
        return self.since <= moment < self.until

    @property
    def label(self) -> str:
        """``2026-Q3`` for a calendar quarter, ``2026-07-01_2026-09-30`` otherwise."""
        number = (self.start.month - 1) // 3 + 1
        if self == Period.quarter(self.start.year, number):
            return f"{self.start.year}-Q{number}"
        return f"{self.start.isoformat()}_{self.end.isoformat()}"

    def __str__(self) -> str:
        return f"{self.start.isoformat()} to {self.end.isoformat()}"
