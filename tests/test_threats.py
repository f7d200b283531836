"""check_entra_threats: every measure on hand-built cases, through the real main().

The five pattern measures are table-driven cases with their edges (exactly K users, a
code outside the set, empty countries, a failed device-code sign-in). The three baseline
measures get synthetic history in an --input file: the part of the file before --start
is the history.
"""

import json
import re
import shlex

import pytest

from conftest import ROOT, run_script, signin

F, S = False, True
LABELS = ["spray_ips", "device_code_users", "ropc_users", "legacy_success_users",
          "multi_country_users", "unusual_users", "unusual_ips", "unusual_apps"]


def users_failing(ip, count, code=50126, start=0, first_user=0):
    """One failed sign-in from ``ip`` for each of ``count`` users (u00, u01, ...)."""
    return [signin("%s-%d-%d" % (ip, code, i), start + i, F, ipAddress=ip,
                   userId="u%02d" % (first_user + i), status={"errorCode": code})
            for i in range(count)]


def perfdata(outcome):
    """label -> field, of the first line (the long output follows it)."""
    return dict(item.split("=", 1) for item in outcome.first.split(" | ")[1].split())


def country(code, city="City"):
    return {"city": city, "state": "", "countryOrRegion": code}


# (name, records, extra argv, expected perfdata values)
CASES = [
    ("empty window", [], [], dict.fromkeys(LABELS, 0)),
    # --- spray_ips ----------------------------------------------------------------------
    ("exactly --spray-users distinct users is a spray", users_failing("198.51.100.7", 10),
     [], {"spray_ips": 1}),
    ("one user fewer is not", users_failing("198.51.100.7", 9), [], {"spray_ips": 0}),
    ("--spray-users lowers the bar", users_failing("198.51.100.7", 9),
     ["--spray-users", "9"], {"spray_ips": 1}),
    ("the credential codes add up", users_failing("198.51.100.7", 5, 50126)
     + users_failing("198.51.100.7", 5, 50053, start=20, first_user=5), [],
     {"spray_ips": 1}),
    ("every credential code of the set counts",
     [r for i, code in enumerate((50034, 50053, 50055, 50056, 50057, 50126))
      for r in users_failing("198.51.100.%d" % i, 2, code, start=10 * i)]
     + [signin("y%d" % i, 100 + i, F, ipAddress="198.51.100.9", userId="v%d" % i,
               status={"errorCode": code})
        for i, code in enumerate((50034, 50053, 50055, 50056, 50057, 50126) * 2)],
     ["--spray-users", "12"], {"spray_ips": 1}),
    ("a failure code outside the set is no spray", users_failing("198.51.100.7", 10, 50140)
     + users_failing("198.51.100.8", 10, 53003, start=20), [], {"spray_ips": 0}),
    ("one user failing many times is no spray",
     [signin("a%d" % i, i, F, ipAddress="198.51.100.7") for i in range(30)], [],
     {"spray_ips": 0}),
    ("successes do not count", users_failing("198.51.100.7", 9)
     + [signin("ok", 30, S, ipAddress="198.51.100.7", userId="u99")], [], {"spray_ips": 0}),
    ("an empty user id is no user", users_failing("198.51.100.7", 9)
     + [signin("e%d" % i, 30 + i, F, ipAddress="198.51.100.7", userId="") for i in range(5)],
     [], {"spray_ips": 0}),
    ("two spraying IPs", users_failing("198.51.100.7", 10)
     + users_failing("203.0.113.9", 11, start=20), [], {"spray_ips": 2}),
    ("failures without an IP are no IP", users_failing("", 12), [], {"spray_ips": 0}),
    # --- device code, ROPC, legacy ------------------------------------------------------
    ("a successful device-code sign-in",
     [signin("a", 1, authenticationProtocol="deviceCode"),
      signin("b", 2, authenticationProtocol="deviceCode")], [],
     {"device_code_users": 1, "ropc_users": 0}),
    ("an unsuccessful device-code sign-in does not count",
     [signin("a", 1, F, authenticationProtocol="deviceCode")], [], {"device_code_users": 0}),
    ("device code as Log Analytics or the portal spell it",
     [signin("a", 1, authenticationProtocol="DeviceCode", userId="u1"),
      signin("b", 2, authenticationProtocol="Device Code", userId="u2")], [],
     {"device_code_users": 2}),
    ("a device-code sign-in of no user is no user",
     [signin("a", 1, authenticationProtocol="deviceCode", userId="")], [],
     {"device_code_users": 0}),
    ("ROPC: successful users only",
     [signin("a", 1, authenticationProtocol="ropc", userId="u1"),
      signin("b", 2, F, authenticationProtocol="ropc", userId="u2"),
      signin("c", 3, authenticationProtocol="oAuth2", userId="u3")], [],
     {"ropc_users": 1, "device_code_users": 0}),
    ("legacy clients: successful users, any spelling",
     [signin("a", 1, clientAppUsed="IMAP4", userId="u1"),
      signin("b", 2, clientAppUsed="exchange activesync", userId="u2"),
      signin("c", 3, F, clientAppUsed="POP3", userId="u3"),
      signin("d", 4, clientAppUsed="Browser", userId="u4"),
      signin("e", 5, clientAppUsed="IMAP4", userId="u1")], [],
     {"legacy_success_users": 2}),
    # --- multi_country_users ------------------------------------------------------------
    ("two countries", [signin("a", 1, location=country("US")),
                       signin("b", 2, location=country("NL"))], [],
     {"multi_country_users": 1}),
    ("an empty country is no second country",
     [signin("a", 1, location=country("US")), signin("b", 2, location=country("")),
      signin("c", 3, location={}), signin("d", 4, location=None)], [],
     {"multi_country_users": 0}),
    ("two cities of one country are one country",
     [signin("a", 1, location=country("US", "Seattle")),
      signin("b", 2, location=country("US", "Boston"))], [], {"multi_country_users": 0}),
    ("a failure from the second country does not count",
     [signin("a", 1, location=country("US")), signin("b", 2, F, location=country("NL"))],
     [], {"multi_country_users": 0}),
    ("two users in one country each",
     [signin("a", 1, location=country("US"), userId="u1"),
      signin("b", 2, location=country("NL"), userId="u2")], [], {"multi_country_users": 0}),
    ("countries of no user do not count",
     [signin("a", 1, location=country("US"), userId=""),
      signin("b", 2, location=country("NL"), userId="")], [], {"multi_country_users": 0}),
]


