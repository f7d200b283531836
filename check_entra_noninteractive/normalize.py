"""The stored sign-in row, the tolerant reading of raw values, and Graph's mapping to it.

Owns the row (``COLUMNS``, and which of them hold numbers), the helpers and caches that every
source shape's mapping shares, and ``from_graph`` for Graph's JSON. Log Analytics rows
(``normalize_loganalytics``) and the portal's CSV export (``normalize_portal_csv``) have
their mappings beside it, built from the same parts.

Tolerant by design: missing, null or ``{}`` fields, ``unknownFutureValue``, enum values in
camelCase or in the portal's words ("Not Applied"), error codes as numbers or strings.
Every row has exactly the keys of ``COLUMNS``; text columns are never None.

Each shape has one mapping, one line per column. A file of a million sign-ins goes through
it, so each line first tries the common case inline (a plain string, a known enum spelling,
a nested object that is already an object, a whole-number error code, a ``...Z`` timestamp)
and only an odd value calls the tolerant helper that defines what the column means
(``_text``, ``enum``, ``_obj``, ``error_status``, ``_policies``, ...). The fast paths give
exactly what the helpers give; tests/test_normalize_fast.py pins them to each other.
"""

import decimal
import functools
import hashlib
import json
import operator
import re

from . import timeutil
from .window import DEFAULT_EVENT_TYPES, EVENT_BITS, event_mask

COLUMNS = (
    "id", "created", "event_mask", "success", "error_code", "error_text", "failure_reason",
    "ip", "city", "state", "country",
    "app_id", "app_name", "resource_id", "resource_name",
    "user_id", "user_upn", "user_name", "sp_id", "sp_name",
    "client_app", "auth_requirement", "ca_status", "ca_policies",
    "risk_level", "risk_state", "risk_events",
    "protocol", "incoming_token_type", "client_credential_type", "user_agent",
)
# The columns that hold whole numbers; every other one holds text. "id" names the sign-in:
# a row read again replaces the one with its id (store.SCHEMA is built from these).
INTEGER_COLUMNS = ("event_mask", "success", "error_code")
# Every row starts as a copy of this (a dict display of 31 keys is built in pieces, and
# costs twice as much), then each column is set in order.
_ROW = dict.fromkeys(COLUMNS, "")

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


# ---------------------------------------------------------------------------------------
# What each kind of column means, for any value: the tolerant (slow) path
# ---------------------------------------------------------------------------------------

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


# A record that names no event type (an export of one log) counts as the default type.
UNLISTED_EVENT_TYPE = DEFAULT_EVENT_TYPES[0]


def _event_mask(record):
    """Bits of every listed event type; without a known one, what isInteractive says."""
    mask = event_mask(enum(t) for t in _list(record.get("signInEventTypes")))
    if mask:
        return mask
    if record.get("isInteractive") is True:
        return EVENT_BITS["interactiveUser"]
    return EVENT_BITS[UNLISTED_EVENT_TYPE]


# ---------------------------------------------------------------------------------------
# The common cases, remembered: each cache maps a value to exactly what the tolerant path
# gives for it, and only values of one exact type are keys (1, 1.0 and True are equal
# dictionary keys, but not equal inputs). Bounded: a cache that fills up starts again.
# ---------------------------------------------------------------------------------------

_CACHE_LIMIT = 1024
# Policy lists and JSON columns can be kilobytes each: fewer of them.
_BIG_CACHE_LIMIT = 128
_ENUMS = {}       # str -> enum(str)
_CODES = {}       # str -> error_status(str)
_OBJECTS = {}     # str -> _obj(str); the dicts are shared, read-only
_POLICIES = {}    # JSON str, or tuple of (id, displayName, result) str triples -> _policies
_TIMES = {}       # str -> stored_time(str)
_DAYS = {}        # "YYYY-MM-DD" dates that parse_time accepted -> None
_CACHES = (_ENUMS, _CODES, _OBJECTS, _POLICIES, _TIMES, _DAYS)
# (id, displayName, result) of one applied policy; KeyError or TypeError when odd.
_POLICY_FIELDS = operator.itemgetter("id", "displayName", "result")
# The usual timestamp: "2026-11-20T08:00:01Z", "2026-11-20T08:00:01.1234567Z". Year 1000
# on (earlier years take the tolerant path), times that exist.
_ZULU = re.compile(r"[1-9][0-9]{3}-[0-9]{2}-[0-9]{2}T(?:[01][0-9]|2[0-3]):[0-5][0-9]:"
                   r"[0-5][0-9](?:\.[0-9]{1,9})?Z").fullmatch
