"""Detailed diagnosis: content on the shipped sample, switches, files, escaping, --details.

The checks run through the real main() (``run`` fixture); conftest points the default
state directory, and so the default DD directory, at the test's tmp_path.
"""

import json
import os
import re
import stat
from collections import Counter

import pytest

from check_entra_noninteractive import dd_render, errorcodes, measures
from conftest import SAMPLE, run_script, signin
from test_reference import BASELINE_LABELS, reference, threat_reference

SPRAY_IP = "198.51.100.7"
BRUTE_IP = "203.0.113.66"
SLOW_SPRAY_IP = "198.51.100.240"
ADELE = "adele.vance@contoso.example"
MALLORY = "Mallory | <script>alert(1)</script>"
TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
LOOKUP = "https://login.microsoftonline.com/error?code=%d"
LINK = re.compile(r"^(#m-[a-z_]+|https://login\.microsoftonline\.com/error\?code=[1-9]\d*)$")


def dd_dir(tmp_path, tenant="file"):
    return tmp_path / "state" / "dd" / tenant


def paths(tmp_path, group, tenant="file"):
    script = measures.GROUPS[group].script
    return dd_dir(tmp_path, tenant) / (script + ".json"), dd_dir(tmp_path, tenant) / (
        script + ".html")


def document(tmp_path, group, tenant="file"):
    return json.loads(paths(tmp_path, group, tenant)[0].read_text(encoding="utf-8"))


def measure(doc, label):
    found = [m for m in doc["measures"] if m["label"] == label]
    assert len(found) == 1, label
    return found[0]


def rows_as_dicts(tab):
    return [dict(zip(tab["columns"], row)) for row in tab["rows"]]


@pytest.fixture
def sample_dd(run, tmp_path):
    """Run a group on the shipped sample and return (outcome, DD document)."""

    def _run(group, *argv):
        outcome = run(group, "--input", SAMPLE, *argv)
        return outcome, document(tmp_path, group)

    return _run


# --------------------------------------------------------------------------------------
# Content on the shipped sample
# --------------------------------------------------------------------------------------

def test_failure_ip_table_is_headed_by_the_spray_ip(sample_dd):
    result, doc = sample_dd("failure-entities")
    assert result.code == 0
    ips = measure(doc, "failure_ips")
    assert ips["value"] == 5 and ips["state"] == "ok"
    tab = ips["table"]
    assert tab["columns"] == ["IP", "failed attempts", "longest run", "distinct users",
                              "top error codes", "first seen", "last seen"]
    assert tab["total"] == 5 and tab["truncated"] is False
    first, second, third = rows_as_dicts(tab)[:3]
    assert first["IP"] == SPRAY_IP
    assert (first["failed attempts"], first["longest run"], first["distinct users"]) == (
        120, 120, 40)
    assert first["top error codes"] == "50126\u00d7120"
    assert first["first seen"].startswith("2026-11-20T08:0")
    assert first["last seen"].startswith("2026-11-20T08:1")
    assert (second["IP"], second["failed attempts"], second["longest run"]) == (BRUTE_IP, 30, 30)
    assert second["top error codes"] == "50126\u00d725, 50053\u00d75"
    # The slow spray below --spray-users of the threats check: 10 users, one attempt each.
    assert (third["IP"], third["failed attempts"], third["longest run"],
            third["distinct users"]) == (SLOW_SPRAY_IP, 10, 10, 10)
    assert third["top error codes"] == "50126\u00d78, 50055\u00d71, 50076\u00d71"
    # The two phones of the CA scenario complete the five: runs of 8.
    assert sorted(r["IP"] for r in rows_as_dicts(tab)[3:]) == ["198.51.100.212",
                                                               "2001:db8:77:1::42"]


def test_failure_entity_tables(sample_dd):
    _, doc = sample_dd("failure-entities")
    users = rows_as_dicts(measure(doc, "failure_users")["table"])
    assert [u["user"] for u in users] == [ADELE, "henrietta.mueller@contoso.example",
                                          "johanna.lorenz@contoso.example"]
    assert users[0]["id"] and users[0]["id"] != ADELE  # the key (userId) next to the UPN
    assert users[0]["failed attempts"] == users[0]["longest run"] == 30
    locations = rows_as_dicts(measure(doc, "failure_locations")["table"])
    assert [loc["location"] for loc in locations] == ["Moscow, Moscow, RU",
                                                      "Ashburn, Virginia, US",
                                                      "Istanbul, Istanbul, TR"]
    assert "id" not in measure(doc, "failure_locations")["table"]["columns"]
    apps = rows_as_dicts(measure(doc, "failure_apps")["table"])
    assert apps[1]["application"] == "Microsoft Azure PowerShell"
    assert apps[1]["id"] == "1950a258-227b-4e31-a9cf-717495945fc2"
    clients = rows_as_dicts(measure(doc, "failure_client_apps")["table"])
    assert [c["client app"] for c in clients] == ["Other clients", "IMAP4"]
    sps = measure(doc, "failure_service_principals")["table"]
    assert sps["rows"] == [] and sps["total"] == 0 and "omitted" not in sps
    # Every table holds exactly the entities its measure counts, most failures first.
    for item in doc["measures"]:
        tab = item["table"]
        assert tab["total"] == item["value"] == len(tab["rows"])
        attempts = [r[tab["columns"].index("failed attempts")] for r in tab["rows"]]
        assert attempts == sorted(attempts, reverse=True)


