"""One pass over a window's rows: every measure of a check and, on request, its DD tables.

The rows are read once, ordered by (time, id), with the fields that the group's measures
and tables need. A count measure is the number of rows matching its condition (SQLite
evaluates the condition in the same query); an entity measure is counted by its
``tables.EntityRuns`` collector, a threat measure by its ``threats`` collector among the
rows of its condition (compared, for the unusual_* measures, with the window's
``baseline.History``). A measure's table sees exactly the rows its measure counts, so
their totals agree by construction. With a DD, every row of the window is also
counted into the DD's timeline (successful and failed sign-ins over time, ``timeline``).
"""

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Dict, List, Optional

from . import timeline
from .baseline import History
from .tables import table
from .threats import Settings as ThreatSettings

SUCCESS_OMITTED = "successful-signin-dd is off (--successful-signin-dd yes shows these rows)"


@dataclass
class Detail:
    """What the DD asks of the pass."""

    limit: int          # rows per table
    successful: bool    # list successful sign-ins too (--successful-signin-dd yes)


@dataclass
class Tuning:
    """What the table kinds' collectors are told (``start(index, limit, tuning)``)."""

    attempts: int                  # --attempts: runs of consecutive attempts
    threats: ThreatSettings        # the threats check's options
    history: object = None         # baseline.History of the window, for a baseline group


@dataclass
class MeasureTables:
    table: Optional[dict]                       # the measure's own table, or None
    extra: List[dict] = field(default_factory=list)
    see: Optional[str] = None                   # the label whose table explains it


@dataclass
class Tally:
    values: "OrderedDict[str, float]"           # label -> value, in the group's order
    tables: Optional[Dict[str, MeasureTables]]  # label -> tables; None without Detail
    timeline: Optional[dict] = None             # the DD's timeline; None without Detail
    notes: List[str] = field(default_factory=list)  # long output: e.g. a learning baseline


class _Counted:
    """A count measure: the rows whose condition column is true, fed to its collectors."""

    def __init__(self, flag, collectors):
        self.flag = flag
        self.collectors = [c.add for c in collectors]
        self.count = 0

    def add(self, row):
        if row[self.flag]:
            self.count += 1
            for add in self.collectors:
                add(row)


def run(store, window, group, attempts, detail=None, threats=ThreatSettings()):
    """The group's values over the window, and with ``detail`` its tables: a Tally."""
    tuning = Tuning(attempts, threats)
    notes = []
    if group.baseline:
        tuning.history = History(store, window, threats.baseline_days)
        notes.append(tuning.history.describe())
    fields = OrderedDict()
    for measure in group.measures:
        if measure.condition:
            fields["flag:" + measure.label] = "(%s)" % measure.condition
        for kind in _kinds(measure, detail):
            fields.update(kind.fields)
    if detail is not None:
        fields.update(timeline.FIELDS)
    # Tables share fields (and entities their key and name): each expression is read once.
    select = list(OrderedDict.fromkeys(fields.values()))
    index = {name: select.index(sql) for name, sql in fields.items()}

    counted, collectors = {}, {}
    for measure in group.measures:
        limit = None if detail is None or _omitted(measure, detail) else detail.limit
        started = [kind.start(index, limit, tuning) for kind in _kinds(measure, detail)]
        collectors[measure.label] = started
        if measure.condition:
            counted[measure.label] = _Counted(index["flag:" + measure.label], started)
    adders = [c.add for c in counted.values()] + [
        collectors[m.label][0].add for m in group.measures
        if m.counts_table and not m.condition]
    over_time = None if detail is None else timeline.start(window, index)
    if over_time is not None:
        adders.append(over_time.add)

    where, params = window.where()
    sql = "SELECT %s FROM signins WHERE %s ORDER BY created, id" % (
        ", ".join(select) or "1", where)
    for row in store.rows(sql, params):
        for add in adders:
            add(row)

    values = {label: c.count for label, c in counted.items()}
    for measure in group.measures:
        if measure.counts_table:
            values[measure.label] = collectors[measure.label][0].count()
    for measure in group.measures:
        if measure.derive:
            values[measure.label] = measure.derive(values)
    values = OrderedDict((label, values[label]) for label in group.labels())
    if detail is None:
        return Tally(values, None, notes=notes)
    return Tally(values, OrderedDict(
        (m.label, _tables(m, collectors[m.label], values[m.label], detail, attempts))
        for m in group.measures), over_time.document(), notes)


def _kinds(measure, detail):
    """The table kinds to fill for a measure: a measure that its table counts (entity
    runs, threats) needs it even without the DD; a table whose rows are not shown is not
    filled."""
    if measure.counts_table:
        return [measure.detail] + ([] if detail is None else list(measure.extra))
    if detail is None or measure.detail is None or _omitted(measure, detail):
        return []
    return [measure.detail, *measure.extra]


def _omitted(measure, detail):
    return measure.successes and not detail.successful


def _tables(measure, collectors, value, detail, attempts):
    if _omitted(measure, detail):
        title, columns = measure.detail.heading(attempts)
        return MeasureTables(table(title, columns, [], value, omitted=SUCCESS_OMITTED))
    if not collectors:
        return MeasureTables(None, see=measure.see)
    main, extra = collectors[0].tables()
    for collector in collectors[1:]:
        more, further = collector.tables()
        extra += [more] + further
    return MeasureTables(main, extra, measure.see)
