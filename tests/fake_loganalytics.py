"""Fake Azure Resource Manager (ARM) and Log Analytics query API for FakeMicrosoft.

FakeMicrosoft (fake_microsoft.py) routes ``/management/...`` and ``/loganalytics/...``
here after it has checked the bearer token's audience; this module decides the
answer and returns ``(status, body, headers)``.  It never touches sockets.

ARM (under ``fake.management_url``; every request needs ``api-version``):

  GET /providers/microsoft.aadiam/diagnosticSettings         Entra diagnostic settings
  GET /subscriptions                                         subscriptions the app sees
  GET /subscriptions/{sub}/providers/Microsoft.OperationalInsights/workspaces
  GET /subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.OperationalInsights/
      workspaces/{name}                                      one workspace (ids match in any case)

Log Analytics (under ``fake.log_analytics_url``):

  POST /v1/workspaces/{customerId}/query   {"query": KQL, "timespan": "START/END"}
  GET  /v1/workspaces/{customerId}/query?query=KQL&timespan=...

The fake does NOT run KQL.  It understands exactly the shape the product sends::

    union isfuzzy=true
    (AADNonInteractiveUserSignInLogs
     | where TimeGenerated >= datetime(2026-11-20T08:00:00Z) and TimeGenerated < datetime(...)
     | project Id, TimeGenerated, ResultType = tostring(ResultType), IPAddress),
    (AADServicePrincipalSignInLogs | where ... | project ...)

(one leg may come without ``union``; ``project`` may be left out: all columns), and
answers anything else with a 400 that says what it did not understand, so a product
query that drifts from this shape fails loudly instead of being half-understood.

Rows come from FakeMicrosoft's Graph-shaped sign-in records, mapped to Log Analytics
columns (see ``cell``; TimeGenerated is the sign-in's createdDateTime, with no ingestion
delay).  Each table has the columns Microsoft documents for it (``SCHEMAS``): a
service-principal leg that projects ``UserPrincipalName`` fails as it would in Azure.
"""

import dataclasses
import hashlib
import json
import re
import uuid
from datetime import datetime, timedelta, timezone

# Fault names FakeMicrosoft's FaultSwitches accept for these services.
ARM_FAULTS = ("aadiam_forbidden", "arm_forbidden")
LA_FAULTS = ("la_forbidden", "la_throttled", "la_server_error", "la_partial", "la_query_error")

NONINTERACTIVE = "AADNonInteractiveUserSignInLogs"
SERVICE_PRINCIPAL = "AADServicePrincipalSignInLogs"
MANAGED_IDENTITY = "AADManagedIdentitySignInLogs"
INTERACTIVE = "SigninLogs"
DEFAULT_TABLES = (NONINTERACTIVE, SERVICE_PRINCIPAL, MANAGED_IDENTITY)

# Graph signInEventTypes value -> the table Entra's diagnostic setting sends it to.
TABLE_OF_EVENT_TYPE = {"nonInteractiveUser": NONINTERACTIVE, "servicePrincipal": SERVICE_PRINCIPAL,
                       "managedIdentity": MANAGED_IDENTITY, "interactiveUser": INTERACTIVE}
CATEGORY_OF_TABLE = {NONINTERACTIVE: "NonInteractiveUserSignInLogs",
                     SERVICE_PRINCIPAL: "ServicePrincipalSignInLogs",
                     MANAGED_IDENTITY: "ManagedIdentitySignInLogs", INTERACTIVE: "SignInLogs"}
DEFAULT_LOGS = {category: True for category in CATEGORY_OF_TABLE.values()}
DEFAULT_SUBSCRIPTION = "11111111-1111-1111-1111-111111111111"
WORKSPACE_TYPE = "Microsoft.OperationalInsights/workspaces"
AADIAM_API_VERSIONS = ("2017-04-01", "2017-04-01-preview")

# --------------------------------------------------------------------------
# Table schemas: the documented columns without the hidden _ ones; the same as
# tests/kql/tables.json (which says where each comes from), and a test keeps them so.
# --------------------------------------------------------------------------

