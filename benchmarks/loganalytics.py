#!/usr/bin/env python3
"""Benchmark: the Log Analytics source against the local fake, beside Graph and the file.

Generates N sign-ins in one hour, serves them through the fake's Log Analytics query API
(one workspace, found through the fake's Resource Manager) and through its Graph endpoint
(no throttle, no page delay), and runs ``check_entra_signins`` as a child process on each
source and on the same records as a JSON Lines file. Reports, as JSON, wall time and
requests per source. Not part of the goals table of ``run.py``: it compares the sources.

    python benchmarks/loganalytics.py [--records 50000] [--row-limit 500000]

Run from the repository (the fake lives in tests/). No timing here is a network figure:
the fake answers on loopback, so this measures the check's cost plus the fake's (the
fake's Graph filter is slow: its Graph figure is mostly the fake's).
"""

import argparse
import json
import os
import shutil
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests"))

from common import run_child  # noqa: E402
from ingest import write_jsonl  # noqa: E402
from fake_microsoft import FakeMicrosoft  # noqa: E402

TENANT, CLIENT, SECRET = "bench-tenant", "bench-client", "bench-secret"
WINDOW = ["--start", "2026-11-20T08:00:00Z", "--end", "2026-11-20T09:00:00Z"]
WORKSPACE = {"name": "la-bench", "customer_id": "dddddddd-0000-4000-8000-000000000004"}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=50000)
    parser.add_argument("--row-limit", type=int, default=500000,
                        help="the fake's rows per answer (Log Analytics: 500,000)")
    args = parser.parse_args()
    directory = tempfile.mkdtemp(prefix="entra-bench-la-")
    try:
        path = os.path.join(directory, "signins.jsonl")
        write_jsonl(path, args.records)  # within the hour up to 180,000 records
        script = os.path.join(os.path.dirname(sys.executable), "check_entra_signins")
        script = script if os.path.exists(script) else shutil.which("check_entra_signins")
        with FakeMicrosoft(records=path, tenant=TENANT, client_id=CLIENT, client_secret=SECRET,
                           throttle_limit=0, workspaces=[WORKSPACE],
                           diagnostic_settings=[{"name": "all", "workspace": "la-bench"}],
                           row_limit=args.row_limit) as fake:
            os.environ.update(REQUESTS_CA_BUNDLE=fake.ca_bundle, ENTRA_CLIENT_SECRET=SECRET)
            common = ["--tenant-id", TENANT, "--client-id", CLIENT, "--authority-host",
                      fake.authority_host, "--detailed-diagnosis", "off", "-t", "900",
                      *WINDOW]
            runs = {
                "loganalytics": common + ["--source", "loganalytics", "--management-url",
                                          fake.management_url, "--log-analytics-url",
                                          fake.log_analytics_url],
                "graph": common + ["--graph-url", fake.graph_url],
                "file": ["--input", path, "--detailed-diagnosis", "off", "-t", "900", *WINDOW],
            }
            report = {"records": args.records, "row_limit": args.row_limit, "runs": []}
            for source, argv in runs.items():
                fake.reset_log()
                child = run_child(
                    [script, *argv, "--state-dir", os.path.join(directory, source)])
                seconds, code, output = child.seconds, child.code, child.output
                report["runs"].append({
                    "source": source, "exit": code, "seconds": round(seconds, 2),
                    "records_per_second": int(args.records / seconds),
                    "requests": {kind: len(fake.requests(kind))
                                 for kind in ("token", "arm", "loganalytics", "graph")},
                    "status": output.splitlines()[0][:110] if output else ""})
        print(json.dumps(report, indent=1))
    finally:
        shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    main()
