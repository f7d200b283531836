"""Tests of the fake Azure Resource Manager and Log Analytics (tests/fake_microsoft/
loganalytics.py, kql.py, tables.py): they keep the product's Log Analytics tests honest
by pinning the shapes, the documented columns, the range filtering and the failures the
real services produce."""

import json

import pytest
import requests

from fake_microsoft import FakeMicrosoft
from fake_microsoft.tables import MANAGED_IDENTITY, NONINTERACTIVE, SCHEMAS, SERVICE_PRINCIPAL
from test_fake import HERE, clean_environment, signin, token


SUB = "5ub5c41b-0000-0000-0000-000000000001"
WS_A = "aaaaaaaa-0000-0000-0000-00000000000a"   # all three tables, every record
WS_B = "bbbbbbbb-0000-0000-0000-00000000000b"   # the non-interactive table, id-00 only
RECORDS = [
    signin(0, 0),
    signin(1, 1, status={"errorCode": 50126, "failureReason": "Invalid password."},
           location={"city": "Berlin", "countryOrRegion": "DE"}),
    signin(2, 2, types=("servicePrincipal",), servicePrincipalName="robot"),
    signin(3, 3),
    signin(4, 9),
]
WINDOW = "2026-11-20T08:00:00Z/2026-11-20T09:00:00Z"


@pytest.fixture(autouse=True)
def hermetic_env(monkeypatch):
    clean_environment(monkeypatch)


def serve(**options):
    return FakeMicrosoft(records=RECORDS, workspaces=[
        {"name": "ws-a", "customer_id": WS_A, "subscription": SUB, "resource_group": "rg1"},
        {"name": "ws-b", "customer_id": WS_B, "subscription": SUB, "resource_group": "rg2",
         "tables": [NONINTERACTIVE], "records": ["id-00"], "retention_days": 90}],
        diagnostic_settings=[{"name": "to-la", "workspace": "ws-a", "storage": True, "logs": {
            "NonInteractiveUserSignInLogs": True, "SignInLogs": False}}], **options)


@pytest.fixture
def monitor():
    with serve() as f:
        yield f


def bearer(fake, scope):
    return {"Authorization": "Bearer " + token(fake, scope)}


def arm_get(fake, path, api_version="2022-10-01", scope=None):
    params = {"api-version": api_version} if api_version else {}
    return requests.get(fake.management_url + path, params=params, verify=fake.ca_bundle,
                        headers=bearer(fake, scope or fake.management_url + "/.default"),
                        timeout=5)


def query(fake, kql, timespan=WINDOW, workspace=WS_A, headers=None):
    if headers is None:
        headers = bearer(fake, fake.log_analytics_scope)
    return requests.post("%s/v1/workspaces/%s/query" % (fake.log_analytics_url, workspace),
                         json={"query": kql, "timespan": timespan}, headers=headers,
                         verify=fake.ca_bundle, timeout=5)


def leg(table, columns="Id", start="08:00:00", end="08:05:00"):
    return ("(%s\n| where TimeGenerated >= datetime(2026-11-20T%sZ) and TimeGenerated < "
            "datetime(2026-11-20T%sZ)\n| project %s)" % (table, start, end, columns))


def union(*legs, fuzzy=True):
    return "union %s\n%s" % ("isfuzzy=true" if fuzzy else "", ",\n".join(legs))


def rows(resp):
    assert resp.status_code == 200, resp.text
    table = resp.json()["tables"][0]
    names = [c["name"] for c in table["columns"]]
    return [dict(zip(names, row)) for row in table["rows"]]


def la_ids(resp):
    return sorted(r["Id"] for r in rows(resp))


WS_A_ID = ("/subscriptions/%s/resourceGroups/rg1/providers/Microsoft.OperationalInsights/"
           "workspaces/ws-a" % SUB)


