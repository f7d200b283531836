"""Map a row of the Entra portal's CSV export of sign-ins to the stored row (see
``normalize``).

Owns the export's headers (the spellings seen for each column) and how a row of it reads:
one "City, State, Country" location, a Status column that may stand for a failure's code.
The tolerant helpers and caches are normalize's.
"""

from .normalize import (UNLISTED_EVENT_TYPE, UNNAMED_CODE, _ENUMS, _ROW, _TIMES, _code_status,
                        _enum, _set_enum_columns, _synthetic_id, _text, stored_time)
from .window import EVENT_BITS, event_mask

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
    get = values.get
    created = v.strip() if type(v := get("created")) is str else _text(v)
    if not created:
        raise ValueError("CSV row without a date")
    error_code = v.strip() if type(v := get("error_code")) is str else _text(v)
    success, code, code_text = _code_status(error_code)
    if not error_code and (v.strip() if type(v := get("status")) is str
                           else _text(v)).lower() in ("failure", "interrupted"):
        # The portal's Status column without an error code: a failure we can't name.
        success, code = 0, UNNAMED_CODE
    city, state, country = _split_location(
        v.strip() if type(v := get("location")) is str else _text(v))
    known = _ENUMS.get
    row = _ROW.copy()
    row["id"] = (v.strip() if type(v := get("id")) is str else _text(v)) or _synthetic_id(values)
    row["created"] = (type(created) is str and _TIMES.get(created)) or stored_time(created)
    row["event_mask"] = (
        event_mask([(type(v := get("event_type")) is str and known(v)) or _enum(v)])
        or EVENT_BITS[UNLISTED_EVENT_TYPE])
    row["success"] = success
    row["error_code"] = code
    row["error_text"] = code_text
    row["failure_reason"] = v.strip() if type(v := get("failure_reason")) is str else _text(v)
    row["ip"] = v.strip() if type(v := get("ip")) is str else _text(v)
    row["city"] = city
    row["state"] = state
    row["country"] = country
    row["app_id"] = v.strip() if type(v := get("app_id")) is str else _text(v)
    row["app_name"] = v.strip() if type(v := get("app_name")) is str else _text(v)
    row["resource_id"] = v.strip() if type(v := get("resource_id")) is str else _text(v)
    row["resource_name"] = v.strip() if type(v := get("resource_name")) is str else _text(v)
    row["user_id"] = v.strip() if type(v := get("user_id")) is str else _text(v)
    row["user_upn"] = v.strip() if type(v := get("user_upn")) is str else _text(v)
    row["user_name"] = v.strip() if type(v := get("user_name")) is str else _text(v)
    row["sp_id"] = v.strip() if type(v := get("sp_id")) is str else _text(v)
    row["sp_name"] = v.strip() if type(v := get("sp_name")) is str else _text(v)
    row["client_app"] = v.strip() if type(v := get("client_app")) is str else _text(v)
    _set_enum_columns(row, get("auth_requirement"), get("ca_status"), get("risk_level"),
                      get("risk_state"), get("protocol"), get("incoming_token_type"),
                      get("client_credential_type"))
    row["ca_policies"] = ""
    row["risk_events"] = ""
    row["user_agent"] = v.strip() if type(v := get("user_agent")) is str else _text(v)
    return row
