import atexit
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
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
        return Outcome(exit_info.value.code, capsys.readouterr().out)

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
