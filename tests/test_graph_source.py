"""One Graph page at a time, with ``responses`` standing in for Graph: retries, waits and
error texts of sources/graph.py without a server; and the Fetcher's split plan against
Graph's paging in process: requests counted, no sign-in lost."""

import bisect
import functools
import math
import random
import threading
import time
from datetime import timedelta

import pytest
import requests
import responses
from hypothesis import given, settings
from hypothesis import strategies as st
from nagiosplugin import CheckError

from check_entra_noninteractive import network, normalize, pacing, timeutil
from check_entra_noninteractive.fetch import Fetcher
from check_entra_noninteractive.sources import graph, rest
from check_entra_noninteractive.sources.graph import PAGE_SIZE as PAGE
from check_entra_noninteractive.store import Store
from check_entra_noninteractive.timeutil import parse_time
from check_entra_noninteractive.window import Window
from conftest import signin

GRAPH = "https://graph.example"
URL = GRAPH + graph.SIGNINS_PATH + "?$top=1000"


class Tokens:
    def __init__(self):
        self.forgotten = []

    def token(self, scope):
        assert scope == GRAPH + "/.default"
        return "access-token-123456789"

    def refused(self, token):
        # What auth.TokenProvider.refused promises: forget it; True the first time only.
        self.forgotten.append(token)
        return len(self.forgotten) == 1


@pytest.fixture
def source(tmp_path, monkeypatch):
    slept = []
    monkeypatch.setattr(rest.time, "sleep", slept.append)
    http = network.HttpSettings(timeout=5)
    store = Store(str(tmp_path / "s.sqlite"))
    paced = []  # the budget's own waits, on a clock of their own
    pacer = pacing.Pacer(store, "app", clock=lambda: 1000.0 + sum(paced), sleep=paced.append)
    made = graph.GraphSource(GRAPH, Tokens(), http, http.session(), pacer,
                             deadline=time.time() + 60)
    made.slept, made.paced = slept, paced
    yield made
    store.close()


def page(*records, next_link=None):
    body = {"value": list(records)}
    if next_link:
        body["@odata.nextLink"] = next_link
    return body


@responses.activate
def test_a_page_and_its_next_link(source):
    responses.add(responses.GET, URL, json=page(signin("a", 1), signin("b", 2, False),
                                                next_link=URL + "&x"))
    rows, next_url = source.page(URL)
    assert [r["id"] for r in rows] == ["a", "b"]
    assert next_url == URL + "&x"
    sent = responses.calls[0].request
    assert sent.headers["Authorization"] == "Bearer access-token-123456789"
    assert sent.headers["Prefer"] == "include-unknown-enum-members"


@responses.activate
def test_read_timeout_and_server_errors_are_retried_with_retry_after(source):
    responses.add(responses.GET, URL, body=requests.exceptions.ReadTimeout("read timed out"))
    responses.add(responses.GET, URL, status=503, headers={"Retry-After": "7"},
                  json={"error": {"code": "ServiceUnavailable"}})
    responses.add(responses.GET, URL, body='{"value": [{"id": "a", "createdDa')  # cut off mid-JSON
    responses.add(responses.GET, URL, json=page(signin("a", 1)))
    rows, _ = source.page(URL)
    assert [r["id"] for r in rows] == ["a"]
    assert len(responses.calls) == 4
    assert source.slept[1] == 7  # Retry-After honoured
    assert 0.75 <= source.slept[0] <= 1.25 and 3 <= source.slept[2] <= 5  # backoff, jitter


@responses.activate
def test_throttling_blocks_the_shared_budget(source):
    responses.add(responses.GET, URL, status=429, headers={"Retry-After": "2"},
                  json={"error": {"code": "TooManyRequests"}})
    responses.add(responses.GET, URL, json=page())
    assert source.page(URL) == ([], None)
    assert source.slept == []  # not a blind sleep: the budget itself is blocked ...
    assert sum(source.paced) == pytest.approx(2)  # ... until Retry-After has passed


@responses.activate
def test_failing_for_good_says_so(source):
    for _ in range(6):
        responses.add(responses.GET, URL, status=502, json={"error": {"code": "BadGateway"}})
    with pytest.raises(CheckError, match="Microsoft Graph kept failing after 6 attempts: "
                                         "HTTP 502 BadGateway"):
        source.page(URL)


