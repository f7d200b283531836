"""Detailed diagnosis (DD): the tables behind a check's measures, and the sidecar files.

``build()`` turns the collected window into one JSON-ready document (the interface is
described in README.md, "Detailed diagnosis"); ``write()`` stores it as
``{dd-dir}/{tenant}/{check}.json`` plus a static HTML rendering (see dd_render), each
replaced atomically. Every table is SQL over the store, reusing the definitions of
``measures`` (entity keys, display names, the consecutive-run query), so a table always
agrees with its measure.
"""

import json
import os
from collections import OrderedDict
from dataclasses import dataclass
from typing import Optional

from nagiosplugin import CheckError

from . import measures, redact, timeutil

SCHEMA = 1
SUCCESS_OMITTED = "successful-signin-dd is off (--successful-signin-dd yes shows these rows)"
SAMPLES_PER_POLICY = 3
FILE_MODE = 0o640
DIR_MODE = 0o750

# Microsoft's sign-in workbook counts these as "pending user action", not as attacks.
INTERRUPTS = frozenset((50058, 50140, 51006, 50059, 65001, 52004, 50055, 50144, 50072,
                        50074, 16000, 16001, 16003, 50127, 50125, 50129, 50143, 81010,
                        81014, 81012))

ERROR_CODES = {
    -1: "the log gives an error code that is not a number",
    16000: "the user must choose an account (several accounts signed in)",
    16001: "account selection needed",
    16003: "the account is not in the tenant it signed in to",
    50053: "account locked: too many bad passwords (smart lockout), or sign-in from a "
           "blocked IP",
    50055: "the password has expired",
    50057: "the account is disabled",
    50058: "session information not sufficient for single sign-on (silent sign-in "
           "interrupted)",
    50059: "no tenant found in the request",
    50072: "the user must register for multi-factor authentication",
    50074: "strong authentication (MFA) required",
    50076: "multi-factor authentication required (policy or new location)",
    50125: "sign-in interrupted by a password reset or registration entry",
    50126: "invalid username or password",
    50127: "the user must install a broker app",
    50129: "the device is not workplace joined",
    50140: "'Keep me signed in' interrupt",
    50143: "session mismatch between tenant and user",
    50144: "the Active Directory password has expired",
    51006: "re-authentication required (Windows Integrated Authentication)",
    52004: "the user has not consented to LinkedIn access",
    53003: "blocked by Conditional Access",
    65001: "the user or an administrator has not consented to the application",
    70044: "session expired or invalid (sign-in frequency of Conditional Access)",
    81010: "Seamless SSO failed: Kerberos ticket expired or invalid",
    81012: "Seamless SSO: the user signed in to the device is not the one signing in",
    81014: "Seamless SSO: not tried (e.g. the domain is not intranet)",
    90002: "tenant not found",
    700016: "application not found in the tenant",
    700082: "refresh token expired through inactivity",
    7000215: "invalid client secret",
}


def error_meaning(code):
    """What an AADSTS error code means, for people."""
    if code in ERROR_CODES:
        return ERROR_CODES[code]
    return "see https://login.microsoftonline.com/error?code=%d" % code


def error_kind(code):
    return "interrupt" if code in INTERRUPTS else "failure"


@dataclass
class Settings:
    """What the command line says about the detailed diagnosis of one check run."""

    enabled: bool            # --detailed-diagnosis on: write the files
    successful: bool         # --successful-signin-dd yes: rows of success measures
    limit: int               # --dd-limit: rows per table
    directory: str           # --dd-dir
    tenant: str              # directory name: the tenant id, or "file"
    check: str               # file name: the console script
    url: Optional[str] = None  # --dd-url base
    terminal: bool = False   # --details: print the tables after the plugin output
    debug: bool = False      # -vvv: let errors through with their traceback

    @classmethod
    def from_args(cls, group, args):
        """The settings of the command line (cli.build_parser) for a check of ``group``."""
        return cls(enabled=args.detailed_diagnosis == "on",
                   successful=args.successful_signin_dd == "yes",
                   limit=args.dd_limit,
                   directory=args.dd_dir or os.path.join(args.state_dir, "dd"),
                   # --input pages never replace a tenant's live pages.
                   tenant="file" if args.input or not args.tenant_id else args.tenant_id,
                   check=group.script,
                   url=args.dd_url,
                   terminal=args.details,
                   debug=args.verbose >= 3)

    @property
    def json_path(self):
        return os.path.join(self.directory, self.tenant, self.check + ".json")

    @property
    def html_path(self):
        return os.path.join(self.directory, self.tenant, self.check + ".html")

    @property
    def link(self):
        """Where people find the HTML: the URL under --dd-url, else the file's path."""
        if self.url:
            return "%s/%s/%s.html" % (self.url, self.tenant, self.check)
        return self.html_path


