"""Detailed diagnosis (DD): the tables behind a check's measures, and the sidecar files.

``build()`` turns a run's report (its values and the tables that the same pass over the
window filled, see ``tally``) into one JSON-ready document (the interface is described in
README.md, "Detailed diagnosis"); ``write()`` stores it as
``{dd-dir}/{tenant}/{check}.json`` plus a static HTML rendering (see dd_render), each
replaced atomically.
"""

import json
import os
from collections import OrderedDict
from dataclasses import dataclass
from typing import Optional

from nagiosplugin import CheckError

from . import redact, timeutil
from .tally import Detail

SCHEMA = 1
FILE_MODE = 0o640
DIR_MODE = 0o750
# Worst first, as the status line orders the broken thresholds (nagiosplugin's states).
SEVERITY = {"unknown": 3, "critical": 2, "warning": 1, "ok": 0}


@dataclass
class Settings:
    """What the command line says about the detailed diagnosis of one check run."""

    enabled: bool            # --detailed-diagnosis on: write the files
    successful: bool         # --successful-signin-dd yes: rows of success measures
    limit: int               # --dd-limit: rows per table
    directory: str           # --dd-dir
    tenant: str              # directory name: the tenant id, or "file"
    check: str               # file name: the console script
    url: Optional[str] = None  # --dd-url base
    terminal: bool = False   # --details: print the tables after the plugin output
    debug: bool = False      # -vvv: let errors through with their traceback

    @classmethod
    def from_args(cls, group, args):
        """The settings of the command line (cli.build_parser) for a check of ``group``."""
        return cls(enabled=args.detailed_diagnosis == "on",
                   successful=args.successful_signin_dd == "yes",
                   limit=args.dd_limit,
                   directory=args.dd_dir or os.path.join(args.state_dir, "dd"),
                   # --input pages never replace a tenant's live pages.
                   tenant="file" if args.input or not args.tenant_id else args.tenant_id,
                   check=group.script,
                   url=args.dd_url,
                   terminal=args.details,
                   debug=args.verbose >= 3)

    def detail(self):
        """What the pass over the window must fill for this DD (tally.Detail), or None."""
        if not (self.enabled or self.terminal):
            return None
        return Detail(self.limit, self.successful)

    @property
    def json_path(self):
        return os.path.join(self.directory, self.tenant, self.check + ".json")

    @property
    def html_path(self):
        return os.path.join(self.directory, self.tenant, self.check + ".html")

    @property
    def link(self):
        """Where people find the HTML: the URL under --dd-url, else the file's path."""
        if self.url:
            return "%s/%s/%s.html" % (self.url, self.tenant, self.check)
        return self.html_path


# ---------------------------------------------------------------------------------------
# Building the document
# ---------------------------------------------------------------------------------------

def build(settings, report, results, state):
    """The DD document of one run (a checks.Report with tables and timeline): a dict ready
    for json.dumps (schema 1)."""
    window = report.window
    by_label = {r.metric.name: r for r in results if r.metric is not None}
    items = []
    for measure in report.group.measures:
        result = by_label.get(measure.label)
        tables = report.tally.tables[measure.label]
        item = OrderedDict((
            ("label", measure.label), ("title", measure.title),
            ("value", report.tally.values[measure.label]), ("uom", measure.uom),
            ("state", str(result.state) if result else "unknown"),
            ("hint", result.hint if result and result.hint else None),
            ("table", tables.table), ("tables", tables.extra)))
        if tables.see:
            item["see"] = tables.see
        items.append(item)
    return OrderedDict((
        ("schema", SCHEMA),
        ("tenant", settings.tenant),
        ("check", settings.check),
        ("title", report.group.title),
        ("state", str(state)),
        ("window", OrderedDict((("start", timeutil.display(window.start)),
                                ("end", timeutil.display(window.end)),
                                ("event_types", list(window.event_types))))),
        ("generated", timeutil.display(timeutil.utcnow())),
        ("source", redact.one_line(report.source)),
        ("attempts", report.attempts),
        ("limit", settings.limit),
        ("successful_signin_dd", settings.successful),
        ("alarm_order", alarm_order(items)),
        ("timeline", report.tally.timeline),
        ("measures", items),
    ))


def alarm_order(items):
    """The measures' labels as a person should read them: worst state first, measures of
    the same state in perfdata-label order."""
    ranked = sorted(items, key=lambda item: -SEVERITY.get(item["state"], SEVERITY["unknown"]))
    return [item["label"] for item in ranked]


# ---------------------------------------------------------------------------------------
# Writing the files
# ---------------------------------------------------------------------------------------

def write(settings, document):
    """Write ``{dd-dir}/{tenant}/{check}.json`` and ``.html``; raises OSError or CheckError.

    Both files are rendered and written to temporary files first, then renamed: a failure
    leaves the previous pair, never a new JSON beside an old HTML page.
    """
    from . import dd_render, statedir

    data = (json.dumps(document, indent=1, ensure_ascii=False) + "\n").encode("utf-8")
    page = dd_render.html(document).encode("utf-8")
    check_directories(settings)
    written = []
    try:
        written.append(statedir.write_new(settings.json_path, data, FILE_MODE))
        written.append(statedir.write_new(settings.html_path, page, FILE_MODE))
        new_json, new_html = written
        os.replace(new_html, settings.html_path)
        try:
            os.replace(new_json, settings.json_path)
        except BaseException:
            # The page is new, its JSON is not: drop the page rather than show a mixed pair.
            statedir.discard(settings.html_path)
            raise
    finally:
        for temporary in written:  # gone already when renamed
            statedir.discard(temporary)
    _sync_directory(os.path.dirname(settings.json_path))


def check_directories(settings):
    """Create the DD directories, or refuse (CheckError) ones another user could have
    planted. They are 0750: a setgid group, e.g. the web server's, may share them."""
    from . import statedir

    statedir.ensure_dir(settings.directory, "DD directory", shared_group=True, follow=True,
                        mode=DIR_MODE)
    statedir.ensure_dir(os.path.join(settings.directory, settings.tenant), "DD directory",
                        shared_group=True, mode=DIR_MODE)
    for path in (settings.json_path, settings.html_path):
        statedir.check_file(path, "DD file")


def _sync_directory(directory):
    try:
        dir_fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)


def print_details(settings, document, error=None, stream=None):
    """--details: the tables as text, after the plugin output that nagiosplugin printed."""
    import sys

    from . import dd_render

    stream = stream or sys.stdout
    if error:
        where = error
    elif settings.enabled:
        where = "files: %s and %s" % (settings.json_path, settings.html_path)
    else:
        where = "files not written (--detailed-diagnosis off)"
    text = dd_render.text(document, where)
    # A terminal that can't show a character gets '?', not a traceback.
    encoding = getattr(stream, "encoding", None) or "utf-8"
    stream.write(text.encode(encoding, "replace").decode(encoding))
    stream.flush()


def failure_reason(exc):
    """One line saying why the DD could not be written."""
    if isinstance(exc, CheckError):
        return redact.one_line(exc)
    if isinstance(exc, OSError) and exc.strerror:
        where = " %s" % exc.filename if exc.filename else ""
        return redact.one_line("cannot write%s: %s" % (where, exc.strerror))
    return redact.one_line("%s: %s" % (type(exc).__name__, exc))
