"""The unusual_* measures against synthetic history, and the store's hourly counts.

Through the real main(): an --input file whose part before --start is the history (the
file is taken to hold every sign-in from its first one on). Through the Store: counts of
complete hours only, kept when retention removes the rows, never counted twice.
"""

import json
from datetime import timedelta

import pytest

from conftest import signin
from check_entra_noninteractive import baseline, normalize, timeutil
from check_entra_noninteractive.store import Store
from check_entra_noninteractive.window import Window

UNUSUAL = ("unusual_users", "unusual_ips", "unusual_apps")
START = "2026-11-17T00:00:00Z"  # the history of most cases starts here: 3 full days
NI = {"nonInteractiveUser": ["nonInteractiveUser"]}  # event type -> its coverage keys


def at(day, hour, minute=0, second=0):
    return "2026-11-%02dT%02d:%02d:%02dZ" % (day, hour, minute, second)


def hourly(user, day, hour, count, minutes=60, **fields):
    """``count`` sign-ins of ``user`` spread over ``minutes`` from day/hour:00."""
    fields.setdefault("ipAddress", "192.0.2.%d" % (sum(map(ord, user)) % 250))
    fields.setdefault("appId", "app-" + user)
    fields.setdefault("userPrincipalName", user + "@contoso.example")
    return [signin("%s-%d-%d-%d" % (user, day, hour, i), 0, userId=user,
                   createdDateTime=at(day, hour, *divmod(i * minutes * 60 // count, 60)),
                   **fields)
            for i in range(count)]


def history(user, hour, count, days=(17, 18, 19), minutes=60):
    """The same count at the same hour on each of the days, and the history's first row."""
    return [signin("first", 0, userId="early", ipAddress="192.0.2.250", appId="app-early",
                   createdDateTime=START)] + [
        r for day in days for r in hourly(user, day, hour, count, minutes)]


def run_window(run, write_json, records, start, end, *argv):
    result = run("threats", "--input", write_json(records), "--start", start, "--end", end,
                 *argv)
    assert result.code == 0, result.out
    return result, {label: result.value(label) for label in UNUSUAL}


WINDOW = (at(20, 8), at(20, 9))
ALL = dict.fromkeys(UNUSUAL, 1)
NONE = dict.fromkeys(UNUSUAL, 0)

# (name, records, window, extra argv, expected unusual_users/ips/apps)
CASES = [
    ("three times the mean is not more than three times",
     history("alice", 8, 10) + hourly("alice", 20, 8, 30), WINDOW, [], NONE),
    ("one more sign-in is", history("alice", 8, 10) + hourly("alice", 20, 8, 31), WINDOW,
     [], ALL),
    ("--baseline-factor 2", history("alice", 8, 10) + hourly("alice", 20, 8, 21), WINDOW,
     ["--baseline-factor", "2"], ALL),
    ("a morning peak is normal for its hour",
     history("alice", 8, 100) + [r for d in (17, 18, 19) for r in hourly("alice", d, 3, 5)]
     + hourly("alice", 20, 8, 100), WINDOW, [], NONE),
    ("the same count at night is not",
     history("alice", 8, 100) + [r for d in (17, 18, 19) for r in hourly("alice", d, 3, 5)]
     + hourly("alice", 20, 3, 100), (at(20, 3), at(20, 4)), [], ALL),
    ("a 5-minute window expects 5/60 of the hour: 30 is not more than 3 x 10",
     history("alice", 8, 120) + hourly("alice", 20, 8, 30, minutes=5),
     (at(20, 8), at(20, 8, 5)), [], NONE),
    ("... 31 is", history("alice", 8, 120) + hourly("alice", 20, 8, 31, minutes=5),
     (at(20, 8), at(20, 8, 5)), [], ALL),
    ("known, but never at this hour: --baseline-min decides (19)",
     history("alice", 14, 10) + hourly("alice", 20, 8, 19), WINDOW, [], NONE),
    ("... (20)", history("alice", 14, 10) + hourly("alice", 20, 8, 20), WINDOW, [], ALL),
    ("--baseline-min 50", history("alice", 8, 10) + hourly("alice", 20, 8, 49), WINDOW,
     ["--baseline-min", "50"], NONE),
    ("a new entity is not unusual",
     history("alice", 8, 10) + hourly("bob", 20, 8, 200), WINDOW, [], NONE),
    ("days without history do not dilute the mean (3 of 7 compared)",
     history("alice", 8, 10) + hourly("alice", 20, 8, 31), WINDOW, ["--baseline-days", "7"],
     ALL),
    ("--baseline-days 1 compares with the day before only",
     history("alice", 8, 10, days=(17, 18)) + hourly("alice", 19, 8, 40)
     + hourly("alice", 20, 8, 40), WINDOW, ["--baseline-days", "1"], NONE),
    ("history older than --baseline-days is forgotten: new",
     history("alice", 8, 10, days=(17,)) + hourly("alice", 20, 8, 40), WINDOW,
     ["--baseline-days", "2"], NONE),
]


@pytest.mark.parametrize("name,records,window,argv,expected", CASES,
                         ids=[c[0] for c in CASES])
def test_unusual(run, write_json, name, records, window, argv, expected):
    assert run_window(run, write_json, records, *window, *argv)[1] == expected


def test_learning_while_the_history_is_shorter_than_a_day(run, write_json):
    records = [signin("first", 0, userId="early", createdDateTime=at(19, 20))] + [
        r for hour in range(20, 24) for r in hourly("alice", 19, hour, 2)
    ] + hourly("alice", 20, 8, 100)
    result, values = run_window(run, write_json, records, *WINDOW)
    assert values == NONE
    assert ("baseline: learning, 12 h of history counted; the unusual_* measures compare "
            "once a full day before the window is counted") in result.out.splitlines()


def test_long_output_says_how_many_days_were_compared(run, write_json):
    result, _ = run_window(run, write_json,
                           history("alice", 8, 10) + hourly("alice", 20, 8, 10), *WINDOW)
    assert ("baseline: 3 of 7 days compared (--baseline-days), at the window's time of day"
            in result.out.splitlines())


def test_dd_lists_unusual_and_new_entities(run, write_json, tmp_path):
    records = (history("alice", 8, 10) + hourly("alice", 20, 8, 45, appId="app-shared")
               + hourly("bob", 20, 8, 25, appId="app-shared"))
    run("threats", "--input", write_json(records), "--start", WINDOW[0], "--end", WINDOW[1],
        "--state-dir", tmp_path / "state")
    document = json.loads((tmp_path / "state/dd/file/check_entra_threats.json").read_text())
    users = next(m for m in document["measures"] if m["label"] == "unusual_users")
    assert users["value"] == 1
    assert users["table"]["columns"] == ["user", "sign-ins",
                                         "usual (mean of the days compared)", "ratio", "id"]
    assert users["table"]["rows"] == [["alice@contoso.example", 45, 10.0, "4.5\u00d7",
                                       "alice"]]
    assert users["tables"][0]["title"] == ("New users with 20 or more sign-ins (no history "
                                           "to compare, not counted)")
    assert users["tables"][0]["rows"] == [["bob@contoso.example", 25, "bob"]]
    apps = next(m for m in document["measures"] if m["label"] == "unusual_apps")
    assert apps["value"] == 0
    assert apps["tables"][0]["rows"] == [["Outlook", 70, "app-shared"]]


# --- the store's hourly counts -----------------------------------------------------------

def _row(sid, created, user="alice", mask=1):
    row = normalize.from_graph(signin(sid, 0, userId=user, createdDateTime=created))
    row["event_mask"] = mask
    return row


def _time(text):
    return timeutil.parse_time(text)


def _store(tmp_path, rows, covered=(START, at(20, 8)), fetched=None):
    store = Store(str(tmp_path / "store.sqlite"))
    start, end = map(_time, covered)
    store.add_page(rows, ["nonInteractiveUser"], start, end, fetched or end)
    return store


def _history(store, window=WINDOW, days=7):
    return baseline.History(store, Window(*map(_time, window)), days)


def test_counts_outlive_the_rows(tmp_path):
    rows = [_row("a%d-%d" % (day, i), at(day, 8, i)) for day in (17, 18, 19)
            for i in range(12)]
    store = _store(tmp_path, rows)
    store.count_hours(_time(WINDOW[0]), timedelta(0), NI, 7, most=None)
    store.prune(_time(WINDOW[0]))
    assert store.query("SELECT COUNT(*) FROM signins") == [(0,)]
    history = _history(store)
    assert len(history.spans) == 3
    assert history.usual("users", ["alice"])["alice"] == 12.0
    assert not history.is_new("users", "alice") and history.is_new("users", "bob")


def test_an_hour_is_counted_once(tmp_path):
    store = _store(tmp_path, [_row("a%d" % i, at(19, 8, i)) for i in range(6)],
                   covered=(at(19, 0), at(20, 8)))
    store.count_hours(_time(WINDOW[0]), timedelta(0), NI, 7)
    store.count_hours(_time(WINDOW[0]), timedelta(0), NI, 7)
    store.add([_row("late", at(19, 8, 30))])  # arrives after its hour was counted
    store.count_hours(_time(WINDOW[0]), timedelta(0), NI, 7)
    assert _history(store).usual("users", ["alice"])["alice"] == 6.0


def test_an_incomplete_hour_is_not_counted_and_its_day_not_compared(tmp_path):
    rows = [_row("a%d-%d" % (day, i), at(day, 8, i)) for day in (18, 19) for i in range(5)]
    # Coverage from 08:30 on the 18th: its 08:00 hour is incomplete.
    store = _store(tmp_path, rows, covered=(at(18, 8, 30), at(20, 8)))
    store.count_hours(_time(WINDOW[0]), timedelta(0), NI, 7, most=None)
    history = _history(store)
    assert len(history.spans) == 1  # the 19th only
    assert history.usual("users", ["alice"])["alice"] == 5.0


def test_the_settling_delay_keeps_the_newest_hour_open(tmp_path):
    rows = [_row("a%d" % i, at(19, 8, i)) for i in range(5)]
    store = _store(tmp_path, rows, covered=(at(19, 0), at(19, 9)), fetched=_time(at(19, 9)))
    store.count_hours(_time(WINDOW[0]), timedelta(minutes=10), NI, 7)
    # fetched at 09:00 with a 10-minute delay: complete up to 08:50 only
    assert store.query("SELECT hour FROM baseline_hours") == [
        (h,) for h in range(baseline.hour_of(_time(at(19, 0))),
                            baseline.hour_of(_time(at(19, 8))))]


def test_no_threats_check_no_counts(tmp_path):
    store = _store(tmp_path, [_row("a", at(19, 8))])
    store.count_hours(_time(WINDOW[0]), timedelta(0), NI)
    assert store.query("SELECT COUNT(*) FROM baseline_hours") == [(0,)]


def test_counts_older_than_the_baseline_days_are_dropped(tmp_path):
    rows = [_row("a%d" % day, at(day, 8)) for day in range(1, 20)]
    store = _store(tmp_path, rows, covered=(at(1, 0), at(20, 8)))
    store.count_hours(_time(WINDOW[0]), timedelta(0), NI, 3, most=None)
    hours = [h for (h,) in store.query("SELECT DISTINCT hour FROM baseline_counts "
                                       "ORDER BY hour")]
    newest = baseline.hour_of(_time(at(20, 7)))
    assert hours[0] >= newest - 4 * 24 and len(hours) == 4  # the days 16 to 19


def test_the_longest_baseline_asked_for_is_kept(tmp_path):
    store = _store(tmp_path, [_row("a", at(19, 8))])
    store.count_hours(_time(WINDOW[0]), timedelta(0), NI, 14)
    store.count_hours(_time(WINDOW[0]), timedelta(0), NI, 7)
    with store.transaction() as db:
        assert baseline.wanted_days(db) == 14


# --- through Graph: the store learns from the windows it fetched ------------------------

def test_graph_runs_learn_the_baseline_and_keep_it_past_retention(run, monkeypatch,
                                                                 tmp_path):
    from fake_microsoft import FakeMicrosoft
    from test_graph import CLIENT, SECRET, TENANT, graph_args, use_fake

    records = (hourly("alice", 19, 8, 10) + hourly("alice", 20, 8, 45)
               + hourly("bob", 20, 8, 30))
    state = tmp_path / "state"
    with FakeMicrosoft(records=records, tenant=TENANT, client_id=CLIENT,
                       client_secret=SECRET) as fake:
        use_fake(monkeypatch, fake)

        def threats(day):
            result = run("threats", *graph_args(fake, str(state), "--start", at(day, 8),
                                                "--end", at(day, 9)))
            assert result.code == 0, result.out
            return result

        first = threats(19)
        assert "baseline: learning, 0 h of history counted" in first.out
        second = threats(20)
    assert [second.value(label) for label in UNUSUAL] == [1, 1, 1], second.out
    assert ("baseline: 1 of 7 days compared (--baseline-days), at the window's time of day"
            in second.out.splitlines())
    # The 19th's rows are gone (before the window: retention never keeps them), their
    # counts stay.
    store = Store(str(state / TENANT / "graph.sqlite"))
    try:
        assert store.query("SELECT COUNT(*) FROM signins WHERE created < ?",
                           (timeutil.to_store(_time(at(20, 8))),)) == [(0,)]
        assert _history(store).usual("users", ["alice"])["alice"] == 10.0
    finally:
        store.close()


def test_log_analytics_runs_learn_from_every_workspace(run, monkeypatch, tmp_path):
    """Two workspaces: an hour is counted when both covered it, and the sign-ins of
    both count."""
    from test_graph import use_fake
    from test_loganalytics import WS_A, WS_B, la_args, serve

    records = (hourly("alice", 19, 8, 10) + hourly("alice", 20, 8, 45)
               + hourly("bob", 20, 8, 30))
    ids = [r["id"] for r in records]
    state = tmp_path / "state"
    # Alice's 19th in both halves: the first workspace has her first 6, the second the rest.
    with serve(records, [dict(WS_A, records=ids[:6] + ids[10:]),
                         dict(WS_B, records=ids[6:])]) as fake:
        use_fake(monkeypatch, fake)

        def threats(day):
            result = run("threats", *la_args(fake, state, "--start", at(day, 8),
                                             "--end", at(day, 9)))
            assert result.code == 0, result.out
            return result

        threats(19)
        second = threats(20)
    assert [second.value(label) for label in UNUSUAL] == [1, 1, 1], second.out
    store = Store(str(next(state.glob("*/*.sqlite"))))
    try:
        assert _history(store).usual("users", ["alice"])["alice"] == 10.0
    finally:
        store.close()


def test_an_hour_is_complete_only_when_every_key_of_its_event_type_covers_it(tmp_path):
    store = Store(str(tmp_path / "store.sqlite"))
    rows = [_row("a%d" % i, at(19, hour, i)) for hour in (6, 7) for i in range(4)]
    store.add_page(rows, ["ni@A"], _time(at(19, 6)), _time(at(19, 8)), _time(at(19, 8)))
    store.add_page([], ["ni@B"], _time(at(19, 7)), _time(at(19, 9)), _time(at(19, 9)))
    store.count_hours(_time(WINDOW[0]), timedelta(0),
                      {"nonInteractiveUser": ["ni@A", "ni@B"]}, 7)
    assert store.query("SELECT hour FROM baseline_hours") == [
        (baseline.hour_of(_time(at(19, 7))),)]


def test_a_backlog_is_counted_a_few_hours_per_run_oldest_first(tmp_path):
    rows = [_row("a%d" % hour, at(19, hour)) for hour in range(24)]
    store = _store(tmp_path, rows, covered=(at(19, 0), at(20, 0)))
    counted = []
    for _ in range(3):
        store.count_hours(_time(at(20, 0)), timedelta(0), NI, 7)
        counted.append([h for (h,) in store.query("SELECT hour FROM baseline_hours "
                                                  "ORDER BY hour")])
    first = baseline.hour_of(_time(at(19, 0)))
    assert [len(hours) for hours in counted] == [baseline.HOURS_PER_RUN,
                                                 2 * baseline.HOURS_PER_RUN, 24]
    assert counted[0] == list(range(first, first + baseline.HOURS_PER_RUN))


def test_a_window_longer_than_the_baseline_days_is_not_compared(run, write_json):
    records = history("alice", 8, 10) + hourly("alice", 20, 8, 100)
    result, values = run_window(run, write_json, records, at(18, 8), at(20, 9),
                                "--baseline-days", "2")
    assert values == NONE
    assert ("baseline: a window longer than --baseline-days (2) has no earlier day to "
            "compare with; the unusual_* measures stay 0") in result.out.splitlines()


def test_a_two_day_window_compares_with_two_day_spans_of_earlier_days(run, write_json):
    records = [signin("first", 0, userId="early", createdDateTime=at(14, 0))] + [
        r for day in (15, 16, 17, 18, 19) for r in hourly("alice", day, 8, 10)
    ] + hourly("alice", 20, 8, 100)
    result, values = run_window(run, write_json, records, at(19, 9), at(21, 9))
    # The 48-hour window holds alice's 100 of the 20th; the 48-hour spans 2 to 5 days
    # back hold two mornings of 10 each (6 and 7 days back are before the history):
    # 100 > 3 x 20.
    assert values == ALL, result.out
    assert ("baseline: 4 of 7 days compared (--baseline-days), at the window's time of day"
            in result.out.splitlines())
