"""Sign-in logs from a file: Graph-shaped JSON, JSON Lines, or the portal's CSV/JSON download.

Everything is read as a stream, one record at a time, so a file of any size costs a few
megabytes of memory: a JSON array or ``{"value": [...]}`` is decoded element by element,
JSON Lines line by line, CSV row by row.
"""

import csv
import json
import os
import shutil
import tempfile
from datetime import timedelta

from nagiosplugin import CheckError

from .. import normalize, normalize_portal_csv, options, timeutil
from ..collector import Collection
from ..store import Store
from ..window import DEFAULT_EVENT_TYPES, Window, closing

NAME = "file"
# An exported file is complete as it is: no delay, and nothing remembered between runs.
DEFAULT_DELAY = None

PAGE_SIZE = 1000
CHUNK = 1 << 20
# How much text the reader decodes at a time (io's default is 8 KiB): line by line, larger
# slices cost fewer decoder calls; much larger ones fall out of the CPU's caches.
DECODE_CHUNK = 1 << 16
# A single record larger than this is not a sign-in: stop instead of reading a garbage
# file into memory while looking for the end of a value.
MAX_RECORD = 16 << 20
_DECODER = json.JSONDecoder()


class _Malformed(ValueError):
    pass


class _JsonStream:
    """Incremental decoder over a text stream: values are decoded where they start."""

    def __init__(self, handle):
        self.handle = handle
        self.buf = ""
        self.pos = 0
        self.eof = False
        self.consumed = 0  # characters dropped from the front of buf, for error positions

    def _fill(self):
        if self.eof:
            return False
        chunk = self.handle.read(CHUNK)
        if not chunk:
            self.eof = True
            return False
        if self.pos > CHUNK:
            self.consumed += self.pos
            self.buf = self.buf[self.pos:]
            self.pos = 0
        self.buf += chunk
        return True

    def peek(self):
        """Next non-blank character (without consuming it), or '' at the end."""
        while True:
            while self.pos < len(self.buf) and self.buf[self.pos] in " \t\r\n\ufeff":
                self.pos += 1
            if self.pos < len(self.buf):
                return self.buf[self.pos]
            if not self._fill():
                return ""

    def expect(self, chars):
        char = self.peek()
        if not char or char not in chars:
            raise _Malformed("expected %s at character %d, found %s" % (
                " or ".join(repr(c) for c in chars), self.offset(),
                repr(char) if char else "the end of the file"))
        self.pos += 1
        return char

    def offset(self):
        return self.consumed + self.pos

    def value(self):
        self.peek()
        while True:
            try:
                obj, end = _DECODER.raw_decode(self.buf, self.pos)
            except json.JSONDecodeError as exc:
                too_big = len(self.buf) - self.pos > MAX_RECORD
                if too_big or not self._fill():
                    raise _Malformed("%s at character %d" % (exc.msg, self.consumed + exc.pos))
                continue
            # A number or literal at the very end of the buffer may continue in the next chunk.
            if end == len(self.buf) and not isinstance(obj, (dict, list, str)) and self._fill():
                continue
            self.pos = end
            return obj


def _array_items(stream):
    stream.expect("[")
    if stream.peek() == "]":
        stream.pos += 1
        return
    while True:
        yield stream.value()
        if stream.expect(",]") == "]":
            return


def _object_or_value_list(stream):
    """A top-level object: ``{"value": [...], ...}`` yields the list's items as a stream;
    any other object is itself one record (concatenated or pretty-printed records)."""
    stream.expect("{")
    record = {}
    if stream.peek() == "}":
        stream.pos += 1
        yield record
        return
    while True:
        key = stream.value()
        if not isinstance(key, str):
            raise _Malformed("object key expected at character %d" % stream.offset())
        stream.expect(":")
        if key == "value" and stream.peek() == "[":
            yield from _array_items(stream)
            record = None  # a Graph page: its other members are metadata
        else:
            item = stream.value()
            if record is not None:
                record[key] = item
        if stream.expect(",}") == "}":
            break
    if record is not None:
        yield record


