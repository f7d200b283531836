"""Timestamps: parsing what Microsoft and operators write, and one sortable storage form."""

import re
from datetime import datetime, timedelta, timezone

# Stored form: fixed width, so text order is time order in SQLite (written by to_store).
STORE_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"

_ISO = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?"
    r"\s*(Z|[+-]\d{2}:?\d{2}|UTC)?$",
    re.IGNORECASE,
)
# The portal's CSV in en-US locale: "11/20/2026, 8:30:00 AM" (taken as UTC: "Date (UTC)").
_US = re.compile(
    r"^(\d{1,2})/(\d{1,2})/(\d{4}),?\s+(\d{1,2}):(\d{2})(?::(\d{2}))?\s*([AP]M)?$", re.IGNORECASE
)
_DURATION = re.compile(r"^(\d+)\s*([smhd]?)$")
EARLIEST = datetime(1, 1, 1, tzinfo=timezone.utc)
_UNIT_SECONDS = {"": 60, "s": 1, "m": 60, "h": 3600, "d": 86400}
_MAX_DURATION_DIGITS = 30


def parse_time(text):
    """Parse an ISO 8601 (or portal CSV) timestamp into an aware UTC datetime.

    Raises ValueError with the offending text. A timestamp without zone is taken as UTC,
    as Microsoft's exports are.
    """
    value = str(text).strip()
    match = _ISO.match(value)
    if match:
        year, month, day, hour, minute, second, fraction, zone = match.groups()
        micro = int((fraction or "0")[:6].ljust(6, "0"))
        moment = datetime(int(year), int(month), int(day), int(hour), int(minute),
                          int(second or 0), micro, tzinfo=timezone.utc)
        if zone and zone.upper() not in ("Z", "UTC"):
            sign = 1 if zone[0] == "+" else -1
            digits = zone[1:].replace(":", "")
            try:
                moment -= sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
            except OverflowError:
                raise ValueError("not a timestamp (out of range in UTC): %r" % value[:40])
        return moment
    match = _US.match(value)
    if match:
        month, day, year, hour, minute, second, half = match.groups()
        hour = int(hour)
        if half:
            hour = hour % 12 + (12 if half.upper() == "PM" else 0)
        return datetime(int(year), int(month), int(day), hour, int(minute), int(second or 0),
                        tzinfo=timezone.utc)
    raise ValueError("not a timestamp: %r" % value[:40])


def _seconds(moment):
    """'0999-01-02T03:04:05' in UTC: strftime writes years before 1000 without leading
    zeros, which would break the store's text order and the DD's times."""
    m = moment.astimezone(timezone.utc)
    return "%04d-%02d-%02dT%02d:%02d:%02d" % (m.year, m.month, m.day, m.hour, m.minute,
                                              m.second)


def to_store(moment):
    return "%s.%06dZ" % (_seconds(moment), moment.microsecond)


def from_store(text):
    return datetime.strptime(text, STORE_FORMAT).replace(tzinfo=timezone.utc)


def display(moment):
    """Short ISO form for people: seconds precision, Z suffix."""
    return _seconds(moment) + "Z"


def exact(moment):
    """ISO form for an API's filter or query: microseconds only when there are any."""
    text = _seconds(moment)
    if moment.microsecond:
        text += ".%06d" % moment.microsecond
    return text + "Z"


def display_stored(text):
    return display(from_store(text)) if text else ""


def duration_seconds(text):
    """'300s', '5m', '2h', '3d' or a bare number of minutes -> whole seconds, an int that may
    exceed any timedelta: compare it with a bound before making a timedelta of it."""
    match = _DURATION.match(str(text).strip().lower())
    if not match:
        raise ValueError("not a duration: %r (use e.g. 300s, 5m, 2h, 3d)" % str(text)[:40])
    digits = match.group(1).lstrip("0") or "0"
    if len(digits) > _MAX_DURATION_DIGITS:
        # int() refuses very long digit strings; any such number is far too long anyway.
        digits = "9" * _MAX_DURATION_DIGITS
    return int(digits) * _UNIT_SECONDS[match.group(2)]


def back(moment, delta):
    """``moment - delta``, or the earliest time there is (a --start in year 1)."""
    return moment - delta if moment - EARLIEST > delta else EARLIEST


def utcnow():
    return datetime.now(timezone.utc)
