"""Every measure on small hand-built cases, through the real main() of each check."""

import pytest

from conftest import signin

F, S = False, True


def series(prefix, outcomes, start=0, **fields):
    """Sign-ins one second apart with the given outcomes (True = success)."""
    return [signin("%s%03d" % (prefix, i), start + i, ok, **fields)
            for i, ok in enumerate(outcomes)]


# (name, records, group, extra argv, expected perfdata values)
CASES = [
    ("empty window", [], "signins", [],
     {"total": 0, "successful": 0, "failed": 0, "failed_pct": 0.0, "risky": 0}),
    ("counts and percentage", series("a", [S, F, F, S, S, S, F, S]), "signins", [],
     {"total": 8, "successful": 5, "failed": 3, "failed_pct": 37.5}),
    ("no error code, status {} and null are successes",
     [signin("a", 1, status={}), signin("b", 2, status=None), signin("c", 3, status={
         "errorCode": None}), signin("d", 4, status={"errorCode": "0"})],
     "signins", [], {"total": 4, "successful": 4, "failed": 0}),
    ("record without status at all is a success",
     [{k: v for k, v in signin("a", 1).items() if k != "status"}],
     "signins", [], {"total": 1, "successful": 1}),
    ("error code as string", [signin("a", 1, status={"errorCode": "50126"}),
                              signin("b", 2, status={"errorCode": 53003})],
     "signins", [], {"failed": 2, "successful": 0}),
    ("risky: level or state; hidden and none are not",
     [signin("a", 1, riskLevelDuringSignIn="low"),
      signin("b", 2, riskLevelDuringSignIn="high"),
      signin("c", 3, riskLevelDuringSignIn="hidden"),
      signin("d", 4, riskLevelDuringSignIn="none", riskState="atRisk"),
      signin("e", 5, riskState="confirmedCompromised"),
      signin("f", 6, riskLevelDuringSignIn="medium", riskState="atRisk"),
      signin("g", 7, riskLevelDuringSignIn="unknownFutureValue", riskState="dismissed")],
     "signins", [], {"risky": 5, "total": 7}),
    # --- failure entities: the "No of Attempts" rule -------------------------------------
    ("run of exactly N counts", series("a", [F] * 5), "failure-entities", [],
     {"failure_ips": 1, "failure_users": 1, "failure_apps": 1, "failure_locations": 1,
      "failure_resources": 1, "failure_client_apps": 1, "failure_service_principals": 0}),
    ("run of N-1 does not", series("a", [F] * 4), "failure-entities", [],
     {"failure_ips": 0, "failure_users": 0}),
    ("runs broken by a success do not add up", series("a", [F, F, F, S, F, F, F]),
     "failure-entities", ["--attempts", "4"], {"failure_ips": 0}),
    ("the same runs reach a lower N", series("a", [F, F, F, S, F, F, F]),
     "failure-entities", ["--attempts", "3"], {"failure_ips": 1}),
    ("two qualifying runs of one entity count once", series("a", [F, F, S, F, F]),
     "failure-entities", ["--attempts", "2"], {"failure_ips": 1}),
    ("ties in time are ordered by id",
     # At the same second: id 'a' (success) sorts before 'b' (failure), so the failures
     # b, c are consecutive. Ordered by anything else they would be split.
     [signin("b", 1, F), signin("a", 1, S), signin("c", 2, F)],
     "failure-entities", ["--attempts", "2"], {"failure_ips": 1}),
    ("ties in time: the other order splits the run",
     [signin("a", 1, F), signin("b", 1, S), signin("c", 2, F)],
     "failure-entities", ["--attempts", "2"], {"failure_ips": 0}),
    ("attempts are per entity, interleaving does not break a run",
     [signin("x%d" % i, i, F, ipAddress="198.51.100.%d" % (i % 2)) for i in range(10)],
     "failure-entities", [], {"failure_ips": 2, "failure_users": 1}),
    ("empty keys are not entities",
     series("a", [F] * 6, ipAddress="", userId="", appId="", resourceId="",
            clientAppUsed="", location={"city": "", "state": "", "countryOrRegion": ""}),
     "failure-entities", [],
     {"failure_ips": 0, "failure_users": 0, "failure_apps": 0, "failure_resources": 0,
      "failure_client_apps": 0, "failure_locations": 0}),
    ("missing and null keys are not entities",
     series("a", [F] * 6, ipAddress=None, location=None, userId=None, appId=None),
     "failure-entities", [], {"failure_ips": 0, "failure_locations": 0, "failure_users": 0,
                              "failure_apps": 0}),
    ("a partial location is an entity",
     series("a", [F] * 5, location={"city": "", "state": "", "countryOrRegion": "RU"}),
     "failure-entities", [], {"failure_locations": 1}),
    ("location is city, state and country together",
     series("a", [F] * 3, location={"city": "Paris", "state": "", "countryOrRegion": "FR"})
     + series("b", [F] * 3, start=10,
              location={"city": "Paris", "state": "IDF", "countryOrRegion": "FR"}),
     "failure-entities", ["--attempts", "3"], {"failure_locations": 2}),
    ("failing service principal",
     series("a", [F] * 5, servicePrincipalId="sp-1", servicePrincipalName="Billing",
            userId=""),
     "failure-entities", [], {"failure_service_principals": 1, "failure_users": 0}),
    ("attempts 1 is a plain distinct count",
     [signin("a", 1, F, ipAddress="192.0.2.1"), signin("b", 2, S, ipAddress="192.0.2.1"),
      signin("c", 3, F, ipAddress="192.0.2.2"), signin("d", 4, F, ipAddress="192.0.2.2"),
      signin("e", 5, S, ipAddress="192.0.2.3")],
     "failure-entities", ["--attempts", "1"], {"failure_ips": 2}),
    # --- success entities ----------------------------------------------------------------
    ("success runs", series("a", [S] * 5) + series("b", [S] * 4, start=20,
                                                   ipAddress="192.0.2.9", userId="user-2"),
     "success-entities", [],
     {"success_ips": 1, "success_users": 1, "success_apps": 1, "success_locations": 1,
      "success_resources": 1, "success_client_apps": 1}),
    ("success and failure runs of one entity both count",
     series("a", [S, S, F, F]), "success-entities", ["--attempts", "2"], {"success_ips": 1}),
    ("attempts 1 success distinct count",
     [signin("a", 1, S, userId="u1"), signin("b", 2, S, userId="u2"),
      signin("c", 3, F, userId="u3")],
     "success-entities", ["--attempts", "1"], {"success_users": 2}),
    # --- auth methods --------------------------------------------------------------------
    ("single and multi factor, both spellings",
     [signin("a", 1, authenticationRequirement="singleFactorAuthentication"),
      signin("b", 2, authenticationRequirement="multiFactorAuthentication"),
      signin("c", 3, authenticationRequirement="Multifactor authentication"),
      signin("d", 4, authenticationRequirement="Single-factor authentication"),
      signin("e", 5, authenticationRequirement="unknownFutureValue"),
      signin("f", 6, authenticationRequirement=None)],
     "auth-methods", [], {"single_factor": 2, "multi_factor": 2}),
    ("modern and legacy clients, case-insensitive, with aliases",
     [signin("a", 1, clientAppUsed="Browser"),
      signin("b", 2, clientAppUsed="mobile apps and desktop clients"),
      signin("c", 3, clientAppUsed="IMAP4"), signin("d", 4, clientAppUsed="IMAP"),
      signin("e", 5, clientAppUsed="Exchange ActiveSync"),
      signin("f", 6, clientAppUsed="Authenticated SMTP"),
      signin("g", 7, clientAppUsed="Other clients"),
      signin("h", 8, clientAppUsed="Outlook Anywhere (RPC over HTTP)"),
      signin("i", 9, clientAppUsed=""), signin("j", 10, clientAppUsed="Unknown")],
     "auth-methods", [], {"modern_clients": 2, "legacy_clients": 6}),
    # --- conditional access --------------------------------------------------------------
    ("CA statuses, portal spelling and unknownFutureValue",
     [signin("a", 1, conditionalAccessStatus="success"),
      signin("b", 2, conditionalAccessStatus="failure"),
      signin("c", 3, conditionalAccessStatus="notApplied"),
      signin("d", 4, conditionalAccessStatus="Not Applied"),
      signin("e", 5, conditionalAccessStatus="unknownFutureValue"),
      signin("f", 6, conditionalAccessStatus=None)],
     "conditional-access", [], {"ca_success": 1, "ca_failure": 1, "ca_not_applied": 2}),
    # --- window and identity -------------------------------------------------------------
    ("duplicate ids count once", [signin("a", 1, F), signin("a", 1, F), signin("b", 2)],
     "signins", [], {"total": 2, "failed": 1}),
    ("other event types are not counted by default",
     [signin("a", 1), signin("b", 2, signInEventTypes=["interactiveUser"]),
      signin("c", 3, signInEventTypes=["servicePrincipal"])],
     "signins", [], {"total": 1}),
    ("--event-type selects them",
     [signin("a", 1), signin("b", 2, signInEventTypes=["interactiveUser"]),
      signin("c", 3, signInEventTypes=["servicePrincipal"])],
     "signins", ["--event-type", "nonInteractiveUser", "--event-type", "servicePrincipal"],
     {"total": 2}),
    ("window is [start, end)",
     [signin("a", 59), signin("b", 60), signin("c", 119), signin("d", 120)],
     "signins", ["--start", "2026-11-20T08:01:00Z", "--end", "2026-11-20T08:02:00Z"],
     {"total": 2}),
    ("only --start: to the end of the file", [signin("a", 59), signin("b", 60),
                                                signin("c", 600)],
     "signins", ["--start", "2026-11-20T08:01:00Z"], {"total": 2}),
    ("only --end: from the start of the file", [signin("a", 59), signin("b", 60)],
     "signins", ["--end", "2026-11-20T08:01:00Z"], {"total": 1}),
    ("time zones are converted", [signin("a", 1, createdDateTime="2026-11-20T09:00:30+01:00"),
                                  signin("b", 2, createdDateTime="2026-11-20T08:00:30.123Z")],
     "signins", ["--start", "2026-11-20T08:00:00Z", "--end", "2026-11-20T08:01:00Z"],
     {"total": 2}),
]


@pytest.mark.parametrize("name, records, group, argv, expected", CASES,
                         ids=[c[0] for c in CASES])
def test_measure(run, write_json, name, records, group, argv, expected):
    result = run(group, "--input", write_json(records), *argv)
    assert result.code == 0, result.out
    got = {label: result.value(label) for label in expected}
    assert got == expected


def test_failed_pct_rounds_to_two_decimals(run, write_json):
    records = series("a", [F] + [S] * 2)
    result = run("signins", "--input", write_json(records))
    assert result.perfdata["failed_pct"] == "33.33%;;;0;100"