@pytest.mark.parametrize("name,records,argv,expected", CASES, ids=[c[0] for c in CASES])
def test_measure(run, write_json, name, records, argv, expected):
    result = run("threats", "--input", write_json(records), *argv)
    assert result.code == 0, result.out
    assert {label: result.value(label) for label in expected} == expected


def test_every_label_is_a_count_without_uom_and_min_0(run, write_json):
    result = run("threats", "--input", write_json([signin("a", 1)]))
    assert perfdata(result) == {label: "0;;;0" for label in LABELS}
    assert result.first == (
        "ENTRA THREATS OK - spray IPs 0; users by device code 0, by ROPC 0, by legacy client "
        "0, in several countries 0; unusual users/IPs/apps 0/0/0 | " + " ".join(
            "%s=0;;;0" % label for label in sorted(LABELS)))


def test_thresholds_judge_the_threat_measures(run, write_json):
    records = users_failing("198.51.100.7", 10) + [
        signin("d", 30, authenticationProtocol="deviceCode", userId="victim")]
    result = run("threats", "--input", write_json(records), "-c", "spray_ips=0",
                 "-w", "device_code_users=0")
    assert result.code == 2
    assert result.status == ("ENTRA THREATS CRITICAL - spray_ips 1 (outside 0:0), "
                             "device_code_users 1 (outside 0:0)")


def test_the_threat_options_are_the_threats_checks_own(run, write_json):
    result = run("signins", "--input", write_json([]), "--spray-users", "5")
    assert result.code == 3
    assert result.first.startswith("ENTRA SIGNINS UNKNOWN - unrecognized arguments: "
                                   "--spray-users 5")


@pytest.mark.parametrize("argv,message", [
    (["--spray-users", "0"], "argument --spray-users: must be 1 or more, not 0"),
    (["--baseline-days", "31"], "argument --baseline-days: must be at most 30, not 31"),
    (["--baseline-factor", "0.5"], "argument --baseline-factor: must be from 1 to 1000, "
                                   "not 0.5"),
    (["--baseline-factor", "nan"], "argument --baseline-factor: must be from 1 to 1000, "
                                   "not nan"),
    (["--baseline-factor", "x"], "argument --baseline-factor: must be a number, not 'x'"),
])
def test_bad_threat_options_are_one_unknown_line(run, write_json, argv, message):
    result = run("threats", "--input", write_json([]), *argv)
    assert result.code == 3
    assert result.out == "ENTRA THREATS UNKNOWN - %s (see check_entra_threats --help)\n" % (
        message)