# One event type, spelled as the API does -> its bit.
_TYPE_BITS = dict(EVENT_BITS)


def _remember(cache, key, value, limit=_CACHE_LIMIT):
    if len(cache) >= limit:
        cache.clear()
    cache[key] = value


def _enum(value):
    """``enum(value)``, remembered for text (the fast path's lookup next time)."""
    canonical = enum(value)
    if type(value) is str:
        _remember(_ENUMS, value, canonical)
    return canonical


def _code_status(value):
    """``error_status(value)``, remembered for text (CSV and Log Analytics codes)."""
    if type(value) is not str:
        return error_status(value)
    status = _CODES.get(value)
    if status is None:
        status = error_status(value)
        _remember(_CODES, value, status)
    return status


def _object(value):
    """``_obj(value)``, remembered for text (Log Analytics' JSON columns)."""
    if type(value) is dict:
        return value
    if type(value) is not str:
        return _obj(value)
    obj = _OBJECTS.get(value)
    if obj is None:
        obj = _obj(value)
        _remember(_OBJECTS, value, obj, _BIG_CACHE_LIMIT)
    return obj


def _applied_policies(value):
    """``_policies(value)``: a dict lookup for a policy list seen before.

    The key is the JSON text, or the (id, displayName, result) triples of a list of
    objects: all that ``_policies`` reads. Only str triples are remembered.
    """
    if type(value) is list:
        key = None
        try:
            key = tuple(map(_POLICY_FIELDS, value))
            return _POLICIES[key]
        except (KeyError, TypeError):  # an odd item, a field that is no str, or new
            text = _policies(value)
        if key is not None and all(type(f) is str for triple in key for f in triple):
            _remember(_POLICIES, key, text, _BIG_CACHE_LIMIT)
        return text
    if type(value) is str:
        text = _POLICIES.get(value)
        if text is None:
            text = _policies(value)
            _remember(_POLICIES, value, text, _BIG_CACHE_LIMIT)
        return text
    return _policies(value)


def stored_time(value):
    """``timeutil.to_store(timeutil.parse_time(value))``: the store's form of a timestamp;
    ValueError if it is none."""
    if type(value) is not str:
        return timeutil.to_store(timeutil.parse_time(value))
    stored = _TIMES.get(value)
    if stored is None:
        if _ZULU(value) is not None and value[:10] in _DAYS:
            # A date known to exist and a time that does: the digits are the answer.
            if len(value) == 20:
                stored = value[:19] + ".000000Z"
            else:
                stored = value[:19] + "." + value[20:-1][:6].ljust(6, "0") + "Z"
        else:
            stored = timeutil.to_store(timeutil.parse_time(value))
            if _ZULU(value) is not None:
                _remember(_DAYS, value[:10], None)
        _remember(_TIMES, value, stored)
    return stored


# ---------------------------------------------------------------------------------------
# One mapping per source shape. In each line, ``v`` is the raw value: a plain str needs
# only strip(); anything else goes to the helper. Lines run in column order (but for the
# enum columns, set together: no value fails them), so a record with several bad values
# fails on the same one as it always did.
# ---------------------------------------------------------------------------------------

