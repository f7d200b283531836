"""The lean normalizer gives exactly the rows of the tolerant definitions.

Each column of ``from_graph``, ``from_log_analytics`` and ``from_portal_csv`` first tries
the common case inline (a plain str, a known enum spelling, an object that is already an
object, a whole-number code, a ``...Z`` timestamp, a policy list seen before) and leaves
odd values to the helper that defines the column. Here the rows are pinned to concrete
values for odd inputs (tables), and, for any value hypothesis makes, to those helpers
(``_text``, ``enum``, ``error_status``, ``_obj``, ``_policies``, ``_event_mask``,
``timeutil.parse_time``). The caches behind the fast paths must never make a record's row
depend on the records read before it.
"""

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from check_entra_noninteractive import normalize, timeutil
from check_entra_noninteractive.normalize import UNNAMED_CODE
from check_entra_noninteractive.normalize_loganalytics import from_log_analytics
from check_entra_noninteractive.normalize_portal_csv import from_portal_csv
from check_entra_noninteractive.window import EVENT_BITS
from conftest import signin

NI, SP, MI, INT = (EVENT_BITS[t] for t in ("nonInteractiveUser", "servicePrincipal",
                                          "managedIdentity", "interactiveUser"))
MISSING = object()  # the field is left out of the record


@pytest.fixture(autouse=True)
def cold_caches():
    """Every test starts and ends with empty caches: what it sees is its own doing."""
    for cache in normalize._CACHES:
        cache.clear()
    yield
    for cache in normalize._CACHES:
        cache.clear()


def _with(record, path, value):
    """``record`` with the field at ``path`` (a key, or keys into nested objects) set to
    ``value``, or removed for MISSING."""
    target = record
    for key in path[:-1]:  # nested objects are copied, never changed in place
        inner = target.get(key)
        target[key] = inner = dict(inner) if isinstance(inner, dict) else {}
        target = inner
    if value is MISSING:
        target.pop(path[-1], None)
    else:
        target[path[-1]] = value
    return record


def _graph(path, value, **fields):
    return normalize.from_graph(_with(signin("s-1", 61, **fields), path, value))


def _twice(make):
    """The row of a cold call and of the same call again (the fast path's second look)."""
    first = make()
    return first, make()


# ---------------------------------------------------------------------------------------
# Whole rows
# ---------------------------------------------------------------------------------------

PLAIN_ROW = {
    "id": "s-1", "created": "2026-11-20T08:01:01.000000Z", "event_mask": NI, "success": 1,
    "error_code": 0, "error_text": "", "failure_reason": "", "ip": "192.0.2.1",
    "city": "Berlin", "state": "Berlin", "country": "DE", "app_id": "app-1",
    "app_name": "Outlook", "resource_id": "res-1", "resource_name": "Exchange",
    "user_id": "user-1", "user_upn": "user1@contoso.example", "user_name": "", "sp_id": "",
    "sp_name": "", "client_app": "Mobile Apps and Desktop clients",
    "auth_requirement": "singleFactorAuthentication", "ca_status": "notApplied",
    "ca_policies": "", "risk_level": "none", "risk_state": "none", "risk_events": "",
    "protocol": "", "incoming_token_type": "", "client_credential_type": "", "user_agent": "",
}

# The same sign-in with every field in an odd shape the logs are known to take.
ODD_RECORD = {
    "id": "  s-2 ", "createdDateTime": "2026-11-20T08:00:01.1234567Z",
    "signInEventTypes": '["servicePrincipal", "Managed Identity"]', "isInteractive": "yes",
    "status": '{"errorCode": " 50126 ", "failureReason": " Invalid password "}',
    "ipAddress": 19216801, "location": '{"city": " Lyon ", "state": null, '
                                       '"countryOrRegion": ["FR"]}',
    "appId": {}, "appDisplayName": "\u00a0Outlook\u00a0", "resourceId": None,
    "resourceDisplayName": 5.0, "userId": True, "userPrincipalName": [],
    "userDisplayName": "Ad\u00e8le", "servicePrincipalId": "  ", "servicePrincipalName": False,
    "clientAppUsed": "IMAP4\n", "authenticationRequirement": " Multifactor authentication ",
    "conditionalAccessStatus": "unknownFutureValue",
    "appliedConditionalAccessPolicies": [
        {"id": " p1 ", "displayName": "Require MFA", "result": "Not Applied",
         "enforcedGrantControls": ["Mfa"]},
        "not a policy", None,
        {"id": 7, "displayName": None, "result": "REPORT_ONLY_FAILURE"},
    ],
    "riskLevelDuringSignIn": "HIGH", "riskState": "at_risk", "riskEventTypes_v2": [],
    "riskEventTypes": [" unfamiliarFeatures ", "", None, 3],
    "authenticationProtocol": "ROPC", "incomingTokenType": "Primary Refresh Token",
    "clientCredentialType": None, "userAgent": {"raw": "curl"},
}
ODD_ROW = {
    "id": "s-2", "created": "2026-11-20T08:00:01.123456Z", "event_mask": SP | MI,
    "success": 0, "error_code": 50126, "error_text": "", "failure_reason": "Invalid password",
    "ip": "19216801", "city": "Lyon", "state": "", "country": "", "app_id": "",
    "app_name": "Outlook", "resource_id": "", "resource_name": "5.0", "user_id": "True",
    "user_upn": "", "user_name": "Ad\u00e8le", "sp_id": "", "sp_name": "False",
    "client_app": "IMAP4", "auth_requirement": "multiFactorAuthentication",
    "ca_status": "unknownFutureValue",
    "ca_policies": '[["p1", "Require MFA", "notApplied"], ["7", "", "reportOnlyFailure"]]',
    "risk_level": "high", "risk_state": "atRisk", "risk_events": '["unfamiliarFeatures", "3"]',
    "protocol": "ropc", "incoming_token_type": "primaryRefreshToken",
    "client_credential_type": "", "user_agent": "",
}


