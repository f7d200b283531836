"""Tests for the fake ARM and Log Analytics endpoints (fake_loganalytics.py behind
FakeMicrosoft): they keep the product's Log Analytics tests honest by pinning the
shapes, the range filtering and the failures the real services produce."""

import json
from pathlib import Path

import pytest
import requests

from fake_loganalytics import MANAGED_IDENTITY, NONINTERACTIVE, SCHEMAS, SERVICE_PRINCIPAL
from fake_microsoft import FakeMicrosoft
from test_fake_microsoft import hermetic_env, signin  # noqa: F401 (autouse fixture)

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


@pytest.fixture
def fake():
    with FakeMicrosoft(records=RECORDS, workspaces=[
            {"name": "ws-a", "customer_id": WS_A, "subscription": SUB, "resource_group": "rg1"},
            {"name": "ws-b", "customer_id": WS_B, "subscription": SUB, "resource_group": "rg2",
             "tables": [NONINTERACTIVE], "records": ["id-00"], "retention_days": 90}],
            diagnostic_settings=[{"name": "to-la", "workspace": "ws-a", "storage": True, "logs": {
                "NonInteractiveUserSignInLogs": True, "SignInLogs": False}}]) as f:
        yield f


def bearer(fake, scope):
    resp = requests.post(fake.authority + "/oauth2/v2.0/token", data={
        "grant_type": "client_credentials", "client_id": fake.client_id,
        "client_secret": fake.client_secret, "scope": scope}, verify=fake.ca_bundle, timeout=5)
    return {"Authorization": "Bearer " + resp.json()["access_token"]}


def arm_get(fake, path, api_version="2022-10-01", scope=None):
    params = {"api-version": api_version} if api_version else {}
    return requests.get(fake.management_url + path, params=params, verify=fake.ca_bundle,
                        headers=bearer(fake, scope or fake.management_scope), timeout=5)


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


def ids(resp):
    return sorted(r["Id"] for r in rows(resp))


# --------------------------------------------------------------------------
# ARM
# --------------------------------------------------------------------------

def test_aadiam_diagnostic_settings_shape(fake):
    resp = arm_get(fake, "/providers/microsoft.aadiam/diagnosticSettings", "2017-04-01")
    assert resp.status_code == 200, resp.text
    [setting] = resp.json()["value"]
    assert (setting["id"], setting["type"], setting["name"]) == (
        "/providers/microsoft.aadiam/diagnosticSettings/to-la",
        "Microsoft.AADIAM/diagnosticSettings", "to-la")
    props = setting["properties"]
    assert props["workspaceId"] == ("/subscriptions/%s/resourceGroups/rg1/providers/"
                                    "Microsoft.OperationalInsights/workspaces/ws-a" % SUB)
    assert "/storageAccounts/" in props["storageAccountId"]
    assert props["eventHubAuthorizationRuleId"] is None
    assert [(log["category"], log["enabled"]) for log in props["logs"]] == [
        ("NonInteractiveUserSignInLogs", True), ("SignInLogs", False)]
    preview = arm_get(fake, "/providers/microsoft.aadiam/diagnosticSettings", "2017-04-01-preview")
    assert preview.json() == resp.json()
    for version, status, code in ((None, 400, "MissingApiVersionParameter"),
                                  ("2021-05-01", 400, "NoRegisteredProviderFound")):
        bad = arm_get(fake, "/providers/microsoft.aadiam/diagnosticSettings", version)
        assert (bad.status_code, bad.json()["error"]["code"]) == (status, code)


def test_workspaces_resolve_and_list(fake):
    arm_id = fake.azure_monitor.workspace("ws-a").arm_id
    # Azure's ids come in varying case: lookups ignore it.
    resp = arm_get(fake, arm_id.replace("resourceGroups", "resourcegroups").lower())
    assert resp.status_code == 200, resp.text
    assert resp.json()["id"] == arm_id
    assert resp.json()["properties"]["customerId"] == WS_A
    assert resp.json()["properties"]["retentionInDays"] == 30
    missing = arm_get(fake, arm_id.replace("ws-a", "ws-x"))
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "ResourceNotFound"
    assert "'Microsoft.OperationalInsights/workspaces/ws-x'" in missing.json()["error"]["message"]

    subs = arm_get(fake, "/subscriptions", "2022-12-01").json()["value"]
    assert [(s["id"], s["subscriptionId"], s["state"]) for s in subs] == [
        ("/subscriptions/" + SUB, SUB, "Enabled")]
    listed = arm_get(fake, "/subscriptions/%s/providers/Microsoft.OperationalInsights/workspaces"
                     % SUB).json()["value"]
    assert [(w["name"], w["properties"]["customerId"]) for w in listed] == [
        ("ws-a", WS_A), ("ws-b", WS_B)]
    assert [e.kind for e in fake.requests() if e.kind != "token"] == ["arm"] * 4
    info = fake.ready_info()
    assert (info["management_url"], info["log_analytics_url"]) == (
        fake.authority_host + "/management", fake.authority_host + "/loganalytics")