def test_aadiam_diagnostic_settings_shape(monitor):
    resp = arm_get(monitor, "/providers/microsoft.aadiam/diagnosticSettings", "2017-04-01")
    assert resp.status_code == 200, resp.text
    [setting] = resp.json()["value"]
    assert (setting["id"], setting["type"], setting["name"]) == (
        "/providers/microsoft.aadiam/diagnosticSettings/to-la",
        "Microsoft.AADIAM/diagnosticSettings", "to-la")
    props = setting["properties"]
    assert props["workspaceId"] == WS_A_ID
    assert props["storageAccountId"] == (
        "/subscriptions/%s/resourceGroups/rg-logs/providers/Microsoft.Storage/"
        "storageAccounts/logstola" % SUB)
    assert props["eventHubAuthorizationRuleId"] is None
    assert [(log["category"], log["enabled"]) for log in props["logs"]] == [
        ("NonInteractiveUserSignInLogs", True), ("SignInLogs", False)]
    preview = arm_get(monitor, "/providers/microsoft.aadiam/diagnosticSettings",
                      "2017-04-01-preview")
    assert preview.json() == resp.json()
    for version, status, code in ((None, 400, "MissingApiVersionParameter"),
                                  ("2021-05-01", 400, "NoRegisteredProviderFound")):
        bad = arm_get(monitor, "/providers/microsoft.aadiam/diagnosticSettings", version)
        assert (bad.status_code, bad.json()["error"]["code"]) == (status, code)


def test_workspaces_resolve_and_list(monitor):
    # Azure's ids come in varying case: lookups ignore it.
    resp = arm_get(monitor, WS_A_ID.replace("resourceGroups", "resourcegroups").lower())
    assert resp.status_code == 200, resp.text
    assert (resp.json()["id"], resp.json()["properties"]["customerId"],
            resp.json()["properties"]["retentionInDays"]) == (WS_A_ID, WS_A, 30)
    missing = arm_get(monitor, WS_A_ID.replace("ws-a", "ws-x"))
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "ResourceNotFound")
    assert "'Microsoft.OperationalInsights/workspaces/ws-x'" in missing.json()["error"]["message"]

    subs = arm_get(monitor, "/subscriptions", "2022-12-01").json()["value"]
    assert [(s["id"], s["subscriptionId"], s["state"]) for s in subs] == [
        ("/subscriptions/" + SUB, SUB, "Enabled")]
    listed = arm_get(monitor, "/subscriptions/%s/providers/Microsoft.OperationalInsights/"
                     "workspaces" % SUB).json()["value"]
    assert [(w["name"], w["properties"]["customerId"]) for w in listed] == [
        ("ws-a", WS_A), ("ws-b", WS_B)]
    assert [e.kind for e in monitor.requests() if e.kind != "token"] == ["arm"] * 4


def test_query_returns_the_rows_in_range_with_projected_columns(monitor):
    columns = ("Id, TimeGenerated, Type, ResultType = tostring(ResultType), "
               "Status = tostring(Status), IPAddress, LocationDetails, IsInteractive")
    resp = query(monitor, union(leg(NONINTERACTIVE, columns)))
    assert [(c["name"], c["type"]) for c in resp.json()["tables"][0]["columns"]] == [
        ("Id", "string"), ("TimeGenerated", "datetime"), ("Type", "string"),
        ("ResultType", "string"), ("Status", "string"), ("IPAddress", "string"),
        ("LocationDetails", "string"), ("IsInteractive", "bool")]
    # id-02 is a service principal's, id-04 (08:09) is outside the where bounds
    assert la_ids(resp) == ["id-00", "id-01", "id-03"]
    row = next(r for r in rows(resp) if r["Id"] == "id-01")
    assert (row["TimeGenerated"], row["Type"], row["ResultType"], row["IPAddress"],
            row["IsInteractive"]) == ("2026-11-20T08:01:00.0000000Z", NONINTERACTIVE, "50126",
                                      "", False)
    # JSON held in string columns, as the non-interactive table stores it
    assert json.loads(row["Status"]) == RECORDS[1]["status"]
    assert json.loads(row["LocationDetails"]) == RECORDS[1]["location"]

    # start inclusive, end exclusive; the timespan narrows the where bounds further
    assert la_ids(query(monitor, union(leg(NONINTERACTIVE, end="08:03:00")))) == [
        "id-00", "id-01"]
    assert la_ids(query(monitor, union(leg(NONINTERACTIVE)),
                        timespan="2026-11-20T08:00:30Z/2026-11-20T08:02:30Z")) == ["id-01"]
    assert monitor.count(kind="loganalytics") == 3