def test_a_plain_record_gives_its_row_in_column_order():
    for row in _twice(lambda: normalize.from_graph(signin("s-1", 61))):
        assert row == PLAIN_ROW
        assert tuple(row) == normalize.COLUMNS


def test_a_record_of_odd_shapes_gives_the_tolerant_row():
    for row in _twice(lambda: normalize.from_graph(json.loads(json.dumps(ODD_RECORD)))):
        assert row == ODD_ROW
        assert tuple(row) == normalize.COLUMNS


def test_a_plain_record_after_the_odd_one_is_unchanged():
    normalize.from_graph(json.loads(json.dumps(ODD_RECORD)))
    assert normalize.from_graph(signin("s-1", 61)) == PLAIN_ROW


# ---------------------------------------------------------------------------------------
# Text columns: a plain str is stripped; anything else is what _text makes of it
# ---------------------------------------------------------------------------------------

TEXT_VALUES = [
    ("x", "x"), ("  x \t", "x"), ("\u00a0x\u2028", "x"), ("a b", "a b"), ("", ""), ("  ", ""),
    (None, ""), ({}, ""), ([], ""), ({"a": 1}, ""), (["a"], ""), (5, "5"), (0, "0"),
    (-7, "-7"), (5.0, "5.0"), (-0.0, "-0.0"), (1e400, "inf"), (float("nan"), "nan"),
    (True, "True"), (False, "False"), (2 ** 70, "1180591620717411303424"),
    ("\ud800", "\ud800"), ("Ad\u00e8le \u2603", "Ad\u00e8le \u2603"), (MISSING, ""),
]
GRAPH_TEXT = {
    "failure_reason": ("status", "failureReason"), "ip": ("ipAddress",),
    "city": ("location", "city"), "state": ("location", "state"),
    "country": ("location", "countryOrRegion"), "app_id": ("appId",),
    "app_name": ("appDisplayName",), "resource_id": ("resourceId",),
    "resource_name": ("resourceDisplayName",), "user_id": ("userId",),
    "user_upn": ("userPrincipalName",), "user_name": ("userDisplayName",),
    "sp_id": ("servicePrincipalId",), "sp_name": ("servicePrincipalName",),
    "client_app": ("clientAppUsed",), "user_agent": ("userAgent",),
}


@pytest.mark.parametrize("column", sorted(GRAPH_TEXT))
@pytest.mark.parametrize("value, text", TEXT_VALUES, ids=[repr(v)[:20] for v, _ in TEXT_VALUES])
def test_graph_text_column(column, value, text):
    for row in _twice(lambda: _graph(GRAPH_TEXT[column], value)):
        assert row[column] == text


@pytest.mark.parametrize("value, expected", [
    ("a", "a"), (" a ", "a"), (7, "7"), (True, "True"), ("", None), ("  ", None), (None, None),
    ({}, None), ([], None), (MISSING, None)], ids=repr)
def test_id_or_a_stable_synthetic_one(value, expected):
    first, again = _twice(lambda: _graph(("id",), value))
    assert first["id"] == again["id"]
    if expected is None:
        assert first["id"].startswith("sha1-") and len(first["id"]) == 45
    else:
        assert first["id"] == expected


# ---------------------------------------------------------------------------------------
# Enum columns: both spellings, unknownFutureValue, unknown values kept, non-text
# ---------------------------------------------------------------------------------------

ENUM_VALUES = [
    ("notApplied", "notApplied"), (" Not Applied ", "notApplied"), ("not_applied", "notApplied"),
    ("NOTAPPLIED", "notApplied"), ("unknownFutureValue", "unknownFutureValue"),
    ("Unknown future value", "unknownFutureValue"), ("somethingNew", "somethingNew"),
    (" something New ", "something New"), ("Single-factor authentication",
                                           "singleFactorAuthentication"),
    ("MFA", "multiFactorAuthentication"), ("Primary Refresh Token", "primaryRefreshToken"),
    ("ROPC", "ropc"), ("atRisk", "atRisk"), ("HIGH", "high"), ("", ""), ("   ", ""),
    (None, ""), ({}, ""), ([], ""), (["high"], ""), (1, "1"), (1.0, "1.0"), (True, "True"),
    (MISSING, ""),
]
GRAPH_ENUMS = {
    "auth_requirement": "authenticationRequirement", "ca_status": "conditionalAccessStatus",
    "risk_level": "riskLevelDuringSignIn", "risk_state": "riskState",
    "protocol": "authenticationProtocol", "incoming_token_type": "incomingTokenType",
    "client_credential_type": "clientCredentialType",
}


