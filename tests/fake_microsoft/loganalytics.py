"""The fake Azure Resource Manager (ARM) and Log Analytics query API.

The server (server.py) routes ``/management/...`` and ``/loganalytics/...`` here after it
has checked the bearer token's audience (the fake's URL of the service or the real one);
this module decides the answer and returns ``(status, body, headers)``.  No sockets.

ARM (under ``fake.management_url``; every request needs ``api-version``):

  GET /providers/microsoft.aadiam/diagnosticSettings         Entra diagnostic settings
  GET /subscriptions                                         subscriptions the app sees
  GET /subscriptions/{sub}/providers/Microsoft.OperationalInsights/workspaces
  GET /subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.OperationalInsights/
      workspaces/{name}                                      one workspace (ids match in any case)

Log Analytics (under ``fake.log_analytics_url``):

  POST /v1/workspaces/{customerId}/query   {"query": KQL, "timespan": "START/END"}

The fake does NOT run KQL: it understands the one query shape the product sends (kql.py)
and answers anything else with a 400 that says what it did not understand.  Rows come
from the fake's Graph-shaped sign-in records, mapped to the tables' documented columns
(tables.py): a service-principal leg that projects ``UserPrincipalName`` fails as it
would in Azure.
Log Analytics promises no row order: rows come in a fixed pseudo-random order.  More
matching rows than ``row_limit``: the first row_limit and a PartialError about
E_QUERY_RESULT_SET_TOO_LARGE, as Azure answers at its 500,000 rows.

Faults: aadiam_forbidden (403 on the aadiam read), arm_forbidden (403 on every ARM GET,
aadiam included); la_forbidden (403), la_throttled (429, retry_after=2|None),
la_server_error (status=503, retry_after=None|int), la_partial (200 with half the rows and
a PartialError that is not about size), la_query_error (400 syntax error).
"""

import dataclasses
import hashlib
import json
import re
import uuid

from .kql import KqlError, inside, parse_query, parse_timespan
from .tables import (CATEGORY_OF_TABLE, MANAGED_IDENTITY, NONINTERACTIVE, SCHEMAS,
                     SERVICE_PRINCIPAL, TABLE_OF_EVENT_TYPE, as_string, cell)

# Fault names of these services (see server.FaultSwitches).
ARM_FAULTS = ("aadiam_forbidden", "arm_forbidden")
LA_FAULTS = ("la_forbidden", "la_throttled", "la_server_error", "la_partial", "la_query_error")

DEFAULT_TABLES = (NONINTERACTIVE, SERVICE_PRINCIPAL, MANAGED_IDENTITY)
DEFAULT_LOGS = {category: True for category in CATEGORY_OF_TABLE.values()}
DEFAULT_SUBSCRIPTION = "11111111-1111-1111-1111-111111111111"
WORKSPACE_TYPE = "Microsoft.OperationalInsights/workspaces"
AADIAM_API_VERSIONS = ("2017-04-01", "2017-04-01-preview")

# --------------------------------------------------------------------------
# Error bodies
# --------------------------------------------------------------------------

def arm_error(code, message):
    return {"error": {"code": code, "message": message}}


def la_error(code, message, **extra):
    return {"error": dict({"code": code, "message": message}, **extra)}


_INNER = {
    "syntax": ("SyntaxError", "A recognition error occurred in the query.", "SYN0002"),
    "semantic": ("SemanticError", "A semantic error occurred.", "SEM0100"),
    "validation": ("QueryValidationError", "The request is invalid.", "QueryValidationError"),
}


def bad_argument(kind, message):
    code, text, detail = _INNER[kind]
    return la_error("BadArgumentError", "The request had some invalid properties", innererror={
        "code": code, "message": text, "innererror": {"code": detail, "message": message}})


def partial_error(innercode, message):
    """The ``error`` member of a 200 answer that is missing rows."""
    return {"code": "PartialError",
            "message": "There were some errors when processing your query.",
            "details": [{"code": "EngineError",
                         "message": "Something went wrong processing your query on the server.",
                         "innererror": {"code": innercode, "message": message,
                                        "severity": 2, "severityName": "Error"}}]}


def unauthorized(kind, message):
    """(status, body, headers) of a 401 from ARM (kind "arm") or Log Analytics."""
    body = (arm_error("InvalidAuthenticationToken", message) if kind == "arm"
            else la_error("InvalidTokenError", message))
    return 401, body, [("WWW-Authenticate", 'Bearer error="invalid_token"')]


# --------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------

