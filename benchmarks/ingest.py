#!/usr/bin/env python3
"""Benchmark: ingest throughput and peak memory of the file source, end to end.

Writes N generated sign-ins as JSON Lines (default 200,000), then runs each real console
script on it as a child process and reports, as JSON, wall time, records per second and the
child's peak resident memory (from wait4's rusage):

    python tools/benchmark_ingest.py [--records 200000] [--keep PATH] [--dd on|off]

With ``--dd on`` (the checks' default) each run also builds and writes its detailed
diagnosis; ``--dd off`` measures reading and measuring alone.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

from check_entra_noninteractive import sample

SCRIPTS = ("check_entra_signins", "check_entra_success_entities",
           "check_entra_failure_entities", "check_entra_auth_methods",
           "check_entra_conditional_access")


def write_jsonl(path, count):
    with open(path, "w") as handle:
        for record in sample.generate(count=count, minutes=max(60, count // 3000)):
            handle.write(json.dumps(record) + "\n")


def run_child(argv):
    started = time.monotonic()
    child = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    output = child.stdout.read().decode("utf-8", "replace")
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    return time.monotonic() - started, usage.ru_maxrss / 1024.0, child.returncode, output


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=200000)
    parser.add_argument("--keep", metavar="PATH", help="keep the generated file here")
    parser.add_argument("--dd", choices=("on", "off"), default="on",
                        help="--detailed-diagnosis for the checks (default on)")
    args = parser.parse_args()

    directory = tempfile.mkdtemp(prefix="entra-bench-")
    path = args.keep or os.path.join(directory, "signins.jsonl")
    try:
        started = time.monotonic()
        write_jsonl(path, args.records)
        generated = time.monotonic() - started
        report = {"records": args.records, "file_mib": round(os.path.getsize(path) / 2**20, 1),
                  "generate_seconds": round(generated, 2), "python": sys.version.split()[0],
                  "detailed_diagnosis": args.dd,
                  "runs": []}
        bindir = os.path.dirname(sys.executable)
        for name in SCRIPTS:
            script = os.path.join(bindir, name)
            if not os.path.exists(script):
                script = shutil.which(name) or name
            seconds, rss_mib, code, output = run_child(
                [script, "--input", path, "--state-dir", directory,
                 "--detailed-diagnosis", args.dd])
            report["runs"].append({
                "check": name, "exit": code, "seconds": round(seconds, 2),
                "records_per_second": int(args.records / seconds),
                "peak_rss_mib": round(rss_mib, 1),
                "status": output.splitlines()[0][:120] if output else "",
            })
        print(json.dumps(report, indent=2))
    finally:
        shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    main()
