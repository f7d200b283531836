#!/usr/bin/env python3
"""A local fake of the Microsoft endpoints check_entra_noninteractive talks to.

One threaded HTTPS server on 127.0.0.1 (random port, certificate from a
throw-away ``trustme`` CA, valid for ``127.0.0.1`` and ``localhost``) plays
both the Entra login authority and Microsoft Graph; the path tells them apart:

  GET  /{tenant}/v2.0/.well-known/openid-configuration   OIDC discovery
  GET  /common/discovery/instance                        instance discovery
  POST /{tenant}/oauth2/v2.0/token                       client_credentials
  GET  /beta/auditLogs/signIns                           sign-in log, paged
  GET  /management/...                                   Azure Resource Manager (fake_loganalytics.py)
  *    /loganalytics/v1/workspaces/{id}/query            Log Analytics query API (fake_loganalytics.py)
  *    /_fake/...                                        control (subprocess mode)

Next to it runs an authenticating HTTP forward proxy (plain HTTP on loopback,
CONNECT only) so tests can prove that both the token and the Graph requests
go through a proxy.

MSAL against the fake (msal 1.39, checked against its authority.py)
-------------------------------------------------------------------
For a host that is not a well-known Microsoft login host MSAL, by default,
asks the *real* ``https://login.microsoftonline.com/common/discovery/instance``
(instance discovery) when it is constructed, and asks it again for authority
aliases after every failed token request.  That would leave the loopback, so
switch instance discovery off::

    app = msal.ConfidentialClientApplication(
        fake.client_id,
        client_credential=fake.client_secret,   # or {"private_key":..., "thumbprint":...}
        authority=fake.authority,               # "https://127.0.0.1:PORT/TENANT"
        instance_discovery=False,               # REQUIRED: no call to login.microsoftonline.com
        verify=fake.ca_bundle,                  # or REQUESTS_CA_BUNDLE=fake.ca_bundle
        proxies={"https": fake.proxy_url},      # optional: through the fake proxy
    )
    app.acquire_token_for_client([fake.scope])  # "https://127.0.0.1:PORT/.default"

``validate_authority=False`` works as well (MSAL then also skips both instance
discovery calls).  Passing ``instance_discovery="https://127.0.0.1:PORT/common/discovery/instance"``
makes construction use the fake's instance discovery, but MSAL still asks
login.microsoftonline.com for aliases after an error answer, so don't.

Beware: requests lets the environment override a Session's settings, and MSAL
only sets Session.verify / Session.proxies.  ``REQUESTS_CA_BUNDLE`` or
``CURL_CA_BUNDLE`` (set system-wide on the build host!) beats ``verify=``, and
``HTTPS_PROXY``/``ALL_PROXY`` beat ``proxies=``.  In tests set
``REQUESTS_CA_BUNDLE=fake.ca_bundle`` (and drop the proxy variables); the plugin
itself should pass verify/proxies per request or use ``http_client=``.

With that, MSAL fetches ``{authority}/v2.0/.well-known/openid-configuration``
once per application object, then POSTs to the token endpoint it names.
For an unknown tenant the discovery answers 400 ``invalid_tenant`` AADSTS90002
as Entra does, so MSAL raises ValueError("Unable to get authority
configuration for ...") from the *constructor*; the AADSTS text is only in the
chained exception (``exc.__context__``).  ``FakeMicrosoft(discovery_any_tenant=True)`` makes
discovery answer for every tenant so that the token endpoint's 400
``invalid_request`` AADSTS90002 comes back as MSAL's error dict instead.

In-process use (pytest)
-----------------------
::

    with FakeMicrosoft(records=[...], tenant="t1", client_id="c1",
                       client_secret="s3cr3t", page_delay=0,
                       throttle_limit=5, throttle_window=10.0) as fake:
        env = {"REQUESTS_CA_BUNDLE": fake.ca_bundle}
        fake.set_fault("server_error", count=2, status=503, retry_after=1)
        ...
        assert fake.count(429) == 0
        for entry in fake.graph_requests(): print(entry.status, entry.params)

Subprocess use
--------------
::

    python tests/fake_microsoft.py --config cfg.json --ready-file ready.json

cfg.json holds constructor arguments (see ``FakeMicrosoft.__init__``), plus
optionally ``records_file`` (Graph-shaped list, ``{"value": [...]}`` or JSON
Lines) and ``faults`` (a list of ``{"name": ..., "count": ..., **params}``).
Once both servers listen, the ready file (written atomically) holds
``authority_host``, ``graph_url``, ``authority``, ``scope``, ``port``,
``ca_bundle``, ``proxy_url``, ``proxy_port``, ``control_url``, ``tenant``,
``client_id``, ``pid``, ``management_url``, ``management_scope``,
``log_analytics_url``, ``log_analytics_scope``.  The process serves until
SIGTERM/SIGINT and exits 0.
``FakeControl(ready_info)`` drives a subprocess fake at runtime with the same
methods as ``FakeMicrosoft`` (set_fault, clear_faults, add_records, reset_log,
log, graph_requests, count, set_page_delay).
"""

import argparse
import base64
import binascii
import collections
import dataclasses
import hashlib
import json
import math
import os
import random
import re
import secrets
import selectors
import signal
import socket
import ssl
import struct
import sys
import tempfile
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from socketserver import TCPServer
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

import trustme

from fake_loganalytics import ARM_FAULTS, LA_FAULTS, AzureMonitorFake, unauthorized

GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"  # Microsoft Graph's appId
SIGNINS_PATH = "/beta/auditLogs/signIns"
# Graph faults that decide the answer, faults that shape a page that is served (one of
# each can act on a request), and token endpoint faults.
GRAPH_FAULTS = ("licence", "permission", "unauthorized", "server_error", "throttle",
                "reset", "truncate", "slow")
PAGE_FAULTS = ("repeat_next_link", "duplicate", "unordered")
TOKEN_FAULTS = ("token_error",)
FAULT_NAMES = GRAPH_FAULTS + PAGE_FAULTS + TOKEN_FAULTS + ARM_FAULTS + LA_FAULTS
# Where the fake ARM and Log Analytics APIs live on the one server (see fake_loganalytics.py).
SERVICE_PREFIXES = (("/management", "arm"), ("/loganalytics", "loganalytics"))
_FAULT_ALIASES = {"license": "licence"}


# --------------------------------------------------------------------------
# Time helpers
# --------------------------------------------------------------------------

_DT_RE = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})"
    r"(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?)?"
    r"\s*([Zz]|[+-]\d{2}:?\d{2})?$")


def parse_datetime(text):
    """Parse the ISO 8601 shapes Graph uses (fractions up to 7 digits, Z or
    offset) into an aware UTC datetime; ValueError otherwise."""
    m = _DT_RE.match(str(text).strip())
    if not m:
        raise ValueError("not a date-time: %r" % (text,))
    year, month, day, hour, minute, second, frac, tz = m.groups()
    micro = int((frac or "0")[:6].ljust(6, "0"))
    value = datetime(int(year), int(month), int(day), int(hour or 0),
                     int(minute or 0), int(second or 0), micro)
    offset = timedelta(0)
    if tz and tz not in "Zz":
        sign = -1 if tz[0] == "-" else 1
        digits = tz[1:].replace(":", "")
        offset = sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
    return (value - offset).replace(tzinfo=timezone.utc)


def _utc_now():
    return datetime.now(timezone.utc)


def _aad_timestamp():
    # Entra's token errors use "2026-11-20 08:00:00Z" (space, no fraction).
    return _utc_now().strftime("%Y-%m-%d %H:%M:%SZ")


def _graph_date():
    return _utc_now().strftime("%Y-%m-%dT%H:%M:%S")


