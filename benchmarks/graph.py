#!/usr/bin/env python3
"""Benchmark: fetching a 30-page window from Graph behind the 5-per-10-s throttle.

Serves N sign-ins (default 30,000 = 30 pages of 1,000) from the local fake of Microsoft's
endpoints with a fixed latency per page (default 2.5 s) and the real throttle (5 requests per
10 s per app and tenant), runs the real check_entra_signins against it once, and judges its
wall time against the ceiling the throttle allows for the fewest requests the window can
take (ceil(N/1000)), computed from the fake's own settings in the same run.

    python benchmarks/graph.py [--records 30000] [--page-delay 2.5]   (prints JSON)
"""

import argparse
import json
import math
import os
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

from common import Figure, run_child, script  # noqa: E402

import sample  # noqa: E402
from fake_microsoft import FakeMicrosoft  # noqa: E402

PAGE = 1000
GOAL = 1.15  # wall time at most this many times the throttle's ceiling


def throttle_ceiling(requests, page_delay, limit, period):
    """Fastest possible wall time: requests start ``limit`` per ``period``; the last one
    takes a page."""
    return (math.ceil(requests / limit) - 1) * period + page_delay


def measure(records=30000, page_delay=2.5):
    """Run check_entra_signins once over a window of ``records`` sign-ins; what it took."""
    made = list(sample.generate(count=records, minutes=60, seed=1, compact=True))
    for record in made:  # every record non-interactive, so the window is exactly N
        record["signInEventTypes"] = ["nonInteractiveUser"]
    with FakeMicrosoft(records=made, tenant="bench", client_id="bench-app",
                       client_secret="bench-secret", page_delay=page_delay) as fake, \
            tempfile.TemporaryDirectory() as state:
        env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
        env.update(REQUESTS_CA_BUNDLE=fake.ca_bundle, ENTRA_CLIENT_SECRET="bench-secret")
        child = run_child([script("check_entra_signins"), "--tenant-id", "bench",
                           "--client-id", "bench-app", "--authority-host", fake.authority_host,
                           "--graph-url", fake.graph_url, "--start", "2026-11-20T08:00:00Z",
                           "--end", "2026-11-20T09:00:00Z", "--state-dir", state, "-t", "300"],
                          env=env)
        limit, period = fake.throttle.limit, fake.throttle.window
        pages, requests = math.ceil(records / PAGE), len(fake.graph_requests())
        return {
            "records": records, "pages_needed": pages, "page_delay_s": fake.page_delay,
            "throttle": "%d per %g s" % (limit, period),
            "wall_s": round(child.seconds, 1), "graph_requests": requests,
            "token_requests": len(fake.token_requests()), "http_429": fake.count(429),
            "ceiling_s": round(throttle_ceiling(pages, fake.page_delay, limit, period), 1),
            "ceiling_for_requests_made_s": round(
                throttle_ceiling(requests, fake.page_delay, limit, period), 1),
            "sequential_s": round(pages * fake.page_delay, 1),
            "exit": child.code, "status": (child.output.splitlines() or [""])[0][:150],
        }


# Two 30-page windows: one whose last page is full, where any split must fetch a sign-in
# twice (the boundary second) and so costs a 31st request; one whose last page has room.
WINDOWS = (30000, 29500)


def figures(quick=False):
    """Both 30-page windows, whatever ``quick`` says: the figures are about those windows,
    and one run takes about a minute."""
    rows = []
    for records in WINDOWS:
        report = measure(records)
        met = (report["exit"] == 0 and report["http_429"] == 0
               and report["graph_requests"] <= report["pages_needed"]
               and report["wall_s"] <= GOAL * report["ceiling_s"])
        value = "%.1f s, %d requests, %d x 429" % (report["wall_s"], report["graph_requests"],
                                                    report["http_429"])
        if report["exit"]:
            value += ", exit %d: %s" % (report["exit"], report["status"])
        rows.append(Figure(
            "Graph fetch: %d-page window (%d sign-ins), %g s a page, throttle %s" % (
                report["pages_needed"], report["records"], report["page_delay_s"],
                report["throttle"]),
            value,
            "ceiling %.1f s for %d requests" % (report["ceiling_s"], report["pages_needed"]),
            "<= %gx ceiling, no 429, no extra request" % GOAL, met))
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=30000)
    parser.add_argument("--page-delay", type=float, default=2.5)
    args = parser.parse_args()
    print(json.dumps(measure(args.records, args.page_delay), indent=2))


if __name__ == "__main__":
    main()
