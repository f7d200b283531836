"""Live windows leave no minute unreported: the rule itself, consecutive runs of the real
checks against the local fake of Graph at chosen wall-clock times, and a property test
that throws random data, run times and faults at them."""

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from check_entra_noninteractive import timeutil
from check_entra_noninteractive.window import live
from fake_microsoft import FakeMicrosoft
from test_graph import CLIENT, SECRET, TENANT, graph_args, use_fake

MINUTE = timedelta(minutes=1)
BASE = datetime(2026, 11, 20, 12, 0, tzinfo=timezone.utc)


def at(text):
    """'12:25:59' on the test day."""
    hours, minutes, *seconds = (int(p) for p in text.split(":"))
    return BASE.replace(hour=hours, minute=minutes, second=seconds[0] if seconds else 0)


def span(window):
    return "%s-%s" % (window.start.strftime("%H:%M"), window.end.strftime("%H:%M"))


# (case, now, last reported (start, end) or None, window, expected window, skipped span)
RULE_CASES = [
    ("first run reports --window", "12:25:59", None, "12:10-12:15", None),
    ("on time: no overlap, no gap", "12:30:59", ("12:10", "12:15"), "12:15-12:20", None),
    ("late run reaches back to the last end", "12:31:01", ("12:10", "12:15"), "12:15-12:21",
     None),
    ("early run overlaps, still --window long", "12:35:30", ("12:15", "12:21"),
     "12:20-12:25", None),
    ("retry a minute later keeps the whole --window", "12:26:40", ("12:10", "12:15"),
     "12:11-12:16", None),
    ("re-run in the same minute: the same window", "12:31:40", ("12:15", "12:21"),
     "12:15-12:21", None),
    ("catch-up up to --max-catchup (15m)", "12:40:00", ("12:10", "12:15"), "12:15-12:30",
     None),
    ("longer outage: --window, the rest named", "12:41:00", ("12:10", "12:15"),
     "12:26-12:31", ("12:15", "12:26")),
    ("remembered end in the future is ignored", "12:25:59", ("12:20", "12:40"),
     "12:10-12:15", None),
    ("a remembered window absurdly long is not repeated", "12:31:40", ("08:00", "12:21"),
     "12:16-12:21", None),
]


@pytest.mark.parametrize("case, now, last, expected, skipped", RULE_CASES,
                         ids=[c[0] for c in RULE_CASES])
def test_live_window_rule(case, now, last, expected, skipped):
    remembered = (at(last[0]), at(last[1])) if last else None
    window = live(at(now), 5 * MINUTE, 10 * MINUTE, 15 * MINUTE, remembered)
    assert span(window) == expected
    if skipped:
        assert (window.skipped[0], window.skipped[1]) == (at(skipped[0]), at(skipped[1]))
    else:
        assert window.skipped is None


# --------------------------------------------------------------------------------------
# Consecutive runs of the real check, in-process, at chosen times
# --------------------------------------------------------------------------------------

def minute_records(start, minutes, per_minute=7, seed=1):
    """Sign-ins spread over the minutes, some failed, at uneven seconds."""
    records = []
    for minute in range(minutes):
        for i in range((per_minute + minute * seed) % 11 + 1):
            moment = start + minute * MINUTE + timedelta(seconds=(i * 13 + minute) % 60,
                                                         milliseconds=i * 7)
            records.append({
                "id": "m%d-%d" % (minute, i),
                "createdDateTime": moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                "signInEventTypes": ["nonInteractiveUser"],
                "status": {"errorCode": 0 if (minute + i) % 4 else 50126},
                "ipAddress": "192.0.2.%d" % (i + 1), "userId": "u%d" % i,
                "appId": "app-1", "clientAppUsed": "Browser",
            })
    return records


def reference(records, start, end):
    """The deliberately simple truth: (total, failed) of the records in [start, end)."""
    inside = [r for r in records
              if start <= timeutil.parse_time(r["createdDateTime"]) < end]
    return len(inside), sum(1 for r in inside if r["status"]["errorCode"] != 0)