# ---------------------------------------------------------------------------------------
# Building the document
# ---------------------------------------------------------------------------------------

def table(title, columns, rows, total=None, limit=None, omitted=None):
    """A table as the JSON interface has it; ``rows`` may be longer than ``limit``."""
    rows = [list(r) for r in rows]
    total = len(rows) if total is None else total
    if omitted:
        rows = []
    elif limit is not None:
        rows = rows[:limit]
    result = OrderedDict((("title", title), ("columns", list(columns)), ("rows", rows),
                          ("total", total), ("truncated", not omitted and len(rows) < total)))
    if omitted:
        result["omitted"] = omitted
    return result


class _Builder:
    def __init__(self, store, window, attempts, settings):
        self.store = store
        self.window = window
        self.attempts = attempts
        self.settings = settings
        self.limit = settings.limit
        self.where, self.params = window.where()

    def query(self, sql, params=()):
        return self.store.query(sql, params)

    def count(self, condition):
        sql = "SELECT COUNT(*) FROM signins WHERE %s AND %s" % (self.where, condition)
        return self.query(sql, self.params)[0][0]

    # -- lists of sign-ins, newest first ------------------------------------------------

    def signins(self, title, condition, columns, omitted=None):
        names = [c for c, _ in columns]
        total = self.count(condition)
        if omitted:
            return table(title, names, [], total, omitted=omitted)
        sql = "SELECT %s FROM signins WHERE %s AND %s ORDER BY created DESC, id DESC LIMIT ?" % (
            ", ".join(expr for _, expr in columns), self.where, condition)
        rows = [self._cells(names, row) for row in self.query(sql, (*self.params, self.limit))]
        return table(title, names, rows, total, self.limit)

    @staticmethod
    def _cells(names, row):
        cells = []
        for name, value in zip(names, row):
            if name in ("time", "first seen", "last seen"):
                value = timeutil.display_stored(value)
            elif name == "risk event types":
                value = ", ".join(json.loads(value)) if value else ""
            cells.append(value)
        return cells

    # -- grouped counts -----------------------------------------------------------------

    def grouped(self, title, condition, keys, counts, order):
        """Rows of (keys..., counts...) over the rows matching condition, biggest first."""
        names = [c for c, _ in keys] + [c for c, _ in counts]
        base = "SELECT %s FROM signins WHERE %s AND %s GROUP BY %s" % (
            ", ".join([e for _, e in keys] + [e for _, e in counts]), self.where, condition,
            ", ".join(str(i + 1) for i in range(len(keys))))
        total = self.query("SELECT COUNT(*) FROM (%s)" % base, self.params)[0][0]
        rows = self.query("%s ORDER BY %s LIMIT ?" % (base, order), (*self.params, self.limit))
        return table(title, names, rows, total, self.limit)

    def by_app(self, title, condition):
        """Sign-ins matching condition per application (by app id), biggest first."""
        sql = ("SELECT MAX(%s), COUNT(*), COUNT(DISTINCT NULLIF(user_id, '')), "
               "SUM(success = 0), app_id FROM signins WHERE %s AND %s GROUP BY app_id"
               % (APP, self.where, condition))
        total = self.query("SELECT COUNT(*) FROM (%s)" % sql, self.params)[0][0]
        rows = self.query(sql + " ORDER BY COUNT(*) DESC, 1, 5 LIMIT ?",
                          (*self.params, self.limit))
        return table(title, ["application", "sign-ins", "distinct users", "failed", "app id"],
                     rows, total, self.limit)

    # -- entities with a run of N or more attempts of one outcome -----------------------

    def entities(self, measure, value):
        entity = measures.ENTITIES[measure.entity]
        outcome = measure.outcome
        word = "successful" if outcome else "failed"
        with_key = entity.key != entity.display and entity.key.isidentifier()
        # The key (an id) comes last: what matters must show in a narrow frame.
        columns = [entity.title, "%s attempts" % word, "longest run", "distinct users"] + (
            [] if outcome else ["top error codes"]) + ["first seen", "last seen"] + (
            ["id"] if with_key else [])
        title = "%s with %d or more consecutive %s attempts" % (
            entity.heading[0].upper() + entity.heading[1:], self.attempts, word)
        if outcome and not self.settings.successful:
            return table(title, columns, [], value, omitted=SUCCESS_OMITTED)
        qualifying = """
            WITH runs AS (%(runs)s),
            counted AS (SELECT entity, MAX(run_length) AS longest FROM runs
                        WHERE success = ? GROUP BY entity HAVING MAX(run_length) >= ?),
            attempts AS (SELECT %(key)s AS entity, %(display)s AS display, user_id,
                                error_code, created
                         FROM signins WHERE %(where)s AND %(nonempty)s AND success = ?)
        """ % {"runs": measures.runs_sql(entity, self.where), "key": entity.key,
               "display": entity.display, "where": self.where, "nonempty": entity.nonempty}
        params = (*self.params, outcome, self.attempts, *self.params, outcome)
        found = self.query(qualifying + """
            SELECT c.entity, MAX(a.display), COUNT(*), c.longest,
                   COUNT(DISTINCT NULLIF(a.user_id, '')), MIN(a.created), MAX(a.created)
            FROM counted c JOIN attempts a ON a.entity = c.entity
            GROUP BY c.entity ORDER BY COUNT(*) DESC, MAX(a.display), c.entity""", params)
        codes = {}
        if not outcome and found:
            # Error codes of every failing entity: a plain GROUP BY, so the run query above
            # (the costly part) is not run a second time; only qualifying ones are kept.
            qualified = {row[0] for row in found}
            for key, code, number in self.query(
                    "SELECT %s, %s, COUNT(*) FROM signins WHERE %s AND %s AND "
                    "success = 0 GROUP BY 1, 2 ORDER BY 1, 3 DESC, 2"
                    % (entity.key, ERROR, self.where, entity.nonempty), self.params):
                if key in qualified:
                    codes.setdefault(key, []).append((code, number))
        rows = []
        for key, display, number, longest, users, first, last in found:
            row = [display, number, longest, users]
            if not outcome:
                row.append(", ".join("%s\u00d7%d" % c for c in codes.get(key, [])[:3]))
            row += [timeutil.display_stored(first), timeutil.display_stored(last)]
            if with_key:
                row.append(key)
            rows.append(row)
        return table(title, columns, rows, len(rows), self.limit)

    # -- error codes --------------------------------------------------------------------

    def error_codes(self):
        rows = self.query(
            "SELECT error_code, error_text, COUNT(*), COUNT(DISTINCT NULLIF(user_id, '')) "
            "FROM signins WHERE %s AND success = 0 GROUP BY error_code, error_text "
            "ORDER BY COUNT(*) DESC, error_code, error_text" % self.where, self.params)
        rows = [[text or code, number, users, error_kind(code), error_meaning(code)]
                for code, text, number, users in rows]
        return table("Failed sign-ins by error code",
                     ["error code", "failed sign-ins", "distinct users", "kind", "meaning"],
                     rows, len(rows), self.limit)

    # -- Conditional Access failures by policy ------------------------------------------

    def ca_failures(self):
        policies = OrderedDict()
        unnamed = ("", "(no failed policy named in the log)")
        sql = ("SELECT created, %s, %s, ip, client_app, %s, ca_policies, user_id "
               "FROM signins WHERE %s AND ca_status = 'failure' ORDER BY created DESC, id DESC"
               % (USER, APP, ERROR, self.where))
        for created, user, app, ip, client, code, raw, user_id in self.query(sql, self.params):
            failed = [(p[0], p[1]) for p in (json.loads(raw) if raw else [])
                      if len(p) >= 3 and p[2] == "failure"]
            for policy in failed or [unnamed]:
                entry = policies.get(policy)
                if entry is None:
                    entry = policies[policy] = {"count": 0, "users": set(), "first": created,
                                                "last": created, "samples": []}
                entry["count"] += 1
                entry["users"].add(user_id)
                entry["first"] = min(entry["first"], created)
                entry["last"] = max(entry["last"], created)
                if len(entry["samples"]) < SAMPLES_PER_POLICY:
                    entry["samples"].append([timeutil.display_stored(created), user, app, ip,
                                             client, code])
        order = sorted(policies.items(), key=lambda item: (-item[1]["count"], item[0][1],
                                                             item[0][0]))
        main = table("Failed Conditional Access policies",
                     ["policy", "failed sign-ins", "distinct users", "first seen", "last seen",
                      "policy id"],
                     [[name, e["count"], len(e["users"] - {""}),
                       timeutil.display_stored(e["first"]), timeutil.display_stored(e["last"]),
                       pid]
                      for (pid, name), e in order], len(order), self.limit)
        samples = [[name] + sample for (pid, name), e in order for sample in e["samples"]]
        extra = table("Newest sign-ins per failed policy (up to %d each)" % SAMPLES_PER_POLICY,
                      ["policy", "time", "user", "application", "IP address", "client app",
                       "error code"], samples, len(samples), self.limit)
        return main, [extra]


