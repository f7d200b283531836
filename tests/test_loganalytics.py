"""The Log Analytics source end to end: the real main() through real MSAL and requests,
against the local fake of Azure Resource Manager and the Log Analytics query API.

The same dataset is served through Graph and through Log Analytics: every check must
print the same perfdata and write the same DD measures either way."""

import json
import time
import types

import pytest
from nagiosplugin import CheckError

from conftest import SAMPLE
from fake_microsoft import FakeMicrosoft
from test_graph import CLIENT, SECRET, TENANT, use_fake

WINDOW = ("--start", "2026-11-20T08:00:00Z", "--end", "2026-11-20T09:00:00Z")
GROUPS = ("signins", "success-entities", "failure-entities", "auth-methods",
          "conditional-access", "threats")
WS_A = {"name": "la-security", "customer_id": "aaaaaaaa-0000-4000-8000-000000000001",
        "subscription": "sub-1", "resource_group": "rg-sec"}
WS_B = {"name": "LA-Identity", "customer_id": "bbbbbbbb-0000-4000-8000-000000000002",
        "subscription": "sub-2", "resource_group": "rg-id"}
TO_A = {"name": "to-security", "workspace": "la-security",
        "logs": {"NonInteractiveUserSignInLogs": True, "ServicePrincipalSignInLogs": True}}
TO_B = {"name": "to-identity", "workspace": "LA-Identity",
        "logs": {"NonInteractiveUserSignInLogs": True, "ServicePrincipalSignInLogs": True,
                 "SignInLogs": True}}
ARCHIVE = {"name": "archive", "workspace": None, "storage": True,
           "logs": {"NonInteractiveUserSignInLogs": True}}


@pytest.fixture(scope="module")
def records():
    return json.loads(SAMPLE.read_text())


def split_ids(records):
    """Two overlapping halves of the sample: each workspace holds 2/3 of the sign-ins, a
    third of them are in both."""
    ids = [r["id"] for r in records]
    third = len(ids) // 3
    return ids[:2 * third], ids[third:]


def serve(records, workspaces=(WS_A, WS_B), settings=(TO_A, TO_B, ARCHIVE), **options):
    return FakeMicrosoft(records=records, tenant=TENANT, client_id=CLIENT,
                         client_secret=SECRET, workspaces=list(workspaces),
                         diagnostic_settings=list(settings), **options)


@pytest.fixture
def fake(records, monkeypatch):
    first, second = split_ids(records)
    with serve(records, [dict(WS_A, records=first), dict(WS_B, records=second)]) as server:
        use_fake(monkeypatch, server)
        yield server


def la_args(fake, state, *extra):
    return ["--tenant-id", TENANT, "--client-id", CLIENT, "--source", "loganalytics",
            "--authority-host", fake.authority_host, "--management-url", fake.management_url,
            "--log-analytics-url", fake.log_analytics_url, "--state-dir", str(state), *extra]


def graph_args(fake, state, *extra):
    return ["--tenant-id", TENANT, "--client-id", CLIENT, "--authority-host",
            fake.authority_host, "--graph-url", fake.graph_url, "--state-dir", str(state),
            *extra]


def measures_of(state, group):
    """The DD's measures: everything but where the data came from and when."""
    document = json.loads((state / "dd" / TENANT / ("check_entra_" + group.replace("-", "_")
                                                    + ".json")).read_text())
    return document["measures"], document["source"]


def queries(fake):
    return fake.requests("loganalytics")


def arm_calls(fake):
    return fake.requests("arm")


# ---------------------------------------------------------------------------------------
# Parity with Graph
# ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("extra", [(), ("--event-type", "nonInteractiveUser", "--event-type",
                                        "servicePrincipal", "--attempts", "3")],
                         ids=["default", "two event types"])