def test_the_dd_tables_show_who_where_and_when(run, write_json, tmp_path):
    records = users_failing("198.51.100.7", 10, start=0) + [
        signin("s1", 12, F, ipAddress="198.51.100.7", userId="u00",
               status={"errorCode": 50053}),
        signin("d1", 20, authenticationProtocol="deviceCode", userId="victim",
               userPrincipalName="victim@contoso.example", ipAddress="203.0.113.5",
               appDisplayName="Microsoft Authentication Broker",
               location={"city": "Ashburn", "state": "Virginia", "countryOrRegion": "US"}),
        signin("h1", 30, userId="hop", userPrincipalName="hop@contoso.example",
               ipAddress="192.0.2.10", location=country("DE", "Berlin")),
        signin("h2", 90, userId="hop", userPrincipalName="hop@contoso.example",
               ipAddress="203.0.113.77", location=country("NG", "Lagos")),
    ]
    run("threats", "--input", write_json(records), "--state-dir", tmp_path / "state")
    document = json.loads((tmp_path / "state/dd/file/check_entra_threats.json").read_text())
    tables = {m["label"]: m["table"] for m in document["measures"]}
    assert tables["spray_ips"]["columns"] == [
        "IP address", "distinct users", "failed sign-ins", "error codes", "first seen",
        "last seen"]
    assert tables["spray_ips"]["rows"] == [[
        "198.51.100.7", 10, 11, "50126\u00d710, 50053\u00d71", "2026-11-20T08:00:00Z",
        "2026-11-20T08:00:12Z"]]
    assert tables["device_code_users"]["rows"] == [[
        "victim@contoso.example", 1, "Microsoft Authentication Broker", "203.0.113.5",
        "Ashburn, Virginia, US", "Mobile Apps and Desktop clients", "2026-11-20T08:00:20Z",
        "2026-11-20T08:00:20Z", "victim"]]
    countries = next(m for m in document["measures"] if m["label"] == "multi_country_users")
    assert countries["table"]["rows"] == [[
        "hop@contoso.example", "DE \u2192 NG", 2, "2026-11-20T08:00:30Z",
        "2026-11-20T08:01:30Z", "hop"]]
    assert countries["tables"][0]["rows"] == [
        ["hop@contoso.example", "DE", 1, "2026-11-20T08:00:30Z", "2026-11-20T08:00:30Z",
         "192.0.2.10"],
        ["hop@contoso.example", "NG", 1, "2026-11-20T08:01:30Z", "2026-11-20T08:01:30Z",
         "203.0.113.77"]]
    for label in ("spray_ips", "device_code_users", "multi_country_users"):
        assert tables[label]["total"] == document["measures"][LABELS.index(label)]["value"]
    # The page links each error code of the spray to its lookup, as in the entity tables.
    page = (tmp_path / "state/dd/file/check_entra_threats.html").read_text()
    lookup = '<a href="https://login.microsoftonline.com/error?code=%d" rel="noreferrer">%d</a>'
    assert "<td>%s\u00d710, %s\u00d71</td>" % (lookup % (50126, 50126),
                                                lookup % (50053, 50053)) in page


@pytest.mark.parametrize("window,baseline", [
    (("--start", "0001-01-01T00:00:00Z", "--end", "0001-01-03T00:00:00Z"),
     "baseline: learning, 0 h of history counted"),
    (("--start", "0001-01-02T00:00:00Z"),  # to the sign-in of 2026
     "baseline: a window longer than --baseline-days (7) has no earlier day"),
])
def test_a_window_at_the_beginning_of_time_has_no_history_before_it(run, write_json, window,
                                                                      baseline):
    """The baseline reaches back --baseline-days from the start: not before year 1."""
    result = run("threats", "--input", write_json([signin("a", 1)]), *window)
    assert result.code == 0, result.out
    assert baseline in result.out


def test_while_learning_every_busy_entity_is_listed_not_judged(run, write_json, tmp_path):
    records = [signin("a%d" % i, i, userId="busy") for i in range(20)]
    run("threats", "--input", write_json(records), "--state-dir", tmp_path / "state")
    document = json.loads((tmp_path / "state/dd/file/check_entra_threats.json").read_text())
    users = next(m for m in document["measures"] if m["label"] == "unusual_users")
    assert users["value"] == 0 and users["table"]["rows"] == []
    assert users["tables"][0]["title"] == ("New users with 20 or more sign-ins (not judged "
                                           "while the baseline is learning)")
    assert users["tables"][0]["rows"] == [["user1@contoso.example", 20, "busy"]]


def readme_demo():
    """The threats demo of README.md: its command's arguments and the first line it
    shows."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    command = re.search(r"```sh\ncheck_entra_threats (.+?)\n```", text, re.S).group(1)
    shown = text[text.index("```", text.index(command) + len(command) + 3) + 4:]
    return shlex.split(command.replace("\\\n", " ")), shown.split("\n", 1)[0]


def test_the_console_script_catches_the_four_planted_attacks_as_the_readme_shows():
    argv, first_line = readme_demo()
    argv = [str(ROOT / a) if a.startswith("samples/") else a for a in argv]
    result = run_script("check_entra_threats", *argv)
    assert result.code == 2, result.out
    assert result.first == first_line
    assert first_line.startswith(
        "ENTRA THREATS CRITICAL - spray_ips 1 (outside 0:0), device_code_users 1 (outside "
        "0:0), ropc_users 6 (outside 0:0), multi_country_users 6 (outside 0:0) | ")
    assert set(perfdata(result)) == set(LABELS)
    assert "baseline: learning, 0 h of history counted" in result.out
    for planted in ("198.51.100.7", "chloe.martin@contoso.example",
                    "william.chen@contoso.example", "US \u2192 RO"):
        assert planted in result.out, planted
