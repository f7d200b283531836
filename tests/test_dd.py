"""Detailed diagnosis: content on the shipped sample, switches, files, escaping, --details.

The checks run through the real main() (``run`` fixture); conftest points the default
state directory, and so the default DD directory, at the test's tmp_path.
"""

import json
import os
import re
import stat

import pytest

from check_entra_noninteractive import dd_render, errorcodes, measures
from conftest import SAMPLE, run_script, signin

SPRAY_IP = "198.51.100.7"
BRUTE_IP = "203.0.113.66"
ADELE = "adele.vance@contoso.example"
MALLORY = "Mallory | <script>alert(1)</script>"
TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


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
    assert ips["value"] == 4 and ips["state"] == "ok"
    tab = ips["table"]
    assert tab["columns"] == ["IP", "failed attempts", "longest run", "distinct users",
                              "top error codes", "first seen", "last seen"]
    assert tab["total"] == 4 and tab["truncated"] is False
    first, second = rows_as_dicts(tab)[:2]
    assert first["IP"] == SPRAY_IP
    assert (first["failed attempts"], first["longest run"], first["distinct users"]) == (
        120, 120, 40)
    assert first["top error codes"] == "50126\u00d7120"
    assert first["first seen"].startswith("2026-11-20T08:0")
    assert first["last seen"].startswith("2026-11-20T08:1")
    assert (second["IP"], second["failed attempts"], second["longest run"]) == (BRUTE_IP, 30, 30)
    assert second["top error codes"] == "50126\u00d725, 50053\u00d75"
    # The two phones of the CA scenario complete the four: runs of 8.
    assert sorted(r["IP"] for r in rows_as_dicts(tab)[2:]) == ["198.51.100.212",
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
                                                      "Ashburn, Virginia, US"]
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
    assert tab["total"] == 227 and len(tab["rows"]) == 100 and tab["truncated"] is True
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
    assert summary[0] == {"error code": 50126, "failed sign-ins": 152, "distinct users": 45,
                          "kind": "failure", "meaning": "invalid username or password"}
    by_code = {r["error code"]: r for r in summary}
    assert sum(r["failed sign-ins"] for r in summary) == 227
    assert by_code[53003]["meaning"] == "blocked by Conditional Access"
    assert by_code[50058]["kind"] == by_code[50140]["kind"] == "interrupt"
    assert by_code[50053]["failed sign-ins"] == 5
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
    for label, value in (("ca_not_applied", 1129), ("ca_success", 1313)):
        item = measure(doc, label)
        assert item["value"] == value
        tab = item["table"]
        assert tab["columns"] == ["application", "sign-ins", "distinct users", "failed",
                                  "app id"]
        assert sum(r[1] for r in tab["rows"]) == value  # every sign-in in one app's row
        counts = [r[1] for r in tab["rows"]]
        assert counts == sorted(counts, reverse=True)


def test_auth_methods_grouped_by_user_app_and_client_app(sample_dd):
    _, doc = sample_dd("auth-methods")
    for item in doc["measures"]:
        tab = item["table"]
        assert tab["columns"] == ["user", "application", "client app", "sign-ins", "failed"]
        assert sum(r[3] for r in tab["rows"]) <= item["value"]
    legacy = rows_as_dicts(measure(doc, "legacy_clients")["table"])
    assert legacy[0] == {"user": "lee.gu@contoso.example",
                         "application": "Office 365 Exchange Online",
                         "client app": "Exchange ActiveSync", "sign-ins": 24, "failed": 0}
    assert {r["client app"] for r in legacy} >= {"Exchange ActiveSync", "IMAP4", "POP3",
                                                  "Authenticated SMTP", "Other clients"}
    single = rows_as_dicts(measure(doc, "single_factor")["table"])
    assert single[0]["user"] == ADELE and single[0]["sign-ins"] == single[0]["failed"] == 30


