"""The one pass over a window (tally.run) against an independent reference: SQL.

Random windows of sign-ins, with ties in time, empty entity keys and few distinct values
(so that runs form and break), are counted by the pass and by plain SQL: the counts by
``SUM(condition)``, the entity measures by the gaps-and-islands query that numbers each
entity's attempts by (time, id), the threat measures by GROUP BY ... HAVING. Every DD
table must then agree with its measure.
"""

from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from check_entra_noninteractive import measures, normalize, tally, threats, timeline, timeutil
from check_entra_noninteractive.store import Store
from check_entra_noninteractive.window import Window
from conftest import signin

START = timeutil.parse_time("2026-11-20T08:00:00Z")
WINDOW = Window(START, START + timedelta(hours=1))

# Few values per field, '' among them: entities repeat, and some rows have none.
record = st.fixed_dictionaries({
    "when": st.integers(0, 40),
    "ok": st.booleans(),
    "ipAddress": st.sampled_from(["192.0.2.1", "192.0.2.2", "2001:db8::1", ""]),
    "userId": st.sampled_from(["u1", "u2", "u3", ""]),
    "userPrincipalName": st.sampled_from(["a@x.example", "b@x.example", ""]),
    "appId": st.sampled_from(["app-1", "app-2", ""]),
    "appDisplayName": st.sampled_from(["Outlook", "Teams", ""]),
    "servicePrincipalId": st.sampled_from(["sp-1", ""]),
    "resourceId": st.sampled_from(["res-1", "res-2", ""]),
    "clientAppUsed": st.sampled_from(["Browser", "IMAP4", "Other clients", ""]),
    "location": st.sampled_from([{"city": "Berlin", "state": "Berlin", "countryOrRegion": "DE"},
                                 {"city": "", "state": "", "countryOrRegion": "US"},
                                 {}]),
    "authenticationRequirement": st.sampled_from(["singleFactorAuthentication",
                                                  "multiFactorAuthentication", ""]),
    "conditionalAccessStatus": st.sampled_from(["success", "failure", "notApplied"]),
    "riskLevelDuringSignIn": st.sampled_from(["none", "low", "high", "hidden"]),
    "errorCode": st.sampled_from([50126, 50053, 53003, 7000215]),
    "authenticationProtocol": st.sampled_from(["deviceCode", "ropc", "none", ""]),
})


def store_of(drawn):
    store = Store(":memory:")
    rows = []
    for number, fields in enumerate(drawn):
        fields = dict(fields)
        when, ok, code = fields.pop("when"), fields.pop("ok"), fields.pop("errorCode")
        item = signin("id%03d" % number, when, ok, **fields)
        if not ok:
            item["status"] = {"errorCode": code}
        rows.append(normalize.from_graph(item))
    store.add(rows)
    return store


def reference_entities(store, entity, outcome, attempts):
    """Entities with a run of >= attempts attempts of the outcome: gaps and islands."""
    sql = """
        SELECT COUNT(DISTINCT entity) FROM (
            SELECT entity, COUNT(*) AS run_length FROM (
                SELECT %(key)s AS entity, success,
                       ROW_NUMBER() OVER (PARTITION BY %(key)s ORDER BY created, id)
                     - ROW_NUMBER() OVER (PARTITION BY %(key)s, success ORDER BY created, id)
                       AS island
                FROM signins WHERE %(where)s AND %(key)s <> '')
            WHERE success = ? GROUP BY entity, island)
        WHERE run_length >= ?""" % {"key": entity.key, "where": WINDOW.where()[0]}
    return store.query(sql, (*WINDOW.where()[1], outcome, attempts))[0][0]


