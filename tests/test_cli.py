"""Options, thresholds, bad input and hostile data, through the real main()."""

import json

import pytest

from check_entra_noninteractive import cli
from conftest import signin

FAILED3 = [signin("a", 1, False), signin("b", 2, False), signin("c", 3, False),
           signin("d", 4), signin("e", 5), signin("f", 6)]  # failed = 3, failed_pct = 50


# (threshold argv, expected exit code, expected status line)
RANGES = [
    (["-w", "failed=10"], 0, "ENTRA SIGNINS OK - 6 non-interactive sign-ins, 3 failed (50%), "
                             "0 risky"),
    (["-w", "failed=2"], 1, "ENTRA SIGNINS WARNING - failed 3 (outside 0:2)"),
    (["-w", "failed=10:"], 1, "ENTRA SIGNINS WARNING - failed 3 (outside 10:)"),
    (["-w", "failed=2:"], 0, None),
    (["-w", "failed=~:2"], 1, "ENTRA SIGNINS WARNING - failed 3 (outside ~:2)"),
    (["-w", "failed=~:10"], 0, None),
    (["-w", "failed=4:20"], 1, "ENTRA SIGNINS WARNING - failed 3 (outside 4:20)"),
    (["-w", "failed=1:20"], 0, None),
    (["-w", "failed=@1:5"], 1, "ENTRA SIGNINS WARNING - failed 3 (inside 1:5)"),
    (["-w", "failed=@4:5"], 0, None),
    (["-c", "failed_pct=10"], 2, "ENTRA SIGNINS CRITICAL - failed_pct 50% (outside 0:10)"),
    (["-c", "failed_pct=10.5"], 2, "ENTRA SIGNINS CRITICAL - failed_pct 50% (outside 0:10.5)"),
    (["-w", "failed_pct=10", "-c", "failed_pct=40", "-w", "total=3"], 2,
     "ENTRA SIGNINS CRITICAL - failed_pct 50% (outside 0:40), total 6 (outside 0:3)"),
    (["-w", "failed_pct=10", "-c", "failed_pct=60"], 1,
     "ENTRA SIGNINS WARNING - failed_pct 50% (outside 0:10)"),
]


@pytest.mark.parametrize("argv, code, status", RANGES, ids=[" ".join(r[0]) for r in RANGES])
def test_range_forms(run, write_json, argv, code, status):
    result = run("signins", "--input", write_json(FAILED3), *argv)
    assert result.code == code, result.out
    if status:
        assert result.status == status


def test_thresholds_appear_in_perfdata(run, write_json):
    result = run("signins", "--input", write_json(FAILED3), "-w", "failed=@1:5",
                 "-c", "failed=~:10", "-w", "failed_pct=10:20")
    assert result.perfdata["failed"] == "3;@1:5;~:10;0"
    assert result.perfdata["failed_pct"] == "50.0%;10:20;;0;100"
    assert result.perfdata["total"] == "6;;;0"


def test_problem_status_has_perfdata_and_long_output(run, write_json):
    result = run("signins", "--input", write_json(FAILED3), "-w", "failed_pct=10")
    lines = result.out.splitlines()
    assert lines[0] == ("ENTRA SIGNINS WARNING - failed_pct 50% (outside 0:10) | failed=3;;;0 "
                        "failed_pct=50.0%;10;;0;100 risky=0;;;0 successful=3;;;0 total=6;;;0")
    assert lines[1:6] == ["Non-interactive sign-ins: 6", "Successful sign-ins: 3",
                          "Failed sign-ins: 3",
                          "Failed sign-ins percentage: 50% [WARNING: outside 0:10]",
                          "Risky sign-ins: 0"]
    assert lines[6].startswith("window: 2026-11-20T08:00:01Z to 2026-11-20T08:00:07Z")


def test_ok_is_one_line_without_verbose(run, write_json):
    result = run("signins", "--input", write_json(FAILED3))
    assert result.out.count("\n") == 1


def test_verbose_lists_every_measure(run, write_json):
    result = run("failure-entities", "--input", write_json(FAILED3), "-v")
    assert result.code == 0
    lines = result.out.splitlines()
    assert lines[0] == "ENTRA FAILURE ENTITIES OK - no entity with 5 or more consecutive failures"
    assert lines[1:8] == ["Failure IP addresses: 0", "Failure locations: 0",
                          "Failure applications: 0", "Failure service principals: 0",
                          "Failure resources: 0", "Failure users: 0", "Failure client apps: 0"]
    assert lines[-1].startswith("| failure_apps=0;;;0 ")


