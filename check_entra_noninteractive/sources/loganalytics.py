"""Log Analytics workspaces: the sign-in tables that Microsoft Entra's diagnostic settings
send there, read with KQL through the query API (``POST {api}/v1/workspaces/{id}/query``).

Which workspaces: ``--workspace-id`` names them, else ``workspaces.find`` looks them up
through Azure Resource Manager (cached). Each workspace's coverage is kept on its own
(key ``EVENTTYPE@customerId``), so a window is complete only when every workspace has
answered for it; a sign-in held by two workspaces is stored once, by its Id.
"""

import json
import time
from datetime import timedelta
from urllib.parse import urlsplit

from nagiosplugin import CheckError

from .. import collector, normalize_loganalytics, options, pacing, timeutil
from . import entra, rest, workspaces

NAME = "loganalytics"
# Entra's sign-ins reach Log Analytics later than Graph: Entra's own latency (up to about
# 5 min) plus Azure Monitor's ingestion (typically 20 s to 3 min, more under load).
DEFAULT_DELAY = timedelta(minutes=15)

# --event-type -> the table that Entra's diagnostic settings fill with it.
TABLES = {
    "nonInteractiveUser": "AADNonInteractiveUserSignInLogs",
    "servicePrincipal": "AADServicePrincipalSignInLogs",
    "managedIdentity": "AADManagedIdentitySignInLogs",
    "interactiveUser": "SigninLogs",
}

# The columns each table's query projects: just what normalize_loganalytics reads.
# Columns that hold JSON (a string in some tables, dynamic in others) are made strings,
# so that a union of tables has one column of each name.
_AS_TEXT = ("ResultType", "Status", "LocationDetails", "ConditionalAccessPolicies",
            "RiskEventTypes_V2")
_COMMON = ("Id", "TimeGenerated", "Type", "ResultType", "ResultDescription", "IPAddress",
           "LocationDetails", "AppId", "ResourceDisplayName", "ResourceIdentity",
           "ServicePrincipalId", "ConditionalAccessStatus", "ConditionalAccessPolicies",
           "ClientCredentialType")
_USER = ("Status", "AppDisplayName", "UserPrincipalName", "UserId", "UserDisplayName",
         "ClientAppUsed", "AuthenticationRequirement", "RiskLevelDuringSignIn", "RiskState",
         "RiskEventTypes_V2", "AuthenticationProtocol", "IncomingTokenType", "UserAgent")
_WORKLOAD = ("ServicePrincipalName", "UserAgent")
COLUMNS = {
    "AADNonInteractiveUserSignInLogs": _COMMON + _USER,
    "SigninLogs": _COMMON + _USER + ("ServicePrincipalName",),
    "AADServicePrincipalSignInLogs": _COMMON + _WORKLOAD,
    "AADManagedIdentitySignInLogs": _COMMON + _WORKLOAD,
}

QUERY_PATH = "/v1/workspaces/%s/query"
SCOPE_SUFFIX = "/.default"
# Log Analytics runs at most 5 queries of one user at a time and admits 200 requests per
# 30 s; its answers stop at 500,000 rows or about 64 MB.
WORKERS = 5
REQUEST_LIMIT, REQUEST_PERIOD = 200, 30.0
SERVER_WAIT = 600  # seconds the service may work on one query (Prefer: wait=N, at most 10 min)

PERMISSION_HELP = ("grant the app the Log Analytics Reader role on the workspace, or the "
                   "API permission Data.Read (Log Analytics API) with admin consent")


def add_options(parser):
    group = parser.add_argument_group("Log Analytics source (--source loganalytics)")
    group.add_argument("--workspace", metavar="NAMES", default=workspaces.ALL,
                       help="comma-separated workspace names (any case), or All: every "
                            "workspace that Entra's diagnostic settings send these sign-in "
                            "logs to (default %(default)s)")
    group.add_argument("--workspace-id", action="append", type=options.guid, metavar="GUID",
                       dest="workspace_ids",
                       help="a workspace's ID (customerId); repeatable; skips the lookup "
                            "through Azure Resource Manager")
    group.add_argument("--management-url", type=options.https_url, metavar="URL",
                       help="override the Azure Resource Manager host, e.g. "
                            "https://management.usgovcloudapi.net")
    group.add_argument("--log-analytics-url", type=options.https_url, metavar="URL",
                       help="override the Log Analytics query host, e.g. "
                            "https://api.loganalytics.us")


