"""Which Log Analytics workspaces hold the tenant's sign-ins, found through Azure Resource
Manager and cached for an hour in the tenant's state directory.

1. Microsoft Entra's diagnostic settings (``/providers/microsoft.aadiam/diagnosticSettings``)
   name the workspaces each log category is sent to; a category counts when it is enabled
   and goes to a workspace (not only to storage or Event Hubs). Each workspace's ARM id is
   resolved to the customerId that the query API wants.
2. If the app may not read those settings (403), every workspace the app can see in its
   subscriptions is tried: those where a sign-in table resolves are used.
"""

import hashlib
import json
import os
import time
from dataclasses import asdict, dataclass, field
from typing import List, Optional, Tuple
from urllib.parse import urlsplit

from nagiosplugin import CheckError

from .. import pacing, statedir
from . import rest

ALL = "All"
CACHE_SECONDS = 3600
DIAGNOSTIC_SETTINGS = "/providers/microsoft.aadiam/diagnosticSettings?api-version=2017-04-01"
WORKSPACE_API = "api-version=2022-10-01"
SUBSCRIPTIONS = "/subscriptions?api-version=2022-12-01"
# --event-type -> the diagnostic settings' log category that carries it.
CATEGORIES = {
    "nonInteractiveUser": "NonInteractiveUserSignInLogs",
    "servicePrincipal": "ServicePrincipalSignInLogs",
    "managedIdentity": "ManagedIdentitySignInLogs",
    "interactiveUser": "SignInLogs",
}
GRANT_HELP = ("let the app read Entra's diagnostic settings (e.g. the Monitoring Reader role "
              "at scope /providers/microsoft.aadiam) or give it Reader on the workspaces' "
              "subscriptions, or name the workspaces with --workspace-id GUID")


@dataclass(frozen=True)
class Workspace:
    name: str
    customer_id: str
    event_types: Tuple[str, ...]       # the sign-in types it receives
    arm_id: str = ""
    retention_days: Optional[int] = None


@dataclass
class Found:
    workspaces: List[Workspace]
    notes: List[str] = field(default_factory=list)

    @property
    def retention_days(self):
        """How far back every chosen workspace reaches (None: not known)."""
        days = [w.retention_days for w in self.workspaces if w.retention_days]
        return min(days) if len(days) == len(self.workspaces) and days else None


def names(text):
    """``--workspace``'s names; ``[ALL]`` for All in any case."""
    parts = [p.strip() for p in (text or "").split(",") if p.strip()]
    if any(p.lower() == ALL.lower() for p in parts):
        return [ALL] if len(parts) == 1 else []
    return parts


