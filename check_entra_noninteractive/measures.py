"""The 24 measures: one table of definitions that drives all five checks.

Each measure is SQL over the rows of a window. Plain counts are ``SUM(condition)`` in one
pass; entity measures ("distinct entities with a run of N or more consecutive successful /
failed attempts") are a gaps-and-islands query per entity kind.
"""

from collections import OrderedDict
from dataclasses import dataclass
from typing import Optional

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
    key: str          # SQL expression over table signins
    nonempty: str     # SQL condition: rows whose key is empty are not entities
    title: str        # singular, for people
    display: str      # SQL expression that names the entity for people
    heading: str      # plural, as in the specification's measure names


ENTITIES = OrderedDict((e.name, e) for e in (
    Entity("ips", "ip", "ip <> ''", "IP", "ip", "IP addresses"),
    Entity("locations", "city || char(31) || state || char(31) || country",
           "(city <> '' OR state <> '' OR country <> '')", "location",
           "trim(city || ', ' || state || ', ' || country, ', ')", "locations"),
    Entity("apps", "app_id", "app_id <> ''", "application",
           "CASE WHEN app_name <> '' THEN app_name ELSE app_id END", "applications"),
    Entity("service_principals", "sp_id", "sp_id <> ''", "service principal",
           "CASE WHEN sp_name <> '' THEN sp_name ELSE sp_id END", "service principals"),
    Entity("resources", "resource_id", "resource_id <> ''", "resource",
           "CASE WHEN resource_name <> '' THEN resource_name ELSE resource_id END",
           "resources"),
    Entity("users", "user_id", "user_id <> ''", "user",
           "CASE WHEN user_upn <> '' THEN user_upn ELSE user_id END", "users"),
    Entity("client_apps", "client_app", "client_app <> ''", "client app", "client_app",
           "client apps"),
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


@dataclass(frozen=True)
class Group:
    name: str          # CLI group, e.g. "failure-entities"
    script: str        # console script
    title: str         # status line prefix
    measures: tuple

    def labels(self):
        return [m.label for m in self.measures]


def _count(label, title, condition):
    return Measure(label, title, condition=condition)


def _entities(outcome, names):
    prefix, title = ("success", "Successful") if outcome else ("failure", "Failure")
    return tuple(Measure("%s_%s" % (prefix, name), "%s %s" % (title, ENTITIES[name].heading),
                         entity=name, outcome=outcome)
                 for name in names)


RISKY = ("(risk_level IN ('low', 'medium', 'high') "
         "OR risk_state IN ('atRisk', 'confirmedCompromised'))")

GROUPS = OrderedDict((g.name, g) for g in (
    Group("signins", "check_entra_signins", "Entra signins", (
        _count("total", "Non-interactive sign-ins", "1"),
        _count("successful", "Successful sign-ins", "success = 1"),
        _count("failed", "Failed sign-ins", "success = 0"),
        Measure("failed_pct", "Failed sign-ins percentage", uom="%", maximum=100),
        _count("risky", "Risky sign-ins", RISKY),
    )),
    Group("success-entities", "check_entra_success_entities", "Entra success entities",
          _entities(1, ("ips", "locations", "apps", "resources", "users", "client_apps"))),
    Group("failure-entities", "check_entra_failure_entities", "Entra failure entities",
          _entities(0, ("ips", "locations", "apps", "service_principals", "resources",
                        "users", "client_apps"))),
    Group("auth-methods", "check_entra_auth_methods", "Entra auth methods", (
        _count("single_factor", "Single-factor authentications",
               "auth_requirement = 'singleFactorAuthentication'"),
        _count("multi_factor", "Multi-factor authentications",
               "auth_requirement = 'multiFactorAuthentication'"),
        _count("modern_clients", "Modern client authentications",
               _among("client_app", MODERN_CLIENTS)),
        _count("legacy_clients", "Legacy client authentications",
               _among("client_app", LEGACY_CLIENTS)),
    )),
    Group("conditional-access", "check_entra_conditional_access",
          "Entra conditional access", (
              _count("ca_not_applied", "Not applied conditional accesses",
                     "ca_status = 'notApplied'"),
              _count("ca_success", "Successful conditional accesses", "ca_status = 'success'"),
              _count("ca_failure", "Failed conditional accesses", "ca_status = 'failure'"),
          )),
))

MEASURES = OrderedDict((m.label, m) for g in GROUPS.values() for m in g.measures)


def group_of(label):
    for group in GROUPS.values():
        if label in group.labels():
            return group
    return None


def runs_sql(entity, where):
    """Per entity of the window, the outcome and length of each run of equal outcomes.

    Attempts are ordered by time, then id; ``rn - rn_outcome`` is constant within a run of
    consecutive attempts with the same outcome (the gaps-and-islands trick).
    """
    return """
        SELECT entity, success, COUNT(*) AS run_length, MIN(created) AS run_start
        FROM (
            SELECT %(key)s AS entity, success, created,
                   ROW_NUMBER() OVER (PARTITION BY %(key)s ORDER BY created, id)
                 - ROW_NUMBER() OVER (PARTITION BY %(key)s, success ORDER BY created, id)
                   AS island
            FROM signins WHERE %(where)s AND %(nonempty)s
        )
        GROUP BY entity, success, island
    """ % {"key": entity.key, "where": where, "nonempty": entity.nonempty}


def _entity_counts(store, entity, where, params, attempts):
    """{outcome: number of entities with a run of >= attempts attempts of that outcome}."""
    sql = ("SELECT success, COUNT(DISTINCT entity) FROM (%s) WHERE run_length >= ? "
           "GROUP BY success" % runs_sql(entity, where))
    return dict(store.query(sql, (*params, attempts)))


def compute(store, window, group, attempts):
    """Values of the group's measures over the window: OrderedDict label -> number."""
    where, params = window.where()
    counts = [m for m in group.measures if m.condition]
    wanted = {m.label for m in group.measures}
    if "failed_pct" in wanted:
        counts = _with(counts, MEASURES["total"], MEASURES["failed"])
    values = {}
    if counts:
        sql = "SELECT %s FROM signins WHERE %s" % (
            ", ".join("COALESCE(SUM(%s), 0)" % m.condition for m in counts), where)
        values.update(zip((m.label for m in counts), store.query(sql, params)[0]))
    if "failed_pct" in wanted:
        total = values["total"]
        values["failed_pct"] = round(100.0 * values["failed"] / total, 2) if total else 0.0
    for name in {m.entity for m in group.measures if m.entity}:
        found = _entity_counts(store, ENTITIES[name], where, params, attempts)
        for m in group.measures:
            if m.entity == name:
                values[m.label] = found.get(m.outcome, 0)
    return OrderedDict((label, values[label]) for label in group.labels())


def _with(measures, *extra):
    return measures + [m for m in extra if m not in measures]
