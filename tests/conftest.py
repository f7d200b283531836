import atexit
import base64
import json
import logging
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import urllib.parse
import weakref
from dataclasses import dataclass
from pathlib import Path

import nagiosplugin
import pytest

from check_entra_noninteractive import cli
from check_entra_noninteractive.measures import GROUPS

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "samples" / "nonint-signins.json"


@dataclass
class Outcome:
    code: int
    out: str

    @property
    def first(self):
        return self.out.splitlines()[0] if self.out else ""

    @property
    def status(self):
        """The first line without its perfdata."""
        return self.first.split(" | ")[0]

    @property
    def perfdata(self):
        """label -> the full perfdata field ('3;5;10;0'), from wherever it is printed."""
        text = self.out.split("|", 1)[1] if "|" in self.out else ""
        fields = {}
        for item in text.split():
            label, _, rest = item.partition("=")
            fields[label.strip("'")] = rest
        return fields

    def value(self, label):
        raw = self.perfdata[label].split(";")[0]
        return float(raw.rstrip("%")) if "." in raw else int(raw.rstrip("%"))


def _reset_nagiosplugin():
    nagiosplugin.Runtime.instance = None
    # nagiosplugin 1.3.2 (Debian 12) binds sys.stdout at import; None prints to the
    # current sys.stdout, which pytest captures.
    nagiosplugin.Runtime.stdout = None
    logging.getLogger("nagiosplugin").handlers.clear()


@pytest.fixture
def run(capsys):
    """Run the real main() of a check group in-process: run("signins", "--input", path)."""

    def _run(group, *argv):
        _reset_nagiosplugin()
        with pytest.raises(SystemExit) as exit_info:
            cli.main(group, [str(a) for a in argv])
        _reset_nagiosplugin()
        captured = capsys.readouterr()
        _recording().add("output of run(%r)" % group, captured.out + captured.err, argv,
                         default_state=getattr(cli, "DEFAULT_STATE_DIR", None))
        return Outcome(exit_info.value.code, captured.out)

    return _run


GROUP_OF_SCRIPT = {group.script: name for name, group in GROUPS.items()}


def script(name):
    """The command that runs a check: its installed console script (next to the running
    interpreter, or on PATH), else ``python -m check_entra_noninteractive GROUP`` from the
    source tree (Debian's packages, no pip install)."""
    candidate = Path(sys.executable).parent / name
    found = str(candidate) if candidate.exists() else shutil.which(name)
    if found:
        return [found]
    return [sys.executable, "-m", "check_entra_noninteractive", GROUP_OF_SCRIPT[name]]


# Console-script runs that name no --state-dir keep their store and DD files here, not in
# the real default under /var/tmp.
SCRIPT_STATE = tempfile.mkdtemp(prefix="entra-tests-")
atexit.register(shutil.rmtree, SCRIPT_STATE, ignore_errors=True)


def run_script(name, *argv, env=None, timeout=120):
    if "--state-dir" not in argv:
        argv = (*argv, "--state-dir", SCRIPT_STATE)
    if env is not None and not (Path(sys.executable).parent / name).exists():
        # The source tree must stay importable for ``python -m`` in a custom environment.
        env = dict(env, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT),
                                                                 env.get("PYTHONPATH")])))
    proc = subprocess.run([*script(name), *[str(a) for a in argv]], capture_output=True,
                          text=True, timeout=timeout, env=env)
    _recording().add("output of run_script(%r)" % name, proc.stdout + proc.stderr, argv, env)
    return Outcome(proc.returncode, proc.stdout + proc.stderr)