@pytest.mark.parametrize("column", sorted(GRAPH_ENUMS))
@pytest.mark.parametrize("value, canonical", ENUM_VALUES,
                         ids=[repr(v)[:20] for v, _ in ENUM_VALUES])
def test_graph_enum_column(column, value, canonical):
    for row in _twice(lambda: _graph((GRAPH_ENUMS[column],), value)):
        assert row[column] == canonical


# 1 == 1.0 == True as dictionary keys, but each is its own text.
EQUAL_KEYS = [(1, "1"), (1.0, "1.0"), (True, "True"), ("1", "1"), (" 1 ", "1"),
              ("True", "True"), (0, "0"), (False, "False"), (0.0, "0.0")]


@pytest.mark.parametrize("start", range(len(EQUAL_KEYS)))
def test_equal_keys_of_other_types_are_not_one_cached_value(start):
    for value, text in (EQUAL_KEYS[start:] + EQUAL_KEYS[:start]) * 2:
        assert _graph(("riskState",), value)["risk_state"] == text
        assert _graph(("userId",), value)["user_id"] == text
        row = _graph(("appliedConditionalAccessPolicies",),
                     [{"id": value, "displayName": value, "result": value}])
        assert row["ca_policies"] == json.dumps([[text, text, text]])


# ---------------------------------------------------------------------------------------
# Status and error codes; nested objects as objects, JSON text, or anything else
# ---------------------------------------------------------------------------------------

CODES = [
    (0, (1, 0, "")), (50126, (0, 50126, "")), (-5, (0, -5, "")),
    (2 ** 63 - 1, (0, 2 ** 63 - 1, "")), (-(2 ** 63 - 1), (0, -(2 ** 63 - 1), "")),
    (2 ** 63, (0, UNNAMED_CODE, "9223372036854775808")),
    (-(2 ** 63), (0, UNNAMED_CODE, "-9223372036854775808")),
    (True, (0, UNNAMED_CODE, "true")), (False, (0, UNNAMED_CODE, "false")),
    (0.0, (1, 0, "")), (50126.0, (0, 50126, "")), (0.5, (0, UNNAMED_CODE, "0.5")),
    ("0", (1, 0, "")), (" 50126 ", (0, 50126, "")), ("abc", (0, UNNAMED_CODE, "abc")),
    (None, (1, 0, "")), ({}, (1, 0, "")), ([], (1, 0, "")), (MISSING, (1, 0, "")),
]


@pytest.mark.parametrize("value, expected", CODES, ids=[repr(v)[:24] for v, _ in CODES])
def test_graph_error_code(value, expected):
    for row in _twice(lambda: _graph(("status", "errorCode"), value)):
        assert (row["success"], row["error_code"], row["error_text"]) == expected


STATUSES = [
    ({"errorCode": 50126, "failureReason": " Bad "}, (0, 50126, "Bad")),
    ('{"errorCode": 50126, "failureReason": " Bad "}', (0, 50126, "Bad")),
    ('  {"errorCode": "0"}', (1, 0, "")), ('{"errorCode": 50126', (1, 0, "")),
    ("50126", (1, 0, "")), ('["x"]', (1, 0, "")), ([{"errorCode": 1}], (1, 0, "")),
    (50126, (1, 0, "")), (None, (1, 0, "")), ("", (1, 0, "")), (MISSING, (1, 0, "")),
]


@pytest.mark.parametrize("status, expected", STATUSES, ids=[repr(s)[:30] for s, _ in STATUSES])
def test_graph_status_shapes(status, expected):
    for row in _twice(lambda: _graph(("status",), status)):
        assert (row["success"], row["error_code"], row["failure_reason"]) == expected


LOCATIONS = [
    ({"city": " Lyon ", "state": "ARA", "countryOrRegion": "FR"}, ("Lyon", "ARA", "FR")),
    ('{"city": "Lyon", "countryOrRegion": "FR"}', ("Lyon", "", "FR")),
    ('{"city": "Lyon"', ("", "", "")), ("Lyon, FR", ("", "", "")), (["Lyon"], ("", "", "")),
    ({"city": {"name": "Lyon"}, "state": 69, "countryOrRegion": None}, ("", "69", "")),
    (None, ("", "", "")), ({}, ("", "", "")), (MISSING, ("", "", "")),
]


@pytest.mark.parametrize("location, expected", LOCATIONS,
                         ids=[repr(v)[:30] for v, _ in LOCATIONS])
