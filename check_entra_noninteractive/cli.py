"""Command line: one option set for all five checks, and their entry points."""

import argparse
import re
import sys
import time

import nagiosplugin

from . import __version__, collector, dd, measures, network, redact, timeutil
from .checks import GroupSummary, Measures, SigninCheck, Threshold

EVENT_TYPES = ("nonInteractiveUser", "servicePrincipal", "managedIdentity", "interactiveUser")
DEFAULT_STATE_DIR = "/var/tmp/check_entra_noninteractive"
DEFAULT_TIMEOUT = 50
# Time kept back from -t for computing the measures, writing the DD and printing.
RESERVE_SECONDS = 5
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.-]{0,252}$")


class UsageError(Exception):
    """A bad command line; becomes UNKNOWN with the message."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise UsageError(message)


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError("must be a whole number, not %r" % text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be 1 or more, not %d" % value)
    return value


def _timestamp(text):
    try:
        return timeutil.parse_time(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            "%r is not an ISO 8601 UTC time such as 2026-11-20T08:30:00Z" % text[:40])


def _duration(text):
    try:
        value = timeutil.parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc))
    return value


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
    if not _NAME.match(text):
        raise argparse.ArgumentTypeError(
            "%r is not a tenant/client ID (a GUID or a domain name)" % text[:60])
    return text


def _threshold(text):
    metric, sep, spec = text.partition("=")
    if not sep or not metric.strip() or not spec.strip():
        raise argparse.ArgumentTypeError("%r is not METRIC=RANGE (e.g. failed_pct=10)" % text)
    try:
        limit = nagiosplugin.Range(spec.strip())
    except ValueError as exc:
        raise argparse.ArgumentTypeError(
            "%r is not a Nagios range (10, 10:, ~:10, 10:20, @10:20): %s" % (spec, exc))
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
    proxy.add_argument("--proxy-port", type=_positive_int, default=8080, metavar="PORT",
                       help="default %(default)s")
    proxy.add_argument("--proxy-user", metavar="USER")
    proxy.add_argument("--proxy-password-file", metavar="PATH",
                       help="file holding the proxy password (else ENTRA_PROXY_PASSWORD)")
    source = parser.add_argument_group("source and window")
    source.add_argument("--input", metavar="PATH",
                        help="read an exported sign-in log (Graph JSON, JSON Lines, or the "
                             "portal's JSON/CSV download) instead of Microsoft Graph")
    source.add_argument("--window", type=_duration, default="5m", metavar="DURATION",
                        help="length of the reported window (default 5m; set it to the "
                             "service's check interval)")
    source.add_argument("--delay", type=_duration, default="10m", metavar="DURATION",
                        help="the window ends this long before now, rounded down to the "
                             "minute: Entra's logs arrive late (default 10m)")
    source.add_argument("--start", type=_timestamp, metavar="TIME",
                        help="window start, ISO 8601 UTC (e.g. 2026-11-20T08:30:00Z)")
    source.add_argument("--end", type=_timestamp, metavar="TIME",
                        help="window end (exclusive), ISO 8601 UTC")
    source.add_argument("--event-type", action="append", choices=EVENT_TYPES,
                        dest="event_types", metavar="TYPE",
                        help="sign-in event type to count; repeatable (default "
                             "nonInteractiveUser; also %s)" % ", ".join(EVENT_TYPES[1:]))
    source.add_argument("--retention", type=_duration, default="2d", metavar="DURATION",
                        help="keep fetched sign-ins this long in the store (default 2d)")
    judge = parser.add_argument_group("measures and thresholds")
    judge.add_argument("--attempts", type=_positive_int, default=5, metavar="N",
                       help="an entity counts when N or more of its consecutive attempts "
                            "succeeded/failed (default 5; 1 = plain distinct count)")
    judge.add_argument("-w", "--warning", type=_threshold, action="append", default=[],
                       metavar="METRIC=RANGE", help="warning range for a metric; repeatable")
    judge.add_argument("-c", "--critical", type=_threshold, action="append", default=[],
                       metavar="METRIC=RANGE", help="critical range for a metric; repeatable")
    files = parser.add_argument_group("files")
    files.add_argument("--state-dir", default=DEFAULT_STATE_DIR, metavar="DIR",
                       help="where the per-tenant store lives (default %(default)s)")
    details = parser.add_argument_group("detailed diagnosis")
    details.add_argument("--detailed-diagnosis", choices=("on", "off"), default="on",
                         help="write {dd-dir}/{tenant}/{check}.json and .html after each "
                              "complete window (default %(default)s)")
    details.add_argument("--successful-signin-dd", choices=("yes", "no"), default="no",
                         help="include the rows of success measures (successful sign-ins, "
                              "success entities); they can be large (default %(default)s)")
    details.add_argument("--dd-limit", type=_positive_int, default=100, metavar="N",
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
    run.add_argument("-t", "--timeout", type=_positive_int, default=DEFAULT_TIMEOUT,
                     metavar="SECONDS", help="give up after this long (default %(default)s)")
    run.add_argument("-v", "--verbose", action="count", default=0,
                     help="-v long output, -vvv debug with tracebacks")
    run.add_argument("-V", "--version", action="version", version="%(prog)s " + __version__)
    return parser


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
            limits[metric][kind] = limit
    return [Threshold(label, **limits[label]) for label in labels]


def _graph_options(args, deadline):
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
        start=args.start, end=args.end,
        event_types=tuple(args.event_types or ("nonInteractiveUser",)), deadline=deadline,
        progress=_terminal_progress if sys.stderr.isatty() else None)


def _terminal_progress(text):
    # Only for an operator at a terminal (e.g. a long backfill); Icinga never sees it.
    sys.stderr.write("\r" + text + " " * 8)
    sys.stderr.flush()


def _collect(args, deadline):
    collector.check_window(args.start, args.end)
    if args.input:
        return collector.collect_file(args.input, args.start, args.end,
                                      args.event_types or ("nonInteractiveUser",))
    options = _graph_options(args, deadline)
    try:
        return collector.collect_graph(options)
    finally:
        if options.progress:
            sys.stderr.write("\n")


def _refuse(group, message):
    """Report a problem found before the check could run, the nagiosplugin way."""

    class Refusal(nagiosplugin.Resource):
        def probe(self):
            raise nagiosplugin.CheckError(redact.one_line(message))

    SigninCheck(Refusal(), GroupSummary(group, 0), name=group.title).main(verbose=0)


@nagiosplugin.guarded(verbose=0)
def main(group_name, argv=None):
    started = time.time()
    group = measures.GROUPS[group_name]
    parser = build_parser(group)
    try:
        args = parser.parse_args(argv)
        contexts = _contexts(group, args)
    except UsageError as exc:
        return _refuse(group, "%s (see %s --help)" % (exc, group.script))
    deadline = started + args.timeout - RESERVE_SECONDS
    resource = Measures(group, lambda: _collect(args, deadline), args.attempts,
                        debug=args.verbose >= 3)
    settings = dd.Settings.from_args(group, args)
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

