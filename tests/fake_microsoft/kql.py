"""The one KQL query shape the fake Log Analytics understands (it does NOT run KQL)::

    union isfuzzy=true
    (AADNonInteractiveUserSignInLogs
     | where TimeGenerated >= datetime(2026-11-20T08:00:00Z) and TimeGenerated < datetime(...)
     | project Id, TimeGenerated, ResultType = tostring(ResultType), IPAddress),
    (AADServicePrincipalSignInLogs | where ... | project ...)

plus the request's ``timespan`` as START/END.  Anything else is a KqlError that says what
the fake did not understand (answered with 400), so a product query that drifts from this
shape fails loudly instead of being half-understood.
"""

import dataclasses
import re
from datetime import datetime, timezone


# --------------------------------------------------------------------------
# Time: ISO 8601 instants, the request's timespan
# --------------------------------------------------------------------------

class KqlError(ValueError):
    """A request Log Analytics answers with 400 BadArgumentError."""

    def __init__(self, kind, message):
        super().__init__(message)
        self.kind = kind   # "syntax", "semantic" or "validation"


def parse_instant(text):
    value = datetime.fromisoformat(text.strip())
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value


def parse_timespan(text):
    """(start, end) of ``START/END``; None when there is no timespan."""
    if not text:
        return None
    try:
        first, second = text.split("/")
        return parse_instant(first), parse_instant(second)
    except ValueError:
        raise KqlError("validation", "Failed parsing timespan '%s' (the fake understands "
                       "START/END only)" % text)


# --------------------------------------------------------------------------
# The query shape the fake understands
# --------------------------------------------------------------------------

@dataclasses.dataclass
class Projection:
    name: str          # output column
    source: str        # table column it comes from
    to_string: bool    # wrapped in tostring()


@dataclasses.dataclass
class Leg:
    table: str
    bounds: list       # [(operator, datetime)] on TimeGenerated, all must hold
    projections: list  # [Projection]


def _top_level(text):
    """Indices of the characters outside parentheses and string literals.  Tracking
    the depth is what lets ``datetime(...)`` and ``tostring(...)`` nest safely."""
    depth, quote, i = 0, None, 0
    while i < len(text):
        ch = text[i]
        if quote:
            if ch == "\\":
                i += 1
            elif ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
        elif ch == ")":
            depth -= 1
            if depth < 0:
                raise KqlError("syntax", "Query could not be parsed at ')': unbalanced")
        else:
            if depth == 0:
                yield i
            if ch == "(":
                depth += 1
        i += 1
    if depth or quote:
        raise KqlError("syntax", "Query could not be parsed: unbalanced parentheses or quotes")


def split_top(text, separator):
    """Split ``text`` where the regex ``separator`` matches at the top level."""
    pattern = re.compile(separator)
    parts, start = [], 0
    for i in _top_level(text):
        if i < start:
            continue
        m = pattern.match(text, i)
        if m and m.end() > i:
            parts.append(text[start:i])
            start = m.end()
    parts.append(text[start:])
    return parts


def _unwrap(text):
    """``(inner)`` -> ``inner`` when the parentheses enclose the whole text."""
    text = text.strip()
    if text.startswith("(") and list(_top_level(text)) == [0]:
        return text[1:-1].strip()
    return text


_UNION = re.compile(r"\s*union\b(?P<options>(?:\s+\w+\s*=\s*\w+)*)")
_NAME = r"[A-Za-z_]\w*"
_CONDITION = re.compile(
    r"^(TimeGenerated|CreatedDateTime)\s*(>=|<=|>|<)\s*datetime\(\s*([^()]*?)\s*\)$")
_ITEM = re.compile(r"^(%s)(?:\s*=(?!=)\s*(.+))?$" % _NAME, re.S)


def parse_query(text):
    """(isfuzzy, [Leg]) of the product's query shape; KqlError otherwise."""
    text = re.sub(r"//[^\n]*", "", text or "").strip()
    if not text:
        raise KqlError("syntax", "Query could not be parsed: the query is empty")
    m = _UNION.match(text)
    if not m:
        raise KqlError("syntax", "The fake understands 'union ...' queries only")
    options = dict(re.findall(r"(\w+)\s*=\s*(\w+)", m.group("options")))
    unknown = set(options) - {"isfuzzy"}
    if unknown:
        raise KqlError("syntax", "The fake does not understand union option(s) %s"
                       % sorted(unknown))
    fuzzy = options.get("isfuzzy", "false").lower() == "true"
    return fuzzy, [_parse_leg(leg) for leg in split_top(text[m.end():], ",")]


def _parse_leg(text):
    stages = split_top(_unwrap(text), r"\|")
    table = stages[0].strip()
    if not re.fullmatch(_NAME, table):
        raise KqlError("syntax", "The fake does not understand '%s': expected a table name"
                       % table)
    leg = Leg(table, [], None)
    for stage in stages[1:]:
        operator, rest = re.match(r"(\w*)\s*(.*)", stage.strip(), re.S).groups()
        if operator == "where":
            leg.bounds += [_parse_condition(c) for c in split_top(rest, r"\s+and\s+")]
        elif operator == "project" and leg.projections is None:
            leg.projections = [_parse_item(item) for item in split_top(rest, ",")]
        else:
            raise KqlError("syntax", "The fake does not understand the stage '| %s'"
                           % stage.strip())
    if leg.projections is None:
        raise KqlError("syntax", "The fake needs a '| project' in every leg")
    return leg


def _parse_condition(text):
    m = _CONDITION.match(text.strip())
    if not m:
        raise KqlError("syntax", "The fake cannot evaluate the condition '%s'" % text.strip())
    try:
        return m.group(2), parse_instant(m.group(3))
    except ValueError:
        raise KqlError("syntax", "Query could not be parsed at 'datetime(%s)'" % m.group(3))


def _parse_item(text):
    m = _ITEM.match(text.strip())
    if not m:
        raise KqlError("syntax", "The fake cannot evaluate the projection '%s'" % text.strip())
    name, expression = m.group(1), (m.group(2) or m.group(1)).strip()
    wrapped = re.fullmatch(r"tostring\(\s*(%s)\s*\)" % _NAME, expression)
    if wrapped:
        return Projection(name, wrapped.group(1), True)
    if re.fullmatch(_NAME, expression):
        return Projection(name, expression, False)
    raise KqlError("syntax", "The fake cannot evaluate the expression '%s'" % expression)


_COMPARE = {">=": lambda a, b: a >= b, ">": lambda a, b: a > b,
            "<=": lambda a, b: a <= b, "<": lambda a, b: a < b}


def inside(when, window, bounds):
    if window is not None and not window[0] <= when < window[1]:
        return False
    return all(_COMPARE[op](when, limit) for op, limit in bounds)

