"""Microsoft Graph (beta) ``auditLogs/signIns``: one page per call, with pacing, retries and
errors that say what to do.

Pages are asked for newest first (``$orderby=createdDateTime desc``): after each page,
everything newer than its oldest sign-in is complete, which is what lets the collector
keep partial progress (fetch.py checks the order before relying on it).
"""

import json
import random
import time
from urllib.parse import urlencode, urlsplit

from nagiosplugin import CheckError

from .. import network, normalize, pacing, timeutil

PAGE_SIZE = 1000
SIGNINS_PATH = "/beta/auditLogs/signIns"
SCOPE_SUFFIX = "/.default"

LICENCE_HELP = ("Microsoft Graph says the tenant has no Entra ID P1/P2 licence "
                "(Authentication_RequestFromNonPremiumTenantOrB2CTenant); sign-in logs need "
                "P1 or P2. Microsoft also returns this now and then on licensed tenants: if "
                "the tenant is licensed, the next run usually succeeds")
PERMISSION_HELP = ("Microsoft Graph denied access (Authorization_RequestDenied): grant the "
                   "app AuditLog.Read.All and Directory.Read.All as application permissions "
                   "and give admin consent")


class Transient(Exception):
    """A failure worth retrying (throttling, 5xx, reset, cut-off body)."""

    def __init__(self, message, retry_after=None, throttled=False):
        super().__init__(message)
        self.retry_after = retry_after
        self.throttled = throttled


def signins_filter(start, end, event_types):
    kinds = " or ".join("t eq '%s'" % t for t in event_types)
    return ("createdDateTime ge %s and createdDateTime lt %s and signInEventTypes/any(t: %s)"
            % (_graph_time(start), _graph_time(end), kinds))


def _graph_time(moment):
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if moment.microsecond:
        text += ".%06d" % moment.microsecond
    return text + "Z"


class GraphSource:
    """Pages of normalized sign-ins from one tenant's Graph endpoint."""

    def __init__(self, graph_url, tokens, http, session, pacer, deadline, max_attempts=6):
        self.graph_url = graph_url.rstrip("/")
        self.host = urlsplit(self.graph_url).hostname or self.graph_url
        self.tokens = tokens          # auth.TokenProvider
        self.http = http              # network.HttpSettings
        self.session = session
        self.pacer = pacer
        self.deadline = deadline      # time.time() value
        self.max_attempts = max_attempts
        self.requests = 0
        self.refused_tokens = 0

    @property
    def scope(self):
        return self.graph_url + SCOPE_SUFFIX

    def first_url(self, start, end, event_types):
        query = urlencode({"$filter": signins_filter(start, end, event_types),
                           "$orderby": "createdDateTime desc",
                           "$top": str(PAGE_SIZE)}, safe="$/:',()")
        return "%s%s?%s" % (self.graph_url, SIGNINS_PATH, query)

    def page(self, url):
        """(rows, next_url) for one page, retrying what is transient until the deadline."""
        for attempt in range(1, self.max_attempts + 1):
            try:
                records, next_url = self._get(url)
                return [normalize.from_graph(r) for r in records], next_url
            except Transient as exc:
                wait = exc.retry_after if exc.retry_after is not None else _backoff(attempt)
                if exc.throttled:
                    self.pacer.block(wait)
                if attempt == self.max_attempts:
                    raise CheckError("Microsoft Graph kept failing after %d attempts: %s"
                                     % (attempt, exc))
                if time.time() + wait > self.deadline:
                    raise pacing.OutOfTime(wait, exc.throttled, str(exc))
                if not exc.throttled:  # a throttled key is waited out by the pacer
                    time.sleep(wait)
            except ValueError as exc:
                raise CheckError("Microsoft Graph sent a sign-in this check cannot read: %s"
                                 % exc)
        raise AssertionError("unreachable")

    def _get(self, url):
        import requests

        self.pacer.acquire(self.deadline)
        token = self.tokens.token(self.scope)
        headers = {"Authorization": "Bearer " + token,
                   "Prefer": "include-unknown-enum-members", "Accept": "application/json"}
        remaining = max(1.0, self.deadline - time.time())
        self.requests += 1
        try:
            response = self.session.get(url, headers=headers,
                                        timeout=(min(10.0, remaining),
                                                 min(self.http.timeout, remaining)))
            body = response.content
        except (requests.exceptions.ReadTimeout, requests.exceptions.ChunkedEncodingError) as exc:
            raise Transient(network.describe_error(exc, self.host))
        except requests.exceptions.ConnectionError as exc:
            if _is_reset(exc):
                raise Transient("connection reset by %s" % self.host)
            raise CheckError(network.describe_error(exc, self.host))
        except requests.exceptions.RequestException as exc:
            raise CheckError(network.describe_error(exc, self.host))
        status = response.status_code
        if status == 200:
            try:
                page = json.loads(body)
            except ValueError:
                raise Transient("Microsoft Graph's answer ended mid-JSON (%d bytes)" % len(body))
            if not isinstance(page, dict) or not isinstance(page.get("value"), list):
                raise CheckError("Microsoft Graph answered without a 'value' list: is "
                                 "--graph-url right?")
            return page["value"], page.get("@odata.nextLink")
        code, message = _graph_error(body)
        retry_after = _retry_after(response.headers.get("Retry-After"))
        if status == 429:
            raise Transient("throttled (429)", retry_after, throttled=True)
        if status in (500, 502, 503, 504):
            raise Transient("HTTP %d %s" % (status, code or ""), retry_after)
        if status == 401:
            self.tokens.forget(token)
            self.refused_tokens += 1
            if self.refused_tokens == 1:  # expired or revoked early: one new token
                raise Transient("Microsoft Graph refused the token (401); asking for a new one",
                                retry_after=0)
            raise CheckError("Microsoft Graph refused the token (401 %s): %s" % (
                code or "Unauthorized", message or "check --tenant-id and the app registration"))
        if status == 403 and code == "Authentication_RequestFromNonPremiumTenantOrB2CTenant":
            raise CheckError(LICENCE_HELP)
        if status == 403 and code == "Authorization_RequestDenied":
            raise CheckError(PERMISSION_HELP)
        raise CheckError("Microsoft Graph answered HTTP %d %s: %s" % (
            status, code or "", (message or "")[:200]))


def _graph_error(body):
    try:
        error = json.loads(body).get("error") or {}
        return error.get("code"), error.get("message")
    except (ValueError, AttributeError):
        return None, None


def _retry_after(value):
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def _backoff(attempt):
    # 1, 2, 4, 8 ... seconds with jitter, so retrying checks do not march in step.
    return min(30.0, 2 ** (attempt - 1)) * (0.75 + random.random() / 2)


def _is_reset(exc):
    text = repr(exc)
    return any(s in text for s in ("ConnectionResetError", "Connection aborted",
                                   "RemoteDisconnected", "BrokenPipe"))


def oldest(rows):
    return min(timeutil.from_store(r["created"]) for r in rows) if rows else None
