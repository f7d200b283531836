"""Data never poisons a run (issue 8, section 3): every error-code shape normalizes without
an exception; a code is a success only when it is 0 (or absent or empty); anything else is
a failure, named when it is a whole number, else kept as its raw text for the DD. And a
sign-in that lists several event types counts for each of them, once.
"""

import json

import pytest

from check_entra_noninteractive import normalize
from check_entra_noninteractive.normalize import UNNAMED_CODE, error_status
from check_entra_noninteractive.normalize_portal_csv import from_portal_csv
from conftest import signin
from fake_microsoft import FakeMicrosoft
from test_graph import CLIENT, SECRET, TENANT, graph_args, use_fake

WINDOW = ("--start", "2026-11-20T08:00:00Z", "--end", "2026-11-20T09:00:00Z")
MISSING = object()  # the record has no errorCode at all

SUCCESS = [0, "0", " 00 ", "+0", "-0", 0.0, "0.0", "0.", ".0", "0e5", "0" * 5000, None, "",
           "   ", {}, [], MISSING]
NAMED = [(50126, 50126), ("50126", 50126), (" 50126 ", 50126), (50126.0, 50126),
         ("50126.0", 50126), ("5.0126e4", 50126), ("+50126", 50126), ("1e3", 1000),
         (2 ** 63 - 1, 2 ** 63 - 1), ("-5", -5)]
# (value, the raw text the DD shows)
UNNAMED = [
    ("0.5", "0.5"), (0.5, "0.5"), ("1e400", "1e400"), ("-1e400", "-1e400"),
    ("1e-400", "1e-400"),  # not 0, however small: float() would round it to a success
    ("Infinity", "Infinity"), ("-Infinity", "-Infinity"), ("inf", "inf"), ("NaN", "NaN"),
    (float("nan"), "nan"), (float("inf"), "inf"), (float("-inf"), "-inf"),
    (99999999999999999999, "99999999999999999999"),
    (-99999999999999999999, "-99999999999999999999"),
    ("99999999999999999999", "99999999999999999999"), (2 ** 63, str(2 ** 63)),
    ("9" * 5000, "9" * 100),  # more digits than int() takes: never an exception
    ("abc", "abc"), (" abc ", "abc"), ("AADSTS50126", "AADSTS50126"),
    (True, "true"), (False, "false"),
    ("0_0", "0_0"), ("1_000", "1_000"), ("\u0660", "\u0660"), ("\uff11\uff12", "\uff11\uff12"),
    ("0x10", "0x10"), ("+", "+"), ("-", "-"), (".", "."), ("e5", "e5"), ("1e", "1e"),
    ("1e-99999999999999999999", "1e-99999999999999999999"),
    ("1e99999999999999999999", "1e99999999999999999999"),
    ([50126], "[50126]"), ({"code": 50126}, '{"code": 50126}'),
    ("x" * 300, "x" * 100),
]


def _ids(values):
    return [repr(v if not isinstance(v, tuple) else v[0])[:30] for v in values]


@pytest.mark.parametrize("value", SUCCESS, ids=_ids(SUCCESS))
def test_zero_or_no_code_is_a_success(value):
    if value is not MISSING:
        assert error_status(value) == (1, 0, "")
    record = signin("s", 1, status={} if value is MISSING else {"errorCode": value})
    row = normalize.from_graph(record)
    assert (row["success"], row["error_code"], row["error_text"]) == (1, 0, "")


@pytest.mark.parametrize("status", [MISSING, None, {}, "", "not an object", [],
                                    {"failureReason": "Other."}],
                         ids=["no status", "null", "{}", "empty text", "text", "list",
                              "no errorCode"])
def test_missing_status_is_a_success(status):
    record = signin("s", 1)
    if status is MISSING:
        del record["status"]
    else:
        record["status"] = status
    row = normalize.from_graph(record)
    assert (row["success"], row["error_code"], row["error_text"]) == (1, 0, "")


@pytest.mark.parametrize("value, code", NAMED, ids=_ids(NAMED))
def test_whole_number_is_a_named_failure(value, code):
    assert error_status(value) == (0, code, "")


@pytest.mark.parametrize("value, text", UNNAMED, ids=_ids(UNNAMED))
def test_any_other_shape_is_an_unnamed_failure_with_its_text(value, text):
    assert error_status(value) == (0, UNNAMED_CODE, text)
    row = normalize.from_graph(signin("s", 1, status={"errorCode": value}))
    assert (row["success"], row["error_code"], row["error_text"]) == (0, UNNAMED_CODE, text)
    # The store keeps the code as a 64-bit INTEGER: it must fit.
    assert -2 ** 63 <= row["error_code"] < 2 ** 63


