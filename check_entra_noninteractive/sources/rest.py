"""What the online sources share about one HTTP request: sending it within the deadline,
reading Microsoft's error shape, and retrying what is transient (throttling, 5xx, resets,
read timeouts) with the waits Microsoft asks for.
"""

import json
import random
import time

from nagiosplugin import CheckError

from .. import network, pacing


class Transient(Exception):
    """A failure worth retrying (throttling, 5xx, reset, cut-off body)."""

    def __init__(self, message, retry_after=None, throttled=False):
        super().__init__(message)
        self.retry_after = retry_after
        self.throttled = throttled


def send(session, method, url, host, http, deadline, headers, body=None):
    """The response to one request, or Transient / CheckError with one line for people."""
    import requests

    remaining = max(1.0, deadline - time.time())
    try:
        response = session.request(method, url, headers=headers, json=body,
                                   timeout=(min(10.0, remaining), min(http.timeout, remaining)))
        response.content  # read the body here, where a cut-off read is caught
        return response
    except (requests.exceptions.ReadTimeout, requests.exceptions.ChunkedEncodingError) as exc:
        raise Transient(network.describe_error(exc, host))
    except requests.exceptions.ConnectionError as exc:
        if _is_reset(exc):
            raise Transient("connection reset by %s" % host)
        raise CheckError(network.describe_error(exc, host))
    except requests.exceptions.RequestException as exc:
        raise CheckError(network.describe_error(exc, host))


def transient_status(response, code):
    """Transient for a 429 or a 5xx answer, else None."""
    status = response.status_code
    wait = retry_after(response.headers.get("Retry-After"))
    if status == 429:
        return Transient("throttled (429)", wait, throttled=True)
    if status in (500, 502, 503, 504):
        return Transient("HTTP %d %s" % (status, code or ""), wait)
    return None


def json_body(response, service):
    """The JSON of a 200 answer; a body cut off mid-JSON is worth another try."""
    try:
        return json.loads(response.content)
    except ValueError:
        raise Transient("%s's answer ended mid-JSON (%d bytes)"
                        % (service, len(response.content)))


def error_of(body):
    """(code, message) of Microsoft's ``{"error": {"code", "message"}}``, or (None, None)."""
    try:
        error = json.loads(body).get("error") or {}
        return error.get("code"), error.get("message")
    except (ValueError, AttributeError):
        return None, None


def retry_after(value):
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def with_retries(call, service, pacer, deadline, max_attempts=6):
    """``call()``'s result, trying a Transient failure again until ``deadline`` (a time.time()
    value); a throttled answer blocks ``pacer`` for everyone."""
    for attempt in range(1, max_attempts + 1):
        try:
            return call()
        except Transient as exc:
            wait = exc.retry_after if exc.retry_after is not None else _backoff(attempt)
            if exc.throttled:
                pacer.block(wait)
            if attempt == max_attempts:
                raise CheckError("%s kept failing after %d attempts: %s"
                                 % (service, attempt, exc))
            if time.time() + wait > deadline:
                raise pacing.OutOfTime(wait, exc.throttled, str(exc))
            if not exc.throttled:  # a throttled key is waited out by the pacer
                time.sleep(wait)
    raise AssertionError("unreachable")


def _backoff(attempt):
    # 1, 2, 4, 8 ... seconds with jitter, so retrying checks do not march in step.
    return min(30.0, 2 ** (attempt - 1)) * (0.75 + random.random() / 2)


def _is_reset(exc):
    text = repr(exc)
    return any(s in text for s in ("ConnectionResetError", "Connection aborted",
                                   "RemoteDisconnected", "BrokenPipe"))
