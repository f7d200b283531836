"""Command line: one option set for all six checks (the threats check has four more), and
their entry points."""

import argparse
import re
import sys
import time
from datetime import timedelta

import nagiosplugin

from . import (__version__, collector, dd, lastwindow, measures, redact, sources, statedir,
               threats)
from .checks import GroupSummary, Measures, SigninCheck, Threshold
from .options import (UsageError, duration_upto, int_upto, number_between, shorten,
                      timestamp, web_url)
from .window import DEFAULT_EVENT_TYPES, EVENT_TYPES

# None: statedir.default_dir() (/var/lib/..., else the user's XDG state directory).
DEFAULT_STATE_DIR = None
# Options that do not change what a check reports: they do not key its remembered window.
NOT_IN_WINDOW_KEY = sources.NOT_IN_WINDOW_KEY + (
    "timeout", "verbose", "details", "detailed_diagnosis", "successful_signin_dd", "dd_limit",
    "dd_dir", "dd_url")
DEFAULT_TIMEOUT = 50
# Time kept back from -t for computing the measures, writing the DD and printing.
RESERVE_SECONDS = 5
_NUMBER = r"[+-]?[0-9]{1,20}(?:\.[0-9]{1,20})?"
# What nagiosplugin.Range reads, checked first so that no Python message reaches the user.
_RANGE = re.compile(r"@?(?:(?:~|%s)?:)?(?:%s)?" % (_NUMBER, _NUMBER))
DEFAULT_WINDOW = timedelta(minutes=5)


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise UsageError(message)


def _threshold(text):
    metric, sep, spec = text.partition("=")
    if not sep or not metric.strip() or not spec.strip():
        raise argparse.ArgumentTypeError("%r is not METRIC=RANGE (e.g. failed_pct=10)" % text)
    spec = spec.strip()
    wrong = "%r is not a Nagios range (10, 10:, ~:10, 10:20, @10:20)" % shorten(spec)
    if not _RANGE.fullmatch(spec) or not re.search("[0-9]", spec):
        raise argparse.ArgumentTypeError(wrong)
    try:
        limit = nagiosplugin.Range(spec)
    except ValueError as exc:  # start > end: nagiosplugin's own words
        raise argparse.ArgumentTypeError("%s: %s" % (wrong, exc))
    return metric.strip(), limit


