"""The DD's timeline: the window's sign-ins per time bucket, successful and failed.

Counted here and drawn here (as inline SVG for the page, see dd_render).

Filled in the same pass as the measures (``tally.run``, only when a DD is built) from
every row of the window, so that a spray or a burst shows at a glance on the page. A
window of a few hours is counted per minute; a longer one in wider buckets, so that the
page never draws more than MAX_BARS bars (a 31-day window would have 44,640 minutes).
"""

from collections import OrderedDict
from datetime import datetime, timedelta, timezone
from html import escape as _escape
from itertools import count

from . import timeutil

MAX_BARS = 360
# Bucket lengths in minutes, each a divisor of a day: buckets start on the UTC clock's
# round marks (08:00, 08:05, ...). Beyond these, whole days.
BUCKET_MINUTES = (1, 2, 5, 10, 15, 30, 60, 120, 180, 360, 720, 1440)
DAY_MINUTES = 1440
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_EARLIEST_MINUTE = (timeutil.EARLIEST - EPOCH) // timedelta(minutes=1)

FIELDS = (("created", "created"), ("success", "success"))


def _floor(moment, minutes):
    """The start of the ``minutes``-long bucket that holds ``moment`` (epoch-aligned; not
    before the earliest time there is, for a window that starts in year 1)."""
    elapsed = (moment - EPOCH) // timedelta(minutes=1)
    return EPOCH + timedelta(minutes=max(elapsed - elapsed % minutes, _EARLIEST_MINUTE))


def bars(start, end, minutes):
    """How many buckets of ``minutes`` cover [start, end), the first on a round mark."""
    first = _floor(start, minutes)
    return -(-(end - first) // timedelta(minutes=minutes))  # ceiling


def _candidates():
    yield from BUCKET_MINUTES
    for days in count(2):
        yield days * DAY_MINUTES


def bucket_minutes(start, end):
    """The shortest bucket length that covers [start, end) in MAX_BARS bars or fewer."""
    return next(m for m in _candidates() if bars(start, end, m) <= MAX_BARS)


def start(window, index):
    """A collector of the window's rows: ``add(row)``, and ``document()`` for the DD."""
    return _Counts(window, index["created"], index["success"])


class _Counts:
    def __init__(self, window, created_at, success_at):
        self.minutes = bucket_minutes(window.start, window.end)
        self.start = _floor(window.start, self.minutes)
        self.buckets = [[0, 0] for _ in range(bars(window.start, window.end, self.minutes))]
        self.add = self._adder(created_at, success_at)

    def _adder(self, created_at, success_at):
        # Called for every row of the window: the bucket of each minute is computed once.
        buckets, first, minutes = self.buckets, self.start, self.minutes
        bucket_of = {}

        def add(row):
            minute = row[created_at][:16]  # stored form: 2026-11-20T08:06:01.000000Z
            bucket = bucket_of.get(minute)
            if bucket is None:
                moment = datetime.strptime(minute, "%Y-%m-%dT%H:%M").replace(
                    tzinfo=timezone.utc)
                bucket = bucket_of[minute] = buckets[
                    (moment - first) // timedelta(minutes=minutes)]
            bucket[0 if row[success_at] else 1] += 1

        return add

    def document(self):
        """The timeline as the JSON document has it: [successful, failed] per bucket."""
        return OrderedDict((("start", timeutil.display(self.start)),
                            ("bucket_minutes", self.minutes),
                            ("buckets", self.buckets)))


# The timeline: successful sign-ins above the line, failed below, each half scaled to its
# own highest bar so that a burst of failures shows beside many more successes. SVG
# presentation attributes (fill=) need nothing from the Content-Security-Policy.
SVG_WIDTH, SVG_HALF = 1000, 60
BAR_COLOURS = ("#2e7d32", "#c62828")  # successful, failed
MIN_BAR = 1.5  # a single sign-in stays visible beside a bar of thousands


def _span_words(minutes):
    for unit, size in (("day", 1440), ("hour", 60), ("minute", 1)):
        if minutes % size == 0:
            number = minutes // size
            return "%d %s%s" % (number, unit, "" if number == 1 else "s")


def _bars_svg(buckets, start, minutes, highest):
    width = SVG_WIDTH / len(buckets)
    bars = []
    for number, bucket in enumerate(buckets):
        if not any(bucket):
            continue
        when = timeutil.display(start + timedelta(minutes=minutes * number))
        rects = []
        for outcome, sign_ins in enumerate(bucket):
            if sign_ins:
                height = max(SVG_HALF * sign_ins / highest[outcome], MIN_BAR)
                top = SVG_HALF - height if outcome == 0 else SVG_HALF + 2
                rects.append('<rect x="%.2f" y="%.2f" width="%.2f" height="%.2f" fill="%s"/>'
                             % (number * width, top, width * 0.85, height,
                                BAR_COLOURS[outcome]))
        label = "%s: %d successful, %d failed" % (when, bucket[0], bucket[1])
        bars.append("<g><title>%s</title>%s</g>" % (_escape(label), "".join(rects)))
    return (
        '<svg class="timeline" viewBox="0 0 %d %d" preserveAspectRatio="none" role="img" '
        'aria-label="successful and failed sign-ins over time">'
        '<line x1="0" y1="%d" x2="%d" y2="%d" stroke="#9e9e9e" stroke-width="1" '
        'vector-effect="non-scaling-stroke"/>%s</svg>' % (
            SVG_WIDTH, 2 * SVG_HALF + 2, SVG_HALF + 1, SVG_WIDTH, SVG_HALF + 1, "".join(bars)))


def html(timeline):
    """The timeline's part of the DD page: heading, legend, SVG bars and time axis."""
    buckets, minutes = timeline["buckets"], timeline["bucket_minutes"]
    parts = ['<h2 id="timeline">Sign-ins over time (UTC)</h2>']
    if not any(any(bucket) for bucket in buckets):
        return parts + ['<p class="note">No sign-ins in the window.</p>']
    start = timeutil.parse_time(timeline["start"])
    end = start + timedelta(minutes=minutes * len(buckets))
    highest = [max(bucket[i] for bucket in buckets) for i in (0, 1)]
    parts.append('<p class="note">Successful sign-ins above the line (highest bar %d), '
                 'failed below it (highest bar %d); each half is scaled to its highest '
                 'bar.</p>' % tuple(highest))
    parts.append(_bars_svg(buckets, start, minutes, highest))
    parts.append('<div class="axis"><span>%s</span><span>each bar: %s</span><span>%s</span>'
                 "</div>" % (_escape(timeline["start"]), _escape(_span_words(minutes)),
                             _escape(timeutil.display(end))))
    return parts
