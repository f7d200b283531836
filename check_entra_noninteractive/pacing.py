"""A request budget shared by every check process of a tenant: Graph's identity and access
reports allow 5 requests per 10 s per app and tenant.

The budget lives in the tenant's store, so checks started together by Icinga (separate
processes) and the fetch threads of one check draw from the same one. A 429's Retry-After
blocks the key for everyone.
"""

import time

LIMIT = 5
PERIOD = 10.0
# In every tenant store (store.SCHEMA): the requests sent in the last PERIOD per key, and
# the keys a Retry-After blocks until a time.
TABLES = """
CREATE TABLE IF NOT EXISTS pacing (key TEXT NOT NULL, at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS pacing_by_key ON pacing (key, at);
CREATE TABLE IF NOT EXISTS pacing_block (key TEXT PRIMARY KEY, until REAL NOT NULL);
"""
# Microsoft counts arrivals, we count departures: leave room for network jitter.
MARGIN = 0.3


class OutOfTime(Exception):
    """The next request could not be made (or finish) before the caller's deadline."""

    def __init__(self, wait, throttled, reason=None):
        super().__init__(reason or "next request slot in %.1f s" % wait)
        self.wait = wait
        self.throttled = throttled  # True when a Retry-After, not our own pacing, blocks us


class Pacer:
    def __init__(self, store, key, limit=LIMIT, period=PERIOD, clock=time.time,
                 sleep=time.sleep):
        self.store = store
        self.key = key
        self.limit = limit
        self.period = period + MARGIN
        self.clock = clock
        self.sleep = sleep

    def acquire(self, deadline):
        """Wait for a request slot and take it; raise OutOfTime if it comes after deadline
        (a time.time() value)."""
        while True:
            wait, throttled = self._try_take()
            if wait <= 0:
                return
            if self.clock() + wait > deadline:
                raise OutOfTime(wait, throttled, "throttled (429)" if throttled else
                                "request budget of %d per %g s in use" % (self.limit,
                                                                         self.period - MARGIN))
            self.sleep(min(wait, 1.0) if throttled else wait)

    def _try_take(self):
        now = self.clock()
        with self.store.transaction() as db:
            row = db.execute("SELECT until FROM pacing_block WHERE key = ?",
                             (self.key,)).fetchone()
            if row and row[0] > now:
                return row[0] - now, True
            db.execute("DELETE FROM pacing WHERE at <= ?", (now - self.period,))
            recent = [at for (at,) in db.execute(
                "SELECT at FROM pacing WHERE key = ? ORDER BY at", (self.key,))]
            if len(recent) >= self.limit:
                return recent[-self.limit] + self.period - now, False
            db.execute("INSERT INTO pacing (key, at) VALUES (?, ?)", (self.key, now))
            return 0, False

    def block(self, seconds):
        """Microsoft said Retry-After: nobody sends for this key until then."""
        until = self.clock() + max(seconds, 0)
        with self.store.transaction() as db:
            db.execute("INSERT INTO pacing_block (key, until) VALUES (?, ?) ON CONFLICT(key) "
                       "DO UPDATE SET until = max(until, excluded.until)", (self.key, until))


class LocalPacer:
    """Pacing for a few requests of one process (the workspace lookup): it only waits out
    a Retry-After."""

    def __init__(self, clock=time.time, sleep=time.sleep):
        self.until = 0.0
        self.clock = clock
        self.sleep = sleep

    def acquire(self, deadline):
        wait = self.until - self.clock()
        if wait > 0:
            if self.clock() + wait > deadline:
                raise OutOfTime(wait, True, "throttled (429)")
            self.sleep(wait)

    def block(self, seconds):
        self.until = max(self.until, self.clock() + max(seconds, 0))