def signin(sid, when, ok=True, **fields):
    """A Graph beta signIn record with sensible defaults; ``when`` is seconds after 08:00."""
    minutes, seconds = divmod(int(when), 60)
    record = {
        "id": sid,
        "createdDateTime": "2026-11-20T08:%02d:%02dZ" % (minutes, seconds),
        "signInEventTypes": ["nonInteractiveUser"],
        "isInteractive": False,
        "status": {"errorCode": 0} if ok else {"errorCode": 50126,
                                                 "failureReason": "Invalid password"},
        "ipAddress": "192.0.2.1",
        "location": {"city": "Berlin", "state": "Berlin", "countryOrRegion": "DE"},
        "appId": "app-1", "appDisplayName": "Outlook",
        "resourceId": "res-1", "resourceDisplayName": "Exchange",
        "userId": "user-1", "userPrincipalName": "user1@contoso.example",
        "servicePrincipalId": "", "clientAppUsed": "Mobile Apps and Desktop clients",
        "authenticationRequirement": "singleFactorAuthentication",
        "conditionalAccessStatus": "notApplied",
        "riskLevelDuringSignIn": "none", "riskState": "none",
    }
    record.update(fields)
    return record


@pytest.fixture
def write_json(tmp_path):
    counter = iter(range(10 ** 6))

    def _write(records, shape="array"):
        path = tmp_path / ("signins-%d.json" % next(counter))
        if shape == "array":
            path.write_text(json.dumps(records))
        elif shape == "graph":
            path.write_text(json.dumps({"@odata.context": "https://graph.microsoft.com/beta/"
                                        "$metadata#auditLogs/signIns", "value": records}))
        elif shape == "jsonl":
            path.write_text("".join(json.dumps(r) + "\n" for r in records))
        else:
            raise ValueError(shape)
        return path

    return _write


@pytest.fixture(autouse=True)
def _no_stray_env(monkeypatch, tmp_path):
    # Tests never touch the real state directory or a real tenant's secrets.
    monkeypatch.delenv("ENTRA_CLIENT_SECRET", raising=False)
    monkeypatch.delenv("ENTRA_PROXY_PASSWORD", raising=False)
    monkeypatch.setattr(cli, "DEFAULT_STATE_DIR", str(tmp_path / "state"))
    os.environ.setdefault("TZ", "UTC")


# ---------------------------------------------------------------------------------------
# The secret scan: no output, traceback, DD file, store or state file that the suite makes
# holds a client secret, a proxy password or (outside the token cache) an access token.
#
# ``run`` and ``run_script`` record what they return and the directories the run used for
# its state and DD files (plus the credentials it was given). After each test its outputs
# and files are scanned; at the end of the session the whole state tree of the console-
# script runs and every file the plugin names (stores, token caches, DD pages) under
# pytest's base temporary directory are scanned too. A find fails the session with the
# test, the file and the kind of secret, never the secret itself.
# ---------------------------------------------------------------------------------------

# The credentials the suite hands the plugin and its fakes (tests/test_graph.py,
# tests/fake_microsoft/). Values seen while the suite runs are added: module constants
# named like SECRET or PROXY_PASSWORD, the fakes' client secrets and proxy passwords, and
# secrets given to a run by environment or argv.
KNOWN_SECRETS = (
    ("client secret of tests/test_graph.py (SECRET)", "s3cr3t-Value~with.chars_0123456789"),
    ("default client secret of FakeMicrosoft", "s3cr3t"),
    ("default proxy password of FakeMicrosoft", "proxypass"),
    ("PFX password of tests/test_graph.py", "pfx-pass-123"),
)
SECRET_ENVIRONMENT = ("ENTRA_CLIENT_SECRET", "ENTRA_PROXY_PASSWORD", "ENTRA_PFX_PASSWORD")
SECRET_OPTIONS = ("--client-secret",)
# Files a test hands the plugin: their content is the test's, not the plugin's.
INPUT_OPTIONS = ("--client-secret-file", "--proxy-password-file", "--client-pfx-password-file",
                 "--client-certificate", "--client-pfx", "--input")
STATE_OPTIONS = ("--state-dir", "--dd-dir")
_SECRET_NAME = re.compile(r"^(?:[A-Z0-9]+_)*(?:SECRET|PASSWORD)$")
_ENV_NAME = re.compile(r"^[A-Z][A-Z0-9_]*$")
# Files the plugin writes (found anywhere under the base temporary directory): stores,
# token caches, DD pages, remembered windows, moved-aside copies, their temporary files.
_PLUGIN_FILE = re.compile(r"\.sqlite|^token-cache-|^check_entra_|\.corrupt-|^fetch\.lock$")
_PLUGIN_DIRS = {"windows", "check_entra_noninteractive"}
_CHUNK = 8 << 20
_MAX_SCAN = 1 << 30  # bytes read of one file at most