def test_every_document_has_the_documented_shape(sample_dd):
    for group in measures.GROUPS.values():
        result, doc = sample_dd(group.name)
        assert result.code == 0
        assert list(doc) == ["schema", "tenant", "check", "title", "state", "window",
                             "generated", "source", "attempts", "limit",
                             "successful_signin_dd", "measures"]
        assert doc["schema"] == 1 and doc["tenant"] == "file"
        assert doc["check"] == group.script and doc["state"] == "ok"
        assert doc["window"] == {"start": "2026-11-20T08:00:00Z",
                                 "end": "2026-11-20T08:59:59Z",
                                 "event_types": ["nonInteractiveUser"]}
        assert TIME.match(doc["generated"]) and doc["source"] == "file nonint-signins.json"
        assert (doc["attempts"], doc["limit"], doc["successful_signin_dd"]) == (5, 100, False)
        assert [m["label"] for m in doc["measures"]] == group.labels()
        for item in doc["measures"]:
            assert set(item) <= {"label", "title", "value", "uom", "state", "hint", "table",
                                 "tables", "see"}
            assert item["value"] == result.value(item["label"])
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
    assert successful["total"] == 2239 and len(successful["rows"]) == 100
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
    assert failed["table"]["truncated"] is True and failed["table"]["total"] == 227
    assert len(failed["tables"][0]["rows"]) == 3 and failed["tables"][0]["total"] == 8
    _, doc = sample_dd("failure-entities", "--dd-limit", "3")
    ips = measure(doc, "failure_ips")["table"]
    assert [r[0] for r in ips["rows"]][0] == SPRAY_IP
    assert (len(ips["rows"]), ips["total"], ips["truncated"]) == (3, 4, True)
    users = measure(doc, "failure_users")["table"]
    assert (len(users["rows"]), users["total"], users["truncated"]) == (3, 3, False)


@pytest.mark.parametrize("argv, message", [
    (["--dd-limit", "0"], "--dd-limit: must be 1 or more, not 0"),
    (["--dd-limit", "x"], "--dd-limit: must be a whole number"),
    (["--dd-url", "ftp://example/dd"], "--dd-url: 'ftp://example/dd' must be an http"),
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
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)  # self-contained
    doc = document(tmp_path, "signins")
    assert MALLORY in json.dumps(doc, ensure_ascii=False)  # JSON keeps the data as it is


def test_html_page_structure(run, tmp_path):
    run("failure-entities", "--input", SAMPLE, "-c", "failure_ips=0")
    html = paths(tmp_path, "failure-entities")[1].read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>")
    assert "<title>check_entra_failure_entities \u2013 file</title>" in html
    for text in ("2026-11-20T08:00:00Z to 2026-11-20T08:59:59Z", "nonInteractiveUser",
                 "file nonint-signins.json", "<h2 id=\"measures\">Measures</h2>",
                 "<h2>Failure IP addresses: 4 <span class=\"state s-critical\">critical</span>",
                 "IP addresses with 5 or more consecutive failed attempts",
                 "<td>%s</td>" % SPRAY_IP, "(outside 0:0)"):
        assert text in html, text
    assert "<dt>attempts</dt><dd>entities count with 5 or more consecutive" in html
    assert html.count("<table>") == 6  # the six tables that have rows
    assert html.count('<table class="summary">') == 1  # the measures
    assert "<script" not in html


def test_visible_text_helpers():
    assert dd_render.visible("a\nb\x1b[31mc\u202ed\x7f\x85") == \
        "a\\nb\\x1b[31mc\\u202ed\\x7f\\x85"
    assert dd_render.esc('<a href="x">') == "&lt;a href=&quot;x&quot;&gt;"
    assert dd_render.esc("<b>\t") == '&lt;b&gt;<span class="ctl">\\t</span>'
    assert dd_render.visible("S\u00e3o Paulo, Persian\u200cname") == \
        "S\u00e3o Paulo, Persian\u200cname"  # letters and joiners stay
    assert errorcodes.meaning(50126) == "invalid username or password"
    assert errorcodes.meaning(4242) == "see https://login.microsoftonline.com/error?code=4242"
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
                    "Failed sign-ins (failed): 227 [WARNING]",
                    "Failed sign-ins, newest first", "227 rows, the first 5 shown (--dd-limit)",
                    "Failed sign-ins by error code", "Risky sign-ins, newest first",
                    "Failed sign-ins percentage (failed_pct): 9.21% [OK]: see failed",
                    "2239 rows not shown: successful-signin-dd is off"):
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