def test_graph_location_shapes(location, expected):
    for row in _twice(lambda: _graph(("location",), location)):
        assert (row["city"], row["state"], row["country"]) == expected


# ---------------------------------------------------------------------------------------
# Timestamps: the digits of the usual form, parse_time for everything else
# ---------------------------------------------------------------------------------------

TIMES = [
    ("2026-11-20T08:00:01Z", "2026-11-20T08:00:01.000000Z"),
    ("2026-11-20T08:00:01.5Z", "2026-11-20T08:00:01.500000Z"),
    ("2026-11-20T08:00:01.123456Z", "2026-11-20T08:00:01.123456Z"),
    ("2026-11-20T08:00:01.1234567Z", "2026-11-20T08:00:01.123456Z"),
    ("2026-11-20T08:00:01.123456789Z", "2026-11-20T08:00:01.123456Z"),
    ("2026-11-20T23:59:59Z", "2026-11-20T23:59:59.000000Z"),
    ("2024-02-29T00:00:00Z", "2024-02-29T00:00:00.000000Z"),
    ("1000-01-01T00:00:00Z", "1000-01-01T00:00:00.000000Z"),
    ("9999-12-31T23:59:59.999999Z", "9999-12-31T23:59:59.999999Z"),
    ("2026-11-20t08:00:01z", "2026-11-20T08:00:01.000000Z"),
    (" 2026-11-20T08:00:01Z ", "2026-11-20T08:00:01.000000Z"),
    ("2026-11-20 08:00:01", "2026-11-20T08:00:01.000000Z"),
    ("2026-11-20T08:00Z", "2026-11-20T08:00:00.000000Z"),
    ("2026-11-20T08:00:01,5Z", "2026-11-20T08:00:01.500000Z"),
    ("2026-11-20T08:00:01+02:00", "2026-11-20T06:00:01.000000Z"),
    ("2026-11-20T08:00:01.25-0130", "2026-11-20T09:30:01.250000Z"),
    ("2026-11-20T08:00:01 UTC", "2026-11-20T08:00:01.000000Z"),
    ("11/20/2026, 1:05:09 PM", "2026-11-20T13:05:09.000000Z"),
]
BAD_TIMES = ["2023-02-29T00:00:00Z", "2026-11-31T08:00:00Z", "2026-13-01T00:00:00Z",
             "2026-00-10T00:00:00Z", "2026-11-20T24:00:00Z", "2026-11-20T23:60:00Z",
             "2026-11-20T23:59:60Z", "0000-01-01T00:00:00Z", "2026-11-20T08:00:01.Z",
             "2026-11-20T08:00:01.1234567890Z", "2026-11-20", "yesterday", 5, 2.5,
             ["2026-11-20T08:00:01Z"], {"at": "2026-11-20T08:00:01Z"}]


@pytest.mark.parametrize("value, stored", TIMES, ids=[v for v, _ in TIMES])
def test_timestamp_forms(value, stored):
    for row in _twice(lambda: _graph(("createdDateTime",), value)):
        assert row["created"] == stored
    assert normalize.stored_time(value) == stored


@pytest.mark.parametrize("value", BAD_TIMES, ids=repr)
def test_impossible_timestamps_fail_even_after_their_date_was_seen(value):
    # Valid times on the same days first, so the dates are known to the fast path.
    for day in ("2023-02-28", "2026-11-30", "2026-11-20", "2026-12-01", "0001-01-01"):
        normalize.stored_time(day + "T08:00:01Z")
    for _ in range(2):
        with pytest.raises(ValueError, match="timestamp|out of range|must be in"):
            _graph(("createdDateTime",), value)


def test_a_missing_or_empty_time_and_a_non_object_are_errors():
    for value in (MISSING, None, "", 0, [], {}):
        with pytest.raises(ValueError, match="without createdDateTime"):
            _graph(("createdDateTime",), value)
    for record in (5, "x", None, [signin("a", 1)]):
        with pytest.raises(ValueError, match="must be a JSON object, not "):
            normalize.from_graph(record)


# ---------------------------------------------------------------------------------------
# Event types, policies, risk events
# ---------------------------------------------------------------------------------------

EVENTS = [
    (["nonInteractiveUser"], False, NI), (["servicePrincipal"], False, SP),
    (["managedIdentity"], False, MI), (["interactiveUser"], False, INT),
    ([" servicePrincipal "], False, SP), (["Service Principal"], False, SP),
    (["managedIdentity", "nonInteractiveUser"], False, MI | NI),
    (["servicePrincipal", "servicePrincipal"], False, SP), (["somethingNew"], False, NI),
    (["somethingNew"], True, INT), ([], True, INT), ([], False, NI), ([], "true", NI),
    (None, True, INT), (MISSING, False, NI), ("servicePrincipal", False, NI),
    ('["servicePrincipal"]', False, SP), ('["servicePrincipal"', True, INT),
    ([5], True, INT), ([{}], False, NI), ([None, "managedIdentity"], False, MI),
    ({"servicePrincipal": 1}, False, NI),
]