@responses.activate
def test_retries_stop_at_the_deadline(source):
    source.deadline = time.time() + 3
    responses.add(responses.GET, URL, status=503, headers={"Retry-After": "30"}, json={})
    with pytest.raises(pacing.OutOfTime) as stop:
        source.page(URL)
    assert not stop.value.throttled and stop.value.wait == 30


@pytest.mark.parametrize("status, code, message", [
    (403, "Authentication_RequestFromNonPremiumTenantOrB2CTenant", graph.LICENCE_HELP),
    (403, "Authorization_RequestDenied", graph.PERMISSION_HELP),
    (400, "BadRequest", "Microsoft Graph answered HTTP 400 BadRequest: Invalid filter clause"),
])
@responses.activate
def test_refusals(source, status, code, message):
    responses.add(responses.GET, URL, status=status, json={"error": {"code": code,
                                                      "message": "Invalid filter clause"}})
    with pytest.raises(CheckError) as error:
        source.page(URL)
    assert str(error.value) == message


EXPIRED = {"error": {"code": "InvalidAuthenticationToken",
                     "message": "Access token has expired."}}


@responses.activate
def test_401_mid_run_gets_a_new_token_and_goes_on(source):
    responses.add(responses.GET, URL, status=401, json=EXPIRED)
    responses.add(responses.GET, URL, json={"value": [signin("a", 1)]})
    rows, next_url = source.page(URL)
    assert [r["id"] for r in rows] == ["a"] and next_url is None
    assert source.tokens.forgotten == ["access-token-123456789"]
    assert len(responses.calls) == 2


@responses.activate
def test_a_second_401_is_unknown(source):
    responses.add(responses.GET, URL, status=401, json=EXPIRED)
    responses.add(responses.GET, URL, status=401, json=EXPIRED)
    with pytest.raises(CheckError, match=r"refused the token \(401 InvalidAuthentication"
                                         r"Token\): Access token has expired."):
        source.page(URL)
    assert source.tokens.forgotten == ["access-token-123456789"] * 2


@responses.activate
def test_an_answer_without_value_is_not_a_sign_in_page(source):
    responses.add(responses.GET, URL, json={"error": None, "items": []})
    with pytest.raises(CheckError, match="without a 'value' list: is --graph-url right"):
        source.page(URL)


def test_filter_names_the_window_and_every_event_type():
    text = graph.signins_filter(parse_time("2026-11-20T08:00:00Z"),
                                parse_time("2026-11-20T08:05:00.250Z"),
                                ("nonInteractiveUser", "servicePrincipal"))
    assert text == ("createdDateTime ge 2026-11-20T08:00:00Z and createdDateTime lt "
                    "2026-11-20T08:05:00.250000Z and signInEventTypes/any(t: t eq "
                    "'nonInteractiveUser' or t eq 'servicePrincipal')")


def test_an_empty_page_with_a_next_link_claims_no_coverage(tmp_path):
    """Graph may page with an empty 'value' and a next link: nothing is complete yet."""
    class Pages:
        def __init__(self):
            self.answers = [([], "next-1"), ([], None)]
            self.page_size = PAGE
            self.seen = []

        def first_url(self, start, end, event_types):
            return "first"

        def page(self, url):
            self.seen.append(url)
            rows, next_url = self.answers.pop(0)
            if url == "next-1":
                assert coverage(store) == []  # the empty page recorded nothing
            return rows, next_url

    def coverage(opened):
        return opened.query("SELECT start, end FROM coverage")

    store = Store(str(tmp_path / "s.sqlite"))
    pages = Pages()
    start, end = parse_time("2026-11-20T08:00:00Z"), parse_time("2026-11-20T08:05:00Z")
    Fetcher(store, pages, ("nonInteractiveUser",), workers=2).run([(start, end)])
    assert pages.seen == ["first", "next-1"]
    assert coverage(store) == [("2026-11-20T08:00:00.000000Z", "2026-11-20T08:05:00.000000Z")]
    store.close()


# -- the split plan, against Graph's paging in process ------------------------------------