# --------------------------------------------------------------------------
# Log Analytics queries
# --------------------------------------------------------------------------

def test_query_returns_the_rows_in_range_with_projected_columns(fake):
    columns = ("Id, TimeGenerated, Type, ResultType = tostring(ResultType), "
               "Status = tostring(Status), IPAddress, LocationDetails, IsInteractive")
    resp = query(fake, leg(NONINTERACTIVE, columns))   # one leg, no union
    assert [(c["name"], c["type"]) for c in resp.json()["tables"][0]["columns"]] == [
        ("Id", "string"), ("TimeGenerated", "datetime"), ("Type", "string"),
        ("ResultType", "string"), ("Status", "string"), ("IPAddress", "string"),
        ("LocationDetails", "string"), ("IsInteractive", "bool")]
    # id-02 is a service principal's, id-04 (08:09) is outside the where bounds
    assert ids(resp) == ["id-00", "id-01", "id-03"]
    row = next(r for r in rows(resp) if r["Id"] == "id-01")
    assert row["TimeGenerated"] == "2026-11-20T08:01:00.0000000Z"
    assert (row["Type"], row["ResultType"], row["IPAddress"], row["IsInteractive"]) == (
        NONINTERACTIVE, "50126", "", False)
    # JSON held in string columns, as the non-interactive table stores it
    assert json.loads(row["Status"]) == RECORDS[1]["status"]
    assert json.loads(row["LocationDetails"]) == RECORDS[1]["location"]

    # start inclusive, end exclusive; the timespan narrows the where bounds further
    assert ids(query(fake, leg(NONINTERACTIVE, end="08:03:00"))) == ["id-00", "id-01"]
    assert ids(query(fake, leg(NONINTERACTIVE), timespan="2026-11-20T08:00:30Z/PT2M")) == ["id-01"]
    entry = fake.requests("loganalytics")[-1]
    assert entry.params["timespan"] == "2026-11-20T08:00:30Z/PT2M"
    assert entry.params["query"].startswith("(" + NONINTERACTIVE)
    assert fake.count(kind="loganalytics") == 3


def test_union_of_two_tables(fake):
    resp = query(fake, union(leg(NONINTERACTIVE, "Id, UserPrincipalName, Type"),
                             leg(SERVICE_PRINCIPAL, "Id, Type, ServicePrincipalName")))
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
    again = query(fake, fake.requests("loganalytics")[-1].params["query"])
    assert [r["Id"] for r in rows(again)] == order


@pytest.mark.parametrize("workspace, kql, status, code, message", [
    # ws-b has only the non-interactive table: isfuzzy skips the missing one
    (WS_B, union(leg(NONINTERACTIVE), leg(SERVICE_PRINCIPAL)), 200, None, None),
    (WS_B, union(leg(SERVICE_PRINCIPAL), leg(MANAGED_IDENTITY)), 400, "SemanticError",
     "'union' operator: Failed to resolve table expression named '%s'" % SERVICE_PRINCIPAL),
    (WS_B, union(leg(NONINTERACTIVE), leg(SERVICE_PRINCIPAL), fuzzy=False), 400,
     "SemanticError", "Failed to resolve table expression named '%s'" % SERVICE_PRINCIPAL),
    (WS_B, leg(SERVICE_PRINCIPAL), 400, "SemanticError",
     "Failed to resolve table or column expression named '%s'" % SERVICE_PRINCIPAL),
    # the service principal table has no user columns
    (WS_A, leg(SERVICE_PRINCIPAL, "Id, UserPrincipalName"), 400, "SemanticError",
     "Failed to resolve scalar expression named 'UserPrincipalName'"),
    (WS_A, leg(NONINTERACTIVE, "Id\n| take 5"), 400, "SyntaxError", "does not understand"),
    ("cccccccc-0000-0000-0000-00000000000c", leg(NONINTERACTIVE), 404, None,
     "The workspace could not be found"),
])
def test_missing_tables_and_queries_the_fake_cannot_answer(fake, workspace, kql, status, code,
                                                           message):
    resp = query(fake, kql, workspace=workspace)
    assert resp.status_code == status, resp.text
    if status == 200:
        assert ids(resp) == ["id-00"]   # ws-b holds only id-00
        return
    error = resp.json()["error"]
    if code is not None:
        assert error["code"] == "BadArgumentError"
        assert error["innererror"]["code"] == code
        error = error["innererror"]["innererror"]
    assert message in error["message"]


def test_tables_have_the_documented_columns():
    # tests/kql/tables.json is the reviewed record of Microsoft's table references that
    # the KQL check uses; the fake must not accept or refuse other columns.
    path = Path(__file__).parent / "kql" / "tables.json"
    if not path.exists():
        pytest.skip("no tests/kql/tables.json")
    documented = json.loads(path.read_text())
    for table, schema in SCHEMAS.items():
        assert schema == {c: t for c, t in documented[table].items() if not c.startswith("_")}


