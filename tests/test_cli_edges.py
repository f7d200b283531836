"""Input edges: each bad option value gives one UNKNOWN line that names the option.

Table-driven, through the real ``main()``: the exact exit code and first line, no Python
message, no perfdata.
"""

import csv
import io
import json
from datetime import timedelta

import pytest

from check_entra_noninteractive import timeutil
from check_entra_noninteractive.measures import GROUPS
from conftest import SAMPLE, signin

HELP = " (see check_entra_signins --help)"
UNKNOWN = "ENTRA SIGNINS UNKNOWN - "
HUGE = "9" * 5000  # beyond int()'s digit limit, too

EDGES = [
    # Upper bounds: huge values never reach timedelta, signal.alarm or a socket.
    (["--window", "99999999999999d"],
     "argument --window: must be at most 31d, not 99999999999999d"),
    (["--window", "32d"], "argument --window: must be at most 31d, not 32d"),
    (["--window", "44641"], "argument --window: must be at most 31d, not 44641"),
    (["--delay", "99999999999999d"],
     "argument --delay: must be at most 1d, not 99999999999999d"),
    (["--delay", "86401s"], "argument --delay: must be at most 1d, not 86401s"),
    (["--retention", "99999999999999d"],
     "argument --retention: must be at most 400d, not 99999999999999d"),
    (["--retention", "401d"], "argument --retention: must be at most 400d, not 401d"),
    (["--retention", HUGE + "s"], "argument --retention: must be at most 400d, not %s..."
     % HUGE[:40]),
    (["-t", "86401"], "argument -t/--timeout: must be at most 86400, not 86401"),
    (["--timeout", "99999999999999"],
     "argument -t/--timeout: must be at most 86400, not 99999999999999"),
    (["--attempts", "1000001"], "argument --attempts: must be at most 1000000, not 1000001"),
    (["--attempts", HUGE], "argument --attempts: must be at most 1000000, not %s..."
     % HUGE[:40]),
    (["--dd-limit", "1000001"], "argument --dd-limit: must be at most 1000000, not 1000001"),
    (["--proxy-port", "65536"], "argument --proxy-port: must be at most 65535, not 65536"),
    (["--proxy-port", "99999999999999999999"],
     "argument --proxy-port: must be at most 65535, not 99999999999999999999"),
    # A time zone offset that leaves datetime's range.
    (["--start", "0001-01-01T00:00:00+01:00"],
     "argument --start: '0001-01-01T00:00:00+01:00' is not an ISO 8601 UTC time such as "
     "2026-11-20T08:30:00Z"),
    # Ranges: no Python text; nothing that is not a range.
    (["-w", "failed_pct=abc"],
     "argument -w/--warning: 'abc' is not a Nagios range (10, 10:, ~:10, 10:20, @10:20)"),
    (["-c", "failed_pct=~"],
     "argument -c/--critical: '~' is not a Nagios range (10, 10:, ~:10, 10:20, @10:20)"),
    (["-w", "failed_pct=1e400"],
     "argument -w/--warning: '1e400' is not a Nagios range (10, 10:, ~:10, 10:20, @10:20)"),
    (["-w", "failed_pct=@"],
     "argument -w/--warning: '@' is not a Nagios range (10, 10:, ~:10, 10:20, @10:20)"),
    (["-w", "failed_pct=1:2:3"],
     "argument -w/--warning: '1:2:3' is not a Nagios range (10, 10:, ~:10, 10:20, @10:20)"),
    # One range per metric and kind: the last one no longer wins silently.
    (["-w", "failed_pct=10", "-w", "failed_pct=20"],
     "metric failed_pct is given twice in --warning"),
    (["-c", "risky=0", "-w", "risky=1", "-c", "risky=5"],
     "metric risky is given twice in --critical"),
    # An empty window.
    (["--window", "0"], "--window must be longer than 0"),
    (["--window", "0m"], "--window must be longer than 0"),
    (["--window", "0s"], "--window must be longer than 0"),
    # --input reports the whole file or --start/--end.
    (["--window", "5m"], "--window does not apply to --input: it reports the whole file, or "
                         "--start/--end"),
    (["--window", "1h", "--start", "2026-11-20T08:00:00Z", "--end", "2026-11-20T09:00:00Z"],
     "--window does not apply to --input: it reports the whole file, or --start/--end"),
    # IDs are matched in full: a trailing newline is not part of a domain.
    (["--tenant-id", "abc\n"],
     "argument --tenant-id: 'abc\\n' is not a tenant/client ID (a GUID or a domain name)"),
    (["--client-id", "1b2c\n"],
     "argument --client-id: '1b2c\\n' is not a tenant/client ID (a GUID or a domain name)"),
]


def _edge_id(argv):
    return " ".join(a if len(a) < 30 else a[:12] + "..." for a in argv).replace("\n", "\\n")


@pytest.mark.parametrize("argv, message", EDGES, ids=[_edge_id(e[0]) for e in EDGES])
def test_input_edge_is_one_unknown_line(run, argv, message):
    result = run("signins", "--input", SAMPLE, *argv)
    assert result.code == 3, result.out
    assert result.first == UNKNOWN + message + HELP
    assert len(result.out.splitlines()) == 1
    assert "Traceback" not in result.out and "Error:" not in result.out
    assert "invalid literal" not in result.out
    assert "|" not in result.out, "no perfdata"


ALLOWED = [
    ["--delay", "0"],
    ["--delay", "1d"],
    ["--retention", "400d"],
    ["-t", "86400"],
    ["--attempts", "1000000"],
    ["--dd-limit", "1000000"],
    ["--proxy-port", "65535"],
    ["-w", "failed_pct=10", "-c", "failed_pct=20"],
]