def test_two_overlapping_workspaces_report_what_graph_reports(run, fake, tmp_path, extra):
    for group in GROUPS:
        graph = run(group, *graph_args(fake, tmp_path / "graph", *WINDOW, *extra))
        la = run(group, *la_args(fake, tmp_path / "la", *WINDOW, *extra))
        assert la.code == graph.code, la.out
        assert la.first == graph.first
        graph_dd, graph_source = measures_of(tmp_path / "graph", group)
        la_dd, la_source = measures_of(tmp_path / "la", group)
        assert la_dd == graph_dd
        assert graph_source == "Microsoft Graph, tenant %s" % TENANT
        assert la_source == "Log Analytics workspaces la-security, LA-Identity, tenant %s" \
            % TENANT
    # Six checks, one fetch: one query per workspace, the rest read the store.
    assert len(queries(fake)) == 2
    assert {q.path.split("/")[-2] for q in queries(fake)} == {WS_A["customer_id"],
                                                              WS_B["customer_id"]}


def test_one_workspace_reports_what_graph_reports(run, records, tmp_path, monkeypatch):
    with serve(records, [WS_A], [TO_A]) as fake:
        use_fake(monkeypatch, fake)
        for group in GROUPS:
            graph = run(group, *graph_args(fake, tmp_path / "graph", *WINDOW))
            la = run(group, *la_args(fake, tmp_path / "la", *WINDOW, "--workspace",
                                     "LA-SECURITY"))
            assert (la.code, la.first) == (graph.code, graph.first), la.out
            assert measures_of(tmp_path / "la", group)[0] == \
                measures_of(tmp_path / "graph", group)[0]
        assert len(queries(fake)) == 1


def test_a_covered_window_makes_no_query_and_the_lookup_is_cached(run, fake, tmp_path):
    first = run("signins", *la_args(fake, tmp_path, *WINDOW))
    assert first.code == 0, first.out
    assert len(arm_calls(fake)) == 3  # the settings, then each workspace's customerId
    fake.reset_log()
    again = run("signins", *la_args(fake, tmp_path, *WINDOW))
    assert (again.code, again.first) == (0, first.first)
    assert queries(fake) == [] and arm_calls(fake) == []


def test_workspace_ids_skip_the_lookup(run, fake, tmp_path):
    result = run("signins", *la_args(fake, tmp_path, *WINDOW, "--workspace-id",
                                     WS_A["customer_id"].upper(), "--workspace-id",
                                     WS_B["customer_id"]))
    assert result.code == 0, result.out
    assert result.first.startswith("ENTRA SIGNINS OK - 2466 non-interactive sign-ins")
    assert arm_calls(fake) == []
    assert len(queries(fake)) == 2


def test_answers_cut_at_the_row_limit_are_split_until_complete(run, records, tmp_path,
                                                               monkeypatch):
    with serve(records, [WS_A], [TO_A], row_limit=700) as fake:
        use_fake(monkeypatch, fake)
        la = run("signins", *la_args(fake, tmp_path / "la", *WINDOW))
        graph = run("signins", *graph_args(fake, tmp_path / "graph", *WINDOW))
    assert (la.code, la.first) == (graph.code, graph.first), la.out
    # 2,466 sign-ins at most 700 an answer: the hour is halved until each part fits.
    answers = [q.status for q in queries(fake)]
    assert len(answers) > 4 and set(answers) == {200}


def test_throttled_and_failing_queries_are_retried(run, fake, tmp_path):
    fake.set_fault("la_throttled", count=1, retry_after=1)
    fake.set_fault("la_server_error", count=1, status=503)
    result = run("signins", *la_args(fake, tmp_path, *WINDOW))
    assert result.code == 0, result.out
    assert result.first.startswith("ENTRA SIGNINS OK - 2466 non-interactive sign-ins")
    assert sorted(q.status for q in queries(fake)) == [200, 200, 429, 503]


def test_diagnostic_settings_refused_falls_back_to_the_readable_workspaces(
        run, records, tmp_path, monkeypatch):
    empty = dict(WS_B, name="la-empty", customer_id="cccccccc-0000-4000-8000-000000000003",
                 tables=["AzureActivity"])
    with serve(records, [WS_A, empty], [TO_A]) as fake:
        use_fake(monkeypatch, fake)
        fake.set_fault("aadiam_forbidden")
        result = run("signins", *la_args(fake, tmp_path, *WINDOW, "-v"))
    assert result.code == 0, result.out
    assert result.first.startswith("ENTRA SIGNINS OK - 2466 non-interactive sign-ins")
    assert "workspace la-empty has no sign-in table: it holds none of these sign-ins" \
        in result.out
    assert "Entra's diagnostic settings are not readable (403 AuthorizationFailed)" \
        in result.out