def test_portal_csv_codes_take_the_same_rules():
    for value, (success, code, text) in [("0", (1, 0, "")), ("", (1, 0, "")),
                                         ("50126", (0, 50126, "")),
                                         ("Infinity", (0, UNNAMED_CODE, "Infinity")),
                                         ("1e-400", (0, UNNAMED_CODE, "1e-400")),
                                         ("9" * 5000, (0, UNNAMED_CODE, "9" * 100))]:
        row = from_portal_csv({"created": "2026-11-20T08:00:01Z", "id": "c",
                               "error_code": value, "status": ""})
        assert (row["success"], row["error_code"], row["error_text"]) == (success, code, text)


# ---------------------------------------------------------------------------------------
# Through a whole check: the odd codes count, the run never fails, the DD names them
# ---------------------------------------------------------------------------------------

# JSON text spliced in where a record's errorCode is one of these markers: literals that
# Python's json module reads but json.dumps cannot write (1e400 is read as a float inf).
LITERALS = {"@1e400@": "1e400", "@-1e400@": "-1e400", "@NaN@": "NaN",
            "@Infinity@": "Infinity", "@huge@": "99999999999999999999", "@true@": "true",
            "@0.0@": "0.0", "@50126.0@": "50126.0"}
RUN_CODES = [
    # (errorCode as the file has it, failed?, what the DD's error code column shows)
    (0, False, None), ("0", False, None), (" 00 ", False, None), ("+0", False, None),
    ("@0.0@", False, None), ("0.0", False, None), (None, False, None), ("", False, None),
    (MISSING, False, None), ({}, False, None),
    (50126, True, 50126), ("50126", True, 50126), (" 50126 ", True, 50126),
    ("@50126.0@", True, 50126),
    ("0.5", True, "0.5"), ("@0.5@", True, "0.5"), ("1e400", True, "1e400"),
    ("@1e400@", True, "inf"), ("@-1e400@", True, "-inf"), ("Infinity", True, "Infinity"),
    ("-Infinity", True, "-Infinity"), ("NaN", True, "NaN"), ("@NaN@", True, "nan"),
    ("@Infinity@", True, "inf"), ("@huge@", True, "99999999999999999999"),
    ("99999999999999999999", True, "99999999999999999999"), ("abc", True, "abc"),
    ("@true@", True, "true"), ("1e-400", True, "1e-400"), ("9" * 5000, True, "9" * 100),
]
LITERALS["@0.5@"] = "0.5"


def _write_records(path, records):
    text = json.dumps(records)
    for marker, literal in LITERALS.items():
        text = text.replace(json.dumps(marker), literal)
    path.write_text(text)


def _code_records():
    records = []
    for number, (value, _, _) in enumerate(RUN_CODES):
        record = signin("code-%02d" % number, 60 + number * 30,
                        userPrincipalName="user%02d@contoso.example" % number,
                        userId="user-%02d" % number)
        if value is MISSING:
            record["status"] = {}
        else:
            record["status"] = {"errorCode": value, "failureReason": "reason %d" % number}
        records.append(record)
    return records


def test_odd_codes_never_fail_a_run_and_count_exactly(run, tmp_path):
    path = tmp_path / "codes.json"
    _write_records(path, _code_records())
    dd_dir = tmp_path / "dd"
    result = run("signins", "--input", path, *WINDOW, "--dd-dir", dd_dir)
    assert result.code == 0, result.out
    failed = sum(1 for _, bad, _ in RUN_CODES if bad)
    assert result.value("total") == len(RUN_CODES)
    assert result.value("failed") == failed
    assert result.value("successful") == len(RUN_CODES) - failed
    document = json.loads((dd_dir / "file" / "check_entra_signins.json").read_text())
    item = next(m for m in document["measures"] if m["label"] == "failed")
    table = item["table"]
    column = table["columns"].index("error code")
    users = table["columns"].index("user")
    shown = {row[users]: row[column] for row in table["rows"]}
    expected = {"user%02d@contoso.example" % n: code
                for n, (_, bad, code) in enumerate(RUN_CODES) if bad}
    assert table["total"] == failed
    assert shown == expected
    assert shown["user%02d@contoso.example" % [v for v, _, _ in RUN_CODES].index("Infinity")] \
        == "Infinity"
    by_code = item["tables"][0]
    assert by_code["title"] == "Failed sign-ins by error code"
    counts = {row[0]: row[1] for row in by_code["rows"]}
    assert counts["Infinity"] == 1
    assert counts[50126] == 4
    assert sum(counts.values()) == failed


