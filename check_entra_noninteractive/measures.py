"""The 32 measures: one table of definitions that drives all six checks and their DD.

A count measure is the number of the window's rows matching an SQL condition; an entity
measure is the number of entities with a run of N or more consecutive attempts of one
outcome; a threat measure is the number of entities (IPs, users, apps) that its table
counts among the rows matching its condition (see ``threats``). Beside each measure stands its detailed-diagnosis table (see ``tables``); one
pass over the window (``tally``) fills both.
"""

from collections import OrderedDict
from dataclasses import dataclass
from typing import Callable, Optional, Tuple

from .tables import (APP, FAILED_COLUMNS, LOCATION, RESOURCE, RISKY_COLUMNS,
                     SUCCESS_COLUMNS, ByApplication, ByUserAppClient, EntityRuns,
                     ErrorCodes, FailedPolicies, Newest)
from .threats import BASELINE_ENTITIES, Countries, SprayIPs, Unusual, UsersSigningIn

MODERN_CLIENTS = ("browser", "mobile apps and desktop clients")
# Microsoft's list of legacy-authentication clients, plus the short aliases seen in logs.
LEGACY_CLIENTS = (
    "authenticated smtp", "autodiscover", "exchange activesync", "exchange online powershell",
    "exchange web services", "imap4", "mapi over http", "offline address book",
    "outlook anywhere (rpc over http)", "outlook service", "pop3", "reporting web services",
    "other clients", "imap", "pop", "smtp", "mapi",
)


def _among(column, values):
    return "lower(%s) IN (%s)" % (column, ", ".join("'%s'" % v for v in values))


@dataclass(frozen=True)
class Entity:
    """What makes two sign-ins 'the same IP / location / app ...'."""

    name: str         # plural, as in the perfdata label
    key: str          # SQL expression over table signins; '' for a row of no entity
    title: str        # singular, for people
    display: str      # SQL expression that names the entity for people
    heading: str      # plural, as in the specification's measure names
    show_id: bool = False  # the key is an id worth a column beside the display name


ENTITIES = OrderedDict((e.name, e) for e in (
    Entity("ips", "ip", "IP", "ip", "IP addresses"),
    Entity("locations", "CASE WHEN city <> '' OR state <> '' OR country <> '' "
           "THEN city || char(31) || state || char(31) || country ELSE '' END",
           "location", LOCATION, "locations"),
    Entity("apps", "app_id", "application", APP, "applications", True),
    Entity("service_principals", "sp_id", "service principal",
           "CASE WHEN sp_name <> '' THEN sp_name ELSE sp_id END", "service principals", True),
    Entity("resources", "resource_id", "resource", RESOURCE, "resources", True),
    Entity("users", "user_id", "user",
           "CASE WHEN user_upn <> '' THEN user_upn ELSE user_id END", "users", True),
    Entity("client_apps", "client_app", "client app", "client_app", "client apps"),
))


@dataclass(frozen=True)
class Measure:
    label: str                        # perfdata label, fixed
    title: str                        # for people (long output, DD)
    condition: Optional[str] = None   # counts: rows matching this SQL condition
    entity: Optional[str] = None      # entity measures: key of ENTITIES
    outcome: Optional[int] = None     # entity measures: 1 successful runs, 0 failed runs
    uom: str = ""
    maximum: Optional[float] = None
    detail: object = None             # its DD table: a kind of ``tables``, or None
    extra: Tuple = ()                 # more DD tables of the same rows
    successes: bool = False           # its DD lists successful sign-ins (shown on request)
    derive: Optional[Callable] = None  # derived measures: values (dict) -> value
    see: Optional[str] = None         # derived measures: the measure whose table explains it
    counts_table: bool = False        # its value is what its table counts, not its rows


@dataclass(frozen=True)
class Group:
    name: str          # CLI group, e.g. "failure-entities"
    script: str        # console script
    title: str         # status line prefix
    measures: tuple
    ok: Optional[str] = None  # status line when all is OK: str.format over the values
    baseline: bool = False    # its measures compare with the store's per-entity history

    def labels(self):
        return [m.label for m in self.measures]


def _count(label, title, condition, detail=None, **more):
    return Measure(label, title, condition=condition, detail=detail, **more)


def _entities(outcome, names):
    prefix, title = ("success", "Successful") if outcome else ("failure", "Failure")
    return tuple(Measure("%s_%s" % (prefix, name), "%s %s" % (title, ENTITIES[name].heading),
                         entity=name, outcome=outcome,
                         detail=EntityRuns(ENTITIES[name], outcome), successes=bool(outcome),
                         counts_table=True)
                 for name in names)