class Finder:
    def __init__(self, connection, management_url, workspace, workspace_ids, deadline,
                 probe):
        self.connection = connection
        self.management_url = management_url.rstrip("/")
        self.wanted = names(workspace)
        self.workspace_ids = workspace_ids or []
        self.deadline = deadline
        self.probe = probe  # probe(workspace, event_type): whether its table resolves

    def find(self, event_types):
        """The workspaces to read for ``event_types``, or CheckError."""
        if self.workspace_ids:
            return Found([Workspace(i, i, tuple(event_types)) for i in self.workspace_ids])
        found = self._cached(event_types) or self._locked_look_up(event_types)
        return self._chosen(found, event_types)

    def _locked_look_up(self, event_types):
        # Five checks start together: one looks up, the others wait and read its cache.
        from ..fetch import release_lock, wait_for_lock

        lock = wait_for_lock(os.path.join(self.connection.directory, "fetch.lock"),
                             self.deadline)
        try:
            return self._cached(event_types) or self._look_up(event_types)
        finally:
            release_lock(lock)

    # -- cache -------------------------------------------------------------------------
    def _cache_path(self, event_types):
        key = hashlib.sha256(json.dumps([self.management_url, sorted(event_types)])
                             .encode()).hexdigest()[:16]
        return os.path.join(self.connection.directory, "workspaces-%s-%s.json"
                            % (self.connection.client_id, key))

    def _cached(self, event_types):
        path = self._cache_path(event_types)
        if not statedir.check_file(path, "workspace cache"):
            return None
        try:
            with open(path, "rb") as handle:
                data = json.loads(handle.read(1 << 20).decode("utf-8"))
            if not 0 <= time.time() - float(data["saved"]) < CACHE_SECONDS:
                return None
            return Found([Workspace(w["name"], w["customer_id"], tuple(w["event_types"]),
                                    w["arm_id"], w["retention_days"])
                          for w in data["workspaces"]], list(data["notes"]))
        except (OSError, ValueError, KeyError, TypeError):
            return None  # a damaged cache costs one lookup

    def _save(self, found, event_types):
        data = {"saved": time.time(), "workspaces": [asdict(w) for w in found.workspaces],
                "notes": found.notes}
        try:
            statedir.replace_file(self._cache_path(event_types),
                                  json.dumps(data).encode("utf-8"))
        except OSError as exc:
            raise CheckError(statedir.storage_problem(self._cache_path(event_types), exc,
                                                      "workspace cache"))

    # -- lookup ------------------------------------------------------------------------
    def _look_up(self, event_types):
        connection = self.connection
        self._arm = _Arm(self.management_url, connection.tokens, connection.http,
                         connection.session, self.deadline)
        try:
            settings = self._arm.get(DIAGNOSTIC_SETTINGS)
        except _Refused as refused:
            found = self._from_subscriptions(event_types, refused)
        else:
            found = self._from_settings(settings, event_types)
        self._save(found, event_types)
        return found

    def _from_settings(self, settings, event_types):
        wanted = {CATEGORIES[t].lower(): t for t in event_types}
        receives, seen = {}, []
        for setting in _values(settings):
            props = setting.get("properties") or {}
            categories = set()
            for log in props.get("logs") or []:
                if isinstance(log, dict) and log.get("enabled") is True:
                    categories.add(wanted.get(str(log.get("category", "")).lower()))
            categories.discard(None)
            target = props.get("workspaceId")
            seen.append("%s (%s)" % (setting.get("name", "?"), "workspace" if target else
                                     "no workspace"))
            if target and categories:
                receives.setdefault(target.lower(), [target, set()])[1].update(categories)
        if not receives:
            raise CheckError(
                "no diagnostic setting of Microsoft Entra ID sends %s to a Log Analytics "
                "workspace (settings: %s): add one in the Entra admin center (Monitoring > "
                "Diagnostic settings), or give --workspace-id GUID"
                % (", ".join(CATEGORIES[t] for t in event_types), ", ".join(seen) or "none"))
        found = Found([])
        for arm_id, types in receives.values():
            try:
                resource = self._arm.get("%s?%s" % (arm_id, WORKSPACE_API))
            except _Refused as refused:
                if refused.status == 404:
                    found.notes.append("workspace %s, named by a diagnostic setting, does not "
                                       "exist" % _last_segment(arm_id))
                    continue
                raise CheckError("Azure Resource Manager denied reading workspace %s (%s): "
                                 "give the app Reader on it, or give --workspace-id GUID"
                                 % (_last_segment(arm_id), refused))
            found.workspaces.append(_workspace(resource, arm_id,
                                               [t for t in event_types if t in types]))
        return found

    def _from_subscriptions(self, event_types, refused):
        try:
            subscriptions = [s.get("subscriptionId") for s in _values(self._arm.get(SUBSCRIPTIONS))]
            resources = [w for sub in subscriptions if sub for w in _values(self._arm.get(
                "/subscriptions/%s/providers/Microsoft.OperationalInsights/workspaces?%s"
                % (sub, WORKSPACE_API)))]
        except _Refused as also:
            raise CheckError("cannot find the workspaces: Azure Resource Manager refused the "
                             "diagnostic settings (%s) and the subscriptions (%s): %s"
                             % (refused, also, GRANT_HELP))
        found = Found([], ["Entra's diagnostic settings are not readable (%s): read every "
                           "workspace the app can see" % refused])
        for resource in resources:
            candidate = _workspace(resource, resource.get("id", ""), event_types)
            types = tuple(t for t in event_types if self.probe(candidate, t))
            if types:
                found.workspaces.append(_workspace(resource, resource.get("id", ""), types))
            else:
                found.notes.append("workspace %s has no sign-in table: it holds none of "
                                   "these sign-ins" % candidate.name)
        if not found.workspaces:
            raise CheckError("cannot find the workspaces: Entra's diagnostic settings are not "
                             "readable (%s) and none of the %d workspaces the app can see "
                             "holds the sign-in tables: %s" % (refused, len(resources),
                                                                GRANT_HELP))
        return found

    def _chosen(self, found, event_types):
        if self.wanted != [ALL]:
            by_name = {w.name.lower(): w for w in found.workspaces}
            unknown = [n for n in self.wanted if n.lower() not in by_name]
            if unknown:
                raise CheckError("unknown workspace %s: the sign-in logs go to %s"
                                 % (", ".join(repr(n) for n in unknown),
                                    ", ".join(sorted(w.name for w in found.workspaces))))
            found = Found([by_name[n.lower()] for n in self.wanted], found.notes)
        missing = [t for t in event_types if not any(t in w.event_types
                                                      for w in found.workspaces)]
        if missing:
            raise CheckError("no chosen workspace receives %s: add the category to a "
                             "diagnostic setting, or choose other --event-type"
                             % ", ".join(CATEGORIES[t] for t in missing))
        return found


