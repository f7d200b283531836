"""The KQL that the Log Analytics source sends, proven by Microsoft's Kusto language service.

tests/kql/check_kql.js runs npm @kusto/language-service-next (the parser and binder of
Kusto Explorer and the Azure portal's query editor) over a query with the four sign-in tables
of tests/kql/tables.json declared as Microsoft documents them (column names and Kusto types;
the file's "_source" says where each came from and what could not be confirmed). A query
that passes parses, names only tables, columns and functions that exist with fitting types,
and draws no warning from the service's analyzers; no Azure is needed.

- For every non-empty combination of --event-type values, the product's
  ``loganalytics.query_text(start, end, event_types)`` has no diagnostic, and its union
  gives each column one type (a union of a string and a dynamic column would split it into
  NAME_string and NAME_dynamic, which the parser of the answer would not find).
- The checker can fail: a misspelled column, a column of another table, a JSON column used
  as dynamic where the table has a string, a syntax error, an analyzer warning and a
  control command each give a failing diagnostic at the right place (table-driven); a
  Suggestion is printed but does not fail; the CLI's exit codes are 0, 1 and 2 (usage).
- That every column the query names is in tables.json needs no test of its own: an
  unknown column is a diagnostic (KS142), which the first group would report.

Without node or tests/kql/node_modules these tests are skipped, except in CI (``CI=true``),
where they fail: .ci/run installs them (``npm ci --prefix tests/kql``). Most queries go to the
checker in one --batch run: its first analysis takes about two seconds, later ones
milliseconds.
"""

import itertools
import json
import os
import re
import shutil
import subprocess
from datetime import datetime, timezone

import pytest

from conftest import ROOT

KQL_DIR = ROOT / "tests" / "kql"
CHECKER = KQL_DIR / "check_kql.js"
TABLES = KQL_DIR / "tables.json"
SERVICE = KQL_DIR / "node_modules" / "@kusto" / "language-service-next"
INSTALL = "npm ci --prefix tests/kql"

EVENT_TYPES = ("nonInteractiveUser", "servicePrincipal", "managedIdentity", "interactiveUser")
TABLE_OF = {
    "nonInteractiveUser": "AADNonInteractiveUserSignInLogs",
    "servicePrincipal": "AADServicePrincipalSignInLogs",
    "managedIdentity": "AADManagedIdentitySignInLogs",
    "interactiveUser": "SigninLogs",
}
COMBINATIONS = [combo for size in range(1, len(EVENT_TYPES) + 1)
                for combo in itertools.combinations(EVENT_TYPES, size)]


def utc(*args):
    return datetime(*args, tzinfo=timezone.utc)


WINDOW = (utc(2026, 11, 20, 8, 0), utc(2026, 11, 20, 8, 5))
# Further windows, for all four event types: fractions of a second, a year boundary.
OTHER_WINDOWS = {
    "microseconds": (utc(2026, 11, 20, 8, 0, 0, 123456), utc(2026, 11, 20, 8, 5, 0, 1)),
    "new year": (utc(2026, 12, 31, 23, 55), utc(2027, 1, 1, 0, 0)),
}
KUSTO_TYPES = {"bool", "datetime", "decimal", "dynamic", "guid", "int", "long", "real",
               "string", "timespan"}
# A column that a union's legs give different types comes out once per type, suffixed.
_SPLIT = re.compile(r"_(%s)$" % "|".join(sorted(KUSTO_TYPES)))


# ---------------------------------------------------------------------------------------
# The checker
# ---------------------------------------------------------------------------------------

def _unavailable(message):
    if os.environ.get("CI") == "true":
        pytest.fail(message + ": .ci/run must install it")
    pytest.skip(message)


@pytest.fixture(scope="module")
def node():
    found = shutil.which("node")
    if not found and os.access("/usr/bin/node", os.X_OK):
        found = "/usr/bin/node"
    if not found:
        _unavailable("node is not installed (apt-get install nodejs)")
    if not (SERVICE / "Kusto.Language.Bridge.min.js").is_file():
        _unavailable("the Kusto language service is not installed (%s)" % INSTALL)
    return found


def run_checker(node, stdin, *args):
    return subprocess.run([node, str(CHECKER), *args], input=stdin, capture_output=True,
                          text=True, timeout=300)


