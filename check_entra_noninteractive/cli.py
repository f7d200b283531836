"""Command line: one option set for all five checks, and their entry points."""

import argparse
import re
import sys
import time
from datetime import timedelta

import nagiosplugin

from . import __version__, collector, dd, lastwindow, measures, network, redact, statedir, \
    timeutil
from .checks import GroupSummary, Measures, SigninCheck, Threshold
from .window import DEFAULT_EVENT_TYPES, EVENT_TYPES

# None: statedir.default_dir() (/var/lib/..., else the user's XDG state directory).
DEFAULT_STATE_DIR = None
# Options that do not change what a check reports: they do not key its remembered window.
NOT_IN_WINDOW_KEY = ("client_secret", "client_secret_file", "client_certificate",
                     "client_pfx", "client_pfx_password_file", "proxy_password_file",
                     "timeout", "verbose", "details", "detailed_diagnosis",
                     "successful_signin_dd", "dd_limit", "dd_dir", "dd_url")
DEFAULT_TIMEOUT = 50
# Time kept back from -t for computing the measures, writing the DD and printing.
RESERVE_SECONDS = 5
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9.-]{0,252}")  # a full match (re.fullmatch)
_NUMBER = r"[+-]?[0-9]{1,20}(?:\.[0-9]{1,20})?"
# What nagiosplugin.Range reads, checked first so that no Python message reaches the user.
_RANGE = re.compile(r"@?(?:(?:~|%s)?:)?(?:%s)?" % (_NUMBER, _NUMBER))
DEFAULT_WINDOW = timedelta(minutes=5)


