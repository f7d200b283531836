"""FakeMicrosoft: one threaded HTTPS server on 127.0.0.1 for every Microsoft endpoint.

The certificate comes from a throw-away ``trustme`` CA (``fake.ca_bundle``), valid for
127.0.0.1 and localhost; the port is random.  The path picks the service:

  GET  /{tenant}/v2.0/.well-known/openid-configuration   login.py
  POST /{tenant}/oauth2/v2.0/token                       login.py
  GET  /beta/auditLogs/signIns                           graph.py
  *    /management/...                                   loganalytics.py (ARM)
  *    /loganalytics/...                                 loganalytics.py (Log Analytics)
  *    /_fake/...                                        control, for subprocess mode
  anything else                                          404 naming the path

Next to it runs the forward proxy of proxy.py.  Every request but the control ones is
logged (``fake.requests(kind)``) before it is answered, so a client that holds its answer
finds its request in the log.
"""

import collections
import dataclasses
import json
import os
import socket
import ssl
import struct
import tempfile
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

import trustme

from .graph import GRAPH_FAULTS, PAGE_FAULTS, SIGNINS_PATH, Graph
from .loganalytics import ARM_FAULTS, LA_FAULTS, AzureMonitorFake, unauthorized
from .login import TOKEN_FAULTS, Login
from .proxy import ProxyServer, QuietServerMixin

FAULT_NAMES = GRAPH_FAULTS + PAGE_FAULTS + TOKEN_FAULTS + ARM_FAULTS + LA_FAULTS
SERVICE_PREFIXES = (("/management", "arm"), ("/loganalytics", "loganalytics"))
CONNECTION_TIMEOUT = 30.0


class FaultSwitches:
    """Named faults, each permanent (count=None) or for the next N requests it applies
    to (token faults: token requests; Graph faults: Graph requests; page faults: pages
    served; ARM and Log Analytics faults: their requests).  ``after=K`` keeps a fault
    dormant for the next K such requests (a fault mid-run).  When several of one group
    are set, the one set first fires first."""

    def __init__(self):
        self._lock = threading.Lock()
        self._active = collections.OrderedDict()  # name -> [remaining or None, params]

    def set(self, name, count=None, **params):
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
                self._active.pop(name, None)

    def take(self, names):
        """Consume one use of the first active fault among ``names``: (name, params) or
        None.  Dormant faults (``after``) count the request."""
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
        """{name: {"count": remaining or None, **params}} of the faults still set."""
        with self._lock:
            return {name: {"count": e[0], **e[1]} for name, e in self._active.items()}


@dataclasses.dataclass
class LoggedRequest:
    time: float                 # time.time() when the request arrived
    method: str
    path: str
    query: str                  # raw query string
    params: dict                # decoded query (last value wins)
    kind: str                   # discovery, token, graph, arm, loganalytics, other
    status: object = None       # int, or None when the connection was reset
    duration: float = 0.0

    def to_json(self):
        return dataclasses.asdict(self)


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


class _TLSServer(QuietServerMixin, ThreadingHTTPServer):
    # The TLS handshake happens in the connection's own thread, not in the
    # accept loop, so one stuck client cannot stall everyone else.
    daemon_threads = True

    def __init__(self, address, fake, ssl_context):
        self.fake = fake
        self.ssl_context = ssl_context
        self.connections = set()
        self.connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def finish_request(self, request, client_address):
        request.settimeout(CONNECTION_TIMEOUT)
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


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"   # keep-alive, like the real services
    disable_nagle_algorithm = True  # else headers+body writes cost a 40 ms delayed ACK
    server_version = "fake-microsoft"
    sys_version = ""

    def log_message(self, *args):   # the RequestLog records what matters
        pass

    def _dispatch(self):
        self.server.fake._handle(self)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _dispatch

    def send_body(self, status, body, headers, truncate=False):
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
    """One request: what the handlers need, and its entry in the request log."""

    def __init__(self, handler):
        split = urlsplit(handler.path)
        self.method, self.path, self.query = handler.command, split.path, split.query
        self.params = dict(parse_qsl(split.query, keep_blank_values=True))
        self.authorization = handler.headers.get("Authorization")
        self.ids = (str(uuid.uuid4()),   # request-id, client-request-id
                    handler.headers.get("client-request-id") or str(uuid.uuid4()))
        # Read the body up front, whatever the route: an unread body would
        # be taken for the next request on this keep-alive connection.
        length = int(handler.headers.get("Content-Length") or 0)
        self.body = handler.rfile.read(length) if length > 0 else b""
        self.started = time.monotonic()
        self.logged = False
        self.entry = LoggedRequest(time=time.time(), method=self.method, path=self.path,
                                   query=self.query, params=self.params, kind="other")