def _bad_files(tmp_path):
    good = json.dumps([signin("a", 1), signin("b", 2)])
    files = {
        "truncated-array.json": good[:-20],
        "truncated-jsonl.json": json.dumps(signin("a", 1)) + "\n" + json.dumps(signin("b", 2))[:50],
        "garbage.json": "{this is not json",
        "empty.json": "",
        "blank.json": "   \n\n",
        "numbers.json": "[1, 2, 3]",
        "no-time.json": json.dumps([{"id": "x"}]),
        "bad-time.json": json.dumps([signin("a", 1, createdDateTime="yesterday")]),
        "trailing.json": good + " xyz",
        "text.txt": "hello world\nthis is a log\n",
        "short-csv.csv": "Date (UTC),Request ID,Status\n2026-11-20T08:00:00Z,r1\n",
    }
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    (tmp_path / "binary.json").write_bytes(b"\x1f\x8b\x08\x00\xff\xfe\x00\x01garbage")
    (tmp_path / "adir").mkdir()


BAD_FILES = [
    ("missing.json", "input file {d}/missing.json does not exist"),
    ("adir", "input {d}/adir is a directory, not a sign-in log file"),
    ("truncated-array.json", "input file {d}/truncated-array.json is truncated or not a "
                             "sign-in log ("),
    ("truncated-jsonl.json", "input file {d}/truncated-jsonl.json is truncated or not a "
                             "sign-in log ("),
    ("garbage.json", "input file {d}/garbage.json is truncated or not a sign-in log ("),
    ("empty.json", "input file {d}/empty.json is truncated or not a sign-in log (the file is "
                   "empty)"),
    ("blank.json", "input file {d}/blank.json is truncated or not a sign-in log (the file is "
                   "empty)"),
    ("numbers.json", "input file {d}/numbers.json: record 1 is malformed: a sign-in record "
                     "must be a JSON object, not int"),
    ("no-time.json", "input file {d}/no-time.json: record 1 is malformed: sign-in record "
                     "without createdDateTime"),
    ("bad-time.json", "input file {d}/bad-time.json: record 1 is malformed: not a timestamp: "
                      "'yesterday'"),
    ("trailing.json", "input file {d}/trailing.json is truncated or not a sign-in log "
                      "(unexpected data after the JSON array"),
    ("text.txt", "input file {d}/text.txt is truncated or not a sign-in log (CSV without a "
                 "'Date (UTC)' column: not a sign-in log export)"),
    ("short-csv.csv", "input file {d}/short-csv.csv is truncated or not a sign-in log (CSV "
                      "line 2 has 2 fields, the header has 3 (truncated?))"),
    ("binary.json", "input file {d}/binary.json is not UTF-8 text (is it compressed?)"),
]


@pytest.mark.parametrize("name, message", BAD_FILES, ids=[b[0] for b in BAD_FILES])
def test_bad_files_are_unknown(run, tmp_path, name, message):
    _bad_files(tmp_path)
    result = run("signins", "--input", tmp_path / name)
    assert result.code == 3
    assert result.first.startswith("ENTRA SIGNINS UNKNOWN - " + message.format(d=tmp_path))
    assert "|" not in result.out, "no perfdata from a file that was not read completely"
    assert "Traceback" not in result.out
    assert len(result.out.splitlines()) == 1


BAD_OPTIONS = [
    (["-w", "failed_pct=abc"], "argument -w/--warning: 'abc' is not a Nagios range "
                               "(10, 10:, ~:10, 10:20, @10:20)"),
    (["-w", "failed_pct=20:10"], "argument -w/--warning: '20:10' is not a Nagios range"),
    (["-c", "failed_pct=1:2:3"], "argument -c/--critical: '1:2:3' is not a Nagios range"),
    (["-w", "failed_pct"], "argument -w/--warning: 'failed_pct' is not METRIC=RANGE "
                           "(e.g. failed_pct=10)"),
    (["-w", "failed_pct="], "argument -w/--warning: 'failed_pct=' is not METRIC=RANGE"),
    (["-w", "bogus=10"], "unknown metric 'bogus'; check_entra_signins has: total, successful, "
                         "failed, failed_pct, risky (see check_entra_signins --help)"),
    (["-c", "failure_ips=1"], "metric failure_ips belongs to check_entra_failure_entities, "
                              "not check_entra_signins (see check_entra_signins --help)"),
    (["--attempts", "0"], "argument --attempts: must be 1 or more, not 0"),
    (["--attempts", "-3"], "argument --attempts: must be 1 or more, not -3"),
    (["--attempts", "five"], "argument --attempts: must be a whole number, not 'five'"),
    (["--start", "yesterday"], "argument --start: 'yesterday' is not an ISO 8601 UTC time "
                               "such as 2026-11-20T08:30:00Z"),
    (["--end", "2026-13-45T99:00:00Z"], "argument --end: '2026-13-45T99:00:00Z' is not an "
                                        "ISO 8601 UTC time"),
    (["--start", "2026-11-20T09:00:00Z", "--end", "2026-11-20T08:00:00Z"],
     "--start 2026-11-20T09:00:00Z is not before --end 2026-11-20T08:00:00Z"),
    (["--frobnicate"], "unrecognized arguments: --frobnicate"),
    (["--event-type", "bogus"], "argument --event-type: invalid choice: 'bogus'"),
]