@dataclass(frozen=True)
class Secret:
    label: str      # what it is, for the report (never the value)
    value: bytes
    token: bool = False  # an access token: allowed in the token cache only


def _plausible(value):
    """A value worth looking for: not short, not a plain word such as 'secret' (which the
    plugin's own messages contain), not an environment variable's name."""
    return (isinstance(value, str) and len(value) >= 6 and not _ENV_NAME.match(value)
            and not (value.isalpha() and len(value) < 12))


def _variants(label, value, token=False):
    """The secret as it may leak: as is, URL-encoded, in a Basic header."""
    raw = value.encode("utf-8")
    found = {raw: label}
    for encoded in (urllib.parse.quote(value, safe=""), urllib.parse.quote_plus(value)):
        found.setdefault(encoded.encode("ascii"), label + " (URL-encoded)")
    return [Secret(text, data, token) for data, text in found.items()]


def _basic(label, user, password):
    if not (user and password):
        return []
    data = base64.b64encode(("%s:%s" % (user, password)).encode("utf-8"))
    return [Secret(label + " (base64 in a Basic header)", data)]


class _Recording:
    """What one test made: outputs, the directories its runs used, secrets they were given."""

    def __init__(self, nodeid):
        self.nodeid = nodeid
        self.outputs = []        # (what, text)
        self.dirs = set()        # state and DD directories
        self.inputs = set()      # files the test handed the plugin

    def add(self, what, text, argv, env=None, default_state=None):
        self.outputs.append((what, text))
        argv = [str(a) for a in argv]
        options = {}
        for index, arg in enumerate(argv):
            name, equals, value = arg.partition("=")
            if equals and name.startswith("--"):
                options.setdefault(name, []).append(value)
            elif index + 1 < len(argv):
                options.setdefault(arg, []).append(argv[index + 1])
        for name in STATE_OPTIONS:
            self.dirs.update(options.get(name, []))
        if "--state-dir" not in options and default_state:
            self.dirs.add(str(default_state))
        environment = os.environ if env is None else env
        if environment.get("XDG_STATE_HOME"):
            self.dirs.add(environment["XDG_STATE_HOME"])
        for name in INPUT_OPTIONS:
            self.inputs.update(os.path.abspath(p) for p in options.get(name, []))
        for name in SECRET_OPTIONS:
            for value in options.get(name, []):
                if _plausible(value):
                    _GIVEN.setdefault(value, "secret given by %s" % name)
        for name in SECRET_ENVIRONMENT:
            value = environment.get(name)
            if _plausible(value):
                _GIVEN.setdefault(value, "secret given in %s" % name)


_RECORDINGS = []                               # every test's _Recording, in order
_OUTSIDE = _Recording("(outside any test: fixtures)")
_CURRENT = [None]                              # the running test's _Recording
_FAKES = weakref.WeakSet()                     # FakeMicrosoft servers alive
_FAKE_SECRETS = {}                             # (label, user) -> their credentials
_TOKENS = set()                                # access tokens they issued
_CONSTANTS = {}                                # value -> label, from the test modules
_GIVEN = {}                                    # value -> label, secrets given to runs
_SCANNED = {}                                  # path -> (size, mtime_ns) at its last scan
_LEAKS = []                                    # (test, where, label), in order found
_BASETEMPS = set()


def _recording():
    return _CURRENT[0] or _OUTSIDE


def _watch_fakes():
    """Watch every FakeMicrosoft started, for its client secrets, proxy password and the
    access tokens it issues (read while it lives and when it stops; not kept alive)."""
    module = sys.modules.get("fake_microsoft")
    fake_class = getattr(module, "FakeMicrosoft", None)
    if fake_class is None or getattr(fake_class.start, "_scan_watched", False):
        return
    start, stop = fake_class.start, fake_class.stop

    def watched_start(self, *args, **kwargs):
        _FAKES.add(self)
        return start(self, *args, **kwargs)

    def watched_stop(self, *args, **kwargs):
        _harvest_fake(self)
        return stop(self, *args, **kwargs)

    watched_start._scan_watched = True
    fake_class.start, fake_class.stop = watched_start, watched_stop