# ---------------------------------------------------------------------------------------
# What the user can meet: one UNKNOWN line each
# ---------------------------------------------------------------------------------------

UNKNOWN = "ENTRA SIGNINS UNKNOWN - "
NO_SETTING = ("no diagnostic setting of Microsoft Entra ID sends NonInteractiveUserSignInLogs "
              "to a Log Analytics workspace (settings: %s): add one in the Entra admin center "
              "(Monitoring > Diagnostic settings), or give --workspace-id GUID")
ERRORS = [
    ("only to storage", dict(settings=[ARCHIVE]), None, (),
     NO_SETTING % "archive (no workspace)"),
    ("other categories", dict(settings=[dict(TO_A, logs={"SignInLogs": True,
                                                         "AuditLogs": True})]), None, (),
     NO_SETTING % "to-security (workspace)"),
    ("disabled", dict(settings=[dict(TO_A, logs={"NonInteractiveUserSignInLogs": False})]),
     None, (), NO_SETTING % "to-security (workspace)"),
    ("ARM refuses everything", {}, ("aadiam_forbidden", "arm_forbidden"), (),
     "cannot find the workspaces: Azure Resource Manager refused the diagnostic settings "
     "(403 AuthorizationFailed) and the subscriptions (403 AuthorizationFailed): let the app "
     "read Entra's diagnostic settings (e.g. the Monitoring Reader role at scope "
     "/providers/microsoft.aadiam) or give it Reader on the workspaces' subscriptions, or "
     "name the workspaces with --workspace-id GUID"),
    ("Log Analytics refuses", {}, ("la_forbidden",), (),
     "Log Analytics denied the query on workspace la-security (403 InsufficientAccessError): "
     "grant the app the Log Analytics Reader role on the workspace, or the API permission "
     "Data.Read (Log Analytics API) with admin consent"),
    ("unknown name", {}, None, ("--workspace", "la-security,la-ops"),
     "unknown workspace 'la-ops': the sign-in logs go to LA-Identity, la-security"),
    ("no setting for an event type", {}, None, ("--event-type", "managedIdentity"),
     "no diagnostic setting of Microsoft Entra ID sends ManagedIdentitySignInLogs to a Log "
     "Analytics workspace (settings: to-security (workspace), to-identity (workspace), "
     "archive (no workspace)): add one in the Entra admin center (Monitoring > Diagnostic "
     "settings), or give --workspace-id GUID"),
    ("the named workspace lacks an event type", {}, None,
     ("--event-type", "nonInteractiveUser", "--event-type", "interactiveUser",
      "--workspace", "la-security"),
     "no chosen workspace receives SignInLogs: add the category to a diagnostic setting, "
     "or choose other --event-type"),
]


@pytest.mark.parametrize("name, setup, faults, extra, message", ERRORS,
                         ids=[e[0] for e in ERRORS])
def test_errors_are_one_unknown_line(run, records, tmp_path, monkeypatch, name, setup, faults,
                                     extra, message):
    with serve(records, **setup) as fake:
        use_fake(monkeypatch, fake)
        for fault in faults or ():
            fake.set_fault(fault)
        result = run("signins", *la_args(fake, tmp_path, *WINDOW, *extra))
    assert result.code == 3, result.out
    assert result.first == UNKNOWN + message
    assert len(result.out.strip().splitlines()) == 1


def test_query_errors_carry_log_analytics_own_words(run, fake, tmp_path):
    fake.set_fault("la_query_error")
    result = run("signins", *la_args(fake, tmp_path, *WINDOW))
    assert result.code == 3, result.out
    # The innermost of the nested errors: the words that say what is wrong.
    assert result.first == (UNKNOWN + "Log Analytics refused the query on workspace "
                            "la-security (HTTP 400 BadArgumentError): Query could not be parsed "
                            "at '/' on line [3,0]")


