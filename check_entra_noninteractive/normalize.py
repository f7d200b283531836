"""Map a raw sign-in record, in each shape a source delivers, to one flat row.

Tolerant by design: missing, null or ``{}`` fields, ``unknownFutureValue``, enum values in
camelCase or in the portal's words ("Not Applied"), error codes as numbers or strings.
Every row has exactly the keys of ``COLUMNS``; text columns are never None.
"""

import decimal
import functools
import hashlib
import json
import re

from . import timeutil
from .window import EVENT_BITS, event_mask

COLUMNS = (
    "id", "created", "event_mask", "success", "error_code", "error_text", "failure_reason",
    "ip", "city", "state", "country",
    "app_id", "app_name", "resource_id", "resource_name",
    "user_id", "user_upn", "user_name", "sp_id", "sp_name",
    "client_app", "auth_requirement", "ca_status", "ca_policies",
    "risk_level", "risk_state", "risk_events",
    "protocol", "incoming_token_type", "client_credential_type", "user_agent",
)

# Canonical spellings, keyed by the value squashed to lowercase letters and digits, so that
# "Not Applied", "notApplied" and "not_applied" are one value.
_CANONICAL = {}
for _value in (
    "success", "failure", "notApplied", "unknownFutureValue",
    "singleFactorAuthentication", "multiFactorAuthentication",
    "none", "low", "medium", "high", "hidden", "unknown",
    "atRisk", "confirmedCompromised", "confirmedSafe", "remediated", "dismissed",
    "nonInteractiveUser", "interactiveUser", "servicePrincipal", "managedIdentity",
    "oAuth2", "ropc", "wsFederation", "saml20", "deviceCode", "authenticationTransfer",
    "nativeAuth", "primaryRefreshToken", "refreshToken", "saml11", "remoteDesktopToken",
    "clientSecret", "clientAssertion", "federatedIdentityCredential", "certificate",
    "notEnabled", "reportOnlySuccess", "reportOnlyFailure", "reportOnlyNotApplied",
    "reportOnlyInterrupted",
):
    _CANONICAL["".join(c for c in _value.lower() if c.isalnum())] = _value
# The portal's words that do not squash to the API's value.
_CANONICAL.update({
    "singlefactor": "singleFactorAuthentication",
    "multifactor": "multiFactorAuthentication",
    "mfa": "multiFactorAuthentication",
    "nonemfa": "singleFactorAuthentication",
})


def enum(value):
    """Canonical spelling of an enum value; unknown values are kept as they are."""
    return _canonical(_text(value))


@functools.lru_cache(maxsize=4096)
def _canonical(text):
    # Enum values repeat in every record: the cache makes this a dict lookup.
    return _CANONICAL.get("".join(c for c in text.lower() if c.isalnum()), text)


def _text(value):
    if value is None or isinstance(value, (dict, list)):
        return ""
    return str(value).strip()


def _obj(value):
    """A nested object that may be missing, null, or a string holding JSON."""
    if isinstance(value, str) and value.strip().startswith("{"):
        try:
            value = json.loads(value)
        except ValueError:
            return {}
    return value if isinstance(value, dict) else {}


def _list(value):
    if isinstance(value, str) and value.strip().startswith("["):
        try:
            value = json.loads(value)
        except ValueError:
            return []
    return value if isinstance(value, list) else []


# The largest error code the store keeps as a number (SQLite's INTEGER is 64-bit).
_MAX_CODE = 2 ** 63 - 1
UNNAMED_CODE = -1
# A number in plain ASCII decimal notation (sign, fraction and exponent allowed).
_DECIMAL = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


