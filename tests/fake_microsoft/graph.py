"""The fake Microsoft Graph sign-in log: ``GET /beta/auditLogs/signIns``.

Records are Graph-shaped signIn dicts (``createdDateTime`` required; ``id`` made up if
missing; ``signInEventTypes`` derived from ``isInteractive`` if missing).  A request needs
a bearer token for Graph (see login.py) and may carry:

  $filter    OData (odata.py); without a signInEventTypes clause the beta API lists
             interactive sign-ins only, as Graph does
  $orderby   createdDateTime desc (default; ties by id) or asc
  $top       1..1000 (default 1000); ``page_size`` makes pages smaller still
  $skiptoken from the nextLink

Other ``$`` options, a bad $top, $orderby or $skiptoken, and a bad $filter get Graph's
400 BadRequest.  A page is ``{"@odata.context", "value": [...]}`` plus, when more match,
``@odata.nextLink``: the full URL with the original options and an opaque $skiptoken.
The matches of a query are fixed when its first page is asked for, so a paging cursor
sees each record exactly once, whatever is added meanwhile.

Throttling: at most ``throttle_limit`` requests per ``throttle_window`` seconds per
(tenant, app), like Graph's identity/reports limit (5 per 10 s); then 429 TooManyRequests
with Retry-After.  ``page_delay``: seconds every page takes.

Faults (``set_fault(name, count=None, after=0, **params)``), one of each group per request:

  licence        403 Authentication_RequestFromNonPremiumTenantOrB2CTenant
  permission     403 Authorization_RequestDenied
  unauthorized   401 InvalidAuthenticationToken (revoke=True: the token stays invalid)
  server_error   status=500|502|503|504, retry_after=None|int
  throttle       429, retry_after=2|None (None: no header)
  reset          the connection closes without an answer (RST)
  truncate       the normal answer, cut off after half its body
  slow           wait seconds=3.0, then the normal answer
  -- page faults, acting together with one of the above:
  repeat_next_link   the page's nextLink is its own URL
  duplicate          a page after the first starts with the previous page's last record
  unordered          a new query ignores $orderby: the matches shuffled by seed=0
"""

import base64
import binascii
import collections
import dataclasses
import json
import math
import os
import random
import secrets
import threading
import time
import uuid
from datetime import datetime, timezone
from urllib.parse import quote, urlencode

from .odata import FilterError, ODataFilter, parse_datetime

GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"  # Microsoft Graph's appId
SIGNINS_PATH = "/beta/auditLogs/signIns"
GRAPH_FAULTS = ("licence", "permission", "unauthorized", "server_error", "throttle",
                "reset", "truncate", "slow")
PAGE_FAULTS = ("repeat_next_link", "duplicate", "unordered")
MAX_TOP = 1000
_ODATA_JSON = ("application/json;odata.metadata=minimal;odata.streaming=true;"
               "IEEE754Compatible=false;charset=utf-8")
_OPTIONS = ("$filter", "$top", "$skiptoken", "$orderby")


@dataclasses.dataclass
class Answer:
    status: object              # None: reset the connection instead of answering
    body: object = None
    headers: list = dataclasses.field(default_factory=list)
    truncate: bool = False      # send half of the body, then hang up


def load_records(source):
    """Return a list of signIn dicts from a list, ``{"value": [...]}``, or a
    path to a JSON file (either shape) or a JSON Lines file."""
    if source is None:
        return []
    if isinstance(source, dict):
        return list(source.get("value", []))
    if isinstance(source, (list, tuple)):
        return list(source)
    with open(os.fspath(source), encoding="utf-8") as fh:
        text = fh.read()
    try:
        return load_records(json.loads(text))
    except json.JSONDecodeError:
        return [json.loads(line) for line in text.splitlines() if line.strip()]


class Record:
    """A stored signIn plus what sorting and filtering need, computed once."""
    __slots__ = ("data", "created", "id")

    def __init__(self, data):
        data = dict(data)
        if "createdDateTime" not in data:
            raise ValueError("signIn record without createdDateTime: %r" % (data,))
        data.setdefault("id", str(uuid.uuid4()))
        # Graph beta always returns signInEventTypes; derive it for
        # hand-written fixtures that only say isInteractive.
        if "signInEventTypes" not in data:
            data["signInEventTypes"] = (
                ["interactiveUser"] if data.get("isInteractive") else ["nonInteractiveUser"])
        self.data = data
        self.created = parse_datetime(data["createdDateTime"])
        self.id = str(data["id"])


