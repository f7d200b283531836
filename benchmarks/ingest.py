"""Ingest: reading an exported JSON Lines file (``--input``) into the store, beside the
floor of decoding the same file, and peak memory as the file grows.

(a) check_entra_signins --input FILE --detailed-diagnosis off on 200k generated sign-ins
    (--quick: 20k), beside the floor measured in the same run: a child Python that only
    json.loads every line of the same file. Goal: <= 3x the floor.
(b) the peak resident memory of that run on 1M sign-ins vs 100k (--quick: 100k vs 10k).
    Goal: <= 1.5x (reading streams; the scratch store's page cache is bounded).

Files are JSON Lines of ``check_entra_noninteractive.sample`` (Graph beta signIn shape,
about 1.7 kB a record), written once per size into a temporary directory. Timed runs are
children (common.run_child); each time is the fastest of REPEAT runs, floor and check
interleaved so that a busy moment of the shared machine hits both alike.

    python benchmarks/ingest.py [--quick] [--profile] [--keep DIR]
"""

import argparse
import os
import shutil
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

from common import Figure, count_label, run_child, script, seconds_text  # noqa: E402

import sample  # noqa: E402

CHECK = "check_entra_signins"
REPEAT = 5  # a --quick run: 2
TIME_GOAL = 3.0  # x the json.loads floor
RSS_GOAL = 1.5   # x the peak RSS of the smaller file
# The floor: decode every line of the file the way the file source opens it, nothing else.
FLOOR = """\
import json, sys
with open(sys.argv[1], encoding="utf-8-sig", newline="") as handle:
    for line in handle:
        json.loads(line)
"""


def write_jsonl(path, count):
    """``count`` generated sign-ins, newest first, about 3,000 a minute."""
    with open(path, "w", encoding="utf-8") as handle:
        sample.write(sample.generate(count=count, minutes=max(60, count // 3000)), handle,
                     fmt="jsonl")
    return path


def check_argv(path, state):
    return [script(CHECK), "--input", path, "--detailed-diagnosis", "off",
            "--state-dir", state, "-t", "3600"]


def run_check(path, state):
    child = run_child(check_argv(path, state))
    if child.code not in (0, 1, 2):
        raise RuntimeError("%s exited %d: %s" % (CHECK, child.code, child.output.strip()[:400]))
    return child


def run_floor(path):
    child = run_child([sys.executable, "-c", FLOOR, path])
    if child.code != 0:
        raise RuntimeError("the floor exited %d: %s" % (child.code, child.output.strip()[:400]))
    return child


def profile_child(argv, lines=30):
    """The cProfile of one run of a console script, sorted by cumulative time."""
    # -P: not the working directory first, so the installed package is profiled.
    safe = ["-P"] if sys.version_info >= (3, 11) else []
    out = run_child([sys.executable, *safe, "-m", "cProfile", "-s", "cumtime", *argv]).output
    head = out.split("\n")
    for i, line in enumerate(head):
        if "ncalls" in line:
            return "\n".join(head[max(0, i - 3):i + lines])
    return out[-4000:]


def ingest_time(base, count, repeat, profiles=None, tidy=True):
    """(a): the check vs the json.loads floor on one file."""
    path = write_jsonl(os.path.join(base, "time-%d.jsonl" % count), count)
    state = os.path.join(base, "state")
    run_check(path, state)  # warm the page cache with the file
    floors, checks = [], []
    for _ in range(repeat):
        floors.append(run_floor(path))
        checks.append(run_check(path, state))
    floor = min(floors, key=lambda c: c.seconds)
    check = min(checks, key=lambda c: c.seconds)
    ratio = check.seconds / floor.seconds
    met = ratio <= TIME_GOAL
    if not met and profiles is not None:
        profiles.append(("%s --input (%s) --detailed-diagnosis off"
                         % (CHECK, count_label(count)),
                         profile_child(check_argv(path, state))))
    if tidy:
        os.unlink(path)
    return Figure(
        "(a) %s --input %s-record JSON Lines, DD off" % (CHECK, count_label(count)),
        "%s (%.1fx floor; CPU %s; %dk records/s)" % (
            seconds_text(check.seconds), ratio, seconds_text(check.cpu),
            count / check.seconds / 1000),
        "json.loads of every line %s (CPU %s)"
        % (seconds_text(floor.seconds), seconds_text(floor.cpu)),
        "<= %gx floor" % TIME_GOAL, met)


def ingest_memory(base, small, big, tidy=True):
    """(b): peak RSS of the check on a big file vs a small one."""
    state = os.path.join(base, "state")
    peaks = {}
    for count in (small, big):
        path = write_jsonl(os.path.join(base, "rss-%d.jsonl" % count), count)
        peaks[count] = run_check(path, state)
        if tidy:
            os.unlink(path)  # the 1M file is 1.6 GB
    ratio = peaks[big].rss_mib / peaks[small].rss_mib
    return Figure(
        "(b) peak RSS of %s --input: %s vs %s records"
        % (CHECK, count_label(big), count_label(small)),
        "%.1f MiB (%.2fx; %s)" % (peaks[big].rss_mib, ratio, seconds_text(peaks[big].seconds)),
        "%s records: %.1f MiB" % (count_label(small), peaks[small].rss_mib),
        "<= %gx" % RSS_GOAL, ratio <= RSS_GOAL)


def figures(quick=False, profiles=None, keep=None):
    """This module's figures; ``profiles`` (a list) receives (title, cProfile text) of a
    timed run that misses its goal; ``keep``: a directory for the files (else a temporary
    one, removed)."""
    base = keep or tempfile.mkdtemp(prefix="bench-ingest-")
    try:
        rows = [
            _guard("(a) ingest time", ingest_time, base, 20000 if quick else 200000,
                   2 if quick else REPEAT, profiles, keep is None),
            _guard("(b) ingest peak RSS", ingest_memory, base,
                   10000 if quick else 100000, 100000 if quick else 1000000, keep is None),
        ]
    finally:
        if keep is None:
            shutil.rmtree(base, ignore_errors=True)
    return rows


def _guard(name, function, *args):
    """A part that fails becomes one failed row; the other parts still run."""
    try:
        return function(*args)
    except Exception as exc:  # noqa: BLE001 - reported in the table
        text = (str(exc).splitlines() or [""])[0][:200]
        return Figure(name, "ERROR %s: %s" % (type(exc).__name__, text), "-", "-", False)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes (< 1 min)")
    parser.add_argument("--profile", action="store_true",
                        help="print the cProfile (cumtime) of a timed run that misses its "
                             "goal")
    parser.add_argument("--keep", metavar="DIR",
                        help="write the files and the state here, and keep them")
    args = parser.parse_args(argv)
    import run

    started = time.monotonic()
    profiles = [] if args.profile else None
    if args.keep:
        os.makedirs(args.keep, exist_ok=True)
    rows = figures(args.quick, profiles, keep=args.keep)
    print(run.table(rows))
    print(run.machine(time.monotonic() - started))
    for title, text in profiles or ():
        print("\n== profile: %s\n%s" % (title, text))
    return 0


if __name__ == "__main__":
    sys.exit(main())
