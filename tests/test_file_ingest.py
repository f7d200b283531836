"""Reading a file into the scratch store: the cheap JSON Lines path reads what json.loads
reads line by line and fails where it fails, with its words; the whole file is one
transaction, so a file that turns out bad half way leaves nothing; the measures' ordered
read comes from an index."""

import io
import json
import os

import pytest
from nagiosplugin import CheckError

from check_entra_noninteractive import normalize
from check_entra_noninteractive.sources import file as file_source
from check_entra_noninteractive.store import Store
from conftest import signin


def _lines(text):
    """What the JSON Lines reader yields for ``text``, or the error it raises."""
    try:
        return list(file_source._json_lines(io.StringIO(text, newline="")))
    except file_source._Malformed as exc:
        return "error: %s" % exc


JSON_LINES = [
    ('{"a": 1}\n{"b": 2}\n', [{"a": 1}, {"b": 2}]),
    ('{"a": 1}', [{"a": 1}]),  # no line break at the end
    ('{"a": 1}\r\n{"b": 2}\r\n', [{"a": 1}, {"b": 2}]),
    ('{"a": 1}\r{"b": 2}\r', [{"a": 1}, {"b": 2}]),
    ('  {"a": 1}  \n\t{"b": 2}\t\n', [{"a": 1}, {"b": 2}]),
    ('\n\n  \n{"a": 1}\n \r\n', [{"a": 1}]),
    ('{"a": NaN, "b": 1e400, "c": -Infinity}\n', "special"),
    ('{"a": 99999999999999999999, "b": "\\ud800", "a": 2}\n',
     [{"a": 2, "b": "\ud800"}]),
    ('[1, 2]\n"text"\n5\nnull\n', [[1, 2], "text", 5, None]),
    ('{"a": "x\\ny"}\n', [{"a": "x\ny"}]),
    ('{"a": 5} {"b": 6}\n', "error: line 1: Extra data: line 1 column 10 (char 9)"),
    ('{"a": 1}\n{"a": 1},\n', "error: line 2: Extra data: line 1 column 9 (char 8)"),
    ('{"a": 1}\n\ufeff{"a": 1}\n', "error: line 2: Unexpected UTF-8 BOM (decode using "
                                   "utf-8-sig): line 1 column 1 (char 0)"),
    ('{"a": 1}\n{"a": \n', "error: line 2: Expecting value: line 2 column 1 (char 7)"),
    ('{"a": 1}\n\n  x\n', "error: line 3: Expecting value: line 1 column 3 (char 2)"),
    ('{"a": "tab\there"}\n', "error: line 1: Invalid control character at: line 1 column 11 "
                             "(char 10)"),
]


@pytest.mark.parametrize("text, expected", JSON_LINES, ids=[t[:24] for t, _ in JSON_LINES])
def test_json_lines_read_as_json_loads_reads_each_line(text, expected):
    got = _lines(text)
    if expected == "special":
        assert len(got) == 1 and got[0]["a"] != got[0]["a"]  # NaN
        assert (got[0]["b"], got[0]["c"]) == (float("inf"), float("-inf"))
    else:
        assert got == expected
        assert [type(v) for v in (got if isinstance(got, list) else [])] == \
            [type(v) for v in (expected if isinstance(expected, list) else [])]


def test_a_whole_number_beyond_64_bits_stays_a_whole_number():
    (record,) = _lines('{"status": {"errorCode": 99999999999999999999}}\n')
    assert record["status"]["errorCode"] == 99999999999999999999
    assert isinstance(record["status"]["errorCode"], int)


def test_truncated_json_lines_file_is_one_error_and_leaves_no_store(run, tmp_path,
                                                                    monkeypatch):
    """Good lines first, then a cut one: UNKNOWN, no perfdata, the scratch store gone."""
    path = tmp_path / "cut.jsonl"
    lines = [json.dumps(signin("r%d" % i, i)) for i in range(2500)]
    path.write_text("\n".join(lines) + "\n" + lines[0][:40])
    made = []
    real = file_source.tempfile.mkdtemp

    def mkdtemp(**kwargs):
        made.append(real(**kwargs))
        return made[-1]

    monkeypatch.setattr(file_source.tempfile, "mkdtemp", mkdtemp)
    result = run("signins", "--input", path)
    assert result.code == 3, result.out
    assert result.first.startswith("ENTRA SIGNINS UNKNOWN - input file %s is truncated or "
                                   "not a sign-in log (line 2501: " % path)
    assert "|" not in result.out
    assert made and not os.path.exists(made[0])


def test_add_all_is_one_transaction(tmp_path):
    rows = [normalize.from_graph(signin("r%d" % i, i)) for i in range(5)]

    def pages():
        yield rows[:3]
        yield rows[3:]
        raise CheckError("the file turned out truncated")

    with Store(str(tmp_path / "s.sqlite"), scratch=True) as store:
        with pytest.raises(CheckError, match="truncated"):
            store.add_all(pages())
        assert store.query("SELECT COUNT(*) FROM signins") == [(0,)]
        store.add_all(iter([rows[:3], rows[2:], []]))
        assert store.query("SELECT id FROM signins ORDER BY id") == \
            [("r%d" % i,) for i in range(5)]


def test_scratch_store_settings(tmp_path):
    with Store(str(tmp_path / "scratch.sqlite"), scratch=True) as store:
        assert store.query("PRAGMA journal_mode") == [("memory",)]
        assert store.query("PRAGMA synchronous") == [(0,)]
        assert store.query("PRAGMA page_size")[0][0] > 4096
    with Store(str(tmp_path / "live.sqlite")) as store:
        assert store.query("PRAGMA journal_mode") == [("wal",)]
        assert store.query("PRAGMA synchronous") == [(1,)]


def test_the_window_is_read_in_order_from_an_index_and_no_index_is_idle():
    with Store(":memory:") as store:
        plan = store.query(
            "EXPLAIN QUERY PLAN SELECT success, ip FROM signins WHERE created >= ? AND "
            "created < ? AND (event_mask & ?) <> 0 ORDER BY created, id", ("a", "b", 1))
        details = " / ".join(row[-1] for row in plan)
        assert "USING INDEX signins_by_time" in details and "TEMP B-TREE" not in details
        indexes = {name: sql for name, sql in store.query(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index'")}
    assert indexes == {
        "sqlite_autoindex_signins_1": None,  # id PRIMARY KEY: a sign-in is stored once
        "signins_by_time": "CREATE INDEX signins_by_time ON signins (created, id)",
        "coverage_by_end": "CREATE INDEX coverage_by_end ON coverage (part, end)",
        "pacing_by_key": "CREATE INDEX pacing_by_key ON pacing (key, at)",
        "sqlite_autoindex_pacing_block_1": None,
        "sqlite_autoindex_meta_1": None,
    }
