#!/usr/bin/env python3
"""Benchmark against the peer: the script an administrator would write with Microsoft's
Graph SDK (benchmarks/peer_msgraph_sdk.py) versus our checks, on the same window.

One local fake of Microsoft's endpoints (tests/fake_microsoft/) serves N non-interactive
sign-ins over one hour (default 30,000; --quick 5,000). Each contender runs as a child
process against it, one after the other:

  peer   msgraph-beta-sdk + azure-identity in their own venv (benchmarks/.peer-venv, made
         or refreshed from benchmarks/requirements-peer.txt); fetches the window once and
         counts the signins measures and the failure entities of IPs, users and apps.
  ours   check_entra_signins with a fresh state dir (fetches the window into the store and
         counts), then check_entra_failure_entities sharing that state dir (the window is
         already stored: it only counts). "Ours" is the two together: wall and CPU summed,
         memory the larger peak.

Fairness: the fake answers every page at once (page_delay 0), so neither side is credited
for hiding latency (ours fetches a few page chains at once, the peer one page after the
other), but it keeps Microsoft's throttle on (5 requests per 10 s per app and tenant),
because Graph enforces it: our checks pace themselves to it; a peer fast enough to exceed
it gets 429s and its SDK waits out each Retry-After (in practice the SDK's deserialization,
tens of ms per sign-in, keeps it below the limit). Turning the throttle off would compare
our pacing with a Graph that does not exist. The fake's throttle window and request log are
reset before each contender.

The fake runs in its own process and the records go to it through a file: a child's peak
memory as wait4 reports it starts from this process's high-water mark (Linux keeps it
across fork and exec), so this process stays small. Other processes on the machine perturb
wall and CPU time.

    python benchmarks/peer.py [--quick]
"""

import argparse
import json
import os
import re
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request

try:
    from .common import ROOT, TESTS, Figure, run_child, script
except ImportError:  # run as a script: benchmarks/ is on sys.path
    from common import ROOT, TESTS, Figure, run_child, script

HERE = os.path.dirname(os.path.abspath(__file__))
PEER_VENV = os.path.join(HERE, ".peer-venv")
PEER_REQUIREMENTS = os.path.join(HERE, "requirements-peer.txt")
PEER_SCRIPT = os.path.join(HERE, "peer_msgraph_sdk.py")

TENANT, CLIENT, SECRET = "bench", "bench-app", "bench-secret"
START, END = "2026-11-20T08:00:00Z", "2026-11-20T09:00:00Z"
COMPARED = ("total", "successful", "failed", "failed_pct", "risky",
            "failure_ips", "failure_users", "failure_apps")


def peer_python():
    """The peer venv's python, made (or refreshed when the pins changed) on demand."""
    python = os.path.join(PEER_VENV, "bin", "python")
    stamp = os.path.join(PEER_VENV, "requirements-peer.installed")
    with open(PEER_REQUIREMENTS, encoding="utf-8") as fh:
        wanted = fh.read()
    if not os.path.exists(python):
        subprocess.run([sys.executable, "-m", "venv", PEER_VENV], check=True)
    try:
        with open(stamp, encoding="utf-8") as fh:
            installed = fh.read()
    except FileNotFoundError:
        installed = None
    if installed != wanted:
        subprocess.run([python, "-m", "pip", "install", "--quiet", "-r", PEER_REQUIREMENTS],
                       check=True)
        with open(stamp, "w", encoding="utf-8") as fh:
            fh.write(wanted)
    return python


def write_records(path, count):
    """N non-interactive sign-ins as JSON Lines, one record at a time (flat memory)."""
    import sample

    with open(path, "w", encoding="utf-8") as fh:
        for record in sample.generate(count=count, minutes=60, seed=1, compact=True):
            # every record non-interactive, so the window is exactly N
            record["signInEventTypes"] = ["nonInteractiveUser"]
            fh.write(json.dumps(record) + "\n")


class Fake:
    """tests/fake_microsoft/ in its own process, driven over its control endpoints.

    Not in this process: a child's peak memory (wait4's ru_maxrss) starts from this
    process's own high-water mark on Linux, so this one must never hold the records, nor
    the fake's imports (trustme, cryptography)."""

    def __init__(self, folder, records_file):
        config = os.path.join(folder, "fake.json")
        self.ready = os.path.join(folder, "ready.json")
        with open(config, "w", encoding="utf-8") as fh:
            json.dump({"records_file": records_file, "tenant": TENANT, "client_id": CLIENT,
                       "client_secret": SECRET, "page_delay": 0,
                       "workdir": os.path.join(folder, "fake")}, fh)
        self.log = open(os.path.join(folder, "fake.log"), "wb")
        self.process = subprocess.Popen(
            [sys.executable, os.path.join(TESTS, "fake_microsoft"), "--config", config,
             "--ready-file", self.ready], stdout=self.log, stderr=subprocess.STDOUT,
            env=base_env())

    def __enter__(self):
        deadline = time.monotonic() + 300
        while not os.path.exists(self.ready):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.__exit__()
                raise RuntimeError("the fake did not start (see its log)")
            time.sleep(0.2)
        with open(self.ready, encoding="utf-8") as fh:
            info = json.load(fh)
        self.authority_host, self.graph_url = info["authority_host"], info["graph_url"]
        self.ca_bundle, self.control_url = info["ca_bundle"], info["control_url"]
        self._ssl = ssl.create_default_context(cafile=self.ca_bundle)
        return self

    def __exit__(self, *exc):
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()

    def _call(self, method, what):
        request = urllib.request.Request("%s/%s" % (self.control_url, what), method=method)
        with urllib.request.urlopen(request, context=self._ssl, timeout=60) as answer:
            return json.loads(answer.read() or b"null")

    def reset_throttle(self):
        self._call("DELETE", "throttle")

    def reset_log(self):
        self._call("DELETE", "log")

    def graph_requests(self):
        return self._call("GET", "log?kind=graph")


