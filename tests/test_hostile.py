"""Hostile strings everywhere: what an attacker can put in a sign-in record (display names,
UPNs, IPs, cities, client apps, failure reasons, user agents, Conditional Access policy
names) never breaks the plugin output, never reaches a terminal or Icinga as control
characters, never runs as HTML, and is kept as data in the DD.

Also the proof that the suite's secret scan (tests/conftest.py) is not a no-op.
"""

import json
import re

import pytest

import conftest
from check_entra_noninteractive.measures import GROUPS
from conftest import signin

# (id, text). Each text is put between brackets, so that the normalizer's strip() keeps it
# whole and the DD must hold exactly this value.
PAYLOADS = [
    ("pipe", "evil | 'total'=999;1;2;0 name|'failed'=0"),
    ("newlines", "line\nENTRA SIGNINS OK - all is well | total=0\r\nENTRA CRITICAL\rcr\n"
                 "| total=5"),
    ("script", "<script>alert(1)</script>"),
    ("img", '"><img src=x onerror=alert(1)>'),
    ("controls", "c" + "".join(chr(c) for c in range(0x20)) + "\x7f\x85\x9b" + "c"),
    ("ansi", "\x1b[31mRED\x1b[0m\x1b]0;pwned\x07\x1b[2J"),
    ("bidi", "user\u202egpj.exe\u2066iso\u2069\u202c\u2028\u2029"),
    ("long", "L" * 9998),
]
PAYLOAD_IDS = [name for name, _ in PAYLOADS]

# How each starts in the --details tables on a terminal (cells are cut at 40 characters).
SHOWN = {
    "pipe": "[evil \u00a6 'total'=999;1;2;0 name\u00a6",
    "newlines": "[line\\nENTRA SIGNINS OK - all",
    "script": "[<script>alert(1)</script>]",
    "img": '["><img src=x onerror=alert(1)>]',
    "controls": "[c\\x00\\x01\\x02\\x03\\x04\\x05",
    "ansi": "[\\x1b[31mRED\\x1b[0m\\x1b]0;pwned",
    "bidi": "[user\\u202egpj.exe\\u2066iso",
    "long": "[" + "L" * 38 + "\u2026",
}

# Characters that must never reach the plugin's stdout: C0 controls but the newline that
# ends a line, DEL, C1 controls, bidirectional formatting, line/paragraph separators.
HIDDEN = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029"
                    "\u202a-\u202e\u2066-\u2069]")
# The same in the HTML page, which has newlines and no tabs of its own.
HIDDEN_IN_HTML = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029"
                            "\u202a-\u202e\u2066-\u2069]")
# Plugin output lines, --details tables included: the 10,000-character strings are cut.
MAX_LINE = 500

# group -> (threshold that the hostile records break, records succeed?, expected perfdata)
EXPECTED = {
    "signins": (["-c", "failed=0"], False,
                {"total": 3, "successful": 0, "failed": 3, "failed_pct": 100, "risky": 0}),
    "success-entities": (["-c", "success_users=0"], True,
                         {label: 1 for label in GROUPS["success-entities"].labels()}),
    "failure-entities": (["-c", "failure_users=0"], False,
                         {label: 1 for label in GROUPS["failure-entities"].labels()}),
    # A hostile client app is neither a modern nor a legacy client.
    "auth-methods": (["-c", "single_factor=0"], False,
                     {"single_factor": 3, "multi_factor": 0, "modern_clients": 0,
                      "legacy_clients": 0}),
    "conditional-access": (["-c", "ca_failure=0"], False,
                           {"ca_failure": 3, "ca_success": 0, "ca_not_applied": 0}),
    # Device-code sign-ins put the hostile names in the threats check's user table.
    "threats": (["-c", "device_code_users=0"], True,
                dict({label: 0 for label in GROUPS["threats"].labels()},
                     device_code_users=1)),
}