def build_parser(group):
    parser = _Parser(
        prog=group.script,
        description="Monitor the non-interactive sign-ins of a Microsoft Entra ID tenant: %s "
                    "(%s)." % (group.title.split(" ", 1)[1], ", ".join(group.labels())),
        epilog="Thresholds: -w/-c METRIC=RANGE with this check's metrics: %s."
               % ", ".join(group.labels()))
    sources.add_options(parser)
    source = parser.add_argument_group("window")
    source.add_argument("--window", type=duration_upto("31d"), metavar="DURATION",
                        help="length of the reported window, at most 31d (default 5m; set "
                             "it to the service's check interval; not with --input)")
    source.add_argument("--delay", type=duration_upto("1d"), metavar="DURATION",
                        help="the window ends this long before now, rounded down to the "
                             "minute: Entra's logs arrive late (default %s; at most 1d)"
                             % ", ".join("%dm for --source %s" % (
                                 module.DEFAULT_DELAY.total_seconds() // 60, name)
                                 for name, module in sorted(sources.SOURCES.items())))
    source.add_argument("--start", type=timestamp, metavar="TIME",
                        help="window start, ISO 8601 UTC (e.g. 2026-11-20T08:30:00Z)")
    source.add_argument("--end", type=timestamp, metavar="TIME",
                        help="window end (exclusive), ISO 8601 UTC")
    source.add_argument("--max-catchup", type=duration_upto("31d"), metavar="DURATION",
                        help="a live run after an outage reports everything since the last "
                             "reported window, up to this long (at most 31d); an older gap "
                             "is skipped and named (default 3 x --window)")
    source.add_argument("--event-type", action="append", choices=EVENT_TYPES,
                        dest="event_types", metavar="TYPE",
                        help="sign-in event type to count; repeatable (default %s; also %s)"
                             % (", ".join(DEFAULT_EVENT_TYPES),
                                ", ".join(t for t in EVENT_TYPES if t not in DEFAULT_EVENT_TYPES)))
    source.add_argument("--retention", type=duration_upto("400d"), default="2d",
                        metavar="DURATION",
                        help="keep fetched sign-ins this long in the store (default 2d, at "
                             "most 400d)")
    judge = parser.add_argument_group("measures and thresholds")
    judge.add_argument("--attempts", type=int_upto(1000000), default=5, metavar="N",
                       help="an entity counts when N or more of its consecutive attempts "
                            "succeeded/failed (default 5; 1 = plain distinct count)")
    judge.add_argument("-w", "--warning", type=_threshold, action="append", default=[],
                       metavar="METRIC=RANGE", help="warning range for a metric; repeatable")
    judge.add_argument("-c", "--critical", type=_threshold, action="append", default=[],
                       metavar="METRIC=RANGE", help="critical range for a metric; repeatable")
    if group.baseline:  # the threats check
        _threat_options(parser)
    files = parser.add_argument_group("files")
    files.add_argument("--state-dir", metavar="DIR",
                       help="where the per-tenant store and remembered windows live, owned "
                            "by this user and writable by nobody else (default %s if this "
                            "user may write it, else $XDG_STATE_HOME or ~/.local/state/%s)"
                            % (statedir.SYSTEM_DIR, statedir.APP_NAME))
    details = parser.add_argument_group("detailed diagnosis")
    details.add_argument("--detailed-diagnosis", choices=("on", "off"), default="on",
                         help="write {dd-dir}/{tenant}/{check}.json and .html after each "
                              "complete window (default %(default)s)")
    details.add_argument("--successful-signin-dd", choices=("yes", "no"), default="no",
                         help="include the rows of success measures (successful sign-ins, "
                              "success entities); they can be large (default %(default)s)")
    details.add_argument("--dd-limit", type=int_upto(1000000), default=100, metavar="N",
                         help="rows per table (default %(default)s); each table says how "
                              "many rows it had in all")
    details.add_argument("--dd-dir", metavar="DIR",
                         help="where the files are written (default STATE_DIR/dd)")
    details.add_argument("--dd-url", type=web_url, metavar="URL",
                         help="base URL under which the web server serves --dd-dir; the "
                              "long output then links URL/{tenant}/{check}.html "
                              "(default: the file's path)")
    details.add_argument("--details", action="store_true",
                         help="print the tables as text after the plugin output (for a "
                              "person at a terminal, not for Icinga)")
    run = parser.add_argument_group("run")
    run.add_argument("-t", "--timeout", type=int_upto(86400), default=DEFAULT_TIMEOUT,
                     metavar="SECONDS",
                     help="give up after this long (default %(default)s, at most 86400)")
    run.add_argument("-v", "--verbose", action="count", default=0,
                     help="-v long output, -vvv debug with tracebacks")
    run.add_argument("-V", "--version", action="version", version="%(prog)s " + __version__)
    return parser


def _threat_options(parser):
    defaults = threats.Settings()
    own = parser.add_argument_group("threats")
    own.add_argument("--spray-users", type=int_upto(1000000), default=defaults.spray_users,
                     metavar="N",
                     help="spray_ips counts an IP whose failed sign-ins with a credential "
                          "error name N or more distinct users (default %(default)s)")
    own.add_argument("--baseline-days", type=int_upto(30), default=defaults.baseline_days,
                     metavar="N",
                     help="the unusual_* measures compare with the same time of day on the "
                          "last N days; the store keeps hourly counts that long (default "
                          "%(default)s, at most 30)")
    own.add_argument("--baseline-min", type=int_upto(1000000), default=defaults.baseline_min,
                     metavar="N",
                     help="an entity is unusual only with N or more sign-ins in the window "
                          "(default %(default)s)")
    own.add_argument("--baseline-factor", type=number_between(1, 1000),
                     default=defaults.baseline_factor, metavar="F",
                     help="... and more than F times its mean count at that time of day "
                          "(default %(default)g)")


def _threat_settings(group, args):
    if not group.baseline:
        return None  # not the threats check: it has no such options
    return threats.Settings(args.spray_users, args.baseline_days, args.baseline_min,
                            args.baseline_factor)


def _check_args(args):
    """Defaults that depend on other options, and combinations that make no sense."""
    if args.window is not None and not args.window:
        raise UsageError("--window must be longer than 0")
    source = sources.chosen(args)
    args.source = source.NAME  # one remembered window whether --source is given or implied
    source.check_args(args)
    args.window = args.window or DEFAULT_WINDOW
    if args.delay is None:
        args.delay = source.DEFAULT_DELAY or timedelta(0)
    args.state_dir = args.state_dir or DEFAULT_STATE_DIR or statedir.default_dir()
    if args.max_catchup is None:
        args.max_catchup = 3 * args.window
    elif args.max_catchup < args.window:
        raise UsageError("--max-catchup must be at least --window")
    return source


def _contexts(group, args):
    labels = group.labels()
    limits = {label: {"warning": None, "critical": None} for label in labels}
    for kind in ("warning", "critical"):
        for metric, limit in getattr(args, kind):
            if metric not in labels:
                owner = measures.group_of(metric)
                if owner:
                    raise UsageError("metric %s belongs to %s, not %s"
                                     % (metric, owner.script, group.script))
                raise UsageError("unknown metric %r; %s has: %s"
                                 % (metric, group.script, ", ".join(labels)))
            if limits[metric][kind] is not None:
                raise UsageError("metric %s is given twice in --%s" % (metric, kind))
            limits[metric][kind] = limit
    return [Threshold(label, **limits[label]) for label in labels]


def _window_key(args):
    """What makes two services of one tenant different checks: every option that changes
    what they report (no secret goes in; the key is a hash anyway)."""
    return lastwindow.key({name: value for name, value in sorted(vars(args).items())
                           if name not in NOT_IN_WINDOW_KEY})


def _terminal_progress(text):
    # Only for an operator at a terminal (e.g. a long backfill); Icinga never sees it.
    sys.stderr.write("\r" + text + " " * 8)
    sys.stderr.flush()


def _collect(group, source, args, deadline, tuned):
    collector.check_window(args.start, args.end)
    run = collector.Run(check_key=(group.script, _window_key(args)), deadline=deadline,
                        progress=_terminal_progress if sys.stderr.isatty() else None,
                        baseline_days=tuned.baseline_days if tuned else None)
    try:
        return source.collect(args, run)
    finally:
        if run.progress:
            sys.stderr.write("\n")


def _refuse(group, message):
    """Report a problem found before the check could run: one UNKNOWN result."""
    check = nagiosplugin.Check(nagiosplugin.Results(nagiosplugin.Result(
        nagiosplugin.Unknown, redact.message(message))), GroupSummary(group, 0))
    check.name = group.title  # nagiosplugin 1.3.2 (Debian 12) has no ``name`` argument
    check.main(verbose=0)


@nagiosplugin.guarded(verbose=0)
def main(group_name, argv=None):
    started = time.time()
    group = measures.GROUPS[group_name]
    parser = build_parser(group)
    try:
        args = parser.parse_args(argv)
        source = _check_args(args)
        contexts = _contexts(group, args)
    except UsageError as exc:
        return _refuse(group, "%s (see %s --help)" % (exc, group.script))
    deadline = started + args.timeout - RESERVE_SECONDS
    settings = dd.Settings.from_args(group, args)
    if settings.enabled:
        try:
            if not args.dd_dir:  # the DD lives in the state directory: check that first
                statedir.ensure_dir(args.state_dir, follow=True)
            dd.check_directories(settings)
        except statedir.Unsafe as exc:
            return _refuse(group, str(exc))
        except nagiosplugin.CheckError:
            pass  # e.g. not creatable: the run goes on and its output says the DD is stale
    tuned = _threat_settings(group, args)
    resource = Measures(group, lambda: _collect(group, source, args, deadline, tuned),
                        args.attempts, detail=settings.detail(), debug=args.verbose >= 3,
                        threats=tuned)
    check = SigninCheck(resource, contexts, GroupSummary(group, args.attempts, resource),
                        group.title, settings)
    try:
        # nagiosplugin's own alarm is the last resort; the collector keeps its own deadline.
        check.main(verbose=args.verbose, timeout=args.timeout + 5)
    finally:
        if resource.collection is not None:
            resource.collection.close()
        if args.details and check.dd_document is not None:
            dd.print_details(settings, check.dd_document, check.dd_error)


def run_group(argv=None):
    """``python -m check_entra_noninteractive GROUP [options]``."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] not in measures.GROUPS:
        names = ", ".join(measures.GROUPS)
        if argv and argv[0] in ("-h", "--help"):
            print("usage: python -m check_entra_noninteractive GROUP [options]\n"
                  "groups: %s\nGROUP --help shows the options." % names)
            sys.exit(0)
        print("ENTRA UNKNOWN - first argument must be a check group: %s" % names)
        sys.exit(3)
    main(argv[0], argv[1:])


def _entry(group_name):
    def entry():
        main(group_name, sys.argv[1:])
    entry.__name__ = group_name.replace("-", "_")
    return entry


signins = _entry("signins")
success_entities = _entry("success-entities")
failure_entities = _entry("failure-entities")
auth_methods = _entry("auth-methods")
conditional_access = _entry("conditional-access")
threats_check = _entry("threats")

