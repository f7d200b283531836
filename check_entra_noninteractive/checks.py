"""nagiosplugin objects: a Resource that fetches the measures, a Context that judges one,
a Summary that formats the status line and long output, and the Check that writes the DD."""

import sqlite3
import traceback
from dataclasses import dataclass, field
from typing import List, Optional

import nagiosplugin
from nagiosplugin.state import Ok

from . import measures, redact, statedir, tally
from .threats import Settings as ThreatSettings
from .store import is_damage


@dataclass
class Report:
    """What one run measured: handed from the Resource to the Summary and the DD."""

    group: measures.Group
    attempts: int
    window: object                # window.Window
    source: str                   # for people: where the rows came from
    notes: List[str]              # long output: recoveries, skipped spans
    tally: tally.Tally            # values, and the DD tables when they were asked for
    dd_lines: List[str] = field(default_factory=list)  # "details: URL", or why not


class Measures(nagiosplugin.Resource):
    """The values of one group's measures over the collected window (``report``)."""

    def __init__(self, group, collect, attempts, detail=None, debug=False, threats=None):
        self.group = group
        self.collect = collect  # callable -> collector.Collection, raises CheckError
        self.attempts = attempts
        self.detail = detail    # tally.Detail when the DD is wanted, else None
        self.threats = threats or ThreatSettings()  # the threats check's options
        self.debug = debug
        self.collection = None
        self.report: Optional[Report] = None
        self.traceback = None

    @property
    def name(self):
        return self.group.title

    def probe(self):
        try:
            self.collection = collection = self.collect()
            counted = tally.run(collection.store, collection.window, self.group,
                                self.attempts, self.detail, self.threats)
        except nagiosplugin.CheckError as exc:
            raise nagiosplugin.CheckError(redact.message(exc))
        except sqlite3.DatabaseError as exc:
            raise nagiosplugin.CheckError(redact.message(self._store_fault(exc)))
        except OSError as exc:
            # Files the check needs (state, input, certificates): the path and what to do.
            raise nagiosplugin.CheckError(redact.message(statedir.storage_problem(
                exc.filename or "file", exc, "file")))
        except Exception as exc:
            # An unexpected error is a bug: one line, and with -vvv its traceback, scrubbed
            # like every other text (nagiosplugin would print it raw).
            if self.debug:
                self.traceback = redact.scrub(traceback.format_exc())
            raise nagiosplugin.CheckError(redact.one_line(
                "internal error: %s: %s (run with -vvv for details)"
                % (type(exc).__name__, exc)))
        self.report = Report(self.group, self.attempts, collection.window, collection.source,
                             collection.notes + counted.notes, counted)
        return [nagiosplugin.Metric(m.label, counted.values[m.label], m.uom, min=0,
                                    max=m.maximum, context=m.label)
                for m in self.group.measures]

    def _store_fault(self, exc):
        """Damage met while reading the measures: set the store aside for the next run."""
        store = self.collection.store if self.collection is not None else None
        if store is None or store.path == ":memory:":
            return "cannot read the store: %s" % exc
        if is_damage(exc):
            return store.quarantine(exc, "the next run rebuilds it")
        return statedir.storage_problem(store.path, exc, "store")


class Threshold(nagiosplugin.ScalarContext):
    """Warning/critical Nagios ranges for one measure."""

    def __init__(self, name, warning=None, critical=None):
        super().__init__(name, warning, critical, fmt_metric="{name} {valueunit}")

    def evaluate(self, metric, resource):
        # nagiosplugin judges; the hint is ours, as nagiosplugin words a value inside an
        # inverted range "outside range @10:20" (and its Range cannot be subclassed on
        # 1.3.2, Debian 12's).
        result = super().evaluate(metric, resource)
        if result.state == Ok:
            return result
        broken = self.critical if result.state == nagiosplugin.Critical else self.warning
        return self.result_cls(result.state, violation(broken), metric)


def violation(limit):
    """Which side of a range a value broke: "outside 0:10", "inside 10:20"."""
    bounds = str(limit).lstrip("@")
    if ":" not in bounds:
        bounds = "0:" + bounds  # "10" means 0:10
    return ("inside " if limit.invert else "outside ") + bounds


def _plural(number, word):
    return "%d %s%s" % (number, word, "" if number == 1 else "s")


def _number(value):
    return ("%.1f" % value).rstrip("0").rstrip(".") if isinstance(value, float) else value


