"""The store's table of sign-ins and its coverage (what is fetched and settled), the shared
request budget, and the secret scrubber."""

import sqlite3
import threading
from datetime import timedelta

import pytest

from check_entra_noninteractive import pacing, redact
from check_entra_noninteractive.fetch import split_shares
from check_entra_noninteractive.store import SCHEMA_VERSION, Store
from check_entra_noninteractive.timeutil import parse_time
from check_entra_noninteractive.window import Window

T = parse_time("2026-11-20T08:00:00Z")
MIN = timedelta(minutes=1)
DELAY = timedelta(minutes=10)


def window(start_min, end_min, types=("nonInteractiveUser",)):
    return Window(T + start_min * MIN, T + end_min * MIN, types)


def mins(gaps):
    return [((a - T) / MIN, (b - T) / MIN) for a, b in gaps]


@pytest.fixture
def store(tmp_path):
    with Store(str(tmp_path / "s.sqlite")) as opened:
        yield opened


def cover(store, start_min, end_min, fetched_min, types=("nonInteractiveUser",)):
    store.add_page([], types, T + start_min * MIN, T + end_min * MIN, T + fetched_min * MIN)


def test_nothing_fetched_is_one_gap(store):
    assert mins(store.gaps(window(0, 5), DELAY)) == [(0, 5)]


def test_settled_coverage_closes_the_window(store):
    cover(store, 0, 5, 15)
    assert store.gaps(window(0, 5), DELAY) == []


def test_coverage_fetched_too_young_is_fetched_again(store):
    # Fetched at minute 12 with a 10-minute delay: only what was before minute 2 had settled.
    cover(store, 0, 5, 12)
    assert mins(store.gaps(window(0, 5), DELAY)) == [(2, 5)]
    cover(store, 2, 5, 20)
    assert store.gaps(window(0, 5), DELAY) == []


def test_partial_and_overlapping_coverage(store):
    cover(store, 0, 2, 60)
    cover(store, 1, 3, 60)
    cover(store, 4, 6, 60)
    assert mins(store.gaps(window(0, 10), DELAY)) == [(3, 4), (6, 10)]


def test_every_event_type_must_be_covered(store):
    cover(store, 0, 10, 60, types=("nonInteractiveUser",))
    cover(store, 0, 4, 60, types=("servicePrincipal",))
    both = window(0, 10, ("nonInteractiveUser", "servicePrincipal"))
    assert mins(store.gaps(both, DELAY)) == [(4, 10)]


# The signins table as SCHEMA_VERSION 4 made it, written out: (name, type, not null,
# primary key) per column, in order. SCHEMA is built from normalize's columns, so a change
# there must show up here, and with it a new SCHEMA_VERSION.
SIGNINS_V4 = [("id", "TEXT", 0, 1), ("created", "TEXT", 1, 0),
              ("event_mask", "INTEGER", 1, 0), ("success", "INTEGER", 1, 0),
              ("error_code", "INTEGER", 1, 0)] + [
    (name, "TEXT", 1, 0) for name in (
        "error_text", "failure_reason", "ip", "city", "state", "country",
        "app_id", "app_name", "resource_id", "resource_name",
        "user_id", "user_upn", "user_name", "sp_id", "sp_name",
        "client_app", "auth_requirement", "ca_status", "ca_policies",
        "risk_level", "risk_state", "risk_events",
        "protocol", "incoming_token_type", "client_credential_type", "user_agent")]


def test_signins_table_is_the_schema_version_4_table_in_version_5(tmp_path):
    """Version 5 added the baselines' tables; the signins table is the same."""
    path = str(tmp_path / "s.sqlite")
    with Store(path):
        pass
    db = sqlite3.connect(path)
    try:
        columns = db.execute("PRAGMA table_info(signins)").fetchall()
        version = db.execute("PRAGMA user_version").fetchone()[0]
        tables = {name for (name,) in db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'")}
    finally:
        db.close()
    assert version == SCHEMA_VERSION == 5
    assert {"baseline_hours", "baseline_counts", "baseline_seen"} <= tables
    assert columns == [(cid, name, kind, notnull, None, pk)  # no column has a default
                       for cid, (name, kind, notnull, pk) in enumerate(SIGNINS_V4)]


def test_store_file_is_private(tmp_path):
    import os
    import stat

    old = os.umask(0)
    try:
        Store(str(tmp_path / "deep" / "s.sqlite")).close()
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "deep" / "s.sqlite").stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "deep").stat().st_mode) == 0o700


class Clock:
    def __init__(self):
        self.now = 1000.0
        self.slept = []

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.slept.append(seconds)
        self.now += seconds