# --------------------------------------------------------------------------
# Records
# --------------------------------------------------------------------------

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


class _Record:
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


# --------------------------------------------------------------------------
# $filter: a small OData boolean-expression parser
# --------------------------------------------------------------------------

class FilterError(ValueError):
    """$filter that Graph would reject with 400."""


_TOKEN_RE = re.compile(r"""
    (?P<ws>\s+)
  | (?P<string>'(?:[^']|'')*')
  | (?P<guid>[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}(?![\w-]))
  | (?P<datetime>\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2})?)?)
  | (?P<number>-?\d+(?:\.\d+)?)
  | (?P<name>[A-Za-z_]\w*(?:/[A-Za-z_]\w*)*)
  | (?P<punct>[(),:])
""", re.X)

_COMPARISONS = {"eq", "ne", "gt", "ge", "lt", "le"}
_STRING_FUNCTIONS = {"startswith", "endswith", "contains"}
_MISSING = object()


def _tokenize(text):
    tokens, pos = [], 0
    while pos < len(text):
        m = _TOKEN_RE.match(text, pos)
        if not m:
            raise FilterError("Syntax error at position %d in '%s'." % (pos, text))
        kind = m.lastgroup
        if kind != "ws":
            tokens.append((kind, m.group(kind), pos))
        pos = m.end()
    return tokens


def _resolve(path, record, scope):
    """Walk ``a/b/c`` through dicts; a first segment bound by a lambda
    (``t`` in ``any(t: ...)``) refers to the current element."""
    parts = path.split("/")
    if parts[0] in scope:
        value, parts = scope[parts[0]], parts[1:]
    else:
        value = record
    for part in parts:
        if not isinstance(value, dict):
            return None
        # Graph property names are case-insensitive in $filter.
        if part in value:
            value = value[part]
        else:
            value = next((v for k, v in value.items() if k.lower() == part.lower()), None)
    return value


def _coerce_datetime(value):
    if isinstance(value, datetime):
        return value
    try:
        return parse_datetime(value)
    except (TypeError, ValueError):
        return None


def _compare(op, left, right):
    if isinstance(left, datetime) or isinstance(right, datetime):
        left, right = _coerce_datetime(left), _coerce_datetime(right)
    if isinstance(left, str) and isinstance(right, str):
        left, right = left.casefold(), right.casefold()  # Entra compares case-insensitively
    if op == "eq":
        return left == right
    if op == "ne":
        return left != right
    if left is None or right is None:
        return False
    try:
        return {"gt": left > right, "ge": left >= right,
                "lt": left < right, "le": left <= right}[op]
    except TypeError:
        return False


class ODataFilter:
    """Compile a Graph ``$filter`` into ``matches(record_dict) -> bool``.

    Grammar (the part of OData the sign-in log needs)::

        expr    := and ('or' and)*
        and     := unary ('and' unary)*
        unary   := 'not' unary | '(' expr ')' | lambda | call | operand OP operand
        lambda  := path '/any' '(' [var ':' expr] ')'     (also '/all')
        call    := startswith|endswith|contains '(' operand ',' operand ')'
        operand := path | 'string' | number | date-time | guid | true | false | null
    """

    def __init__(self, text):
        self.text = text
        self.tokens = _tokenize(text)
        self.pos = 0
        self.mentions_event_types = any(
            kind == "name" and value.split("/")[0].lower() == "signineventtypes"
            for kind, value, _ in self.tokens)
        if not self.tokens:
            raise FilterError("The $filter expression is empty.")
        self._predicate = self._expr()
        if self.pos != len(self.tokens):
            self._fail()

    def matches(self, record):
        return bool(self._predicate(record, {}))

    # -- parser helpers -----------------------------------------------------
    def _fail(self):
        at = self.tokens[self.pos][2] if self.pos < len(self.tokens) else len(self.text)
        raise FilterError("Invalid filter clause: Syntax error at position %d in '%s'."
                          % (at, self.text))

    def _peek(self, offset=0):
        i = self.pos + offset
        return self.tokens[i] if i < len(self.tokens) else (None, None, None)

    def _keyword(self, word):
        kind, value, _ = self._peek()
        if kind == "name" and value.lower() == word:
            self.pos += 1
            return True
        return False

    def _punct(self, char):
        kind, value, _ = self._peek()
        if kind == "punct" and value == char:
            self.pos += 1
            return True
        return False

    def _expect(self, char):
        if not self._punct(char):
            self._fail()

    # -- grammar ------------------------------------------------------------
    def _expr(self):
        terms = [self._and()]
        while self._keyword("or"):
            terms.append(self._and())
        if len(terms) == 1:
            return terms[0]
        return lambda rec, scope: any(t(rec, scope) for t in terms)

    def _and(self):
        terms = [self._unary()]
        while self._keyword("and"):
            terms.append(self._unary())
        if len(terms) == 1:
            return terms[0]
        return lambda rec, scope: all(t(rec, scope) for t in terms)

    def _unary(self):
        if self._keyword("not"):
            inner = self._unary()
            return lambda rec, scope: not inner(rec, scope)
        if self._punct("("):
            inner = self._expr()
            self._expect(")")
            return inner
        kind, value, _ = self._peek()
        next_kind, next_value, _ = self._peek(1)
        if kind == "name" and next_kind == "punct" and next_value == "(":
            last = value.split("/")[-1].lower()
            if "/" in value and last in ("any", "all"):
                return self._lambda(value.rsplit("/", 1)[0], last)
            if value.lower() in _STRING_FUNCTIONS:
                return self._call(value.lower())
            self._fail()
        left = self._operand()
        kind, value, _ = self._peek()
        if kind != "name" or value.lower() not in _COMPARISONS:
            self._fail()
        self.pos += 1
        op = value.lower()
        right = self._operand()
        return lambda rec, scope: _compare(op, left(rec, scope), right(rec, scope))

    def _lambda(self, collection, quantifier):
        self.pos += 2  # the path token and "("
        if self._punct(")"):  # any() = "not empty"
            return lambda rec, scope: bool(_resolve(collection, rec, scope))
        kind, var, _ = self._peek()
        if kind != "name" or "/" in var:
            self._fail()
        self.pos += 1
        self._expect(":")
        body = self._expr()
        self._expect(")")
        combine = any if quantifier == "any" else all

        def predicate(rec, scope):
            items = _resolve(collection, rec, scope)
            if not isinstance(items, list):
                return False
            return combine(body(rec, dict(scope, **{var: item})) for item in items)
        return predicate

    def _call(self, name):
        self.pos += 2  # name and "("
        first = self._operand()
        self._expect(",")
        second = self._operand()
        self._expect(")")
        test = {"startswith": str.startswith, "endswith": str.endswith,
                "contains": lambda a, b: b in a}[name]

        def predicate(rec, scope):
            a, b = first(rec, scope), second(rec, scope)
            return isinstance(a, str) and isinstance(b, str) and test(a.casefold(), b.casefold())
        return predicate

    def _operand(self):
        kind, value, _ = self._peek()
        if kind is None or kind == "punct":
            self._fail()
        self.pos += 1
        if kind == "string":
            literal = value[1:-1].replace("''", "'")
        elif kind == "datetime":
            literal = parse_datetime(value)
        elif kind == "guid":
            literal = value
        elif kind == "number":
            literal = float(value) if "." in value else int(value)
        elif value.lower() in ("true", "false", "null"):
            literal = {"true": True, "false": False, "null": None}[value.lower()]
        elif value.lower() in _COMPARISONS | {"and", "or", "not"}:
            self.pos -= 1
            self._fail()
        else:
            return lambda rec, scope, path=value: _resolve(path, rec, scope)
        return lambda rec, scope: literal


