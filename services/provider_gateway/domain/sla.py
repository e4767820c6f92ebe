"""When a provider must have accepted an assignment: the acceptance SLA.

Rules kept here (defaults chosen for this project; the numbers live in configuration):
- an urgent assignment is due a fixed number of clock hours after it is assigned (4 by
  default): urgent cases do not wait for Monday;
- a standard assignment is due N working days after it is assigned (2 by default), at the
  same local wall-clock time; working days are Monday to Friday in the service's time zone,
  minus the configured holidays; an assignment made on a non-working day starts its clock at
  the beginning of the next working day;
- acceptance (or reported contact) stops the clock; a decline does too, since it re-routes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo

from shared import Priority

_SATURDAY = 5


@dataclass(frozen=True)
class SlaPolicy:
    """How long a provider has to accept, by priority."""

    urgent: timedelta = timedelta(hours=4)
    standard_working_days: int = 2
    zone: tzinfo = field(default_factory=lambda: ZoneInfo("Europe/London"))
    holidays: frozenset[date] = frozenset()

    def is_working_day(self, day: date) -> bool:
        return day.weekday() < _SATURDAY and day not in self.holidays

    def due(self, priority: Priority, assigned_at: datetime) -> datetime:
        """The moment the assignment becomes overdue if nobody has accepted it (UTC)."""
        if priority is Priority.URGENT:
            return (assigned_at + self.urgent).astimezone(UTC)
        local = assigned_at.astimezone(self.zone)
        day, wall = local.date(), local.timetz().replace(tzinfo=None)
        if not self.is_working_day(day):
            while not self.is_working_day(day):
                day += timedelta(days=1)
            wall = time(0, 0)
        counted = 0
        while counted < self.standard_working_days:
            day += timedelta(days=1)
            if self.is_working_day(day):
                counted += 1
        # Combine date and wall time in the zone, so a clock change in between moves nothing.
        return datetime.combine(day, wall, tzinfo=self.zone).astimezone(UTC)
