"""The Log Analytics sign-in tables: Microsoft's documented columns, and a Graph record's
value in each.

Entra's diagnostic setting sends each sign-in to the table of its signInEventTypes
(``TABLE_OF_EVENT_TYPE``).  ``SCHEMAS`` holds each table's documented columns and types
(without the hidden ``_`` ones), the same as tests/kql/tables.json, which says where each
comes from; a test keeps the two equal.  ``cell`` maps a Graph-shaped record to a column's
value as the query API returns it: TimeGenerated is the sign-in's createdDateTime (no
ingestion delay), JSON held in string columns is a string, missing strings are "".
"""

import json
import re
from datetime import timezone

NONINTERACTIVE = "AADNonInteractiveUserSignInLogs"
SERVICE_PRINCIPAL = "AADServicePrincipalSignInLogs"
MANAGED_IDENTITY = "AADManagedIdentitySignInLogs"
INTERACTIVE = "SigninLogs"

# Graph signInEventTypes value -> the table Entra's diagnostic setting sends it to.
TABLE_OF_EVENT_TYPE = {"nonInteractiveUser": NONINTERACTIVE, "servicePrincipal": SERVICE_PRINCIPAL,
                       "managedIdentity": MANAGED_IDENTITY, "interactiveUser": INTERACTIVE}
CATEGORY_OF_TABLE = {NONINTERACTIVE: "NonInteractiveUserSignInLogs",
                     SERVICE_PRINCIPAL: "ServicePrincipalSignInLogs",
                     MANAGED_IDENTITY: "ManagedIdentitySignInLogs", INTERACTIVE: "SignInLogs"}
DEFAULT_LOGS = {category: True for category in CATEGORY_OF_TABLE.values()}

# --------------------------------------------------------------------------
# Table schemas: the documented columns without the hidden _ ones
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

