"""The detailed-diagnosis tables, each filled during the one pass over a window's rows.

A table kind declares the row fields it reads (name -> SQL expression over table
``signins``); ``tally`` selects the union of the fields once, ordered by (time, id), and
hands every row that matches a measure to that measure's table. A table never queries the
store, so its total agrees with its measure by construction.

Each kind has ``fields`` and ``start(index, limit, tuning)``, which returns a collector
with ``add(row)`` and ``tables()`` -> (main table, [extra tables]). ``index`` maps a field
name to its place in a row; ``limit`` is the rows a table shows, None when no table is
wanted (the collector then only counts); ``tuning`` is a ``tally.Tuning`` (--attempts,
the threats check's options). A kind that counts its measure (``Measure.counts_table``)
also has ``count()``.
"""

import json
from collections import OrderedDict, deque
from operator import itemgetter

from . import errorcodes, timeutil

SAMPLES_PER_POLICY = 3

# SQL expressions shared by tables and entities: the names people read.
USER = ("CASE WHEN user_upn <> '' THEN user_upn WHEN user_id <> '' THEN user_id "
        "WHEN sp_name <> '' THEN sp_name ELSE sp_id END")
APP = "CASE WHEN app_name <> '' THEN app_name ELSE app_id END"
RESOURCE = "CASE WHEN resource_name <> '' THEN resource_name ELSE resource_id END"
LOCATION = "trim(city || ', ' || state || ', ' || country, ', ')"
# An error code as the log gave it when it was no plain number (e.g. "Infinity").
ERROR = "CASE WHEN error_text <> '' THEN error_text ELSE error_code END"

# Columns of sign-in lists: (heading, SQL expression).
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


def code_order(code):
    # SQLite's order: numbers before text.
    return (isinstance(code, str), code)


def code_counts(codes, most=None):
    """'50126×120, 50053×5': error codes (code -> count) most frequent first, ``most`` of
    them (None: all). dd_render links each code to its lookup."""
    order = sorted(codes.items(), key=lambda c: (-c[1], code_order(c[0])))[:most]
    return ", ".join("%s\u00d7%d" % c for c in order)


def _cell(name, value):
    if name in ("time", "first seen", "last seen"):
        return timeutil.display_stored(value)
    if name == "risk event types":
        return ", ".join(json.loads(value)) if value else ""
    return value


class Newest:
    """The matching sign-ins, newest first (the last ``limit`` of the pass)."""

    def __init__(self, title, columns):
        self.title = title
        self.columns = columns
        self.fields = columns

    def heading(self, attempts):
        return self.title, [name for name, _ in self.columns]

    def start(self, index, limit, tuning):
        return _NewestRows(self, itemgetter(*(index[name] for name, _ in self.columns)),
                           limit)


class _NewestRows:
    def __init__(self, kind, cells, limit):
        self.kind, self.cells, self.limit = kind, cells, limit
        self.rows = deque(maxlen=limit)
        self.total = 0

    def add(self, row):
        self.total += 1
        self.rows.append(self.cells(row))

    def tables(self):
        names = [name for name, _ in self.kind.columns]
        rows = [[_cell(n, v) for n, v in zip(names, row)] for row in reversed(self.rows)]
        return table(self.kind.title, names, rows, self.total, self.limit), []


class ErrorCodes:
    """Failed sign-ins per error code, with what the code means."""

    fields = (("error_code", "error_code"), ("error_text", "error_text"),
              ("user_id", "user_id"))

    def start(self, index, limit, tuning):
        return _ErrorCodeCounts(itemgetter(index["error_code"], index["error_text"]),
                                index["user_id"], limit)


class _ErrorCodeCounts:
    def __init__(self, code, user, limit):
        self.code, self.user, self.limit = code, user, limit
        self.found = {}  # (code, text) -> [sign-ins, {user ids}]

    def add(self, row):
        code = self.code(row)
        entry = self.found.get(code)
        if entry is None:
            entry = self.found[code] = [0, set()]
        entry[0] += 1
        entry[1].add(row[self.user])

    def tables(self):
        order = sorted(self.found.items(), key=lambda item: (-item[1][0], item[0]))
        rows = [[text or code, number, len(users - {""}), errorcodes.kind(code),
                 errorcodes.meaning(code)] for (code, text), (number, users) in order]
        return table("Failed sign-ins by error code",
                     ["error code", "failed sign-ins", "distinct users", "kind", "meaning"],
                     rows, len(rows), self.limit), []