@pytest.mark.parametrize("argv", ALLOWED, ids=[" ".join(a) for a in ALLOWED])
def test_values_at_the_bounds_are_accepted(run, argv):
    result = run("signins", "--input", SAMPLE, *argv)
    assert result.code in (0, 1, 2), result.out
    assert result.perfdata["total"] == "2466;;;0"


@pytest.mark.parametrize("text", ["99999999999999d", "9" * 30 + "s", "9" * 5000])
def test_huge_durations_are_numbers_beyond_every_bound_not_errors(text):
    # int() refuses more than 4300 digits, timedelta more than 999999999 days: the option
    # types compare this number with their bound before making a timedelta of it.
    assert timeutil.duration_seconds(text) > timedelta.max.days * 86400


def test_whole_file_ends_one_second_after_the_last_sign_in(run, write_json):
    records = [signin("a", 1), signin("b", 2, False),
               signin("c", 4, createdDateTime="2026-11-20T08:00:04.750Z")]
    result = run("signins", "--input", write_json(records), "-v")
    assert result.code == 0, result.out
    assert result.perfdata["total"] == "3;;;0"
    assert "window: 2026-11-20T08:00:01Z to 2026-11-20T08:00:05Z (nonInteractiveUser); " \
           "source: file signins-0.json" in result.out.splitlines()


def test_whole_file_from_start_ends_one_second_after_the_last_sign_in(run, write_json):
    result = run("signins", "--input", write_json([signin("a", 1), signin("b", 7)]),
                 "--start", "2026-11-20T08:00:02Z", "-v")
    assert result.perfdata["total"] == "1;;;0"
    assert "window: 2026-11-20T08:00:02Z to 2026-11-20T08:00:08Z (nonInteractiveUser); " \
           "source: file signins-0.json" in result.out.splitlines()


def _portal_csv(path, header, rows):
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows(rows)
    path.write_text("\ufeff" + buffer.getvalue(), encoding="utf-8")
    return path


@pytest.mark.parametrize("group", ["signins", "threats"])
def test_a_window_from_year_1_to_a_sign_in_of_today_is_measured(run, write_json, tmp_path,
                                                               group):
    """Its DD timeline's first bucket would start before year 1: it starts in year 1."""
    result = run(group, "--input", write_json([signin("a", 1)]), "--start",
                 "0001-01-02T00:00:00Z", "--state-dir", tmp_path / "state")
    assert result.code == 0, result.out
    assert result.status.startswith(GROUPS[group].title.upper() + " OK - "), result.out
    assert "internal error" not in result.out
    page = tmp_path / "state" / "dd" / "file" / (GROUPS[group].script + ".json")
    timeline = json.loads(page.read_text())["timeline"]
    assert timeline["start"] == "0001-01-01T00:00:00Z"
    assert sum(map(sum, timeline["buckets"])) == 1  # the one sign-in, in the last bucket


def test_a_sign_in_before_year_1000_is_stored_in_time_order(run, write_json):
    """Stored times are zero-padded (strftime is not): '0999-...' sorts before '1500-...'."""
    records = [signin("old", 1, createdDateTime="0999-12-31T23:59:59Z"), signin("new", 2)]
    result = run("signins", "--input", write_json(records), "--start",
                 "0500-01-01T00:00:00Z", "--end", "1500-01-01T00:00:00Z", "-v")
    assert result.code == 0, result.out
    assert result.value("total") == 1
    assert "window: 0500-01-01T00:00:00Z to 1500-01-01T00:00:00Z (nonInteractiveUser); " \
           "source: file signins-0.json" in result.out.splitlines()


@pytest.mark.parametrize("with_code_column", [False, True], ids=["no code column",
                                                                  "empty code"])
def test_portal_csv_interrupted_counts_as_failed(run, tmp_path, with_code_column):
    header = ["Date (UTC)", "Request ID", "Username", "IP address", "Status"]
    rows = [["2026-11-20T08:00:01Z", "r1", "a@contoso.example", "192.0.2.1", "Success"],
            ["2026-11-20T08:00:02Z", "r2", "a@contoso.example", "192.0.2.1", "Failure"],
            ["2026-11-20T08:00:03Z", "r3", "a@contoso.example", "192.0.2.1", "Interrupted"],
            ["2026-11-20T08:00:04Z", "r4", "b@contoso.example", "192.0.2.2", "INTERRUPTED"],
            ["2026-11-20T08:00:05Z", "r5", "b@contoso.example", "192.0.2.2", "interrupted"]]
    if with_code_column:
        header.append("Sign-in error code")
        rows = [row + [""] for row in rows]
    result = run("signins", "--input", _portal_csv(tmp_path / "portal.csv", header, rows))
    assert result.code == 0, result.out
    assert (result.value("total"), result.value("successful"), result.value("failed")) \
        == (5, 1, 4)


@pytest.mark.parametrize("text, seconds", [("15", 900), ("015", 900), ("15m", 900),
                                           ("300s", 300), ("2h", 7200), ("1d", 86400)])
def test_a_bare_number_of_a_duration_means_minutes(text, seconds):
    assert timeutil.duration_seconds(text) == seconds


def test_version_prints_the_check_and_its_version(run):
    from check_entra_noninteractive import __version__

    result = run("auth-methods", "-V")
    assert (result.code, result.out) == (0, "check_entra_auth_methods %s\n" % __version__)