@pytest.mark.parametrize("types, interactive, mask", EVENTS,
                         ids=["%r/%r" % (t, i) for t, i, _ in EVENTS])
def test_event_types(types, interactive, mask):
    for row in _twice(lambda: _graph(("signInEventTypes",), types, isInteractive=interactive)):
        assert row["event_mask"] == mask


POLICIES = [
    ([{"id": "p1", "displayName": "Require MFA", "result": "success"}],
     '[["p1", "Require MFA", "success"]]'),
    ([{"id": " p1 ", "displayName": " MFA ", "result": "Not Applied", "conditions": [1]}],
     '[["p1", "MFA", "notApplied"]]'),
    ([{"id": "p1"}], '[["p1", "", ""]]'),
    ([{"id": "p1", "displayName": None, "result": None}], '[["p1", "", ""]]'),
    ([{"id": {"x": 1}, "displayName": ["A"], "result": "failure"}], '[["", "", "failure"]]'),
    (["p1", 5, None, [], {"id": "p2", "displayName": "B", "result": "failure"}],
     '[["p2", "B", "failure"]]'),
    ([{"id": 1, "displayName": 2.5, "result": True}], '[["1", "2.5", "True"]]'),
    ([{"id": "p1", "displayName": "Z\u00fcrich \u2603", "result": "success"}],
     '[["p1", "Z\\u00fcrich \\u2603", "success"]]'),
    ('[{"id": "p1", "displayName": "A", "result": "success"}]', '[["p1", "A", "success"]]'),
    ('  [{"id": "p1"}]', '[["p1", "", ""]]'), ('[{"id": "p1"', ""), ("p1", ""),
    ([], ""), (["x"], ""), (None, ""), ({}, ""), ({"id": "p1"}, ""), ("", ""), (5, ""),
    (MISSING, ""),
]


@pytest.mark.parametrize("value, text", POLICIES, ids=[repr(v)[:30] for v, _ in POLICIES])
def test_applied_policies(value, text):
    for row in _twice(lambda: _graph(("appliedConditionalAccessPolicies",), value)):
        assert row["ca_policies"] == text


def test_policies_seen_before_with_other_details_give_their_own_row():
    base = {"id": "p1", "displayName": "A", "result": "success"}
    first = _graph(("appliedConditionalAccessPolicies",), [dict(base, extra=1)])
    assert first["ca_policies"] == '[["p1", "A", "success"]]'
    for changed, text in [({"result": "failure"}, '[["p1", "A", "failure"]]'),
                          ({"displayName": " A"}, '[["p1", "A", "success"]]'),
                          ({"id": "p2"}, '[["p2", "A", "success"]]')]:
        row = _graph(("appliedConditionalAccessPolicies",), [dict(base, **changed)])
        assert row["ca_policies"] == text
    two = _graph(("appliedConditionalAccessPolicies",), [base, base])
    assert two["ca_policies"] == '[["p1", "A", "success"], ["p1", "A", "success"]]'


RISK_EVENTS = [
    ([], None, ""), (None, None, ""), (MISSING, MISSING, ""),
    (["unfamiliarFeatures"], None, '["unfamiliarFeatures"]'),
    ([" a ", "", None, 5, {}, []], None, '["a", "5"]'), ([], ["legacy"], '["legacy"]'),
    (["v2"], ["legacy"], '["v2"]'), ([""], ["legacy"], '["legacy"]'),
    ('["x"]', None, '["x"]'), ("x", None, ""), (0, ["y"], '["y"]'), ({}, [], ""),
    (["\u00e9"], None, '["\\u00e9"]'),
]


@pytest.mark.parametrize("v2, v1, text", RISK_EVENTS, ids=["%r/%r" % (a, b) for a, b, _ in
                                                           RISK_EVENTS])
def test_risk_events(v2, v1, text):
    def make():
        record = _with(_with(signin("s", 1), ("riskEventTypes_v2",), v2),
                       ("riskEventTypes",), v1)
        return normalize.from_graph(record)

    for row in _twice(make):
        assert row["risk_events"] == text


# ---------------------------------------------------------------------------------------
# Log Analytics rows and the portal's CSV
# ---------------------------------------------------------------------------------------