def check_batch(node, queries):
    """One checker run over many queries: a list of {diagnostics, columns, fails}."""
    proc = run_checker(node, json.dumps(queries), "--batch")
    assert proc.returncode in (0, 1), "check_kql.js failed (%d): %s" % (proc.returncode,
                                                                        proc.stderr)
    results = json.loads(proc.stdout)
    assert len(results) == len(queries)
    assert proc.returncode == (1 if any(r["fails"] for r in results) else 0)
    return results


def explain(query, result):
    lines = ["%s %s at line %d, column %d (%r): %s" % (d["severity"], d["code"], d["line"],
                                                       d["column"], d["text"], d["message"])
             for d in result["diagnostics"]]
    return "\n".join(lines + ["in the query:", query])


def split_columns(columns):
    """Result columns that a union split by type (NAME_string, NAME_dynamic, ...)."""
    names = {c["name"] for c in columns}
    return sorted(c["name"] for c in columns
                  if _SPLIT.search(c["name"]) and
                  sum(1 for n in names if _SPLIT.sub("", n) == _SPLIT.sub("", c["name"])) > 1)


# ---------------------------------------------------------------------------------------
# tables.json itself (no node needed)
# ---------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def tables():
    return json.loads(TABLES.read_text(encoding="utf-8"))


def test_tables_json_declares_the_four_sign_in_tables_with_kusto_types(tables):
    assert isinstance(tables["_source"], str)
    declared = {name: columns for name, columns in tables.items() if name != "_source"}
    assert set(declared) == set(TABLE_OF.values())
    for name, columns in declared.items():
        assert set(columns.values()) <= KUSTO_TYPES, name
        for standard in ("TenantId", "TimeGenerated", "Type", "_ResourceId", "_IsBillable",
                         "_BilledSize", "Id", "ResultType", "SourceSystem"):
            assert standard in columns, (name, standard)
        assert columns["TimeGenerated"] == "datetime" and columns["Id"] == "string"


def test_tables_json_keeps_the_json_columns_types_of_each_table(tables):
    # Non-interactive sign-ins hold their JSON as strings, SigninLogs as dynamic: a query
    # that treats one like the other fails or splits a union's column.
    for column in ("Status", "LocationDetails", "DeviceDetail", "ConditionalAccessPolicies"):
        assert tables["AADNonInteractiveUserSignInLogs"][column] == "string", column
        assert tables["SigninLogs"][column] == "dynamic", column
    for table in ("AADServicePrincipalSignInLogs", "AADManagedIdentitySignInLogs"):
        assert tables[table]["LocationDetails"] == "string"
        assert tables[table]["ConditionalAccessPolicies"] == "string"
        for user_only in ("Status", "AppDisplayName", "UserPrincipalName", "UserId"):
            assert user_only not in tables[table], (table, user_only)


# ---------------------------------------------------------------------------------------
# The product's queries
# ---------------------------------------------------------------------------------------

def _product_cases():
    from check_entra_noninteractive.sources.loganalytics import query_text

    cases = {"+".join(combo): query_text(*WINDOW, combo) for combo in COMBINATIONS}
    for name, window in OTHER_WINDOWS.items():
        cases["all four, " + name] = query_text(*window, EVENT_TYPES)
    cases["all four, reversed"] = query_text(*WINDOW, tuple(reversed(EVENT_TYPES)))
    return cases


@pytest.fixture(scope="module")
def product_results(node):
    cases = _product_cases()
    results = check_batch(node, list(cases.values()))
    return {name: (query, result) for (name, query), result in zip(cases.items(), results)}


PRODUCT_CASES = (["+".join(combo) for combo in COMBINATIONS]
                 + ["all four, " + name for name in OTHER_WINDOWS] + ["all four, reversed"])


@pytest.mark.parametrize("case", PRODUCT_CASES)
def test_product_query_has_no_diagnostics(product_results, case):
    query, result = product_results[case]
    assert result["diagnostics"] == [], explain(query, result)
    assert not result["fails"]


@pytest.mark.parametrize("case", PRODUCT_CASES)
def test_product_query_gives_each_column_one_type(product_results, case):
    query, result = product_results[case]
    columns = {c["name"]: c["type"] for c in result["columns"]}
    assert split_columns(result["columns"]) == [], query
    assert columns.get("Id") == "string" and columns.get("TimeGenerated") == "datetime"


