"""From a source to a store that holds a complete window.

A source's ``collect`` returns a ``Collection`` (store, window, what was read) or raises
CheckError. The file source reads into a private temporary store for this run; the online
sources (Graph, Log Analytics) keep a per-tenant store under the state directory and
fill it through ``collect_online``, which owns the window rules, the store's recovery and
the fetch lock.
"""

import os
import sqlite3
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Callable, List, Optional, Tuple

from nagiosplugin import CheckError

from . import statedir, timeutil
from .lastwindow import LastWindow
from .store import Store, is_damage
from .window import DEFAULT_EVENT_TYPES, Window, live


@dataclass
class Collection:
    store: Store
    window: Window
    source: str  # for people: "file sample.json", "Microsoft Graph, tenant ..."
    notes: List[str] = field(default_factory=list)  # long output: recoveries, skipped spans
    last_window: Optional[LastWindow] = None  # where a live run remembers its window

    def reported(self):
        """The window was reported: the next live run of this check starts from its end."""
        if self.last_window is not None:
            self.last_window.remember(self.window)

    def close(self):
        self.store.close()


def check_window(start, end):
    if start and end and start >= end:
        raise CheckError("--start %s is not before --end %s"
                         % (timeutil.display(start), timeutil.display(end)))


@dataclass
class Run:
    """What the command line tells every source about this run."""

    check_key: Optional[Tuple[str, str]] = None  # (check, option hash): remembers windows
    deadline: float = 0.0         # time.time() by which the collection must be done
    progress: Optional[Callable[[str], None]] = None  # a terminal's progress line
    baseline_days: Optional[int] = None  # the threats check: count the hours before windows


@dataclass
class OnlineOptions:
    """What a collection from an online source (Graph, Log Analytics) needs from the
    command line."""

    tenant: str
    state_dir: str
    window: timedelta
    delay: timedelta
    retention: timedelta
    max_catchup: timedelta
    start: Optional[datetime] = None
    end: Optional[datetime] = None
    event_types: Tuple[str, ...] = DEFAULT_EVENT_TYPES
    deadline: float = 0.0         # time.time() by which the collection must be done
    progress: Optional[Callable[[str], None]] = None
    check_key: Optional[Tuple[str, str]] = None  # (check, option hash): remembers windows
    baseline_days: Optional[int] = None  # a threats check: count the hours before the window

    @classmethod
    def from_args(cls, args, run):
        return cls(tenant=args.tenant_id, state_dir=args.state_dir, window=args.window,
                   delay=args.delay, retention=args.retention, max_catchup=args.max_catchup,
                   start=args.start, end=args.end,
                   event_types=tuple(args.event_types or DEFAULT_EVENT_TYPES),
                   deadline=run.deadline, progress=run.progress, check_key=run.check_key,
                   baseline_days=run.baseline_days)

    @property
    def directory(self):
        return os.path.join(self.state_dir, self.tenant)


class OnlineSource:
    """What an online source gives the collector: where its store lives, how far back it
    reaches, and how it fills the gaps of a window. Subclasses fill in the rest."""

    store_name = "source.sqlite"  # under the tenant directory
    description = ""              # for people: "Microsoft Graph, tenant ..."
    keeps = timedelta(days=30)    # sign-ins older than this are gone at the source
    keeps_text = ""               # why, for the refusal of an older explicit window

    def __init__(self, connection):
        self.connection = connection  # sources.entra.Connection
        self._notes = []

    @property
    def notes(self):
        """Lines for the long output: recoveries, workspaces without the tables, ..."""
        return self._notes + self.connection.notes

    def prepare(self, event_types):
        """Learn what the source needs to know before the window is chosen (e.g. how far
        back it reaches); may raise CheckError."""

    def coverage_by_type(self, window):
        """Event type -> the coverage keys that make it complete, one per part fetched on
        its own."""
        return {event_type: [event_type] for event_type in window.event_types}

    def coverage_keys(self, window):
        """The coverage the window needs."""
        return [key for keys in self.coverage_by_type(window).values() for key in keys]

    def fill(self, store, window, delay, keys):
        """Fetch what the store lacks of the window, or raise CheckError."""
        raise NotImplementedError