def hostile_records(text, ok):
    """Three sign-ins of one user, app, IP ... whose attacker-controlled strings are text."""
    return [signin("hostile-%d" % i, i, ok,
                   userPrincipalName=text, userDisplayName=text, appDisplayName=text,
                   resourceDisplayName=text, ipAddress=text, clientAppUsed=text,
                   userAgent=text, servicePrincipalId="sp-1", servicePrincipalName=text,
                   location={"city": text, "state": text, "countryOrRegion": "DE"},
                   status={"errorCode": 0 if ok else 53003, "failureReason": text},
                   conditionalAccessStatus="success" if ok else "failure",
                   authenticationProtocol="deviceCode",
                   appliedConditionalAccessPolicies=[
                       {"id": "policy-1", "displayName": text,
                        "result": "success" if ok else "failure"}])
            for i in range(3)]


def plugin_part(out):
    """The plugin output proper: what comes before the --details tables."""
    return out.split("\n\nDetailed diagnosis: ", 1)[0]


def perfdata(out):
    """label -> value from the one perfdata part of the plugin output."""
    lines = [line for line in out.split("\n") if "|" in line]
    assert len(lines) == 1, lines
    fields = {}
    for item in lines[0].split("|", 1)[1].split():
        label, equals, rest = item.partition("=")
        assert equals, item
        assert label.strip("'") not in fields, "label %s printed twice" % label
        fields[label.strip("'")] = float(rest.split(";")[0].rstrip("%"))
    return fields


def cells(document):
    """Every string in the DD document, at any depth."""
    if isinstance(document, str):
        yield document
    elif isinstance(document, dict):
        for value in document.values():
            yield from cells(value)
    elif isinstance(document, list):
        for value in document:
            yield from cells(value)


def assert_safe_output(out, group):
    title = GROUPS[group].title.upper()
    lines = out.split("\n")
    # One status line, then no line that poses as another status line or a second
    # perfdata part.
    assert lines[0].startswith(title + " "), lines[0]
    assert not [line for line in lines[1:] if line.lstrip().startswith("ENTRA")], out[:2000]
    assert out.count("|") == 1, [line for line in lines if "|" in line]
    # The plugin tames the strings itself: nagiosplugin's last resort (dropping '|' with a
    # warning line) never has to act.
    assert "removed illegal characters" not in out
    # The one '|' separates the perfdata: on the status line, or on its own line after
    # the long output.
    pipe_line = next(line for line in lines if "|" in line)
    assert " | " in lines[0] if pipe_line is lines[0] else pipe_line.startswith("| ")
    found = HIDDEN.search(out)
    assert found is None, "%r reaches stdout: %r" % (
        found.group(), out[max(0, found.start() - 80):found.end() + 80])
    assert max(len(line) for line in lines) <= MAX_LINE