def error_status(value):
    """(success, code, text) for an error code in whatever shape the log gives it.

    Success only for 0 (as a number, or text such as "0", " 00 ", "+0", "0.0") or no code
    at all (missing, null, '', {}). Anything else is a failure: a whole number is kept as it
    is; a fraction, a huge number, Infinity, NaN or text is the failure ``UNNAMED_CODE``
    with its raw text kept (cut to 100 characters) for the detailed diagnosis.
    """
    if isinstance(value, bool):
        return 0, UNNAMED_CODE, "true" if value else "false"
    if isinstance(value, (dict, list)):
        if not value:
            return 1, 0, ""
        return 0, UNNAMED_CODE, json.dumps(value, default=str)[:100]
    if isinstance(value, int):
        if abs(value) <= _MAX_CODE:
            return (1 if value == 0 else 0), value, ""
        try:
            return 0, UNNAMED_CODE, str(value)[:100]
        except ValueError:  # more digits than int -> str allows
            return 0, UNNAMED_CODE, "(a number of %d bits)" % value.bit_length()
    text = _text(value)
    if not text:
        return 1, 0, ""
    # Plain ASCII decimal notation only, read exactly: float() would take "0_0" or "\u0660"
    # for 0, round "1e-400" to 0, and int() refuses more than 4300 digits.
    if not _DECIMAL.fullmatch(text):
        return 0, UNNAMED_CODE, text[:100]
    try:
        number = decimal.Decimal(text)
        if number.is_zero():
            return 1, 0, ""
        if abs(number) > _MAX_CODE or number != number.to_integral_value():
            return 0, UNNAMED_CODE, text[:100]
        return 0, int(number), ""
    except ArithmeticError:  # decimal.InvalidOperation, Overflow: an exponent out of range
        return 0, UNNAMED_CODE, text[:100]


def _synthetic_id(raw):
    # Records without an id still need a stable key so re-reading a file never double-counts.
    blob = json.dumps(raw, sort_keys=True, default=str).encode("utf-8")
    return "sha1-" + hashlib.sha1(blob).hexdigest()


def _policies(value):
    policies = []
    for item in _list(value):
        if isinstance(item, dict):
            policies.append([_text(item.get("id")), _text(item.get("displayName")),
                             enum(item.get("result"))])
    return json.dumps(policies) if policies else ""


def _risk_events(record):
    return _risk_event_list(record.get("riskEventTypes_v2")) or \
        _risk_event_list(record.get("riskEventTypes"))


def _risk_event_list(value):
    events = [_text(e) for e in _list(value) if _text(e)]
    return json.dumps(events) if events else ""


def _event_mask(record):
    """Bits of every listed event type; without a known one, what isInteractive says."""
    mask = event_mask(enum(t) for t in _list(record.get("signInEventTypes")))
    if mask:
        return mask
    if record.get("isInteractive") is True:
        return EVENT_BITS["interactiveUser"]
    return EVENT_BITS["nonInteractiveUser"]


def from_graph(record):
    """A Microsoft Graph (beta) signIn resource, or the portal's JSON download of it."""
    if not isinstance(record, dict):
        raise ValueError("a sign-in record must be a JSON object, not %s"
                         % type(record).__name__)
    created = record.get("createdDateTime")
    if not created:
        raise ValueError("sign-in record without createdDateTime")
    status = _obj(record.get("status"))
    success, code, code_text = error_status(status.get("errorCode"))
    location = _obj(record.get("location"))
    return {
        "id": _text(record.get("id")) or _synthetic_id(record),
        "created": timeutil.to_store(timeutil.parse_time(created)),
        "event_mask": _event_mask(record),
        "success": success,
        "error_code": code,
        "error_text": code_text,
        "failure_reason": _text(status.get("failureReason")),
        "ip": _text(record.get("ipAddress")),
        "city": _text(location.get("city")),
        "state": _text(location.get("state")),
        "country": _text(location.get("countryOrRegion")),
        "app_id": _text(record.get("appId")),
        "app_name": _text(record.get("appDisplayName")),
        "resource_id": _text(record.get("resourceId")),
        "resource_name": _text(record.get("resourceDisplayName")),
        "user_id": _text(record.get("userId")),
        "user_upn": _text(record.get("userPrincipalName")),
        "user_name": _text(record.get("userDisplayName")),
        "sp_id": _text(record.get("servicePrincipalId")),
        "sp_name": _text(record.get("servicePrincipalName")),
        "client_app": _text(record.get("clientAppUsed")),
        "auth_requirement": enum(record.get("authenticationRequirement")),
        "ca_status": enum(record.get("conditionalAccessStatus")),
        "ca_policies": _policies(record.get("appliedConditionalAccessPolicies")),
        "risk_level": enum(record.get("riskLevelDuringSignIn")),
        "risk_state": enum(record.get("riskState")),
        "risk_events": _risk_events(record),
        "protocol": enum(record.get("authenticationProtocol")),
        "incoming_token_type": enum(record.get("incomingTokenType")),
        "client_credential_type": enum(record.get("clientCredentialType")),
        "user_agent": _text(record.get("userAgent")),
    }