def check_args(args):
    names = workspaces.names(args.workspace)
    if not names:
        raise options.UsageError("--workspace needs workspace names or All, not %r"
                                 % options.shorten(args.workspace))
    if args.workspace_ids and names != [workspaces.ALL]:
        raise options.UsageError("give --workspace NAMES or --workspace-id GUID, not both")
    args.workspace = ",".join(names)  # one remembered window however it was spelled


def collect(args, run):
    connection = entra.connect(args, "Log Analytics")
    source = LogAnalyticsCollector(connection, args, run)
    return collector.collect_online(collector.OnlineOptions.from_args(args, run), source)


def query_text(start, end, event_types):
    """KQL for the sign-ins of ``event_types`` with start <= TimeGenerated < end."""
    bounds = ("| where TimeGenerated >= datetime(%s) and TimeGenerated < datetime(%s)"
              % (timeutil.exact(start), timeutil.exact(end)))
    legs = []
    for event_type in event_types:
        table = TABLES[event_type]
        columns = ", ".join("%s = tostring(%s)" % (c, c) if c in _AS_TEXT else c
                            for c in COLUMNS[table])
        legs.append("(%s\n%s\n| project %s)" % (table, bounds, columns))
    # isfuzzy: a workspace that lacks one of the tables still answers for the others.
    return "union isfuzzy=true\n" + ",\n".join(legs)


def timespan(start, end):
    return "%s/%s" % (timeutil.exact(start), timeutil.exact(end))


class TooLarge(Exception):
    """The answer was cut at Log Analytics' row or size limit: ask for less."""


class NoTables(Exception):
    """The workspace has none of the queried tables: it holds none of these sign-ins."""


class QueryClient:
    """Queries against the Log Analytics API, with pacing, retries and errors that say
    what to do."""

    def __init__(self, api_url, tokens, http, session, pacer, deadline):
        self.api_url = api_url.rstrip("/")
        self.host = urlsplit(self.api_url).hostname or self.api_url
        self.tokens = tokens
        self.http = http
        self.session = session
        self.pacer = pacer
        self.deadline = deadline

    @property
    def scope(self):
        return self.api_url + SCOPE_SUFFIX

    def rows(self, workspace, start, end, event_types):
        """The sign-ins of one workspace and range as normalized rows, or TooLarge /
        NoTables / CheckError."""
        body = {"query": query_text(start, end, event_types), "timespan": timespan(start, end)}
        table = rest.with_retries(lambda: self._post(workspace, body), "Log Analytics",
                                  self.pacer, self.deadline)
        try:
            return _merged(normalize_loganalytics.from_log_analytics(row) for row in table)
        except ValueError as exc:
            raise CheckError("Log Analytics sent a sign-in of workspace %s this check cannot "
                             "read: %s" % (workspace.name, exc))

    def _post(self, workspace, body):
        self.pacer.acquire(self.deadline)
        token = self.tokens.token(self.scope)
        wait_seconds = int(max(1, min(SERVER_WAIT, self.deadline - time.time())))
        headers = {"Authorization": "Bearer " + token, "Accept": "application/json",
                   "Prefer": "wait=%d" % wait_seconds}
        url = self.api_url + QUERY_PATH % workspace.customer_id
        response = rest.send(self.session, "POST", url, self.host, self.http, self.deadline,
                             headers, body)
        status, content = response.status_code, response.content
        if status == 200:
            return _table(rest.json_body(response, "Log Analytics"), workspace)
        if status == 204:  # the workspace has no data at all
            return []
        code, message = rest.error_of(content)
        transient = rest.transient_status(response, code)
        if transient:
            raise transient
        detail = _innermost(content) or message or ""
        if status == 401:
            if self.tokens.refused(token):
                raise rest.Transient("Log Analytics refused the token (401); asking for a new "
                                     "one", retry_after=0)
            raise CheckError("Log Analytics refused the token (401 %s): %s"
                             % (code or "Unauthorized", detail[:200]))
        if status == 403:
            raise CheckError("Log Analytics denied the query on workspace %s (403 %s): %s"
                             % (workspace.name, code or "Forbidden", PERMISSION_HELP))
        if status == 404:
            raise CheckError("Log Analytics does not know workspace %s (404 %s): check "
                             "--workspace-id (the workspace's ID, not its resource ID)"
                             % (workspace.name, code or "NotFound"))
        if status == 400 and "failed to resolve table" in detail.lower():
            raise NoTables(detail)
        raise CheckError("Log Analytics refused the query on workspace %s (HTTP %d %s): %s"
                         % (workspace.name, status, code or "", detail[:300]))


