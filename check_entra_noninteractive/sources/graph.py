"""Microsoft Graph (beta) ``auditLogs/signIns``: one page per call, with pacing, retries and
errors that say what to do.

Pages are asked for newest first (``$orderby=createdDateTime desc``): after each page,
everything newer than its oldest sign-in is complete, which is what lets the collector
keep partial progress (fetch.py checks the order before relying on it).
"""

from datetime import timedelta
from urllib.parse import urlencode, urlsplit

from nagiosplugin import CheckError

from .. import collector, normalize, options, timeutil
from . import entra, rest

NAME = "graph"
# Entra's sign-ins reach Graph minutes late (P95 about 2 min, P99 about 5 min).
DEFAULT_DELAY = timedelta(minutes=10)

PAGE_SIZE = 1000
SIGNINS_PATH = "/beta/auditLogs/signIns"
SCOPE_SUFFIX = "/.default"

LICENCE_HELP = ("Microsoft Graph says the tenant has no Entra ID P1/P2 licence "
                "(Authentication_RequestFromNonPremiumTenantOrB2CTenant); sign-in logs need "
                "P1 or P2. Microsoft also returns this now and then on licensed tenants: if "
                "the tenant is licensed, the next run usually succeeds")
PERMISSION_HELP = ("Microsoft Graph denied access (Authorization_RequestDenied): grant the "
                   "app AuditLog.Read.All and Directory.Read.All as application permissions "
                   "and give admin consent")


def add_options(parser):
    group = parser.add_argument_group("Microsoft Graph source (--source graph, the default)")
    group.add_argument("--graph-url", type=options.https_url, metavar="URL",
                       help="override the Graph host, e.g. https://graph.microsoft.us")


def check_args(args):
    """Nothing beyond the shared options."""


def collect(args, run):
    connection = entra.connect(args, "Microsoft Graph")
    graph = GraphCollector(connection, args.graph_url or connection.cloud.graph, run)
    return collector.collect_online(collector.OnlineOptions.from_args(args, run), graph)


class GraphCollector(collector.OnlineSource):
    """Fills a tenant's Graph store: several page chains at once (fetch.Fetcher), paced
    under the budget that every check of the tenant shares."""

    store_name = "graph.sqlite"
    keeps = timedelta(days=30)
    keeps_text = "Microsoft Graph keeps sign-ins for 30 days (7 without Entra ID P1/P2)"

    def __init__(self, connection, graph_url, run, workers=4):
        super().__init__(connection)
        self.graph_url = graph_url
        self.run = run
        self.workers = workers
        self.description = "Microsoft Graph, tenant %s" % connection.tenant

    def fill(self, store, window, delay, keys):
        from ..fetch import Fetcher
        from ..pacing import Pacer

        connection = self.connection
        source = GraphSource(self.graph_url, connection.tokens, connection.http,
                             connection.session, Pacer(store, connection.client_id),
                             self.run.deadline)
        Fetcher(store, source, window.event_types, self.workers, self.run.progress).run(
            store.gaps(window, delay, keys))


def signins_filter(start, end, event_types):
    kinds = " or ".join("t eq '%s'" % t for t in event_types)
    return ("createdDateTime ge %s and createdDateTime lt %s and signInEventTypes/any(t: %s)"
            % (timeutil.exact(start), timeutil.exact(end), kinds))


class GraphSource:
    """Pages of normalized sign-ins from one tenant's Graph endpoint."""

    page_size = PAGE_SIZE  # the split plans in whole pages (fetch.Fetcher)

    def __init__(self, graph_url, tokens, http, session, pacer, deadline, max_attempts=6):
        self.graph_url = graph_url.rstrip("/")
        self.host = urlsplit(self.graph_url).hostname or self.graph_url
        self.tokens = tokens          # auth.TokenProvider
        self.http = http              # network.HttpSettings
        self.session = session
        self.pacer = pacer
        self.deadline = deadline      # time.time() value
        self.max_attempts = max_attempts

    @property
    def scope(self):
        return self.graph_url + SCOPE_SUFFIX

    def first_url(self, start, end, event_types):
        query = urlencode({"$filter": signins_filter(start, end, event_types),
                           "$orderby": "createdDateTime desc",
                           "$top": str(PAGE_SIZE)}, safe="$/:',()")
        return "%s%s?%s" % (self.graph_url, SIGNINS_PATH, query)

    def page(self, url):
        """(rows, next_url) for one page, retrying what is transient until the deadline."""
        records, next_url = rest.with_retries(lambda: self._get(url), "Microsoft Graph",
                                              self.pacer, self.deadline, self.max_attempts)
        try:
            return [normalize.from_graph(r) for r in records], next_url
        except ValueError as exc:
            raise CheckError("Microsoft Graph sent a sign-in this check cannot read: %s" % exc)

    def _get(self, url):
        self.pacer.acquire(self.deadline)
        token = self.tokens.token(self.scope)
        headers = {"Authorization": "Bearer " + token,
                   "Prefer": "include-unknown-enum-members", "Accept": "application/json"}
        response = rest.send(self.session, "GET", url, self.host, self.http, self.deadline,
                             headers)
        status, body = response.status_code, response.content
        if status == 200:
            page = rest.json_body(response, "Microsoft Graph")
            if not isinstance(page, dict) or not isinstance(page.get("value"), list):
                raise CheckError("Microsoft Graph answered without a 'value' list: is "
                                 "--graph-url right?")
            return page["value"], page.get("@odata.nextLink")
        code, message = rest.error_of(body)
        transient = rest.transient_status(response, code)
        if transient:
            raise transient
        if status == 401:
            if self.tokens.refused(token):
                raise rest.Transient("Microsoft Graph refused the token (401); asking for a "
                                     "new one", retry_after=0)
            raise CheckError("Microsoft Graph refused the token (401 %s): %s" % (
                code or "Unauthorized", message or "check --tenant-id and the app registration"))
        if status == 403 and code == "Authentication_RequestFromNonPremiumTenantOrB2CTenant":
            raise CheckError(LICENCE_HELP)
        if status == 403 and code == "Authorization_RequestDenied":
            raise CheckError(PERMISSION_HELP)
        raise CheckError("Microsoft Graph answered HTTP %d %s: %s" % (
            status, code or "", (message or "")[:200]))
