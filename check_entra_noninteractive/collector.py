"""From a source to a store that holds a complete window.

``collect(options)`` returns a ``Collection`` (store, window, what was read) or raises
CheckError. The file source is read into a private temporary store for this run; the
Graph and Log Analytics sources keep a per-tenant store under the state directory.
"""

import os
import shutil
import tempfile
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Callable, Optional, Tuple

from nagiosplugin import CheckError

from . import timeutil
from .store import Store
from .window import Window, closing


@dataclass
class Collection:
    store: Store
    window: Window
    source: str  # for people: "file sample.json", "Microsoft Graph, tenant ..."

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
    start: Optional[datetime] = None
    end: Optional[datetime] = None
    event_types: Tuple[str, ...] = ("nonInteractiveUser",)
    deadline: float = 0.0         # time.time() by which the collection must be done
    workers: int = 4
    progress: Optional[Callable[[str], None]] = None


def live_window(options, now):
    """The reported window: explicit, or ``--window`` long, ending at now - delay rounded
    down to the minute (Entra's logs arrive minutes late)."""
    end = options.end or (now - options.delay).replace(second=0, microsecond=0)
    start = options.start or end - options.window
    check_window(start, end)
    return Window(start, end, tuple(options.event_types))


def collect_graph(options, now=None):
    """Make the store hold the window completely (fetching only what it lacks), or raise."""
    now = now or timeutil.utcnow()
    window = live_window(options, now)
    directory = os.path.join(options.state_dir, options.tenant)
    store = Store(os.path.join(directory, "graph.sqlite"))
    try:
        if store.gaps(window, options.delay):
            _fill(store, window, options, directory, now)
    except BaseException:
        store.close()
        raise
    return Collection(store, window, "Microsoft Graph, tenant %s" % options.tenant)


def _fill(store, window, options, directory, now):
    from . import fetch

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
            # Retention never removes what this check is about to report.
            store.prune(min(now - options.retention, window.start))
    finally:
        fetch.release_lock(lock)
