"""Renderings of a DD document (see dd.build): a static HTML page and aligned terminal text.

Values in the tables come from sign-in logs and are attacker-controlled (display names,
app names, cities, user agents): the HTML escapes every value, shows control characters
as marked escapes (``\\n``) and carries a Content-Security-Policy that forbids scripts
anyway; the terminal text writes control characters (terminal escape sequences included)
as escapes and replaces ``|``.
"""

import html as _html
import re

from . import errorcodes, measures, timeline

STATE_COLOURS = {
    # state: (background, text)
    "ok": ("#2e7d32", "#ffffff"),
    "warning": ("#f9a825", "#000000"),
    "critical": ("#c62828", "#ffffff"),
    "unknown": ("#6a1b9a", "#ffffff"),
}
# Bidirectional formatting characters can make text read differently than it is.
_BIDI = set(range(0x202A, 0x202F)) | set(range(0x2066, 0x206A))


_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _hidden(char):
    """Characters that act instead of showing: controls, bidi overrides, line separators."""
    code = ord(char)
    return (code < 0x20 or 0x7F <= code < 0xA0 or code in _BIDI
            or code in (0x2028, 0x2029))


def _escaped(char):
    code = ord(char)
    return _NAMED.get(char) or ("\\x%02x" % code if code < 0x100 else "\\u%04x" % code)


def visible(value):
    """Text with control characters (escape sequences, newlines, bidi overrides) written
    as escapes such as ``\\n``: what is there, not what it does."""
    text = "" if value is None else str(value)
    return "".join(_escaped(c) if _hidden(c) else c for c in text)


def esc(value):
    """HTML text of a value: escaped, control characters shown as marked escapes."""
    text = "" if value is None else str(value)
    if not any(_hidden(c) for c in text):
        return _html.escape(text, quote=True)
    return "".join('<span class="ctl">%s</span>' % _html.escape(_escaped(c)) if _hidden(c)
                   else _html.escape(c, quote=True) for c in text)


def _number(value):
    if isinstance(value, float):
        return ("%.2f" % value).rstrip("0").rstrip(".")
    return str(value)


def _value(measure):
    return _number(measure["value"]) + (measure.get("uom") or "")


def _count_note(tab):
    if tab.get("omitted"):
        return "%d %s not shown: %s" % (tab["total"], _rows_word(tab["total"]), tab["omitted"])
    if tab["truncated"]:
        return "%d %s, the first %d shown (--dd-limit)" % (
            tab["total"], _rows_word(tab["total"]), len(tab["rows"]))
    return "%d %s" % (tab["total"], _rows_word(tab["total"]))


def _rows_word(number):
    return "row" if number == 1 else "rows"


SUCCESS_HINT = ("Successful sign-ins are not listed (--successful-signin-dd no): run the "
                "check with --successful-signin-dd yes to list them (the tables can be large).")


def _success_hint(document):
    """The hint for a DD whose success tables are counted but not listed, else None."""
    omitted = any(tab.get("omitted") for m in document["measures"]
                  for tab in [m.get("table") or {}] + (m.get("tables") or []))
    return SUCCESS_HINT if omitted else None


# ---------------------------------------------------------------------------------------
# Tables as people read them (both renderings)
# ---------------------------------------------------------------------------------------

# In a list of sign-ins these columns follow the user: what went wrong must be on screen
# (1,400 px) before the names of application, resource and location.
OUTCOME_COLUMNS = ("error code", "failure reason", "risk level", "risk state",
                   "risk event types")
USERS = "distinct users"
NO_USER_NOTE = ("distinct users: empty or left out where the sign-ins had no user (service "
                "principals, managed identities)")


def _is_list(columns):
    """The columns of a list of sign-ins (newest first), as opposed to a summary."""
    return columns[:1] == ["time"]


def _column_order(columns):
    if not _is_list(columns) or "user" not in columns:
        return list(range(len(columns)))
    outcome = [i for i, name in enumerate(columns) if name in OUTCOME_COLUMNS]
    rest = [i for i in range(len(columns)) if i not in outcome]
    after_user = rest.index(columns.index("user")) + 1
    return rest[:after_user] + outcome + rest[after_user:]


