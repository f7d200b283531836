"""nagiosplugin objects: a Resource that fetches the measures, a Context that judges one,
a Summary that formats the status line and long output."""

import sqlite3
import traceback

import nagiosplugin
from nagiosplugin.state import Ok

from . import measures, redact, statedir
from .store import is_damage


class Measures(nagiosplugin.Resource):
    """The values of one group's measures over the collected window."""

    def __init__(self, group, collect, attempts, debug=False):
        self.group = group
        self.collect = collect  # callable -> collector.Collection, raises CheckError
        self.attempts = attempts
        self.debug = debug
        self.collection = None
        self.values = None
        self.traceback = None

    @property
    def name(self):
        return self.group.title

    def probe(self):
        try:
            self.collection = self.collect()
            self.values = measures.compute(self.collection.store, self.collection.window,
                                           self.group, self.attempts)
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
        return [nagiosplugin.Metric(m.label, self.values[m.label], m.uom, min=0,
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
    """Warning/critical Nagios ranges for one measure; says which range a value broke."""

    def __init__(self, name, warning=None, critical=None):
        super().__init__(name, warning, critical, fmt_metric="{name} {valueunit}")

    def evaluate(self, metric, resource):
        for state, limit in ((nagiosplugin.Critical, self.critical),
                             (nagiosplugin.Warn, self.warning)):
            if not limit.match(metric.value):
                return self.result_cls(state, describe_violation(limit), metric)
        return self.result_cls(Ok, None, metric)


def describe_violation(limit):
    if limit.invert:
        return "inside %s" % str(limit)[1:]
    return "outside %s" % limit._format(False)


def _plural(number, word):
    return "%d %s%s" % (number, word, "" if number == 1 else "s")


def _signins(v, attempts):
    return "%d non-interactive sign-ins, %d failed (%s%%), %d risky" % (
        v["total"], v["failed"], ("%.1f" % v["failed_pct"]).rstrip("0").rstrip("."), v["risky"])


def _entities(v, attempts, outcome):
    word = "successes" if outcome else "failures"
    found = [_plural(value, measures.ENTITIES[measures.MEASURES[label].entity].title)
             for label, value in v.items() if value]
    if not found:
        return "no entity with %d or more consecutive %s" % (attempts, word)
    return "entities with %d+ consecutive %s: %s" % (attempts, word, ", ".join(found))


def _auth_methods(v, attempts):
    return "%d single-factor, %d multi-factor; %d modern, %d legacy client sign-ins" % (
        v["single_factor"], v["multi_factor"], v["modern_clients"], v["legacy_clients"])


def _conditional_access(v, attempts):
    return "Conditional Access: %d failure, %d success, %d not applied" % (
        v["ca_failure"], v["ca_success"], v["ca_not_applied"])


OK_SUMMARIES = {
    "signins": _signins,
    "success-entities": lambda v, n: _entities(v, n, 1),
    "failure-entities": lambda v, n: _entities(v, n, 0),
    "auth-methods": _auth_methods,
    "conditional-access": _conditional_access,
}


class GroupSummary(nagiosplugin.Summary):
    """Status line: the broken thresholds, worst first; on OK a short group summary."""

    def __init__(self, group, attempts):
        self.group = group
        self.attempts = attempts

    def ok(self, results):
        found = {r.metric.name: r.metric.value for r in results if r.metric}
        values = {label: found[label] for label in self.group.labels()}
        return OK_SUMMARIES[self.group.name](values, self.attempts)

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
        resource = results[0].resource if results and results[0].metric else None
        if resource is not None and resource.collection is not None:
            collection = resource.collection
            lines.append("window: %s (%s); source: %s" % (
                collection.window.describe(), ", ".join(collection.window.event_types),
                redact.one_line(collection.source)))
            if any(m.entity for m in self.group.measures):
                lines.append("entities count with %d or more consecutive attempts "
                             "of one outcome (--attempts)" % self.attempts)
            lines.extend(redact.message(note) for note in collection.notes)
            lines.extend(getattr(resource, "dd_lines", ()))  # "details: URL" (SigninCheck)
        return lines


class SigninCheck(nagiosplugin.Check):
    """A Check whose long output also appears, without -v, when there is a problem, and
    that writes the detailed diagnosis (``dd``: a dd.Settings) of a complete window."""

    def __init__(self, *objects, name=None, dd=None):
        # nagiosplugin 1.3.2 (Debian 12) has no ``name`` argument: set it afterwards.
        super().__init__(*objects)
        if name is not None:
            self.name = name
        self.dd = dd
        self.dd_document = None   # the DD built by this run (for --details), or None
        self.dd_error = None      # why it could not be written, or None

    def __call__(self):
        super().__call__()
        runtime = nagiosplugin.Runtime()
        for resource in self.resources:
            if getattr(resource, "traceback", None):
                runtime.output.add_longoutput(resource.traceback)
        if self.dd is not None:
            self._detailed_diagnosis()
        has_measures = any(r.metric is not None for r in self.results)
        collection = getattr(self.resources[0], "collection", None) if self.resources else None
        if has_measures and collection is not None:
            collection.reported()
        if self.state != Ok and has_measures and runtime.verbose == 0:
            # nagiosplugin prints long output only with -v; an operator paged at night
            # should see every measure without re-running the check.
            runtime.output.add_longoutput(self.verbose_str)
        elif runtime.verbose == 0:
            # Stale or missing details, a rebuilt store, a skipped span must not go
            # unnoticed, even when all is OK.
            notes = list(collection.notes) if has_measures and collection else []
            for line in ([self.dd_error] if self.dd_error else []) + notes:
                runtime.output.add_longoutput(redact.message(line))

    def _detailed_diagnosis(self):
        from . import dd

        resource = self.resources[0] if self.resources else None
        collection = getattr(resource, "collection", None)
        values = getattr(resource, "values", None)
        if collection is None or values is None:
            # No complete window (UNKNOWN from the collection): the previous files stay,
            # partial data is never shown as complete.
            return
        if not (self.dd.enabled or self.dd.terminal):
            return
        lines = []
        try:
            self.dd_document = dd.build(self.dd, collection, resource.group,
                                        resource.attempts, values, self.results, self.state)
            if self.dd.enabled:
                dd.write(self.dd, self.dd_document)
                lines.append("details: %s" % redact.one_line(self.dd.link, 1000))
        except Exception as exc:
            if self.dd.debug:
                raise
            self.dd_error = "detailed diagnosis not %s: %s" % (
                "written" if self.dd.enabled else "built", dd.failure_reason(exc))
            lines.append(self.dd_error)
        resource.dd_lines = lines
