"""The shipped Icinga 2 and Nagios configuration (icinga2/), proven in the real programs.

- ``icinga2 daemon -C`` validates the shipped files (commands, templates, example hosts),
  for both ways of installing the checks and for a distributed setup.
- A real Icinga 2 daemon runs the six checks of three tenant hosts through the shipped
  CheckCommands and templates: one host reads samples/nonint-signins.json, the others read
  the local fake of Microsoft's endpoints (tests/fake_microsoft/, in subprocess mode),
  one through Graph and one through Log Analytics, through its authenticating proxy, with the client secret and the proxy password in host
  vars. From Icinga's PerfdataWriter files the test takes the states and perfdata Icinga
  recorded and compares them with the same command lines (taken from Icinga's log) run
  directly; from Icinga's log it proves that no secret was on a command line.
- ``nagios4 -v`` validates the Nagios object definitions.

The daemon runs as the current user with every path (state, cache, log, spool, PID file)
under a temporary directory: /etc/icinga2 and a system Icinga are not touched.

Without icinga2 (or nagios4) these tests are skipped, except in CI (``CI=true``), where
they fail: .ci/run installs them.
"""

import json
import os
import pwd
import grp
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import ROOT, SAMPLE, GROUP_OF_SCRIPT

ICINGA_DIR = ROOT / "icinga2"
FAKE = ROOT / "tests" / "fake_microsoft"

SECRET = "Zq8~icinga.CI_secret-0123456789abcdef"
PROXY_SECRET = "pr0xy-Pa55~not.on.argv"
TENANT = "contoso-icinga"
CLIENT = "33333333-4444-5555-6666-777777777777"
WINDOW = ("2026-11-20T08:00:00Z", "2026-11-20T09:00:00Z")

CHECKS = {  # service name -> console script
    "entra-signins": "check_entra_signins",
    "entra-success-entities": "check_entra_success_entities",
    "entra-failure-entities": "check_entra_failure_entities",
    "entra-auth-methods": "check_entra_auth_methods",
    "entra-conditional-access": "check_entra_conditional_access",
    "entra-threats": "check_entra_threats",
}
STATE_IDS = {"OK": 0, "WARNING": 1, "CRITICAL": 2, "UNKNOWN": 3}
# check_entra_threats: its perfdata, and its own options (CheckCommand entra_threats only).
THREAT_LABELS = {"spray_ips", "device_code_users", "ropc_users", "legacy_success_users",
                 "multi_country_users", "unusual_users", "unusual_ips", "unusual_apps"}
THREAT_OPTIONS = {"--spray-users": "entra_spray_users", "--baseline-days": "entra_baseline_days",
                  "--baseline-min": "entra_baseline_min",
                  "--baseline-factor": "entra_baseline_factor"}


def _required(program, candidates, package):
    for candidate in (shutil.which(program), *candidates):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    message = "%s is not installed (apt-get install %s)" % (program, package)
    if os.environ.get("CI") == "true":
        pytest.fail(message + ": .ci/run must install it")
    pytest.skip(message)


@pytest.fixture(scope="module")
def icinga2():
    return _required("icinga2", ["/usr/sbin/icinga2"], "icinga2")


@pytest.fixture(scope="module")
def nagios4():
    return _required("nagios4", ["/usr/sbin/nagios4"], "nagios4-core")


# ---------------------------------------------------------------------------
# Configuration files
# ---------------------------------------------------------------------------

def installed_scripts_dir():
    """Where this Python's console scripts are, or None (source checkout, python3 -m)."""
    directory = Path(sys.executable).parent
    return directory if all((directory / s).exists() for s in CHECKS.values()) else None


def plugin_constants(source_checkout=None):
    """The constants.conf lines that say where the checks are (icinga2/README.md)."""
    scripts = installed_scripts_dir()
    if source_checkout is None:
        source_checkout = scripts is None
    if source_checkout:
        return ('const EntraSourceDir = "%s"\nconst EntraPython = "%s"\n'
                % (ROOT, sys.executable))
    return 'const EntraPluginDir = "%s"\n' % scripts


def standalone_header(node="entra-ci.local", extra=""):
    """What a standalone icinga2.conf defines before the ITL, plus the shipped files."""
    return """
const PluginDir = "/usr/lib/nagios/plugins"
const PluginContribDir = "/usr/lib/nagios/plugins"
const ManubulonPluginDir = "/usr/lib/nagios/plugins"
const NodeName = "%(node)s"
const ZoneName = NodeName
const TicketSalt = ""
%(extra)s
include <itl>
include <plugins>
include <plugins-contrib>
include "%(dir)s/commands.conf"
include "%(dir)s/templates.conf"
""" % {"node": node, "extra": extra, "dir": ICINGA_DIR}


def defines(base):
    """-D options that keep every file of the daemon under ``base``, running as us."""
    user = pwd.getpwuid(os.getuid()).pw_name
    group = grp.getgrgid(os.getgid()).gr_name
    for sub in ("lib", "cache", "log", "spool", "run"):
        (base / sub).mkdir(parents=True, exist_ok=True)
    settings = {
        "RunAsUser": user, "RunAsGroup": group,
        "DataDir": base / "lib", "CacheDir": base / "cache", "LogDir": base / "log",
        "SpoolDir": base / "spool", "InitRunDir": base / "run",
        "PidPath": base / "run" / "icinga2.pid",
        "StatePath": base / "lib" / "icinga2.state",
        "ModAttrPath": base / "lib" / "modified-attributes.conf",
        "VarsPath": base / "cache" / "icinga2.vars",
        "ObjectsPath": base / "cache" / "icinga2.debug",
    }
    return ["-DConfiguration.%s=%s" % (key, value) for key, value in settings.items()]


def daemon_env(**extra):
    env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
           "LANG": "C.UTF-8", "TZ": "UTC"}
    env.update(extra)
    return env