# SQL expressions shared by the tables.
USER = ("CASE WHEN user_upn <> '' THEN user_upn WHEN user_id <> '' THEN user_id "
        "WHEN sp_name <> '' THEN sp_name ELSE sp_id END")
APP = measures.ENTITIES["apps"].display
RESOURCE = measures.ENTITIES["resources"].display
LOCATION = measures.ENTITIES["locations"].display
# An error code as the log gave it when it was no plain number (e.g. "Infinity").
ERROR = "CASE WHEN error_text <> '' THEN error_text ELSE error_code END"

FAILED_COLUMNS = (("time", "created"), ("user", USER), ("display name", "user_name"),
                  ("application", APP), ("resource", RESOURCE), ("IP address", "ip"),
                  ("location", LOCATION), ("client app", "client_app"),
                  ("error code", ERROR), ("failure reason", "failure_reason"),
                  ("user agent", "user_agent"))
SUCCESS_COLUMNS = tuple(c for c in FAILED_COLUMNS
                        if c[0] not in ("error code", "failure reason")) + (
    ("authentication", "auth_requirement"),)
RISKY_COLUMNS = (("time", "created"), ("user", USER), ("display name", "user_name"),
                 ("application", APP), ("IP address", "ip"), ("location", LOCATION),
                 ("risk level", "risk_level"), ("risk state", "risk_state"),
                 ("risk event types", "risk_events"), ("error code", ERROR))
