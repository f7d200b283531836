"""Graph's ``$filter`` for the sign-in log: parse it and decide which records match.

Grammar (the part of OData the sign-in log needs)::

    expr    := and ('or' and)*
    and     := unary ('and' unary)*
    unary   := 'not' unary | '(' expr ')' | lambda | operand OP operand
    lambda  := path '/any' '(' [var ':' expr] ')'     (also '/all')
    operand := path | 'string' | number | date-time | guid | true | false | null
    OP      := eq | ne | gt | ge | lt | le

As in Entra, property names and string comparisons ignore case, and date-times may
carry up to 7 fraction digits and Z or an offset.  Anything else is a FilterError,
which the fake answers with Graph's 400 BadRequest.
"""

import re
from datetime import datetime, timedelta, timezone

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
    """Compile a Graph ``$filter`` into ``matches(record_dict) -> bool``."""

    def __init__(self, text):
        self.text = text
        self.tokens = _tokenize(text)
        self.pos = 0
        # Without a signInEventTypes clause the beta API lists interactive sign-ins only.
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
