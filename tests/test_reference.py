"""The SQL measures against a plain-Python reference, on the sample and generated data,
and the real console scripts as subprocesses on the shipped sample."""

import json
from itertools import groupby

import pytest

import sample
from conftest import GROUP_OF_SCRIPT, SAMPLE, run_script

LEGACY = {"authenticated smtp", "autodiscover", "exchange activesync",
          "exchange online powershell", "exchange web services", "imap4", "mapi over http",
          "offline address book", "outlook anywhere (rpc over http)", "outlook service",
          "pop3", "reporting web services", "other clients", "imap", "pop", "smtp", "mapi"}


def _code(record):
    status = record.get("status") or {}
    code = status.get("errorCode")
    return int(code) if code not in (None, "") else 0


def _loc(record):
    loc = record.get("location") or {}
    key = (loc.get("city") or "", loc.get("state") or "", loc.get("countryOrRegion") or "")
    return key if any(key) else None


ENTITY_KEYS = {
    "ips": lambda r: r.get("ipAddress") or None,
    "locations": _loc,
    "apps": lambda r: r.get("appId") or None,
    "service_principals": lambda r: r.get("servicePrincipalId") or None,
    "resources": lambda r: r.get("resourceId") or None,
    "users": lambda r: r.get("userId") or None,
    "client_apps": lambda r: r.get("clientAppUsed") or None,
}


def reference(records, attempts):
    """All 24 measures, computed the obvious way."""
    records = [r for r in records if (r.get("signInEventTypes") or ["nonInteractiveUser"])[0]
               == "nonInteractiveUser"]
    failed = sum(1 for r in records if _code(r) != 0)
    total = len(records)
    values = {
        "total": total, "successful": total - failed, "failed": failed,
        "failed_pct": round(100.0 * failed / total, 2) if total else 0.0,
        "risky": sum(1 for r in records if r.get("riskLevelDuringSignIn") in (
            "low", "medium", "high") or r.get("riskState") in ("atRisk",
                                                               "confirmedCompromised")),
        "single_factor": sum(1 for r in records if r.get("authenticationRequirement")
                             == "singleFactorAuthentication"),
        "multi_factor": sum(1 for r in records if r.get("authenticationRequirement")
                            == "multiFactorAuthentication"),
        "modern_clients": sum(1 for r in records if (r.get("clientAppUsed") or "").lower() in (
            "browser", "mobile apps and desktop clients")),
        "legacy_clients": sum(1 for r in records
                              if (r.get("clientAppUsed") or "").lower() in LEGACY),
        "ca_not_applied": sum(1 for r in records
                              if r.get("conditionalAccessStatus") == "notApplied"),
        "ca_success": sum(1 for r in records if r.get("conditionalAccessStatus") == "success"),
        "ca_failure": sum(1 for r in records if r.get("conditionalAccessStatus") == "failure"),
    }
    ordered = sorted(records, key=lambda r: (r["createdDateTime"], r["id"]))
    for name, key in ENTITY_KEYS.items():
        hits = {True: set(), False: set()}
        per_entity = {}
        for record in ordered:
            entity = key(record)
            if entity is not None:
                per_entity.setdefault(entity, []).append(_code(record) == 0)
        for entity, outcomes in per_entity.items():
            for outcome, run in groupby(outcomes):
                if len(list(run)) >= attempts:
                    hits[outcome].add(entity)
        values["success_" + name] = len(hits[True])
        values["failure_" + name] = len(hits[False])
    del values["success_service_principals"]
    return values


# The threats check's spray rule: failed sign-ins with one of these errorCodes (a wrong or
# unusable credential) name a user.
CREDENTIAL_ERRORS = {50034, 50053, 50055, 50056, 50057, 50126}
THREAT_LABELS = ("spray_ips", "device_code_users", "ropc_users", "legacy_success_users",
                 "multi_country_users")
BASELINE_LABELS = ("unusual_users", "unusual_ips", "unusual_apps")