def validate(icinga2, tmp_path, text, name="icinga2.conf"):
    config = tmp_path / name
    config.write_text(text)
    proc = subprocess.run([icinga2, "daemon", "-C", "-c", str(config),
                           *defines(tmp_path / "icinga")],
                          capture_output=True, text=True, timeout=120, env=daemon_env())
    return proc.returncode, proc.stdout + proc.stderr


def object_attributes(icinga2, tmp_path, object_type, name):
    """``icinga2 object list`` of one object after a validation in ``tmp_path``."""
    proc = subprocess.run([icinga2, "object", "list", "--type", object_type, "--name", name,
                           *defines(tmp_path / "icinga")],
                          capture_output=True, text=True, timeout=60, env=daemon_env())
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def command_arguments(kind, name):
    """The argument keys of one top-level CheckCommand (or template) of commands.conf."""
    text = (ICINGA_DIR / "commands.conf").read_text()
    body = re.search(r'^%s CheckCommand "%s" \{\n(.*?)^\}' % (kind, name), text,
                     re.S | re.M).group(1)
    return dict(re.findall(r'^\t\t"(-[^"]+)" = \{(.*?)^\t\t\}', body, re.S | re.M))


def shipped_thresholds(service):
    """(warning, critical) of a service template in templates.conf: lists of METRIC=N."""
    conf = (ICINGA_DIR / "templates.conf").read_text()
    block = re.search(r'template Service "%s" \{(.*?)\n\}' % service, conf, re.S).group(1)
    found = [re.search(r"vars.entra_%s = (\[.*?\])" % kind, block, re.S)
             for kind in ("warning", "critical")]
    return [json.loads(m.group(1)) if m else None for m in found]


def nagios_thresholds(service):
    """(warning, critical) of a service in nagios/templates.cfg (its $ARG1$), like
    shipped_thresholds: None where it has none."""
    cfg = (ICINGA_DIR / "nagios" / "templates.cfg").read_text()
    block = re.search(r"service_description\s+%s\n(.*?)\n\}" % service, cfg, re.S).group(1)
    command = re.search(r"check_command\s+([^!\s]+)(?:!(.*))?", block)
    pairs = re.findall(r"(-[wc]) (\S+)", command.group(2) or "")
    return [[t for flag, t in pairs if flag == kind] or None for kind in ("-w", "-c")]


def expected_state(perf, warning, critical):
    """The state that thresholds of the form METRIC=N (alert above N) give perfdata."""
    def above(thresholds):
        return any(perf[label][0] > float(limit)
                   for label, _, limit in (t.partition("=") for t in thresholds or []))
    return "CRITICAL" if above(critical) else "WARNING" if above(warning) else "OK"


# ---------------------------------------------------------------------------
# icinga2 daemon -C
# ---------------------------------------------------------------------------

def test_shipped_configuration_validates(icinga2, tmp_path):
    text = standalone_header(extra=plugin_constants(source_checkout=False)) + \
        'include "%s/example-hosts.conf"\n' % ICINGA_DIR
    code, out = validate(icinga2, tmp_path, text)
    assert code == 0, out
    assert "Instantiated 5 CheckCommands" not in out  # the ITL's are there too
    assert re.search(r"Instantiated %d Services" % (3 * len(CHECKS)), out), out
    assert re.search(r"Instantiated 3 Hosts", out), out

    command = object_attributes(icinga2, tmp_path, "CheckCommand", "entra_signins")
    assert "/check_entra_signins" in command
    assert 'ENTRA_CLIENT_SECRET = "$entra_client_secret$"' in command
    assert "timeout = 60" in command and "entra_timeout = 50" in command
    service = object_attributes(icinga2, tmp_path, "Service", "entra-contoso!entra-signins")
    assert "check_interval = 300" in service
    # Without EntraDdUrl/EntraDocsUrl there is nowhere to link to.
    assert 'action_url = ""' in service and 'notes_url = ""' in service

    # entra_threats: the shared arguments (arguments +=) and its own four, from its vars.
    threats = object_attributes(icinga2, tmp_path, "CheckCommand", "entra_threats")
    assert re.search(r'command = \[ "[^"]*/check_entra_threats" \]', threats), threats
    for option, var in THREAT_OPTIONS.items():
        assert re.search(r'\* %s\n(?:      .*\n)*?      \* value = "\$%s\$"'
                         % (re.escape(option), var), threats), (option, threats)
    for option in ("--tenant-id", "--warning", "--critical", "--window", "--state-dir"):
        assert "    * %s\n" % option in threats, option
    assert 'ENTRA_CLIENT_SECRET = "$entra_client_secret$"' in threats
    assert "timeout = 60" in threats and "entra_timeout = 50" in threats
    signins_options = set(re.findall(r"^    \* (--[a-z-]+)$", command, re.M))
    assert signins_options and not signins_options & set(THREAT_OPTIONS)
    # Its service: the starting thresholds of the brief (critical: any spray IP; warning:
    # any of the rest), the interval of the others, the example host's override.
    service = object_attributes(icinga2, tmp_path, "Service", "entra-contoso!entra-threats")
    assert 'check_command = "entra_threats"' in service
    assert "check_interval = 300" in service and "max_check_attempts = 1" in service
    assert '* entra_critical = [ "spray_ips=0" ]' in service
    assert ('* entra_warning = [ "device_code_users=0", "ropc_users=0", '
            '"legacy_success_users=0", "multi_country_users=0", "unusual_users=0", '
            '"unusual_ips=0", "unusual_apps=0" ]') in service
    assert "* entra_spray_users = 5\n" in service
    # Every threats label has a threshold, and only those labels.
    warning, critical = shipped_thresholds("entra-threats")
    assert {t.partition("=")[0] for t in warning + critical} == THREAT_LABELS


