"""What every benchmark shares: one figure of the table, and running a child process with
its wall time, CPU time and peak memory."""

import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TESTS = os.path.join(ROOT, "tests")
if TESTS not in sys.path:
    # The sample generator and the fake of Microsoft; the package is the installed one.
    sys.path.append(TESTS)


@dataclass
class Figure:
    """One row of the table: a measured figure beside its floor or ceiling (measured in
    the same run), the goal, and whether it is met."""

    name: str          # what was measured
    value: str         # e.g. "7.9 s", "31 MiB"
    reference: str     # the floor or ceiling it is judged against, e.g. "json.loads 3.2 s"
    goal: str          # e.g. "<= 3x floor"
    met: bool


@dataclass
class Child:
    seconds: float     # wall time
    cpu: float         # user + system CPU seconds of the child
    rss_mib: float     # peak resident memory of the child
    code: int
    output: str


def count_label(count):
    """200000 -> '200k', 29600 -> '29.6k', 1000000 -> '1M': sizes in figure names."""
    if count >= 1000000 and count % 100000 == 0:
        return "%gM" % (count / 1e6)
    if count >= 1000:
        return "%.1fk" % (count / 1000.0) if count % 1000 else "%dk" % (count // 1000)
    return str(count)


def seconds_text(seconds):
    return "%.3f s" % seconds if seconds < 1 else "%.2f s" % seconds


def script(name):
    """Path of a console script of this installation (the venv beside sys.executable)."""
    path = os.path.join(os.path.dirname(sys.executable), name)
    return path if os.path.exists(path) else (shutil.which(name) or name)


# Runs argv as its own child and reports that child's figures. A child's peak RSS counts
# from the memory of the process that forked it, so the fork happens here, in a small
# process, not in a benchmark that may hold hundreds of MiB of generated records.
_TRAMPOLINE = """
import os, sys, time
report, argv = sys.argv[1], sys.argv[2:]
started = time.monotonic()
pid = os.fork()
if pid == 0:
    os.execvp(argv[0], argv)
_, status, usage = os.wait4(pid, 0)
with open(report, "w") as handle:
    handle.write("%d %r %r %r" % (os.waitstatus_to_exitcode(status), time.monotonic() - started,
                                  usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024.0))
"""


def run_child(argv, env=None):
    """Run argv to its end: its wall time, CPU time, peak RSS, exit code and output."""
    fd, report = tempfile.mkstemp(prefix="bench-child-")
    os.close(fd)
    try:
        output = subprocess.run([sys.executable, "-c", _TRAMPOLINE, report, *argv], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT).stdout
        with open(report) as handle:
            code, seconds, cpu, rss = handle.read().split()
    finally:
        os.unlink(report)
    return Child(float(seconds), float(cpu), float(rss), int(code),
                 output.decode("utf-8", "replace"))
