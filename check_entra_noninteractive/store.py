"""The SQLite store of normalized sign-in rows, shared by all checks of a tenant.

Rows are keyed by sign-in id, so fetching a range twice never counts a sign-in twice. The
coverage table records which time ranges were fetched completely (per event type) and
when, so a window that is already covered costs no request. The file holds personal data:
it is created mode 0600.
"""

import os
import sqlite3
import threading

from . import timeutil
from .normalize import COLUMNS

SCHEMA = """
CREATE TABLE IF NOT EXISTS signins (
    id TEXT PRIMARY KEY,
    created TEXT NOT NULL,
    event_type TEXT NOT NULL,
    success INTEGER NOT NULL,
    error_code INTEGER NOT NULL,
    failure_reason TEXT NOT NULL,
    ip TEXT NOT NULL, city TEXT NOT NULL, state TEXT NOT NULL, country TEXT NOT NULL,
    app_id TEXT NOT NULL, app_name TEXT NOT NULL,
    resource_id TEXT NOT NULL, resource_name TEXT NOT NULL,
    user_id TEXT NOT NULL, user_upn TEXT NOT NULL, user_name TEXT NOT NULL,
    sp_id TEXT NOT NULL, sp_name TEXT NOT NULL,
    client_app TEXT NOT NULL, auth_requirement TEXT NOT NULL,
    ca_status TEXT NOT NULL, ca_policies TEXT NOT NULL,
    risk_level TEXT NOT NULL, risk_state TEXT NOT NULL, risk_events TEXT NOT NULL,
    protocol TEXT NOT NULL, incoming_token_type TEXT NOT NULL,
    client_credential_type TEXT NOT NULL, user_agent TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS signins_by_time ON signins (event_type, created);
CREATE TABLE IF NOT EXISTS coverage (
    event_type TEXT NOT NULL,
    start TEXT NOT NULL,
    end TEXT NOT NULL,
    fetched TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS coverage_by_end ON coverage (event_type, end);
CREATE TABLE IF NOT EXISTS pacing (key TEXT NOT NULL, at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS pacing_by_key ON pacing (key, at);
CREATE TABLE IF NOT EXISTS pacing_block (key TEXT PRIMARY KEY, until REAL NOT NULL);
"""

_INSERT = "INSERT OR REPLACE INTO signins (%s) VALUES (%s)" % (
    ", ".join(COLUMNS), ", ".join("?" * len(COLUMNS)))


def _create_private(path):
    """Create the file (and its directory) readable by the owner only, before SQLite opens it."""
    directory = os.path.dirname(path)
    if directory:
        os.makedirs(directory, mode=0o700, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    os.close(fd)


class Store:
    """One SQLite database: ``Store(path)``; ``Store(':memory:')`` for tests."""

    def __init__(self, path, busy_timeout=30.0):
        self.path = path
        if path != ":memory:":
            _create_private(path)
        # One connection shared by the fetch threads of this process, serialized by a lock.
        self.lock = threading.RLock()
        self.db = sqlite3.connect(path, timeout=busy_timeout, isolation_level=None,
                                  check_same_thread=False)
        # WAL lets checks read while another one writes a fetched page.
        if path != ":memory:":
            self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(SCHEMA)

    def close(self):
        self.db.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def add(self, rows):
        """Insert or replace rows (dicts with the keys of ``COLUMNS``) in one transaction."""
        with self.transaction():
            self.db.executemany(_INSERT, ([row[c] for c in COLUMNS] for row in rows))

    def add_page(self, rows, event_types, start, end, fetched):
        """Store a fetched page and, in the same transaction, the range it completed."""
        with self.transaction() as db:
            db.executemany(_INSERT, ([row[c] for c in COLUMNS] for row in rows))
            if start < end:
                db.executemany(
                    "INSERT INTO coverage (event_type, start, end, fetched) VALUES (?, ?, ?, ?)",
                    [(t, timeutil.to_store(start), timeutil.to_store(end),
                      timeutil.to_store(fetched)) for t in event_types])

    def gaps(self, window, delay):
        """Parts of the window not yet fetched completely after they had settled.

        A range fetched at time F holds everything of [start, min(end, F - delay)): sign-ins
        reach Graph up to ``delay`` late, so what was younger than that may be incomplete.
        Returns sorted, disjoint (start, end) datetime pairs.
        """
        missing = []
        for event_type in window.event_types:
            rows = self.query(
                "SELECT start, end, fetched FROM coverage WHERE event_type = ? AND end > ? "
                "AND start < ?", (event_type, window.start_key, window.end_key))
            covered = []
            for start, end, fetched in rows:
                settled_end = min(timeutil.from_store(end), timeutil.from_store(fetched) - delay)
                covered.append((timeutil.from_store(start), settled_end))
            missing.extend(_subtract((window.start, window.end), covered))
        return _union(missing)

    def prune(self, before):
        """Forget sign-ins and coverage older than ``before`` (retention)."""
        key = timeutil.to_store(before)
        with self.transaction() as db:
            db.execute("DELETE FROM signins WHERE created < ?", (key,))
            db.execute("DELETE FROM coverage WHERE end <= ?", (key,))

    def transaction(self):
        return _Transaction(self)

    def query(self, sql, params=()):
        with self.lock:
            return self.db.execute(sql, params).fetchall()

    def count(self):
        return self.query("SELECT COUNT(*) FROM signins")[0][0]


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT, holding this process's lock on the connection."""

    def __init__(self, store):
        self.store = store

    def __enter__(self):
        self.store.lock.acquire()
        try:
            self.store.db.execute("BEGIN IMMEDIATE")
        except BaseException:
            self.store.lock.release()
            raise
        return self.store.db

    def __exit__(self, exc_type, exc, tb):
        try:
            self.store.db.execute("ROLLBACK" if exc_type else "COMMIT")
        finally:
            self.store.lock.release()


def _union(intervals):
    merged = []
    for start, end in sorted(i for i in intervals if i[0] < i[1]):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _subtract(span, covered):
    gaps, cursor = [], span[0]
    for start, end in _union(covered):
        if start > cursor:
            gaps.append((cursor, min(start, span[1])))
        cursor = max(cursor, end)
        if cursor >= span[1]:
            break
    if cursor < span[1]:
        gaps.append((cursor, span[1]))
    return [g for g in gaps if g[0] < g[1]]