# Log Analytics' sign-in tables -> the event type each holds.
_TABLE_EVENT_TYPES = {
    "aadnoninteractiveusersigninlogs": "nonInteractiveUser",
    "aadserviceprincipalsigninlogs": "servicePrincipal",
    "aadmanagedidentitysigninlogs": "managedIdentity",
    "signinlogs": "interactiveUser",
}
_WORKLOADS = ("servicePrincipal", "managedIdentity")


def from_log_analytics(row):
    """A row of Log Analytics' sign-in tables (columns by name; JSON columns as strings
    or objects; a column the table lacks may be missing or null)."""
    get = row.get
    created = get("TimeGenerated")
    if not created:
        raise ValueError("sign-in row without TimeGenerated")
    status = _obj(get("Status"))
    code = get("ResultType")
    if code in (None, ""):
        code = status.get("errorCode")
    success, code, code_text = error_status(code)
    location = _obj(get("LocationDetails"))
    event_type = _TABLE_EVENT_TYPES.get(_text(get("Type")).lower(), "nonInteractiveUser")
    requirement = get("AuthenticationRequirement")
    if requirement is None and event_type in _WORKLOADS:
        # The workload tables have no such column: an app or managed identity signs in
        # with one credential, which Graph reports as single-factor.
        requirement = "singleFactorAuthentication"
    return {
        "id": _text(get("Id")) or _synthetic_id(row),
        "created": timeutil.to_store(timeutil.parse_time(created)),
        "event_mask": EVENT_BITS[event_type],
        "success": success,
        "error_code": code,
        "error_text": code_text,
        "failure_reason": _text(status.get("failureReason")) or _text(get("ResultDescription")),
        "ip": _text(get("IPAddress")),
        "city": _text(location.get("city")),
        "state": _text(location.get("state")),
        "country": _text(location.get("countryOrRegion")),
        "app_id": _text(get("AppId")),
        "app_name": _text(get("AppDisplayName")) or _text(get("ServicePrincipalName")),
        "resource_id": _text(get("ResourceIdentity")),
        "resource_name": _text(get("ResourceDisplayName")),
        "user_id": _text(get("UserId")),
        "user_upn": _text(get("UserPrincipalName")),
        "user_name": _text(get("UserDisplayName")),
        "sp_id": _text(get("ServicePrincipalId")),
        "sp_name": _text(get("ServicePrincipalName")),
        "client_app": _text(get("ClientAppUsed")),
        "auth_requirement": enum(requirement),
        "ca_status": enum(get("ConditionalAccessStatus")),
        "ca_policies": _policies(get("ConditionalAccessPolicies")),
        "risk_level": enum(get("RiskLevelDuringSignIn")),
        "risk_state": enum(get("RiskState")),
        "risk_events": _risk_event_list(get("RiskEventTypes_V2")),
        "protocol": enum(get("AuthenticationProtocol")),
        "incoming_token_type": enum(get("IncomingTokenType")),
        "client_credential_type": enum(get("ClientCredentialType")),
        "user_agent": _text(get("UserAgent")),
    }


