"""The time window a check reports, and the SQL condition that selects its rows."""

from dataclasses import dataclass
from datetime import timedelta
from typing import Tuple

from . import timeutil

DEFAULT_EVENT_TYPES = ("nonInteractiveUser",)


@dataclass(frozen=True)
class Window:
    """Rows with ``start <= created < end`` of the given event types (bounds are datetimes)."""

    start: object
    end: object
    event_types: Tuple[str, ...] = DEFAULT_EVENT_TYPES

    def __post_init__(self):
        # Bounds in the store's text form, computed once: contains() runs for every row.
        object.__setattr__(self, "start_key", timeutil.to_store(self.start))
        object.__setattr__(self, "end_key", timeutil.to_store(self.end))

    def where(self):
        """SQL condition and parameters selecting the window's rows of table ``signins``."""
        marks = ", ".join("?" * len(self.event_types))
        return ("event_type IN (%s) AND created >= ? AND created < ?" % marks,
                (*self.event_types, self.start_key, self.end_key))

    def contains(self, row):
        return (row["event_type"] in self.event_types
                and self.start_key <= row["created"] < self.end_key)

    def describe(self):
        return "%s to %s" % (timeutil.display(self.start), timeutil.display(self.end))

    @property
    def seconds(self):
        return int((self.end - self.start).total_seconds())


def closing(start, end, event_types=DEFAULT_EVENT_TYPES):
    """A window that includes ``end`` itself: for 'the whole file', whose last sign-in counts."""
    return Window(start, end + timedelta(microseconds=1), tuple(event_types))