def _table(answer, workspace):
    """The rows of a 200 answer as dicts, or TooLarge / CheckError for a partial one."""
    error = answer.get("error") if isinstance(answer, dict) else None
    if error:
        detail = _innermost(json.dumps({"error": error})) or str(error.get("message", ""))
        if "E_QUERY_RESULT_SET_TOO_LARGE" in detail or "exceeded" in detail.lower():
            raise TooLarge(detail)
        raise CheckError("Log Analytics answered workspace %s only in part (%s: %s); the "
                         "window is not reported" % (workspace.name, error.get("code"),
                                                     detail[:300]))
    try:
        table = answer["tables"][0]
        names = [column["name"] for column in table["columns"]]
        return [dict(zip(names, row)) for row in table["rows"]]
    except (KeyError, IndexError, TypeError):
        raise CheckError("Log Analytics answered without a result table: is "
                         "--log-analytics-url right?")


def _innermost(content):
    """The deepest ``innererror`` message of Microsoft's error body (Log Analytics puts the
    useful words there), or ''."""
    try:
        error = json.loads(content).get("error") or {}
    except (ValueError, AttributeError):
        return ""
    message = error.get("message") or ""
    layers = [error] + [d for d in error.get("details") or [] if isinstance(d, dict)]
    for layer in layers:
        inner = layer.get("innererror")
        while isinstance(inner, dict):
            message = inner.get("message") or message
            inner = inner.get("innererror")
    return str(message)


def _merged(rows):
    """Rows by Id: a sign-in that two of the queried tables hold counts for both types."""
    by_id = {}
    for row in rows:
        seen = by_id.get(row["id"])
        if seen is None:
            by_id[row["id"]] = row
        else:
            seen["event_mask"] |= row["event_mask"]
    return list(by_id.values())