def threat_reference(records, spray_users=10):
    """The entities behind the five threat counts that need no history, computed the
    obvious way: {label: set of IPs, or of userIds}."""
    records = [r for r in records if (r.get("signInEventTypes") or ["nonInteractiveUser"])[0]
               == "nonInteractiveUser"]
    sprayed = {}
    for record in records:
        if _code(record) in CREDENTIAL_ERRORS and record.get("userId") \
                and record.get("ipAddress"):
            sprayed.setdefault(record["ipAddress"], set()).add(record["userId"])
    successes = [r for r in records if _code(r) == 0 and r.get("userId")]
    countries = {}
    for record in successes:
        country = (record.get("location") or {}).get("countryOrRegion") or ""
        if country:
            countries.setdefault(record["userId"], set()).add(country)
    return {
        "spray_ips": {ip for ip, users in sprayed.items() if len(users) >= spray_users},
        "device_code_users": {r["userId"] for r in successes
                              if r.get("authenticationProtocol") == "deviceCode"},
        "ropc_users": {r["userId"] for r in successes
                       if r.get("authenticationProtocol") == "ropc"},
        "legacy_success_users": {r["userId"] for r in successes
                                 if (r.get("clientAppUsed") or "").lower() in LEGACY},
        "multi_country_users": {user for user, seen in countries.items() if len(seen) >= 2},
    }


def _named(records, found):
    """threat_reference's entities by name: users by their UPN, IPs as they are."""
    upn = {r["userId"]: r.get("userPrincipalName") for r in records if r.get("userId")}
    return {label: sorted(entities if label == "spray_ips" else {upn[e] for e in entities})
            for label, entities in found.items()}


GROUP_SCRIPTS = {
    "check_entra_signins": ("total", "successful", "failed", "failed_pct", "risky"),
    "check_entra_success_entities": ("success_ips", "success_locations", "success_apps",
                                     "success_resources", "success_users",
                                     "success_client_apps"),
    "check_entra_failure_entities": ("failure_ips", "failure_locations", "failure_apps",
                                     "failure_service_principals", "failure_resources",
                                     "failure_users", "failure_client_apps"),
    "check_entra_auth_methods": ("single_factor", "multi_factor", "modern_clients",
                                 "legacy_clients"),
    "check_entra_conditional_access": ("ca_not_applied", "ca_success", "ca_failure"),
}


def test_sample_is_shipped_small_and_parseable():
    assert SAMPLE.stat().st_size <= 2 * 1024 * 1024
    records = json.loads(SAMPLE.read_text())
    assert len(records) >= 2500


@pytest.mark.parametrize("attempts", [1, 3, 5])
def test_in_process_measures_match_reference_on_generated_data(run, tmp_path, attempts):
    records = list(sample.generate(count=2500, seed=7, minutes=30))
    path = tmp_path / "gen.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    expected = reference(records, attempts)
    for script_name, labels in GROUP_SCRIPTS.items():
        result = run(GROUP_OF_SCRIPT[script_name], "--input", path, "--attempts", attempts)
        assert result.code == 0, result.out
        assert {label: result.value(label) for label in labels} == {
            label: expected[label] for label in labels}


@pytest.mark.parametrize("script_name", sorted(GROUP_SCRIPTS))
def test_console_scripts_on_the_shipped_sample(script_name):
    expected = reference(json.loads(SAMPLE.read_text()), 5)
    result = run_script(script_name, "--input", SAMPLE)
    assert result.code == 0, result.out
    labels = GROUP_SCRIPTS[script_name]
    assert set(result.perfdata) == set(labels)
    assert {label: result.value(label) for label in labels} == {
        label: expected[label] for label in labels}
    prefix = "ENTRA %s OK - " % GROUP_OF_SCRIPT[script_name].replace("-", " ").upper()
    assert result.first.startswith(prefix)
    assert len(result.out.splitlines()) == 1