class Clock:
    """Wall-clock time as the check sees it (timeutil.utcnow)."""

    def __init__(self, monkeypatch):
        self.now = BASE
        monkeypatch.setattr(timeutil, "utcnow", lambda: self.now)


@pytest.fixture
def live_env(monkeypatch):
    def start(fake):
        use_fake(monkeypatch, fake)
        return Clock(monkeypatch)
    return start


def reported_window(outcome):
    """(start, end) from the long output's 'window: A to B (...)' line."""
    for line in outcome.out.splitlines():
        if line.startswith("window: "):
            first, _, rest = line[len("window: "):].partition(" to ")
            return timeutil.parse_time(first), timeutil.parse_time(rest.split(" ")[0])
    raise AssertionError("no window line in %r" % outcome.out)


class LiveRuns:
    """An hour of sign-ins from 12:00 behind the fake Graph, and live runs of
    check_entra_signins (--window 5m --delay 10m -v) at chosen times on one state dir."""

    def __init__(self, run, fake, clock, state_dir):
        self.records = minute_records(at("12:00"), 60)
        fake.add_records(self.records)
        self._run, self.fake, self.clock, self.state_dir = run, fake, clock, state_dir

    def at(self, now, *extra):
        self.clock.now = at(now)
        return self._run("signins", *graph_args(self.fake, str(self.state_dir)), "--window",
                         "5m", "--delay", "10m", "-v", *extra)

    def exact(self, outcome):
        """The reported window, after checking its total and failed against the records."""
        assert outcome.code == 0, outcome.out
        start, end = reported_window(outcome)
        assert (outcome.value("total"), outcome.value("failed")) == \
            reference(self.records, start, end)
        return start, end


@pytest.fixture
def runs(run, live_env, tmp_path):
    with FakeMicrosoft(tenant=TENANT, client_id=CLIENT, client_secret=SECRET) as fake:
        yield LiveRuns(run, fake, live_env(fake), tmp_path)


def test_the_issue_runs_leave_no_gap(runs):
    """The runs of the issue: 12:25:59, 12:31:01, 12:35:30, 12:41:10 with --window 5m
    --delay 10m used to report 12:10-12:15, 12:16-12:21, 12:20-12:25, 12:26-12:31."""
    windows = [span_of(runs.exact(runs.at(now)))
               for now in ("12:25:59", "12:31:01", "12:35:30", "12:41:10")]
    assert windows == ["12:10-12:15", "12:15-12:21", "12:20-12:25", "12:25-12:31"]


def span_of(bounds):
    return "%s-%s" % (bounds[0].strftime("%H:%M"), bounds[1].strftime("%H:%M"))


def test_outage_beyond_max_catchup_names_the_skipped_span(runs):
    runs.exact(runs.at("12:25:10"))
    outcome = runs.at("12:55:10")  # 30 minutes later; --max-catchup is 15m (3 x 5m)
    assert span_of(runs.exact(outcome)) == "12:40-12:45"
    assert "not reported: 2026-11-20T12:15:00Z to 2026-11-20T12:40:00Z, longer ago than " \
        "--max-catchup allows; this run reports the last --window" in outcome.out.splitlines()


def test_outage_within_max_catchup_is_caught_up(runs):
    assert span_of(runs.exact(runs.at("12:25:10", "--max-catchup", "45m"))) == "12:10-12:15"
    outcome = runs.at("12:55:10", "--max-catchup", "45m")
    assert span_of(runs.exact(outcome)) == "12:15-12:45"
    assert "not reported" not in outcome.out