# --------------------------------------------------------------------------
# Thread-safe building blocks: faults, throttle, request log
# --------------------------------------------------------------------------

class FaultSwitches:
    """Named faults, each permanent (count=None) or for the next N requests
    it applies to (token faults: token requests; the others: Graph requests;
    page faults: pages served).  ``after=K`` keeps a fault dormant for the
    next K such requests (a fault mid-run).  When several of one kind are
    set, the one set first fires first."""

    def __init__(self):
        self._lock = threading.Lock()
        self._active = collections.OrderedDict()  # name -> [remaining or None, params]

    def set(self, name, count=None, **params):
        name = _FAULT_ALIASES.get(name, name)
        if name not in FAULT_NAMES:
            raise ValueError("unknown fault %r (known: %s)" % (name, ", ".join(FAULT_NAMES)))
        with self._lock:
            self._active.pop(name, None)
            if count is None or count > 0:
                self._active[name] = [count, params]

    def clear(self, name=None):
        with self._lock:
            if name is None:
                self._active.clear()
            else:
                self._active.pop(_FAULT_ALIASES.get(name, name), None)

    def take(self, names=GRAPH_FAULTS):
        """Consume one use of the first active fault among ``names``:
        (name, params) or None.  Dormant faults (``after``) count the request."""
        fired = None
        with self._lock:
            for name, entry in list(self._active.items()):
                if name not in names:
                    continue
                if entry[1].get("after", 0) > 0:
                    entry[1]["after"] -= 1
                    continue
                if fired is None:
                    fired = name, {k: v for k, v in entry[1].items() if k != "after"}
                    if entry[0] is not None:
                        entry[0] -= 1
                        if entry[0] <= 0:
                            del self._active[name]
        return fired

    def active(self):
        with self._lock:
            return {name: {"count": e[0], **e[1]} for name, e in self._active.items()}


class SlidingWindowThrottle:
    """At most ``limit`` admitted requests per ``window`` seconds per key,
    like Graph's identity/reports limit (5 per 10 s per app per tenant)."""

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


@dataclasses.dataclass
class LoggedRequest:
    time: float                 # time.time() when the request arrived
    method: str
    path: str
    query: str                  # raw query string
    params: dict                # decoded query (last value wins)
    kind: str                   # discovery, instance_discovery, token, graph, arm,
                                # loganalytics (params also hold its query, timespan), other
    status: object = None       # int, or None when the connection was reset
    tenant: object = None
    client_id: object = None
    counted_against: object = None  # (tenant, client_id) if it took a throttle slot
    fault: object = None        # name of the fault applied, if any
    retry_after: object = None  # Retry-After sent, if any
    duration: float = 0.0

    def to_json(self):
        data = dataclasses.asdict(self)
        if self.counted_against:
            data["counted_against"] = list(self.counted_against)
        return data


class RequestLog:
    def __init__(self):
        self._lock = threading.Lock()
        self._entries = []

    def add(self, entry):
        with self._lock:
            self._entries.append(entry)

    def entries(self, kind=None):
        with self._lock:
            return [e for e in self._entries if kind is None or e.kind == kind]

    def clear(self):
        with self._lock:
            self._entries.clear()


# --------------------------------------------------------------------------
# Entra and Graph answers
# --------------------------------------------------------------------------

_AAD_MESSAGES = {
    7000215: ("invalid_client", 401,
              "Invalid client secret provided. Ensure the secret being sent in the request "
              "is the client secret value, not the client secret ID, for a secret added to "
              "app '{client_id}'."),
    7000218: ("invalid_client", 401,
              "The request body must contain the following parameter: 'client_assertion' "
              "or 'client_secret'."),
    700016: ("unauthorized_client", 400,
             "Application with identifier '{client_id}' was not found in the directory "
             "'{tenant}'. This can happen if the application has not been installed by the "
             "administrator of the tenant or consented to by any user in the tenant. You may "
             "have sent your authentication request to the wrong tenant."),
    50000: ("server_error", 500,
            "There was an error issuing a token or an issue with our sign-in service."),
    90033: ("temporarily_unavailable", 503,
            "A transient error has occurred. Please try again."),
    90002: ("invalid_request", 400,
            "Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID "
            "and are signing into the correct cloud. Check with your subscription "
            "administrator, this may happen if there are no active subscriptions for the "
            "tenant."),
    900144: ("invalid_request", 400,
             "The request body must contain the following parameter: '{param}'."),
    70003: ("unsupported_grant_type", 400,
            "The app requested an unsupported grant type '{grant_type}'."),
    1002012: ("invalid_scope", 400,
              "The provided value for scope {scope} is not valid. Client credential flows "
              "must have a scope value with /.default suffixed to the resource identifier "
              "(application ID URI)."),
    50027: ("invalid_request", 400,
            "JWT token is invalid or malformed."),
    700021: ("invalid_client", 401,
             "Client assertion application identifier doesn't match 'client_id' parameter. "
             "Review the documentation at "
             "https://docs.microsoft.com/azure/active-directory/develop/active-directory-certificate-credentials ."),
    700024: ("invalid_client", 401,
             "Client assertion is not within its valid time range."),
    700027: ("invalid_client", 401,
             "The certificate with identifier used to sign the client assertion is not "
             "registered on application. [Reason - The key was not found.]"),
}


def aad_error(code, correlation_id, **fmt):
    """(status, body) shaped exactly like Entra's token-endpoint errors."""
    error, status, text = _AAD_MESSAGES[code]
    trace_id, stamp = str(uuid.uuid4()), _aad_timestamp()
    description = "AADSTS%d: %s Trace ID: %s Correlation ID: %s Timestamp: %s" % (
        code, text.format(**fmt), trace_id, correlation_id, stamp)
    return status, {
        "error": error, "error_description": description, "error_codes": [code],
        "timestamp": stamp, "trace_id": trace_id, "correlation_id": correlation_id,
        "error_uri": "https://login.microsoftonline.com/error?code=%d" % code,
    }


def graph_error(code, message, request_id, client_request_id):
    """Microsoft Graph's error body."""
    return {"error": {"code": code, "message": message, "innerError": {
        "date": _graph_date(), "request-id": request_id,
        "client-request-id": client_request_id}}}


def _b64url_json(segment):
    raw = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    value = json.loads(raw)
    if not isinstance(value, dict):
        raise ValueError("JWT segment is not a JSON object")
    return value


def decode_jwt_unverified(token):
    """(header, claims) of a compact JWT; the signature is NOT checked."""
    parts = token.split(".")
    if len(parts) != 3 or not parts[0] or not parts[1]:
        raise ValueError("not a compact JWT")
    try:
        return _b64url_json(parts[0]), _b64url_json(parts[1])
    except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
        raise ValueError("undecodable JWT: %s" % exc)


def _thumbprints(cert_pem):
    """x5t and x5t#S256 values of a PEM certificate (base64url without the
    padding, which MSAL sends and other clients may not)."""
    der = ssl.PEM_cert_to_DER_cert(cert_pem if isinstance(cert_pem, str) else cert_pem.decode())
    enc = lambda d: base64.urlsafe_b64encode(d).decode().rstrip("=")
    return {enc(hashlib.sha1(der).digest()), enc(hashlib.sha256(der).digest())}


# --------------------------------------------------------------------------
# The HTTPS server
# --------------------------------------------------------------------------

class _QuietServerMixin:
    """Don't name the host via DNS (getfqdn can hang in sandboxes) and keep
    expected network errors (clients hanging up, faults) off stderr."""

    def server_bind(self):
        TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = host, port

    def handle_error(self, request, client_address):
        exc = sys.exc_info()[1]
        if isinstance(exc, (OSError, ssl.SSLError, ValueError)):
            return
        super().handle_error(request, client_address)