def test_every_argument_has_a_description_and_no_secret_is_an_argument():
    text = (ICINGA_DIR / "commands.conf").read_text()
    arguments = re.findall(r'^\t\t"(-[^"]+)" = \{(.*?)^\t\t\}', text, re.S | re.M)
    assert len(arguments) >= 34
    for key, body in arguments:
        assert "description = " in body, key
        assert "secret$" not in body and "password$" not in body, key
    common = set(command_arguments("template", "entra_common"))
    own = {"check_entra_threats": set(command_arguments("object", "entra_threats"))}
    assert own["check_entra_threats"] == set(THREAT_OPTIONS)
    assert {key for key, _ in arguments} == common | own["check_entra_threats"]
    for script in CHECKS.values():
        # Each command is "entra_common" plus its own; the others add no argument.
        name = "entra_" + script[len("check_entra_"):]
        assert set(command_arguments("object", name)) == own.get(script, set()), name
        options = common | own.get(script, set())
        help_text = subprocess.run(
            [sys.executable, "-m", "check_entra_noninteractive", GROUP_OF_SCRIPT[script],
             "--help"], capture_output=True, text=True, cwd=ROOT,
            env=dict(os.environ, PYTHONPATH=str(ROOT))).stdout
        # argparse may wrap a help line after a hyphen: "--proxy-" / "password-file".
        help_text = re.sub(r"-\n\s+", "-", help_text)
        offered = set(re.findall(r"(?<![\w-])(--[a-z][a-z-]+)", help_text))
        # Every option of the plugin is offered, except the secret on argv and the
        # terminal-only ones.
        assert offered - options == {"--client-secret", "--details", "--help", "--version"}, \
            script
        assert options <= offered, script


def test_links_and_python3_way(icinga2, tmp_path):
    extra = plugin_constants(source_checkout=True) + \
        'const EntraDdUrl = "https://monitoring.example.test/entra-dd"\n' \
        'const EntraDocsUrl = "https://docs.example.test/check_entra_noninteractive"\n'
    text = standalone_header(extra=extra) + 'include "%s/example-hosts.conf"\n' % ICINGA_DIR
    code, out = validate(icinga2, tmp_path, text)
    assert code == 0, out

    command = object_attributes(icinga2, tmp_path, "CheckCommand", "entra_failure_entities")
    assert re.search(r'command = \[ "%s", "-m", "check_entra_noninteractive", '
                     r'"failure-entities" \]' % re.escape(sys.executable), command), command
    assert 'PYTHONPATH = "%s"' % ROOT in command
    threats = object_attributes(icinga2, tmp_path, "CheckCommand", "entra_threats")
    assert re.search(r'command = \[ "%s", "-m", "check_entra_noninteractive", '
                     r'"threats" \]' % re.escape(sys.executable), threats), threats
    service = object_attributes(icinga2, tmp_path, "Service",
                                "entra-fabrikam-gov!entra-conditional-access")
    assert ('action_url = "https://monitoring.example.test/entra-dd/fabrikam.onmicrosoft.us/'
            'check_entra_conditional_access.html"') in service
    assert ('notes_url = "https://docs.example.test/check_entra_noninteractive/icinga2/'
            'README.md#check_entra_conditional_access"') in service
    assert "check_interval = 900" in service
    assert 'entra_dd_url = "https://monitoring.example.test/entra-dd"' in service
    failures = object_attributes(icinga2, tmp_path, "Service",
                                 "entra-contoso!entra-failure-entities")
    assert '"failure_users=20"' in failures          # the host's override
    assert '"failure_ips=2"' in failures              # the template's warning stays
    # Each service's notes_url leads to a section of the README.
    readme = (ICINGA_DIR / "README.md").read_text()
    assert all("\n### %s\n" % script in readme for script in CHECKS.values())
    threats = object_attributes(icinga2, tmp_path, "Service", "entra-contoso!entra-threats")
    assert "* entra_spray_users = 5\n" in threats     # the host's override
    assert '* entra_critical = [ "spray_ips=0" ]' in threats
    assert ('notes_url = "https://docs.example.test/check_entra_noninteractive/icinga2/'
            'README.md#check_entra_threats"') in threats
    assert ('action_url = "https://monitoring.example.test/entra-dd/'
            '00000000-0000-0000-0000-000000000000/check_entra_threats.html"') in threats


def test_distributed_setup_pins_a_tenant_to_one_endpoint(icinga2, tmp_path):
    text = standalone_header(node="master1.example.test",
                             extra=plugin_constants(source_checkout=False)) + """
object Endpoint "master1.example.test" {}
object Endpoint "satellite1.example.test" { host = "192.0.2.10" }
object Zone "master" { endpoints = [ "master1.example.test" ] }
object Zone "satellite" { endpoints = [ "satellite1.example.test" ]; parent = "master" }
object Host "entra-contoso" {
  import "entra-tenant"
  zone = "master"
  vars.entra_tenant_id = "contoso.onmicrosoft.com"
  vars.entra_client_id = "11111111-1111-1111-1111-111111111111"
  vars.entra_client_secret_file = "/etc/icinga2/entra-contoso.secret"
  vars.entra_endpoint = "satellite1.example.test"
}
"""
    code, out = validate(icinga2, tmp_path, text)
    assert code == 0, out
    for name in CHECKS:
        service = object_attributes(icinga2, tmp_path, "Service", "entra-contoso!" + name)
        assert 'command_endpoint = "satellite1.example.test"' in service


def test_validation_catches_a_broken_host(icinga2, tmp_path):
    # The validation above means something: a mistake in a tenant host is an error.
    text = standalone_header(extra=plugin_constants()) + """
object Host "entra-broken" {
  import "entra-tenant"
  vars.entra_check_interval = "five minutes"
}
"""
    code, out = validate(icinga2, tmp_path, text)
    assert code != 0
    assert "Can't convert 'five minutes' to a floating point number" in out


# ---------------------------------------------------------------------------
# A real Icinga 2 daemon
# ---------------------------------------------------------------------------

