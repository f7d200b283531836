#!/usr/bin/env python3
"""Reliability table: the fault matrix of tests/test_faults.py, several rounds.

Each round gives every case a new seed (new sign-ins, a new shuffle for "pages in any
order"), runs the real check against the local fake with the case's faults, then again on
the same state directory with the faults cleared, and compares both runs with the
reference computed from the records. Prints a Markdown table:

    fault | runs | wrong results | UNKNOWN | next run exact

"wrong results" counts runs of either kind that exit 0, 1 or 2 with a value that differs
from the reference: it must be 0. Seeds come from --seed, so a table can be made again.

    python tools/reliability.py [--rounds 3] [--seed 1] [--jobs 3] [--case NAME ...]
"""

import argparse
import os
import random
import shlex
import sys
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests"))

from test_faults import BROKEN, CASES, EXACT, UNKNOWN, WRONG, run_case  # noqa: E402


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="runs per fault (default 3)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the seeds (default 1)")
    parser.add_argument("--jobs", type=int, default=3, help="cases at once (default 3)")
    parser.add_argument("--case", action="append", metavar="NAME",
                        help="only this case (repeatable; default: all)")
    args = parser.parse_args(argv)
    cases = [c for c in CASES if not args.case or c.name in args.case]
    if not cases:
        parser.error("no such case; known: %s" % ", ".join(c.name for c in CASES))

    rng = random.Random(args.seed)
    seeds = [[rng.randrange(1, 2 ** 31) for _ in cases] for _ in range(args.rounds)]
    command = ["python", "tools/reliability.py", "--rounds", str(args.rounds),
               "--seed", str(args.seed)] + [a for c in args.case or () for a in ("--case", c)]
    print("`%s`" % " ".join(shlex.quote(a) for a in command))
    print()

    with ThreadPoolExecutor(max(1, args.jobs)) as pool:
        futures = [[pool.submit(run_case, case, seed) for case, seed in zip(cases, row)]
                   for row in seeds]
        results = [[f.result() for f in row] for row in futures]

    print("| fault | runs | wrong results | UNKNOWN | next run exact |")
    print("|---|---:|---:|---:|---:|")
    totals, notes = Counter(), []
    for index, case in enumerate(cases):
        count = Counter()
        for round_number, row in enumerate(results, 1):
            result = row[index]
            first, second = result.verdict(0), result.verdict(1)
            count["runs"] += 1
            count["wrong"] += (first == WRONG) + (second == WRONG)
            count["unknown"] += first == UNKNOWN
            count["next exact"] += second == EXACT
            for which, verdict in (("run", first), ("next run", second)):
                expected = case.expect if which == "run" else EXACT
                if verdict != expected:
                    outcome = result.runs[0 if which == "run" else 1][0]
                    notes.append("%s, round %d (seed %d), %s: %s, expected %s: %s" % (
                        case.name, round_number, seeds[round_number - 1][index], which,
                        verdict, expected, outcome.first[:160]))
        totals.update(count)
        print("| %s | %d | %d | %d | %d/%d |" % (case.name, count["runs"], count["wrong"],
                                                count["unknown"], count["next exact"],
                                                count["runs"]))
    print("| **all** | %d | %d | %d | %d/%d |" % (totals["runs"], totals["wrong"],
                                                 totals["unknown"], totals["next exact"],
                                                 totals["runs"]))
    if notes:
        print()
        print("Not as the fault table expects (%s = exit 3 that is not one clean status "
              "line, or an exit code outside 0-3):" % BROKEN)
        print()
        for note in notes:
            print("- " + note.replace("|", "\\|"))
    return 1 if totals["wrong"] else 0


if __name__ == "__main__":
    sys.exit(main())