@pytest.mark.parametrize("combo", COMBINATIONS, ids="+".join)
def test_product_query_reads_exactly_the_tables_of_its_event_types(product_results, combo):
    query, _ = product_results["+".join(combo)]
    named = {table for table in TABLE_OF.values() if re.search(r"\b%s\b" % table, query)}
    assert named == {TABLE_OF[event_type] for event_type in combo}


# ---------------------------------------------------------------------------------------
# The sample of the query's shape (independent of the product's code)
# ---------------------------------------------------------------------------------------

_BOUNDS = ("| where TimeGenerated >= datetime(2026-11-20T08:00:00Z) "
           "and TimeGenerated < datetime(2026-11-20T08:05:00Z)")
_USER_PROJECTION = (
    "| project Id, TimeGenerated, Type, ResultType = tostring(ResultType), ResultDescription, "
    "Status = tostring(Status), IPAddress, LocationDetails = tostring(LocationDetails), "
    "AppDisplayName, AppId, ResourceDisplayName, ResourceIdentity, UserPrincipalName, UserId, "
    "UserDisplayName, ServicePrincipalId, ClientAppUsed, AuthenticationRequirement, "
    "ConditionalAccessStatus, ConditionalAccessPolicies = tostring(ConditionalAccessPolicies), "
    "RiskLevelDuringSignIn, RiskState, RiskEventTypes_V2 = tostring(RiskEventTypes_V2), "
    "AuthenticationProtocol, IncomingTokenType, UserAgent")
_WORKLOAD_PROJECTION = (
    "| project Id, TimeGenerated, Type, ResultType = tostring(ResultType), ResultDescription, "
    "IPAddress, LocationDetails = tostring(LocationDetails), AppId, ResourceDisplayName, "
    "ResourceIdentity, ServicePrincipalId, ServicePrincipalName, ConditionalAccessStatus, "
    "ConditionalAccessPolicies = tostring(ConditionalAccessPolicies)")
SAMPLE = "union isfuzzy=true\n" + ",\n".join([
    "(AADNonInteractiveUserSignInLogs\n%s\n%s)" % (_BOUNDS, _USER_PROJECTION),
    "(AADServicePrincipalSignInLogs\n%s\n%s)" % (_BOUNDS, _WORKLOAD_PROJECTION),
    "(AADManagedIdentitySignInLogs\n%s\n%s)" % (_BOUNDS, _WORKLOAD_PROJECTION),
    "(SigninLogs\n%s\n%s)" % (_BOUNDS, _USER_PROJECTION),
])


def test_sample_query_passes_through_the_cli(node):
    proc = run_checker(node, SAMPLE, "--columns")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    output = json.loads(proc.stdout)
    assert output["diagnostics"] == []
    assert split_columns(output["columns"]) == []
    assert {"Id", "Status", "ServicePrincipalName", "UserPrincipalName"} <= {
        c["name"] for c in output["columns"]}


def test_a_failing_query_exits_1_with_its_diagnostics_as_a_json_list(node):
    query = "AADNonInteractiveUserSignInLogs\n| project Id, UserPrincpalName"
    proc = run_checker(node, query)
    assert proc.returncode == 1, proc.stderr
    [diagnostic] = json.loads(proc.stdout)
    assert diagnostic["severity"] == "Error" and diagnostic["fails"]
    assert (diagnostic["text"], diagnostic["line"], diagnostic["column"]) == (
        "UserPrincpalName", 2, 15)
    assert query[diagnostic["start"]:][:diagnostic["length"]] == "UserPrincpalName"
    assert "UserPrincpalName" in diagnostic["message"]


@pytest.mark.parametrize("args, stdin", [
    (["--bogus"], "SigninLogs"),
    ([], ""),
    ([], "  \n"),
    (["--batch"], "SigninLogs | take 1"),
    (["--batch"], "[]"),
    (["--batch"], '["SigninLogs", 3]'),
    (["--tables", "/nonexistent/tables.json"], "SigninLogs"),
    (["--tables"], "SigninLogs"),
], ids=["unknown option", "no query", "blank query", "batch not json", "empty batch",
        "batch of non-strings", "missing tables file", "tables without file"])
def test_usage_errors_exit_2(node, args, stdin):
    proc = run_checker(node, stdin, *args)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "usage:" in proc.stderr and proc.stdout == ""