def _percentage(values):
    total = values["total"]
    return round(100.0 * values["failed"] / total, 2) if total else 0.0


def _by_user_app_client(label, title, condition):
    return _count(label, title, condition,
                  ByUserAppClient("%s by user, application and client app" % title))


def _by_application(label, title, condition):
    return _count(label, title, condition, ByApplication("%s by application" % title))


def _threat(label, title, kind):
    return Measure(label, title, condition=kind.condition, detail=kind, counts_table=True)


def _users(label, title, heading, condition):
    return _threat(label, title, UsersSigningIn(heading, "success = 1 AND " + condition))


RISKY = ("(risk_level IN ('low', 'medium', 'high') "
         "OR risk_state IN ('atRisk', 'confirmedCompromised'))")

GROUPS = OrderedDict((g.name, g) for g in (
    Group("signins", "check_entra_signins", "Entra signins", (
        _count("total", "Non-interactive sign-ins", "1"),
        _count("successful", "Successful sign-ins", "success = 1",
               Newest("Successful sign-ins, newest first", SUCCESS_COLUMNS), successes=True),
        _count("failed", "Failed sign-ins", "success = 0",
               Newest("Failed sign-ins, newest first", FAILED_COLUMNS), extra=(ErrorCodes(),)),
        Measure("failed_pct", "Failed sign-ins percentage", uom="%", maximum=100,
                derive=_percentage, see="failed"),
        _count("risky", "Risky sign-ins", RISKY,
               Newest("Risky sign-ins, newest first", RISKY_COLUMNS)),
    ), ok="{total} non-interactive sign-ins, {failed} failed ({failed_pct}%), {risky} risky"),
    Group("success-entities", "check_entra_success_entities", "Entra success entities",
          _entities(1, ("ips", "locations", "apps", "resources", "users", "client_apps"))),
    Group("failure-entities", "check_entra_failure_entities", "Entra failure entities",
          _entities(0, ("ips", "locations", "apps", "service_principals", "resources",
                        "users", "client_apps"))),
    Group("auth-methods", "check_entra_auth_methods", "Entra auth methods", (
        _by_user_app_client("single_factor", "Single-factor authentications",
                            "auth_requirement = 'singleFactorAuthentication'"),
        _by_user_app_client("multi_factor", "Multi-factor authentications",
                            "auth_requirement = 'multiFactorAuthentication'"),
        _by_user_app_client("modern_clients", "Modern client authentications",
                            _among("client_app", MODERN_CLIENTS)),
        _by_user_app_client("legacy_clients", "Legacy client authentications",
                            _among("client_app", LEGACY_CLIENTS)),
    ), ok="{single_factor} single-factor, {multi_factor} multi-factor; {modern_clients} "
          "modern, {legacy_clients} legacy client sign-ins"),
    Group("conditional-access", "check_entra_conditional_access",
          "Entra conditional access", (
              _by_application("ca_not_applied", "Not applied conditional accesses",
                              "ca_status = 'notApplied'"),
              _by_application("ca_success", "Successful conditional accesses",
                              "ca_status = 'success'"),
              _count("ca_failure", "Failed conditional accesses", "ca_status = 'failure'",
                     FailedPolicies()),
          ), ok="Conditional Access: {ca_failure} failure, {ca_success} success, "
                "{ca_not_applied} not applied"),
    Group("threats", "check_entra_threats", "Entra threats", (
        _threat("spray_ips", "Password spray IPs", SprayIPs()),
        _users("device_code_users", "Device-code users",
               "Users signing in with the device code flow", "protocol = 'deviceCode'"),
        _users("ropc_users", "ROPC users",
               "Users signing in with a password sent by an app (ROPC)", "protocol = 'ropc'"),
        _users("legacy_success_users", "Legacy client users",
               "Users signing in through legacy clients", _among("client_app", LEGACY_CLIENTS)),
        _threat("multi_country_users", "Users in several countries", Countries()),
        *(_threat("unusual_" + name, "Unusual %s" % ENTITIES[name].heading,
                  Unusual(ENTITIES[name])) for name in BASELINE_ENTITIES),
    ), ok="spray IPs {spray_ips}; users by device code {device_code_users}, by ROPC "
          "{ropc_users}, by legacy client {legacy_success_users}, in several countries "
          "{multi_country_users}; unusual users/IPs/apps {unusual_users}/{unusual_ips}/"
          "{unusual_apps}", baseline=True),
))

MEASURES = OrderedDict((m.label, m) for g in GROUPS.values() for m in g.measures)


def group_of(label):
    for group in GROUPS.values():
        if label in group.labels():
            return group
    return None