T0 = parse_time("2026-11-20T08:00:00Z")
TYPES = ("nonInteractiveUser",)


class Paging:
    """Graph's paging over fixed sign-ins: newest first, PAGE a page, a nextLink while more
    remain; with ``empty_tail`` also after an exactly full last page (Graph may); the
    queries numbered in ``shuffled`` send the pages after their first in any order."""

    page_size = PAGE

    def __init__(self, rows, empty_tail=False, shuffled=()):
        self.rows = rows  # oldest first, each {"id", "created", ...}
        self.created = [row["created"] for row in rows]
        self.empty_tail = empty_tail
        self.shuffled = shuffled
        self.queries = 0
        self.requests = 0
        self.lock = threading.Lock()

    def first_url(self, start, end, event_types):
        with self.lock:
            self.queries += 1
            return "%s %s %d 0" % (timeutil.to_store(start), timeutil.to_store(end),
                                   self.queries)

    def page(self, url):
        with self.lock:
            self.requests += 1
        low, high, query, offset = url.split()
        oldest, newest = (bisect.bisect_left(self.created, key) for key in (low, high))
        offset, count = int(offset), newest - oldest
        if int(query) in self.shuffled:
            matched = self.rows[oldest:newest][::-1]
            rest = matched[PAGE:]
            random.Random(query).shuffle(rest)
            rows = (matched[:PAGE] + rest)[offset:offset + PAGE]
        else:
            rows = self.rows[max(oldest, newest - offset - PAGE):newest - offset][::-1]
        more = offset + PAGE < count or (self.empty_tail and 0 < offset + PAGE == count)
        return rows, "%s %s %s %d" % (low, high, query, offset + PAGE) if more else None


class Kept:
    """What a Fetcher asks of the store: sign-ins by id, coverage claims."""

    def __init__(self):
        self.ids, self.claims = set(), []
        self.lock = threading.Lock()

    def add_page(self, rows, parts, start, end, fetched):
        with self.lock:
            self.ids.update(row["id"] for row in rows)
            if start < end:
                self.claims.append((start, end, fetched))

    def retract(self, claims, parts):
        with self.lock:
            for claim in claims:
                self.claims.remove(claim)

    def covered(self):
        merged = []
        for start, end, _ in sorted(self.claims):
            if merged and start <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(merged[-1][1], end))
            else:
                merged.append((start, end))
        return merged


# Densities the first page gets right, as (period in seconds, sign-ins' offsets in it):
# uniform, several in the same second (ties), sparse, bursty, clustered within the second.
PATTERNS = {
    "4/s, own instants": (1, (0.125, 0.375, 0.625, 0.875)),
    "3/s, same second": (1, (0, 0, 0)),
    "1 per 7 s": (7, (3,)),
    "9 at once every 3 s": (3, (2,) * 9),
    "5/s, clustered": (1, (0.0, 0.01, 0.02, 0.5, 0.9)),
}
MOST = 60 * PAGE + 10