_LINE_ENDS = ("\n", "\r\n", "", "\r")


def _json_lines(handle):
    # The usual line is one value from its first character to its line break: the
    # decoder's scanner reads it directly, without json.loads' checks around it. Anything
    # else (blank lines, padding, errors) takes json.loads, which gives the same value and
    # the same errors.
    scan = _DECODER.scan_once
    for number, line in enumerate(handle, start=1):
        try:
            record, end = scan(line, 0)
        except Exception:  # StopIteration, JSONDecodeError, RecursionError: see below
            end = None
        if end is not None and line[end:] in _LINE_ENDS:
            yield record
        elif line.strip():
            try:
                yield json.loads(line)
            except ValueError as exc:
                raise _Malformed("line %d: %s" % (number, exc))


def _is_json_lines(handle):
    """True when the first line is a whole JSON object that is not a Graph page."""
    first = handle.readline(CHUNK).lstrip("\ufeff")
    handle.seek(0)
    if not first.lstrip().startswith("{"):
        return False
    try:
        record = json.loads(first)
    except ValueError:
        return False
    return isinstance(record, dict) and not isinstance(record.get("value"), list)


def iter_json(handle):
    """Records of a JSON document (array, Graph page), JSON Lines, or concatenated objects."""
    if _is_json_lines(handle):
        yield from _json_lines(handle)
        return
    stream = _JsonStream(handle)
    first = stream.peek()
    if first == "[":
        yield from _array_items(stream)
        if stream.peek():
            raise _Malformed("unexpected data after the JSON array at character %d"
                             % stream.offset())
        return
    while first == "{":
        yield from _object_or_value_list(stream)
        first = stream.peek()
    if first:
        raise _Malformed("expected a JSON object or array at character %d, found %r"
                         % (stream.offset(), first))


def iter_csv(handle):
    reader = csv.reader(handle)
    try:
        headers = next(reader)
    except StopIteration:
        return
    try:
        mapping = normalize_portal_csv.csv_header_map(headers)
    except ValueError as exc:
        raise _Malformed(str(exc))
    keys = [mapping.get(h) for h in headers]
    for number, values in enumerate(reader, start=2):
        if not any(v.strip() for v in values):
            continue
        if len(values) != len(headers):
            raise _Malformed("CSV line %d has %d fields, the header has %d (truncated?)"
                             % (number, len(values), len(headers)))
        yield {key: value for key, value in zip(keys, values) if key}


def _looks_like_json(handle):
    head = handle.read(4096)
    handle.seek(0)
    stripped = head.lstrip("\ufeff \t\r\n")
    if not stripped:
        raise _Malformed("the file is empty")
    return stripped[0] in "[{"


def read_pages(path, keep=None, page_size=PAGE_SIZE):
    """Yield lists of normalized rows from the file at ``path``.

    ``keep(row)`` filters rows (window, event type) before they are paged. Any unreadable,
    truncated or malformed content raises CheckError: a half-read file is never reported.
    """
    try:
        handle = open(path, encoding="utf-8-sig", newline="")
    except FileNotFoundError:
        raise CheckError("input file %s does not exist" % path)
    except IsADirectoryError:
        raise CheckError("input %s is a directory, not a sign-in log file" % path)
    except OSError as exc:
        raise CheckError("cannot read input file %s: %s" % (path, exc.strerror or exc))
    handle._CHUNK_SIZE = DECODE_CHUNK
    number = 0
    with handle:
        try:
            if _looks_like_json(handle):
                records, to_row = iter_json(handle), normalize.from_graph
            else:
                records, to_row = iter_csv(handle), normalize_portal_csv.from_portal_csv
            page = []
            for number, record in enumerate(records, start=1):
                row = to_row(record)
                if keep is None or keep(row):
                    page.append(row)
                    if len(page) >= page_size:
                        yield page
                        page = []
            if page:
                yield page
        except UnicodeDecodeError:
            raise CheckError("input file %s is not UTF-8 text (is it compressed?)" % path)
        except _Malformed as exc:
            raise CheckError("input file %s is truncated or not a sign-in log (%s)"
                             % (path, exc))
        except ValueError as exc:
            raise CheckError("input file %s: record %d is malformed: %s" % (path, number, exc))
        except OSError as exc:
            raise CheckError("cannot read input file %s: %s" % (path, exc.strerror or exc))