_WORKLOAD_COLUMNS = """
    AADTenantId Agent AppId AppOwnerTenantId AuthenticationContextClassReferences
    AuthenticationProcessingDetails Category ClientCredentialType ConditionalAccessAudiences
    ConditionalAccessPolicies ConditionalAccessStatus CorrelationId CreatedDateTime
    DurationMs FederatedCredentialId Id Identity IPAddress Level Location LocationDetails
    NetworkLocationDetails OperationName OperationVersion ResourceDisplayName ResourceGroup
    ResourceIdentity ResourceOwnerTenantId ResourceServicePrincipalId ResultDescription
    ResultSignature ResultType ServicePrincipalCredentialKeyId
    ServicePrincipalCredentialThumbprint ServicePrincipalId ServicePrincipalName SessionId
    SourceSystem TenantId TimeGenerated Type UniqueTokenIdentifier UserAgent"""
_USER_COLUMNS = """
    AADTenantId Agent AlternateSignInName AppDisplayName AppId AppliedEventListeners
    AppOwnerTenantId AuthenticationContextClassReferences AuthenticationDetails
    AuthenticationMethodsUsed AuthenticationProcessingDetails AuthenticationProtocol
    AuthenticationRequirement AuthenticationRequirementPolicies AutonomousSystemNumber
    Category ClientAppUsed ClientCredentialType ConditionalAccessPolicies
    ConditionalAccessStatus CorrelationId CreatedDateTime CrossTenantAccessType DeviceDetail
    DurationMs FederatedCredentialId GlobalSecureAccessIpAddress HomeTenantId HomeTenantName
    Id Identity IncomingTokenType IPAddress IsInteractive IsRisky IsTenantRestricted
    IsThroughGlobalSecureAccess Level Location LocationDetails MfaDetail
    NetworkLocationDetails OperationName OperationVersion OriginalRequestId
    OriginalTransferMethod ResourceDisplayName ResourceGroup ResourceIdentity
    ResourceOwnerTenantId ResourceServicePrincipalId ResourceTenantId ResultDescription
    ResultSignature ResultType RiskDetail RiskEventTypes RiskEventTypes_V2
    RiskLevelAggregated RiskLevelDuringSignIn RiskState ServicePrincipalId SessionId
    SessionLifetimePolicies SignInIdentifierType SourceSystem Status TenantId TimeGenerated
    TokenIssuerName TokenIssuerType TokenProtectionStatusDetails Type UniqueTokenIdentifier
    UserAgent UserDisplayName UserId UserPrincipalName UserType"""
_NONINTERACTIVE_ONLY = """
    AuthenticatorAppLocation ClientSessionId ConditionalAccessAudiences ProcessingTimeInMs
    SignInEventTypes"""
_INTERACTIVE_ONLY = """
    AppliedConditionalAccessPolicies AuthenticationAppDeviceDetails
    AuthenticationAppPolicyEvaluationDetails AuthenticatorAppLocation ClientSessionId
    ConditionalAccessAudiences FlaggedForReview IPAddressFromResourceProvider
    ProcessingTimeInMilliseconds Resource ResourceId ResourceProvider RiskLevel RootActorID
    ServicePrincipalName SignInIdentifier SourceAppClientId"""

_NOT_STRING = {"TimeGenerated": "datetime", "CreatedDateTime": "datetime", "DurationMs": "long",
               "IsInteractive": "bool", "IsRisky": "bool", "IsTenantRestricted": "bool",
               "IsThroughGlobalSecureAccess": "bool", "FlaggedForReview": "bool",
               "AppliedEventListeners": "dynamic"}
# SigninLogs keeps these as dynamic; the non-interactive table stores the same JSON as strings.
_INTERACTIVE_DYNAMIC = ("Agent ConditionalAccessPolicies DeviceDetail LocationDetails "
                        "MfaDetail Status TokenProtectionStatusDetails")


def _schema(*lists, dynamic=""):
    types = dict(_NOT_STRING, **dict.fromkeys(dynamic.split(), "dynamic"))
    names = {name for names in lists for name in names.split()}
    return {name: types.get(name, "string") for name in sorted(names)}


SCHEMAS = {
    NONINTERACTIVE: _schema(_USER_COLUMNS, _NONINTERACTIVE_ONLY),
    INTERACTIVE: _schema(_USER_COLUMNS, _INTERACTIVE_ONLY, dynamic=_INTERACTIVE_DYNAMIC),
    SERVICE_PRINCIPAL: _schema(_WORKLOAD_COLUMNS, "AutonomousSystemNumber"),
    MANAGED_IDENTITY: _schema(_WORKLOAD_COLUMNS, "ManagedServiceIdentity SourceAppClientId"),
}

# --------------------------------------------------------------------------
# Graph record -> Log Analytics cell
# --------------------------------------------------------------------------