@pytest.fixture
def fake_graph(tmp_path):
    """tests/fake_microsoft/ as a subprocess, serving the sample."""
    work = tmp_path / "fake"
    work.mkdir()
    config = work / "config.json"
    config.write_text(json.dumps({
        "records_file": str(SAMPLE), "tenant": TENANT, "client_id": CLIENT,
        "client_secret": SECRET, "proxy_user": "ciproxy", "proxy_password": PROXY_SECRET,
        "workdir": str(work), "workspaces": [LA_WORKSPACE],
        "diagnostic_settings": [{"name": "to-la", "workspace": LA_WORKSPACE["name"],
                                 "logs": {"NonInteractiveUserSignInLogs": True}}]}))
    ready = work / "ready.json"
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT / "tests"),
                                                      env.get("PYTHONPATH")]))
    proc = subprocess.Popen([sys.executable, str(FAKE), "--config", str(config),
                             "--ready-file", str(ready)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while not ready.exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError("fake_microsoft did not start: %s"
                                     % proc.stderr.read().decode(errors="replace"))
            time.sleep(0.1)
        sys.path.insert(0, str(ROOT / "tests"))
        from fake_microsoft import FakeControl
        info = json.loads(ready.read_text())
        yield info, FakeControl(info)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


RECORD = "ENTRA-RECORD"
LA_WORKSPACE = {"name": "la-icinga", "customer_id": "eeeeeeee-0000-4000-8000-000000000005"}


def daemon_config(base, fake):
    perf = base / "perfdata"
    perf.mkdir()
    no_thresholds = "{ %s }" % ", ".join(
        '"%s" = { entra_warning = [ ]; entra_critical = [ ] }' % name for name in CHECKS)
    common = """
  vars.entra_check_interval = 2s
  vars.entra_start = "%s"
  vars.entra_end = "%s"
  /* check_entra_threats' own options (the plugin's defaults, but a factor of 2.5) */
  vars.entra_spray_users = 10
  vars.entra_baseline_days = 7
  vars.entra_baseline_min = 20
  vars.entra_baseline_factor = 2.5
""" % WINDOW
    return standalone_header(extra=plugin_constants() + (
        'const EntraDdUrl = "https://monitoring.example.test/entra-dd"\n')) + """
object CheckerComponent "checker" {}

object PerfdataWriter "perfdata" {
  service_perfdata_path = "%(perf)s/service-perfdata"
  service_temp_path = "%(perf)s/service-perfdata.tmp"
  host_perfdata_path = "%(perf)s/host-perfdata"
  host_temp_path = "%(perf)s/host-perfdata.tmp"
  service_format_template = "%(record)s\\tHOST::$host.name$\\tSERVICE::$service.name$\\tSTATE::$service.state$\\tPERF::$service.perfdata$\\tOUT::$service.output$"
  rotation_interval = 1s
}

/* The shipped sample, with the shipped thresholds. */
object Host "tenant-file" {
  import "entra-tenant"
  vars.entra_input = "%(sample)s"
  vars.entra_state_dir = "%(base)s/state-file"
  vars.entra_overrides = {
    "entra-signins" = { entra_successful_signin_dd = true }
    "entra-success-entities" = { entra_verbose = true; entra_detailed_diagnosis = false
                                 entra_event_types = [ "nonInteractiveUser" ] }
  }
%(common)s
}

/* The fake's tenant and app; no thresholds: all OK. */
template Host "fake-tenant" {
  import "entra-tenant"
  vars.entra_tenant_id = "%(tenant)s"
  vars.entra_client_id = "%(client)s"
  vars.entra_client_secret = "%(secret)s"
  vars.entra_authority_host = "%(authority)s"
  vars.entra_ca_bundle = "%(ca)s"
  vars.entra_overrides = %(no_thresholds)s
%(common)s
}

/* The fake Graph through the fake's authenticating proxy. */
object Host "tenant-graph" {
  import "fake-tenant"
  vars.entra_graph_url = "%(graph)s"
  vars.entra_proxy_host = "127.0.0.1"
  vars.entra_proxy_port = %(proxy_port)d
  vars.entra_proxy_user = "ciproxy"
  vars.entra_proxy_password = "%(proxy_secret)s"
  vars.entra_state_dir = "%(base)s/state-graph"
}

/* The fake Log Analytics workspace, found through the fake Resource Manager. */
object Host "tenant-la" {
  import "fake-tenant"
  vars.entra_source = "loganalytics"
  vars.entra_workspaces = "LA-Icinga"
  vars.entra_management_url = "%(management)s"
  vars.entra_log_analytics_url = "%(log_analytics)s"
  vars.entra_state_dir = "%(base)s/state-la"
}
""" % {"perf": perf, "record": RECORD, "sample": SAMPLE, "base": base, "common": common,
       "tenant": TENANT, "client": CLIENT, "secret": SECRET,
       "authority": fake["authority_host"], "graph": fake["graph_url"],
       "proxy_port": fake["proxy_port"], "proxy_secret": PROXY_SECRET,
       "ca": fake["ca_bundle"], "no_thresholds": no_thresholds,
       "management": fake["management_url"], "log_analytics": fake["log_analytics_url"]}


def perfdata_records(directory):
    """(host, service) -> the check results the PerfdataWriter wrote, oldest first.
    Only rotated files (named by the second of their rotation): they are complete."""
    results = {}
    files = sorted(directory.glob("service-perfdata.*"),
                   key=lambda p: int(p.suffix[1:]) if p.suffix[1:].isdigit() else -1)
    for path in files:
        if not path.suffix[1:].isdigit():
            continue
        for chunk in path.read_text(errors="replace").split(RECORD + "\t")[1:]:
            fields = chunk.rstrip("\n").split("\t", 4)
            values = dict(field.split("::", 1) for field in fields)
            results.setdefault((values["HOST"], values["SERVICE"]), []).append(values)
    return results


def parse_perfdata(text):
    """label -> (value, uom) from a perfdata string."""
    values = {}
    for item in text.split():
        label, _, rest = item.partition("=")
        match = re.match(r"^(-?[\d.]+)([a-zA-Z%]*)", rest)
        values[label.strip("'")] = (float(match.group(1)), match.group(2))
    return values


def plugin_perfdata(output):
    """The perfdata of plugin output: after '|' on the first line, and after '|' in the
    long output (where nagiosplugin puts it with -v)."""
    first, _, rest = output.partition("\n")
    return " ".join([first.partition("|")[2], rest.partition("|")[2]])


def logged_commands(log_text):
    """The argv of every check command Icinga ran, from its notice log."""
    commands = []
    for line in log_text.splitlines():
        match = re.search(r"notice/Process: Running command (.*): PID \d+$", line)
        if match:
            commands.append(re.findall(r"'([^']*)'", match.group(1)))
    return commands


def command_target(argv):
    """(host, service) that a logged command line belongs to."""
    if argv[:1] == [sys.executable] and "-m" in argv:
        script = {group: name for name, group in GROUP_OF_SCRIPT.items()}[argv[3]]
    else:
        script = Path(argv[0]).name
    service = {v: k for k, v in CHECKS.items()}[script]
    if "--input" in argv:
        return "tenant-file", service
    return ("tenant-la" if "--source" in argv else "tenant-graph"), service


def stop_daemon(proc):
    # Only the umbrella process: it forwards SIGTERM to its worker, which accepts the
    # signal from the umbrella alone (a SIGTERM to the whole group can get lost).
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
            return
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(timeout=10)


def test_icinga2_daemon_runs_every_check(icinga2, fake_graph, tmp_path):
    info, control = fake_graph
    base = tmp_path / "run"
    base.mkdir()
    config = base / "icinga2.conf"
    config.write_text(daemon_config(base, info))
    log_path = base / "daemon.log"
    wanted = {(host, name) for host in ("tenant-file", "tenant-graph", "tenant-la")
              for name in CHECKS}

    with open(log_path, "wb") as log:
        proc = subprocess.Popen([icinga2, "daemon", "-c", str(config), "-x", "notice",
                                 *defines(base / "icinga")],
                                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                env=daemon_env(), start_new_session=True)
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                records = perfdata_records(base / "perfdata")
                # Two results each: the graph host's second runs read the store.
                if all(len(records.get(key, [])) >= 2 for key in wanted):
                    break
                assert proc.poll() is None, log_path.read_text()[-5000:]
                time.sleep(0.5)
        finally:
            stop_daemon(proc)
    log_text = log_path.read_text(errors="replace")
    # (Not read again after the stop: the writer names a rotated file by the second, so
    # its last rotation at shutdown may replace a file of the same second.)
    missing = {key: len(records.get(key, [])) for key in wanted
               if len(records.get(key, [])) < 2}
    assert not missing, "results missing: %s\n%s" % (missing, log_text[-5000:])

    # No secret in Icinga's log of the command lines, nor anywhere Icinga wrote.
    commands = [argv for argv in logged_commands(log_text)
                if any("entra" in part for part in argv[:4])]
    assert len(commands) >= 20
    assert any("--tenant-id" in argv for argv in commands)
    for text in [log_text] + [p.read_text(errors="replace")
                              for p in (base / "perfdata").iterdir()]:
        assert SECRET not in text
        assert PROXY_SECRET not in text
    assert not any(part.startswith("--client-secret") and part != "--client-secret-file"
                   for argv in commands for part in argv)
    assert not any("password" in part and not part.endswith("-file")
                   for argv in commands for part in argv)

    # Both the token and the Graph requests went through the proxy (its password came
    # from the environment), and the six checks of the tenant made one fetch: 3 pages.
    graph_requests = control.graph_requests()
    assert len(graph_requests) == 3, graph_requests
    # The Log Analytics host: one query for its six checks, one lookup (settings and the
    # workspace), one token for each API.
    assert len(control.log("loganalytics")) == 1
    assert len(control.log("arm")) == 2
    assert len(control.log("token")) == 3
    assert control.state()["proxy_requests"]

    by_target = {}
    for argv in commands:
        by_target.setdefault(command_target(argv), argv)
    assert set(by_target) == wanted

    # What the shipped templates put on the command line.
    file_signins = by_target[("tenant-file", "entra-signins")]
    for pair in (["--warning", "failed_pct=20"], ["--critical", "risky=10"],
                 ["--timeout", "50"],
                 ["--dd-url", "https://monitoring.example.test/entra-dd"]):
        assert any(file_signins[i:i + 2] == pair for i in range(len(file_signins))), \
            (pair, file_signins)
    assert ["--successful-signin-dd", "yes"] == file_signins[
        file_signins.index("--successful-signin-dd"):][:2]
    assert "--detailed-diagnosis" not in file_signins and "--verbose" not in file_signins
    # Only entra_threats has the threats' options; it has the shipped thresholds and the
    # host's values.
    assert not set(THREAT_OPTIONS) & set(file_signins)
    file_threats = by_target[("tenant-file", "entra-threats")]
    warning, critical = shipped_thresholds("entra-threats")
    for pair in ([["--critical", t] for t in critical] + [["--warning", t] for t in warning] +
                 [["--spray-users", "10"], ["--baseline-days", "7"], ["--baseline-min", "20"],
                  ["--input", str(SAMPLE)]]):
        assert any(file_threats[i:i + 2] == pair for i in range(len(file_threats))), \
            (pair, file_threats)
    # Icinga writes the number 2.5 as "2.500000", which the plugin reads as 2.5.
    assert float(file_threats[file_threats.index("--baseline-factor") + 1]) == 2.5
    assert "--window" not in file_threats
    # --input reports the whole file: the command passes no --window (it would be refused).
    assert "--window" not in file_signins
    assert ["--window", "2s"] == by_target[("tenant-graph", "entra-signins")][
        by_target[("tenant-graph", "entra-signins")].index("--window"):][:2]
    file_success = by_target[("tenant-file", "entra-success-entities")]
    for pair in (["--detailed-diagnosis", "off"], ["--event-type", "nonInteractiveUser"],
                 ["--verbose"]):
        assert any(file_success[i:i + len(pair)] == pair for i in range(len(file_success))), \
            (pair, file_success)
    dd = base / "state-file" / "dd" / "file"
    assert (dd / "check_entra_signins.html").exists()
    assert not (dd / "check_entra_success_entities.html").exists()
    # -v: the long output reached Icinga too.
    assert "window: 2026-11-20T08:00:00Z" in \
        records[("tenant-file", "entra-success-entities")][-1]["OUT"]
    graph_signins = by_target[("tenant-graph", "entra-signins")]
    assert "--warning" not in graph_signins and "--critical" not in graph_signins
    assert ["--proxy-user", "ciproxy"] == graph_signins[graph_signins.index("--proxy-user"):
                                                      graph_signins.index("--proxy-user") + 2]
    la_signins = by_target[("tenant-la", "entra-signins")]
    for pair in (["--source", "loganalytics"], ["--workspace", "LA-Icinga"],
                 ["--management-url", info["management_url"]],
                 ["--log-analytics-url", info["log_analytics_url"]]):
        assert la_signins[la_signins.index(pair[0]):][:2] == pair, (pair, la_signins)

    # Icinga's states and perfdata are what the same command prints when run directly
    # (the graph ones with an empty store, so they fetch again through the proxy).
    control.reset_throttle()
    direct_env = daemon_env(ENTRA_CLIENT_SECRET=SECRET, ENTRA_PROXY_PASSWORD=PROXY_SECRET,
                            REQUESTS_CA_BUNDLE=info["ca_bundle"])
    if installed_scripts_dir() is None:
        direct_env["PYTHONPATH"] = str(ROOT)
    fresh_store = tmp_path / "direct-store"
    values_by_host = {}
    for (host, service), argv in sorted(by_target.items()):
        argv = list(argv)
        argv[argv.index("--state-dir") + 1] = str(fresh_store / host)
        direct = subprocess.run(argv, capture_output=True, text=True, timeout=120,
                                env=direct_env)
        latest = records[(host, service)][-1]
        assert STATE_IDS[latest["STATE"]] == direct.returncode, (host, service, latest,
                                                                 direct.stdout)
        if host != "tenant-file":
            assert latest["STATE"] == "OK", latest
        direct_perf = parse_perfdata(plugin_perfdata(direct.stdout))
        icinga_perf = parse_perfdata(latest["PERF"])
        assert icinga_perf == direct_perf, (host, service)
        assert latest["OUT"].split("\n")[0].strip() == \
            direct.stdout.split("\n")[0].split("|")[0].strip()
        values_by_host.setdefault(host, {}).update(icinga_perf)

    # Graph and Log Analytics reported exactly what the file source did.
    assert values_by_host["tenant-graph"] == values_by_host["tenant-file"]
    assert values_by_host["tenant-la"] == values_by_host["tenant-file"]
    assert values_by_host["tenant-file"]["total"] == (2466.0, "")
    file_values = values_by_host["tenant-file"]
    assert file_values["failed_pct"] == (round(100 * file_values["failed"][0] /
                                               file_values["total"][0], 2), "%")
    # The shipped thresholds judge the sample's attack hour: not all OK.
    file_states = {service: records[("tenant-file", service)][-1]["STATE"]
                   for service in CHECKS}
    assert file_states["entra-success-entities"] == "OK"
    assert file_states["entra-signins"] == "CRITICAL"  # 20 risky sign-ins > 10
    # check_entra_threats: all eight counts, each judged by the shipped thresholds
    # (critical: a spray IP; warning: any of the rest); no thresholds on the fake's hosts.
    threats = records[("tenant-file", "entra-threats")][-1]
    perf = parse_perfdata(threats["PERF"])
    assert set(perf) == THREAT_LABELS, perf
    assert all(uom == "" and value >= 0 and value == int(value)
               for value, uom in perf.values()), perf
    assert threats["STATE"] == expected_state(perf, *shipped_thresholds("entra-threats"))
    # value;warn;crit;min: the shipped thresholds' bounds, min 0.
    raw = dict(item.split("=", 1) for item in threats["PERF"].split())
    warning, critical = shipped_thresholds("entra-threats")
    for label, fields in raw.items():
        fields = (fields.split(";") + [""] * 4)[:4]
        assert fields[3] == "0", (label, fields)
        assert fields[1:3] == ["0" if "%s=0" % label in warning else "",
                               "0" if "%s=0" % label in critical else ""], (label, fields)
    assert re.match(r"ENTRA THREATS %s - " % threats["STATE"], threats["OUT"]), threats["OUT"]
    # The sample's planted password spray (tests/sample.py, scenario 1) is critical.
    assert perf["spray_ips"][0] >= 1 and threats["STATE"] == "CRITICAL", threats
    for host in ("tenant-graph", "tenant-la"):
        assert set(parse_perfdata(records[(host, "entra-threats")][-1]["PERF"])) == \
            THREAT_LABELS


# ---------------------------------------------------------------------------
# Nagios
# ---------------------------------------------------------------------------

# What every Nagios has (a time period, contacts), minimal.
NAGIOS_STANDARD = """
define timeperiod {
    timeperiod_name 24x7
    alias 24x7
    sunday 00:00-24:00
    monday 00:00-24:00
    tuesday 00:00-24:00
    wednesday 00:00-24:00
    thursday 00:00-24:00
    friday 00:00-24:00
    saturday 00:00-24:00
}
define command {
    command_name notify-nothing
    command_line /bin/true
}
define contact {
    contact_name nagiosadmin
    alias admin
    host_notifications_enabled 0
    service_notifications_enabled 0
    host_notification_period 24x7
    service_notification_period 24x7
    host_notification_options n
    service_notification_options n
    host_notification_commands notify-nothing
    service_notification_commands notify-nothing
}
define contactgroup {
    contactgroup_name admins
    alias admins
    members nagiosadmin
}
"""


def test_nagios_definitions_validate(nagios4, tmp_path):
    nagios_dir = ICINGA_DIR / "nagios"
    resource = tmp_path / "resource.cfg"
    resource.write_text((nagios_dir / "resource.cfg.example").read_text())
    main = tmp_path / "nagios.cfg"
    main.write_text("""
log_file=%(t)s/nagios.log
object_cache_file=%(t)s/objects.cache
precached_object_file=%(t)s/objects.precache
resource_file=%(resource)s
status_file=%(t)s/status.dat
temp_file=%(t)s/nagios.tmp
temp_path=%(t)s
lock_file=%(t)s/nagios.lock
check_result_path=%(t)s
command_file=%(t)s/nagios.cmd
state_retention_file=%(t)s/retention.dat
nagios_user=%(user)s
nagios_group=%(group)s
illegal_macro_output_chars=`~$&|'"<>
cfg_file=%(standard)s
cfg_file=%(nagios)s/commands.cfg
cfg_file=%(nagios)s/templates.cfg
cfg_file=%(nagios)s/example-hosts.cfg
""" % {"t": tmp_path, "resource": resource, "nagios": nagios_dir,
       "standard": tmp_path / "standard.cfg",
       "user": pwd.getpwuid(os.getuid()).pw_name, "group": grp.getgrgid(os.getgid()).gr_name})
    (tmp_path / "standard.cfg").write_text(NAGIOS_STANDARD)
    proc = subprocess.run([nagios4, "-v", str(main)], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # 3 example hosts x 6 services; 7 shipped commands (one per check, the host's) and
    # notify-nothing.
    assert "Checked %d services." % (3 * len(CHECKS)) in proc.stdout, proc.stdout
    assert "Checked %d commands." % (len(CHECKS) + 2) in proc.stdout, proc.stdout
    assert "Total Warnings: 0" in proc.stdout, proc.stdout


def test_nagios_services_have_the_icinga_thresholds():
    cfg = (ICINGA_DIR / "nagios" / "templates.cfg").read_text()
    assert set(re.findall(r"service_description\s+(\S+)", cfg)) == set(CHECKS)
    for name, script in CHECKS.items():
        assert nagios_thresholds(name) == shipped_thresholds(name), name
        block = re.search(r"service_description\s+%s\n(.*?)\n\}" % name, cfg, re.S).group(1)
        assert re.search(r"check_command\s+%s(!|\n|$)" % script, block), name
        assert "/%s.html" % script in block and "README.md#%s" % script in block, name
    commands = (ICINGA_DIR / "nagios" / "commands.cfg").read_text()
    for script in CHECKS.values():
        assert "command_name    %s\n" % script in commands
        assert " $USER10$/%s --tenant-id " % script in commands


# ---------------------------------------------------------------------------
# Icinga Director basket
# ---------------------------------------------------------------------------

def test_director_basket_is_built_from_commands_conf():
    # The shipped basket is what icinga2/make-director-basket.py makes of commands.conf:
    # its arguments cannot drift from the commands Icinga runs.
    import importlib.util
    spec = importlib.util.spec_from_file_location("make_director_basket",
                                                  ICINGA_DIR / "make-director-basket.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert (ICINGA_DIR / "director-basket.json").read_text() == module.render()


def test_director_basket_content():
    basket = json.loads((ICINGA_DIR / "director-basket.json").read_text())
    assert set(basket) == {"Command", "HostTemplate", "ServiceTemplate", "ServiceSet",
                           "Datafield"}
    # The commands come from commands.conf (env: the secrets), Director only knows them.
    assert set(basket["Command"]) == {"entra_" + s[len("check_entra_"):]
                                      for s in CHECKS.values()}
    for command in basket["Command"].values():
        assert command["object_type"] == "external_object"
        assert all(argument["description"] for argument in command["arguments"].values())
        assert not any("secret$" in json.dumps(a) or "password$" in json.dumps(a)
                       for a in command["arguments"].values())
    fields = {f["varname"]: f for f in basket["Datafield"].values()}
    hidden = {name for name, f in fields.items()
              if f["settings"].get("visibility") == "hidden"}
    assert hidden == {"entra_client_secret", "entra_proxy_password"}
    ids = {f["originalId"] for f in basket["Datafield"].values()}
    linked = [ref["datafield_id"] for group in ("HostTemplate", "ServiceTemplate")
              for template in basket[group].values() for ref in template["fields"]]
    assert {str(i) for i in linked} == ids
    templates = basket["ServiceTemplate"]
    assert set(basket["ServiceSet"]["entra-tenant"]["services"]) == set(CHECKS)
    # The same starting thresholds as templates.conf.
    for name in CHECKS:
        for kind, expected in zip(("warning", "critical"), shipped_thresholds(name)):
            assert templates[name].get("vars", {}).get("entra_" + kind) == expected, name
    # entra_threats: the shared arguments and its own; its template offers its fields.
    threats = basket["Command"]["entra_threats"]
    assert set(threats["arguments"]) == \
        set(basket["Command"]["entra_signins"]["arguments"]) | set(THREAT_OPTIONS)
    assert threats["command"] == "EntraPluginDir + /check_entra_threats"
    assert {threats["arguments"][o]["value"] for o in THREAT_OPTIONS} == \
        {"$%s$" % v for v in THREAT_OPTIONS.values()}
    by_id = {f["originalId"]: f for f in basket["Datafield"].values()}
    own = {by_id[str(ref["datafield_id"])]["varname"]: by_id[str(ref["datafield_id"])]
           for ref in templates["entra-threats"]["fields"]}
    assert set(own) == set(THREAT_OPTIONS.values())
    # Director's number fields take integers only: the factor (2.5) is a string field.
    assert own["entra_baseline_factor"]["datatype"].endswith("DataTypeString")
    assert all(own[v]["datatype"].endswith("DataTypeNumber")
               for v in ("entra_spray_users", "entra_baseline_days", "entra_baseline_min"))


def test_nagios_runs_every_check_with_the_secret_from_resource_cfg(nagios4, fake_graph,
                                                                  tmp_path):
    """A real Nagios 4 runs the shipped commands against the fake Graph: the secret goes
    from $USER11$ (resource.cfg) through the environment, never into a log or result."""
    info, control = fake_graph
    scripts = installed_scripts_dir()
    work = tmp_path / "nagios"
    (work / "results").mkdir(parents=True)
    (work / "standard.cfg").write_text(NAGIOS_STANDARD)
    (work / "resource.cfg").write_text("$USER10$=%s\n$USER11$=%s\n" % (scripts or "/nowhere",
                                                                        SECRET))
    commands = (ICINGA_DIR / "nagios" / "commands.cfg").read_text()
    if scripts is None:  # Debian's packages: the python3 -m form the commands.cfg describes
        for script, group in GROUP_OF_SCRIPT.items():
            commands = commands.replace(
                "$USER10$/%s " % script, "'PYTHONPATH=%s' %s -m check_entra_noninteractive %s "
                % (ROOT, sys.executable, group))
    (work / "commands.cfg").write_text(commands)
    (work / "hosts.cfg").write_text("""
define host {
    use                     entra-tenant
    host_name               entra-nagios
    _ENTRA_TENANT_ID        %s
    _ENTRA_CLIENT_ID        %s
    _ENTRA_STATE_DIR        %s
    _ENTRA_OPTIONS          --authority-host %s --graph-url %s --start %s --end %s
}
""" % (TENANT, CLIENT, work / "state", info["authority_host"], info["graph_url"], *WINDOW))
    perfdata = work / "service-perfdata"
    user, group = pwd.getpwuid(os.getuid()).pw_name, grp.getgrgid(os.getgid()).gr_name
    main = work / "nagios.cfg"
    main.write_text("\n".join("%s=%s" % pair for pair in [
        ("log_file", work / "nagios.log"), ("object_cache_file", work / "objects.cache"),
        ("precached_object_file", work / "objects.precache"),
        ("resource_file", work / "resource.cfg"), ("status_file", work / "status.dat"),
        ("temp_file", work / "nagios.tmp"), ("temp_path", work),
        ("lock_file", work / "nagios.lock"), ("check_result_path", work / "results"),
        ("command_file", work / "nagios.cmd"), ("state_retention_file", work / "retention.dat"),
        ("nagios_user", user), ("nagios_group", group),
        # seconds instead of minutes: the services run every 5 s
        ("interval_length", 1), ("max_service_check_spread", 1), ("max_host_check_spread", 1),
        ("process_performance_data", 1), ("service_perfdata_file", perfdata),
        ("service_perfdata_file_template",
         r"$HOSTNAME$\t$SERVICEDESC$\t$SERVICESTATEID$\t$SERVICEOUTPUT$\t$SERVICEPERFDATA$"),
        ("service_perfdata_file_mode", "a"), ("service_perfdata_file_processing_interval", 1),
        ("cfg_file", work / "standard.cfg"), ("cfg_file", work / "commands.cfg"),
        ("cfg_file", ICINGA_DIR / "nagios" / "templates.cfg"), ("cfg_file", work / "hosts.cfg"),
    ]) + "\n")
    env = daemon_env(REQUESTS_CA_BUNDLE=info["ca_bundle"])
    proc = subprocess.Popen([nagios4, str(main)], stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env,
                            start_new_session=True)
    results = {}
    try:
        deadline = time.monotonic() + 45
        while time.monotonic() < deadline and len(results) < len(CHECKS):
            time.sleep(0.5)
            if perfdata.exists():
                for line in perfdata.read_text(errors="replace").splitlines():
                    fields = line.split("\t")
                    if len(fields) == 5:
                        results[fields[1]] = fields
            assert proc.poll() is None, proc.stdout.read().decode(errors="replace")
    finally:
        proc.terminate()
        try:
            output = proc.communicate(timeout=20)[0].decode(errors="replace")
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            output = proc.communicate()[0].decode(errors="replace")
    assert set(results) == set(CHECKS), (results, output)
    offline = {}
    for name, script in CHECKS.items():
        _, _, state, text, perf = results[name]
        assert text.startswith("ENTRA ") and " UNKNOWN " not in text, text
        # The state is what templates.cfg's thresholds make of the perfdata.
        if name == "entra-threats":
            assert set(parse_perfdata(perf)) == THREAT_LABELS, perf
            assert text.startswith("ENTRA THREATS "), text
        assert int(state) == STATE_IDS[expected_state(parse_perfdata(perf),
                                                      *nagios_thresholds(name))], (name, text)
        direct = subprocess.run(
            [*(["%s/%s" % (scripts, script)] if scripts else
               [sys.executable, "-m", "check_entra_noninteractive", GROUP_OF_SCRIPT[script]]),
             "--input", str(SAMPLE), "--start", WINDOW[0], "--end", WINDOW[1],
             "--state-dir", str(tmp_path / "offline"), "--detailed-diagnosis", "off"],
            capture_output=True, text=True, timeout=120,
            env=dict(env, PYTHONPATH=str(ROOT)))
        offline.update(parse_perfdata(plugin_perfdata(direct.stdout)))
        assert parse_perfdata(perf) == {k: v for k, v in offline.items()
                                        if k in parse_perfdata(perf)}, name
    # The fake only answers with the right secret; the token came once for all six.
    assert len(control.log("token")) == 1
    for path in work.iterdir():
        if path.is_file() and path.name != "resource.cfg":
            assert SECRET not in path.read_text(errors="replace"), path
    assert SECRET not in output
