"""The SQLite store of normalized sign-in rows, shared by all checks of a tenant.

Rows are keyed by sign-in id, so fetching a range twice never counts a sign-in twice. The
coverage table records which time ranges were fetched completely and when, per part (an
event type, or an event type in one Log Analytics workspace), so a window that is already
covered costs no request. The file holds personal data:
it is created mode 0600. The store is a cache of Microsoft's data: a damaged one, or one
of another schema version, is moved aside and rebuilt.
"""

import operator
import os
import sqlite3
import threading
import time

from nagiosplugin import CheckError

from . import baseline, pacing, statedir, timeutil
from .normalize import COLUMNS, INTEGER_COLUMNS

# Bump when the tables change: an older store is then rebuilt, not misread.
SCHEMA_VERSION = 5
# PRAGMA quick_check reads the whole file: at most this often per store.
QUICK_CHECK_SECONDS = 3600
# Rows one prune removes at most: a long pause or a shorter --retention leaves a backlog
# that the next runs remove bit by bit, instead of one run holding the write lock for
# seconds (500,000 rows took 6-13 s).
PRUNE_ROWS = 20000

# The signins table has a column for each of the row's, in COLUMNS order; the sign-in's
# id is the key, and no other column is ever NULL.
_SIGNIN_COLUMNS = ",\n    ".join(
    "id TEXT PRIMARY KEY" if name == "id"
    else "%s %s NOT NULL" % (name, "INTEGER" if name in INTEGER_COLUMNS else "TEXT")
    for name in COLUMNS)
SCHEMA = """
CREATE TABLE IF NOT EXISTS signins (
    """ + _SIGNIN_COLUMNS + """
);
-- The window's rows in the order the measures read them: by time, then id.
CREATE INDEX IF NOT EXISTS signins_by_time ON signins (created, id);
CREATE TABLE IF NOT EXISTS coverage (
    part TEXT NOT NULL,
    start TEXT NOT NULL,
    end TEXT NOT NULL,
    fetched TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS coverage_by_end ON coverage (part, end);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
""" + pacing.TABLES + baseline.TABLES

_INSERT = "INSERT OR REPLACE INTO signins (%s) VALUES (%s)" % (
    ", ".join(COLUMNS), ", ".join("?" * len(COLUMNS)))
# A row's values in COLUMNS order (a tuple, which SQLite binds fastest).
_VALUES = operator.itemgetter(*COLUMNS)
# A scratch store (see Store): larger pages than the default 4 KiB (rows are ~0.8 KiB, and
# a large file's inserts and the measures' ordered read both run ~25 % faster), and a page
# cache (KiB) that keeps more of the id and time indexes in memory than the default 2 MiB.
SCRATCH_PAGE_SIZE = 32768
SCRATCH_CACHE_KIB = 8192


class Damaged(Exception):
    """The database file is not a (sound) SQLite database."""


def is_damage(exc):
    """True for SQLite's 'not a database' and 'malformed' errors, and a failed quick_check:
    the file must go."""
    if isinstance(exc, Damaged):
        return True
    name = getattr(exc, "sqlite_errorname", "")
    if name:
        return name.startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB"))
    text = str(exc).lower()
    return "not a database" in text or "malformed" in text