@functools.lru_cache(maxsize=None)
def pattern_rows(name):
    period, offsets = PATTERNS[name]
    return [{"id": "s%d" % i, "created": timeutil.to_store(
        T0 + timedelta(seconds=i // len(offsets) * period + offsets[i % len(offsets)]))}
        for i in range(MOST)]


def fetch_pattern(name, wanted):
    """Fetch the first ``wanted`` sign-ins of a pattern, rounded up to whole periods (so
    the window's density is the pattern's), with Graph answering an exactly full last page
    with a nextLink to an empty page (it may; the fake of tests/fake_microsoft/ does not,
    which can only take fewer requests); (sign-ins, Graph requests)."""
    period, offsets = PATTERNS[name]
    count = wanted + -wanted % len(offsets)
    source = Paging(pattern_rows(name)[:count], empty_tail=True)
    kept = Kept()
    end = T0 + timedelta(seconds=count // len(offsets) * period)
    Fetcher(kept, source, TYPES, workers=4).run([(T0, end)])
    assert len(kept.ids) == count and kept.covered() == [(T0, end)]
    return count, source.requests


def table(name, pages, remainders):
    """[(sign-ins, requests, minimum)] for each number of pages and remainder."""
    rows = []
    for page_count in pages:
        for remainder in remainders:
            count, requests = fetch_pattern(
                name, (page_count - 1) * PAGE + remainder if remainder else page_count * PAGE)
            rows.append((count, requests, math.ceil(count / PAGE)))
    return rows


FREE = (1, 400, 600, 800)  # room on the last page for the slack of 4, 4, 3 and 2 chains


def test_split_costs_no_request_when_the_density_holds():
    """2 to 60 pages of uniform sign-ins: exactly ceil(N/1000) requests."""
    rows = table("4/s, own instants", range(2, 61), FREE)
    assert [row for row in rows if row[1] != row[2]] == []


@pytest.mark.parametrize("name", [name for name in PATTERNS if name != "4/s, own instants"])
def test_split_costs_no_request_for_ties_sparse_and_bursty_sign_ins(name):
    rows = table(name, (2, 3, 5, 9, 17, 30, 31, 60), FREE)
    assert [row for row in rows if row[1] != row[2]] == []


@pytest.mark.parametrize("name", ["4/s, own instants", "9 at once every 3 s"])
def test_a_split_without_room_on_the_last_page_costs_one_request(name):
    """N a whole number of pages (or nearly): a chain that goes on must see a sign-in past
    its share to prove it complete, and a new query would fetch the first page's oldest
    second again, so any split fetches more than N sign-ins; 900 leaves less room than one
    chain's slack."""
    rows = table(name, (2, 3, 4, 5, 9, 30, 60), (0, 900))
    assert [row for row in rows if not row[2] <= row[1] <= row[2] + 1] == []
    if name == "4/s, own instants":
        assert (30 * PAGE, 31, 30) in rows  # the benchmark's window: 30 pages, 31 requests


def records_at(seconds):
    return [{"id": "r%d" % i, "created": timeutil.to_store(T0 + timedelta(seconds=second))}
            for i, second in enumerate(sorted(seconds))]


@st.composite
def windows(draw):
    """Sign-ins in stretches of random density (the first page's estimate is off), whole
    seconds or not, in a gap with fractional ends."""
    seconds, at = [], 0.0
    for _ in range(draw(st.integers(1, 6))):
        length = draw(st.integers(1, 4000))
        count = draw(st.integers(0, 4000))
        whole = draw(st.booleans())
        rng = random.Random(draw(st.integers(0, 2 ** 32)))
        seconds += [at + (rng.randrange(length) if whole else rng.uniform(0, length))
                    for _ in range(count)]
        at += length
    return seconds, draw(st.floats(0, 0.999)), at + draw(st.floats(0, 0.999))


@settings(max_examples=40, deadline=None)
@given(window=windows(), workers=st.integers(1, 4), empty_tail=st.booleans(),
       shuffled=st.sets(st.integers(1, 5), max_size=2))
def test_a_split_fetch_never_loses_a_sign_in(window, workers, empty_tail, shuffled):
    seconds, before, end = window
    source = Paging(records_at(seconds), empty_tail, shuffled)
    kept = Kept()
    start, end = T0 - timedelta(seconds=before), T0 + timedelta(seconds=end)
    Fetcher(kept, source, TYPES, workers).run([(start, end)])
    assert len(kept.ids) == len(seconds)
    assert kept.covered() == [(start, end)]
    if not shuffled:  # each chain wastes at most a page, and one more for an empty tail
        assert source.requests <= max(1, math.ceil(len(seconds) / PAGE)) + workers * (
            1 + empty_tail)


def test_a_split_window_is_stored_whole(tmp_path):
    """The real store: every sign-in of a 6.5-page window kept, no gap left."""
    rows = [normalize.from_graph(signin(row["id"], 0, createdDateTime=row["created"]))
            for row in pattern_rows("3/s, same second")[:6501]]
    source = Paging(rows)
    end = T0 + timedelta(seconds=2167)
    with Store(str(tmp_path / "s.sqlite")) as store:
        Fetcher(store, source, TYPES, workers=4).run([(T0, end)])
        assert store.gaps(Window(T0, end, TYPES), timedelta(0)) == []
        assert store.query("SELECT COUNT(*) FROM signins") == [(6501,)]
    assert source.requests == 7