BY_USER_APP_CLIENT = (("user", USER), ("application", APP), ("client app", "client_app"))
COUNTS = (("sign-ins", "COUNT(*)"), ("failed", "SUM(success = 0)"))


def _measure_tables(builder, measure, value):
    """(table or None, extra tables, see) for one measure."""
    label = measure.label
    settings = builder.settings
    if label == "total":
        return None, [], None
    if label == "failed_pct":
        return None, [], "failed"
    if label == "failed":
        return (builder.signins("Failed sign-ins, newest first", "success = 0",
                                FAILED_COLUMNS), [builder.error_codes()], None)
    if label == "successful":
        return (builder.signins("Successful sign-ins, newest first", "success = 1",
                                SUCCESS_COLUMNS,
                                omitted=None if settings.successful else SUCCESS_OMITTED),
                [], None)
    if label == "risky":
        return builder.signins("Risky sign-ins, newest first", measures.RISKY,
                               RISKY_COLUMNS), [], None
    if measure.entity:
        return builder.entities(measure, value), [], None
    if label == "ca_failure":
        main, extra = builder.ca_failures()
        return main, extra, None
    if label in ("ca_not_applied", "ca_success"):
        return builder.by_app("%s by application" % measure.title, measure.condition), [], None
    if measure.condition:
        return builder.grouped("%s by user, application and client app" % measure.title,
                               measure.condition, BY_USER_APP_CLIENT, COUNTS,
                               "COUNT(*) DESC, 1, 2, 3"), [], None
    return None, [], None