class _TLSServer(_QuietServerMixin, ThreadingHTTPServer):
    # The TLS handshake happens in the connection's own thread, not in the
    # accept loop, so one stuck client cannot stall everyone else.
    daemon_threads = True

    def __init__(self, address, handler, fake, ssl_context):
        self.fake = fake
        self.ssl_context = ssl_context
        self.connections = set()
        self.connections_lock = threading.Lock()
        super().__init__(address, handler)

    def finish_request(self, request, client_address):
        request.settimeout(self.fake.connection_timeout)
        try:
            conn = self.ssl_context.wrap_socket(request, server_side=True)
        except (OSError, ssl.SSLError):
            return
        with self.connections_lock:
            self.connections.add(conn)
        try:
            self.RequestHandlerClass(conn, client_address, self)
        finally:
            with self.connections_lock:
                self.connections.discard(conn)
            try:
                conn.close()
            except OSError:
                pass

    def close_connections(self):
        with self.connections_lock:
            conns = list(self.connections)
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class _FakeHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"   # keep-alive, like the real services
    disable_nagle_algorithm = True  # else headers+body writes cost a 40 ms delayed ACK
    server_version = "fake-microsoft"
    sys_version = ""

    def log_message(self, *args):   # the RequestLog records what matters
        pass

    def _dispatch(self):
        self.server.fake._handle(self)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _dispatch

    def read_body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def send_body(self, status, body, headers=(), truncate=False):
        """Send a complete answer; with ``truncate`` announce the full
        Content-Length but send only half of the body, then hang up."""
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        if truncate:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body[:len(body) // 2] if truncate else body)
        if truncate:
            self.close_connection = True

    def abort(self):
        """Close without answering; SO_LINGER 0 makes the close an RST.  The
        actual close happens when the server tears the connection down."""
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                       struct.pack("ii", 1, 0))
        except OSError:
            pass
        self.close_connection = True


class _Context:
    """Per-request bookkeeping that ends up in the request log."""

    def __init__(self, handler):
        split = urlsplit(handler.path)
        self.method = handler.command
        self.path = split.path
        self.query = split.query
        self.params = dict(parse_qsl(split.query, keep_blank_values=True))
        self.request_id = str(uuid.uuid4())
        self.client_request_id = handler.headers.get("client-request-id") or str(uuid.uuid4())
        # Read the body up front, whatever the route: an unread body would
        # be taken for the next request on this keep-alive connection.
        self.body = handler.read_body()
        self.started = time.monotonic()
        self.logged = False
        self.entry = LoggedRequest(time=time.time(), method=self.method, path=self.path,
                                   query=self.query, params=self.params, kind="other")


# --------------------------------------------------------------------------
# The forward proxy
# --------------------------------------------------------------------------

class _ProxyServer(_QuietServerMixin, ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address, handler, fake):
        self.fake = fake
        super().__init__(address, handler)


class _ProxyHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-proxy"
    disable_nagle_algorithm = True
    sys_version = ""
    rbufsize = 0   # unbuffered: bytes after the CONNECT head belong to the tunnel

    def log_message(self, *args):
        pass

    def _refuse(self, status, reason, extra=()):
        body = ("%d %s\n" % (status, reason)).encode()
        self.send_response(status, reason)
        for name, value in extra:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)
        self.close_connection = True

    def _authorized(self):
        fake = self.server.fake
        if fake.proxy_user is None:
            return True
        header = self.headers.get("Proxy-Authorization", "")
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            user, _, password = base64.b64decode(value.strip()).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        return (secrets.compare_digest(user, fake.proxy_user)
                and secrets.compare_digest(password, fake.proxy_password or ""))

    def do_CONNECT(self):
        fake = self.server.fake
        entry = {"time": time.time(), "method": "CONNECT", "target": self.path, "status": None}

        def answer(status, reason, extra=()):
            # Noted before answering: a client holding the answer finds it logged.
            entry["status"] = status
            fake._note_proxy(entry)
            if status != 200:
                self._refuse(status, reason, extra)

        if not self._authorized():
            return answer(407, "Proxy Authentication Required",
                          [("Proxy-Authenticate", 'Basic realm="fake-proxy"')])
        host, _, port = self.path.rpartition(":")
        host = host.strip("[]")
        # Only loopback targets: a test must never reach the internet
        # through the fake proxy by accident.
        if host not in ("127.0.0.1", "localhost", "::1") or not port.isdigit():
            return answer(403, "Forbidden")
        try:
            upstream = socket.create_connection((host, int(port)), timeout=10)
            upstream.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            return answer(502, "Bad Gateway")
        answer(200, "Connection established")
        self.send_response(200, "Connection established")
        self.end_headers()
        self.close_connection = True
        _relay(self.connection, upstream, fake._stopping)

    def _not_supported(self):
        self.server.fake._note_proxy({"time": time.time(), "method": self.command,
                                      "target": self.path, "status": 501})
        self._refuse(501, "Not Implemented")

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _not_supported


def _relay(client, upstream, stopping):
    """Copy bytes both ways until both sides have finished (half-close aware)."""
    sel = selectors.DefaultSelector()
    peers = {client: upstream, upstream: client}
    for sock in peers:
        sock.settimeout(None)
        sel.register(sock, selectors.EVENT_READ)
    open_reads = 2
    try:
        while open_reads and not stopping.is_set():
            for key, _ in sel.select(timeout=0.5):
                src = key.fileobj
                try:
                    data = src.recv(65536)
                except OSError:
                    data = b""
                if data:
                    try:
                        peers[src].sendall(data)
                        continue
                    except OSError:
                        return
                sel.unregister(src)
                open_reads -= 1
                try:
                    peers[src].shutdown(socket.SHUT_WR)
                except OSError:
                    pass
    finally:
        sel.close()
        upstream.close()


# --------------------------------------------------------------------------
# The fake itself
# --------------------------------------------------------------------------