def for_people(tab):
    """(columns, rows, notes) of a table as the page and the terminal show it: outcome
    columns of a sign-in list after the user; no "distinct users 0" for rows of service
    principals and managed identities, which have no user (the cell is empty, None, and a
    column without any user is left out). The JSON keeps the table as it is."""
    columns = tab["columns"]
    order = _column_order(columns)
    users = columns.index(USERS) if USERS in columns else None
    hidden = users is not None and any(row[users] == 0 for row in tab["rows"])
    if users is not None and not any(row[users] for row in tab["rows"]):
        order.remove(users)
    rows = [[None if i == users and row[i] == 0 else row[i] for i in order]
            for row in tab["rows"]]
    return [columns[i] for i in order], rows, [NO_USER_NOTE] if hidden else []


def _summaries_first(measure):
    """A measure's tables, summaries (e.g. by error code) before the long list of
    sign-ins."""
    tables = [measure["table"]] + (measure.get("tables") or [])
    return sorted(tables, key=lambda tab: _is_list(tab["columns"]))


# ---------------------------------------------------------------------------------------
# HTML
# ---------------------------------------------------------------------------------------

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;
 font-size:14px;line-height:1.4;color:#1a1a1a;background:#fff;margin:0;padding:12px}
h1{font-size:18px;margin:0 0 8px}h2{font-size:16px;margin:24px 0 4px;
 border-bottom:1px solid #ccc;padding-bottom:2px}h3{font-size:14px;margin:14px 0 4px}
dl.meta{display:grid;grid-template-columns:max-content auto;gap:2px 12px;margin:0 0 12px}
dl.meta dt{font-weight:600;color:#555}dl.meta dd{margin:0;overflow-wrap:anywhere}
.scroll{overflow-x:auto;max-width:100%}
table.summary{width:auto}
table{border-collapse:collapse;margin:4px 0 8px;font-size:13px;width:max-content}
th,td{border:1px solid #d0d0d0;padding:3px 6px;text-align:left;vertical-align:top;
 unicode-bidi:isolate;max-width:20em;overflow-wrap:anywhere}
th{background:#f0f0f0;font-weight:600;white-space:nowrap}
tbody tr:nth-child(even){background:#fafafa}
td.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
td.t{white-space:nowrap}
.state{display:inline-block;padding:0 6px;border-radius:3px;font-weight:600;
 font-size:12px;text-transform:uppercase}
@COLOURS@
.ctl{font-family:monospace;font-size:90%;background:#fde7e9;color:#8b0000;
 border-radius:2px;padding:0 1px}
p.note{margin:2px 0;color:#555}p.omitted{margin:2px 0;color:#8a5a00}
a{color:#0b57d0}
svg.timeline{display:block;width:100%;height:122px;background:#fafafa}
.axis{display:flex;justify-content:space-between;gap:8px;font-size:12px;
 color:#555;margin:2px 0 8px}
tr.alarm td:first-child{font-weight:600}
"""


def _state(state):
    state = state if state in STATE_COLOURS else "unknown"
    return '<span class="state s-%s">%s</span>' % (state, esc(state))


def _css():
    colours = "".join(".s-%s{background:%s;color:%s}" % (name, bg, fg)
                      for name, (bg, fg) in STATE_COLOURS.items())
    return CSS.replace("@COLOURS@", colours)


def _link(url, text):
    return '<a href="%s" rel="noreferrer">%s</a>' % (esc(url), esc(text))


# The texts that errorcodes.meaning() gives an unknown code: "see <lookup URL>".
_SEE_LOOKUP = re.compile("^see (%s)$" % re.escape(errorcodes.LOOKUP).replace("%d", r"\d+"))
# A code in "top error codes"; a code the log gave as text may be any string, even digits
# too many for int().
_CODE = re.compile(r"[1-9][0-9]{0,11}")


def _codes_html(text):
    """'50126×120, 50053×5' (tables.code_counts) with each code linked to its lookup."""
    parts = []
    for part in str(text).split(", "):
        code, times, count = part.rpartition("\u00d7")
        url = errorcodes.lookup_url(int(code)) if _CODE.fullmatch(code) else None
        parts.append(_link(url, code) + esc(times + count) if url else esc(part))
    return ", ".join(parts)


def _cell(column, value):
    if value is None:
        return "<td></td>"
    url = errorcodes.lookup_url(value) if column == "error code" else None
    if url:
        return '<td class="n">%s</td>' % _link(url, value)
    if column in ("top error codes", "error codes"):
        return "<td>%s</td>" % _codes_html(value)
    lookup = _SEE_LOOKUP.match(str(value)) if column == "meaning" else None
    if lookup:
        return "<td>see %s</td>" % _link(lookup.group(1), lookup.group(1))
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return '<td class="n">%s</td>' % esc(_number(value))
    if column in ("time", "first seen", "last seen"):
        return '<td class="t">%s</td>' % esc(value)
    return "<td>%s</td>" % esc(value)


def _table_html(tab, level):
    parts = ["<h%d>%s</h%d>" % (level, esc(tab["title"]), level)]
    note_class = "omitted" if tab.get("omitted") else "note"
    parts.append('<p class="%s">%s</p>' % (note_class, esc(_count_note(tab))))
    if tab["rows"]:
        columns, rows, notes = for_people(tab)
        parts += ['<p class="note">%s</p>' % esc(note) for note in notes]
        parts.append('<div class="scroll"><table><thead><tr>%s</tr></thead><tbody>' % "".join(
            '<th scope="col">%s</th>' % esc(c) for c in columns))
        for row in rows:
            parts.append("<tr>%s</tr>" % "".join(
                _cell(column, value) for column, value in zip(columns, row)))
        parts.append("</tbody></table></div>")
    return "\n".join(parts)


def _reading_order(document):
    """The measures in alarm order (document["alarm_order"]), each measure that shares
    another one's table (failed_pct, see failed) followed by that measure: an alarm on
    failed_pct brings the failed sign-ins up with it."""
    by_label = {m["label"]: m for m in document["measures"]}
    order = []
    for label in document["alarm_order"]:
        for name in (label, by_label[label].get("see")):
            if name and name not in order:
                order.append(name)
    return [by_label[label] for label in order]


def _hint(measure):
    return " (%s)" % esc(measure["hint"]) if measure.get("hint") else ""


def _measure_line(measure):
    return "%s: %s %s%s" % (esc(measure["title"]), esc(_value(measure)),
                            _state(measure["state"]), _hint(measure))


def _section_html(document, measure):
    parts = ['<section id="m-%s">' % esc(measure["label"]),
             "<h2>%s</h2>" % _measure_line(measure)]
    also = [m for m in document["measures"] if m.get("see") == measure["label"]]
    if also:
        parts.append('<p class="note">Also the details of: %s</p>' % "; ".join(
            _measure_line(m) for m in also))
    parts += [_table_html(tab, 3) for tab in _summaries_first(measure)]
    parts.append("</section>")
    return parts


def _summary_html(document):
    by_label = {m["label"]: m for m in document["measures"]}
    parts = [
        '<h2 id="measures">Measures</h2>',
        '<div class="scroll"><table class="summary"><thead><tr><th scope="col">measure</th>'
        '<th scope="col">label</th><th scope="col">value</th><th scope="col">state</th>'
        "</tr></thead><tbody>"]
    for label in document["alarm_order"]:
        measure = by_label[label]
        name = esc(measure["title"])
        if measure.get("table") or measure.get("see"):
            name = '<a href="#m-%s">%s</a>' % (esc(measure.get("see") or label), name)
        parts.append('<tr%s><td>%s</td><td>%s</td><td class="n">%s</td><td>%s%s</td></tr>' % (
            "" if measure["state"] == "ok" else ' class="alarm"', name, esc(label),
            esc(_value(measure)), _state(measure["state"]), _hint(measure)))
    parts.append("</tbody></table></div>")
    return parts


def html(document):
    """A self-contained page (inline CSS and SVG, no script, no external asset): the
    timeline, then the measures and their tables, alarmed ones first."""
    title = "%s \u2013 %s" % (document["check"], document["tenant"])
    window = document["window"]
    meta = (("tenant", document["tenant"]),
            ("window", "%s to %s" % (window["start"], window["end"])),
            ("event types", ", ".join(window["event_types"])),
            ("generated", document["generated"]),
            ("source", document["source"]))
    if any(getattr(measures.MEASURES.get(m["label"]), "entity", None)
           for m in document["measures"]):
        meta += (("attempts", "entities count with %d or more consecutive attempts of one "
                  "outcome" % document["attempts"]),)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        # Defence in depth: even an unescaped value could not run a script or load anything.
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        'style-src \'unsafe-inline\'; img-src \'none\'; base-uri \'none\'; '
        'form-action \'none\'">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        '<meta name="referrer" content="no-referrer">',
        "<title>%s</title>" % esc(title),
        "<style>%s</style></head><body>" % _css(),
        "<h1>%s %s</h1>" % (esc("%s: detailed diagnosis" % document["title"]),
                            _state(document["state"])),
        '<dl class="meta">%s</dl>' % "".join(
            "<dt>%s</dt><dd>%s</dd>" % (esc(k), esc(v)) for k, v in meta),
    ]
    hint = _success_hint(document)
    if hint:
        parts.append('<p class="omitted">%s</p>' % esc(hint))
    parts += timeline.html(document["timeline"])
    parts += _summary_html(document)
    for measure in _reading_order(document):
        if measure.get("table"):
            parts += _section_html(document, measure)
    parts.append("</body></html>\n")
    return "\n".join(parts)


# ---------------------------------------------------------------------------------------
# Terminal text
# ---------------------------------------------------------------------------------------

CELL_WIDTH = 40


def _plain(value, width=CELL_WIDTH):
    text = visible(_number(value) if isinstance(value, float) else value)
    text = text.replace("|", "\u00a6")
    return text if len(text) <= width else text[: width - 1] + "\u2026"


def _table_text(tab, indent="  "):
    lines = [indent + _plain(tab["title"], 200), indent + _plain(_count_note(tab), 200)]
    if not tab["rows"]:
        return lines
    columns, rows, notes = for_people(tab)
    lines += [indent + note for note in notes]
    cells = [[_plain(c) for c in columns]] + [[_plain(v) for v in row] for row in rows]
    numeric = [all(isinstance(row[i], (int, float)) or row[i] is None for row in rows)
               for i in range(len(columns))]
    widths = [max(len(row[i]) for row in cells) for i in range(len(columns))]

    def line(row):
        return indent + "  ".join(
            (value.rjust(width) if right else value.ljust(width))
            for value, width, right in zip(row, widths, numeric)).rstrip()

    lines.append(line(cells[0]))
    lines.append(indent + "  ".join("-" * w for w in widths))
    lines.extend(line(row) for row in cells[1:])
    return lines


def text(document, where=None):
    """The tables as aligned text, for an operator at a terminal (--details), in the
    page's order: alarmed measures first."""
    window = document["window"]
    lines = ["", "Detailed diagnosis: %s, tenant %s" % (_plain(document["check"], 200),
                                                         _plain(document["tenant"], 200)),
             "window %s to %s (%s); generated %s; source %s" % (
                 window["start"], window["end"], ", ".join(window["event_types"]),
                 document["generated"], _plain(document["source"], 200))]
    if where:
        lines.append(_plain(where, 400))
    hint = _success_hint(document)
    if hint:
        lines.append(hint)
    for measure in _reading_order(document):
        head = "%s (%s): %s [%s]" % (measure["title"], measure["label"], _value(measure),
                                     measure["state"].upper())
        if measure.get("see"):
            lines += ["", head + ": see %s" % measure["see"]]
            continue
        lines += ["", head]
        if not measure.get("table"):
            continue
        for number, tab in enumerate(_summaries_first(measure)):
            if number:
                lines.append("")
            lines += _table_text(tab)
    return "\n".join(lines) + "\n"