def test_of_two_failing_queries_the_first_task_is_reported_whichever_fails_first():
    # The first task's failure arrives last: the report must not depend on that race.
    from check_entra_noninteractive.sources import loganalytics

    def one(store, client, workspace, start, end, types, parts):
        if workspace == "la-security":
            time.sleep(0.3)
        raise CheckError("refused on " + workspace)

    source = object.__new__(loganalytics.LogAnalyticsCollector)
    source.run = types.SimpleNamespace(progress=None)
    source._one = one
    tasks = [("la-security", 0, 1, (), ()), ("LA-Identity", 0, 1, (), ())]
    with pytest.raises(CheckError, match="^refused on la-security$"):
        source._run(None, None, tasks)


def test_a_token_refused_mid_run_is_replaced_once(run, fake, tmp_path):
    first = run("signins", *la_args(fake, tmp_path, "--start", "2026-11-20T08:00:00Z",
                                    "--end", "2026-11-20T08:30:00Z"))
    assert first.code == 0, first.out
    fake.expire_tokens()  # MSAL's cache still holds it: both workspaces answer 401 first
    fake.reset_log()
    later = run("signins", *la_args(fake, tmp_path, "--start", "2026-11-20T08:30:00Z",
                                    "--end", "2026-11-20T09:00:00Z"))
    assert later.code == 0, later.out
    statuses = sorted(q.status for q in queries(fake))
    assert statuses[-2:] == [401, 401] and statuses.count(200) == 2, statuses
    assert len(fake.token_requests()) == 1  # one new token for both workspaces' threads


def test_a_partial_answer_is_never_reported(run, fake, tmp_path):
    fake.set_fault("la_partial", count=1)
    result = run("signins", *la_args(fake, tmp_path, *WINDOW))
    assert result.code == 3, result.out
    assert "only in part (PartialError: " in result.first
    assert result.first.endswith("the window is not reported")
    # The next run asks again for what the partial answer left out, and reports.
    again = run("signins", *la_args(fake, tmp_path, *WINDOW))
    assert again.code == 0, again.out


USAGE = [
    (("--source", "loganalytics", "--input", str(SAMPLE)),
     "--input reads a file: leave out --source loganalytics"),
    (("--source", "loganalytics", "--workspace-id", "not-a-guid"),
     "argument --workspace-id: 'not-a-guid' is not a GUID such as "
     "0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0"),
    (("--source", "loganalytics", "--workspace", " , "),
     "--workspace needs workspace names or All, not ','"),
    (("--source", "loganalytics", "--workspace", "All,la-a"),
     "--workspace needs workspace names or All, not 'All,la-a'"),
    (("--source", "loganalytics", "--workspace", "la-a", "--workspace-id",
      WS_A["customer_id"]), "give --workspace NAMES or --workspace-id GUID, not both"),
    (("--source", "eventhub",),
     "argument --source: invalid choice: 'eventhub' (choose from 'graph', 'loganalytics')"),
    (("--source", "loganalytics", "--management-url", "http://arm.example"),
     "argument --management-url: 'http://arm.example' must be an https:// URL"),
]


@pytest.mark.parametrize("argv, message", USAGE, ids=[" ".join(u[0][-2:]) for u in USAGE])
def test_bad_source_options_are_one_unknown_line(run, argv, message):
    result = run("signins", "--tenant-id", "t", "--client-id", "c", *argv)
    assert result.code == 3, result.out
    assert result.first == UNKNOWN + message + " (see check_entra_signins --help)"


def test_every_resource_manager_and_log_analytics_fault_of_the_fake_is_met():
    from fake_microsoft.loganalytics import ARM_FAULTS, LA_FAULTS

    text = open(__file__).read()
    met = {name for name in ARM_FAULTS + LA_FAULTS
           if 'set_fault("%s"' % name in text or repr(name) in str(ERRORS)}
    assert met == set(ARM_FAULTS + LA_FAULTS)