class FakeMicrosoft:
    """Entra login + Graph sign-in log + forward proxy on loopback.

    Use as a context manager (``with FakeMicrosoft(...) as fake``) or call
    ``start()`` / ``stop()``.
    """

    def __init__(self, records=None, tenant="t1", client_id="c1", client_secret="s3cr3t",
                 page_delay=0.0, throttle_limit=5, throttle_window=10.0,
                 extra_clients=None, client_certificate=None, token_lifetime=3599,
                 discovery_any_tenant=False, proxy_user="proxyuser",
                 proxy_password="proxypass", faults=None, workdir=None,
                 port=0, proxy_port=0, connection_timeout=30.0, max_top=1000,
                 page_size=None, workspaces=None, diagnostic_settings=None,
                 row_limit=500000, subscriptions=None):
        """
        records:          signIn dicts, ``{"value": [...]}``, or a JSON/JSONL path.
        tenant:           tenant id or list of ids the fake knows.
        client_id, client_secret: the registered app; ``extra_clients`` adds
                          more as ``{client_id: secret}`` (secret None = cert only).
        client_certificate: PEM; if set, a client_assertion's x5t/x5t#S256 must
                          match it (signature still not verified).
        page_delay:       seconds every Graph page takes (runtime: ``fake.page_delay = x``).
        throttle_limit, throttle_window: Graph requests admitted per window per
                          (tenant, client); 0/None disables throttling.
        token_lifetime:   ``expires_in`` of issued tokens (Entra: 3599).
        discovery_any_tenant: answer OIDC discovery for unknown tenants too.
        proxy_user, proxy_password: Basic credentials the proxy demands
                          (proxy_user=None: no authentication).
        faults:           list of ``{"name", "count", **params}`` set at start.
        workdir:          where the CA bundle goes (default: a temp dir, removed on stop).
        port, proxy_port: fixed ports (0 = any free one).
        workspaces, diagnostic_settings, row_limit, subscriptions: the fake ARM and
                          Log Analytics (see AzureMonitorFake; runtime: ``fake.azure_monitor``).
        """
        self.tenants = [tenant] if isinstance(tenant, str) else list(tenant)
        self.tenant = self.tenants[0]
        self.client_id = client_id
        self.client_secret = client_secret
        self.clients = {client_id: client_secret}
        self.clients.update(extra_clients or {})
        self._cert_thumbprints = _thumbprints(client_certificate) if client_certificate else None
        self.page_delay = page_delay
        self.token_lifetime = token_lifetime
        self.discovery_any_tenant = discovery_any_tenant
        self.proxy_user = proxy_user
        self.proxy_password = proxy_password
        self.connection_timeout = connection_timeout
        self.max_top = max_top
        # Graph may send fewer than $top per page: tests get many pages from few records.
        self.page_size = page_size
        self._requested_ports = (port, proxy_port)

        self.throttle = SlidingWindowThrottle(throttle_limit, throttle_window)
        self.faults = FaultSwitches()
        for fault in faults or []:
            fault = dict(fault)
            self.faults.set(fault.pop("name"), fault.pop("count", None), **fault)
        self.log = RequestLog()

        self._lock = threading.Lock()      # records, tokens, snapshots
        self._records = []                 # kept sorted newest first
        self._tokens = {}                  # access token -> (tenant, client, audience, expiry)
        self._snapshots = collections.OrderedDict()  # paging cursors
        self._proxy_log = []
        self._stopping = threading.Event()
        self._threads = []
        self._server = self._proxy = None
        self._workdir = workdir
        self._own_workdir = None
        self.add_records(load_records(records))
        self.azure_monitor = AzureMonitorFake(
            self._record_snapshot, self.faults, self.tenant, workspaces=workspaces,
            diagnostic_settings=diagnostic_settings, row_limit=row_limit,
            subscriptions=subscriptions)

    # -- lifecycle ----------------------------------------------------------
    def start(self):
        if self._workdir is None:
            self._own_workdir = tempfile.TemporaryDirectory(prefix="fake-microsoft-")
            self._workdir = self._own_workdir.name
        os.makedirs(self._workdir, exist_ok=True)
        ca = trustme.CA()
        leaf = ca.issue_cert("127.0.0.1", "localhost")
        self.ca_bundle = os.path.join(self._workdir, "fake-microsoft-ca.pem")
        ca.cert_pem.write_to_path(self.ca_bundle)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        leaf.configure_cert(context)

        self._server = _TLSServer(("127.0.0.1", self._requested_ports[0]),
                                  _FakeHandler, self, context)
        self._proxy = _ProxyServer(("127.0.0.1", self._requested_ports[1]), _ProxyHandler, self)
        self.port = self._server.server_address[1]
        self.proxy_port = self._proxy.server_address[1]
        for server in (self._server, self._proxy):
            thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                                      name="fake-microsoft-%d" % server.server_address[1],
                                      daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self):
        self._stopping.set()   # wakes sleeping handlers (page_delay, slow)
        servers = [s for s in (self._server, self._proxy) if s is not None]
        # shutdown() waits for the accept loop's next poll: do both at once.
        stoppers = [threading.Thread(target=s.shutdown) for s in servers]
        for thread in stoppers:
            thread.start()
        for thread in stoppers:
            thread.join()
        for server in servers:
            server.server_close()
        if self._server is not None:
            self._server.close_connections()
        for thread in self._threads:
            thread.join(timeout=5)
        if self._own_workdir is not None:
            self._own_workdir.cleanup()
            self._own_workdir = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # -- addresses ----------------------------------------------------------
    @property
    def authority_host(self):
        return "https://127.0.0.1:%d" % self.port

    graph_url = authority_host

    @property
    def authority(self):
        return "%s/%s" % (self.authority_host, self.tenant)

    @property
    def scope(self):
        return "%s/.default" % self.graph_url

    @property
    def signins_url(self):
        return self.graph_url + SIGNINS_PATH

    @property
    def proxy_url(self):
        """Ready to use as ``proxies={"https": fake.proxy_url}`` (credentials included)."""
        if self.proxy_user is None:
            return self.proxy_url_without_credentials
        return "http://%s:%s@127.0.0.1:%d" % (quote(self.proxy_user, safe=""),
                                             quote(self.proxy_password or "", safe=""),
                                             self.proxy_port)

    @property
    def proxy_url_without_credentials(self):
        return "http://127.0.0.1:%d" % self.proxy_port

    def proxy_url_with(self, user, password):
        return "http://%s:%s@127.0.0.1:%d" % (quote(user, safe=""), quote(password, safe=""),
                                             self.proxy_port)

    @property
    def control_url(self):
        return self.authority_host + "/_fake"

    @property
    def management_url(self):
        return self.authority_host + "/management"

    @property
    def management_scope(self):
        return self.management_url + "/.default"

    @property
    def log_analytics_url(self):
        return self.authority_host + "/loganalytics"

    @property
    def log_analytics_scope(self):
        return self.log_analytics_url + "/.default"

    def msal_kwargs(self):
        """Keyword arguments for msal.ConfidentialClientApplication besides the
        client id and credential."""
        return {"authority": self.authority, "instance_discovery": False,
                "verify": self.ca_bundle}

    def ready_info(self):
        return {"authority_host": self.authority_host, "graph_url": self.graph_url,
                "authority": self.authority, "scope": self.scope, "port": self.port,
                "ca_bundle": self.ca_bundle, "proxy_url": self.proxy_url,
                "proxy_port": self.proxy_port, "control_url": self.control_url,
                "tenant": self.tenant, "client_id": self.client_id, "pid": os.getpid(),
                "management_url": self.management_url, "management_scope": self.management_scope,
                "log_analytics_url": self.log_analytics_url,
                "log_analytics_scope": self.log_analytics_scope}

    # -- runtime controls ---------------------------------------------------
    def set_fault(self, name, count=None, **params):
        """Make the next ``count`` Graph requests (all, if None) fail as ``name``:
        licence, permission, unauthorized (message=, revoke=False: the token
        presented stays invalid), server_error (status=500|502|503|504,
        retry_after=None|int), throttle (retry_after=2|None: no header), reset,
        truncate, slow (seconds=3.0, then a normal answer), repeat_next_link
        (the page's nextLink is its own URL), duplicate (a page after the
        first starts with the previous page's last record), unordered (a new
        query ignores $orderby: the matches shuffled by seed=0; its later
        pages follow that order).
        token_error affects the next ``count`` token requests instead: Entra's
        answer for aadsts=CODE (e.g. 7000215, 700016), or status=500|503
        (AADSTS50000 / AADSTS90033), retry_after=None|int.
        ARM requests: aadiam_forbidden (403 on the aadiam read), arm_forbidden (403
        on every ARM GET, aadiam included).  Log Analytics queries: la_forbidden
        (403), la_throttled (429, retry_after=2|None), la_server_error (status=503,
        retry_after=None|int), la_partial (200 with half the rows and a PartialError
        that is not about size), la_query_error (400 syntax error, message=).
        Any fault takes after=K: it lies dormant for the next K requests.  A page
        fault (repeat_next_link, duplicate, unordered) acts together with one of
        the others (e.g. unordered pages, then a hang)."""
        self.faults.set(name, count, **params)

    def clear_faults(self, name=None):
        self.faults.clear(name)

    def add_records(self, records):
        new = [_Record(r) for r in load_records(records)]
        with self._lock:
            self._records.extend(new)
            self._records.sort(key=lambda r: (-r.created.timestamp(), r.id))

    def clear_records(self):
        with self._lock:
            self._records = []

    @property
    def records(self):
        with self._lock:
            return [r.data for r in self._records]

    def _record_snapshot(self):
        with self._lock:
            return list(self._records)

    def expire_tokens(self):
        """Make every issued access token expired (Graph then answers 401)."""
        with self._lock:
            for token, (tenant, client, audience, _) in list(self._tokens.items()):
                self._tokens[token] = (tenant, client, audience, 0)

    # -- the request log ----------------------------------------------------
    def requests(self, kind=None):
        return self.log.entries(kind)

    def graph_requests(self):
        return self.log.entries("graph")

    def token_requests(self):
        return self.log.entries("token")

    def arm_requests(self):
        return self.log.entries("arm")

    def loganalytics_requests(self):
        return self.log.entries("loganalytics")

    def count(self, status=None, kind="graph"):
        """Logged requests of ``kind`` (None: all kinds) with ``status`` (None: any)."""
        return sum(1 for e in self.log.entries(kind) if status is None or e.status == status)

    @property
    def throttled(self):
        """Number of 429 answers so far (real and forced)."""
        return self.count(429, kind=None)

    def reset_log(self):
        self.log.clear()
        with self._lock:
            self._proxy_log.clear()

    def reset_throttle(self):
        self.throttle.reset()

    # -- the proxy log ------------------------------------------------------
    def _note_proxy(self, entry):
        with self._lock:
            self._proxy_log.append(entry)

    def proxy_requests(self):
        with self._lock:
            return [dict(e) for e in self._proxy_log]

    @property
    def proxy_tunnels(self):
        """Number of CONNECT tunnels the proxy opened."""
        return sum(1 for e in self.proxy_requests() if e["status"] == 200)

    # ======================================================================
    # Request handling (runs in the connection's thread)
    # ======================================================================
    def _handle(self, handler):
        ctx = _Context(handler)
        try:
            self._route(handler, ctx)
        finally:
            self._log(ctx)   # no-op if _reply already logged it

    def _log(self, ctx):
        # Logged before the answer goes out, so that a client that has its
        # answer always finds its request in the log.
        if not ctx.logged and ctx.entry.kind != "control":
            ctx.entry.duration = time.monotonic() - ctx.started
            self.log.add(ctx.entry)
        ctx.logged = True

    def _route(self, h, ctx):
        path, method = ctx.path, ctx.method
        parts = path.strip("/").split("/")
        if path.startswith("/_fake/"):
            ctx.entry.kind = "control"
            return self._control(h, ctx, path[len("/_fake/"):])
        for prefix, kind in SERVICE_PREFIXES:
            if path == prefix or path.startswith(prefix + "/"):
                ctx.entry.kind = kind
                return self._azure(h, ctx, kind, path[len(prefix):])
        if path.lower() == SIGNINS_PATH.lower():
            ctx.entry.kind = "graph"
            if method != "GET":
                return self._graph_reply(h, ctx, 405, graph_error(
                    "Request_BadRequest", "Specified HTTP method is not allowed for the request target.",
                    ctx.request_id, ctx.client_request_id))
            return self._signins(h, ctx)
        if parts[0] in ("beta", "v1.0"):
            ctx.entry.kind = "graph_other"
            segment = parts[1] if len(parts) > 1 else ""
            return self._graph_reply(h, ctx, 400, graph_error(
                "BadRequest", "Resource not found for the segment '%s'." % segment,
                ctx.request_id, ctx.client_request_id))
        if method == "GET" and path == "/common/discovery/instance":
            ctx.entry.kind = "instance_discovery"
            return self._instance_discovery(h, ctx)
        if method == "GET" and len(parts) == 4 and parts[1:] == ["v2.0", ".well-known",
                                                                  "openid-configuration"]:
            ctx.entry.kind = "discovery"
            return self._discovery(h, ctx, parts[0])
        if method == "POST" and len(parts) == 4 and parts[1:] == ["oauth2", "v2.0", "token"]:
            ctx.entry.kind = "token"
            return self._token(h, ctx, parts[0])
        self._reply(h, ctx, 404, {"error": "not_found", "error_description": "No such endpoint "
                                  "in the fake: %s %s" % (method, path)})

    def _reply(self, h, ctx, status, body, headers=(), truncate=False):
        ctx.entry.status = status
        self._log(ctx)
        headers = [("Content-Type", "application/json; charset=utf-8"),
                   ("Cache-Control", "no-store, no-cache"),
                   ("x-ms-request-id", ctx.request_id),
                   ("client-request-id", ctx.client_request_id)] + list(headers)
        h.send_body(status, body, headers, truncate=truncate)

    def _graph_reply(self, h, ctx, status, body, headers=(), truncate=False):
        headers = [("request-id", ctx.request_id)] + list(headers)
        self._reply(h, ctx, status, body, headers, truncate)

    # -- login.microsoftonline.com --------------------------------------------
    def _known_tenant(self, tenant):
        return tenant in self.tenants

    def _discovery(self, h, ctx, tenant):
        ctx.entry.tenant = tenant
        if not (self._known_tenant(tenant) or self.discovery_any_tenant):
            status, body = aad_error(90002, ctx.client_request_id, tenant=tenant)
            body["error"] = "invalid_tenant"   # discovery says invalid_tenant, token says invalid_request
            return self._reply(h, ctx, 400, body)
        base = "%s/%s" % (self.authority_host, tenant)
        self._reply(h, ctx, 200, {
            "token_endpoint": base + "/oauth2/v2.0/token",
            "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt",
                                                      "client_secret_basic"],
            "jwks_uri": base + "/discovery/v2.0/keys",
            "response_modes_supported": ["query", "fragment", "form_post"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "issuer": base + "/v2.0",
            "request_uri_parameter_supported": False,
            "userinfo_endpoint": self.graph_url + "/oidc/userinfo",
            "authorization_endpoint": base + "/oauth2/v2.0/authorize",
            "device_authorization_endpoint": base + "/oauth2/v2.0/devicecode",
            "http_logout_supported": True,
            "frontchannel_logout_supported": True,
            "end_session_endpoint": base + "/oauth2/v2.0/logout",
            "claims_supported": ["sub", "iss", "aud", "exp", "iat", "tid", "oid"],
            "kerberos_endpoint": base + "/kerberos",
            "tenant_region_scope": "EU",
            "cloud_instance_name": "microsoftonline.com",
            "cloud_graph_host_name": "graph.windows.net",
            "msgraph_host": "127.0.0.1:%d" % self.port,
            "rbac_url": "https://pas.windows.net",
        })

    def _instance_discovery(self, h, ctx):
        # MSAL sends authorization_endpoint=https://HOST/TENANT/oauth2/v2.0/authorize
        endpoint = urlsplit(ctx.params.get("authorization_endpoint", ""))
        tenant = endpoint.path.strip("/").split("/")[0] if endpoint.path.strip("/") else "common"
        if endpoint.hostname not in ("127.0.0.1", "localhost"):
            return self._reply(h, ctx, 400, {
                "error": "invalid_instance",
                "error_description": "AADSTS50049: Unknown or invalid instance.",
                "error_codes": [50049], "timestamp": _aad_timestamp()})
        self._reply(h, ctx, 200, {
            "tenant_discovery_endpoint": "%s/%s/v2.0/.well-known/openid-configuration"
                                         % (self.authority_host, tenant),
            "api-version": "1.1",
            "metadata": [{"preferred_network": "127.0.0.1", "preferred_cache": "127.0.0.1",
                          "aliases": ["127.0.0.1"]}]})

    def _token(self, h, ctx, tenant):
        form = dict(parse_qsl(ctx.body.decode("utf-8", "replace"), keep_blank_values=True))
        cid = ctx.client_request_id
        client_id = form.get("client_id")
        secret = form.get("client_secret")
        # client_secret_basic: the same credentials in an Authorization header
        auth = h.headers.get("Authorization", "")
        if auth.lower().startswith("basic "):
            try:
                user, _, password = base64.b64decode(auth[6:].strip()).decode().partition(":")
                client_id, secret = client_id or user, secret or password
            except (binascii.Error, UnicodeDecodeError):
                pass
        ctx.entry.tenant, ctx.entry.client_id = tenant, client_id

        def fail(code, status=None, headers=(), **fmt):
            default, body = aad_error(code, cid, tenant=tenant, client_id=client_id, **fmt)
            self._reply(h, ctx, status or default, body, headers)

        fault = self.faults.take(TOKEN_FAULTS)
        if fault is not None:
            ctx.entry.fault, params = fault
            status = params.get("status")
            code = params.get("aadsts") or {500: 50000}.get(status, 90033)
            headers = []
            if params.get("retry_after") is not None:
                headers.append(("Retry-After", str(int(params["retry_after"]))))
                ctx.entry.retry_after = int(params["retry_after"])
            return fail(int(code), status and int(status), headers,
                        param="client_secret", grant_type="client_credentials", scope="")
        if not self._known_tenant(tenant):
            return fail(90002)
        grant = form.get("grant_type")
        if not grant:
            return fail(900144, param="grant_type")
        if grant != "client_credentials":
            return fail(70003, grant_type=grant)
        if not client_id:
            return fail(900144, param="client_id")
        if client_id not in self.clients:
            return fail(700016)
        scope = form.get("scope", "")
        if not scope:
            return fail(900144, param="scope")
        # MSAL may add the OIDC scopes; what counts is exactly one resource/.default.
        requested = [s for s in scope.split() if s not in ("openid", "profile", "offline_access")]
        resources = [s for s in requested if s.endswith("/.default")]
        if len(resources) != 1 or len(requested) != 1:
            return fail(1002012, scope=scope)

        assertion = form.get("client_assertion")
        if assertion:
            try:
                header, claims = decode_jwt_unverified(assertion)
            except ValueError:
                return fail(50027)
            if claims.get("iss") != client_id or claims.get("sub") != client_id:
                return fail(700021)
            if isinstance(claims.get("exp"), (int, float)) and claims["exp"] < time.time():
                return fail(700024)
            sent = {str(header.get(k, "")).rstrip("=") for k in ("x5t", "x5t#S256")}
            if self._cert_thumbprints is not None and not sent & self._cert_thumbprints:
                return fail(700027)
        elif secret:
            expected = self.clients.get(client_id)
            if expected is None or not secrets.compare_digest(secret, expected):
                return fail(7000215)
        else:
            return fail(7000218)

        token = secrets.token_urlsafe(32)
        audience = resources[0][:-len("/.default")].rstrip("/")
        with self._lock:
            self._tokens[token] = (tenant, client_id, audience, time.time() + self.token_lifetime)
        self._reply(h, ctx, 200, {"token_type": "Bearer", "expires_in": self.token_lifetime,
                                  "ext_expires_in": self.token_lifetime, "access_token": token})

    # -- graph.microsoft.com ------------------------------------------------
    def _graph_audiences(self):
        return {self.graph_url, "https://localhost:%d" % self.port,
                "https://graph.microsoft.com", GRAPH_APP_ID}

    def _authenticate(self, h, audiences=None):
        """(tenant, client_id) of a valid bearer token for ``audiences`` (default:
        Graph's), or a 401 message."""
        scheme, _, token = h.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None, "Access token is empty."
        with self._lock:
            known = self._tokens.get(token.strip())
        if known is None:
            return None, "CompactToken parsing failed with error code: 80049217"
        tenant, client_id, audience, expiry = known
        if expiry <= time.time():
            return None, "Lifetime validation failed, the token is expired."
        if audience not in (audiences or self._graph_audiences()):
            return None, "Access token validation failure. Invalid audience."
        return (tenant, client_id), None

    # -- ARM and Log Analytics (answers decided in fake_loganalytics.py) ----------
    def _service_audiences(self, kind):
        """Token audiences each service accepts: the fake's URL or the real one."""
        if kind == "arm":
            return {self.management_url, "https://management.azure.com",
                    "https://management.core.windows.net"}
        return {self.log_analytics_url, "https://api.loganalytics.io"}

    def _azure(self, h, ctx, kind, subpath):
        who, problem = self._authenticate(h, self._service_audiences(kind))
        if who is None:
            status, body, headers = unauthorized(kind, problem)
        else:
            ctx.entry.tenant, ctx.entry.client_id = who
            answer = self.azure_monitor.arm if kind == "arm" else self.azure_monitor.query
            status, body, headers = answer(ctx.method, subpath, ctx.params, ctx.body, who[1],
                                           ctx.entry)
        self._reply(h, ctx, status, body, headers)

    def _unauthorized(self, h, ctx, message):
        self._graph_reply(h, ctx, 401, graph_error(
            "InvalidAuthenticationToken", message, ctx.request_id, ctx.client_request_id),
            [("WWW-Authenticate", 'Bearer realm="", authorization_uri="%s/common/oauth2/authorize", '
              'client_id="%s"' % (self.authority_host, GRAPH_APP_ID))])

    def _signins(self, h, ctx):
        who, problem = self._authenticate(h)
        if who is None:
            return self._unauthorized(h, ctx, problem)
        ctx.entry.tenant, ctx.entry.client_id = who

        admitted, retry_after = self.throttle.admit(who)
        if not admitted:
            return self._too_many(h, ctx, retry_after)
        ctx.entry.counted_against = who

        fault = self.faults.take(GRAPH_FAULTS)
        if fault is not None:
            ctx.entry.fault = fault[0]
            if self._apply_fault(h, ctx, *fault):
                return
        shape = self.faults.take(PAGE_FAULTS)
        if shape is not None and fault is None:
            ctx.entry.fault = shape[0]

        try:
            body = self._page(ctx, *(shape or (None, {})))
        except FilterError as exc:
            return self._graph_reply(h, ctx, 400, graph_error(
                "BadRequest", str(exc), ctx.request_id, ctx.client_request_id))
        delay = self.page_delay
        if delay:
            self._stopping.wait(delay)
        self._graph_reply(h, ctx, 200, body, [(
            "Content-Type", "application/json;odata.metadata=minimal;odata.streaming=true;"
                            "IEEE754Compatible=false;charset=utf-8")],
            truncate=ctx.entry.fault == "truncate")

    def _too_many(self, h, ctx, retry_after):
        headers = []
        if retry_after is not None:
            headers.append(("Retry-After", str(int(retry_after))))
            ctx.entry.retry_after = int(retry_after)
        self._graph_reply(h, ctx, 429, graph_error(
            "TooManyRequests", "Too many requests.", ctx.request_id, ctx.client_request_id),
            headers)

    def _apply_fault(self, h, ctx, name, params):
        """Answer according to the fault; False means 'go on and answer
        normally' (slow, and truncate which cuts the normal answer)."""
        rid, crid = ctx.request_id, ctx.client_request_id
        if name == "licence":
            self._graph_reply(h, ctx, 403, graph_error(
                "Authentication_RequestFromNonPremiumTenantOrB2CTenant",
                "Neither tenant is B2C or tenant doesn't have premium license", rid, crid))
        elif name == "permission":
            self._graph_reply(h, ctx, 403, graph_error(
                "Authorization_RequestDenied",
                "Insufficient privileges to complete the operation.", rid, crid))
        elif name == "unauthorized":
            if params.get("revoke"):
                with self._lock:
                    self._tokens.pop(h.headers.get("Authorization", "").partition(" ")[2], None)
            self._unauthorized(h, ctx, params.get(
                "message", "Access token has expired or is not yet valid."))
        elif name == "server_error":
            status = int(params.get("status", 500))
            code, message = {
                502: ("BadGateway", "Bad gateway."),
                503: ("ServiceNotAvailable", "The service is temporarily unavailable. Please retry."),
                504: ("GatewayTimeout", "The gateway timed out."),
            }.get(status, ("InternalServerError", "An internal server error occurred."))
            headers = []
            if params.get("retry_after") is not None:
                headers.append(("Retry-After", str(int(params["retry_after"]))))
                ctx.entry.retry_after = int(params["retry_after"])
            self._graph_reply(h, ctx, status, graph_error(code, message, rid, crid), headers)
        elif name == "throttle":
            self._too_many(h, ctx, params.get("retry_after", 2))
        elif name == "reset":
            ctx.entry.status = None
            h.abort()
        elif name == "slow":
            self._stopping.wait(float(params.get("seconds", 3.0)))
            return False
        elif name == "truncate":
            return False   # send_body cuts the normal answer
        return True

    def _page(self, ctx, fault=None, fault_params=None):
        params = ctx.params
        for option in params:
            if option.startswith("$") and option.lower() not in (
                    "$filter", "$top", "$skiptoken", "$orderby"):
                raise FilterError("Query option '%s' is not allowed. To allow it, set the "
                                  "'AllowedQueryOptions' property on EnableQueryAttribute or "
                                  "QueryValidationSettings." % option[1:].capitalize())
        top_text = params.get("$top", str(self.max_top))
        if not top_text.isdigit() or not 1 <= int(top_text) <= self.max_top:
            raise FilterError("Invalid page size specified: '%s'. Must be between 1 and %d "
                              "inclusive." % (top_text, self.max_top))
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
                matched = list(matched)
                random.Random(fault_params.get("seed", 0)).shuffle(matched)

        page = matched[offset:offset + top]
        body = {"@odata.context": self.graph_url + "/beta/$metadata#auditLogs/signIns",
                "value": [r.data for r in page]}
        if offset + top < len(matched):
            if snapshot_id is None:
                snapshot_id = self._remember(matched)
            body["@odata.nextLink"] = self._next_link(ctx, snapshot_id, offset + top)
        if fault == "repeat_next_link":
            body["@odata.nextLink"] = "%s%s?%s" % (self.graph_url, ctx.path, ctx.query)
        return body

    def _query(self, params):
        """The matching records in response order; the list is what a paging
        cursor then walks, so each record appears exactly once."""
        text = params.get("$filter")
        flt = ODataFilter(text) if text is not None and text.strip() else None
        # Without a signInEventTypes clause the beta API lists interactive sign-ins only.
        interactive_only = flt is None or not flt.mentions_event_types
        order = (params.get("$orderby") or "createdDateTime desc").split()
        if order[0].lower() != "createddatetime" or len(order) > 2 or (
                len(order) == 2 and order[1].lower() not in ("asc", "desc")):
            raise FilterError("OrderBy not supported on '%s'." % params.get("$orderby"))
        with self._lock:
            records = list(self._records)
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

    def _next_link(self, ctx, snapshot_id, offset):
        # Graph's nextLink: the full absolute URL, original options, plus an
        # opaque $skiptoken.
        token = base64.urlsafe_b64encode(("%s:%d" % (snapshot_id, offset)).encode()
                                         ).decode().rstrip("=")
        query = [(k, v) for k, v in ctx.params.items() if k.lower() != "$skiptoken"]
        query.append(("$skiptoken", token))
        return "%s%s?%s" % (self.graph_url, ctx.path,
                            urlencode(query, quote_via=quote, safe="$'(),:/"))

    # -- control endpoints (for subprocess mode) ----------------------------
    def _control(self, h, ctx, what):
        data = json.loads(ctx.body) if ctx.body else {}
        method = ctx.method
        if what == "log" and method == "GET":
            kind = ctx.params.get("kind") or None
            return self._reply(h, ctx, 200, [e.to_json() for e in self.log.entries(kind)])
        if what == "log" and method == "DELETE":
            self.reset_log()
        elif what == "faults" and method == "POST":
            data = dict(data)
            params = dict(data.pop("params", {}) or {})
            params.update({k: v for k, v in data.items() if k not in ("name", "count")})
            self.set_fault(data["name"], data.get("count"), **params)
        elif what == "faults" and method == "DELETE":
            self.clear_faults(ctx.params.get("name"))
        elif what == "records" and method == "POST":
            self.add_records(data)
        elif what == "records" and method == "DELETE":
            self.clear_records()
        elif what == "config" and method == "POST":
            if "page_delay" in data:
                self.page_delay = float(data["page_delay"])
        elif what == "throttle" and method == "DELETE":
            self.reset_throttle()
        elif what == "state" and method == "GET":
            return self._reply(h, ctx, 200, {
                "faults": self.faults.active(), "page_delay": self.page_delay,
                "proxy_requests": self.proxy_requests(), "records": len(self._records)})
        else:
            return self._reply(h, ctx, 404, {"error": "unknown control %s %s" % (method, what)})
        self._reply(h, ctx, 200, {"ok": True})