@pytest.mark.parametrize("argv, message", BAD_OPTIONS, ids=[" ".join(b[0]) for b in BAD_OPTIONS])
def test_bad_options_are_unknown(run, write_json, argv, message):
    result = run("signins", "--input", write_json(FAILED3), *argv)
    assert result.code == 3, result.out
    assert result.first.startswith("ENTRA SIGNINS UNKNOWN - " + message), result.first
    assert "Traceback" not in result.out
    assert "|" not in result.out


def test_no_source_is_unknown(run):
    result = run("signins")
    assert result.code == 3
    assert result.first == ("ENTRA SIGNINS UNKNOWN - no source: give --tenant-id and "
                            "--client-id (with ENTRA_CLIENT_SECRET) to read Microsoft Graph, "
                            "or --input PATH to read an exported sign-in log")


HOSTILE = [
    "evil | name", "line\nbreak", "quote ' and \" here", "<script>alert(1)</script>",
    "'label'=5;6;7", "x" * 300, "pipe|'failed'=999;1;2;0;100\nsecond line", "\u202eRTL",
]


@pytest.mark.parametrize("group", ["signins", "success-entities", "failure-entities",
                                   "auth-methods", "conditional-access"])
def test_hostile_data_never_changes_perfdata(run, write_json, group):
    """The same sign-ins with hostile strings and with plain names give the same output,
    byte for byte: the same status line, long output and perfdata (labels, values,
    thresholds), one '|' that separates the perfdata, and no data string in it."""

    def records(name):
        result = []
        for i, text in enumerate(HOSTILE * 3):
            text = name(text)
            result.append(signin("h%02d" % i, i, i % 4 != 0, userDisplayName=text,
                                 userPrincipalName=text, userId=text, ipAddress=text,
                                 appDisplayName=text, appId=text, clientAppUsed=text,
                                 resourceDisplayName=text, resourceId=text,
                                 servicePrincipalName=text, userAgent=text,
                                 location={"city": text, "state": text,
                                           "countryOrRegion": text},
                                 status={"errorCode": 0 if i % 4 else 50126,
                                         "failureReason": text}))
        return result

    hostile_file = write_json(records(lambda text: text))
    # Plain names with the same identities: the same entities, so the same numbers.
    plain_file = write_json(records(lambda text: "name%d" % HOSTILE.index(text)))
    hostile = run(group, "--input", hostile_file, "--attempts", "1", "-v")
    baseline = run(group, "--input", plain_file, "--attempts", "1", "-v")
    assert hostile.code == baseline.code == 0
    assert hostile.perfdata == baseline.perfdata
    assert sorted(hostile.perfdata) == sorted(cli.measures.GROUPS[group].labels())
    assert hostile.out.replace(hostile_file.name, "FILE") == \
        baseline.out.replace(plain_file.name, "FILE")
    lines = hostile.out.splitlines()
    assert [line for line in lines if "|" in line] == [lines[-1]]
    assert lines[-1].startswith("| ") and hostile.out.count("|") == 1
    assert all(line.startswith("ENTRA ") == (n == 0) for n, line in enumerate(lines))
    for text in HOSTILE:
        assert text not in hostile.out
    assert "alert(1)" not in hostile.out and "\u202e" not in hostile.out


def test_hostile_file_name_does_not_split_output(run, tmp_path):
    path = tmp_path / "a|b 'x'=1;2;3.json"
    path.write_text(json.dumps(FAILED3))
    result = run("signins", "--input", path, "-w", "failed_pct=10")
    assert result.code == 1
    assert result.out.count("|") == 1
    assert "a/b 'x'=1;2;3.json" in result.out