def _workspace(resource, arm_id, event_types):
    props = resource.get("properties") or {}
    customer_id = str(props.get("customerId") or "").lower()
    if not customer_id:
        raise CheckError("Azure Resource Manager described workspace %s without a customerId"
                         % _last_segment(arm_id))
    retention = props.get("retentionInDays")
    return Workspace(resource.get("name") or _last_segment(arm_id), customer_id,
                     tuple(event_types), arm_id,
                     retention if isinstance(retention, int) and retention > 0 else None)


def _values(answer):
    value = answer.get("value") if isinstance(answer, dict) else None
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _last_segment(arm_id):
    return arm_id.rstrip("/").rsplit("/", 1)[-1]


class _Refused(Exception):
    """Azure Resource Manager said no (403, 404)."""

    def __init__(self, status, code, message):
        super().__init__("%d %s" % (status, code or ""))
        self.status = status
        self.message = message


class _Arm:
    """GETs against Azure Resource Manager with the app's token."""

    def __init__(self, url, tokens, http, session, deadline):
        self.url = url
        self.host = urlsplit(url).hostname or url
        self.tokens = tokens
        self.http = http
        self.session = session
        self.deadline = deadline
        self.pacer = pacing.LocalPacer()

    def get(self, path):
        return rest.with_retries(lambda: self._get(path), "Azure Resource Manager",
                                 self.pacer, self.deadline)

    def _get(self, path):
        self.pacer.acquire(self.deadline)
        token = self.tokens.token(self.url + "/.default")
        response = rest.send(self.session, "GET", self.url + path, self.host, self.http,
                             self.deadline, {"Authorization": "Bearer " + token,
                                             "Accept": "application/json"})
        if response.status_code == 200:
            return rest.json_body(response, "Azure Resource Manager")
        code, message = rest.error_of(response.content)
        transient = rest.transient_status(response, code)
        if transient:
            raise transient
        if response.status_code == 401 and self.tokens.refused(token):
            raise rest.Transient("Azure Resource Manager refused the token (401); asking for "
                                 "a new one", retry_after=0)
        if response.status_code in (401, 403, 404):
            raise _Refused(response.status_code, code, message)
        raise CheckError("Azure Resource Manager answered HTTP %d %s: %s"
                         % (response.status_code, code or "", (message or "")[:200]))