class FakeMicrosoft:
    """Entra login, Graph sign-in log, ARM, Log Analytics and a forward proxy on loopback.

    Use as a context manager (``with FakeMicrosoft(...) as fake``) or call
    ``start()`` / ``stop()``.
    """

    def __init__(self, records=None, tenant="t1", client_id="c1", client_secret="s3cr3t",
                 client_certificate=None, page_delay=0.0, throttle_limit=5,
                 throttle_window=10.0, page_size=None, proxy_user="proxyuser",
                 proxy_password="proxypass", workdir=None, workspaces=None,
                 diagnostic_settings=None, row_limit=500000):
        """
        records:          signIn dicts, ``{"value": [...]}``, or a JSON/JSONL path.
        tenant, client_id, client_secret: the one tenant and app the fake knows.
        client_certificate: PEM; if set, a client_assertion's x5t/x5t#S256 must
                          match it (signature still not verified).
        page_delay:       seconds every Graph page takes (runtime: ``fake.page_delay = x``).
        throttle_limit, throttle_window: Graph requests admitted per window per
                          (tenant, client); 0/None disables throttling.
        page_size:        at most this many records a page, whatever $top says.
        proxy_user, proxy_password: Basic credentials the proxy demands.
        workdir:          where the CA bundle goes (default: a temp dir, removed on stop).
        workspaces, diagnostic_settings, row_limit: the fake ARM and Log Analytics
                          (see loganalytics.AzureMonitorFake).
        """
        self.tenant, self.client_id, self.client_secret = tenant, client_id, client_secret
        self.clients = {client_id: client_secret}   # tests/conftest.py scans for leaks
        self.proxy_user, self.proxy_password = proxy_user, proxy_password
        self.faults = FaultSwitches()
        self.log = RequestLog()
        self._stopping = threading.Event()
        self.login = Login(self.faults, tenant, client_id, client_secret, client_certificate)
        # tests/conftest.py looks for leaked access tokens in these
        self._lock, self._tokens = self.login.lock, self.login.tokens
        self.graph = Graph(self.faults, self.login, self._stopping, page_delay=page_delay,
                           throttle_limit=throttle_limit, throttle_window=throttle_window,
                           page_size=page_size)
        self.throttle = self.graph.throttle
        self.graph.add_records(records)
        self.azure_monitor = AzureMonitorFake(
            self.graph.snapshot, self.faults, tenant, workspaces=workspaces,
            diagnostic_settings=diagnostic_settings, row_limit=row_limit)
        self._threads = []
        self._server = self._proxy = None
        self._workdir = workdir
        self._own_workdir = None

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

        self._server = _TLSServer(("127.0.0.1", 0), self, context)
        self._proxy = ProxyServer(("127.0.0.1", 0), self.proxy_user, self.proxy_password,
                                  self._stopping)
        self.port = self._server.server_address[1]
        self.proxy_port = self._proxy.server_address[1]
        # The addresses: one host plays every service.
        self.authority_host = self.graph_url = "https://127.0.0.1:%d" % self.port
        self.scope = self.graph_url + "/.default"
        self.signins_url = self.graph_url + SIGNINS_PATH
        self.control_url = self.authority_host + "/_fake"
        self.management_url = self.authority_host + "/management"
        self.log_analytics_url = self.authority_host + "/loganalytics"
        self.log_analytics_scope = self.log_analytics_url + "/.default"
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

    # -- runtime controls ---------------------------------------------------
    def set_fault(self, name, count=None, **params):
        """Make the next ``count`` requests (all, if None) that ``name`` applies to fail;
        the faults and their parameters are listed in graph.py, login.py and
        loganalytics.py.  Any fault takes after=K: it lies dormant for the next K."""
        self.faults.set(name, count, **params)

    def clear_faults(self, name=None):
        self.faults.clear(name)

    def add_records(self, records):
        self.graph.add_records(records)

    def expire_tokens(self):
        """Make every issued access token expired (the services then answer 401)."""
        self.login.expire_tokens()

    @property
    def page_delay(self):
        return self.graph.page_delay

    @page_delay.setter
    def page_delay(self, seconds):
        self.graph.page_delay = seconds

    def reset_throttle(self):
        self.throttle.reset()

    # -- the logs -----------------------------------------------------------
    def requests(self, kind=None):
        return self.log.entries(kind)

    def graph_requests(self):
        return self.log.entries("graph")

    def token_requests(self):
        return self.log.entries("token")

    def count(self, status=None, kind="graph"):
        """Logged requests of ``kind`` (None: all kinds) with ``status`` (None: any)."""
        return sum(1 for e in self.log.entries(kind) if status is None or e.status == status)

    def proxy_requests(self):
        return self._proxy.requests()

    def reset_log(self):
        self.log.clear()
        if self._proxy is not None:
            self._proxy.clear()

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
        if method == "GET" and path.lower() == SIGNINS_PATH.lower():
            ctx.entry.kind = "graph"
            answer = self.graph.signins(self.graph_url, path, ctx.query, ctx.params,
                                        ctx.authorization, ctx.ids)
            if answer.status is None:   # the reset fault: logged with status None
                return h.abort()
            return self._reply(h, ctx, answer.status, answer.body, answer.headers,
                               answer.truncate)
        if method == "GET" and len(parts) == 4 and parts[1:] == ["v2.0", ".well-known",
                                                                  "openid-configuration"]:
            ctx.entry.kind = "discovery"
            return self._reply(h, ctx, *self.login.discovery(self.authority_host, parts[0],
                                                             ctx.ids[1]))
        if method == "POST" and len(parts) == 4 and parts[1:] == ["oauth2", "v2.0", "token"]:
            ctx.entry.kind = "token"
            return self._reply(h, ctx, *self.login.token(ctx.body, parts[0], ctx.ids[1]))
        self._reply(h, ctx, 404, {"error": "not_found", "error_description": "No such endpoint "
                                  "in the fake: %s %s" % (method, path)})

    def _reply(self, h, ctx, status, body, headers=(), truncate=False):
        ctx.entry.status = status
        self._log(ctx)
        headers = list(headers)
        if not any(name.lower() == "content-type" for name, _ in headers):
            headers.append(("Content-Type", "application/json; charset=utf-8"))
        headers += [("Cache-Control", "no-store, no-cache"), ("x-ms-request-id", ctx.ids[0]),
                    ("client-request-id", ctx.ids[1])]
        h.send_body(status, body, headers, truncate=truncate)

    def _azure(self, h, ctx, kind, subpath):
        """ARM and Log Analytics: accept a token for the fake's URL or the real one."""
        if kind == "arm":
            audiences = {self.management_url, "https://management.azure.com",
                         "https://management.core.windows.net"}
        else:
            audiences = {self.log_analytics_url, "https://api.loganalytics.io"}
        who, problem = self.login.authenticate(ctx.authorization, audiences)
        if who is None:
            status, body, headers = unauthorized(kind, problem)
        elif kind == "arm":
            status, body, headers = self.azure_monitor.arm(ctx.method, subpath, ctx.params,
                                                           who[1])
        else:
            status, body, headers = self.azure_monitor.query(ctx.method, subpath, ctx.body)
        self._reply(h, ctx, status, body, headers)

    def _control(self, h, ctx, what):
        """Subprocess mode's control endpoints (see FakeControl)."""
        method = ctx.method
        if what == "log" and method == "GET":
            kind = ctx.params.get("kind") or None
            return self._reply(h, ctx, 200, [e.to_json() for e in self.log.entries(kind)])
        if what == "state" and method == "GET":
            return self._reply(h, ctx, 200, {"proxy_requests": self.proxy_requests()})
        if what == "log" and method == "DELETE":
            self.reset_log()
        elif what == "throttle" and method == "DELETE":
            self.reset_throttle()
        else:
            return self._reply(h, ctx, 404, {"error": "unknown control %s %s" % (method, what)})
        self._reply(h, ctx, 200, {"ok": True})


class FakeControl:
    """Drive a subprocess fake from its ready-file info: its request log (entries as
    dicts), its proxy log (``state()["proxy_requests"]``) and its throttle."""

    def __init__(self, info):
        self.info = info
        self._ssl = ssl.create_default_context(cafile=info["ca_bundle"])

    def _call(self, method, what):
        import urllib.request
        req = urllib.request.Request("%s/%s" % (self.info["control_url"], what), method=method)
        with urllib.request.urlopen(req, context=self._ssl, timeout=10) as resp:
            return json.loads(resp.read() or b"null")

    def log(self, kind=None):
        return self._call("GET", "log?kind=" + kind if kind else "log")

    def graph_requests(self):
        return self.log("graph")

    def reset_throttle(self):
        self._call("DELETE", "throttle")

    def state(self):
        return self._call("GET", "state")