def test_service_principal_failures(sample_dd):
    _, doc = sample_dd("failure-entities", "--event-type", "nonInteractiveUser",
                       "--event-type", "servicePrincipal")
    assert doc["window"]["event_types"] == ["nonInteractiveUser", "servicePrincipal"]
    rows = rows_as_dicts(measure(doc, "failure_service_principals")["table"])
    assert len(rows) == 1
    assert rows[0]["service principal"] == "Contoso Billing Sync"
    assert rows[0]["failed attempts"] == rows[0]["longest run"] == 16
    assert rows[0]["top error codes"] == "7000215\u00d716"


def test_failed_signins_newest_first_with_error_code_summary(sample_dd):
    _, doc = sample_dd("signins")
    failed = measure(doc, "failed")
    tab = failed["table"]
    assert tab["columns"] == ["time", "user", "display name", "application", "resource",
                              "IP address", "location", "client app", "error code",
                              "failure reason", "user agent"]
    assert tab["total"] == 238 and len(tab["rows"]) == 100 and tab["truncated"] is True
    rows = rows_as_dicts(tab)
    times = [r["time"] for r in rows]
    assert times == sorted(times, reverse=True) and all(TIME.match(t) for t in times)
    assert rows[0]["display name"] == MALLORY  # the newest failure of the hour
    assert rows[0]["error code"] == 50126
    codes = failed["tables"][0]
    assert codes["title"] == "Failed sign-ins by error code"
    assert codes["columns"] == ["error code", "failed sign-ins", "distinct users", "kind",
                                "meaning"]
    summary = rows_as_dicts(codes)
    assert summary[0] == {"error code": 50126, "failed sign-ins": 160, "distinct users": 53,
                          "kind": "failure", "meaning": "invalid username or password"}
    by_code = {r["error code"]: r for r in summary}
    assert sum(r["failed sign-ins"] for r in summary) == 238
    assert by_code[53003]["meaning"] == "blocked by Conditional Access"
    assert by_code[50058]["kind"] == by_code[50140]["kind"] == "interrupt"
    assert by_code[50053]["failed sign-ins"] == 5
    assert by_code[50055]["failed sign-ins"] == by_code[50199]["failed sign-ins"] == 1
    # failed_pct shares the failed table; total has none.
    pct = measure(doc, "failed_pct")
    assert pct["see"] == "failed" and pct["table"] is None and pct["uom"] == "%"
    assert measure(doc, "total")["table"] is None


def test_risky_signins(sample_dd):
    _, doc = sample_dd("signins")
    tab = measure(doc, "risky")["table"]
    assert tab["total"] == 20 and len(tab["rows"]) == 20
    rows = rows_as_dicts(tab)
    assert {r["user"] for r in rows} == {
        "megan.bowen@contoso.example", "alex.wilber@contoso.example",
        "diego.siciliani@contoso.example", "pradeep.gupta@contoso.example"}
    megan = [r for r in rows if r["user"] == "megan.bowen@contoso.example"]
    assert len(megan) == 6
    assert {(r["risk level"], r["risk state"], r["risk event types"]) for r in megan} == {
        ("high", "atRisk", "anonymizedIPAddress, unfamiliarFeatures")}
    assert {r["risk state"] for r in rows
            if r["user"] == "pradeep.gupta@contoso.example"} == {"confirmedCompromised"}


def test_conditional_access_by_policy_and_by_app(sample_dd):
    _, doc = sample_dd("conditional-access")
    failure = measure(doc, "ca_failure")
    policies = rows_as_dicts(failure["table"])
    assert [(p["policy"], p["failed sign-ins"], p["distinct users"]) for p in policies] == [
        ("Require compliant device", 16, 2), ("Block legacy authentication", 8, 2)]
    assert policies[0]["policy id"]
    samples = rows_as_dicts(failure["tables"][0])
    assert len(samples) == 6
    assert {s["user"] for s in samples if s["policy"] == "Block legacy authentication"} <= {
        "christie.cline@contoso.example", "debra.berger@contoso.example"}
    assert {s["error code"] for s in samples} == {53003}
    for label, value in (("ca_not_applied", 1142), ("ca_success", 1300)):
        item = measure(doc, label)
        assert item["value"] == value
        tab = item["table"]
        assert tab["columns"] == ["application", "sign-ins", "distinct users", "failed",
                                  "app id"]
        assert sum(r[1] for r in tab["rows"]) == value  # every sign-in in one app's row
        counts = [r[1] for r in tab["rows"]]
        assert counts == sorted(counts, reverse=True)


