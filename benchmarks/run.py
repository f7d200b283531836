"""The one benchmark command: every module's figures in one plain-text table.

    python benchmarks/run.py [--quick] [--only ingest,graph,window,peer] [--profile]

Each module (benchmarks/<name>.py) gives ``figures(quick=False) -> list[Figure]`` and runs
in a process of its own. A module that is missing is named; one that fails (or whose process
dies) prints one ERROR row and the others still run.
"""

import argparse
import dataclasses
import importlib
import inspect
import json
import os
import platform
import subprocess
import sys
import tempfile
import textwrap
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

MODULES = ("ingest", "graph", "window", "peer")
HEADINGS = ("figure", "measured", "floor/ceiling (same run)", "goal", "met")
WIDTHS = (52, 40, 36, 26, 5)


def _cell(value):
    if value is True:
        return "yes"
    if value is False:
        return "NO"
    return str(value)


def table(figures):
    """The figures as a plain-text table; long cells wrap inside their column."""
    rows = [HEADINGS] + [tuple(_cell(getattr(f, name)) for name in
                               ("name", "value", "reference", "goal", "met"))
                         for f in figures]
    rule = "-+-".join("-" * w for w in WIDTHS)
    lines = []
    for index, row in enumerate(rows):
        cells = [textwrap.wrap(text, width) or [""] for text, width in zip(row, WIDTHS)]
        for depth in range(max(len(c) for c in cells)):
            lines.append(" | ".join((c[depth] if depth < len(c) else "").ljust(w)
                                    for c, w in zip(cells, WIDTHS)).rstrip())
        if index == 0 or index < len(rows) - 1:
            lines.append(rule)
    return "\n".join(lines)


def tree():
    """Which code was measured: the commit, and the package's files changed since."""
    root = os.path.dirname(HERE)
    try:
        head = subprocess.run(["git", "-C", root, "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, timeout=10).stdout.strip()
        changed = subprocess.run(["git", "-C", root, "status", "--porcelain", "--",
                                  "check_entra_noninteractive"], capture_output=True,
                                 text=True, timeout=10).stdout.splitlines()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    if not head:
        return "unknown"
    return "%s + %d changed package files" % (head, len(changed)) if changed else head


def machine(seconds):
    return ("machine: %d cores (%s), Python %s (%s); load average %s; code %s; total %.0f s"
            % (os.cpu_count() or 0, platform.machine(), platform.python_version(),
               sys.executable, " ".join("%.1f" % x for x in os.getloadavg()), tree(),
               seconds))


def run_module(name, quick, profiles=None):
    """(figures, problem): the module's figures, or one ERROR row and the traceback. Runs
    in this process (see ``run_isolated``)."""
    from common import Figure

    if not os.path.exists(os.path.join(HERE, name + ".py")):
        return [Figure("%s: no benchmarks/%s.py" % (name, name), "-", "-", "-", False)], None
    started = time.monotonic()
    try:
        module = importlib.import_module(name)
        kwargs = {}
        if profiles is not None and "profiles" in inspect.signature(module.figures).parameters:
            kwargs["profiles"] = profiles
        figures = list(module.figures(quick, **kwargs))
    except Exception as exc:  # noqa: BLE001 - one module's failure is one row
        return [_error(name, time.monotonic() - started, "%s: %s" % (
            type(exc).__name__, (str(exc).splitlines() or [""])[0][:160]))], \
            traceback.format_exc()
    for figure in figures:  # the modules number their figures alike: (a), (b), ...
        figure.name = "%s %s" % (name, figure.name)
    return figures, None


def _error(name, seconds, text):
    from common import Figure

    return Figure("%s: failed after %.0f s" % (name, seconds), "ERROR " + text, "-", "-",
                  False)


def run_isolated(name, quick, profile):
    """``run_module`` in a child process: a module that crashes or exhausts memory takes
    only its own rows, and the peak memory (ru_maxrss) of the processes it starts is not
    raised by what an earlier module left in this one (Linux gives a forked child its
    parent's high-water mark). Returns (figures, problem, profiles)."""
    from common import Figure

    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="bench-run-") as folder:
        result = os.path.join(folder, "result.json")
        argv = [sys.executable, os.path.abspath(__file__), "--child", name, "--result",
                result] + (["--quick"] if quick else []) + (["--profile"] if profile else [])
        # The module's own prints go to stderr: stdout is the table.
        code = subprocess.call(argv, stdout=sys.stderr)
        try:
            with open(result, encoding="utf-8") as handle:
                data = json.load(handle)
        except (OSError, ValueError):
            return [_error(name, time.monotonic() - started,
                           "the module's process ended with code %d and no figures" % code)], \
                None, []
    figures = [Figure(**row) for row in data["figures"]]
    return figures, data["problem"], [tuple(p) for p in data["profiles"]]


def _child(args):
    profiles = [] if args.profile else None
    figures, problem = run_module(args.child, args.quick, profiles)
    with open(args.result, "w", encoding="utf-8") as handle:
        json.dump({"figures": [dataclasses.asdict(f) for f in figures], "problem": problem,
                   "profiles": profiles or []}, handle)
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes, a few minutes")
    parser.add_argument("--only", metavar="NAMES",
                        help="comma-separated modules (default: %s)" % ",".join(MODULES))
    parser.add_argument("--profile", action="store_true",
                        help="print the cProfile of check runs that miss a goal (modules "
                             "that support it)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return _child(args)
    names = [n.strip() for n in args.only.split(",")] if args.only else list(MODULES)
    unknown = [n for n in names if n not in MODULES]
    if unknown:
        parser.error("unknown module(s) %s; known: %s" % (", ".join(unknown),
                                                           ",".join(MODULES)))
    started = time.monotonic()
    print("benchmarks %s, started %s" % ("--quick" if args.quick else "full",
                                         time.strftime("%Y-%m-%d %H:%M:%S %Z")), flush=True)
    figures, problems, profiles = [], [], []
    for name in names:
        part_started = time.monotonic()
        rows, problem, more = run_isolated(name, args.quick, args.profile)
        figures.extend(rows)
        profiles.extend(more)
        if problem:
            problems.append((name, problem))
        print("  %s: %d figures in %.0f s" % (name, len(rows), time.monotonic() - part_started),
              file=sys.stderr, flush=True)
    print(table(figures))
    print(machine(time.monotonic() - started))
    for name, problem in problems:
        print("\n== %s failed:\n%s" % (name, problem.rstrip()))
    for title, text in profiles:
        print("\n== profile: %s\n%s" % (title, text))
    return 0


if __name__ == "__main__":
    sys.exit(main())