def test_threads_sharing_one_token_provider_ask_once(fake, tmp_path):
    """Workspaces are queried at once: before the provider was serialized, each thread
    asked for its own token and their cache saves raced (ENOENT on the rename)."""
    import threading

    from check_entra_noninteractive import network
    from check_entra_noninteractive.auth import Credential, TokenProvider

    (tmp_path / "t").mkdir(mode=0o700)
    http = network.HttpSettings(known_authority=False)
    tokens = TokenProvider(fake.authority_host, TENANT, CLIENT, Credential(SECRET),
                           str(tmp_path / "t" / "cache.json"), http, http.session())
    start, results = threading.Barrier(8), []

    def ask():
        start.wait()
        try:
            results.append(tokens.token(fake.log_analytics_scope))
        except Exception as exc:  # what the race raised
            results.append(exc)

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(results)) == 1 and isinstance(results[0], str), results
    assert len(fake.token_requests()) == 1


@pytest.mark.parametrize("retention, expected", [
    (None, 3), (30, 3), (90, 0)], ids=["unknown: 30 days", "30 days", "90 days"])
def test_a_window_older_than_the_workspaces_keep_is_refused(run, records, tmp_path,
                                                            monkeypatch, retention, expected):
    from datetime import datetime, timedelta, timezone

    workspace = dict(WS_A, retention_days=retention) if retention else WS_A
    begin = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0) - \
        timedelta(days=40)
    start, end = (t.strftime("%Y-%m-%dT%H:%M:%SZ") for t in (begin, begin + timedelta(hours=1)))
    with serve(records, [workspace], [TO_A]) as fake:
        use_fake(monkeypatch, fake)
        ids = ("--workspace-id", WS_A["customer_id"]) if retention is None else ()
        result = run("signins", *la_args(fake, tmp_path, "--start", start, "--end", end, *ids))
    assert result.code == expected, result.out
    if expected:
        assert result.first == UNKNOWN + (
            "the window starts at %s, more than 30 days ago: a workspace keeps sign-ins for "
            "its retention period (30 days unless it was changed)" % start)
    else:
        assert result.first.startswith("ENTRA SIGNINS OK - 0 non-interactive sign-ins")


def test_a_workspace_the_app_may_not_read_is_one_unknown_line(run, records, tmp_path,
                                                              monkeypatch):
    with serve(records, [WS_A], [TO_A]) as fake:
        use_fake(monkeypatch, fake)
        fake.set_fault("arm_forbidden", after=1)  # the settings are read, the workspace not
        result = run("signins", *la_args(fake, tmp_path, *WINDOW))
    assert result.code == 3, result.out
    assert result.first == UNKNOWN + (
        "Azure Resource Manager denied reading workspace la-security (403 "
        "AuthorizationFailed): give the app Reader on it, or give --workspace-id GUID")


def test_json_columns_read_the_same_as_strings_and_as_objects():
    """The non-interactive table holds JSON as strings, SigninLogs as dynamic objects."""
    from check_entra_noninteractive.normalize_loganalytics import from_log_analytics
    from check_entra_noninteractive.window import EVENT_BITS

    location = {"city": "Lyon", "state": "Rhône", "countryOrRegion": "FR"}
    status = {"errorCode": 50126, "failureReason": "Invalid username or password."}
    policies = [{"id": "p1", "displayName": "Require MFA", "result": "failure"}]
    base = {"Id": "x1", "TimeGenerated": "2026-11-20T08:00:01.1234567Z", "ResultType": "",
            "Type": "SigninLogs", "RiskEventTypes_V2": ["unfamiliarFeatures"]}
    as_objects = from_log_analytics(dict(base, LocationDetails=location, Status=status,
                                         ConditionalAccessPolicies=policies))
    as_strings = from_log_analytics(dict(
        base, LocationDetails=json.dumps(location), Status=json.dumps(status),
        ConditionalAccessPolicies=json.dumps(policies),
        RiskEventTypes_V2=json.dumps(base["RiskEventTypes_V2"])))
    assert as_objects == as_strings
    assert (as_objects["city"], as_objects["country"], as_objects["error_code"],
            as_objects["success"], as_objects["failure_reason"]) == \
        ("Lyon", "FR", 50126, 0, "Invalid username or password.")
    assert json.loads(as_objects["ca_policies"]) == [["p1", "Require MFA", "failure"]]
    assert as_objects["created"] == "2026-11-20T08:00:01.123456Z"
    assert as_objects["event_mask"] == EVENT_BITS["interactiveUser"]
