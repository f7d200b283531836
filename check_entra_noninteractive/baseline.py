"""Per-entity baselines: how often each user, IP and app signed in, hour by hour, before.

The store keeps compact counts (``TABLES``): per hour, event type and entity, the number of
sign-ins, keyed by a 64-bit hash of the entity's key (its name is in the window's own rows
when it matters). Rows are counted once their hour is complete in the store's coverage,
so a half-fetched hour is never taken for a quiet one; the counts outlive the rows, which
retention removes.

``History`` answers, for a reported window, an entity's mean count for a window of that
length at the same time of day over the previous ``days`` days (traffic follows the
working day, so an all-day mean would cry wolf every morning). A day counts only when
every hour its span touches was counted; with no such day the baseline is learning.
"""

import hashlib
import struct
from collections import Counter
from datetime import datetime, timedelta, timezone

from . import timeutil
from .measures import ENTITIES
from .threats import BASELINE_ENTITIES
from .window import EVENT_BITS

# The entities with a baseline, and the SQL over table ``signins`` that keys them.
KEYS = tuple((name, ENTITIES[name].key) for name in BASELINE_ENTITIES)
_CODES = {name: code for code, (name, _) in enumerate(KEYS)}
HOUR = 3600
# SQLite binds up to 32,766 parameters (3.32 and later); hours and parts take some.
KEYS_PER_QUERY = 10000

TABLES = """
CREATE TABLE IF NOT EXISTS baseline_hours (
    part INTEGER NOT NULL, hour INTEGER NOT NULL, PRIMARY KEY (part, hour)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS baseline_counts (
    hour INTEGER NOT NULL, part INTEGER NOT NULL, entity INTEGER NOT NULL,
    key INTEGER NOT NULL, signins INTEGER NOT NULL,
    PRIMARY KEY (hour, part, entity, key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS baseline_seen (
    entity INTEGER NOT NULL, key INTEGER NOT NULL,
    first_hour INTEGER NOT NULL, last_hour INTEGER NOT NULL,
    PRIMARY KEY (entity, key)
) WITHOUT ROWID;
"""
# A backlog (a threats check added to a store that holds days of rows) is counted this
# many hours per run: an hour of a tenant with 1M sign-ins a day takes about 0.6 s.
HOURS_PER_RUN = 12
# The store remembers the longest --baseline-days a threats check asked for: every check's
# prune then counts the hours it is about to remove, and drops older counts.
META_DAYS = "baseline_days"


def key_hash(text):
    """The stored form of an entity key: 8 bytes of BLAKE2b, as a signed 64-bit integer."""
    digest = hashlib.blake2b(text.encode("utf-8", "replace"), digest_size=8).digest()
    return struct.unpack("<q", digest)[0]


def hour_of(moment):
    """Hours since the epoch of a datetime (floored)."""
    return int(moment.timestamp()) // HOUR


def wanted_days(db):
    row = db.execute("SELECT value FROM meta WHERE key = ?", (META_DAYS,)).fetchone()
    return int(row[0]) if row else None


def remember_days(db, days):
    """Keep counts for at least ``days`` days (the longest any threats check asked for)."""
    known = wanted_days(db)
    if known is None or days > known:
        db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                   (META_DAYS, str(days)))