@dataclasses.dataclass
class Workspace:
    name: str
    customer_id: str
    subscription: str
    resource_group: str
    tables: tuple
    records: object           # "all" or a set of sign-in ids
    retention_days: int
    location: str

    @classmethod
    def from_config(cls, cfg):
        cfg = dict(cfg)
        name = cfg["name"]
        records = cfg.get("records", "all")
        return cls(name=name,
                   customer_id=cfg.get("customer_id") or str(uuid.uuid5(uuid.NAMESPACE_URL, name)),
                   subscription=cfg.get("subscription", DEFAULT_SUBSCRIPTION),
                   resource_group=cfg.get("resource_group", "rg1"),
                   tables=tuple(cfg.get("tables", DEFAULT_TABLES)),
                   records=records if records == "all" else {str(r) for r in records},
                   retention_days=int(cfg.get("retention_days", 30)),
                   location=cfg.get("location", "westeurope"))

    @property
    def arm_id(self):
        return ("/subscriptions/%s/resourceGroups/%s/providers/%s/%s"
                % (self.subscription, self.resource_group, WORKSPACE_TYPE, self.name))

    def holds(self, rec):
        return self.records == "all" or rec.id in self.records

    def to_json(self):
        return {"id": self.arm_id, "name": self.name, "type": WORKSPACE_TYPE,
                "location": self.location,
                "properties": {"customerId": self.customer_id,
                               "retentionInDays": self.retention_days,
                               "provisioningState": "Succeeded"}}


# --------------------------------------------------------------------------
# The services
# --------------------------------------------------------------------------