def test_console_script_states_and_first_line_on_the_sample():
    expected = reference(json.loads(SAMPLE.read_text()), 5)
    result = run_script("check_entra_signins", "--input", SAMPLE, "-w", "failed_pct=1",
                        "-c", "risky=0")
    assert result.code == 2
    pct = ("%.4g" % expected["failed_pct"])
    assert result.status == "ENTRA SIGNINS CRITICAL - risky %d (outside 0:0), failed_pct %s%% " \
                            "(outside 0:1)" % (expected["risky"], pct)
    assert result.perfdata["risky"] == "%d;;0;0" % expected["risky"]

    spray = run_script("check_entra_failure_entities", "--input", SAMPLE,
                       "-c", "failure_ips=0")
    assert spray.code == 2
    assert spray.status == "ENTRA FAILURE ENTITIES CRITICAL - failure_ips %d (outside 0:0)" \
        % expected["failure_ips"]

    bad = run_script("check_entra_auth_methods", "--input", SAMPLE, "-w", "failed=1")
    assert bad.code == 3
    assert bad.first == ("ENTRA AUTH METHODS UNKNOWN - metric failed belongs to "
                         "check_entra_signins, not check_entra_auth_methods (see "
                         "check_entra_auth_methods --help)")


def test_python_m_entry_point_matches_console_script(tmp_path):
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "check_entra_noninteractive", "signins",
                           "--input", str(SAMPLE), "--state-dir", str(tmp_path)],
                          capture_output=True, text=True, timeout=120)
    script = run_script("check_entra_signins", "--input", SAMPLE, "--state-dir", tmp_path)
    assert proc.returncode == script.code == 0
    assert proc.stdout == script.out


def test_threat_reference_on_the_shipped_sample_is_what_sample_documents():
    """The four planted attacks of issue 12 and their edge cases, as tests/sample.py
    documents them (SCENARIOS["threats"]), found by the plain reference in the sample."""
    records = json.loads(SAMPLE.read_text())
    documented = sample.SCENARIOS["threats"]
    found = threat_reference(records)
    assert _named(records, found) == {label: list(documented[label])
                                      for label in THREAT_LABELS}
    assert {label: len(found[label]) for label in THREAT_LABELS} == {
        "spray_ips": 1, "device_code_users": 1, "ropc_users": 6, "legacy_success_users": 5,
        "multi_country_users": 6}
    # The edge cases: one user below the default --spray-users, an empty country.
    slow = sample.SCENARIOS["slow_spray"]
    assert _named(records, threat_reference(records, spray_users=9))["spray_ips"] == sorted(
        [sample.SCENARIOS["spray"]["ip"], slow["ip"]])
    assert slow["credential_users"] == 9 and len(slow["users"]) == 10
    assert threat_reference(records, spray_users=41)["spray_ips"] == set()
    unplaced = [r for r in records if "location" not in r]
    assert [r["userPrincipalName"] for r in unplaced] == [
        sample.SCENARIOS["token_replay"]["no_country"]["upn"]]


def _threat_values(result):
    assert result.code != 3, result.out
    return {label: result.value(label) for label in THREAT_LABELS}


@pytest.mark.parametrize("spray_users", [None, 9, 40, 41])
def test_threats_check_on_the_shipped_sample(run, spray_users):
    """check_entra_threats in-process on the shipped sample: its five counts that need no
    history are the reference's and the documented figures; one hour is no history, so
    the baseline counts are 0."""
    records = json.loads(SAMPLE.read_text())
    argv = ["--input", SAMPLE]
    if spray_users is not None:
        argv += ["--spray-users", spray_users]
    result = run("threats", *argv)
    expected = threat_reference(records, spray_users or 10)
    assert _threat_values(result) == {label: len(expected[label]) for label in THREAT_LABELS}
    if spray_users is None:
        documented = sample.SCENARIOS["threats"]
        assert _threat_values(result) == {label: len(documented[label])
                                          for label in THREAT_LABELS}
        assert _named(records, expected) == {label: list(documented[label])
                                             for label in THREAT_LABELS}
    else:
        assert result.value("spray_ips") == {9: 2, 40: 1, 41: 0}[spray_users]
    for label in BASELINE_LABELS:
        assert result.value(label) == 0, result.out


@pytest.mark.parametrize("seed", [7, 11])
def test_threats_check_matches_reference_on_generated_data(run, tmp_path, seed):
    records = list(sample.generate(count=2500, seed=seed, minutes=30))
    path = tmp_path / "gen.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    expected = threat_reference(records)
    result = run("threats", "--input", path)
    assert _threat_values(result) == {label: len(expected[label]) for label in THREAT_LABELS}