def test_traceback_only_with_vvv(run, write_json, monkeypatch):
    from check_entra_noninteractive import tally

    def broken(*args):
        raise ZeroDivisionError("boom")

    monkeypatch.setattr(tally, "run", broken)
    quiet = run("signins", "--input", write_json(FAILED3), "-v")
    assert quiet.code == 3
    assert quiet.first == ("ENTRA SIGNINS UNKNOWN - internal error: ZeroDivisionError: boom "
                           "(run with -vvv for details)")
    assert "Traceback" not in quiet.out
    loud = run("signins", "--input", write_json(FAILED3), "-vvv")
    assert loud.code == 3
    assert loud.first == quiet.first
    assert "Traceback (most recent call last)" in loud.out
    assert "ZeroDivisionError: boom" in loud.out


def test_traceback_is_scrubbed(run, write_json, monkeypatch):
    from check_entra_noninteractive import redact, tally

    redact.register("tr4ceback-secret-value")

    def leaky(*args):
        raise RuntimeError("token tr4ceback-secret-value rejected")

    monkeypatch.setattr(tally, "run", leaky)
    loud = run("signins", "--input", write_json(FAILED3), "-vvv")
    assert "Traceback" in loud.out
    assert "tr4ceback-secret-value" not in loud.out
    assert "token **** rejected" in loud.out


def test_module_entry_point_groups(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.run_group(["bogus"])
    assert exit_info.value.code == 3
    assert capsys.readouterr().out.startswith(
        "ENTRA UNKNOWN - first argument must be a check group: signins, success-entities, "
        "failure-entities, auth-methods, conditional-access")


# Each cloud's hosts: login, Graph, Azure Resource Manager, Log Analytics.
GLOBAL = ("https://login.microsoftonline.com", "https://graph.microsoft.com",
          "https://management.azure.com", "https://api.loganalytics.io")
USGOV = ("https://login.microsoftonline.us", "https://graph.microsoft.us",
         "https://management.usgovcloudapi.net", "https://api.loganalytics.us")
CHINA = ("https://login.chinacloudapi.cn", "https://microsoftgraph.chinacloudapi.cn",
         "https://management.chinacloudapi.cn", "https://api.loganalytics.azure.cn")


@pytest.mark.parametrize("argv, hosts, known", [
    ([], GLOBAL, True),
    (["--cloud", "usgov"], USGOV, True),
    (["--cloud", "usgov-dod"], (USGOV[0], "https://dod-graph.microsoft.us") + USGOV[2:], True),
    (["--cloud", "china"], CHINA, True),
    (["--cloud", "china", "--graph-url", "https://graph.example/"],
     (CHINA[0], "https://graph.example") + CHINA[2:], True),
    (["--cloud", "usgov", "--management-url", "https://arm.example/",
      "--log-analytics-url", "https://la.example"],
     USGOV[:2] + ("https://arm.example", "https://la.example"), True),
    (["--authority-host", "https://login.example"], ("https://login.example",) + GLOBAL[1:],
     False),
])
def test_clouds_choose_the_hosts(argv, hosts, known, monkeypatch):
    from check_entra_noninteractive import measures
    from check_entra_noninteractive.sources import entra

    monkeypatch.setenv("ENTRA_CLIENT_SECRET", "x-secret-for-options")
    args = cli.build_parser(measures.GROUPS["signins"]).parse_args(
        ["--tenant-id", "contoso.example", "--client-id", "app-1", *argv])
    cli._check_args(args)
    connection = entra.connect(args, "Microsoft Graph")
    assert (connection.authority_host, args.graph_url or connection.cloud.graph,
            args.management_url or connection.cloud.management,
            args.log_analytics_url or connection.cloud.log_analytics) == hosts
    assert connection.http.msal_options() == ({} if known else {"instance_discovery": False})


@pytest.mark.parametrize("url", ["http://graph.example", "https://graph.example/v1\n",
                                 "https://graph.example/a b"])
def test_endpoint_overrides_must_be_https_without_white_space(run, url):
    result = run("signins", "--tenant-id", "t", "--client-id", "c", "--graph-url", url)
    assert result.code == 3
    assert result.first == ("ENTRA SIGNINS UNKNOWN - argument --graph-url: "
                            "%r must be an https:// URL (see check_entra_signins --help)" % url)


@pytest.mark.parametrize("group", sorted(cli.measures.GROUPS))
def test_every_option_says_what_it_does(group):
    parser = cli.build_parser(cli.measures.GROUPS[group])
    silent = [action.option_strings[-1] for action in parser._actions
              if action.option_strings and not (action.help or "").strip()]
    assert silent == []