def build(settings, collection, group, attempts, values, results, state):
    """The DD document of one run: a dict ready for json.dumps (schema 1)."""
    window = collection.window
    builder = _Builder(collection.store, window, attempts, settings)
    by_label = {r.metric.name: r for r in results if r.metric is not None}
    items = []
    for measure in group.measures:
        result = by_label.get(measure.label)
        main, extra, see = _measure_tables(builder, measure, values[measure.label])
        item = OrderedDict((
            ("label", measure.label), ("title", measure.title),
            ("value", values[measure.label]), ("uom", measure.uom),
            ("state", str(result.state) if result else "unknown"),
            ("hint", result.hint if result and result.hint else None),
            ("table", main), ("tables", extra)))
        if see:
            item["see"] = see
        items.append(item)
    return OrderedDict((
        ("schema", SCHEMA),
        ("tenant", settings.tenant),
        ("check", settings.check),
        ("title", group.title),
        ("state", str(state)),
        ("window", OrderedDict((("start", timeutil.display(window.start)),
                                ("end", timeutil.display(window.end)),
                                ("event_types", list(window.event_types))))),
        ("generated", timeutil.display(timeutil.utcnow())),
        ("source", redact.one_line(collection.source)),
        ("attempts", attempts),
        ("limit", settings.limit),
        ("successful_signin_dd", settings.successful),
        ("measures", items),
    ))


# ---------------------------------------------------------------------------------------
# Writing the files
# ---------------------------------------------------------------------------------------

def write(settings, document):
    """Write ``{dd-dir}/{tenant}/{check}.json`` and ``.html``; raises OSError or CheckError.

    Both files are rendered and written to temporary files first, then renamed: a failure
    leaves the previous pair, never a new JSON beside an old HTML page.
    """
    from . import dd_render, statedir

    data = (json.dumps(document, indent=1, ensure_ascii=False) + "\n").encode("utf-8")
    page = dd_render.html(document).encode("utf-8")
    check_directories(settings)
    written = []
    try:
        written.append(statedir.write_new(settings.json_path, data, FILE_MODE))
        written.append(statedir.write_new(settings.html_path, page, FILE_MODE))
        new_json, new_html = written
        os.replace(new_html, settings.html_path)
        try:
            os.replace(new_json, settings.json_path)
        except BaseException:
            # The page is new, its JSON is not: drop the page rather than show a mixed pair.
            statedir.discard(settings.html_path)
            raise
    finally:
        for temporary in written:  # gone already when renamed
            statedir.discard(temporary)
    _sync_directory(os.path.dirname(settings.json_path))


def check_directories(settings):
    """Create the DD directories, or refuse (CheckError) ones another user could have
    planted. They are 0750: a setgid group, e.g. the web server's, may share them."""
    from . import statedir

    statedir.ensure_dir(settings.directory, "DD directory", shared_group=True, follow=True,
                        mode=DIR_MODE)
    statedir.ensure_dir(os.path.join(settings.directory, settings.tenant), "DD directory",
                        shared_group=True, mode=DIR_MODE)
    for path in (settings.json_path, settings.html_path):
        statedir.check_file(path, "DD file")


def _sync_directory(directory):
    try:
        dir_fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)


def print_details(settings, document, error=None, stream=None):
    """--details: the tables as text, after the plugin output that nagiosplugin printed."""
    import sys

    from . import dd_render

    stream = stream or sys.stdout
    if error:
        where = error
    elif settings.enabled:
        where = "files: %s and %s" % (settings.json_path, settings.html_path)
    else:
        where = "files not written (--detailed-diagnosis off)"
    text = dd_render.text(document, where)
    # A terminal that can't show a character gets '?', not a traceback.
    encoding = getattr(stream, "encoding", None) or "utf-8"
    stream.write(text.encode(encoding, "replace").decode(encoding))
    stream.flush()


def failure_reason(exc):
    """One line saying why the DD could not be written."""
    if isinstance(exc, CheckError):
        return redact.one_line(exc)
    if isinstance(exc, OSError) and exc.strerror:
        where = " %s" % exc.filename if exc.filename else ""
        return redact.one_line("cannot write%s: %s" % (where, exc.strerror))
    return redact.one_line("%s: %s" % (type(exc).__name__, exc))