# Columns whose Graph field is not simply the column name with a lower-case first letter.
_GRAPH_FIELD = {"Id": "id", "IPAddress": "ipAddress", "LocationDetails": "location",
                "Location": "location/countryOrRegion", "ResourceIdentity": "resourceId",
                "ResultDescription": "status/failureReason",
                "ConditionalAccessPolicies": "appliedConditionalAccessPolicies",
                "RiskEventTypes_V2": "riskEventTypes_v2",
                "ProcessingTimeInMs": "processingTimeInMilliseconds"}


def _dig(data, path):
    for part in path.split("/"):
        if not isinstance(data, dict):
            return None
        data = data.get(part)
    return data


def _result_type(data):
    code = _dig(data, "status/errorCode")
    return "" if code is None else str(code)


# Columns Log Analytics fills itself rather than copying from the Graph record.
_COMPUTED = {
    "Type": lambda rec, table, ws: table,
    "Category": lambda rec, table, ws: CATEGORY_OF_TABLE.get(table, ""),
    "OperationName": lambda rec, table, ws: "Sign-in activity",
    "TenantId": lambda rec, table, ws: ws.customer_id,
    "SourceSystem": lambda rec, table, ws: "Azure",
    "ResultType": lambda rec, table, ws: _result_type(rec.data),
    "Identity": lambda rec, table, ws: (rec.data.get("userDisplayName")
                                        or rec.data.get("servicePrincipalName")),
    "TimeGenerated": lambda rec, table, ws: _record_time(rec),
    "CreatedDateTime": lambda rec, table, ws: _record_time(rec),
}


def la_datetime(value):
    """Log Analytics' rendering of a datetime: 7 fraction digits and Z."""
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"


def _record_time(rec):
    # Python keeps microseconds; Graph's 7th fraction digit is taken from the record.
    seventh = re.search(r"\.\d{6}(\d)", str(rec.data.get("createdDateTime", "")))
    return la_datetime(rec.created)[:-2] + (seventh.group(1) if seventh else "0") + "Z"


def _compact_json(value):
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def cell(rec, column, table, workspace):
    """The value of ``column`` for record ``rec`` (has .data, .created) as the query
    API returns it: JSON held in string columns is a string; missing strings are ""."""
    kind = SCHEMAS[table][column]
    compute = _COMPUTED.get(column)
    if compute is not None:
        value = compute(rec, table, workspace)
    else:
        value = _dig(rec.data, _GRAPH_FIELD.get(column, column[0].lower() + column[1:]))
    if kind == "datetime":
        return value
    if kind in ("bool", "long"):
        return None if value is None else (bool(value) if kind == "bool" else int(value))
    if kind == "dynamic":
        # The query API serialises dynamic values as JSON text as well.
        return None if value is None else value if isinstance(value, str) else _compact_json(value)
    return as_string(value)