class SlidingWindowThrottle:
    """At most ``limit`` admitted requests per ``window`` seconds per key."""

    def __init__(self, limit=5, window=10.0):
        self.limit, self.window = limit, window
        self._lock = threading.Lock()
        self._seen = collections.defaultdict(collections.deque)

    def admit(self, key):
        """(True, None) and a slot taken, or (False, seconds until one frees)."""
        if not self.limit:
            return True, None
        now = time.monotonic()
        with self._lock:
            seen = self._seen[key]
            while seen and seen[0] <= now - self.window:
                seen.popleft()
            if len(seen) < self.limit:
                seen.append(now)
                return True, None
            return False, max(1, math.ceil(seen[0] + self.window - now))

    def reset(self):
        with self._lock:
            self._seen.clear()


def graph_error(code, message, request_id, client_request_id):
    """Microsoft Graph's error body."""
    return {"error": {"code": code, "message": message, "innerError": {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S"),
        "request-id": request_id, "client-request-id": client_request_id}}}


class Graph:
    """The sign-in log endpoint.  ``login`` checks tokens; ``stopping`` (an Event) cuts
    the waits of page_delay and the slow fault short when the server stops."""

    def __init__(self, faults, login, stopping, page_delay=0.0, throttle_limit=5,
                 throttle_window=10.0, page_size=None):
        self.faults, self.login, self.stopping = faults, login, stopping
        self.page_delay = page_delay
        self.page_size = page_size
        self.throttle = SlidingWindowThrottle(throttle_limit, throttle_window)
        self._lock = threading.Lock()
        self._records = []                            # kept sorted newest first
        self._snapshots = collections.OrderedDict()   # paging cursors

    def add_records(self, records):
        new = [Record(r) for r in load_records(records)]
        with self._lock:
            self._records.extend(new)
            self._records.sort(key=lambda r: (-r.created.timestamp(), r.id))

    def snapshot(self):
        with self._lock:
            return list(self._records)

    @staticmethod
    def audiences(base):
        """Token audiences Graph accepts: the fake's URL (either host name) or the real one."""
        return {base, base.replace("127.0.0.1", "localhost"), "https://graph.microsoft.com",
                GRAPH_APP_ID}

    def signins(self, base, path, query, params, authorization, ids):
        """The Answer to one GET; ``ids`` = (request-id, client-request-id)."""
        who, problem = self.login.authenticate(authorization, self.audiences(base))
        if who is None:
            return self._unauthorized(base, problem, ids)
        admitted, retry_after = self.throttle.admit(who)
        if not admitted:
            return self._too_many(retry_after, ids)
        fault = self.faults.take(GRAPH_FAULTS)
        if fault is not None:
            answer = self._fault(base, authorization, ids, *fault)
            if answer is not None:
                return answer
        shape = self.faults.take(PAGE_FAULTS)
        try:
            body = self._page(base, path, query, params, *(shape or (None, {})))
        except FilterError as exc:
            return self._answer(400, graph_error("BadRequest", str(exc), *ids), ids)
        if self.page_delay:
            self.stopping.wait(self.page_delay)
        return self._answer(200, body, ids, [("Content-Type", _ODATA_JSON)],
                            truncate=fault is not None and fault[0] == "truncate")

    @staticmethod
    def _answer(status, body, ids, headers=(), truncate=False):
        return Answer(status, body, [("request-id", ids[0])] + list(headers), truncate)

    def _unauthorized(self, base, message, ids):
        return self._answer(401, graph_error("InvalidAuthenticationToken", message, *ids), ids, [
            ("WWW-Authenticate", 'Bearer realm="", authorization_uri="%s/common/oauth2/'
             'authorize", client_id="%s"' % (base, GRAPH_APP_ID))])

    def _too_many(self, retry_after, ids):
        headers = [] if retry_after is None else [("Retry-After", str(int(retry_after)))]
        return self._answer(429, graph_error("TooManyRequests", "Too many requests.", *ids),
                            ids, headers)

    def _fault(self, base, authorization, ids, name, params):
        """The fault's Answer, or None to go on and answer normally (slow, truncate)."""
        if name == "licence":
            return self._answer(403, graph_error(
                "Authentication_RequestFromNonPremiumTenantOrB2CTenant",
                "Neither tenant is B2C or tenant doesn't have premium license", *ids), ids)
        if name == "permission":
            return self._answer(403, graph_error(
                "Authorization_RequestDenied",
                "Insufficient privileges to complete the operation.", *ids), ids)
        if name == "unauthorized":
            if params.get("revoke"):
                self.login.revoke(authorization)
            return self._unauthorized(base, "Access token has expired or is not yet valid.",
                                      ids)
        if name == "server_error":
            status = int(params.get("status", 500))
            code, message = {
                502: ("BadGateway", "Bad gateway."),
                503: ("ServiceNotAvailable", "The service is temporarily unavailable. Please retry."),
                504: ("GatewayTimeout", "The gateway timed out."),
            }.get(status, ("InternalServerError", "An internal server error occurred."))
            headers = []
            if params.get("retry_after") is not None:
                headers.append(("Retry-After", str(int(params["retry_after"]))))
            return self._answer(status, graph_error(code, message, *ids), ids, headers)
        if name == "throttle":
            return self._too_many(params.get("retry_after", 2), ids)
        if name == "reset":
            return Answer(None)
        if name == "slow":
            self.stopping.wait(float(params.get("seconds", 3.0)))
        return None   # slow and truncate: the normal answer (truncate cuts it)

    def _page(self, base, path, query, params, fault=None, fault_params=None):
        for option in params:
            if option.startswith("$") and option.lower() not in _OPTIONS:
                raise FilterError("Query option '%s' is not allowed. To allow it, set the "
                                  "'AllowedQueryOptions' property on EnableQueryAttribute or "
                                  "QueryValidationSettings." % option[1:].capitalize())
        top_text = params.get("$top", str(MAX_TOP))
        if not top_text.isdigit() or not 1 <= int(top_text) <= MAX_TOP:
            raise FilterError("Invalid page size specified: '%s'. Must be between 1 and %d "
                              "inclusive." % (top_text, MAX_TOP))
        top = min(int(top_text), self.page_size or int(top_text))

        token = params.get("$skiptoken")
        if token is not None:
            snapshot_id, offset = self._decode_skiptoken(token)
            with self._lock:
                matched = self._snapshots.get(snapshot_id)
            if matched is None:
                raise FilterError("The $skiptoken is invalid or has expired.")
            if fault == "duplicate" and offset > 0:
                offset -= 1   # the previous page's last record comes again
        else:
            matched, offset = self._query(params), 0
            snapshot_id = None
            if fault == "unordered":
                random.Random(fault_params.get("seed", 0)).shuffle(matched)

        page = matched[offset:offset + top]
        body = {"@odata.context": base + "/beta/$metadata#auditLogs/signIns",
                "value": [r.data for r in page]}
        if offset + top < len(matched):
            if snapshot_id is None:
                snapshot_id = self._remember(matched)
            body["@odata.nextLink"] = self._next_link(base, path, params, snapshot_id,
                                                      offset + top)
        if fault == "repeat_next_link":
            body["@odata.nextLink"] = "%s%s?%s" % (base, path, query)
        return body

    def _query(self, params):
        """The matching records in response order (a new list)."""
        text = params.get("$filter")
        flt = ODataFilter(text) if text is not None and text.strip() else None
        interactive_only = flt is None or not flt.mentions_event_types
        order = (params.get("$orderby") or "createdDateTime desc").split()
        if order[0].lower() != "createddatetime" or len(order) > 2 or (
                len(order) == 2 and order[1].lower() not in ("asc", "desc")):
            raise FilterError("OrderBy not supported on '%s'." % params.get("$orderby"))
        records = self.snapshot()
        if len(order) == 2 and order[1].lower() == "asc":
            records.sort(key=lambda r: (r.created, r.id))
        return [r for r in records
                if (not interactive_only or "interactiveUser" in r.data["signInEventTypes"])
                and (flt is None or flt.matches(r.data))]

    def _remember(self, matched):
        snapshot_id = secrets.token_hex(8)
        with self._lock:
            self._snapshots[snapshot_id] = matched
            while len(self._snapshots) > 256:
                self._snapshots.popitem(last=False)
        return snapshot_id

    @staticmethod
    def _decode_skiptoken(token):
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
            snapshot_id, offset = raw.split(":")
            return snapshot_id, int(offset)
        except (binascii.Error, UnicodeDecodeError, ValueError):
            raise FilterError("The $skiptoken is invalid.")

    @staticmethod
    def _next_link(base, path, params, snapshot_id, offset):
        token = base64.urlsafe_b64encode(("%s:%d" % (snapshot_id, offset)).encode()
                                         ).decode().rstrip("=")
        query = [(k, v) for k, v in params.items() if k.lower() != "$skiptoken"]
        query.append(("$skiptoken", token))
        return "%s%s?%s" % (base, path, urlencode(query, quote_via=quote, safe="$'(),:/"))