def test_auth_methods_grouped_by_user_app_and_client_app(sample_dd):
    _, doc = sample_dd("auth-methods", "--dd-limit", "100000")
    for item in doc["measures"]:
        tab = item["table"]
        assert tab["columns"] == ["user", "application", "client app", "sign-ins", "failed"]
        # Every measure has sign-ins in the sample, and a table that is not cut holds
        # each of them in exactly one row.
        assert item["value"] > 0 and tab["rows"] and not tab["truncated"], item["label"]
        assert sum(r[3] for r in tab["rows"]) == item["value"], item["label"]
    legacy = rows_as_dicts(measure(doc, "legacy_clients")["table"])
    assert legacy[0] == {"user": "lee.gu@contoso.example",
                         "application": "Office 365 Exchange Online",
                         "client app": "Exchange ActiveSync", "sign-ins": 24, "failed": 0}
    assert {r["client app"] for r in legacy} >= {"Exchange ActiveSync", "IMAP4", "POP3",
                                                  "Authenticated SMTP", "Other clients"}
    single = rows_as_dicts(measure(doc, "single_factor")["table"])
    assert single[0]["user"] == ADELE and single[0]["sign-ins"] == single[0]["failed"] == 30


def test_every_document_has_the_documented_shape(sample_dd):
    # The values the measures must have on the sample, counted the obvious way (the
    # threats check's baseline counts are 0: one hour is no history).
    records = json.loads(SAMPLE.read_text())
    expected = reference(records, 5)
    expected.update({label: len(found) for label, found in threat_reference(records).items()})
    expected.update(dict.fromkeys(BASELINE_LABELS, 0))
    for group in measures.GROUPS.values():
        result, doc = sample_dd(group.name)
        assert result.code == 0
        assert list(doc) == ["schema", "tenant", "check", "title", "state", "window",
                             "generated", "source", "attempts", "limit",
                             "successful_signin_dd", "alarm_order", "timeline", "measures"]
        assert doc["schema"] == 1 and doc["tenant"] == "file"
        assert doc["check"] == group.script and doc["state"] == "ok"
        assert doc["window"] == {"start": "2026-11-20T08:00:00Z",
                                 "end": "2026-11-20T08:59:59Z",
                                 "event_types": ["nonInteractiveUser"]}
        assert TIME.match(doc["generated"]) and doc["source"] == "file nonint-signins.json"
        assert (doc["attempts"], doc["limit"], doc["successful_signin_dd"]) == (5, 100, False)
        assert [m["label"] for m in doc["measures"]] == group.labels()
        assert doc["alarm_order"] == group.labels()  # all OK: perfdata-label order
        assert list(doc["timeline"]) == ["start", "bucket_minutes", "buckets"]
        for item in doc["measures"]:
            assert set(item) <= {"label", "title", "value", "uom", "state", "hint", "table",
                                 "tables", "see"}
            # The DD shows what the check printed in its perfdata, and that is right.
            assert item["value"] == result.value(item["label"]) == expected[item["label"]]
            for tab in ([item["table"]] if item["table"] else []) + item["tables"]:
                assert set(tab) <= {"title", "columns", "rows", "total", "truncated",
                                    "omitted"}
                assert all(len(row) == len(tab["columns"]) for row in tab["rows"])
                assert tab["truncated"] == (len(tab["rows"]) < tab["total"]
                                            and "omitted" not in tab)


# --------------------------------------------------------------------------------------
# Switches
# --------------------------------------------------------------------------------------

def test_success_details_only_on_request(run, tmp_path):
    run("success-entities", "--input", SAMPLE)
    run("signins", "--input", SAMPLE)
    gated = [measure(document(tmp_path, "signins"), "successful")] + document(
        tmp_path, "success-entities")["measures"]
    for item in gated:
        tab = item["table"]
        assert tab["rows"] == [] and tab["truncated"] is False
        assert tab["total"] == item["value"] > 0
        assert tab["omitted"].startswith("successful-signin-dd is off")
    html = paths(tmp_path, "success-entities")[1].read_text()
    assert "successful-signin-dd is off" in html

    run("success-entities", "--input", SAMPLE, "--successful-signin-dd", "yes")
    run("signins", "--input", SAMPLE, "--successful-signin-dd", "yes")
    doc = document(tmp_path, "success-entities")
    assert doc["successful_signin_dd"] is True
    for item in doc["measures"]:
        tab = item["table"]
        assert "omitted" not in tab and tab["total"] == item["value"]
        assert len(tab["rows"]) == min(item["value"], 100)
        assert "top error codes" not in tab["columns"]
        assert "successful attempts" in tab["columns"]
    successful = measure(document(tmp_path, "signins"), "successful")["table"]
    assert successful["total"] == 2228 and len(successful["rows"]) == 100
    assert "error code" not in successful["columns"]


def test_success_tables_agree_with_their_measures_for_any_attempts(run, tmp_path):
    for attempts in ("1", "3", "12"):
        outcome = run("success-entities", "--input", SAMPLE, "--attempts", attempts,
                      "--successful-signin-dd", "yes", "--dd-limit", "100000")
        for item in document(tmp_path, "success-entities")["measures"]:
            assert item["table"]["total"] == len(item["table"]["rows"]) == \
                outcome.value(item["label"])
            longest = item["table"]["columns"].index("longest run")
            assert all(row[longest] >= int(attempts) for row in item["table"]["rows"])