@pytest.mark.parametrize("name, payload", PAYLOADS, ids=PAYLOAD_IDS)
@pytest.mark.parametrize("group", list(GROUPS))
def test_hostile_strings(run, write_json, tmp_path, group, name, payload):
    text = "[" + payload + "]"
    threshold, ok, expected = EXPECTED[group]
    path = write_json(hostile_records(text, ok))
    dd_dir = tmp_path / "dd"
    labels = GROUPS[group].labels()

    # As Icinga runs it: one status line with the perfdata, long output after it.
    quiet = run(group, "--input", path, "--attempts", "1", *threshold, "--dd-dir", dd_dir,
                "--successful-signin-dd", "yes")
    assert quiet.code == 2, quiet.out
    assert quiet.first.startswith(GROUPS[group].title.upper() + " CRITICAL - "), quiet.first
    assert quiet.first.count("|") == 1
    assert quiet.out.count("|") == 1
    assert_safe_output(quiet.out, group)
    assert perfdata(quiet.out) == expected
    assert sorted(perfdata(quiet.out)) == sorted(labels)

    # As an operator reads it: -v, and the DD tables on the terminal, where the hostile
    # entity shows (the status line and long output name only counts).
    loud = run(group, "--input", path, "--attempts", "1", *threshold, "-v", "--details",
               "--dd-dir", dd_dir, "--successful-signin-dd", "yes")
    assert loud.code == 2, loud.out
    assert_safe_output(loud.out, group)
    plugin = plugin_part(loud.out)
    assert plugin != loud.out, "no --details tables printed"
    assert perfdata(plugin) == expected
    assert len(perfdata(plugin)) == len(labels)
    assert "details: %s" % (dd_dir / "file" / (GROUPS[group].script + ".html")) in plugin
    # The entity shows in the tables, tamed: cut, '|' as '\u00a6', controls as escapes.
    if name == "long":
        assert len(text) == 10000 and "L" * 200 not in loud.out
    elif name in ("script", "img"):
        assert text in loud.out  # not HTML here: nothing to tame
    else:
        assert text not in loud.out
    assert SHOWN[name] in loud.out

    # The DD keeps the data as it is: it is evidence.
    document = json.loads((dd_dir / "file" / (GROUPS[group].script + ".json")).read_text())
    assert text in cells(document), "hostile value not kept whole in the DD"
    page = (dd_dir / "file" / (GROUPS[group].script + ".html")).read_text()
    assert "<script>alert" not in page.lower()
    assert "<img src=x" not in page.lower()
    found = HIDDEN_IN_HTML.search(page)
    assert found is None, "%r is raw in the HTML" % found.group()
    if name == "script":
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    if name == "img":
        assert "&quot;&gt;&lt;img src=x onerror=alert(1)&gt;" in page
    if name == "ansi":
        assert '<span class="ctl">\\x1b</span>[31mRED' in page


def test_hostile_portal_csv(run, tmp_path):
    """The portal's CSV export, quoted fields holding newlines, pipes, escapes, bidi."""
    text = "[x\r\nENTRA OK | total=0\n\x1b[31m\u202e<script>alert(1)</script>]"
    quoted = '"%s"' % text
    header = ("Date (UTC),Request ID,User,Username,User ID,Application,Application ID,"
              "IP address,Location,Status,Sign-in error code,Failure reason,Client app,"
              "User agent\n")
    rows = "".join("2026-11-20T08:00:0%dZ,r%d,%s,%s,user-1,%s,app-1,%s,%s,Failure,50126,%s,"
                   "%s,%s\n" % (i, i, quoted, quoted, quoted, quoted,
                                '"%s, Berlin, DE"' % text, quoted, quoted, quoted)
                   for i in range(3))
    path = tmp_path / "export.csv"
    path.write_text(header + rows, newline="")
    dd_dir = tmp_path / "dd"
    result = run("failure-entities", "--input", path, "--attempts", "1", "-c",
                 "failure_users=0", "-v", "--details", "--dd-dir", dd_dir)
    assert result.code == 2, result.out
    assert_safe_output(result.out, "failure-entities")
    assert perfdata(plugin_part(result.out)) == {
        "failure_ips": 1, "failure_locations": 1, "failure_apps": 1,
        "failure_service_principals": 0, "failure_resources": 0, "failure_users": 1,
        "failure_client_apps": 1}
    document = json.loads((dd_dir / "file" / "check_entra_failure_entities.json").read_text())
    assert any(text in cell for cell in cells(document))
    page = (dd_dir / "file" / "check_entra_failure_entities.html").read_text()
    assert "<script>alert" not in page and HIDDEN_IN_HTML.search(page) is None


def test_hostile_input_file_name(run, tmp_path):
    """The file name shows in the long output (source) and in error lines: its control and
    bidi characters are written as escapes, its '|' as '/'."""
    path = tmp_path / "a\x1b[31m\u202eb\x07|x.json"
    path.write_text(json.dumps(hostile_records("plain", False)))
    found = run("signins", "--input", path, "-c", "failed=0", "-v",
                "--dd-dir", tmp_path / "dd")
    assert found.code == 2, found.out
    assert_safe_output(found.out, "signins")
    assert "source: file a\\x1b[31m\\u202eb\\x07/x.json" in found.out
    missing = run("signins", "--input", str(path) + "-gone")
    assert missing.code == 3
    assert missing.out == ("ENTRA SIGNINS UNKNOWN - input file %s/a\\x1b[31m\\u202eb\\x07/x.json"
                           "-gone does not exist\n" % tmp_path)