class UsageError(Exception):
    """A bad command line; becomes UNKNOWN with the message."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise UsageError(message)


def _shorten(text, size=40):
    text = str(text).strip()
    return text if len(text) <= size else text[:size] + "..."


def _int_upto(maximum):
    """An argparse type: a whole number from 1 to ``maximum``."""
    def check(text):
        try:
            value = int(text)
        except ValueError:
            if re.fullmatch(r"\s*[+-]?[0-9]+\s*", text):  # too many digits for int()
                value = 0 if text.strip().startswith("-") else maximum + 1
            else:
                raise argparse.ArgumentTypeError("must be a whole number, not %r"
                                                 % _shorten(text))
        if value < 1:
            raise argparse.ArgumentTypeError("must be 1 or more, not %s" % _shorten(text))
        if value > maximum:
            raise argparse.ArgumentTypeError("must be at most %d, not %s"
                                             % (maximum, _shorten(text)))
        return value
    return check


def _duration_upto(maximum):
    """An argparse type: a duration (300s, 5m, 2h, 3d) of at most ``maximum`` (same form)."""
    most = timeutil.duration_seconds(maximum)

    def check(text):
        try:
            seconds = timeutil.duration_seconds(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc))
        if seconds > most:
            raise argparse.ArgumentTypeError("must be at most %s, not %s"
                                             % (maximum, _shorten(text)))
        return timedelta(seconds=seconds)
    return check


def _timestamp(text):
    try:
        return timeutil.parse_time(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            "%r is not an ISO 8601 UTC time such as 2026-11-20T08:30:00Z" % text[:40])


def _url(pattern, wanted):
    """An argparse type: a URL matching ``pattern``, trailing slash removed."""
    def check(text):
        if not re.match(pattern, text):
            raise argparse.ArgumentTypeError("%r must be an %s URL" % (text[:80], wanted))
        return text.rstrip("/")
    return check


_https_url = _url(r"^https://[^/\s]+", "https://")
# Icinga Web may serve the DD pages over plain http on an internal network.
_web_url = _url(r"^https?://[^/\s]+\S*$", "http:// or https://")


def _name(text):
    if not _NAME.fullmatch(text):
        raise argparse.ArgumentTypeError(
            "%r is not a tenant/client ID (a GUID or a domain name)" % text[:60])
    return text


def _threshold(text):
    metric, sep, spec = text.partition("=")
    if not sep or not metric.strip() or not spec.strip():
        raise argparse.ArgumentTypeError("%r is not METRIC=RANGE (e.g. failed_pct=10)" % text)
    spec = spec.strip()
    wrong = "%r is not a Nagios range (10, 10:, ~:10, 10:20, @10:20)" % _shorten(spec)
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
    tenant = parser.add_argument_group("tenant and credentials (Microsoft Graph)")
    tenant.add_argument("--tenant-id", type=_name, metavar="ID",
                        help="directory (tenant) ID or verified domain")
    tenant.add_argument("--client-id", type=_name, metavar="ID",
                        help="application (client) ID of the app registration")
    tenant.add_argument("--client-secret-file", metavar="PATH",
                        help="file holding the client secret (else ENTRA_CLIENT_SECRET)")
    tenant.add_argument("--client-secret", metavar="SECRET",
                        help="the client secret itself: visible in the process list, "
                             "prefer ENTRA_CLIENT_SECRET or --client-secret-file")
    tenant.add_argument("--client-certificate", metavar="PEM",
                        help="PEM file with the private key and certificate")
    tenant.add_argument("--client-pfx", metavar="PFX",
                        help="PFX/PKCS#12 file; password from ENTRA_PFX_PASSWORD or "
                             "--client-pfx-password-file")
    tenant.add_argument("--client-pfx-password-file", metavar="PATH")
    tenant.add_argument("--cloud", choices=sorted(network.CLOUDS), default="global",
                        help="national cloud (default %(default)s)")
    tenant.add_argument("--authority-host", type=_https_url, metavar="URL",
                        help="override the login host, e.g. https://login.microsoftonline.us")
    tenant.add_argument("--graph-url", type=_https_url, metavar="URL",
                        help="override the Graph host, e.g. https://graph.microsoft.us")
    proxy = parser.add_argument_group("proxy (token and Graph requests)")
    proxy.add_argument("--proxy-host", metavar="HOST")
    proxy.add_argument("--proxy-port", type=_int_upto(65535), default=8080, metavar="PORT",
                       help="default %(default)s")
    proxy.add_argument("--proxy-user", metavar="USER")
    proxy.add_argument("--proxy-password-file", metavar="PATH",
                       help="file holding the proxy password (else ENTRA_PROXY_PASSWORD)")
    source = parser.add_argument_group("source and window")
    source.add_argument("--input", metavar="PATH",
                        help="read an exported sign-in log (Graph JSON, JSON Lines, or the "
                             "portal's JSON/CSV download) instead of Microsoft Graph")
    source.add_argument("--window", type=_duration_upto("31d"), metavar="DURATION",
                        help="length of the reported window, at most 31d (default 5m; set "
                             "it to the service's check interval; not with --input)")
    source.add_argument("--delay", type=_duration_upto("1d"), default="10m",
                        metavar="DURATION",
                        help="the window ends this long before now, rounded down to the "
                             "minute: Entra's logs arrive late (default 10m, at most 1d)")
    source.add_argument("--start", type=_timestamp, metavar="TIME",
                        help="window start, ISO 8601 UTC (e.g. 2026-11-20T08:30:00Z)")
    source.add_argument("--end", type=_timestamp, metavar="TIME",
                        help="window end (exclusive), ISO 8601 UTC")
    source.add_argument("--max-catchup", type=_duration_upto("31d"), metavar="DURATION",
                        help="a live run after an outage reports everything since the last "
                             "reported window, up to this long (at most 31d); an older gap "
                             "is skipped and named (default 3 x --window)")
    source.add_argument("--event-type", action="append", choices=EVENT_TYPES,
                        dest="event_types", metavar="TYPE",
                        help="sign-in event type to count; repeatable (default "
                             "nonInteractiveUser; also %s)" % ", ".join(EVENT_TYPES[1:]))
    source.add_argument("--retention", type=_duration_upto("400d"), default="2d",
                        metavar="DURATION",
                        help="keep fetched sign-ins this long in the store (default 2d, at "
                             "most 400d)")
    judge = parser.add_argument_group("measures and thresholds")
    judge.add_argument("--attempts", type=_int_upto(1000000), default=5, metavar="N",
                       help="an entity counts when N or more of its consecutive attempts "
                            "succeeded/failed (default 5; 1 = plain distinct count)")
    judge.add_argument("-w", "--warning", type=_threshold, action="append", default=[],
                       metavar="METRIC=RANGE", help="warning range for a metric; repeatable")
    judge.add_argument("-c", "--critical", type=_threshold, action="append", default=[],
                       metavar="METRIC=RANGE", help="critical range for a metric; repeatable")
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
    details.add_argument("--dd-limit", type=_int_upto(1000000), default=100, metavar="N",
                         help="rows per table (default %(default)s); each table says how "
                              "many rows it had in all")
    details.add_argument("--dd-dir", metavar="DIR",
                         help="where the files are written (default STATE_DIR/dd)")
    details.add_argument("--dd-url", type=_web_url, metavar="URL",
                         help="base URL under which the web server serves --dd-dir; the "
                              "long output then links URL/{tenant}/{check}.html "
                              "(default: the file's path)")
    details.add_argument("--details", action="store_true",
                         help="print the tables as text after the plugin output (for a "
                              "person at a terminal, not for Icinga)")
    run = parser.add_argument_group("run")
    run.add_argument("-t", "--timeout", type=_int_upto(86400), default=DEFAULT_TIMEOUT,
                     metavar="SECONDS",
                     help="give up after this long (default %(default)s, at most 86400)")
    run.add_argument("-v", "--verbose", action="count", default=0,
                     help="-v long output, -vvv debug with tracebacks")
    run.add_argument("-V", "--version", action="version", version="%(prog)s " + __version__)
    return parser


def _check_args(args):
    """Defaults that depend on other options, and combinations that make no sense."""
    if args.window is None:
        args.window = DEFAULT_WINDOW
    elif not args.window:
        raise UsageError("--window must be longer than 0")
    elif args.input:
        raise UsageError("--window does not apply to --input: it reports the whole file, "
                         "or --start/--end")
    args.state_dir = args.state_dir or DEFAULT_STATE_DIR or statedir.default_dir()
    if args.max_catchup is None:
        args.max_catchup = 3 * args.window
    elif args.max_catchup < args.window:
        raise UsageError("--max-catchup must be at least --window")


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


def _graph_options(group, args, deadline):
    from .auth import Credential, secret_from

    if not args.tenant_id or not args.client_id:
        raise nagiosplugin.CheckError(
            "no source: give --tenant-id and --client-id (with ENTRA_CLIENT_SECRET) to read "
            "Microsoft Graph, or --input PATH to read an exported sign-in log")
    secret = args.client_secret or secret_from(args.client_secret_file, "ENTRA_CLIENT_SECRET",
                                               "client secret")
    pfx_password = secret_from(args.client_pfx_password_file, "ENTRA_PFX_PASSWORD",
                               "PFX password")
    proxy_password = secret_from(args.proxy_password_file, "ENTRA_PROXY_PASSWORD",
                                 "proxy password")
    authority_default, graph_default = network.CLOUDS[args.cloud]
    authority = args.authority_host or authority_default
    known = authority in {a for a, _ in network.CLOUDS.values()}
    return collector.GraphOptions(
        tenant=args.tenant_id, client_id=args.client_id,
        credential=Credential(secret, args.client_certificate, args.client_pfx, pfx_password),
        state_dir=args.state_dir, authority_host=authority,
        graph_url=args.graph_url or graph_default,
        http=network.HttpSettings(
            proxy_url=network.proxy_url(args.proxy_host, args.proxy_port, args.proxy_user,
                                        proxy_password),
            timeout=min(30.0, float(args.timeout)), known_authority=known),
        window=args.window, delay=args.delay, retention=args.retention,
        max_catchup=args.max_catchup, start=args.start, end=args.end,
        event_types=tuple(args.event_types or DEFAULT_EVENT_TYPES), deadline=deadline,
        progress=_terminal_progress if sys.stderr.isatty() else None,
        check_key=(group.script, _window_key(args)))


def _window_key(args):
    """What makes two services of one tenant different checks: every option that changes
    what they report (no secret goes in; the key is a hash anyway)."""
    return lastwindow.key({name: value for name, value in sorted(vars(args).items())
                           if name not in NOT_IN_WINDOW_KEY})


def _terminal_progress(text):
    # Only for an operator at a terminal (e.g. a long backfill); Icinga never sees it.
    sys.stderr.write("\r" + text + " " * 8)
    sys.stderr.flush()


def _collect(group, args, deadline):
    collector.check_window(args.start, args.end)
    if args.input:
        return collector.collect_file(args.input, args.start, args.end,
                                      args.event_types or DEFAULT_EVENT_TYPES)
    options = _graph_options(group, args, deadline)
    try:
        return collector.collect_graph(options)
    finally:
        if options.progress:
            sys.stderr.write("\n")


def _refuse(group, message):
    """Report a problem found before the check could run, the nagiosplugin way."""

    class Refusal(nagiosplugin.Resource):
        def probe(self):
            raise nagiosplugin.CheckError(redact.message(message))

    SigninCheck(Refusal(), GroupSummary(group, 0), name=group.title).main(verbose=0)


@nagiosplugin.guarded(verbose=0)
def main(group_name, argv=None):
    started = time.time()
    group = measures.GROUPS[group_name]
    parser = build_parser(group)
    try:
        args = parser.parse_args(argv)
        _check_args(args)
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
    resource = Measures(group, lambda: _collect(group, args, deadline), args.attempts,
                        debug=args.verbose >= 3)
    check = SigninCheck(resource, *contexts, GroupSummary(group, args.attempts),
                        name=group.title, dd=settings)
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