def test_odd_codes_through_graph(run, monkeypatch, tmp_path):
    """The same records from Microsoft Graph: the store keeps them, the next run reads them
    from it (error_text survives the store)."""
    records = [r for r, (value, _, _) in zip(_code_records(), RUN_CODES)
               if not (isinstance(value, str) and value.startswith("@"))]
    failed = sum(1 for r in records if normalize.from_graph(r)["success"] == 0)
    with FakeMicrosoft(records=records, tenant=TENANT, client_id=CLIENT,
                       client_secret=SECRET) as fake:
        use_fake(monkeypatch, fake)
        for attempt in (1, 2):
            result = run("signins", *graph_args(fake, str(tmp_path / "state"), *WINDOW))
            assert result.code == 0, result.out
            assert (result.value("total"), result.value("failed")) == (len(records), failed)
        assert len(fake.graph_requests()) == 1
    document = json.loads((tmp_path / "state" / "dd" / TENANT /
                           "check_entra_signins.json").read_text())
    item = next(m for m in document["measures"] if m["label"] == "failed")
    counts = {row[0]: row[1] for row in item["tables"][0]["rows"]}
    assert counts["Infinity"] == counts["1e400"] == counts["NaN"] == 1


# ---------------------------------------------------------------------------------------
# Several event types on one sign-in
# ---------------------------------------------------------------------------------------

def _typed_records():
    return [
        signin("ni", 60, signInEventTypes=["nonInteractiveUser"]),
        signin("sp", 120, signInEventTypes=["servicePrincipal"], ok=False),
        signin("both", 180, signInEventTypes=["nonInteractiveUser", "servicePrincipal"],
               ok=False),
        signin("mi", 240, signInEventTypes=["managedIdentity"]),
        signin("int", 300, signInEventTypes=["interactiveUser"], isInteractive=True),
        signin("dup", 360, signInEventTypes=["servicePrincipal", "servicePrincipal"]),
    ]


TYPED = [
    (["nonInteractiveUser"], 2, 1),
    (["servicePrincipal"], 3, 2),
    (["nonInteractiveUser", "servicePrincipal"], 4, 2),
    (["servicePrincipal", "nonInteractiveUser"], 4, 2),
    (["managedIdentity", "interactiveUser"], 2, 0),
]


def _types(argv_types):
    return [a for t in argv_types for a in ("--event-type", t)]


@pytest.mark.parametrize("types, total, failed", TYPED, ids=["+".join(t) for t, _, _ in TYPED])
def test_several_event_types_count_for_each_and_once(run, write_json, types, total, failed):
    path = write_json(_typed_records())
    result = run("signins", "--input", path, *WINDOW, *_types(types))
    assert result.code == 0, result.out
    assert (result.value("total"), result.value("failed")) == (total, failed)


def test_event_mask_has_a_bit_per_listed_type():
    from check_entra_noninteractive.window import EVENT_BITS

    rows = {r["id"]: normalize.from_graph(r) for r in _typed_records()}
    assert rows["both"]["event_mask"] == (EVENT_BITS["nonInteractiveUser"]
                                          | EVENT_BITS["servicePrincipal"])
    assert rows["dup"]["event_mask"] == EVENT_BITS["servicePrincipal"]
    # Unknown types are ignored; with none known, isInteractive decides.
    odd = signin("odd", 1, signInEventTypes=["somethingNew", "servicePrincipal"])
    assert normalize.from_graph(odd)["event_mask"] == EVENT_BITS["servicePrincipal"]
    unknown = signin("u", 1, signInEventTypes=["somethingNew"], isInteractive=True)
    assert normalize.from_graph(unknown)["event_mask"] == EVENT_BITS["interactiveUser"]


@pytest.mark.parametrize("types, total, failed", TYPED[:3], ids=["ni", "sp", "both"])
def test_several_event_types_through_graph(run, monkeypatch, tmp_path, types, total, failed):
    """Graph is asked per type or with an OR filter: a sign-in of both types may come
    twice, and still counts once."""
    with FakeMicrosoft(records=_typed_records(), tenant=TENANT, client_id=CLIENT,
                       client_secret=SECRET) as fake:
        use_fake(monkeypatch, fake)
        state = str(tmp_path / "state")
        # A window of one type first, so the store holds rows of the other fetch too.
        for argv_types in (["servicePrincipal"], types):
            result = run("signins", *graph_args(fake, state, *WINDOW, *_types(argv_types)))
            assert result.code == 0, result.out
    assert (result.value("total"), result.value("failed")) == (total, failed)