def test_hostile_timestamp_is_one_clean_unknown_line(run, write_json):
    bad = "2026\x1b[31m|x\nENTRA SIGNINS OK\u202e"
    result = run("signins", "--input", write_json([signin("a", 1, createdDateTime=bad)]))
    assert result.code == 3
    assert result.out.count("\n") == 1 and "|" not in result.out
    assert HIDDEN.search(result.out) is None
    assert result.first.startswith("ENTRA SIGNINS UNKNOWN - input file ")
    assert result.first.endswith(": record 1 is malformed: not a timestamp: "
                                 "'2026\\x1b[31m/x\\nENTRA SIGNINS OK\\u202e'")


@pytest.mark.parametrize("group", list(GROUPS))
def test_lone_surrogate_escape_is_data_not_a_crash(run, tmp_path, group):
    threshold, ok, expected = EXPECTED[group]
    path = tmp_path / "surrogate.json"
    path.write_text(json.dumps(hostile_records("[\ud800 lone \udfff]", ok)))
    assert "\\ud800" in path.read_text()  # the file is plain ASCII JSON
    result = run(group, "--input", path, "--attempts", "1", *threshold,
                 "--dd-dir", tmp_path / "dd", "--successful-signin-dd", "yes")
    # A lone surrogate (valid JSON) used to make every run "internal error:
    # UnicodeEncodeError" while the record was in the window; the store now replaces it.
    assert result.code == 2, result.out
    assert perfdata(result.out) == expected


BAD_UTF8 = b"bad\xff\xfe\xc3(\x80\xed\xa0\x80end"  # invalid bytes, an encoded surrogate


def _with_bad_bytes(shape):
    if shape == "json":
        data = json.dumps(hostile_records("PLACEHOLDER", False)).encode()
    elif shape == "jsonl":
        data = "".join(json.dumps(r) + "\n"
                       for r in hostile_records("PLACEHOLDER", False)).encode()
    elif shape == "csv":
        data = (b"Date (UTC),Request ID,Username,User ID,Status,Sign-in error code\n"
                + b"".join(b"2026-11-20T08:00:0%dZ,r%d,PLACEHOLDER,user-1,Failure,50126\n"
                           % (i, i) for i in range(3)))
    else:  # the bad bytes only in the last record, after more than a 1 MB read chunk
        records = [signin("pad-%d" % i, i % 3000, False, userAgent="p" * 400)
                   for i in range(3000)] + hostile_records("PLACEHOLDER", False)[:1]
        data = json.dumps(records).encode()
        assert data.index(b"PLACEHOLDER") > 1 << 20
    return data.replace(b"PLACEHOLDER", BAD_UTF8)


@pytest.mark.parametrize("group, shape", [(g, s) for g in GROUPS for s in ("json", "jsonl",
                                                                          "csv")]
                         + [("signins", "late")])
def test_invalid_utf8_is_one_clean_unknown_line(run, tmp_path, group, shape):
    """Not replaced: the file is refused as a whole, with one line naming the problem, and
    no DD is written (a half-read file is never reported)."""
    path = tmp_path / ("export." + ("json" if shape == "late" else shape))
    path.write_bytes(_with_bad_bytes(shape))
    dd_dir = tmp_path / "dd"
    result = run(group, "--input", path, "-v", "--dd-dir", dd_dir)
    assert result.code == 3
    assert result.out == ("%s UNKNOWN - input file %s is not UTF-8 text (is it compressed?)\n"
                          % (GROUPS[group].title.upper(), path))
    assert not dd_dir.exists() or not any(dd_dir.rglob("*.json"))


