"""One place that makes text safe to print: secrets out, data strings tamed.

Every message that leaves the plugin (status line, long output, DD, logs) passes through
``scrub``. Secrets are registered when they are read (environment, files), so even an
exception text that quotes one is cleaned.
"""

import re

_SECRETS = set()
MASK = "****"

# Credentials in URLs, headers and form bodies, whatever their value:
# each pattern has three groups, (what precedes)(the secret)(what follows).
_PATTERNS = (
    re.compile(r"(?i)((?:client_secret|password|passwd|client_assertion|access_token"
               r"|refresh_token)['\"]?\s*[=:]\s*['\"]?)([^&'\"\s,;}]+)()"),
    re.compile(r"(?i)((?:bearer|basic)\s+)([A-Za-z0-9._~+/=-]{8,})()"),
    re.compile(r"(?i)(\w+://[^:/@\s]+:)([^@/\s]+)(@)"),
)


def register(secret):
    """Remember a secret so that it is masked wherever it shows up."""
    if secret and len(secret) >= 4:
        _SECRETS.add(secret)
    return secret


def scrub(text):
    text = str(text)
    for secret in sorted(_SECRETS, key=len, reverse=True):
        text = text.replace(secret, MASK)
    for pattern in _PATTERNS:
        text = pattern.sub(lambda m: m.group(1) + MASK + m.group(3), text)
    return text


# Characters that act instead of showing: C0 and C1 controls (terminal escape sequences
# start with ESC), DEL, bidirectional formatting and line/paragraph separators.
_HIDDEN = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029"
                     "\u202a-\u202e\u2066-\u2069]")


def _escape(match):
    code = ord(match.group())
    return "\\x%02x" % code if code < 0x100 else "\\u%04x" % code


def message(text):
    """An error or a note for the output: one line, long enough that the fix at the end of
    a line with long paths (state directory, tenant, client id) is never cut."""
    return one_line(text, 1000)


def one_line(text, limit=300):
    """Data or error text for the status line: one line, no '|', no control or bidi
    characters (written as escapes such as ``\\x1b``), bounded length."""
    text = scrub(text)
    text = _HIDDEN.sub(_escape, " ".join(text.replace("|", "/").split()))
    return text if len(text) <= limit else text[: limit - 3] + "..."