def test_options_key_the_memory_and_explicit_windows_leave_it_alone(runs):
    assert span_of(runs.exact(runs.at("12:25:10"))) == "12:10-12:15"
    # An explicit window is not a live run: it neither reads nor moves the memory.
    explicit = runs.at("12:25:10", "--start", "2026-11-20T12:00:00Z",
                       "--end", "2026-11-20T12:14:00Z")
    assert span_of(runs.exact(explicit)) == "12:00-12:14"
    # Another service of the tenant, with other thresholds, has a memory of its own.
    assert span_of(runs.exact(runs.at("12:33:10", "-w", "failed=100"))) == "12:18-12:23"
    assert span_of(runs.exact(runs.at("12:33:10"))) == "12:15-12:23"
    # A damaged memory costs one --window-long report, not the run.
    memory = list((runs.state_dir / TENANT / "windows").iterdir())
    assert len(memory) == 2 and all(p.stat().st_mode & 0o777 == 0o600 for p in memory)
    for path in memory:
        path.write_text("{not json")
    assert span_of(runs.exact(runs.at("12:40:10"))) == "12:25-12:30"


def test_an_unknown_run_does_not_move_the_memory(runs):
    runs.exact(runs.at("12:25:10"))
    runs.fake.set_fault("licence")
    assert runs.at("12:30:10").code == 3
    runs.fake.clear_faults()
    assert span_of(runs.exact(runs.at("12:35:10"))) == "12:15-12:25"


# --------------------------------------------------------------------------------------
# The property: random data, run times and faults; every run exact or UNKNOWN, and the
# reported windows of consecutive live runs leave no minute out.
# --------------------------------------------------------------------------------------

FAULTS = [
    None,
    {"name": "server_error", "count": 2, "status": 503, "retry_after": 0},
    {"name": "reset", "count": 1},
    {"name": "truncate", "count": 1},
    {"name": "throttle", "count": 1, "retry_after": 0},
    {"name": "licence", "count": 1},
    {"name": "permission"},
]

runs_strategy = st.lists(
    st.tuples(st.integers(min_value=20, max_value=1500),   # seconds since the last run
              st.sampled_from(FAULTS)),
    min_size=2, max_size=6)


@settings(max_examples=10, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture,
                                 HealthCheck.too_slow])
@given(runs=runs_strategy, window=st.sampled_from([2, 5]), delay=st.sampled_from([0, 3]),
       seed=st.integers(min_value=0, max_value=5))
def test_property_exact_or_unknown_and_no_minute_missed(run, live_env, tmp_path_factory,
                                                        runs, window, delay, seed):
    state = tmp_path_factory.mktemp("state")
    records = minute_records(at("11:40"), 180, seed=seed)
    with FakeMicrosoft(records=records, tenant=TENANT, client_id=CLIENT,
                       client_secret=SECRET, page_size=60) as fake:
        clock = live_env(fake)
        clock.now = at("12:20:07")
        reported, skipped = [], []
        for pause, fault in runs:
            clock.now += timedelta(seconds=pause)
            fake.clear_faults()
            if fault:
                fault = dict(fault)
                fake.set_fault(fault.pop("name"), fault.pop("count", None), **fault)
            outcome = run("signins", *graph_args(fake, str(state)), "--window", "%dm" % window,
                          "--delay", "%dm" % delay, "-t", "20", "-v")
            if outcome.code == 3:
                assert outcome.first.startswith("ENTRA SIGNINS UNKNOWN - "), outcome.out
                assert "|" not in outcome.first and "Traceback" not in outcome.out
                continue
            assert outcome.code == 0, outcome.out
            start, end = reported_window(outcome)
            assert end - start >= timedelta(minutes=window)
            assert (outcome.value("total"), outcome.value("failed")) == \
                reference(records, start, end)
            for line in outcome.out.splitlines():
                if line.startswith("not reported: "):
                    first, _, rest = line[len("not reported: "):].partition(" to ")
                    skipped.append((timeutil.parse_time(first),
                                    timeutil.parse_time(rest.split(",")[0])))
            reported.append((start, end))
    # Consecutive reported windows (with the spans named as skipped) leave no gap.
    covered = sorted(reported + skipped)
    for (_, previous_end), (next_start, _) in zip(covered, covered[1:]):
        assert next_start <= previous_end, (reported, skipped)