def as_string(value):
    """KQL tostring(): null -> "", true -> "true", JSON text unchanged."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return _compact_json(value)
    return str(value)


# --------------------------------------------------------------------------
# Time: ISO 8601 instants, durations, the request's timespan
# --------------------------------------------------------------------------

class KqlError(ValueError):
    """A request Log Analytics answers with 400 BadArgumentError."""

    def __init__(self, kind, message):
        super().__init__(message)
        self.kind = kind   # "syntax", "semantic" or "validation"


def parse_instant(text):
    value = datetime.fromisoformat(text.strip())
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value


_DURATION = re.compile(r"^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$")


def parse_duration(text):
    m = _DURATION.match(text.strip())
    if not m or not any(m.groups()):
        raise ValueError("not a duration: %r" % text)
    days, hours, minutes, seconds = (float(g or 0) for g in m.groups())
    return timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)


def parse_timespan(text, now=None):
    """(start, end) of ``START/END``, ``START/DURATION``, ``DURATION/END`` or ``DURATION``
    (ending now); None when there is no timespan."""
    if not text:
        return None
    try:
        if "/" not in text:
            end = now or datetime.now(timezone.utc)
            return end - parse_duration(text), end
        first, second = text.split("/", 1)
        if first.strip().upper().startswith("P"):
            end = parse_instant(second)
            return end - parse_duration(first), end
        start = parse_instant(first)
        if second.strip().upper().startswith("P"):
            return start, start + parse_duration(second)
        return start, parse_instant(second)
    except ValueError:
        raise KqlError("validation", "Failed parsing timespan '%s'" % text)


# --------------------------------------------------------------------------
# The query shape the fake understands
# --------------------------------------------------------------------------

@dataclasses.dataclass
class Projection:
    name: str          # output column
    source: str        # table column it comes from
    to_string: bool    # wrapped in tostring()


@dataclasses.dataclass
class Leg:
    table: str
    bounds: list       # [(operator, datetime)] on TimeGenerated, all must hold
    projections: list  # [Projection], or None without a project (all columns)


def _top_level(text):
    """Indices of the characters outside parentheses and string literals.  Tracking
    the depth is what lets ``datetime(...)`` and ``tostring(...)`` nest safely."""
    depth, quote, i = 0, None, 0
    while i < len(text):
        ch = text[i]
        if quote:
            if ch == "\\":
                i += 1
            elif ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
        elif ch == ")":
            depth -= 1
            if depth < 0:
                raise KqlError("syntax", "Query could not be parsed at ')': unbalanced")
        else:
            if depth == 0:
                yield i
            if ch == "(":
                depth += 1
        i += 1
    if depth or quote:
        raise KqlError("syntax", "Query could not be parsed: unbalanced parentheses or quotes")


def split_top(text, separator):
    """Split ``text`` where the regex ``separator`` matches at the top level."""
    pattern = re.compile(separator)
    parts, start = [], 0
    for i in _top_level(text):
        if i < start:
            continue
        m = pattern.match(text, i)
        if m and m.end() > i:
            parts.append(text[start:i])
            start = m.end()
    parts.append(text[start:])
    return parts


def _unwrap(text):
    """``(inner)`` -> ``inner`` when the parentheses enclose the whole text."""
    text = text.strip()
    if text.startswith("(") and list(_top_level(text)) == [0]:
        return text[1:-1].strip()
    return text


_UNION = re.compile(r"\s*union\b(?P<options>(?:\s+\w+\s*=\s*\w+)*)")
_NAME = r"[A-Za-z_]\w*"
_CONDITION = re.compile(
    r"^(TimeGenerated|CreatedDateTime)\s*(>=|<=|>|<)\s*datetime\(\s*([^()]*?)\s*\)$")
_ITEM = re.compile(r"^(%s)(?:\s*=(?!=)\s*(.+))?$" % _NAME, re.S)


def parse_query(text):
    """(isfuzzy, [Leg]) of the product's query shape; KqlError otherwise."""
    text = re.sub(r"//[^\n]*", "", text or "").strip()
    if not text:
        raise KqlError("syntax", "Query could not be parsed: the query is empty")
    m = _UNION.match(text)
    if not m:
        return False, [_parse_leg(text)]
    options = dict(re.findall(r"(\w+)\s*=\s*(\w+)", m.group("options")))
    unknown = set(options) - {"isfuzzy"}
    if unknown:
        raise KqlError("syntax", "The fake does not understand union option(s) %s"
                       % sorted(unknown))
    fuzzy = options.get("isfuzzy", "false").lower() == "true"
    return fuzzy, [_parse_leg(leg) for leg in split_top(text[m.end():], ",")]


def _parse_leg(text):
    stages = split_top(_unwrap(text), r"\|")
    table = stages[0].strip()
    if not re.fullmatch(_NAME, table):
        raise KqlError("syntax", "The fake does not understand '%s': expected a table name"
                       % table)
    leg = Leg(table, [], None)
    for stage in stages[1:]:
        operator, rest = re.match(r"(\w*)\s*(.*)", stage.strip(), re.S).groups()
        if operator == "where":
            leg.bounds += [_parse_condition(c) for c in split_top(rest, r"\s+and\s+")]
        elif operator == "project" and leg.projections is None:
            leg.projections = [_parse_item(item) for item in split_top(rest, ",")]
        else:
            raise KqlError("syntax", "The fake does not understand the stage '| %s'"
                           % stage.strip())
    return leg


def _parse_condition(text):
    m = _CONDITION.match(text.strip())
    if not m:
        raise KqlError("syntax", "The fake cannot evaluate the condition '%s'" % text.strip())
    try:
        return m.group(2), parse_instant(m.group(3))
    except ValueError:
        raise KqlError("syntax", "Query could not be parsed at 'datetime(%s)'" % m.group(3))


def _parse_item(text):
    m = _ITEM.match(text.strip())
    if not m:
        raise KqlError("syntax", "The fake cannot evaluate the projection '%s'" % text.strip())
    name, expression = m.group(1), (m.group(2) or m.group(1)).strip()
    wrapped = re.fullmatch(r"tostring\(\s*(%s)\s*\)" % _NAME, expression)
    if wrapped:
        return Projection(name, wrapped.group(1), True)
    if re.fullmatch(_NAME, expression):
        return Projection(name, expression, False)
    raise KqlError("syntax", "The fake cannot evaluate the expression '%s'" % expression)


