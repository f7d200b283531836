"""The fake's authenticating HTTP forward proxy: plain HTTP on loopback, CONNECT only.

  CONNECT 127.0.0.1:PORT (or localhost, ::1)   200, then bytes are relayed both ways
  CONNECT without the right Basic credentials  407 Proxy Authentication Required
  CONNECT to any other host                    403 (a test never reaches the internet)
  any other method                             501

Every request is logged (``fake.proxy_requests()``: time, method, target, status) before
it is answered, so tests can prove that both the token and the Graph requests went
through the proxy.
"""

import base64
import binascii
import secrets
import selectors
import socket
import ssl
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from socketserver import TCPServer


class QuietServerMixin:
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


class ProxyServer(QuietServerMixin, ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address, user, password, stopping):
        self.user, self.password, self.stopping = user, password, stopping
        self.lock = threading.Lock()
        self.log = []
        super().__init__(address, _ProxyHandler)

    def note(self, entry):
        with self.lock:
            self.log.append(entry)

    def requests(self):
        with self.lock:
            return [dict(e) for e in self.log]

    def clear(self):
        with self.lock:
            self.log.clear()


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
        header = self.headers.get("Proxy-Authorization", "")
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            user, _, password = base64.b64decode(value.strip()).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        return (secrets.compare_digest(user, self.server.user)
                and secrets.compare_digest(password, self.server.password or ""))

    def do_CONNECT(self):
        entry = {"time": time.time(), "method": "CONNECT", "target": self.path, "status": None}

        def answer(status, reason, extra=()):
            # Noted before answering: a client holding the answer finds it logged.
            entry["status"] = status
            self.server.note(entry)
            if status != 200:
                self._refuse(status, reason, extra)

        if not self._authorized():
            return answer(407, "Proxy Authentication Required",
                          [("Proxy-Authenticate", 'Basic realm="fake-proxy"')])
        host, _, port = self.path.rpartition(":")
        host = host.strip("[]")
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
        _relay(self.connection, upstream, self.server.stopping)

    def _not_supported(self):
        self.server.note({"time": time.time(), "method": self.command, "target": self.path,
                          "status": 501})
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
