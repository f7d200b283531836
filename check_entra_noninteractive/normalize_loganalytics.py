"""Map a row of Log Analytics' sign-in tables to the stored row (see ``normalize``).

Owns the column names of those tables, which event type each table holds, and what a
workload table leaves out; the tolerant helpers and caches are normalize's.
"""

from .normalize import (UNLISTED_EVENT_TYPE, _MAX_CODE, _ROW, _TIMES, _applied_policies,
                        _code_status, _object, _risk_event_list, _set_enum_columns, _synthetic_id,
                        _text, stored_time)
from .window import EVENT_BITS

# Log Analytics' sign-in tables -> the event type each holds.
_TABLE_EVENT_TYPES = {
    "aadnoninteractiveusersigninlogs": "nonInteractiveUser",
    "aadserviceprincipalsigninlogs": "servicePrincipal",
    "aadmanagedidentitysigninlogs": "managedIdentity",
    "signinlogs": "interactiveUser",
}
_WORKLOADS = ("servicePrincipal", "managedIdentity")


def from_log_analytics(record):
    """A row of Log Analytics' sign-in tables (columns by name; JSON columns as strings
    or objects; a column the table lacks may be missing or null)."""
    get = record.get
    created = get("TimeGenerated")
    if not created:
        raise ValueError("sign-in row without TimeGenerated")
    status = _object(get("Status"))
    code = get("ResultType")
    if code in (None, ""):
        code = status.get("errorCode")
    if type(code) is int and -_MAX_CODE <= code <= _MAX_CODE:
        success, code_text = (1 if code == 0 else 0), ""
    else:
        success, code, code_text = _code_status(code)
    location = _object(get("LocationDetails"))
    table = v.strip() if type(v := get("Type")) is str else _text(v)
    event_type = _TABLE_EVENT_TYPES.get(table.lower(), UNLISTED_EVENT_TYPE)
    requirement = get("AuthenticationRequirement")
    if requirement is None and event_type in _WORKLOADS:
        # The workload tables have no such column: an app or managed identity signs in
        # with one credential, which Graph reports as single-factor.
        requirement = "singleFactorAuthentication"
    row = _ROW.copy()
    row["id"] = (v.strip() if type(v := get("Id")) is str else _text(v)) or _synthetic_id(record)
    row["created"] = (type(created) is str and _TIMES.get(created)) or stored_time(created)
    row["event_mask"] = EVENT_BITS[event_type]
    row["success"] = success
    row["error_code"] = code
    row["error_text"] = code_text
    row["failure_reason"] = (
        (v.strip() if type(v := status.get("failureReason")) is str else _text(v))
        or (v.strip() if type(v := get("ResultDescription")) is str else _text(v)))
    row["ip"] = v.strip() if type(v := get("IPAddress")) is str else _text(v)
    row["city"] = v.strip() if type(v := location.get("city")) is str else _text(v)
    row["state"] = v.strip() if type(v := location.get("state")) is str else _text(v)
    row["country"] = v.strip() if type(v := location.get("countryOrRegion")) is str else _text(v)
    row["app_id"] = v.strip() if type(v := get("AppId")) is str else _text(v)
    row["app_name"] = (
        (v.strip() if type(v := get("AppDisplayName")) is str else _text(v))
        or (v.strip() if type(v := get("ServicePrincipalName")) is str else _text(v)))
    row["resource_id"] = v.strip() if type(v := get("ResourceIdentity")) is str else _text(v)
    row["resource_name"] = v.strip() if type(v := get("ResourceDisplayName")) is str else _text(v)
    row["user_id"] = v.strip() if type(v := get("UserId")) is str else _text(v)
    row["user_upn"] = v.strip() if type(v := get("UserPrincipalName")) is str else _text(v)
    row["user_name"] = v.strip() if type(v := get("UserDisplayName")) is str else _text(v)
    row["sp_id"] = v.strip() if type(v := get("ServicePrincipalId")) is str else _text(v)
    row["sp_name"] = v.strip() if type(v := get("ServicePrincipalName")) is str else _text(v)
    row["client_app"] = v.strip() if type(v := get("ClientAppUsed")) is str else _text(v)
    _set_enum_columns(row, requirement, get("ConditionalAccessStatus"),
                      get("RiskLevelDuringSignIn"), get("RiskState"),
                      get("AuthenticationProtocol"), get("IncomingTokenType"),
                      get("ClientCredentialType"))
    row["ca_policies"] = _applied_policies(get("ConditionalAccessPolicies"))
    row["risk_events"] = _risk_event_list(v) if (v := get("RiskEventTypes_V2")) else ""
    row["user_agent"] = v.strip() if type(v := get("UserAgent")) is str else _text(v)
    return row
