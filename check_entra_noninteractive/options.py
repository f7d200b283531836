"""Option types shared by the command line and the sources' own options.

Each type turns a bad value into ``argparse.ArgumentTypeError`` with words a person can act
on; ``UsageError`` is a bad combination of options, found after parsing.
"""

import argparse
import re
from datetime import timedelta

from . import timeutil

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9.-]{0,252}")  # a full match (re.fullmatch)
_GUID = re.compile(r"[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-"
                   r"[0-9A-Fa-f]{12}")


class UsageError(Exception):
    """A bad command line; becomes UNKNOWN with the message."""


def shorten(text, size=40):
    text = str(text).strip()
    return text if len(text) <= size else text[:size] + "..."


def int_upto(maximum):
    """A whole number from 1 to ``maximum``."""
    def check(text):
        try:
            value = int(text)
        except ValueError:
            if re.fullmatch(r"\s*[+-]?[0-9]+\s*", text):  # too many digits for int()
                value = 0 if text.strip().startswith("-") else maximum + 1
            else:
                raise argparse.ArgumentTypeError("must be a whole number, not %r"
                                                 % shorten(text))
        if value < 1:
            raise argparse.ArgumentTypeError("must be 1 or more, not %s" % shorten(text))
        if value > maximum:
            raise argparse.ArgumentTypeError("must be at most %d, not %s"
                                             % (maximum, shorten(text)))
        return value
    return check


def number_between(least, most):
    """A number (decimals allowed) from ``least`` to ``most``."""
    def check(text):
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError("must be a number, not %r" % shorten(text))
        if not least <= value <= most:  # also refuses nan
            raise argparse.ArgumentTypeError("must be from %g to %g, not %s"
                                             % (least, most, shorten(text)))
        return value
    return check


def duration_upto(maximum):
    """A duration (300s, 5m, 2h, 3d) of at most ``maximum`` (same form)."""
    most = timeutil.duration_seconds(maximum)

    def check(text):
        try:
            seconds = timeutil.duration_seconds(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc))
        if seconds > most:
            raise argparse.ArgumentTypeError("must be at most %s, not %s"
                                             % (maximum, shorten(text)))
        return timedelta(seconds=seconds)
    return check


def timestamp(text):
    try:
        return timeutil.parse_time(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            "%r is not an ISO 8601 UTC time such as 2026-11-20T08:30:00Z" % text[:40])


def _url(pattern, wanted):
    """A URL that ``pattern`` matches whole, trailing slash removed."""
    def check(text):
        if not re.fullmatch(pattern, text):
            raise argparse.ArgumentTypeError("%r must be an %s URL" % (text[:80], wanted))
        return text.rstrip("/")
    return check


# No white space anywhere: a URL with a stray newline would break the long output.
https_url = _url(r"https://[^/\s]+\S*", "https://")
# Icinga Web may serve the DD pages over plain http on an internal network.
web_url = _url(r"https?://[^/\s]+\S*", "http:// or https://")


def name(text):
    """A tenant or client ID: a GUID or a domain name."""
    if not _NAME.fullmatch(text):
        raise argparse.ArgumentTypeError(
            "%r is not a tenant/client ID (a GUID or a domain name)" % text[:60])
    return text


def guid(text):
    if not _GUID.fullmatch(text.strip()):
        raise argparse.ArgumentTypeError("%r is not a GUID such as "
                                         "0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0" % shorten(text))
    return text.strip().lower()