def roll_up(db, covered, until, most=HOURS_PER_RUN):
    """Count the complete hours before ``until`` (a datetime) not counted yet, the oldest
    ``most`` of them (retention removes the oldest first; None: all).

    ``covered``: event type -> settled (start, end) datetime spans of the store's
    coverage. Runs inside the caller's write transaction.
    """
    last = hour_of(until)  # hours < last end by ``until``
    todo = []
    for part, spans in covered.items():
        bit = EVENT_BITS[part]
        counted = {hour for (hour,) in db.execute(
            "SELECT hour FROM baseline_hours WHERE part = ?", (bit,))}
        for start, end in spans:
            first = -(-int(start.timestamp()) // HOUR)  # the first whole hour
            todo += [(hour, bit) for hour in range(first, min(hour_of(end), last))
                     if hour not in counted]
    for hour, bit in sorted(todo)[:most]:
        _count_hour(db, bit, hour)


def _count_hour(db, bit, hour):
    begin, end = (timeutil.to_store(datetime.fromtimestamp(h * HOUR, timezone.utc))
                  for h in (hour, hour + 1))
    # One read of the hour's rows (along the time index) for all entities.
    counts = [Counter() for _ in KEYS]
    for keys in db.execute(
            "SELECT %s FROM signins WHERE created >= ? AND created < ? "
            "AND (event_mask & ?) <> 0" % ", ".join(key for _, key in KEYS),
            (begin, end, bit)):
        for counter, key in zip(counts, keys):
            if key:
                counter[key] += 1
    for code, counter in enumerate(counts):
        hashed = [(key_hash(k), n) for k, n in counter.items()]
        db.executemany("INSERT OR REPLACE INTO baseline_counts VALUES (?, ?, ?, ?, ?)",
                       [(hour, bit, code, k, n) for k, n in hashed])
        db.executemany(
            "INSERT INTO baseline_seen VALUES (?, ?, ?, ?) ON CONFLICT (entity, key) DO "
            "UPDATE SET first_hour = min(first_hour, excluded.first_hour), "
            "last_hour = max(last_hour, excluded.last_hour)",
            [(code, k, hour, hour) for k, _ in hashed])
    db.execute("INSERT OR REPLACE INTO baseline_hours VALUES (?, ?)", (bit, hour))


def forget(db, days):
    """Drop the counts older than ``days`` days (and a day's margin) before the newest."""
    (newest,), = db.execute("SELECT MAX(hour) FROM baseline_hours")
    if newest is None:
        return
    hour = newest - (days + 1) * 24
    db.execute("DELETE FROM baseline_counts WHERE hour < ?", (hour,))
    db.execute("DELETE FROM baseline_hours WHERE hour < ?", (hour,))
    db.execute("DELETE FROM baseline_seen WHERE last_hour < ?", (hour,))
    db.execute("UPDATE baseline_seen SET first_hour = ? WHERE first_hour < ?", (hour, hour))


class History:
    """What the counted hours say about a window (``window.Window``) over ``days`` days."""

    def __init__(self, store, window, days):
        self.store = store
        self.days = days
        self.parts = [EVENT_BITS[t] for t in window.event_types]
        self.first_hour = hour_of(timeutil.back(window.start, timedelta(days=days)))
        self.window_hour = hour_of(window.start)  # counted hours end before it
        self.hours = self._counted_hours()
        # The same span of each earlier day, when every hour it touches was counted; a
        # span that reaches into the window is none (the window is no history).
        self.spans = []
        shortest = -(-(window.end - window.start) // timedelta(days=1))  # days, rounded up
        self.too_long = shortest > days
        for day in range(max(shortest, 1),
                         min(days, (window.start - timeutil.EARLIEST).days) + 1):
            span = (window.start - timedelta(days=day), window.end - timedelta(days=day))
            weights = _hour_weights(*span)
            if all((part, hour) in self.hours for hour in weights for part in self.parts):
                self.spans.append(weights)

    def _counted_hours(self):
        return set(self.store.query(
            "SELECT part, hour FROM baseline_hours WHERE hour >= ? AND hour < ? "
            "AND part IN (%s)" % _marks(self.parts),
            [self.first_hour, self.window_hour] + self.parts))

    @property
    def learning(self):
        """No earlier day to compare with yet."""
        return not self.spans

    @property
    def hours_known(self):
        """Counted hours of the baseline days (of the window's first event type)."""
        return sum(1 for part, _ in self.hours if part == self.parts[0])

    def is_new(self, entity, key):
        """No sign-in of the entity in the counted hours of the baseline days before the
        window. Only the first and last counted hour of each entity are kept: when an
        explicit earlier window is reported after later hours were counted, an entity
        seen before and after the baseline days, not within them, counts as known."""
        row = self.store.query("SELECT first_hour, last_hour FROM baseline_seen WHERE "
                               "entity = ? AND key = ?", (_CODES[entity], key_hash(key)))
        if not row:
            return True
        first, last = row[0]
        return first >= self.window_hour or last < self.first_hour

    def usual(self, entity, keys):
        """key -> its mean count over the compared days' spans (0.0 when learning), for
        the keys of ``entity``: one query per chunk of keys, whatever the spans' hours."""
        means = dict.fromkeys(keys, 0.0)
        if not self.spans:
            return means
        weights = {}  # hour -> its weight summed over the spans
        for span in self.spans:
            for hour, weight in span.items():
                weights[hour] = weights.get(hour, 0.0) + weight
        by_hash = {key_hash(key): key for key in keys}
        hashes = list(by_hash)
        for first in range(0, len(hashes), KEYS_PER_QUERY):
            chunk = hashes[first:first + KEYS_PER_QUERY]
            found = self.store.query(
                "SELECT hour, key, SUM(signins) FROM baseline_counts WHERE hour IN (%s) "
                "AND part IN (%s) AND entity = ? AND key IN (%s) GROUP BY hour, key"
                % (_marks(weights), _marks(self.parts), _marks(chunk)),
                list(weights) + self.parts + [_CODES[entity]] + chunk)
            for hour, hashed, count in found:
                means[by_hash[hashed]] += weights[hour] * count / len(self.spans)
        return means

    def describe(self):
        """One line for the long output."""
        if self.too_long:
            return ("baseline: a window longer than --baseline-days (%d) has no earlier day "
                    "to compare with; the unusual_* measures stay 0" % self.days)
        if self.learning:
            return ("baseline: learning, %d h of history counted; the unusual_* measures "
                    "compare once a full day before the window is counted"
                    % self.hours_known)
        return ("baseline: %d of %d days compared (--baseline-days), at the window's time "
                "of day" % (len(self.spans), self.days))


def _marks(values):
    return ", ".join("?" * len(values))


def _hour_weights(start, end):
    """hour -> the share of that hour's count that falls in [start, end)."""
    weights = {}
    at, stop = start.timestamp(), end.timestamp()
    while at < stop:
        hour = int(at) // HOUR
        upto = min(stop, (hour + 1) * HOUR)
        weights[hour] = weights.get(hour, 0.0) + (upto - at) / HOUR
        at = upto
    return weights