class Store:
    """One SQLite database: ``Store(path)``; ``Store(':memory:')`` for tests.

    ``notes`` holds lines for the long output (e.g. that a damaged store was rebuilt).
    ``scratch=True``: a throwaway store that one process fills and reads (the file
    source's): no write-ahead log and no syncing (a crash loses nothing that anyone keeps),
    and a larger page cache.
    """

    def __init__(self, path, busy_timeout=30.0, scratch=False):
        self.path = path
        self.scratch = scratch
        self.notes = []
        # One connection shared by the fetch threads of this process, serialized by a lock.
        self.lock = threading.RLock()
        self.db = None
        try:
            self._open(busy_timeout)
        except (Damaged, sqlite3.DatabaseError) as exc:
            if path == ":memory:" or not is_damage(exc):
                self.close()
                raise CheckError(statedir.storage_problem(path, exc, "store"))
            self.notes.append(self.quarantine(exc))
            self._open(busy_timeout)

    def _open(self, busy_timeout):
        if self.path != ":memory:":
            statedir.ensure_dir(os.path.dirname(os.path.abspath(self.path)))
            statedir.create_private(self.path, "store")
            for suffix in ("-wal", "-shm"):
                statedir.check_file(self.path + suffix, "store file")
        self.db = sqlite3.connect(self.path, timeout=busy_timeout, isolation_level=None,
                                  check_same_thread=False)
        if self.scratch:
            self.db.execute("PRAGMA page_size=%d" % SCRATCH_PAGE_SIZE)  # before any table
            # The rollback journal in memory still undoes a failed transaction.
            self.db.execute("PRAGMA journal_mode=MEMORY")
            self.db.execute("PRAGMA synchronous=OFF")
            self.db.execute("PRAGMA cache_size=-%d" % SCRATCH_CACHE_KIB)
        else:
            # WAL lets checks read while another one writes a fetched page.
            if self.path != ":memory:":
                self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
        version = self.db.execute("PRAGMA user_version").fetchone()[0]
        if version != SCHEMA_VERSION:
            self._rebuild(version)
        self._quick_check()

    def _rebuild(self, version):
        with self.transaction() as db:
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version == SCHEMA_VERSION:
                return  # another check rebuilt it while this one waited
            tables = [name for (name,) in db.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'")]
            for name in tables:
                db.execute('DROP TABLE "%s"' % name.replace('"', '""'))
            for statement in SCHEMA.split(";"):
                if statement.strip():
                    db.execute(statement)
            db.execute("PRAGMA user_version = %d" % SCHEMA_VERSION)
        if version:
            self.notes.append("store %s had schema version %d, this check needs %d: rebuilt "
                              "(it is a cache of Microsoft's data)"
                              % (self.path, version, SCHEMA_VERSION))

    def _quick_check(self):
        now = time.time()
        row = self.db.execute("SELECT value FROM meta WHERE key = 'quick_check'").fetchone()
        if row and now - float(row[0]) < QUICK_CHECK_SECONDS:
            return
        result = [r[0] for r in self.db.execute("PRAGMA quick_check")]
        if result != ["ok"]:
            raise Damaged("quick_check: %s" % "; ".join(result[:3]))
        self.db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('quick_check', ?)",
                        (repr(now),))

    def quarantine(self, reason, then="rebuilt"):
        """Move the damaged file aside (``<path>.corrupt-<time>``); return a line saying so
        (``then``: what happens next)."""
        self.close()
        aside = statedir.set_aside(self.path, "store", ("", "-wal", "-shm"))
        return ("store %s was damaged (%s): moved to %s and %s; it is a cache of "
                "Microsoft's data, refetched as needed"
                % (self.path, str(reason).split("\n")[0][:120], aside, then))

    def close(self):
        if self.db is not None:
            if self.db.in_transaction:
                self.db.rollback()  # a read snapshot; nothing to keep
            self.db.close()
            self.db = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def add(self, rows):
        """Insert or replace rows (dicts with the keys of ``COLUMNS``) in one transaction."""
        rows = list(rows)
        with self.transaction() as db:
            _insert(db, rows)

    def add_all(self, pages):
        """Insert or replace the rows of every page (lists of rows) in ONE transaction: an
        exception while the pages are produced (a truncated file) stores none of them."""
        with self.transaction() as db:
            for rows in pages:
                _insert(db, rows)

    def add_page(self, rows, parts, start, end, fetched):
        """Store a fetched page and, in the same transaction, the range it completed for
        each of ``parts`` (coverage keys: event types, see ``gaps``)."""
        with self.transaction() as db:
            _insert(db, rows)
            if start < end:
                db.executemany(
                    "INSERT INTO coverage (part, start, end, fetched) VALUES (?, ?, ?, ?)",
                    [(part, timeutil.to_store(start), timeutil.to_store(end),
                      timeutil.to_store(fetched)) for part in parts])

    def retract(self, claims, parts):
        """Withdraw coverage rows added by ``add_page`` ((start, end, fetched) each)."""
        with self.transaction() as db:
            db.executemany(
                "DELETE FROM coverage WHERE part = ? AND start = ? AND end = ? AND "
                "fetched = ?", [(part, timeutil.to_store(a), timeutil.to_store(b),
                                 timeutil.to_store(f)) for a, b, f in claims for part in parts])

    def gaps(self, window, delay, parts=None):
        """Time ranges of the window not yet fetched completely, after they had settled,
        for every one of ``parts`` (default: the window's event types).

        A range fetched at time F holds everything of [start, min(end, F - delay)): sign-ins
        reach the source up to ``delay`` late, so what was younger than that may be
        incomplete. Returns sorted, disjoint (start, end) datetime pairs.
        """
        missing = []
        for part in (window.event_types if parts is None else parts):
            with self.lock:
                covered = _settled(self.db, delay, "part = ? AND end > ? AND start < ?",
                                   (part, window.start_key, window.end_key))
            missing.extend(_subtract((window.start, window.end), covered))
        return _union(missing)

    def count_hours(self, until, delay, keys, days=None, most=baseline.HOURS_PER_RUN):
        """Count the complete hours before ``until`` into the baselines (see ``baseline``),
        at most ``most`` of them (None: all), if a threats check asked for them; ``days``:
        its --baseline-days. ``keys``: event type -> the coverage keys that must all cover
        an hour (a source's ``coverage_by_type``)."""
        with self.transaction() as db:
            if days:
                baseline.remember_days(db, days)
            days = baseline.wanted_days(db)
            if days is None:
                return
            covered = {}
            for event_type, parts in keys.items():
                spans = None
                for part in parts:
                    mine = _union(_settled(db, delay, "part = ?", (part,)))
                    spans = mine if spans is None else _intersect(spans, mine)
                if spans:
                    covered[event_type] = spans
            baseline.roll_up(db, covered, until, most)
            baseline.forget(db, days)

    def prune(self, before, most=PRUNE_ROWS):
        """Forget sign-ins older than ``before`` (retention), at most about ``most`` of the
        oldest, and in the same transaction the coverage of that time: a range that
        straddles the cut keeps only its later part, so the pruned part is fetched again if
        a window asks for it."""
        key = timeutil.to_store(before)
        with self.transaction() as db:
            # Along the time index: finding the cut costs ``most`` index steps at most.
            row = db.execute("SELECT created FROM signins WHERE created < ? ORDER BY created "
                             "LIMIT 1 OFFSET ?", (key, most)).fetchone()
            if row is not None:
                key = row[0]  # more than ``most`` to go: the oldest now, the rest later
            db.execute("DELETE FROM signins WHERE created < ?", (key,))
            db.execute("DELETE FROM coverage WHERE end <= ?", (key,))
            db.execute("UPDATE coverage SET start = ? WHERE start < ?", (key, key))

    def snapshot(self):
        """Start a read transaction: every query until ``close()`` sees the same rows, so
        the coverage that makes a window complete and the pass over its rows agree even
        while another check writes."""
        with self.lock:
            self.db.execute("BEGIN")
            self.db.execute("SELECT COUNT(*) FROM coverage").fetchone()

    def transaction(self):
        return _Transaction(self)

    def query(self, sql, params=()):
        with self.lock:
            return self.db.execute(sql, params).fetchall()

    def rows(self, sql, params=()):
        """The rows of a query one by one, not all in memory at once."""
        with self.lock:
            yield from self.db.execute(sql, params)


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