class ByApplication:
    """The matching sign-ins per application, most first."""

    fields = (("app_id", "app_id"), ("application", APP), ("user_id", "user_id"),
              ("success", "success"))

    def __init__(self, title):
        self.title = title

    def start(self, index, limit, tuning):
        return _Grouped(self.title, itemgetter(index["app_id"]), index["application"],
                        index["user_id"], index["success"], limit)


class _Grouped:
    def __init__(self, title, key, name, user, success, limit):
        self.title, self.key, self.name = title, key, name
        self.user, self.success, self.limit = user, success, limit
        self.found = {}  # key -> [name, sign-ins, {user ids}, failed]

    def add(self, row):
        key = self.key(row)
        entry = self.found.get(key)
        if entry is None:
            entry = self.found[key] = [row[self.name], 0, set(), 0]
        elif row[self.name] > entry[0]:
            entry[0] = row[self.name]
        entry[1] += 1
        entry[2].add(row[self.user])
        if not row[self.success]:
            entry[3] += 1

    def tables(self):
        order = sorted(self.found.items(), key=lambda item: (-item[1][1], item[1][0], item[0]))
        rows = [[name, number, len(users - {""}), failed, key]
                for key, (name, number, users, failed) in order]
        return table(self.title, ["application", "sign-ins", "distinct users", "failed",
                                  "app id"], rows, len(rows), self.limit), []


class ByUserAppClient:
    """The matching sign-ins per user, application and client app, most first."""

    fields = (("user", USER), ("application", APP), ("client app", "client_app"),
              ("success", "success"))

    def __init__(self, title):
        self.title = title

    def start(self, index, limit, tuning):
        return _UserAppClient(self.title, itemgetter(index["user"], index["application"],
                                                     index["client app"]),
                              index["success"], limit)


class _UserAppClient:
    def __init__(self, title, key, success, limit):
        self.title, self.key, self.success, self.limit = title, key, success, limit
        self.found = {}  # (user, application, client app) -> [sign-ins, failed]

    def add(self, row):
        key = self.key(row)
        entry = self.found.get(key)
        if entry is None:
            entry = self.found[key] = [0, 0]
        entry[0] += 1
        if not row[self.success]:
            entry[1] += 1

    def tables(self):
        order = sorted(self.found.items(), key=lambda item: (-item[1][0], item[0]))
        rows = [list(key) + counts for key, counts in order]
        return table(self.title, ["user", "application", "client app", "sign-ins", "failed"],
                     rows, len(rows), self.limit), []


class FailedPolicies:
    """Conditional Access failures per failed policy, and the newest sign-ins of each."""

    fields = (("created", "created"), ("user", USER), ("application", APP), ("ip", "ip"),
              ("client_app", "client_app"), ("error", ERROR), ("ca_policies", "ca_policies"),
              ("user_id", "user_id"))

    def start(self, index, limit, tuning):
        return _Policies(itemgetter(*(index[name] for name, _ in self.fields)), limit)