def _harvest_fake(fake):
    for client, value in dict(getattr(fake, "clients", None) or {}).items():
        if _plausible(value) or value in dict(KNOWN_SECRETS).values():
            _FAKE_SECRETS[("client secret of FakeMicrosoft client %s" % client, client)] = value
    password = getattr(fake, "proxy_password", None)
    if _plausible(password) or password in dict(KNOWN_SECRETS).values():
        _FAKE_SECRETS[("proxy password of FakeMicrosoft",
                       getattr(fake, "proxy_user", None))] = password
    lock = getattr(fake, "_lock", None)
    issued = getattr(fake, "_tokens", None) or {}
    if lock is None:
        _TOKENS.update(t for t in list(issued) if isinstance(t, str) and len(t) >= 16)
        return
    with lock:
        _TOKENS.update(t for t in issued if isinstance(t, str) and len(t) >= 16)


def _harvest_constants(modules):
    for module in modules:
        for name, value in list(vars(module).items()):
            if _SECRET_NAME.match(name) and _plausible(value):
                _CONSTANTS.setdefault(value, "%s.%s" % (module.__name__, name))


def suite_secrets():
    """Every secret known now (as Secret objects, with their leak variants)."""
    for fake in list(_FAKES):
        _harvest_fake(fake)
    labelled = {value: label for label, value in KNOWN_SECRETS}
    for (label, _), value in _FAKE_SECRETS.items():
        labelled.setdefault(value, label)
    for value, label in _CONSTANTS.items():
        labelled.setdefault(value, "test constant %s" % label)
    for value, label in _GIVEN.items():
        labelled.setdefault(value, label)
    found = []
    for value, label in labelled.items():
        found += _variants(label, value)
    for (label, user), value in _FAKE_SECRETS.items():
        found += _basic(label, user, value)
    for token in _TOKENS:
        found += _variants("an access token issued by FakeMicrosoft", token, token=True)
    return found


def find_secrets(data, secrets):
    """Labels of the secrets in ``data`` (str or bytes), in the order of ``secrets``."""
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogatepass")
    found = [s for s in secrets if s.value in data]
    # 's3cr3t' inside 's3cr3t-Value~...' is one find, named by the longer secret; a secret
    # known twice (a fake's proxy password harvested and also given) is one find too.
    return list(dict.fromkeys(
        s.label for s in found
        if not any(s.value in other.value and s.value != other.value for other in found)))


def scan_file(path, secrets):
    """Labels of the secrets in the regular file ``path`` (read as bytes, in chunks, up to
    _MAX_SCAN); access tokens count only outside the token cache. Never follows a link and
    never opens a FIFO or device."""
    try:
        info = os.lstat(path)
    except OSError:
        return []
    if not stat.S_ISREG(info.st_mode):
        return []
    if os.path.basename(path).startswith("token-cache"):
        secrets = [s for s in secrets if not s.token]
    if not secrets:
        return []
    overlap = max(len(s.value) for s in secrets)
    found = set()
    try:
        with open(path, "rb") as handle:
            tail = b""
            read = 0
            while read < _MAX_SCAN:
                chunk = handle.read(_CHUNK)
                if not chunk:
                    break
                read += len(chunk)
                data = tail + chunk
                found.update(find_secrets(data, secrets))
                tail = data[-overlap:]
    except OSError:
        return []
    return sorted(found)


def _only_a_secret(path, secrets):
    """A small file, not named like the plugin's, that holds nothing but a secret: a
    credential file a test made."""
    if _PLUGIN_FILE.search(os.path.basename(path)):
        return False
    try:
        if os.lstat(path).st_size > 1024:
            return False
        with open(path, "rb") as handle:
            content = handle.read().strip()
    except OSError:
        return False
    return any(content == s.value for s in secrets)