_COMPARE = {">=": lambda a, b: a >= b, ">": lambda a, b: a > b,
            "<=": lambda a, b: a <= b, "<": lambda a, b: a < b}


def _inside(when, window, bounds):
    if window is not None and not window[0] <= when < window[1]:
        return False
    return all(_COMPARE[op](when, limit) for op, limit in bounds)


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
    (objects with .id, .created (aware datetime) and .data (Graph dict)); ``faults``
    is FakeMicrosoft's FaultSwitches.  Attributes may be changed at runtime
    (``fake.azure_monitor.row_limit = 2``).

    workspaces:  ``{"name", "customer_id", "subscription", "resource_group", "tables"
                 (default: the non-interactive, service principal and managed identity
                 tables), "records" ("all" or sign-in ids), "retention_days" (30, only
                 reported), "location"}``; a record is in the tables of its signInEventTypes.
    diagnostic_settings: ``{"name", "workspace" (a workspace name, an ARM id, or None),
                 "storage": bool, "event_hub": bool, "logs": {category: enabled}}``
                 (logs default: the four sign-in categories, enabled).
    subscriptions: what ``GET /subscriptions`` lists and where workspaces may be listed
                 (default: the workspaces' subscriptions); a workspace is readable by its
                 ARM id whatever this says.
    row_limit:   rows per answer; more matching rows -> the first row_limit and a
                 PartialError about E_QUERY_RESULT_SET_TOO_LARGE.
    """

    def __init__(self, records, faults, tenant, workspaces=None, diagnostic_settings=None,
                 row_limit=500000, subscriptions=None):
        self.records = records
        self.faults = faults
        self.tenant = tenant
        self.workspaces = [Workspace.from_config(w) for w in workspaces or []]
        self.row_limit = int(row_limit)
        self.subscriptions = list(subscriptions if subscriptions is not None else dict.fromkeys(
            w.subscription for w in self.workspaces))
        self.diagnostic_settings = [self._setting_json(s) for s in diagnostic_settings or []]

    def workspace(self, name):
        return next(w for w in self.workspaces if w.name == name)

    # -- ARM ------------------------------------------------------------------
    def arm(self, method, path, params, body, client_id, entry):
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
            entry.fault = fault[0]
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
    def query(self, method, path, params, body, client_id, entry):
        """(status, body, headers) for a Log Analytics request (path without the prefix)."""
        parts = path.strip("/").split("/")
        if len(parts) != 4 or parts[0] != "v1" or parts[1].lower() != "workspaces" \
                or parts[3].lower() != "query":
            return 404, la_error("PathNotFoundError", "The requested path does not exist"), []
        if method not in ("GET", "POST"):
            return 405, la_error("MethodNotAllowed", "The fake only answers GET and POST."), []
        try:
            request = params if method == "GET" else json.loads(body or b"null")
            kql, timespan = request.get("query"), request.get("timespan")
        except (ValueError, AttributeError):
            return 400, bad_argument("validation", "The request body is not a JSON object"), []
        # The query and timespan go into the request log, so tests can see what was asked.
        entry.params = dict(entry.params, query=kql, timespan=timespan)
        return self._answer_query(parts[2], kql, timespan, entry)

    def _answer_query(self, customer_id, kql, timespan, entry):

        fault = self.faults.take(LA_FAULTS)
        if fault is not None:
            entry.fault = fault[0]
            if fault[0] != "la_partial":
                return self._fault_answer(entry, *fault)
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

    def _fault_answer(self, entry, name, params):
        if name == "la_forbidden":
            return 403, la_error("InsufficientAccessError", "The provided credentials have "
                                 "insufficient access to perform the requested operation"), []
        if name == "la_query_error":
            return 400, bad_argument("syntax", params.get(
                "message", "Query could not be parsed at '|' on line [3,0]")), []
        headers = []
        retry_after = params.get("retry_after", 2 if name == "la_throttled" else None)
        if retry_after is not None:
            headers.append(("Retry-After", str(int(retry_after))))
            entry.retry_after = int(retry_after)
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
        if leg.projections is None:
            return [Projection(name, name, False) for name in schema]
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
                    _inside(rec.created, window, leg.bounds):
                yield rec