def _insert(db, rows):
    try:
        db.executemany(_INSERT, map(_VALUES, rows))
    except UnicodeEncodeError:
        # A lone surrogate ("\ud800" is valid JSON) cannot be stored as UTF-8: replace it
        # rather than fail every run while the record is in the window. Rare, so the
        # common path pays nothing for it.
        db.executemany(_INSERT, ([_bindable(row[c]) for c in COLUMNS] for row in rows))


def _bindable(value):
    if isinstance(value, str):
        return value.encode("utf-8", "replace").decode("utf-8")
    return value


def _settled(db, delay, condition, params):
    """The coverage rows matching ``condition`` as (start, settled end): a range fetched
    at F holds everything up to F - delay."""
    return [(timeutil.from_store(start),
             min(timeutil.from_store(end), timeutil.from_store(fetched) - delay))
            for start, end, fetched in db.execute(
                "SELECT start, end, fetched FROM coverage WHERE " + condition, params)]


def _union(intervals):
    merged = []
    for start, end in sorted(i for i in intervals if i[0] < i[1]):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _intersect(first, second):
    """The spans that two sorted, disjoint lists of spans have in common."""
    common = []
    for a_start, a_end in first:
        for b_start, b_end in second:
            start, end = max(a_start, b_start), min(a_end, b_end)
            if start < end:
                common.append((start, end))
    return _union(common)


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
