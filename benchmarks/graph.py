#!/usr/bin/env python3
"""Benchmark: fetching a 30-page window from Graph behind the 5-per-10-s throttle.

Serves N sign-ins (default 30,000 = 30 pages of 1,000) from the local fake of Microsoft's
endpoints with a fixed latency per page (default 2.5 s) and the real throttle (5 requests per
10 s per app and tenant), runs the real check_entra_signins against it once, and reports as
JSON: wall time, Graph requests, 429 answers, and the ceiling the throttle allows.

    python tools/benchmark_graph.py [--records 30000] [--page-delay 2.5]
"""

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests"))

from fake_microsoft import FakeMicrosoft  # noqa: E402

from check_entra_noninteractive import sample  # noqa: E402


def throttle_ceiling(requests, page_delay, limit=5, period=10.0):
    """Fastest possible wall time: requests start 5 per 10 s; the last one takes a page."""
    return (math.ceil(requests / limit) - 1) * period + page_delay


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=30000)
    parser.add_argument("--page-delay", type=float, default=2.5)
    args = parser.parse_args()

    records = [r for r in sample.generate(count=args.records, minutes=60, seed=1, compact=True)]
    for record in records:  # every record non-interactive, so the window is exactly N
        record["signInEventTypes"] = ["nonInteractiveUser"]
    pages = math.ceil(len(records) / 1000)
    with FakeMicrosoft(records=records, tenant="bench", client_id="bench-app",
                       client_secret="bench-secret", page_delay=args.page_delay) as fake, \
            tempfile.TemporaryDirectory() as state:
        env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
        env.update(REQUESTS_CA_BUNDLE=fake.ca_bundle, ENTRA_CLIENT_SECRET="bench-secret")
        script = os.path.join(os.path.dirname(sys.executable), "check_entra_signins")
        argv = [script, "--tenant-id", "bench", "--client-id", "bench-app",
                "--authority-host", fake.authority_host, "--graph-url", fake.graph_url,
                "--start", "2026-11-20T08:00:00Z", "--end", "2026-11-20T09:00:00Z",
                "--state-dir", state, "-t", "300"]
        started = time.monotonic()
        proc = subprocess.run(argv, env=env, capture_output=True, text=True)
        wall = time.monotonic() - started
        graph = fake.graph_requests()
        report = {
            "records": len(records), "pages_needed": pages, "page_delay_s": args.page_delay,
            "wall_s": round(wall, 1), "graph_requests": len(graph),
            "token_requests": len(fake.token_requests()), "http_429": fake.count(429),
            "throttle_ceiling_s": round(throttle_ceiling(len(graph), args.page_delay), 1),
            "ceiling_for_pages_needed_s": round(throttle_ceiling(pages, args.page_delay), 1),
            "sequential_s": round(pages * args.page_delay, 1),
            "exit": proc.returncode, "status": proc.stdout.splitlines()[0][:150],
        }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