LA_BASE = {
    "Id": "la-1", "TimeGenerated": "2026-11-20T08:00:01.1234567Z", "ResultType": "0",
    "Type": "AADNonInteractiveUserSignInLogs", "IPAddress": "192.0.2.9", "AppId": "app-1",
    "AppDisplayName": "Outlook", "ResourceIdentity": "res-1", "ResourceDisplayName": "EXO",
    "UserId": "u-1", "UserPrincipalName": "u1@contoso.example", "UserDisplayName": "U One",
    "ClientAppUsed": "Browser", "AuthenticationRequirement": "singleFactorAuthentication",
    "ConditionalAccessStatus": "notApplied", "RiskLevelDuringSignIn": "none",
    "RiskState": "none", "Status": '{"errorCode": 0, "additionalDetails": "MFA"}',
    "LocationDetails": '{"city": "Paris", "state": "IDF", "countryOrRegion": "FR"}',
    "ConditionalAccessPolicies": "[]", "RiskEventTypes_V2": "[]",
}
LA_ROW = {
    "id": "la-1", "created": "2026-11-20T08:00:01.123456Z", "event_mask": NI, "success": 1,
    "error_code": 0, "error_text": "", "failure_reason": "", "ip": "192.0.2.9",
    "city": "Paris", "state": "IDF", "country": "FR", "app_id": "app-1", "app_name": "Outlook",
    "resource_id": "res-1", "resource_name": "EXO", "user_id": "u-1",
    "user_upn": "u1@contoso.example", "user_name": "U One", "sp_id": "", "sp_name": "",
    "client_app": "Browser", "auth_requirement": "singleFactorAuthentication",
    "ca_status": "notApplied", "ca_policies": "", "risk_level": "none", "risk_state": "none",
    "risk_events": "", "protocol": "", "incoming_token_type": "",
    "client_credential_type": "", "user_agent": "",
}
LA_CASES = [
    ({}, {}),
    ({"ResultType": "50126", "Status": '{"errorCode": 50126, "failureReason": " Bad "}'},
     {"success": 0, "error_code": 50126, "failure_reason": "Bad"}),
    ({"ResultType": " 50126 "}, {"success": 0, "error_code": 50126}),
    ({"ResultType": 50126}, {"success": 0, "error_code": 50126}),
    ({"ResultType": "", "Status": {"errorCode": 70044}}, {"success": 0, "error_code": 70044}),
    ({"ResultType": None, "Status": '{"errorCode": "abc"}'},
     {"success": 0, "error_code": UNNAMED_CODE, "error_text": "abc"}),
    ({"ResultType": "0", "Status": "{not json"}, {}),
    ({"ResultType": "1e400"}, {"success": 0, "error_code": UNNAMED_CODE, "error_text": "1e400"}),
    ({"ResultType": "50126", "ResultDescription": " Invalid password "},
     {"success": 0, "error_code": 50126, "failure_reason": "Invalid password"}),
    ({"LocationDetails": {"city": " Nice ", "countryOrRegion": "FR"}},
     {"city": "Nice", "state": "", "country": "FR"}),
    ({"LocationDetails": "Paris"}, {"city": "", "state": "", "country": ""}),
    ({"Type": " SigninLogs "}, {"event_mask": INT}),
    ({"Type": "aadserviceprincipalsigninlogs", "AuthenticationRequirement": None},
     {"event_mask": SP, "auth_requirement": "singleFactorAuthentication"}),
    ({"Type": "AADManagedIdentitySignInLogs", "AuthenticationRequirement": MISSING},
     {"event_mask": MI, "auth_requirement": "singleFactorAuthentication"}),
    ({"Type": "AADManagedIdentitySignInLogs", "AuthenticationRequirement": ""},
     {"event_mask": MI, "auth_requirement": ""}),
    ({"Type": "SomethingElse", "AuthenticationRequirement": None},
     {"event_mask": NI, "auth_requirement": ""}),
    ({"AppDisplayName": "", "ServicePrincipalName": " svc "},
     {"app_name": "svc", "sp_name": "svc"}),
    ({"ConditionalAccessPolicies": '[{"id": "p", "displayName": "D", "result": "Failure"}]'},
     {"ca_policies": '[["p", "D", "failure"]]'}),
    ({"ConditionalAccessPolicies": [{"id": "p", "displayName": "D", "result": "success"}]},
     {"ca_policies": '[["p", "D", "success"]]'}),
    ({"RiskEventTypes_V2": '["unfamiliarFeatures"]'},
     {"risk_events": '["unfamiliarFeatures"]'}),
    ({"RiskEventTypes_V2": ["x", " "]}, {"risk_events": '["x"]'}),
    ({"ConditionalAccessStatus": "Not Applied", "RiskState": "at risk"},
     {"ca_status": "notApplied", "risk_state": "atRisk"}),
    ({"TimeGenerated": "2026-11-20T08:01:00.0000000Z"},
     {"created": "2026-11-20T08:01:00.000000Z"}),
]


@pytest.mark.parametrize("changes, expected", LA_CASES, ids=[repr(c)[:40] for c, _ in LA_CASES])
def test_log_analytics_rows(changes, expected):
    def make():
        record = dict(LA_BASE)
        for key, value in changes.items():
            _with(record, (key,), value)
        return from_log_analytics(record)

    for row in _twice(make):
        assert row == dict(LA_ROW, **expected)
        assert tuple(row) == normalize.COLUMNS


def test_log_analytics_row_without_id_or_time():
    first, again = _twice(lambda: from_log_analytics(dict(LA_BASE, Id=" ")))
    assert first["id"] == again["id"] and first["id"].startswith("sha1-")
    assert first["id"] != from_log_analytics(dict(LA_BASE, Id=None, IPAddress="x"))["id"]
    for value in (None, ""):
        with pytest.raises(ValueError, match="without TimeGenerated"):
            from_log_analytics(dict(LA_BASE, TimeGenerated=value))