def test_off_switch_writes_nothing(run, tmp_path):
    result = run("signins", "--input", SAMPLE, "--detailed-diagnosis", "off", "-v")
    assert result.code == 0
    assert "details:" not in result.out
    assert not (tmp_path / "state" / "dd").exists()


def test_limit_cuts_tables_and_says_so(sample_dd):
    _, doc = sample_dd("signins", "--dd-limit", "3")
    assert doc["limit"] == 3
    failed = measure(doc, "failed")
    assert len(failed["table"]["rows"]) == 3
    assert failed["table"]["truncated"] is True and failed["table"]["total"] == 238
    assert len(failed["tables"][0]["rows"]) == 3 and failed["tables"][0]["total"] == 10
    _, doc = sample_dd("failure-entities", "--dd-limit", "3")
    ips = measure(doc, "failure_ips")["table"]
    assert [r[0] for r in ips["rows"]][0] == SPRAY_IP
    assert (len(ips["rows"]), ips["total"], ips["truncated"]) == (3, 5, True)
    users = measure(doc, "failure_users")["table"]
    assert (len(users["rows"]), users["total"], users["truncated"]) == (3, 3, False)


@pytest.mark.parametrize("argv, message", [
    (["--dd-limit", "0"], "--dd-limit: must be 1 or more, not 0"),
    (["--dd-limit", "x"], "--dd-limit: must be a whole number"),
    (["--dd-url", "ftp://example/dd"], "--dd-url: 'ftp://example/dd' must be an http"),
    (["--dd-url", "https://icinga.example/dd\n"],
     "--dd-url: 'https://icinga.example/dd\\n' must be an http"),
    (["--dd-url", "https://icinga.example/my dd"],
     "--dd-url: 'https://icinga.example/my dd' must be an http"),
    (["--detailed-diagnosis", "yes"], "--detailed-diagnosis: invalid choice"),
    (["--successful-signin-dd", "on"], "--successful-signin-dd: invalid choice"),
])
def test_bad_dd_options_are_unknown(run, argv, message):
    result = run("signins", "--input", SAMPLE, *argv)
    assert result.code == 3
    assert message in result.first


def test_link_is_the_url_or_the_path(run, tmp_path):
    result = run("signins", "--input", SAMPLE, "--dd-url", "https://icinga.example/dd/", "-v")
    assert "details: https://icinga.example/dd/file/check_entra_signins.html" in \
        result.out.splitlines()
    # Problem long output (no -v) carries it too; an OK status line alone does not.
    result = run("signins", "--input", SAMPLE, "-w", "failed=1")
    assert result.code == 1
    assert "details: %s" % paths(tmp_path, "signins")[1] in result.out.splitlines()
    assert "details" not in run("signins", "--input", SAMPLE).out
    custom = tmp_path / "web" / "dd"
    result = run("failure-entities", "--input", SAMPLE, "--dd-dir", custom,
                 "--tenant-id", "contoso.example", "-v")
    # An --input run never replaces the tenant's live pages, even when it names the tenant.
    path = custom / "file" / "check_entra_failure_entities.html"
    assert "details: %s" % path in result.out.splitlines()
    assert path.exists() and path.with_suffix(".json").exists()
    assert json.loads(path.with_suffix(".json").read_text())["tenant"] == "file"
    assert not (custom / "contoso.example").exists()


def test_console_script_writes_the_dd(tmp_path):
    result = run_script("check_entra_failure_entities", "--input", SAMPLE, "--state-dir",
                        tmp_path / "state", "-v")
    assert result.code == 0
    json_path, html_path = paths(tmp_path, "failure-entities")
    assert "details: %s" % html_path in result.out.splitlines()
    assert measure(json.loads(json_path.read_text()), "failure_ips")["table"]["rows"][0][0] \
        == SPRAY_IP


# --------------------------------------------------------------------------------------
# Files: modes, atomic replacement, failures
# --------------------------------------------------------------------------------------

