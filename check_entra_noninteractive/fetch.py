"""Fill the gaps of a window from Graph: several page chains at once, progress kept per page.

The query asks Graph for newest first (and each page is checked for it). After a range's
first page, everything newer than that page's oldest second is complete, and the page gives
the density of sign-ins. The rest of the range is then planned in whole pages: the first
chain keeps following its own nextLink for the newest share, and the older shares go to new
queries fetched concurrently, so the shared request budget, not one page's latency, sets
the pace. When the density holds, a window of N sign-ins costs ceil(N / page size) requests,
or one more when N leaves too little room on its last page (see ``split_shares``).
"""

import fcntl
import math
import os
import threading
import time
from collections import deque
from datetime import timedelta

from nagiosplugin import CheckError

from . import statedir, timeutil
from .pacing import OutOfTime

SECOND = timedelta(seconds=1)


class Fetcher:
    def __init__(self, store, source, event_types, workers=4, progress=None):
        self.store = store
        self.source = source          # sources.graph.GraphSource
        self.event_types = tuple(event_types)
        self.workers = workers
        self.progress = progress      # callable(text) or None
        self.total_seconds = 0.0
        self.done_seconds = 0.0
        self.pages = 0
        self.estimated_pages = 0.0
        self._cond = threading.Condition()
        self._tasks = deque()
        self._active = 0
        self._failure = None

    def run(self, gaps):
        """Fetch every gap completely, or raise CheckError saying how far it got."""
        self.total_seconds = sum((end - start).total_seconds() for start, end in gaps)
        self._tasks.extend((start, end, None, True) for start, end in gaps)
        self.estimated_pages = float(len(gaps))
        threads = [threading.Thread(target=self._work, daemon=True)
                   for _ in range(self.workers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if self._failure is not None:
            if isinstance(self._failure, OutOfTime):
                raise CheckError(self._timeout_message(self._failure))
            raise self._failure

    def _timeout_message(self, stop):
        done = 100.0 * self.done_seconds / self.total_seconds if self.total_seconds else 0
        pages = "%d of about %d pages" % (self.pages, max(self.pages + 1,
                                                          math.ceil(self.estimated_pages)))
        if stop.throttled:
            return ("still throttled by Microsoft Graph at the timeout (%s, retry in %d s); "
                    "window %d%% fetched (%s); the next run continues"
                    % (stop, math.ceil(stop.wait), done, pages))
        return ("timeout: window %d%% fetched (%s); the next run continues (a longer -t "
                "helps a first run or a backfill)" % (done, pages))

    def _work(self):
        while True:
            with self._cond:
                while not self._tasks and self._active and self._failure is None:
                    self._cond.wait()
                if not self._tasks or self._failure is not None:
                    self._cond.notify_all()
                    return
                task = self._tasks.popleft()
                self._active += 1
            try:
                self._chain(*task)
            except (CheckError, OutOfTime) as exc:
                self._fail(exc)
            except Exception as exc:  # a bug in a thread must still end the check
                self._fail(exc)
            finally:
                with self._cond:
                    self._active -= 1
                    self._cond.notify_all()

    def _fail(self, exc):
        with self._cond:
            if self._failure is None or isinstance(self._failure, OutOfTime):
                self._failure = exc
            self._cond.notify_all()

    def _chain(self, start, end, url, splittable):
        """Follow one range's pages; record after each page the part that is complete.

        The query asks for newest first, and each page is checked against that order: a
        page may claim "everything from its oldest second on is here" only while the order
        holds. Once a page breaks it, the chain's claims so far are withdrawn and the range
        is claimed only when its last page has come.

        A chain that split goes on with its own nextLink, whose query reaches further back
        than the share it kept: it ends at the first page older than that share, which
        proves the share complete.
        """
        url = url or self.source.first_url(start, end, self.event_types)
        complete_from = end
        claims, ordered, seen = [], True, set()
        while complete_from > start:
            if self._failure is not None:
                return
            if url in seen:
                raise CheckError("Microsoft Graph sent a nextLink it had sent before (a paging "
                                 "loop); the window is not reported")
            seen.add(url)
            asked = timeutil.utcnow()
            rows, url = self.source.page(url)
            if ordered and not newest_first(rows, complete_from):
                ordered = False
                self.store.retract(claims, self.event_types)
                claims, complete_from = [], end
            if url is None:
                cut = start
            elif not rows or not ordered:
                cut = complete_from  # nothing proven yet
            else:
                oldest = timeutil.from_store(rows[-1]["created"])
                cut = max(start, min(complete_from, oldest.replace(microsecond=0) + SECOND))
            self.store.add_page(rows, self.event_types, cut, complete_from, asked)
            if cut < complete_from:
                claims.append((cut, complete_from, asked))
            self._advance(rows, (complete_from - cut).total_seconds(), start, cut, end)
            complete_from = cut
            if splittable and ordered and cut > start:
                start = self._split(start, cut, end, rows)
            splittable = False

    def _split(self, start, cut, end, rows):
        """After a gap's first page: hand the older shares of the rest to new chains.

        Returns the lower bound of the share this chain keeps (``start`` if it keeps all):
        following its own nextLink costs no request for the sign-ins of the page's oldest
        second, which a new query would fetch again.
        """
        cut_key = timeutil.to_store(cut)
        tied = sum(1 for row in rows if row["created"] < cut_key)  # the oldest second
        if tied == len(rows):  # one second fills the page: no density to plan with
            return start
        per_second = (len(rows) - tied) / (end - cut).total_seconds()  # all of [cut, end)
        pages = (per_second * (cut - start).total_seconds() - tied) / self.source.page_size
        bounds, below = [], tied  # sign-ins in [bound, cut)
        for share in split_shares(pages, self.workers)[:-1]:
            below += share * self.source.page_size
            # Whole seconds: this chain proves its share complete only down to one.
            bound = (cut - timedelta(seconds=below / per_second)).replace(microsecond=0)
            if start < bound < (bounds[-1] if bounds else cut):
                bounds.append(bound)
        if not bounds:
            return start
        with self._cond:
            self._tasks.extend((lower, upper, None, False)
                               for lower, upper in zip(bounds[1:] + [start], bounds))
            self._cond.notify_all()
        return bounds[0]

    def _advance(self, rows, seconds, start, cut, end):
        with self._cond:
            self.pages += 1
            self.done_seconds += seconds
            if rows and cut > start:
                span = (end - cut).total_seconds() or 1.0
                pages = len(rows) / self.source.page_size
                remaining = pages * (cut - start).total_seconds() / span
                self.estimated_pages = max(self.estimated_pages, self.pages + remaining)
            else:
                self.estimated_pages = max(self.estimated_pages, float(self.pages))
        if self.progress:
            self.progress("fetched %d pages, %d%% of the window" % (
                self.pages, 100.0 * self.done_seconds / (self.total_seconds or 1)))


def newest_first(rows, bound):
    """True when the page's sign-ins run from newest to oldest, all before ``bound``."""
    times = [row["created"] for row in rows]
    return (not times or times[0] < timeutil.to_store(bound)) and \
        all(newer >= older for newer, older in zip(times, times[1:]))


def split_shares(expected_pages, workers, slack=0.15):
    """Pages' worth of the range for each chain, newest first; [expected_pages] for one.

    Each chain ends with a partial page. So every chain but the last gets whole pages less
    ``slack`` (the estimate from one page is not exact, and Graph may answer a full last page
    with a nextLink to an empty one) and costs exactly those pages; the last takes the rest,
    and with it the others' slack. While that slack fits into the room the last page has
    anyway (ceil(E) - E), the split costs no request: as many chains as fit. If not even two
    fit, any split costs one request, and all workers finish soonest. The requests are dealt
    out evenly, so that no chain is left running alone at the end.
    """
    chains = min(workers, math.floor(expected_pages))
    room = math.ceil(expected_pages) - expected_pages
    fitting = math.ceil(room / slack)  # chains whose slack stays below the room
    if fitting >= 2:
        chains = min(chains, fitting)
    if chains < 2:
        return [expected_pages]
    requests = math.ceil(expected_pages + (chains - 1) * slack)
    shares = [requests // chains + (i < requests % chains) - slack for i in range(chains - 1)]
    return shares + [expected_pages - sum(shares)]


def wait_for_lock(path, deadline, poll=0.2):
    """An exclusive flock on ``path`` (one fetch per tenant at a time) or CheckError."""
    statedir.check_file(path, "lock file")
    fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o600)
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except BlockingIOError:
            if time.time() + poll > deadline:
                os.close(fd)
                raise CheckError("another check of this tenant is still fetching its "
                                 "sign-ins; the next run reads what it fetched")
            time.sleep(poll)


def release_lock(fd):
    fcntl.flock(fd, fcntl.LOCK_UN)
    os.close(fd)