class FakeControl:
    """Drive a subprocess fake (from its ready-file info) like a FakeMicrosoft."""

    def __init__(self, info):
        self.info = info
        self._ssl = ssl.create_default_context(cafile=info["ca_bundle"])

    def _call(self, method, what, data=None, query=""):
        import urllib.request
        url = "%s/%s%s" % (self.info["control_url"], what, query)
        body = None if data is None else json.dumps(data).encode()
        req = urllib.request.Request(url, data=body, method=method,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, context=self._ssl, timeout=10) as resp:
            return json.loads(resp.read() or b"null")

    def set_fault(self, name, count=None, **params):
        self._call("POST", "faults", {"name": name, "count": count, "params": params})

    def clear_faults(self, name=None):
        self._call("DELETE", "faults", query="?name=" + quote(name) if name else "")

    def add_records(self, records):
        self._call("POST", "records", load_records(records))

    def clear_records(self):
        self._call("DELETE", "records")

    def set_page_delay(self, seconds):
        self._call("POST", "config", {"page_delay": seconds})

    def reset_log(self):
        self._call("DELETE", "log")

    def reset_throttle(self):
        self._call("DELETE", "throttle")

    def log(self, kind=None):
        return self._call("GET", "log", query="?kind=" + kind if kind else "")

    def graph_requests(self):
        return self.log("graph")

    def count(self, status=None, kind="graph"):
        return sum(1 for e in self.log(kind) if status is None or e["status"] == status)

    def state(self):
        return self._call("GET", "state")


# --------------------------------------------------------------------------
# Subprocess mode
# --------------------------------------------------------------------------

def _write_atomically(path, data):
    tmp = "%s.%d.tmp" % (path, os.getpid())
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=2)
    os.replace(tmp, path)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", help="JSON file with FakeMicrosoft arguments")
    parser.add_argument("--ready-file", help="write URLs/port/CA path here once listening")
    args = parser.parse_args(argv)

    config = {}
    if args.config:
        with open(args.config, encoding="utf-8") as fh:
            config = json.load(fh)
    records = load_records(config.pop("records", None))
    if config.get("records_file"):
        records += load_records(config.pop("records_file"))
    config.pop("records_file", None)

    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())

    fake = FakeMicrosoft(records=records, **config)
    fake.start()
    try:
        info = fake.ready_info()
        if args.ready_file:
            _write_atomically(args.ready_file, info)
        else:
            print(json.dumps(info), flush=True)
        while not stop.wait(0.5):
            pass
    finally:
        fake.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