class LogAnalyticsCollector(collector.OnlineSource):
    """Fills a tenant's Log Analytics store: one query per workspace and uncovered range,
    several at once; a range whose answer hits the row limit is halved and asked again."""

    store_name = "loganalytics.sqlite"
    keeps = timedelta(days=30)
    keeps_text = ("a workspace keeps sign-ins for its retention period (30 days unless it "
                  "was changed)")

    def __init__(self, connection, args, run):
        super().__init__(connection)
        self.api_url = args.log_analytics_url or connection.cloud.log_analytics
        self.run = run
        self.finder = workspaces.Finder(
            connection, args.management_url or connection.cloud.management, args.workspace,
            args.workspace_ids, run.deadline, probe=self.has_table)
        self._found = None

    @property
    def description(self):
        names = ", ".join(w.name for w in self._found) if self._found else "?"
        return "Log Analytics workspaces %s, tenant %s" % (names, self.connection.tenant)

    def prepare(self, event_types):
        found = self.finder.find(event_types)
        self._notes.extend(found.notes)
        self._found = found.workspaces
        if found.retention_days:
            self.keeps = timedelta(days=found.retention_days)

    def coverage_by_type(self, window):
        return {t: [_key(t, w) for w in self._found if t in w.event_types]
                for t in window.event_types}

    def has_table(self, workspace, event_type):
        """Whether the workspace has the table of ``event_type`` (for the lookup without
        diagnostic settings): a query of one second answers without a resolve error."""
        start = timeutil.utcnow().replace(microsecond=0) - timedelta(hours=1)
        try:
            self._client(pacing.LocalPacer()).rows(workspace, start,
                                                   start + timedelta(seconds=1), (event_type,))
            return True
        except NoTables:
            return False

    def _client(self, pacer):
        connection = self.connection
        return QueryClient(self.api_url, connection.tokens, connection.http,
                           connection.session, pacer, self.run.deadline)

    def fill(self, store, window, delay, keys):
        client = self._client(pacing.Pacer(
            store, "loganalytics:" + self.connection.client_id, REQUEST_LIMIT, REQUEST_PERIOD))
        tasks = []
        for workspace in self._found:
            parts = [_key(t, workspace) for t in window.event_types if t in workspace.event_types]
            types = [t for t in window.event_types if t in workspace.event_types]
            for start, end in store.gaps(window, delay, parts):
                tasks.append((workspace, start, end, types, parts))
        self._run(store, client, tasks)

    def _run(self, store, client, tasks):
        # Only a fetch needs threads: not imported on every check's start.
        from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait

        done = total = 0
        pending = {}
        order = {}
        with ThreadPoolExecutor(max_workers=WORKERS) as pool:
            def submit(task):
                future = pool.submit(self._one, store, client, *task)
                pending[future] = task
                order[future] = len(order)
            for task in tasks:
                submit(task)
            total = len(tasks)
            try:
                while pending:
                    finished, _ = wait(pending, return_when=FIRST_COMPLETED)
                    for future in finished:
                        task = pending.pop(future)
                        try:
                            future.result()
                            done += 1
                        except TooLarge:
                            halves = _halves(task[1], task[2])
                            if halves is None:
                                raise CheckError(
                                    "Log Analytics cannot answer one second of workspace %s "
                                    "within its result limits; the window is not reported"
                                    % task[0].name)
                            total += 1
                            for start, end in halves:
                                submit((task[0], start, end) + task[3:])
                        except Exception:
                            raise _first_failure(future, pending, order) from None
                        if self.run.progress:
                            self.run.progress("Log Analytics: %d of %d queries" % (done, total))
            except pacing.OutOfTime as stop:
                raise CheckError("%s at the timeout: %d of %d queries answered; the next "
                                 "run continues" % ("still throttled by Log Analytics"
                                                    if stop.throttled else "timeout",
                                                    done, total))
            finally:
                for future in pending:
                    future.cancel()

    def _one(self, store, client, workspace, start, end, types, parts):
        asked = timeutil.utcnow()
        try:
            rows = client.rows(workspace, start, end, types)
        except NoTables:
            rows = []
            note = ("workspace %s has none of the tables %s: it holds none of these "
                    "sign-ins" % (workspace.name, ", ".join(TABLES[t] for t in types)))
            if note not in self._notes:
                self._notes.append(note)
        store.add_page(rows, parts, start, end, asked)


def _key(event_type, workspace):
    return "%s@%s" % (event_type, workspace.customer_id)


def _first_failure(failed, running, order):
    """The error of the earliest task among `failed` and those still `running`.

    Two workspaces that both refuse are then reported the same way on every run,
    whichever answers first."""
    from concurrent.futures import wait

    for future in running:
        future.cancel()
    wait(running)
    errors = [future for future in (failed, *running) if not future.cancelled()
              and future.exception() is not None
              and not isinstance(future.exception(), TooLarge)]
    return min(errors, key=order.__getitem__).exception()


def _halves(start, end):
    """Two halves of a range, on whole seconds; None when it cannot be split."""
    seconds = int((end - start).total_seconds())
    if seconds < 2:
        return None
    middle = start + timedelta(seconds=seconds // 2)
    return [(start, middle), (middle, end)]