def _files(root, plugin_only=False):
    """Regular files under ``root`` (no links followed); with plugin_only, only the files
    the plugin names (see _PLUGIN_FILE) and those in its own directories."""
    if not root or not os.path.isdir(root):
        return
    for directory, subdirs, names in os.walk(root, onerror=lambda error: None):
        in_plugin_dir = _PLUGIN_DIRS & set(os.path.relpath(directory, root).split(os.sep))
        for name in names:
            if not plugin_only or in_plugin_dir or _PLUGIN_FILE.search(name):
                yield os.path.join(directory, name)


def scan_tree(root, secrets, skip=(), plugin_only=False):
    """(path, label) of every secret in the files under ``root``."""
    leaks = []
    for path in _files(root, plugin_only):
        if os.path.abspath(path) in skip:
            continue
        try:
            info = os.lstat(path)
        except OSError:
            continue
        signature = (info.st_size, info.st_mtime_ns)
        labels = scan_file(path, secrets)
        _SCANNED[os.path.abspath(path)] = signature
        if labels and not _only_a_secret(path, secrets):
            leaks += [(path, label) for label in labels]
    return leaks


def _scan_recording(record, tmp_path=None):
    secrets = suite_secrets()
    leaks = []
    for what, text in record.outputs:
        leaks += [(what, label) for label in find_secrets(text, secrets)]
    for directory in sorted(record.dirs):
        leaks += scan_tree(directory, secrets, skip=record.inputs)
    if tmp_path is not None:
        leaks += scan_tree(str(tmp_path), secrets, skip=record.inputs, plugin_only=True)
    unique = []
    for leak in leaks:
        if leak not in unique:
            unique.append(leak)
    for where, label in unique:
        _LEAKS.append((record.nodeid, where, label))
    return unique


def _leak_lines(leaks):
    return ["%s: %s found in %s" % (test, label, where) for test, where, label in leaks]


@pytest.fixture(autouse=True)
def _secret_scan(request, tmp_path):
    """Record what this test's runs make; scan it when the test ends."""
    _watch_fakes()
    _BASETEMPS.add(str(tmp_path.parent))
    record = _Recording(request.node.nodeid)
    _RECORDINGS.append(record)
    _CURRENT[0] = record
    try:
        yield record
    finally:
        _CURRENT[0] = None
        leaks = _scan_recording(record, tmp_path)
        record.outputs = []  # scanned: free the memory
    if leaks:
        pytest.fail("secret leak (the session fails): %s"
                    % "; ".join("%s found in %s" % (label, where) for where, label in leaks),
                    pytrace=False)


def pytest_collection_finish(session):
    _watch_fakes()
    _harvest_constants({item.module for item in session.items
                        if getattr(item, "module", None) is not None})


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session, exitstatus):
    """Scan what no test's teardown scanned: runs made by fixtures, the console scripts'
    shared state directory, and every plugin file left under the base temporary
    directory (skipping files unchanged since their scan). A find fails the session."""
    if not _RECORDINGS and not _OUTSIDE.outputs:
        return  # nothing ran here (e.g. the xdist controller, or --collect-only)
    _scan_recording(_OUTSIDE)
    _OUTSIDE.outputs = []
    secrets = suite_secrets()
    roots = [(SCRIPT_STATE, False)] + [(base, True) for base in sorted(_BASETEMPS)]
    for root, plugin_only in roots:
        for path in _files(root, plugin_only):
            key = os.path.abspath(path)
            try:
                info = os.lstat(path)
            except OSError:
                continue
            if _SCANNED.get(key) == (info.st_size, info.st_mtime_ns):
                continue
            labels = scan_file(path, secrets)
            _SCANNED[key] = (info.st_size, info.st_mtime_ns)
            if labels and not _only_a_secret(path, secrets):
                for label in labels:
                    leak = ("(session end)", path, label)
                    if not any(l[1:] == leak[1:] for l in _LEAKS):
                        _LEAKS.append(leak)
    if _LEAKS:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if _LEAKS:
        terminalreporter.section("secret scan: secrets found", sep="=", red=True, bold=True)
        for line in _leak_lines(_LEAKS):
            terminalreporter.line(line, red=True)