# The portal's CSV download ("Download" > CSV on the sign-in logs blade). Headers are matched
# case-insensitively with spaces folded; each canonical key lists the header variants seen.
CSV_HEADERS = {
    "created": ("date (utc)", "date", "created date (utc)", "createddatetime"),
    "id": ("request id", "id"),
    "user_agent": ("user agent",),
    "user_id": ("user id",),
    "user_name": ("user",),
    "user_upn": ("username", "user principal name"),
    "sp_id": ("service principal id",),
    "sp_name": ("service principal name",),
    "incoming_token_type": ("incoming token type",),
    "protocol": ("authentication protocol",),
    "client_credential_type": ("client credential type",),
    "app_name": ("application",),
    "app_id": ("application id",),
    "resource_name": ("resource",),
    "resource_id": ("resource id",),
    "ip": ("ip address",),
    "location": ("location",),
    "status": ("status",),
    "error_code": ("sign-in error code", "sign in error code", "error code"),
    "failure_reason": ("failure reason",),
    "client_app": ("client app",),
    "auth_requirement": ("authentication requirement",),
    "ca_status": ("conditional access",),
    "risk_level": ("risk level (during sign-in)", "risk level (sign-in)", "risk level"),
    "risk_state": ("risk state",),
    "event_type": ("sign-in event type", "signineventtypes"),
}
_CSV_LOOKUP = {variant: key for key, variants in CSV_HEADERS.items() for variant in variants}


def csv_header_map(headers):
    """Map the CSV's header list to canonical keys; raises ValueError if it isn't an export."""
    mapping = {}
    for header in headers:
        key = _CSV_LOOKUP.get(" ".join(str(header).strip().lstrip("\ufeff").lower().split()))
        if key and key not in mapping.values():
            mapping[header] = key
    if "created" not in mapping.values():
        raise ValueError("CSV without a 'Date (UTC)' column: not a sign-in log export")
    return mapping


def _split_location(text):
    parts = [p.strip() for p in text.split(",")]
    if len(parts) >= 3:
        return ", ".join(parts[:-2]), parts[-2], parts[-1]
    if len(parts) == 2:
        return parts[0], "", parts[1]
    return "", "", parts[0]


def from_portal_csv(values):
    """One CSV row, already keyed by canonical names (see csv_header_map)."""
    get = lambda key: _text(values.get(key))  # noqa: E731 - a local shorthand
    if not get("created"):
        raise ValueError("CSV row without a date")
    success, code, code_text = error_status(get("error_code"))
    if not get("error_code") and get("status").lower() in ("failure", "interrupted"):
        # The portal's Status column without an error code: a failure we can't name.
        success, code = 0, UNNAMED_CODE
    city, state, country = _split_location(get("location"))
    return {
        "id": get("id") or _synthetic_id(values),
        "created": timeutil.to_store(timeutil.parse_time(get("created"))),
        "event_mask": (event_mask([enum(get("event_type"))])
                       or EVENT_BITS["nonInteractiveUser"]),
        "success": success,
        "error_code": code,
        "error_text": code_text,
        "failure_reason": get("failure_reason"),
        "ip": get("ip"),
        "city": city,
        "state": state,
        "country": country,
        "app_id": get("app_id"),
        "app_name": get("app_name"),
        "resource_id": get("resource_id"),
        "resource_name": get("resource_name"),
        "user_id": get("user_id"),
        "user_upn": get("user_upn"),
        "user_name": get("user_name"),
        "sp_id": get("sp_id"),
        "sp_name": get("sp_name"),
        "client_app": get("client_app"),
        "auth_requirement": enum(get("auth_requirement")),
        "ca_status": enum(get("ca_status")),
        "ca_policies": "",
        "risk_level": enum(get("risk_level")),
        "risk_state": enum(get("risk_state")),
        "risk_events": "",
        "protocol": enum(get("protocol")),
        "incoming_token_type": enum(get("incoming_token_type")),
        "client_credential_type": enum(get("client_credential_type")),
        "user_agent": get("user_agent"),
    }