def test_union_of_two_tables(monitor):
    kql = union(leg(NONINTERACTIVE, "Id, UserPrincipalName, Type"),
                leg(SERVICE_PRINCIPAL, "Id, Type, ServicePrincipalName"))
    resp = query(monitor, kql)
    assert [c["name"] for c in resp.json()["tables"][0]["columns"]] == [
        "Id", "UserPrincipalName", "Type", "ServicePrincipalName"]
    by_id = {r["Id"]: r for r in rows(resp)}
    assert sorted(by_id) == ["id-00", "id-01", "id-02", "id-03"]
    assert by_id["id-02"] == {"Id": "id-02", "UserPrincipalName": None,
                              "Type": SERVICE_PRINCIPAL, "ServicePrincipalName": "robot"}
    assert by_id["id-00"]["ServicePrincipalName"] is None
    # no promised order (not by time), but the same answer every time
    order = [r["Id"] for r in rows(resp)]
    assert order != sorted(order)
    assert [r["Id"] for r in rows(query(monitor, kql))] == order


@pytest.mark.parametrize("workspace, kql, status, code, message", [
    # ws-b has only the non-interactive table: isfuzzy skips the missing one
    (WS_B, union(leg(NONINTERACTIVE), leg(SERVICE_PRINCIPAL)), 200, None, None),
    (WS_B, union(leg(SERVICE_PRINCIPAL), leg(MANAGED_IDENTITY)), 400, "SemanticError",
     "'union' operator: Failed to resolve table expression named '%s'" % SERVICE_PRINCIPAL),
    (WS_B, union(leg(NONINTERACTIVE), leg(SERVICE_PRINCIPAL), fuzzy=False), 400,
     "SemanticError", "Failed to resolve table expression named '%s'" % SERVICE_PRINCIPAL),
    # the service principal table has no user columns
    (WS_A, union(leg(SERVICE_PRINCIPAL, "Id, UserPrincipalName")), 400, "SemanticError",
     "Failed to resolve scalar expression named 'UserPrincipalName'"),
    (WS_A, union(leg(NONINTERACTIVE, "Id\n| take 5")), 400, "SyntaxError",
     "The fake does not understand the stage '| take 5'"),
    ("cccccccc-0000-0000-0000-00000000000c", union(leg(NONINTERACTIVE)), 404, None,
     "The workspace could not be found"),
])
def test_missing_tables_and_queries_the_fake_cannot_answer(monitor, workspace, kql, status,
                                                           code, message):
    resp = query(monitor, kql, workspace=workspace)
    assert resp.status_code == status, resp.text
    if status == 200:
        assert la_ids(resp) == ["id-00"]   # ws-b holds only id-00
        return
    error = resp.json()["error"]
    if code is not None:
        assert (error["code"], error["innererror"]["code"]) == ("BadArgumentError", code)
        error = error["innererror"]["innererror"]
    assert message in error["message"]


def test_tables_have_the_documented_columns():
    # tests/kql/tables.json is the reviewed record of Microsoft's table references that
    # the KQL check uses; the fake must not accept or refuse other columns.
    documented = json.loads((HERE / "kql" / "tables.json").read_text())
    assert sorted(SCHEMAS) == sorted(t for t in documented if not t.startswith("_"))
    for table, schema in SCHEMAS.items():
        assert schema == {c: t for c, t in documented[table].items() if not c.startswith("_")}


@pytest.mark.parametrize("row_limit, kept", [(2, 2), (3, 3)])
def test_row_limit_gives_partial_error_with_that_many_rows(row_limit, kept):
    with serve(row_limit=row_limit) as fake:
        body = query(fake, union(leg(NONINTERACTIVE))).json()
    assert len(body["tables"][0]["rows"]) == kept
    if row_limit == 3:   # exactly at the limit: complete
        assert "error" not in body
        return
    assert body["error"]["code"] == "PartialError"
    assert body["error"]["details"][0]["innererror"]["message"] == (
        "Query result set has exceeded the internal record count limit 2 "
        "(E_QUERY_RESULT_SET_TOO_LARGE; see https://aka.ms/kustoquerylimits)")