def test_row_limit_gives_partial_error_with_that_many_rows(fake):
    fake.azure_monitor.row_limit = 2
    body = query(fake, leg(NONINTERACTIVE)).json()
    assert len(body["tables"][0]["rows"]) == 2
    assert body["error"]["code"] == "PartialError"
    inner = body["error"]["details"][0]["innererror"]["message"]
    assert "record count limit 2 (E_QUERY_RESULT_SET_TOO_LARGE" in inner
    fake.azure_monitor.row_limit = 3   # exactly at the limit: complete
    body = query(fake, leg(NONINTERACTIVE)).json()
    assert len(body["tables"][0]["rows"]) == 3 and "error" not in body


# --------------------------------------------------------------------------
# Authentication and faults
# --------------------------------------------------------------------------

@pytest.mark.parametrize("service, scope, status, code", [
    ("arm", "graph", 401, "InvalidAuthenticationToken"),
    ("arm", "loganalytics", 401, "InvalidAuthenticationToken"),
    ("arm", "https://management.azure.com//.default", 200, None),
    ("loganalytics", "management", 401, "InvalidTokenError"),
    ("loganalytics", "graph", 401, "InvalidTokenError"),
    ("loganalytics", None, 401, "InvalidTokenError"),
    ("loganalytics", "https://api.loganalytics.io/.default", 200, None),
])
def test_each_service_wants_a_token_for_itself(fake, service, scope, status, code):
    scope = {"graph": fake.scope, "management": fake.management_scope,
             "loganalytics": fake.log_analytics_scope}.get(scope, scope)
    headers = bearer(fake, scope) if scope else {}
    if service == "arm":
        resp = requests.get(fake.management_url + "/subscriptions", params={"api-version": "1"},
                            headers=headers, verify=fake.ca_bundle, timeout=5)
    else:
        resp = query(fake, leg(NONINTERACTIVE), headers=headers)
    assert resp.status_code == status, resp.text
    if code:
        assert resp.json()["error"]["code"] == code
    assert fake.requests(service)[-1].status == status


@pytest.mark.parametrize("name, params, target, status, code, retry_after", [
    ("aadiam_forbidden", {}, "aadiam", 403, "AuthorizationFailed", None),
    ("arm_forbidden", {}, "workspace", 403, "AuthorizationFailed", None),
    ("la_forbidden", {}, "query", 403, "InsufficientAccessError", None),
    ("la_throttled", {"retry_after": 7}, "query", 429, "ThrottledError", "7"),
    ("la_server_error", {}, "query", 503, "ServiceError", None),
    ("la_server_error", {"status": 500, "retry_after": 1}, "query", 500, "ServiceError", "1"),
    ("la_query_error", {}, "query", 400, "BadArgumentError", None),
    ("la_partial", {}, "query", 200, "PartialError", None),
])
def test_faults(fake, name, params, target, status, code, retry_after):
    request = {
        "aadiam": lambda: arm_get(fake, "/providers/microsoft.aadiam/diagnosticSettings",
                                  "2017-04-01"),
        "workspace": lambda: arm_get(fake, fake.azure_monitor.workspace("ws-a").arm_id),
        "query": lambda: query(fake, leg(NONINTERACTIVE)),
    }[target]
    fake.set_fault(name, count=1, **params)
    resp = request()
    assert resp.status_code == status, resp.text
    assert resp.json()["error"]["code"] == code
    assert resp.headers.get("Retry-After") == retry_after
    message = json.dumps(resp.json())
    if code == "AuthorizationFailed":
        action = {"aadiam": "microsoft.aadiam/diagnosticSettings/read",
                  "workspace": "Microsoft.OperationalInsights/workspaces/read"}[target]
        assert "perform action '%s'" % action in message and "'%s'" % fake.client_id in message
    if name == "la_partial":   # rows are missing, and not because the result was too large
        assert len(resp.json()["tables"][0]["rows"]) < 3
        assert "E_QUERY_RESULT_SET_TOO_LARGE" not in message
    logged = fake.requests("arm" if target != "query" else "loganalytics")[-1]
    assert (logged.fault, logged.status) == (name, status)
    # count=1: the next request is answered normally
    again = request()
    assert again.status_code == 200 and "error" not in again.json()


def test_aadiam_forbidden_spares_the_other_arm_reads(fake):
    fake.set_fault("aadiam_forbidden")
    assert arm_get(fake, "/providers/microsoft.aadiam/diagnosticSettings", "2017-04-01"
                   ).status_code == 403
    assert arm_get(fake, "/subscriptions").status_code == 200
    assert arm_get(fake, fake.azure_monitor.workspace("ws-a").arm_id).status_code == 200
    assert query(fake, leg(NONINTERACTIVE)).status_code == 200
    fake.set_fault("arm_forbidden", count=1)
    assert arm_get(fake, "/subscriptions").json()["error"]["message"].count(
        "Microsoft.Resources/subscriptions/read") == 1