def _set_enum_columns(row, requirement, ca_status, risk_level, risk_state, protocol,
                      token_type, credential_type):
    """Set the row's enum columns from their raw values: shared by every shape's mapping,
    one call a record (a known spelling is a dict lookup)."""
    known = _ENUMS.get
    row["auth_requirement"] = ((type(requirement) is str and known(requirement))
                               or _enum(requirement))
    row["ca_status"] = (type(ca_status) is str and known(ca_status)) or _enum(ca_status)
    row["risk_level"] = (type(risk_level) is str and known(risk_level)) or _enum(risk_level)
    row["risk_state"] = (type(risk_state) is str and known(risk_state)) or _enum(risk_state)
    row["protocol"] = (type(protocol) is str and known(protocol)) or _enum(protocol)
    row["incoming_token_type"] = ((type(token_type) is str and known(token_type))
                                  or _enum(token_type))
    row["client_credential_type"] = ((type(credential_type) is str and known(credential_type))
                                     or _enum(credential_type))


def from_graph(record):
    """A Microsoft Graph (beta) signIn resource, or the portal's JSON download of it."""
    if not isinstance(record, dict):
        raise ValueError("a sign-in record must be a JSON object, not %s"
                         % type(record).__name__)
    get = record.get
    created = get("createdDateTime")
    if not created:
        raise ValueError("sign-in record without createdDateTime")
    status = get("status")
    if type(status) is not dict:
        status = _obj(status)
    code = status.get("errorCode")
    if type(code) is int and -_MAX_CODE <= code <= _MAX_CODE:
        success, code_text = (1 if code == 0 else 0), ""
    else:
        success, code, code_text = error_status(code)
    location = get("location")
    if type(location) is not dict:
        location = _obj(location)
    types = get("signInEventTypes")
    row = _ROW.copy()
    row["id"] = (v.strip() if type(v := get("id")) is str else _text(v)) or _synthetic_id(record)
    row["created"] = (type(created) is str and _TIMES.get(created)) or stored_time(created)
    row["event_mask"] = ((type(types) is list and len(types) == 1 and type(types[0]) is str
                          and _TYPE_BITS.get(types[0])) or _event_mask(record))
    row["success"] = success
    row["error_code"] = code
    row["error_text"] = code_text
    row["failure_reason"] = (v.strip() if type(v := status.get("failureReason")) is str
                             else _text(v))
    row["ip"] = v.strip() if type(v := get("ipAddress")) is str else _text(v)
    row["city"] = v.strip() if type(v := location.get("city")) is str else _text(v)
    row["state"] = v.strip() if type(v := location.get("state")) is str else _text(v)
    row["country"] = v.strip() if type(v := location.get("countryOrRegion")) is str else _text(v)
    row["app_id"] = v.strip() if type(v := get("appId")) is str else _text(v)
    row["app_name"] = v.strip() if type(v := get("appDisplayName")) is str else _text(v)
    row["resource_id"] = v.strip() if type(v := get("resourceId")) is str else _text(v)
    row["resource_name"] = v.strip() if type(v := get("resourceDisplayName")) is str else _text(v)
    row["user_id"] = v.strip() if type(v := get("userId")) is str else _text(v)
    row["user_upn"] = v.strip() if type(v := get("userPrincipalName")) is str else _text(v)
    row["user_name"] = v.strip() if type(v := get("userDisplayName")) is str else _text(v)
    row["sp_id"] = v.strip() if type(v := get("servicePrincipalId")) is str else _text(v)
    row["sp_name"] = v.strip() if type(v := get("servicePrincipalName")) is str else _text(v)
    row["client_app"] = v.strip() if type(v := get("clientAppUsed")) is str else _text(v)
    _set_enum_columns(row, get("authenticationRequirement"), get("conditionalAccessStatus"),
                      get("riskLevelDuringSignIn"), get("riskState"),
                      get("authenticationProtocol"), get("incomingTokenType"),
                      get("clientCredentialType"))
    row["ca_policies"] = _applied_policies(get("appliedConditionalAccessPolicies"))
    row["risk_events"] = (_risk_events(record)
                          if get("riskEventTypes_v2") or get("riskEventTypes") else "")
    row["user_agent"] = v.strip() if type(v := get("userAgent")) is str else _text(v)
    return row