# ---------------------------------------------------------------------------------------
# The checker can fail
# ---------------------------------------------------------------------------------------

# (id, query, severity, code, text at the diagnostic, its start or None)
FAILING = [
    ("misspelled column",
     "AADNonInteractiveUserSignInLogs | project Id, UserPrincpalName",
     "Error", "KS142", "UserPrincpalName", None),
    ("user column in the service principal table",
     "AADServicePrincipalSignInLogs | project Id, UserPrincipalName",
     "Error", "KS142", "UserPrincipalName", None),
    ("AppDisplayName in the managed identity table",
     "AADManagedIdentitySignInLogs | project Id, AppDisplayName",
     "Error", "KS142", "AppDisplayName", None),
    ("service principal column in a leg of a fuzzy union",
     "union isfuzzy=true (AADNonInteractiveUserSignInLogs | project Id, "
     "ServicePrincipalCredentialKeyId), (SigninLogs | project Id)",
     "Error", "KS142", "ServicePrincipalCredentialKeyId", None),
    ("table name in the wrong case",
     "AADNonInteractiveUserSigninLogs | take 1",
     "Error", "KS204", "AADNonInteractiveUserSigninLogs", None),
    ("string JSON column used as dynamic",
     "AADNonInteractiveUserSignInLogs | where Status.errorCode == 0",
     "Error", "KS142", "errorCode", None),
    ("unclosed union leg",
     "union isfuzzy=true\n(AADNonInteractiveUserSignInLogs\n| project Id",
     "Error", "KS005", "", 64),
    ("unclosed datetime",
     "SigninLogs | where TimeGenerated >= datetime(2026-11-20T08:00:00Z",
     "Error", "KS001", "", 65),
    ("where without a predicate",
     "SigninLogs | where | project Id",
     "Error", "KS006", "", 18),
    ("missing pipe",
     "SigninLogs project Id",
     "Error", "KS005", "project", 11),
    ("join without a kind (analyzer warning)",
     "AADNonInteractiveUserSignInLogs | join (SigninLogs) on Id",
     "Warning", "KS508", "join", None),
    ("a control command",
     ".show tables",
     "Error", "NOT_A_QUERY", "", 0),
]


# No diagnostic: Kusto runs it, but Status comes back as Status_string and Status_dynamic.
# The product's test above rejects such a result.
SPLIT_UNION = ("union (AADNonInteractiveUserSignInLogs | project Id, Status), "
               "(SigninLogs | project Id, Status)")
# A Suggestion (KS500: prefer has over contains) is printed but does not fail.
SUGGESTION = "AADNonInteractiveUserSignInLogs | where UserAgent contains 'Mozilla' | project Id"


@pytest.fixture(scope="module")
def checker_results(node):
    """The results of FAILING, SPLIT_UNION and SUGGESTION, from one checker run."""
    queries = [case[1] for case in FAILING] + [SPLIT_UNION, SUGGESTION]
    results = check_batch(node, queries)
    return dict(zip([case[0] for case in FAILING] + ["split union", "suggestion"], results))


@pytest.mark.parametrize("name, query, severity, code, text, start", FAILING,
                         ids=[case[0] for case in FAILING])
def test_checker_fails(checker_results, name, query, severity, code, text, start):
    result = checker_results[name]
    assert result["fails"], explain(query, result)
    found = [d for d in result["diagnostics"] if d["code"] == code]
    assert found, explain(query, result)
    diagnostic = found[0]
    assert diagnostic["severity"] == severity and diagnostic["fails"]
    assert diagnostic["text"] == text
    assert query[diagnostic["start"]:diagnostic["start"] + diagnostic["length"]] == text
    if start is not None:
        assert diagnostic["start"] == start
    else:
        assert diagnostic["start"] == query.index(text)


def test_a_union_that_splits_a_column_by_type_is_caught_by_its_columns(checker_results):
    result = checker_results["split union"]
    assert result["diagnostics"] == [] and not result["fails"]
    assert split_columns(result["columns"]) == ["Status_dynamic", "Status_string"]


def test_a_suggestion_is_printed_but_does_not_fail(checker_results):
    result = checker_results["suggestion"]
    [diagnostic] = result["diagnostics"]
    assert (diagnostic["severity"], diagnostic["code"], diagnostic["text"]) == (
        "Suggestion", "KS500", "contains")
    assert not diagnostic["fails"] and not result["fails"]