class _Policies:
    UNNAMED = ("", "(no failed policy named in the log)")

    def __init__(self, fields, limit):
        self.fields, self.limit = fields, limit
        self.found = {}  # (policy id, name) -> [count, {user ids}, first, last, samples]

    def add(self, row):
        created, user, app, ip, client, code, raw, user_id = self.fields(row)
        failed = [(p[0], p[1]) for p in (json.loads(raw) if raw else [])
                  if len(p) >= 3 and p[2] == "failure"]
        for policy in failed or [self.UNNAMED]:
            entry = self.found.get(policy)
            if entry is None:
                entry = self.found[policy] = [0, set(), created, created,
                                              deque(maxlen=SAMPLES_PER_POLICY)]
            entry[0] += 1
            entry[1].add(user_id)
            entry[3] = created  # rows come oldest first
            entry[4].append([timeutil.display_stored(created), user, app, ip, client, code])

    def tables(self):
        order = sorted(self.found.items(), key=lambda item: (-item[1][0], item[0][1],
                                                             item[0][0]))
        main = table("Failed Conditional Access policies",
                     ["policy", "failed sign-ins", "distinct users", "first seen", "last seen",
                      "policy id"],
                     [[name, count, len(users - {""}), timeutil.display_stored(first),
                       timeutil.display_stored(last), pid]
                      for (pid, name), (count, users, first, last, _) in order],
                     len(order), self.limit)
        samples = [[name] + sample for (_, name), entry in order
                   for sample in reversed(entry[4])]
        extra = table("Newest sign-ins per failed policy (up to %d each)" % SAMPLES_PER_POLICY,
                      ["policy", "time", "user", "application", "IP address", "client app",
                       "error code"], samples, len(samples), self.limit)
        return main, [extra]


class EntityRuns:
    """Entities with a run of ``attempts`` or more consecutive attempts of one outcome.

    Fed every row of the window whose entity key is not empty, in (time, id) order. Its
    count is the measure; its table lists those entities, most attempts first.
    """

    def __init__(self, entity, outcome):
        self.entity = entity
        self.outcome = outcome
        key, display = "key:" + entity.name, "display:" + entity.name
        self.fields = ((key, entity.key), (display, entity.display), ("success", "success"),
                       ("user_id", "user_id"), ("created", "created"),
                       ("error", ERROR))
        self.columns = [entity.title, "%s attempts" % self.word, "longest run",
                        "distinct users"] + ([] if outcome else ["top error codes"]) + [
            "first seen", "last seen"] + (["id"] if entity.show_id else [])

    @property
    def word(self):
        return "successful" if self.outcome else "failed"

    def heading(self, attempts):
        plural = self.entity.heading
        return "%s with %d or more consecutive %s attempts" % (
            plural[0].upper() + plural[1:], attempts, self.word), self.columns

    def start(self, index, limit, tuning):
        return _Runs(self, index, limit, tuning.attempts)


class _Runs:
    def __init__(self, kind, index, limit, attempts):
        self.kind, self.limit, self.attempts = kind, limit, attempts
        # key -> [current run, longest run, attempts, display, {users}, {codes}, first, last]
        self.found = {}
        self.add = self._adder(index, kind.outcome, limit is not None)

    def _adder(self, index, outcome, detailed):
        # Called for every row and entity kind: locals, not attributes, on this path.
        found = self.found
        name = self.kind.entity.name
        key_at, display_at = index["key:" + name], index["display:" + name]
        success_at, user_at = index["success"], index["user_id"]
        created_at, error_at = index["created"], index["error"]

        def add(row):
            key = row[key_at]
            if not key:
                return
            entry = found.get(key)
            if row[success_at] != outcome:
                if entry is not None:
                    entry[0] = 0
                return
            if entry is None:
                entry = found[key] = [0, 0, 0, row[display_at], set(), {},
                                      row[created_at], None]
            entry[0] += 1
            if entry[0] > entry[1]:
                entry[1] = entry[0]
            if detailed:
                entry[2] += 1
                if row[display_at] > entry[3]:
                    entry[3] = row[display_at]
                entry[4].add(row[user_at])
                codes = entry[5]
                code = row[error_at]
                codes[code] = codes.get(code, 0) + 1
                entry[7] = row[created_at]

        return add

    def qualifying(self):
        return [(key, entry) for key, entry in self.found.items()
                if entry[1] >= self.attempts]

    def count(self):
        return len(self.qualifying())

    def tables(self):
        kind = self.kind
        order = sorted(self.qualifying(), key=lambda item: (-item[1][2], item[1][3], item[0]))
        rows = []
        for key, (_, longest, number, display, users, codes, first, last) in order:
            row = [display, number, longest, len(users - {""})]
            if not kind.outcome:
                row.append(code_counts(codes, 3))
            row += [timeutil.display_stored(first), timeutil.display_stored(last)]
            if kind.entity.show_id:
                row.append(key)
            rows.append(row)
        return table(*kind.heading(self.attempts), rows, len(rows), self.limit), []