@pytest.mark.parametrize("service, scope, status, code", [
    ("arm", "graph", 401, "InvalidAuthenticationToken"),
    ("arm", "loganalytics", 401, "InvalidAuthenticationToken"),
    ("arm", "https://management.azure.com//.default", 200, None),
    ("loganalytics", "management", 401, "InvalidTokenError"),
    ("loganalytics", "graph", 401, "InvalidTokenError"),
    ("loganalytics", None, 401, "InvalidTokenError"),
    ("loganalytics", "https://api.loganalytics.io/.default", 200, None),
])
def test_each_service_wants_a_token_for_itself(monitor, service, scope, status, code):
    scope = {"graph": monitor.scope, "management": monitor.management_url + "/.default",
             "loganalytics": monitor.log_analytics_scope}.get(scope, scope)
    headers = bearer(monitor, scope) if scope else {}
    if service == "arm":
        resp = requests.get(monitor.management_url + "/subscriptions",
                            params={"api-version": "1"}, headers=headers,
                            verify=monitor.ca_bundle, timeout=5)
    else:
        resp = query(monitor, union(leg(NONINTERACTIVE)), headers=headers)
    assert resp.status_code == status, resp.text
    if code:
        assert resp.json()["error"]["code"] == code
    assert monitor.requests(service)[-1].status == status


@pytest.mark.parametrize("name, params, target, status, code, retry_after", [
    ("aadiam_forbidden", {}, "aadiam", 403, "AuthorizationFailed", None),
    ("arm_forbidden", {}, "workspace", 403, "AuthorizationFailed", None),
    ("la_forbidden", {}, "query", 403, "InsufficientAccessError", None),
    ("la_throttled", {}, "query", 429, "ThrottledError", "2"),
    ("la_throttled", {"retry_after": 7}, "query", 429, "ThrottledError", "7"),
    ("la_server_error", {}, "query", 503, "ServiceError", None),
    ("la_server_error", {"status": 500, "retry_after": 1}, "query", 500, "ServiceError", "1"),
    ("la_query_error", {}, "query", 400, "BadArgumentError", None),
    ("la_partial", {}, "query", 200, "PartialError", None),
])
def test_faults(monitor, name, params, target, status, code, retry_after):
    request = {
        "aadiam": lambda: arm_get(monitor, "/providers/microsoft.aadiam/diagnosticSettings",
                                  "2017-04-01"),
        "workspace": lambda: arm_get(monitor, WS_A_ID),
        "query": lambda: query(monitor, union(leg(NONINTERACTIVE))),
    }[target]
    monitor.set_fault(name, count=1, **params)
    resp = request()
    assert (resp.status_code, resp.json()["error"]["code"]) == (status, code), resp.text
    assert resp.headers.get("Retry-After") == retry_after
    message = json.dumps(resp.json())
    if code == "AuthorizationFailed":
        action = {"aadiam": "microsoft.aadiam/diagnosticSettings/read",
                  "workspace": "Microsoft.OperationalInsights/workspaces/read"}[target]
        assert "perform action '%s'" % action in message and "'c1'" in message
    if name == "la_partial":   # rows are missing, and not because the result was too large
        assert len(resp.json()["tables"][0]["rows"]) == 1
        assert "E_QUERY_RESULT_SET_TOO_LARGE" not in message
    # count=1: the next request is answered normally
    again = request()
    assert again.status_code == 200 and "error" not in again.json()


def test_aadiam_forbidden_spares_the_other_arm_reads(monitor):
    monitor.set_fault("aadiam_forbidden")
    assert arm_get(monitor, "/providers/microsoft.aadiam/diagnosticSettings", "2017-04-01"
                   ).status_code == 403
    assert arm_get(monitor, "/subscriptions").status_code == 200
    assert arm_get(monitor, WS_A_ID).status_code == 200
    assert query(monitor, union(leg(NONINTERACTIVE))).status_code == 200
    monitor.set_fault("arm_forbidden", count=1)
    assert arm_get(monitor, "/subscriptions").json()["error"]["message"].count(
        "Microsoft.Resources/subscriptions/read") == 1