def perfdata(output):
    """{label: number} from a plugin's perfdata (everything after the first '|')."""
    _, _, data = output.partition("|")
    return {m.group(1): float(m.group(2))
            for m in re.finditer(r"'?([A-Za-z_][\w ]*)'?=(-?[\d.]+)", data)}


def base_env():
    return {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}


def run_measured(fake, argv, env):
    """Run one contender with a fresh throttle window; its child figures and Graph
    requests (total, 429s)."""
    fake.reset_throttle()
    fake.reset_log()
    child = run_child(argv, env)
    graph = fake.graph_requests()
    return child, len(graph), sum(1 for r in graph if r["status"] == 429)


def check_ran(what, child):
    if child.code not in (0, 1, 2):
        raise RuntimeError("%s failed (exit %d):\n%s" % (what, child.code, child.output[-3000:]))


def figures(quick=False):
    count = 5000 if quick else 30000
    python = peer_python()
    with tempfile.TemporaryDirectory(prefix="bench-peer-") as folder:
        records_file = os.path.join(folder, "signins.jsonl")
        write_records(records_file, count)
        state = os.path.join(folder, "state")
        os.mkdir(state)
        with Fake(folder, records_file) as fake:
            env = base_env()
            env.update(AZURE_CLIENT_SECRET=SECRET, SSL_CERT_FILE=fake.ca_bundle,
                       REQUESTS_CA_BUNDLE=fake.ca_bundle)
            peer, peer_requests, peer_429 = run_measured(fake, [
                python, PEER_SCRIPT, "--tenant-id", TENANT, "--client-id", CLIENT,
                "--authority-host", fake.authority_host, "--graph-url", fake.graph_url,
                "--start", START, "--end", END], env)
            if peer.code != 0:
                raise RuntimeError("the peer failed (exit %d):\n%s"
                                   % (peer.code, peer.output[-3000:]))
            peer_values = json.loads([line for line in peer.output.splitlines()
                                      if line.startswith("{")][-1])

            env = base_env()
            env.update(REQUESTS_CA_BUNDLE=fake.ca_bundle, ENTRA_CLIENT_SECRET=SECRET)
            common = ["--tenant-id", TENANT, "--client-id", CLIENT,
                      "--authority-host", fake.authority_host, "--graph-url", fake.graph_url,
                      "--start", START, "--end", END, "--state-dir", state, "-t", "300"]
            signins, our_requests, our_429 = run_measured(
                fake, [script("check_entra_signins")] + common, env)
            check_ran("check_entra_signins", signins)
            entities, entity_requests, entity_429 = run_measured(
                fake, [script("check_entra_failure_entities")] + common, env)
            check_ran("check_entra_failure_entities", entities)
            our_requests += entity_requests
            our_429 += entity_429

    ours_values = perfdata(signins.output)
    ours_values.update(perfdata(entities.output))
    wall = signins.seconds + entities.seconds
    cpu = signins.cpu + entities.cpu
    rss = max(signins.rss_mib, entities.rss_mib)
    what = "%d sign-ins" % count

    def split(a, b, unit, fmt="%.1f"):
        return ("%s %s (signins %s + failure-entities %s)"
                % (fmt % (a + b), unit, fmt % a, fmt % b))

    disagree = ["%s ours %s peer %s" % (k, _num(ours_values.get(k)), _num(peer_values.get(k)))
                for k in COMPARED
                if ours_values.get(k) is None or peer_values.get(k) is None
                or abs(ours_values[k] - peer_values[k]) > 1e-9]
    agreed = "DIFFER: " + "; ".join(disagree) if disagree else "all %d equal: %s" % (
        len(COMPARED), ", ".join("%s=%s" % (k, _num(ours_values[k])) for k in COMPARED))
    return [
        Figure("Wall time, %s, vs Graph SDK peer" % what,
               split(signins.seconds, entities.seconds, "s"),
               "peer %.1f s" % peer.seconds, "<= peer", wall <= peer.seconds),
        Figure("CPU time, %s, vs Graph SDK peer" % what,
               split(signins.cpu, entities.cpu, "s"),
               "peer %.1f s" % peer.cpu, "<= peer", cpu <= peer.cpu),
        Figure("Peak memory, %s, vs Graph SDK peer" % what,
               "%.0f MiB (signins %.0f, failure-entities %.0f)"
               % (rss, signins.rss_mib, entities.rss_mib),
               "peer %.0f MiB" % peer.rss_mib, "<= peer", rss <= peer.rss_mib),
        Figure("Graph requests, %s, vs Graph SDK peer" % what,
               "%d (%d answered 429)" % (our_requests, our_429),
               "peer %d (%d answered 429)" % (peer_requests, peer_429),
               "no 429 for ours", our_429 == 0),
        Figure("Counts equal the Graph SDK peer's, %s" % what,
               agreed,
               "peer counts the same window independently", "all equal", not disagree),
    ]


def _num(value):
    if value is None:
        return "missing"
    return ("%d" % value) if float(value).is_integer() else ("%g" % value)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="5,000 sign-ins, not 30,000")
    args = parser.parse_args()
    sys.path.insert(0, ROOT)
    for f in figures(quick=args.quick):
        print("%s %-50s %s | %s | goal %s" % ("ok  " if f.met else "MISS", f.name, f.value,
                                              f.reference, f.goal))


if __name__ == "__main__":
    main()
