"""Microsoft's clouds, HTTP settings shared by every request, and what network errors mean.

requests is imported lazily: a check that needs no request never loads it.
"""

import os
from dataclasses import dataclass
from typing import Optional
from urllib.parse import quote, urlsplit

@dataclass(frozen=True)
class Cloud:
    """Microsoft's hosts in one national cloud."""

    login: str
    graph: str
    management: str       # Azure Resource Manager
    log_analytics: str    # the Log Analytics query API


CLOUDS = {
    "global": Cloud("https://login.microsoftonline.com", "https://graph.microsoft.com",
                    "https://management.azure.com", "https://api.loganalytics.io"),
    "usgov": Cloud("https://login.microsoftonline.us", "https://graph.microsoft.us",
                   "https://management.usgovcloudapi.net", "https://api.loganalytics.us"),
    "usgov-dod": Cloud("https://login.microsoftonline.us", "https://dod-graph.microsoft.us",
                       "https://management.usgovcloudapi.net", "https://api.loganalytics.us"),
    "china": Cloud("https://login.chinacloudapi.cn", "https://microsoftgraph.chinacloudapi.cn",
                   "https://management.chinacloudapi.cn", "https://api.loganalytics.azure.cn"),
}


@dataclass
class HttpSettings:
    proxy_url: Optional[str] = None   # http://[user:password@]host:port, password quoted
    timeout: float = 30.0             # per request (connect and read)
    known_authority: bool = True      # False for --authority-host outside Microsoft's list

    @property
    def proxies(self):
        return {"https": self.proxy_url, "http": self.proxy_url} if self.proxy_url else None

    @property
    def verify(self):
        # Read the bundle ourselves: a session that ignores the environment (explicit proxy)
        # must still trust what REQUESTS_CA_BUNDLE names.
        return os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True

    def msal_options(self):
        # An authority host of our own (a sovereign cloud's mirror, or a test fake) is not in
        # MSAL's list of known hosts: skip instance discovery instead of asking Microsoft.
        return {} if self.known_authority else {"instance_discovery": False}

    def session(self):
        """One requests session for MSAL and Graph alike: same proxy, trust and timeout."""
        import requests

        default_timeout = self.timeout

        class Session(requests.Session):
            def request(self, method, url, timeout=default_timeout, **kwargs):
                # MSAL passes no timeout of its own; a call may still give one explicitly.
                return super().request(method, url, timeout=timeout, **kwargs)

        session = Session()
        if self.proxy_url:
            # requests lets HTTPS_PROXY from the environment override a session's proxies;
            # an explicit --proxy-host must win.
            session.trust_env = False
            session.proxies = self.proxies
        session.verify = self.verify
        session.headers["User-Agent"] = "check_entra_noninteractive"
        return session


def proxy_url(host, port, user=None, password=None):
    if not host:
        return None
    if "://" in host:
        host = urlsplit(host).hostname or host
    auth = ""
    if user:
        auth = quote(user, safe="") + (":" + quote(password, safe="") if password else "") + "@"
    return "http://%s%s:%d" % (auth, host, port)


def describe_error(exc, what):
    """One line for a requests exception raised while talking to ``what`` (a host)."""
    import requests

    text = str(exc)
    if isinstance(exc, requests.exceptions.ProxyError):
        if "407" in text:
            return ("proxy authentication failed (407) while connecting to %s: check "
                    "--proxy-user and the proxy password (ENTRA_PROXY_PASSWORD or "
                    "--proxy-password-file)" % what)
        return "proxy failure while connecting to %s: %s" % (what, _root_cause(exc))
    if isinstance(exc, requests.exceptions.SSLError):
        return ("TLS failure talking to %s: %s (is a TLS-inspecting proxy in the way? point "
                "REQUESTS_CA_BUNDLE at its CA)" % (what, _root_cause(exc)))
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return "timed out connecting to %s: check the network path or --proxy-host" % what
    if isinstance(exc, requests.exceptions.ReadTimeout):
        return "%s did not answer in time (read timeout)" % what
    if isinstance(exc, requests.exceptions.ConnectionError):
        cause = _root_cause(exc)
        if "Name or service not known" in cause or "getaddrinfo" in cause or \
                "Temporary failure in name resolution" in cause:
            return "cannot resolve %s (DNS): check the name and this host's resolver" % what
        return "cannot connect to %s: %s" % (what, cause)
    return "request to %s failed: %s" % (what, _root_cause(exc))


def _root_cause(exc):
    seen = exc
    while getattr(seen, "__context__", None) is not None or getattr(seen, "reason", None):
        nxt = getattr(seen, "reason", None) or seen.__context__
        if nxt is None or nxt is seen or not isinstance(nxt, BaseException):
            break
        seen = nxt
    text = str(seen) or type(seen).__name__
    # urllib3 wraps its messages in object reprs: keep the readable tail.
    if ": " in text and text.startswith("<"):
        text = text.split(": ", 1)[1]
    return text.strip("()'\" ")