CSV_BASE = {"created": "2026-11-20T08:00:05Z", "id": "req-1", "status": "Success",
            "error_code": "0", "location": "Berlin, Berlin, DE", "client_app": "Browser",
            "auth_requirement": "Single-factor authentication", "ca_status": "Not Applied",
            "protocol": "", "incoming_token_type": "Primary Refresh Token"}
CSV_ROW = dict(
    PLAIN_ROW, id="req-1", created="2026-11-20T08:00:05.000000Z", ip="", app_id="",
    app_name="", resource_id="", resource_name="", user_id="", user_upn="", client_app="Browser",
    risk_level="", risk_state="", incoming_token_type="primaryRefreshToken")
CSV_CASES = [
    ({}, {}),
    ({"error_code": " 50126 ", "status": "Failure"}, {"success": 0, "error_code": 50126}),
    ({"error_code": "", "status": " failure "}, {"success": 0, "error_code": UNNAMED_CODE}),
    ({"error_code": "", "status": "Interrupted"}, {"success": 0, "error_code": UNNAMED_CODE}),
    ({"error_code": "  ", "status": "Success"}, {}),
    ({"error_code": "Infinity"}, {"success": 0, "error_code": UNNAMED_CODE,
                                  "error_text": "Infinity"}),
    ({"location": "Paris, Ile-de-France, Greater, FR"},
     {"city": "Paris, Ile-de-France", "state": "Greater", "country": "FR"}),
    ({"location": " Paris ,FR"}, {"city": "Paris", "state": "", "country": "FR"}),
    ({"location": "FR"}, {"city": "", "state": "", "country": "FR"}),
    ({"location": ""}, {"city": "", "state": "", "country": ""}),
    ({"event_type": "Service principal"}, {"event_mask": SP}),
    ({"event_type": "nonInteractiveUser"}, {"event_mask": NI}),
    ({"event_type": "interactive user"}, {"event_mask": INT}),
    ({"event_type": "bogus"}, {"event_mask": NI}),
    ({"created": "11/20/2026, 8:30:00 AM"}, {"created": "2026-11-20T08:30:00.000000Z"}),
    ({"created": " 2026-11-20 08:00:00 "}, {"created": "2026-11-20T08:00:00.000000Z"}),
    ({"auth_requirement": "Multifactor authentication", "protocol": "ROPC",
      "risk_level": "High", "risk_state": "At risk"},
     {"auth_requirement": "multiFactorAuthentication", "protocol": "ropc",
      "risk_level": "high", "risk_state": "atRisk"}),
    ({"ip": " 198.51.100.7 ", "user_agent": "curl/8 "}, {"ip": "198.51.100.7",
                                                       "user_agent": "curl/8"}),
]


@pytest.mark.parametrize("changes, expected", CSV_CASES,
                         ids=[repr(c)[:40] for c, _ in CSV_CASES])
def test_portal_csv_rows(changes, expected):
    for row in _twice(lambda: from_portal_csv(dict(CSV_BASE, **changes))):
        assert row == dict(CSV_ROW, **expected)
        assert tuple(row) == normalize.COLUMNS


def test_portal_csv_row_without_date_or_id():
    for value in ("", "  ", None):
        with pytest.raises(ValueError, match="CSV row without a date"):
            from_portal_csv(dict(CSV_BASE, created=value))
    row = from_portal_csv(dict(CSV_BASE, id=""))
    assert row["id"].startswith("sha1-")
    with pytest.raises(ValueError, match="day is out of range"):
        from_portal_csv(dict(CSV_BASE, created="2026-02-30T00:00:00Z"))


# ---------------------------------------------------------------------------------------
# Properties: any value in any column gives what the column's defining helper gives, and
# no cache makes a row depend on the rows before it
# ---------------------------------------------------------------------------------------

_TEXT = st.text(alphabet=list(" \t\n\r\u00a0\u2028abXY_-.,:019{}[]\"\u00e9\u2603\ud800"),
                max_size=10)
_WORDS = st.sampled_from([
    "notApplied", "Not Applied", " not_applied ", "success", "SUCCESS", "failure",
    "unknownFutureValue", "mfa", "Single-factor authentication", "none", "None", "high",
    "nonInteractiveUser", "servicePrincipal", "Managed Identity", "0", " 00 ", "50126",
    "50126.0", "1e3", "0.5", "Infinity", "NaN", "2026-11-20T08:00:01Z",
    "2026-11-20T08:00:01.1234567Z", "2026-02-30T00:00:00Z", "2026-11-20T24:00:00Z",
    "11/20/2026, 8:30:00 AM", '{"errorCode": 50126}', '["servicePrincipal"]', "[", "{"])