def reference_threat(store, label, spray_users):
    """The threats check's measures by SQL; no history, so nothing is unusual."""
    where, params = WINDOW.where()
    measure = measures.MEASURES[label]
    if label.startswith("unusual_"):
        return 0
    if label == "spray_ips":
        sql = ("SELECT COUNT(*) FROM (SELECT ip FROM signins WHERE %s AND %s AND ip <> '' "
               "GROUP BY ip HAVING COUNT(DISTINCT NULLIF(user_id, '')) >= %d)"
               % (where, measure.condition, spray_users))
    elif label == "multi_country_users":
        sql = ("SELECT COUNT(*) FROM (SELECT user_id FROM signins WHERE %s AND success = 1 "
               "AND country <> '' AND user_id <> '' GROUP BY user_id "
               "HAVING COUNT(DISTINCT country) >= 2)" % where)
    else:
        sql = ("SELECT COUNT(DISTINCT user_id) FROM signins WHERE %s AND %s AND user_id <> ''"
               % (where, measure.condition))
    return store.query(sql, params)[0][0]


def reference_count(store, condition):
    where, params = WINDOW.where()
    return store.query("SELECT COUNT(*) FROM signins WHERE %s AND %s" % (where, condition),
                       params)[0][0]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(record, max_size=60), st.integers(1, 4),
       st.sampled_from(list(measures.GROUPS)), st.integers(1, 5), st.integers(1, 3))
def test_the_pass_counts_what_sql_counts_and_its_tables_agree(drawn, attempts, name, limit,
                                                             spray_users):
    group = measures.GROUPS[name]
    tuned = threats.Settings(spray_users=spray_users)
    with store_of(drawn) as store:
        counted = tally.run(store, WINDOW, group, attempts,
                            tally.Detail(limit=limit, successful=True), tuned)
        everything = tally.run(store, WINDOW, group, attempts,
                               tally.Detail(limit=10 ** 6, successful=True), tuned)
        for measure in group.measures:
            value = counted.values[measure.label]
            tables = counted.tables[measure.label]
            if group.baseline:
                assert value == reference_threat(store, measure.label, spray_users), \
                    measure.label
                assert tables.table["total"] == value
                assert len(tables.table["rows"]) == min(value, limit)
            elif measure.entity:
                expected = reference_entities(store, measures.ENTITIES[measure.entity],
                                              measure.outcome, attempts)
                assert value == expected, measure.label
                assert tables.table["total"] == value
                longest = tables.table["columns"].index("longest run")
                assert all(row[longest] >= attempts for row in tables.table["rows"])
            elif measure.condition:
                assert value == reference_count(store, measure.condition), measure.label
                if tables.table is not None and "sign-ins" in tables.table["columns"]:
                    # grouped: every matching sign-in in exactly one group
                    column = tables.table["columns"].index("sign-ins")
                    whole = everything.tables[measure.label].table
                    assert not whole["truncated"]
                    assert sum(r[column] for r in whole["rows"]) == value
                    assert tables.table["rows"] == whole["rows"][:limit]
                elif tables.table is not None and measure.label != "ca_failure":
                    assert tables.table["total"] == value
                    assert len(tables.table["rows"]) == min(value, limit)
            shown = [tables.table] if tables.table else []
            for table in shown + tables.extra:
                assert len(table["rows"]) <= limit
                assert table["truncated"] == (len(table["rows"]) < table["total"])
        if "failed_pct" in counted.values:
            total, failed = counted.values["total"], counted.values["failed"]
            assert counted.values["failed_pct"] == (round(100.0 * failed / total, 2)
                                                    if total else 0.0)


@settings(max_examples=60, deadline=None)
@given(st.lists(record, max_size=40))
def test_without_the_dd_the_values_are_the_same_and_no_table_is_built(drawn):
    with store_of(drawn) as store:
        for group in measures.GROUPS.values():
            bare = tally.run(store, WINDOW, group, 2)
            full = tally.run(store, WINDOW, group, 2, tally.Detail(limit=3, successful=False))
            assert bare.tables is None and bare.timeline is None
            assert bare.values == full.values