def explicit_or_live(options, source, now, last_window=None):
    """The reported window: explicit (--start/--end), or live (see window.live)."""
    if options.end or options.start:
        end = options.end or (now - options.delay).replace(second=0, microsecond=0)
        start = options.start or end - options.window
        check_window(start, end)
        if end > now - options.delay:
            raise CheckError(
                "the window ends at %s, later than now - --delay (%s): Entra's logs for it "
                "are complete from %s on; run again then, or give an earlier --end"
                % (timeutil.display(end), timeutil.display(now - options.delay),
                   timeutil.display(end + options.delay)))
        if start < now - source.keeps:
            raise CheckError("the window starts at %s, more than %d days ago: %s"
                             % (timeutil.display(start), source.keeps.days, source.keeps_text))
        return Window(start, end, tuple(options.event_types))
    last = last_window.read() if last_window is not None else None
    return live(now, options.window, options.delay, options.max_catchup, last,
                options.event_types)


def collect_online(options, source, now=None):
    """Make the store hold the window completely (fetching only what it lacks), or raise.

    The returned collection holds a read snapshot of the store: its measures and DD agree.
    """
    now = now or timeutil.utcnow()
    statedir.ensure_dir(options.state_dir, follow=True)
    statedir.ensure_dir(options.directory, "tenant directory")
    last_window = None
    if options.check_key and not (options.start or options.end):
        last_window = LastWindow(os.path.join(options.directory, "windows"),
                                 *options.check_key)
    source.prepare(options.event_types)
    window = explicit_or_live(options, source, now, last_window)
    path = os.path.join(options.directory, source.store_name)
    notes = []
    try:
        store, missing = _filled_store(path, window, options, source, now, notes)
    finally:
        notes.extend(source.notes)
    if missing:
        store.close()
        raise CheckError("the window %s is not complete in the store (%s missing); the "
                         "next run fetches it" % (window.describe(), _describe_spans(missing)))
    if window.skipped:
        notes.append("not reported: %s to %s, longer ago than --max-catchup allows; this "
                     "run reports the last --window"
                     % (timeutil.display(window.skipped[0]), timeutil.display(window.skipped[1])))
    return Collection(store, window, source.description, notes, last_window)


def _filled_store(path, window, options, source, now, notes):
    """(store, parts of the window it still lacks), read in a snapshot. Damage that opening
    the store did not find, met while filling it, sets it aside; the rebuilt store is
    filled once more."""
    keys = source.coverage_keys(window)
    for last_try in (False, True):
        store = Store(path)
        notes.extend(store.notes)
        try:
            _fill(store, window, options, source, keys, now)
            if options.baseline_days:
                store.count_hours(window.start, options.delay,
                                  source.coverage_by_type(window), options.baseline_days)
            store.snapshot()
            return store, store.gaps(window, options.delay, keys)
        except sqlite3.DatabaseError as exc:
            if last_try or not is_damage(exc):
                store.close()
                raise CheckError(statedir.storage_problem(path, exc, "store"))
            notes.append(store.quarantine(exc))
        except BaseException:
            store.close()
            raise
    raise AssertionError("unreachable")


def _describe_spans(spans):
    return ", ".join("%s to %s" % (timeutil.display(a), timeutil.display(b))
                     for a, b in spans[:3]) + (" ..." if len(spans) > 3 else "")


def _fill(store, window, options, source, keys, now):
    if not store.gaps(window, options.delay, keys):
        return
    from . import fetch

    lock = fetch.wait_for_lock(os.path.join(options.directory, "fetch.lock"), options.deadline)
    try:
        # Another check may have fetched the window while this one waited for the lock.
        if not store.gaps(window, options.delay, keys):
            return
        try:
            source.fill(store, window, options.delay, keys)
        finally:
            # Retention never removes what this check is about to report, nor an hour
            # that the baselines have not counted yet.
            cut = min(now - options.retention, window.start)
            store.count_hours(min(cut + timedelta(hours=1), window.start), options.delay,
                              source.coverage_by_type(window))
            store.prune(cut)
    finally:
        fetch.release_lock(lock)