def describe(path):
    return "file %s" % os.path.basename(path)


def add_options(parser):
    group = parser.add_argument_group("file source")
    group.add_argument("--input", metavar="PATH",
                       help="read an exported sign-in log (Graph JSON, JSON Lines, or the "
                            "portal's JSON/CSV download) instead of an online source")


def check_args(args):
    if args.window is not None:
        raise options.UsageError("--window does not apply to --input: it reports the whole "
                                 "file, or --start/--end")


class FileCollection(Collection):
    """A store in a temporary directory that disappears with the collection."""

    def __init__(self, store, window, source, directory):
        super().__init__(store, window, source)
        self.directory = directory

    def close(self):
        super().close()
        shutil.rmtree(self.directory, ignore_errors=True)


def _count_history(store, window, days):
    """The file holds every sign-in from its first one on: count all the hours before the
    window into the baselines (the file is read once)."""
    (first,), = store.query("SELECT MIN(created) FROM signins")
    if first is not None and timeutil.from_store(first) < window.start:
        store.add_page([], window.event_types, timeutil.from_store(first), window.start,
                       window.start)
    store.count_hours(window.start, timedelta(0),
                      {event_type: [event_type] for event_type in window.event_types}, days,
                      most=None)


def collect(args, run):
    """Read the file's sign-ins of the window (or all of them) into a temporary store."""
    path, start, end = args.input, args.start, args.end
    event_types = tuple(args.event_types or DEFAULT_EVENT_TYPES)
    # mkdtemp makes the directory 0700: the rows are personal data.
    directory = tempfile.mkdtemp(prefix="entra-file-")
    store = Store(os.path.join(directory, "signins.sqlite"), scratch=True)
    baseline_days = run.baseline_days
    try:
        bounded = Window(start or timeutil.EARLIEST,
                         end or timeutil.parse_time("9999-12-31T23:59:59Z"),
                         tuple(event_types))
        kept = bounded
        if baseline_days and start:
            # The baselines learn from the part of the file before the window.
            kept = Window(timeutil.back(start, timedelta(days=baseline_days + 1)),
                          bounded.end, bounded.event_types)
        # One transaction for the whole file: a file that turns out truncated or malformed
        # half way (CheckError) leaves no rows, and the store is thrown away with it.
        store.add_all(read_pages(path, keep=kept.contains))
        if start and end:
            window = bounded
        else:
            # Open ends reach to the file's first or last sign-in, which counts too.
            where, params = bounded.where()
            # The first and the last row along the time index (MIN/MAX with this condition
            # would read every row for its event_mask).
            first, last = [
                (store.query("SELECT created FROM signins WHERE %s ORDER BY created %s "
                             "LIMIT 1" % (where, order), params) or [(None,)])[0][0]
                for order in ("ASC", "DESC")]
            if first is None:
                first = last = start or end or timeutil.utcnow()
            else:
                first, last = timeutil.from_store(first), timeutil.from_store(last)
            if end:
                window = Window(start or first, end, tuple(event_types))
            else:
                window = closing(start or first, max(last, start or first), event_types)
        if baseline_days:
            _count_history(store, window, baseline_days)
    except BaseException:
        store.close()
        shutil.rmtree(directory, ignore_errors=True)
        raise
    return FileCollection(store, window, describe(path), directory)