def test_failed_entity_row_counts_every_failure_of_the_entity():
    """The DD row of a failing IP: all its failures in the window, the longest run, the
    distinct users, the top error codes, first and last seen."""
    records = [signin("a", 1, False, userId="u1"), signin("b", 2, False, userId="u2"),
               signin("c", 3, True), signin("d", 4, False, userId="u1"),
               signin("e", 5, False, userId="u1"), signin("f", 6, False, userId="u1")]
    records[1]["status"] = {"errorCode": 50053}
    store = Store(":memory:")
    store.add([normalize.from_graph(r) for r in records])
    counted = tally.run(store, WINDOW, measures.GROUPS["failure-entities"], 3,
                        tally.Detail(limit=10, successful=False))
    table = counted.tables["failure_ips"].table
    assert counted.values["failure_ips"] == 1
    assert table["rows"] == [["192.0.2.1", 5, 3, 2, "50126\u00d74, 50053\u00d71",
                              "2026-11-20T08:00:01Z", "2026-11-20T08:00:06Z"]]


def reference_buckets(store, window, minutes):
    """[successful, failed] per bucket of ``minutes`` from the window's start, by SQL."""
    where, params = window.where()
    found = store.query(
        "SELECT (CAST(strftime('%%s', substr(created, 1, 16)) AS INTEGER) - ?) / 60 / ?, "
        "error_code = 0, COUNT(*) FROM signins WHERE %s GROUP BY 1, 2" % where,
        (int(window.start.timestamp()), minutes, *params))
    span = -(-(window.end - window.start) // timedelta(minutes=minutes))
    buckets = [[0, 0] for _ in range(span)]
    for bucket, success, number in found:
        buckets[bucket][0 if success else 1] += number
    return buckets


@settings(max_examples=60, deadline=None)
@given(st.lists(record, max_size=60), st.sampled_from(list(measures.GROUPS)))
def test_the_timeline_counts_the_window_by_minute_and_outcome(drawn, name):
    with store_of(drawn) as store:
        counted = tally.run(store, WINDOW, measures.GROUPS[name], 2,
                            tally.Detail(limit=3, successful=False))
        assert counted.timeline == {"start": "2026-11-20T08:00:00Z", "bucket_minutes": 1,
                                    "buckets": reference_buckets(store, WINDOW, 1)}


def test_a_long_window_is_counted_in_wide_buckets():
    month = Window(START - timedelta(days=30), START + timedelta(days=1))
    records = [signin("a", 1), signin("b", 2, False), signin("c", 3599, False)]
    earlier = signin("d", 0)
    earlier["createdDateTime"] = "2026-10-21T08:00:00Z"  # the window's first minute
    store = Store(":memory:")
    store.add([normalize.from_graph(r) for r in records + [earlier]])
    counted = tally.run(store, month, measures.GROUPS["signins"], 5,
                        tally.Detail(limit=3, successful=False))
    # 31 days: 3-hour buckets from 06:00, the round mark before the window's 08:00.
    assert counted.timeline["start"] == "2026-10-21T06:00:00Z"
    assert counted.timeline["bucket_minutes"] == 180
    buckets = counted.timeline["buckets"]
    assert len(buckets) == 249 <= timeline.MAX_BARS
    assert buckets[0] == [1, 0] and buckets[-9] == [1, 2]  # 2026-11-20T06:00 to 09:00
    assert sum(map(sum, buckets)) == counted.values["total"] == 4


def test_bucket_sizes():
    cases = [(timedelta(hours=1), 1, 60), (timedelta(hours=6), 1, 360),
             (timedelta(hours=6, seconds=1), 2, 181), (timedelta(days=1), 5, 288),
             (timedelta(days=31), 180, 249), (timedelta(days=400), 2880, 201)]
    for span, minutes, bars in cases:
        assert timeline.bucket_minutes(START, START + span) == minutes, span
        assert timeline.bars(START, START + span, minutes) == bars, span