_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-2 ** 70, 2 ** 70),
                     st.sampled_from([0, 1, -1, 2 ** 63 - 1, 2 ** 63, -(2 ** 63)]),
                     st.floats(), _TEXT, _WORDS)
_VALUES = st.recursive(_SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=3),
    st.dictionaries(st.sampled_from(["id", "displayName", "result", "errorCode",
                                     "failureReason", "city", "state", "countryOrRegion",
                                     "x"]), inner, max_size=4)), max_leaves=6)
ANY = st.one_of(_VALUES, _VALUES.map(lambda v: json.dumps(v)))
POLICY_LISTS = st.lists(st.one_of(st.fixed_dictionaries(
    {"id": _SCALARS, "displayName": _SCALARS, "result": st.one_of(_SCALARS, _WORDS)}),
    _VALUES), max_size=3)
FAST = settings(max_examples=150, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])


def _stored_or_error(value):
    try:
        return timeutil.to_store(timeutil.parse_time(value))
    except ValueError:
        return ValueError


@FAST
@given(column=st.sampled_from(sorted(GRAPH_TEXT)), value=ANY)
def test_any_value_in_a_text_column_is_what_text_makes_of_it(column, value):
    for row in _twice(lambda: _graph(GRAPH_TEXT[column], value)):
        assert row[column] == normalize._text(value)


@FAST
@given(column=st.sampled_from(sorted(GRAPH_ENUMS)), value=st.one_of(ANY, _WORDS))
def test_any_value_in_an_enum_column_is_what_enum_makes_of_it(column, value):
    for row in _twice(lambda: _graph((GRAPH_ENUMS[column],), value)):
        assert row[column] == normalize.enum(value)


@FAST
@given(code=ANY, status_as_text=st.booleans())
def test_any_error_code_is_what_error_status_makes_of_it(code, status_as_text):
    status = {"errorCode": code}
    if status_as_text:
        status = json.dumps(status)
        code = json.loads(status)["errorCode"]
    for row in _twice(lambda: _graph(("status",), status)):
        assert (row["success"], row["error_code"], row["error_text"]) == \
            normalize.error_status(code)


@FAST
@given(value=st.one_of(ANY, POLICY_LISTS, POLICY_LISTS.map(json.dumps)))
def test_any_policy_list_is_what_policies_makes_of_it(value):
    for row in _twice(lambda: _graph(("appliedConditionalAccessPolicies",), value)):
        assert row["ca_policies"] == normalize._policies(value)


@FAST
@given(value=st.one_of(_WORDS, _TEXT, ANY, st.builds(
    "{:04d}-{:02d}-{:02d}T{:02d}:{:02d}:{:02d}{}Z".format,
    st.integers(0, 10000), st.integers(0, 13), st.integers(0, 32), st.integers(0, 25),
    st.integers(0, 61), st.integers(0, 61),
    st.one_of(st.just(""), st.from_regex(r"\.[0-9]{1,10}", fullmatch=True)))))
def test_any_timestamp_is_what_parse_time_makes_of_it(value):
    expected = _stored_or_error(value)
    for _ in range(2):
        try:
            got = normalize.stored_time(value)
        except ValueError:
            got = ValueError
        assert got == expected


@FAST
@given(types=st.one_of(ANY, st.lists(st.one_of(_WORDS, _SCALARS), max_size=3)),
       interactive=st.one_of(st.booleans(), st.none(), _WORDS))
def test_any_event_types_are_what_event_mask_makes_of_them(types, interactive):
    record = signin("s", 1, signInEventTypes=types, isInteractive=interactive)
    for row in _twice(lambda: normalize.from_graph(record)):
        assert row["event_mask"] == normalize._event_mask(record)


_FIELDS = st.sampled_from(
    [path for path in GRAPH_TEXT.values()] + [(key,) for key in GRAPH_ENUMS.values()]
    + [("status",), ("status", "errorCode"), ("location",), ("createdDateTime",),
       ("signInEventTypes",), ("appliedConditionalAccessPolicies",), ("riskEventTypes_v2",),
       ("id",)])
_RECORDS = st.lists(st.dictionaries(_FIELDS, st.one_of(ANY, _WORDS, POLICY_LISTS),
                                    max_size=4), min_size=1, max_size=6)


def _rows(numbered, cold):
    """The row (or the error) of each (number, field changes) record, in order."""
    rows = []
    for number, changes in numbered:
        if cold:
            for cache in normalize._CACHES:
                cache.clear()
        record = signin("r%d" % number, number)
        for path, value in changes.items():
            _with(record, path, value)
        try:
            rows.append(normalize.from_graph(record))
        except ValueError as exc:
            rows.append(str(exc))
    return rows


@FAST
@given(changes_list=_RECORDS)
def test_rows_do_not_depend_on_the_records_read_before(changes_list):
    numbered = list(enumerate(changes_list))
    cold = _rows(numbered, cold=True)
    assert _rows(numbered, cold=False) == cold
    assert _rows(numbered, cold=False) == cold  # every cache warm now
    assert _rows(numbered[::-1], cold=False)[::-1] == cold