@pytest.mark.parametrize("umask", [0o022, 0o077, 0o000])
def test_file_and_directory_modes_whatever_the_umask(run, tmp_path, umask):
    old = os.umask(umask)
    try:
        run("signins", "--input", SAMPLE)
        run("signins", "--input", SAMPLE)  # replacing keeps the mode
    finally:
        os.umask(old)
    for path in paths(tmp_path, "signins"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o640
    for directory in (tmp_path / "state" / "dd", dd_dir(tmp_path)):
        assert stat.S_IMODE(directory.stat().st_mode) == 0o750
    assert sorted(p.name for p in dd_dir(tmp_path).iterdir()) == [
        "check_entra_signins.html", "check_entra_signins.json"]


def test_setgid_dd_directory_passes_its_group_on(run, tmp_path):
    """An administrator hands --dd-dir to the web server's group with setgid: the tenant
    directory keeps the bit (so files get that group) while being 0750 otherwise."""
    base = tmp_path / "web-dd"
    base.mkdir()
    os.chmod(base, 0o2750)
    run("signins", "--input", SAMPLE, "--dd-dir", base)
    tenant_dir = base / "file"
    assert stat.S_IMODE(tenant_dir.stat().st_mode) == 0o2750
    for name in ("check_entra_signins.json", "check_entra_signins.html"):
        assert (tenant_dir / name).stat().st_gid == base.stat().st_gid


def test_replacement_is_atomic(run, tmp_path, monkeypatch):
    real_replace = os.replace
    seen = []

    def spy(source, target):
        source, target = str(source), str(target)
        assert os.path.dirname(source) == os.path.dirname(target)
        assert os.path.basename(source) == "%s.tmp-%d" % (os.path.basename(target),
                                                          os.getpid())
        assert stat.S_IMODE(os.stat(source).st_mode) == 0o640
        with open(source, encoding="utf-8") as handle:
            text = handle.read()
        if target.endswith(".json"):
            json.loads(text)  # complete
        else:
            assert text.rstrip().endswith("</html>")
        seen.append(target)
        real_replace(source, target)

    monkeypatch.setattr(os, "replace", spy)
    assert run("signins", "--input", SAMPLE).code == 0
    json_path, html_path = paths(tmp_path, "signins")
    # Both temporary files are complete before either is renamed; the page goes first, so a
    # failure in between never leaves a new JSON beside an old page.
    assert seen == [str(html_path), str(json_path)]


def test_failure_before_the_rename_keeps_the_old_files(run, tmp_path, monkeypatch):
    run("signins", "--input", SAMPLE, "--dd-limit", "7")
    json_path, html_path = paths(tmp_path, "signins")
    before = json_path.read_bytes(), html_path.read_bytes()

    def broken(source, target):
        raise OSError(28, "No space left on device", str(target))

    monkeypatch.setattr(os, "replace", broken)
    result = run("signins", "--input", SAMPLE)
    # The check keeps its state; the OK output says, in one line, that the DD is stale.
    assert result.code == 0 and result.status.startswith("ENTRA SIGNINS OK - ")
    assert result.out.splitlines()[1] == (
        "detailed diagnosis not written: cannot write %s: No space left on device" % html_path)
    assert len(result.out.splitlines()) == 2
    assert (json_path.read_bytes(), html_path.read_bytes()) == before
    assert sorted(p.name for p in dd_dir(tmp_path).iterdir()) == [
        "check_entra_signins.html", "check_entra_signins.json"]  # no temporary left


def test_unwritable_directory_keeps_the_state(run, tmp_path):
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    result = run("signins", "--input", SAMPLE, "--dd-dir", blocker, "-c", "risky=0")
    assert result.code == 2
    assert result.status == "ENTRA SIGNINS CRITICAL - risky 20 (outside 0:0)"
    lines = [line for line in result.out.splitlines() if "detailed diagnosis" in line]
    assert len(lines) == 1
    assert lines[0] == "detailed diagnosis not written: DD directory %s is not a directory" \
        % blocker


def test_unknown_collection_writes_no_dd_and_keeps_the_old_one(run, tmp_path, write_json):
    assert run("signins", "--input", SAMPLE).code == 0
    json_path, html_path = paths(tmp_path, "signins")
    before = json_path.read_bytes(), html_path.read_bytes()
    stamp = json_path.stat().st_mtime_ns
    good = json.dumps([signin("a", 1), signin("b", 2, False)])
    truncated = tmp_path / "truncated.json"
    truncated.write_text(good[:-20])
    result = run("signins", "--input", truncated, "-v")
    assert result.code == 3
    assert "truncated" in result.first
    assert "details" not in result.out and "detailed diagnosis" not in result.out
    assert (json_path.read_bytes(), html_path.read_bytes()) == before
    assert json_path.stat().st_mtime_ns == stamp


# --------------------------------------------------------------------------------------
# Escaping and the HTML page
# --------------------------------------------------------------------------------------

def test_hostile_strings_are_escaped_in_the_html(run, tmp_path):
    run("signins", "--input", SAMPLE, "--successful-signin-dd", "yes", "--dd-limit", "3000")
    html = paths(tmp_path, "signins")[1].read_text(encoding="utf-8")
    assert "Mallory | &lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script" not in html.lower()
    assert "&lt;img src=x onerror=alert(1)&gt;" in html  # a user agent
    assert "<img" not in html.lower()
    # The app name with a newline shows the newline as a marked escape.
    assert 'Contoso Reports | total=999<span class="ctl">\\n</span>OK - injected' in html
    assert "Val-d&#x27;Or" in html
    assert "default-src 'none'" in html  # no script would run even if one slipped through
    assert not re.search(r"""src\s*=\s*["']?(https?:)?//""", html)  # self-contained
    # Links lead within the page or to Microsoft's error lookup, nowhere else.
    links = re.findall(r'<a href="([^"]*)"', html)
    assert links and all(LINK.match(link) for link in links), set(links)
    doc = document(tmp_path, "signins")
    assert MALLORY in json.dumps(doc, ensure_ascii=False)  # JSON keeps the data as it is


def test_html_page_structure(run, tmp_path):
    run("failure-entities", "--input", SAMPLE, "-c", "failure_ips=0")
    html = paths(tmp_path, "failure-entities")[1].read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>")
    assert "<title>check_entra_failure_entities \u2013 file</title>" in html
    for text in ("2026-11-20T08:00:00Z to 2026-11-20T08:59:59Z", "nonInteractiveUser",
                 "file nonint-signins.json", "<h2 id=\"measures\">Measures</h2>",
                 "<h2>Failure IP addresses: 5 <span class=\"state s-critical\">critical</span>",
                 "IP addresses with 5 or more consecutive failed attempts",
                 "<td>%s</td>" % SPRAY_IP, "(outside 0:0)"):
        assert text in html, text
    assert "<dt>attempts</dt><dd>entities count with 5 or more consecutive" in html
    assert html.count("<table>") == 6  # the six tables that have rows
    assert html.count('<table class="summary">') == 1  # the measures
    assert "<script" not in html


def sections(html):
    """The labels of the page's measure sections, top to bottom."""
    return re.findall(r'<section id="m-([a-z_]+)">', html)


def section(html, label):
    return html.split('<section id="m-%s">' % label, 1)[1].split("</section>", 1)[0]


def html_tables(html):
    """Each HTML table of the fragment as (header cells, rows of cell markup)."""
    found = []
    for table in re.findall(r"<table>(.*?)</table>", html, re.S):
        head = re.findall(r"<th\b[^>]*>(.*?)</th>", table)
        rows = [re.findall(r"<td[^>]*>(.*?)</td>", row)
                for row in re.findall(r"<tr>(.*?)</tr>", table.split("</thead>", 1)[1])]
        found.append((head, rows))
    return found


def test_alarmed_measure_and_its_tables_come_first(run, tmp_path):
    """failed_pct CRITICAL: the failed sign-ins (whose table failed_pct shares) lead the
    page, their summary by error code before the long list; the JSON says the order."""
    result = run("signins", "--input", SAMPLE, "-c", "failed_pct=1")
    assert result.code == 2
    doc = document(tmp_path, "signins")
    assert doc["alarm_order"] == ["failed_pct", "total", "successful", "failed", "risky"]
    assert [m["label"] for m in doc["measures"]] == measures.GROUPS["signins"].labels()
    html = paths(tmp_path, "signins")[1].read_text(encoding="utf-8")
    assert sections(html) == ["failed", "successful", "risky"]
    summary = html.split('<table class="summary">', 1)[1].split("</table>", 1)[0]
    assert re.findall(r"<td>([a-z_]+)</td>", summary) == doc["alarm_order"]
    failed = section(html, "failed")
    assert failed.index("Failed sign-ins by error code") < failed.index(
        "Failed sign-ins, newest first")
    assert "Also the details of: Failed sign-ins percentage: 9.65% " \
        '<span class="state s-critical">critical</span> (outside 0:1)' in failed
    # In the list, why a sign-in failed comes right after who it was.
    head = html_tables(failed)[1][0]
    assert head[:4] == ["time", "user", "error code", "failure reason"]
    assert sorted(head) == sorted(measure(doc, "failed")["table"]["columns"])


def test_legacy_clients_warning_comes_first(run, tmp_path):
    assert run("auth-methods", "--input", SAMPLE, "-w", "legacy_clients=0").code == 1
    doc = document(tmp_path, "auth-methods")
    order = ["legacy_clients", "single_factor", "multi_factor", "modern_clients"]
    assert doc["alarm_order"] == order
    assert sections(paths(tmp_path, "auth-methods")[1].read_text()) == order


def test_worst_alarm_first_and_a_shared_table_once(run, tmp_path):
    result = run("signins", "--input", SAMPLE, "-w", "risky=0", "-w", "failed=1",
                 "-c", "failed_pct=1", "--details")
    assert result.code == 2
    doc = document(tmp_path, "signins")
    assert doc["alarm_order"] == ["failed_pct", "failed", "risky", "total", "successful"]
    assert sections(paths(tmp_path, "signins")[1].read_text()) == [
        "failed", "risky", "successful"]
    # The terminal reads in the same order.
    heads = re.findall(r"^[A-Z][\w -]+ \(([a-z_]+)\): ", result.out, re.M)
    assert heads == doc["alarm_order"]


def per_minute(records, start_minute, minutes):
    """[successful, failed] per minute from ``start_minute`` ('2026-11-20T08:00'), counted
    from the sign-in records themselves (non-interactive, error code 0 is a success)."""
    counted = Counter(
        (r["createdDateTime"][:16], (r.get("status") or {}).get("errorCode", 0) == 0)
        for r in records if "nonInteractiveUser" in (r.get("signInEventTypes")
                                                     or ["nonInteractiveUser"]))
    hour, minute = int(start_minute[11:13]), int(start_minute[14:16])
    labels = ["%s%02d:%02d" % (start_minute[:11], (hour * 60 + minute + n) // 60,
                               (minute + n) % 60) for n in range(minutes)]
    assert sum(counted.values()) == sum(counted[(m, ok)] for m in labels
                                        for ok in (True, False))  # none outside
    return [[counted[(m, True)], counted[(m, False)]] for m in labels]


def test_timeline_counts_the_window_minute_by_minute(run, tmp_path):
    run("signins", "--input", SAMPLE)
    doc = document(tmp_path, "signins")
    expected = per_minute(json.loads(SAMPLE.read_text()), "2026-11-20T08:00", 60)
    assert doc["timeline"] == {"start": "2026-11-20T08:00:00Z", "bucket_minutes": 1,
                               "buckets": expected}
    assert sum(ok for ok, _ in expected) == measure(doc, "successful")["value"]
    assert sum(failed for _, failed in expected) == measure(doc, "failed")["value"]
    # The spray of 08:06 to 08:11 stands out below the line.
    assert max(range(60), key=lambda minute: expected[minute][1]) in range(6, 12)
    html = paths(tmp_path, "signins")[1].read_text(encoding="utf-8")
    svg = html.split('<svg class="timeline"', 1)[1].split("</svg>", 1)[0]
    assert html.index('<svg class="timeline"') < html.index('<h2 id="measures">')
    assert "<script" not in svg and "style=" not in svg and "href" not in svg
    assert len(re.findall(r"<g><title>", svg)) == sum(1 for b in expected if any(b))
    assert "<title>2026-11-20T08:06:00Z: %d successful, %d failed</title>" % tuple(
        expected[6]) in svg
    assert "each bar: 1 minute" in html


def test_timeline_of_a_long_window_has_wide_buckets(run, tmp_path):
    run("signins", "--input", SAMPLE, "--start", "2026-11-01T00:00:00Z",
        "--end", "2026-12-02T00:00:00Z")
    timeline = document(tmp_path, "signins")["timeline"]
    # 31 days in 3-hour buckets: 248 bars, not 44,640.
    assert timeline["start"] == "2026-11-01T00:00:00Z"
    assert timeline["bucket_minutes"] == 180 and len(timeline["buckets"]) == 248
    hours = per_minute(json.loads(SAMPLE.read_text()), "2026-11-20T08:00", 60)
    busy = 19 * 8 + 2  # 2026-11-20T06:00 to 09:00
    assert timeline["buckets"][busy] == [sum(m[0] for m in hours), sum(m[1] for m in hours)]
    assert not any(any(b) for n, b in enumerate(timeline["buckets"]) if n != busy)
    html = paths(tmp_path, "signins")[1].read_text(encoding="utf-8")
    assert "each bar: 3 hours" in html
    assert html.count("<rect ") == 2  # one bar above the line, one below


def test_error_codes_link_to_microsofts_lookup(run, tmp_path, write_json):
    run("signins", "--input", SAMPLE, "-w", "failed=1")
    html = paths(tmp_path, "signins")[1].read_text(encoding="utf-8")
    link = '<a href="%s" rel="noreferrer">50126</a>' % LOOKUP % 50126
    codes, listed = html_tables(section(html, "failed"))
    assert codes[0][0] == "error code" and codes[1][0][0] == link
    assert listed[0][:3] == ["time", "user", "error code"]
    assert all(re.match(r'<a href="%s" rel="noreferrer">\d+</a>$'
                        % re.escape(LOOKUP).replace("%d", r"\d+"), row[2])
               for row in listed[1])
    # Risky sign-ins list successes too: error code 0 is no error and has no link.
    risky = html_tables(section(html, "risky"))[0]
    column = risky[0].index("error code")
    assert "0" in [row[column] for row in risky[1]]
    run("failure-entities", "--input", SAMPLE)
    html = paths(tmp_path, "failure-entities")[1].read_text(encoding="utf-8")
    assert '<a href="%s" rel="noreferrer">50126</a>\u00d725, <a href="%s" rel="noreferrer">' \
        "50053</a>\u00d75" % (LOOKUP % 50126, LOOKUP % 50053) in html
    # A code this plugin does not know: its meaning is the link.
    unknown = [signin("u%d" % n, n, False) for n in range(3)]
    for record in unknown:
        record["status"] = {"errorCode": 4242}
    run("signins", "--input", write_json(unknown))
    html = paths(tmp_path, "signins")[1].read_text(encoding="utf-8")
    assert '<td>see <a href="{0}" rel="noreferrer">{0}</a></td>'.format(LOOKUP % 4242) in html


def test_no_distinct_users_0_for_service_principals(run, tmp_path):
    result = run("failure-entities", "--input", SAMPLE, "--event-type", "nonInteractiveUser",
                 "--event-type", "servicePrincipal", "--details")
    doc = document(tmp_path, "failure-entities")
    sps = measure(doc, "failure_service_principals")["table"]
    assert sps["rows"] and rows_as_dicts(sps)[0]["distinct users"] == 0  # the JSON's count
    html = paths(tmp_path, "failure-entities")[1].read_text(encoding="utf-8")
    head, rows = html_tables(section(html, "failure_service_principals"))[0]
    assert "distinct users" not in head and rows  # no user ever: no such column
    checked = 0
    for label in ("failure_ips", "failure_locations", "failure_apps"):
        head, rows = html_tables(section(html, label))[0]
        column = head.index("distinct users")
        cells = [row[column] for row in rows]
        assert "0" not in cells and "" in cells, label  # the billing robot's row: empty
        checked += 1
    assert checked == 3 and dd_render.NO_USER_NOTE in html
    # The terminal shows the same.
    header = next(line for line in result.out.splitlines()
                  if line.lstrip().startswith("service principal "))
    assert "longest run" in header and "distinct users" not in header
    robot = next(line for line in result.out.splitlines()
                 if line.lstrip().startswith("Dublin, Dublin, IE"))
    assert robot.split()[3:6] == ["16", "16", "7000215\u00d716"]


def test_details_say_how_to_list_successful_signins(run, tmp_path):
    result = run("success-entities", "--input", SAMPLE, "--details")
    hint = ("Successful sign-ins are not listed (--successful-signin-dd no): run the check "
            "with --successful-signin-dd yes to list them (the tables can be large).")
    assert hint in result.out.splitlines()
    assert hint in paths(tmp_path, "success-entities")[1].read_text(encoding="utf-8")
    assert hint in run("signins", "--input", SAMPLE, "--details").out.splitlines()
    listed = run("success-entities", "--input", SAMPLE, "--details",
                 "--successful-signin-dd", "yes")
    assert "Successful sign-ins are not listed" not in listed.out
    assert "Successful sign-ins are not listed" not in paths(
        tmp_path, "success-entities")[1].read_text(encoding="utf-8")
    failures = run("failure-entities", "--input", SAMPLE, "--details")
    assert "Successful sign-ins are not listed" not in failures.out


def test_visible_text_helpers():
    assert dd_render.visible("a\nb\x1b[31mc\u202ed\x7f\x85") == \
        "a\\nb\\x1b[31mc\\u202ed\\x7f\\x85"
    assert dd_render.esc('<a href="x">') == "&lt;a href=&quot;x&quot;&gt;"
    assert dd_render.esc("<b>\t") == '&lt;b&gt;<span class="ctl">\\t</span>'
    assert dd_render.visible("S\u00e3o Paulo, Persian\u200cname") == \
        "S\u00e3o Paulo, Persian\u200cname"  # letters and joiners stay
    assert errorcodes.meaning(50126) == "invalid username or password"
    assert errorcodes.meaning(4242) == "see https://login.microsoftonline.com/error?code=4242"
    assert errorcodes.lookup_url(50126) == LOOKUP % 50126
    assert [errorcodes.lookup_url(v) for v in (0, -1, "Infinity", True, None)] == [None] * 5
    assert errorcodes.kind(50058) == "interrupt" and errorcodes.kind(50126) == "failure"


# --------------------------------------------------------------------------------------
# --details: the tables in the terminal
# --------------------------------------------------------------------------------------

def test_details_print_the_tables_after_the_plugin_output(run, tmp_path):
    plain = run("signins", "--input", SAMPLE, "-w", "failed=1")
    detailed = run("signins", "--input", SAMPLE, "-w", "failed=1", "--details",
                   "--dd-limit", "5")
    assert detailed.code == plain.code == 1
    assert detailed.first == plain.first  # status line and perfdata unchanged
    assert detailed.out.startswith(plain.out)
    extra = detailed.out[len(plain.out):]
    for heading in ("Detailed diagnosis: check_entra_signins, tenant file",
                    "Failed sign-ins (failed): 238 [WARNING]",
                    "Failed sign-ins, newest first", "238 rows, the first 5 shown (--dd-limit)",
                    "Failed sign-ins by error code", "Risky sign-ins, newest first",
                    "Failed sign-ins percentage (failed_pct): 9.65% [OK]: see failed",
                    "2228 rows not shown: successful-signin-dd is off"):
        assert heading in extra, heading
    assert "|" not in extra and "\x1b" not in extra  # nothing Icinga reads as perfdata
    assert "Mallory \u00a6 <script>alert(1)</script>" in extra
    header = next(line for line in extra.splitlines() if line.strip().startswith("time "))
    ruler = extra.splitlines()[extra.splitlines().index(header) + 1]
    assert len(header.rstrip()) <= len(ruler)  # columns are padded to a common width
    assert all(len(cell) <= dd_render.CELL_WIDTH for cell in re.split(r"\s{2,}", ruler))


def test_details_without_files(run, tmp_path):
    result = run("failure-entities", "--input", SAMPLE, "--details",
                 "--detailed-diagnosis", "off")
    assert result.code == 0
    assert "files not written (--detailed-diagnosis off)" in result.out
    row = next(line for line in result.out.splitlines() if SPRAY_IP in line)
    assert row.split()[:3] == [SPRAY_IP, "120", "120"]
    assert not (tmp_path / "state" / "dd").exists()
