"""From a source to a store that holds a complete window.

``collect(options)`` returns a ``Collection`` (store, window, what was read) or raises
CheckError. The file source is read into a private temporary store for this run; the
Graph and Log Analytics sources keep a per-tenant store under the state directory.
"""

import os
import shutil
import sqlite3
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Callable, List, Optional, Tuple

from nagiosplugin import CheckError

from . import statedir, timeutil
from .lastwindow import LastWindow
from .store import Store, is_damage
from .window import DEFAULT_EVENT_TYPES, Window, closing, live


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


class FileCollection(Collection):
    """A store in a temporary directory that disappears with the collection."""

    def __init__(self, store, window, source, directory):
        super().__init__(store, window, source)
        self.directory = directory

    def close(self):
        super().close()
        shutil.rmtree(self.directory, ignore_errors=True)


def collect_file(path, start, end, event_types):
    """Read the file's sign-ins of the window (or all of them) into a temporary store."""
    from .sources import file as file_source

    # mkdtemp makes the directory 0700: the rows are personal data.
    directory = tempfile.mkdtemp(prefix="entra-file-")
    store = Store(os.path.join(directory, "signins.sqlite"))
    try:
        bounded = Window(start or timeutil.parse_time("0001-01-01T00:00:00Z"),
                         end or timeutil.parse_time("9999-12-31T23:59:59Z"),
                         tuple(event_types))
        for page in file_source.read_pages(path, keep=bounded.contains):
            store.add(page)
        if start and end:
            window = bounded
        else:
            # Open ends reach to the file's first or last sign-in, which counts too.
            where, params = bounded.where()
            first, last = store.query(
                "SELECT MIN(created), MAX(created) FROM signins WHERE " + where, params)[0]
            if first is None:
                first = last = start or end or timeutil.utcnow()
            else:
                first, last = timeutil.from_store(first), timeutil.from_store(last)
            if end:
                window = Window(start or first, end, tuple(event_types))
            else:
                window = closing(start or first, max(last, start or first), event_types)
    except BaseException:
        store.close()
        shutil.rmtree(directory, ignore_errors=True)
        raise
    return FileCollection(store, window, file_source.describe(path), directory)


def check_window(start, end):
    if start and end and start >= end:
        raise CheckError("--start %s is not before --end %s"
                         % (timeutil.display(start), timeutil.display(end)))


@dataclass
class GraphOptions:
    """What the Graph collection needs from the command line."""

    tenant: str
    client_id: str
    credential: object            # auth.Credential
    state_dir: str
    authority_host: str
    graph_url: str
    http: object                  # network.HttpSettings
    window: timedelta
    delay: timedelta
    retention: timedelta
    max_catchup: timedelta
    start: Optional[datetime] = None
    end: Optional[datetime] = None
    event_types: Tuple[str, ...] = DEFAULT_EVENT_TYPES
    deadline: float = 0.0         # time.time() by which the collection must be done
    workers: int = 4
    progress: Optional[Callable[[str], None]] = None
    check_key: Optional[Tuple[str, str]] = None  # (check, option hash): remembers windows

    @property
    def directory(self):
        return os.path.join(self.state_dir, self.tenant)


# Microsoft Graph keeps sign-ins for 30 days (7 without P1/P2).
GRAPH_RETENTION = timedelta(days=30)


def graph_window(options, now, last_window=None):
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
        if start < now - GRAPH_RETENTION:
            raise CheckError("the window starts at %s, more than 30 days ago: Microsoft Graph "
                             "keeps sign-ins for 30 days (7 without Entra ID P1/P2)"
                             % timeutil.display(start))
        return Window(start, end, tuple(options.event_types))
    last = last_window.read() if last_window is not None else None
    return live(now, options.window, options.delay, options.max_catchup, last,
                options.event_types)


def collect_graph(options, now=None):
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
    window = graph_window(options, now, last_window)
    path = os.path.join(options.directory, "graph.sqlite")
    notes = []
    store, missing = _filled_store(path, window, options, now, notes)
    if missing:
        store.close()
        raise CheckError("the window %s is not complete in the store (%s missing); the "
                         "next run fetches it" % (window.describe(), _describe_spans(missing)))
    if window.skipped:
        notes.append("not reported: %s to %s, longer ago than --max-catchup allows; this "
                     "run reports the last --window"
                     % (timeutil.display(window.skipped[0]), timeutil.display(window.skipped[1])))
    return Collection(store, window, "Microsoft Graph, tenant %s" % options.tenant, notes,
                      last_window)


def _filled_store(path, window, options, now, notes):
    """(store, parts of the window it still lacks), read in a snapshot. Damage that opening
    the store did not find, met while filling it, sets it aside; the rebuilt store is
    filled once more."""
    for last_try in (False, True):
        store = Store(path)
        notes.extend(store.notes)
        try:
            _fill(store, window, options, now, notes)
            store.snapshot()
            return store, store.gaps(window, options.delay)
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


def _fill(store, window, options, now, notes):
    if not store.gaps(window, options.delay):
        return
    from . import fetch

    directory = options.directory
    lock = fetch.wait_for_lock(os.path.join(directory, "fetch.lock"), options.deadline)
    try:
        # Another check may have fetched the window while this one waited for the lock.
        gaps = store.gaps(window, options.delay)
        if not gaps:
            return
        from .auth import TokenProvider
        from .pacing import Pacer
        from .sources.graph import GraphSource

        session = options.http.session()
        tokens = TokenProvider(options.authority_host, options.tenant, options.client_id,
                               options.credential,
                               os.path.join(directory, "token-cache-%s.json" % options.client_id),
                               options.http, session)
        source = GraphSource(options.graph_url, tokens, options.http, session,
                             Pacer(store, options.client_id), options.deadline)
        fetcher = fetch.Fetcher(store, source, window.event_types, options.workers,
                                options.progress)
        try:
            fetcher.run(gaps)
        finally:
            notes.extend(tokens.notes)
            # Retention never removes what this check is about to report.
            store.prune(min(now - options.retention, window.start))
    finally:
        fetch.release_lock(lock)