# ---------------------------------------------------------------------------------------
# The secret scan of tests/conftest.py is not a no-op
# ---------------------------------------------------------------------------------------

def test_scanner_finds_a_planted_secret(tmp_path):
    secrets = conftest.suite_secrets()
    values = {s.value for s in secrets}
    for value in (b"s3cr3t-Value~with.chars_0123456789", b"s3cr3t", b"proxypass"):
        assert value in values

    clean = tmp_path / "clean.bin"
    clean.write_bytes(b"SQLite format 3\x00" + bytes(range(256)) * 50 + b"client secret ****")
    assert conftest.scan_file(str(clean), secrets) == []

    # Planted across the boundary of two read chunks, in binary data like a store's.
    planted = tmp_path / "planted.bin"
    head = b"SQLite format 3\x00" + b"\x00" * (conftest._CHUNK - 16 - 10)
    planted.write_bytes(head + b"s3cr3t-Value~with.chars_0123456789" + b"\x00" * 100)
    labels = conftest.scan_file(str(planted), secrets)
    assert "client secret of tests/test_graph.py (SECRET)" in labels
    assert not any("s3cr3t" in label for label in labels)  # never the secret itself
    assert [(str(planted), label) for label in labels] == conftest.scan_tree(
        str(tmp_path), secrets)

    # The proxy password in a Basic header of a -vvv traceback.
    text = "Proxy-Authorization: Basic cHJveHl1c2VyOnByb3h5cGFzcw=="
    fake_like = conftest._basic("proxy password of FakeMicrosoft", "proxyuser", "proxypass")
    assert conftest.find_secrets(text, secrets + fake_like) == [
        "proxy password of FakeMicrosoft (base64 in a Basic header)"]
    planted.unlink()
    clean.unlink()


def test_scanner_allows_tokens_only_in_the_token_cache(tmp_path):
    token = "tok-" + "Ab9_" * 10
    secrets = conftest.suite_secrets() + conftest._variants("an access token", token,
                                                            token=True)
    cache = tmp_path / "token-cache-c1.json"
    store = tmp_path / "graph.sqlite"
    try:
        cache.write_text(json.dumps({"AccessToken": {"x": {"secret": token}}}))
        assert conftest.scan_file(str(cache), secrets) == []
        cache.write_text(json.dumps({"AccessToken": {"x": {"secret": token}},
                                     "oops": "s3cr3t-Value~with.chars_0123456789"}))
        labels = conftest.scan_file(str(cache), secrets)
        assert "client secret of tests/test_graph.py (SECRET)" in labels
        assert "an access token" not in labels
        store.write_bytes(b"SQLite format 3\x00" + token.encode())
        assert conftest.scan_file(str(store), secrets) == ["an access token"]
    finally:
        # Planted on purpose: the scan after this test must not report them.
        for path in (cache, store):
            if path.exists():
                path.unlink()


def test_runs_are_recorded_for_the_scan(run, write_json, _secret_scan, monkeypatch,
                                        tmp_path):
    monkeypatch.setenv("ENTRA_CLIENT_SECRET", "given-Secret_4711")
    result = run("signins", "--input", write_json(hostile_records("x", True)),
                 "--dd-dir", tmp_path / "pages")
    assert _secret_scan.outputs[-1] == ("output of run('signins')", result.out)
    assert str(tmp_path / "pages") in _secret_scan.dirs
    assert str(tmp_path / "state") in _secret_scan.dirs
    assert b"given-Secret_4711" in {s.value for s in conftest.suite_secrets()}
    # A file the plugin would have written holding that secret is found by the scan.
    leak = tmp_path / "pages" / "file" / "check_entra_signins.json"
    original = leak.read_bytes()
    try:
        leak.write_bytes(original + b"given-Secret_4711")
        assert conftest.scan_tree(str(tmp_path / "pages"), conftest.suite_secrets()) == [
            (str(leak), "secret given in ENTRA_CLIENT_SECRET")]
    finally:
        leak.write_bytes(original)  # planted on purpose: not a leak of this test