def ok_summary(group, values, attempts):
    """The status line of an OK run: the group's own words, or the entities found."""
    if group.ok:
        return group.ok.format(**{label: _number(v) for label, v in values.items()})
    outcome = group.measures[0].outcome
    word = "successes" if outcome else "failures"
    found = [_plural(values[m.label], measures.ENTITIES[m.entity].title)
             for m in group.measures if values[m.label]]
    if not found:
        return "no entity with %d or more consecutive %s" % (attempts, word)
    return "entities with %d+ consecutive %s: %s" % (attempts, word, ", ".join(found))


class GroupSummary(nagiosplugin.Summary):
    """Status line: the broken thresholds, worst first; on OK a short group summary."""

    def __init__(self, group, attempts, resource=None):
        self.group = group
        self.attempts = attempts
        self.resource = resource  # the Measures whose report the long output shows

    def ok(self, results):
        found = {r.metric.name: r.metric.value for r in results if r.metric}
        values = {label: found[label] for label in self.group.labels()}
        return ok_summary(self.group, values, self.attempts)

    def problem(self, results):
        bad = [r for r in results if r.state != Ok]
        bad.sort(key=lambda r: -int(r.state))
        return ", ".join(redact.message(str(r)) for r in bad)

    def verbose(self, results):
        lines = []
        order = self.group.labels()
        for result in sorted((r for r in results if r.metric is not None),
                             key=lambda r: order.index(r.metric.name)):
            measure = measures.MEASURES[result.metric.name]
            state = "" if result.state == Ok else " [%s: %s]" % (
                str(result.state).upper(), result.hint)
            lines.append("%s: %s%s" % (measure.title, result.metric.valueunit, state))
        report = self.resource.report if self.resource is not None else None
        if report is not None:
            lines.append("window: %s (%s); source: %s" % (
                report.window.describe(), ", ".join(report.window.event_types),
                redact.one_line(report.source)))
            if any(m.entity for m in self.group.measures):
                lines.append("entities count with %d or more consecutive attempts "
                             "of one outcome (--attempts)" % self.attempts)
            lines.extend(redact.message(note) for note in report.notes)
            lines.extend(report.dd_lines)
        return lines


class SigninCheck(nagiosplugin.Check):
    """The check of one group: after judging, it writes the detailed diagnosis (``dd``: a
    dd.Settings) of a complete window, and shows a problem's long output without -v."""

    def __init__(self, resource, contexts, summary, name, dd):
        super().__init__(resource, *contexts, summary)
        self.name = name  # nagiosplugin 1.3.2 (Debian 12) has no ``name`` argument
        self.measured = resource  # the Measures whose report this check reads
        self.dd = dd
        self.dd_document = None   # the DD built by this run (for --details), or None
        self.dd_error = None      # why it could not be written, or None

    def __call__(self):
        # A bend: nagiosplugin has no step between judging and printing, where the DD (it
        # shows the judged states) is written, and prints long output only with -v.
        super().__call__()
        runtime = nagiosplugin.Runtime()
        report = self.measured.report
        if self.measured.traceback:
            runtime.output.add_longoutput(self.measured.traceback)
        if report is None:
            return  # UNKNOWN: nothing measured, nothing remembered, the old DD stays
        self._detailed_diagnosis(report)
        self.measured.collection.reported()
        if self.state != Ok and runtime.verbose == 0:
            # An operator paged at night should see every measure without re-running.
            runtime.output.add_longoutput(self.verbose_str)
        elif runtime.verbose == 0:
            # Stale or missing details, a rebuilt store, a skipped span must not go
            # unnoticed, even when all is OK.
            for line in ([self.dd_error] if self.dd_error else []) + report.notes:
                runtime.output.add_longoutput(redact.message(line))

    def _detailed_diagnosis(self, report):
        from . import dd

        if report.tally.tables is None:
            return  # not asked for (--detailed-diagnosis off, no --details)
        try:
            self.dd_document = dd.build(self.dd, report, self.results, self.state)
            if self.dd.enabled:
                dd.write(self.dd, self.dd_document)
                report.dd_lines.append("details: %s" % redact.one_line(self.dd.link, 1000))
        except Exception as exc:
            if self.dd.debug:
                raise
            self.dd_error = "detailed diagnosis not %s: %s" % (
                "written" if self.dd.enabled else "built", dd.failure_reason(exc))
            report.dd_lines.append(self.dd_error)
