"""The time window a check reports, and the SQL condition that selects its rows.

A live window ends at ``now - delay`` rounded down to the minute and is at least
``--window`` long. It starts earlier, at the end of the last window the check reported,
when that lies further back, so that consecutive runs leave no minute unreported (see
``live``).
"""

from dataclasses import dataclass
from datetime import timedelta
from typing import Optional, Tuple

from . import timeutil

# Sign-in event types and their bits in the store's ``event_mask``: a sign-in that lists
# several types counts for each of them.
EVENT_TYPES = ("nonInteractiveUser", "servicePrincipal", "managedIdentity", "interactiveUser")
EVENT_BITS = {name: 1 << i for i, name in enumerate(EVENT_TYPES)}
DEFAULT_EVENT_TYPES = ("nonInteractiveUser",)


def event_mask(event_types):
    mask = 0
    for name in event_types:
        mask |= EVENT_BITS.get(name, 0)
    return mask


@dataclass(frozen=True)
class Window:
    """Rows with ``start <= created < end`` of the given event types (bounds are datetimes).

    ``skipped``: on a live window after a long outage, the (start, end) span that no run
    reported (longer than --max-catchup), else None.
    """

    start: object
    end: object
    event_types: Tuple[str, ...] = DEFAULT_EVENT_TYPES
    skipped: Optional[Tuple[object, object]] = None

    def __post_init__(self):
        # Bounds in the store's text form, computed once: contains() runs for every row.
        object.__setattr__(self, "start_key", timeutil.to_store(self.start))
        object.__setattr__(self, "end_key", timeutil.to_store(self.end))
        object.__setattr__(self, "mask", event_mask(self.event_types))

    def where(self):
        """SQL condition and parameters selecting the window's rows of table ``signins``."""
        return ("created >= ? AND created < ? AND (event_mask & ?) <> 0",
                (self.start_key, self.end_key, self.mask))

    def contains(self, row):
        return bool(row["event_mask"] & self.mask) and \
            self.start_key <= row["created"] < self.end_key

    def describe(self):
        return "%s to %s" % (timeutil.display(self.start), timeutil.display(self.end))


def closing(start, last, event_types=DEFAULT_EVENT_TYPES):
    """'The whole file': a window whose exclusive end is the last sign-in's second + 1 s, so
    the last sign-in counts."""
    return Window(start, last.replace(microsecond=0) + timedelta(seconds=1),
                  tuple(event_types))


def live(now, length, delay, max_catchup, last=None, event_types=DEFAULT_EVENT_TYPES):
    """The window a live run reports.

    ``last`` is the (start, end) of the window this check reported last, or None. The window
    ends at floor_minute(now - delay). It starts at ``end - length``, or at the last end if
    that lies further back, so a late or skipped run leaves no gap; but a catch-up longer
    than ``max_catchup`` is cut to ``length`` and the span left out is named in ``skipped``.
    A re-run in the same minute reports the same window again. A remembered window that
    ends in the future is ignored.
    """
    end = (now - delay).replace(second=0, microsecond=0)
    start = end - length
    skipped = None
    if last is not None:
        last_start, last_end = last
        if last_end == end and end - max(max_catchup, length) <= last_start < end:
            start = min(start, last_start)
        elif last_end < start:
            if end - last_end <= max_catchup:
                start = last_end
            else:
                skipped = (last_end, start)
    return Window(start, end, tuple(event_types), skipped)