class AzureMonitorFake:
    """ARM + Log Analytics logic.  ``records()`` returns the current sign-in records
    (graph.Record: .id, .created (aware datetime), .data (Graph dict)); ``faults`` is
    the server's FaultSwitches.

    workspaces:  ``{"name", "customer_id", "subscription", "resource_group", "tables"
                 (default: the non-interactive, service principal and managed identity
                 tables), "records" ("all" or sign-in ids), "retention_days" (30, only
                 reported), "location"}``; a record is in the tables of its signInEventTypes.
    diagnostic_settings: ``{"name", "workspace" (a workspace name, an ARM id, or None),
                 "storage": bool, "event_hub": bool, "logs": {category: enabled}}``
                 (logs default: the four sign-in categories, enabled).
    The subscriptions (``GET /subscriptions``) are those of the workspaces.
    row_limit:   rows per answer; more matching rows -> the first row_limit and a
                 PartialError about E_QUERY_RESULT_SET_TOO_LARGE.
    """

    def __init__(self, records, faults, tenant, workspaces=None, diagnostic_settings=None,
                 row_limit=500000):
        self.records = records
        self.faults = faults
        self.tenant = tenant
        self.workspaces = [Workspace.from_config(w) for w in workspaces or []]
        self.row_limit = int(row_limit)
        self.subscriptions = list(dict.fromkeys(w.subscription for w in self.workspaces))
        self.diagnostic_settings = [self._setting_json(s) for s in diagnostic_settings or []]

    def workspace(self, name):
        return next(w for w in self.workspaces if w.name == name)

    # -- ARM ------------------------------------------------------------------
    def arm(self, method, path, params, client_id):
        """(status, body, headers) for an ARM request (path without the prefix)."""
        if method != "GET":
            return 405, arm_error("MethodNotAllowed", "The fake ARM only answers GET."), []
        if "api-version" not in params:
            return 400, arm_error("MissingApiVersionParameter", "The api-version query "
                                  "parameter (?api-version=) is required for all requests."), []
        route = self._arm_route(path.strip("/").split("/"))
        if route is None:
            return 404, arm_error("InvalidResourceType", "The resource type could not be found "
                                  "in the namespace for the fake: %s" % path), []
        action, scope, answer = route
        # aadiam_forbidden only hits the aadiam read; arm_forbidden hits every ARM GET.
        names = ARM_FAULTS if action.startswith("microsoft.aadiam") else ("arm_forbidden",)
        fault = self.faults.take(names)
        if fault is not None:
            return 403, self._forbidden(client_id, action, scope), []
        return answer(params)

    def _arm_route(self, parts):
        """(action, scope, answer(params)) for a known ARM path, else None."""
        low = [p.lower() for p in parts]
        provider = ["providers", WORKSPACE_TYPE.split("/")[0].lower(), "workspaces"]
        if low == ["providers", "microsoft.aadiam", "diagnosticsettings"]:
            return ("microsoft.aadiam/diagnosticSettings/read", "/providers/microsoft.aadiam",
                    self._aadiam)
        if low == ["subscriptions"]:
            return ("Microsoft.Resources/subscriptions/read", "/subscriptions",
                    lambda params: (200, {"value": self._subscriptions_json()}, []))
        if len(low) == 5 and low[0] == "subscriptions" and low[2:] == provider:
            return ("%s/read" % WORKSPACE_TYPE, "/subscriptions/" + parts[1],
                    lambda params: self._workspaces_in(parts[1]))
        if len(low) == 8 and low[0] == "subscriptions" and low[2] == "resourcegroups" \
                and low[4:7] == provider:
            return ("%s/read" % WORKSPACE_TYPE, "/" + "/".join(parts),
                    lambda params: self._workspace_get(parts[3], parts[7], "/" + "/".join(parts)))
        return None

    @staticmethod
    def _forbidden(client_id, action, scope):
        oid = uuid.uuid5(uuid.NAMESPACE_OID, client_id or "")
        return arm_error("AuthorizationFailed", (
            "The client '%s' with object id '%s' does not have authorization to perform action "
            "'%s' over scope '%s' or the scope is invalid. If access was recently granted, "
            "please refresh your credentials.") % (client_id, oid, action, scope))

    def _aadiam(self, params):
        version = params["api-version"]
        if version not in AADIAM_API_VERSIONS:
            return 400, arm_error("NoRegisteredProviderFound", (
                "No registered resource provider found for location 'global' and API version "
                "'%s' for type 'diagnosticSettings'. The supported api-versions are '%s'.")
                % (version, ", ".join(AADIAM_API_VERSIONS))), []
        return 200, {"value": self.diagnostic_settings}, []

    def _setting_json(self, cfg):
        name, target = cfg["name"], cfg.get("workspace")
        # A workspace name becomes its ARM id; a string starting with "/" is used as is
        # (e.g. the id of a workspace the fake does not know, for 404 tests).
        workspace_id = target if target is None or target.startswith("/") else \
            self.workspace(target).arm_id
        sub = self.subscriptions[0] if self.subscriptions else DEFAULT_SUBSCRIPTION
        base = "/subscriptions/%s/resourceGroups/rg-logs/providers/" % sub
        return {
            "id": "/providers/microsoft.aadiam/diagnosticSettings/" + name,
            "type": "Microsoft.AADIAM/diagnosticSettings", "name": name,
            "properties": {
                "workspaceId": workspace_id,
                "storageAccountId": (base + "Microsoft.Storage/storageAccounts/logs%s"
                                     % re.sub(r"\W", "", name).lower()
                                     if cfg.get("storage") else None),
                "eventHubAuthorizationRuleId": (
                    base + "Microsoft.EventHub/namespaces/ns-%s/authorizationrules/"
                    "RootManageSharedAccessKey" % name if cfg.get("event_hub") else None),
                "eventHubName": None,
                "logs": [{"category": category, "enabled": bool(on),
                          "retentionPolicy": {"days": 0, "enabled": False}}
                         for category, on in cfg.get("logs", DEFAULT_LOGS).items()],
            }}

    def _subscriptions_json(self):
        return [{"id": "/subscriptions/" + sub, "subscriptionId": sub, "tenantId": self.tenant,
                 "displayName": "Fake subscription %d" % (n + 1), "state": "Enabled"}
                for n, sub in enumerate(self.subscriptions)]

    def _workspaces_in(self, sub):
        if sub.lower() not in {s.lower() for s in self.subscriptions}:
            return 404, arm_error("SubscriptionNotFound",
                                  "The subscription '%s' could not be found." % sub), []
        return 200, {"value": [w.to_json() for w in self.workspaces
                               if w.subscription.lower() == sub.lower()]}, []

    def _workspace_get(self, resource_group, name, arm_id):
        # Azure hands out ids with varying case (resourcegroups, microsoft.operationalinsights).
        found = next((w for w in self.workspaces if w.arm_id.lower() == arm_id.lower()), None)
        if found is None:
            return 404, arm_error("ResourceNotFound", (
                "The Resource '%s/%s' under resource group '%s' was not found. For more details "
                "please go to https://aka.ms/ARMResourceNotFoundFix")
                % (WORKSPACE_TYPE, name, resource_group)), []
        return 200, found.to_json(), []

    # -- Log Analytics ----------------------------------------------------------
    def query(self, method, path, body):
        """(status, body, headers) for a Log Analytics request (path without the prefix)."""
        parts = path.strip("/").split("/")
        if len(parts) != 4 or parts[0] != "v1" or parts[1].lower() != "workspaces" \
                or parts[3].lower() != "query":
            return 404, la_error("PathNotFoundError", "The requested path does not exist"), []
        if method != "POST":
            return 405, la_error("MethodNotAllowed", "The fake only answers POST."), []
        try:
            request = json.loads(body or b"null")
            kql, timespan = request.get("query"), request.get("timespan")
        except (ValueError, AttributeError):
            return 400, bad_argument("validation", "The request body is not a JSON object"), []
        return self._answer_query(parts[2], kql, timespan)

    def _answer_query(self, customer_id, kql, timespan):
        fault = self.faults.take(LA_FAULTS)
        if fault is not None and fault[0] != "la_partial":
            return self._fault_answer(*fault)
        workspace = next((w for w in self.workspaces
                          if w.customer_id.lower() == customer_id.lower()), None)
        if workspace is None:
            return 404, la_error("WorkspaceNotFoundError", "The workspace could not be found"), []
        try:
            if not isinstance(kql, str):
                raise KqlError("validation", "The request must contain a 'query' string")
            answer = self._run(workspace, parse_timespan(timespan), *parse_query(kql))
        except KqlError as exc:
            return 400, bad_argument(exc.kind, str(exc)), []
        if fault is not None:   # la_partial: a shard timed out, half the rows are missing
            rows = answer["tables"][0]["rows"]
            del rows[len(rows) // 2:]
            answer["error"] = partial_error("-2133196794", (
                "Partial query failure: the query timed out on one of the nodes "
                "(E_QUERY_TIMEOUT; see https://aka.ms/kustoquerylimits)"))
        return 200, answer, []

    @staticmethod
    def _fault_answer(name, params):
        if name == "la_forbidden":
            return 403, la_error("InsufficientAccessError", "The provided credentials have "
                                 "insufficient access to perform the requested operation"), []
        if name == "la_query_error":
            return 400, bad_argument("syntax", "Query could not be parsed at '|' on line [3,0]"), []
        headers = []
        retry_after = params.get("retry_after", 2 if name == "la_throttled" else None)
        if retry_after is not None:
            headers.append(("Retry-After", str(int(retry_after))))
        if name == "la_throttled":
            return 429, la_error("ThrottledError", "Your request was throttled: too many "
                                 "requests. Please retry later."), headers
        return int(params.get("status", 503)), la_error(
            "ServiceError", "The service is temporarily unavailable. Please retry."), headers

    def _run(self, workspace, window, fuzzy, legs):
        """The 200 answer of a parsed query against one workspace."""
        present = [leg for leg in legs if leg.table in workspace.tables]
        missing = [leg.table for leg in legs if leg.table not in workspace.tables]
        if missing and (not fuzzy or not present):
            what = "'union' operator: Failed to resolve table expression" if len(legs) > 1 \
                else "Failed to resolve table or column expression"
            raise KqlError("semantic", "%s named '%s'" % (what, missing[0]))
        columns = {}   # output name -> type, in first-seen order
        for leg in present:
            for p in self._projections(leg):
                kind = "string" if p.to_string else SCHEMAS[leg.table][p.source]
                columns.setdefault(p.name, kind)
        keyed = []
        for leg in present:
            projections = self._projections(leg)
            for rec in self._matching(workspace, leg, window):
                row = dict.fromkeys(columns)
                for p in projections:
                    value = cell(rec, p.source, leg.table, workspace)
                    row[p.name] = as_string(value) if p.to_string else value
                # Log Analytics promises no order: a stable shuffle keeps tests repeatable.
                key = hashlib.sha256(("%s/%s" % (leg.table, rec.id)).encode()).hexdigest()
                keyed.append((key, list(row.values())))
        keyed.sort(key=lambda item: item[0])
        rows = [row for _, row in keyed]
        answer = {"tables": [{"name": "PrimaryResult",
                              "columns": [{"name": n, "type": t} for n, t in columns.items()],
                              "rows": rows[:self.row_limit]}]}
        if len(rows) > self.row_limit:
            answer["error"] = partial_error("-2133196797", (
                "Query result set has exceeded the internal record count limit %d "
                "(E_QUERY_RESULT_SET_TOO_LARGE; see https://aka.ms/kustoquerylimits)")
                % self.row_limit)
        return answer

    @staticmethod
    def _projections(leg):
        schema = SCHEMAS.get(leg.table, {})
        for p in leg.projections:
            if p.source not in schema:
                raise KqlError("semantic", "Failed to resolve scalar expression named '%s'"
                               % p.source)
        return leg.projections

    def _matching(self, workspace, leg, window):
        for rec in self.records():
            tables = {TABLE_OF_EVENT_TYPE.get(t) for t in rec.data.get("signInEventTypes") or
                      ["nonInteractiveUser"]}
            if leg.table in tables and workspace.holds(rec) and \
                    inside(rec.created, window, leg.bounds):
                yield rec