def test_budget_is_five_per_ten_seconds_across_connections(tmp_path):
    clock = Clock()
    path = str(tmp_path / "s.sqlite")
    # Two stores on one file stand for two check processes of the same tenant and app.
    first = pacing.Pacer(Store(path), "app", clock=clock, sleep=clock.sleep)
    second = pacing.Pacer(Store(path), "app", clock=clock, sleep=clock.sleep)
    other_app = pacing.Pacer(Store(path), "other", clock=clock, sleep=clock.sleep)
    for pacer in (first, second, first, second, first):
        pacer.acquire(deadline=clock.now + 60)
    assert clock.slept == []
    other_app.acquire(deadline=clock.now + 60)  # another app has its own budget
    assert clock.slept == []
    second.acquire(deadline=clock.now + 60)
    assert clock.slept == [pytest.approx(10 + pacing.MARGIN)]


def test_budget_past_the_deadline_raises(tmp_path):
    clock = Clock()
    pacer = pacing.Pacer(Store(str(tmp_path / "s.sqlite")), "app", clock=clock,
                         sleep=clock.sleep)
    for _ in range(5):
        pacer.acquire(deadline=clock.now + 60)
    with pytest.raises(pacing.OutOfTime) as stop:
        pacer.acquire(deadline=clock.now + 3)
    assert not stop.value.throttled
    assert clock.slept == []


def test_retry_after_blocks_every_process(tmp_path):
    clock = Clock()
    path = str(tmp_path / "s.sqlite")
    one = pacing.Pacer(Store(path), "app", clock=clock, sleep=clock.sleep)
    two = pacing.Pacer(Store(path), "app", clock=clock, sleep=clock.sleep)
    one.block(30)
    with pytest.raises(pacing.OutOfTime) as stop:
        two.acquire(deadline=clock.now + 10)
    assert stop.value.throttled and str(stop.value) == "throttled (429)"
    two.acquire(deadline=clock.now + 60)
    assert sum(clock.slept) == pytest.approx(30)


def test_budget_holds_under_threads(tmp_path):
    """Real clock, many threads: never more than 5 grants in any 10 s (checked on the log)."""
    granted = []
    lock = threading.Lock()
    store = Store(str(tmp_path / "s.sqlite"))
    pacer = pacing.Pacer(store, "app", limit=5, period=1.0)

    def take():
        pacer.acquire(deadline=1e12)
        with lock:
            import time
            granted.append(time.time())

    threads = [threading.Thread(target=take) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    granted.sort()
    for i in range(len(granted) - 5):
        assert granted[i + 5] - granted[i] >= 1.0


@pytest.mark.parametrize("expected, workers, shares, extra", [
    (0.5, 4, [0.5], 0), (1.5, 4, [1.5], 0), (8, 1, [8], 0), (2.3, 4, [1.85, 0.45], 0),
    (28.5, 4, [7.85, 6.85, 6.85, 6.95], 0),  # room for the slack of four chains,
    (28.65, 4, [9.85, 9.85, 8.95], 0),       # of three,
    (28.8, 4, [14.85, 13.95], 0),            # of two,
    (28.9, 4, [7.85, 7.85, 6.85, 6.35], 1),  # of none: all workers
    (29, 4, [7.85, 7.85, 6.85, 6.45], 1), (5, 4, [1.85, 1.85, 0.85, 0.45], 1),
])
def test_split_costs_no_request_while_the_slack_fits_the_last_page(expected, workers, shares,
                                                                    extra):
    import math

    got = split_shares(expected, workers)
    assert got == pytest.approx(shares)
    assert sum(got) == pytest.approx(expected)
    assert sum(math.ceil(s) for s in got) == math.ceil(expected) + extra


def test_scrub_masks_registered_secrets_and_credentials():
    redact.register("Sup3r-Secret-Value")
    text = ("failed with Sup3r-Secret-Value; client_secret=abc123def&x=1 "
            "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.payload.sig "
            "http://user:pa%40ss@proxy:8080 password='hunter22'")
    clean = redact.scrub(text)
    for secret in ("Sup3r-Secret-Value", "abc123def", "eyJhbGciOiJIUzI1NiJ9.payload.sig",
                   "pa%40ss", "hunter22"):
        assert secret not in clean
    assert "client_secret=****&x=1" in clean
    assert "http://user:****@proxy:8080" in clean


def test_one_line_makes_text_safe_for_the_status_line():
    assert redact.one_line("a|b\nc\r\td" + "x" * 400, limit=20) == "a/b c d" + "x" * 10 + "..."
