"""The file source: every supported shape gives the same rows; bad files are UNKNOWN."""

import csv
import io
import json

import pytest
from nagiosplugin import CheckError

from check_entra_noninteractive.sources import file as file_source
from conftest import signin

RECORDS = [signin("a", 1), signin("b", 2, False), signin("c", 3, False, ipAddress="2001:db8::1"),
           signin("d", 4, riskLevelDuringSignIn="high", clientAppUsed="IMAP4")]


def rows(path, **kwargs):
    return [row for page in file_source.read_pages(str(path), **kwargs) for row in page]


@pytest.mark.parametrize("shape", ["array", "graph", "jsonl"])
def test_json_shapes_give_the_same_rows(write_json, shape):
    assert rows(write_json(RECORDS, shape)) == rows(write_json(RECORDS, "array"))
    assert [r["id"] for r in rows(write_json(RECORDS, shape))] == ["a", "b", "c", "d"]


def test_pretty_printed_graph_page_with_metadata_after_the_values(tmp_path):
    page = {"@odata.context": "ctx", "value": RECORDS, "@odata.nextLink": "https://x/next"}
    path = tmp_path / "page.json"
    path.write_text(json.dumps(page, indent=4))
    assert [r["id"] for r in rows(path)] == ["a", "b", "c", "d"]


def test_concatenated_pretty_objects(tmp_path):
    path = tmp_path / "objects.json"
    path.write_text("\n".join(json.dumps(r, indent=2) for r in RECORDS))
    assert len(rows(path)) == 4


def test_byte_order_mark_and_empty_array(tmp_path):
    path = tmp_path / "bom.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(RECORDS).encode())
    assert len(rows(path)) == 4
    empty = tmp_path / "empty.json"
    empty.write_text("[ ]")
    assert rows(empty) == []


def test_records_larger_than_a_read_chunk(tmp_path, monkeypatch):
    # Values that straddle chunk boundaries, numbers included, decode whole.
    monkeypatch.setattr(file_source, "CHUNK", 7)
    records = [signin("id-%d" % i, i, i % 3 == 0, userDisplayName="x" * (i * 13))
               for i in range(30)]
    path = tmp_path / "chunks.json"
    path.write_text(json.dumps({"value": records, "count": 123456789}))
    got = rows(path)
    assert [r["id"] for r in got] == ["id-%d" % i for i in range(30)]
    assert [r["error_code"] for r in got] == [0 if i % 3 == 0 else 50126 for i in range(30)]


def test_paging_by_page_size(write_json):
    pages = list(file_source.read_pages(str(write_json(RECORDS * 1)), page_size=3))
    assert [len(p) for p in pages] == [3, 1]


# The portal's "Download CSV" of the non-interactive sign-ins tab (a subset of its columns,
# in its order; the portal writes more, which are ignored).
PORTAL_HEADER = [
    "Date (UTC)", "Request ID", "User agent", "Correlation ID", "User ID", "User", "Username",
    "User type", "Cross tenant access type", "Incoming token type", "Authentication Protocol",
    "Unique token identifier", "Client credential type", "Service principal ID",
    "Service principal name", "Application", "Application ID", "Resource", "Resource ID",
    "Resource tenant ID", "Home tenant ID", "IP address", "Location", "Status",
    "Sign-in error code", "Failure reason", "Client app", "Device ID", "Browser",
    "Operating System", "Compliant", "Managed", "Join Type",
    "Multifactor authentication result", "Authentication requirement",
    "Sign-in identifier", "Session ID", "Conditional Access", "Latency",
]


def portal_csv(tmp_path, rows_, name="portal.csv"):
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(PORTAL_HEADER)
    for row in rows_:
        writer.writerow([row.get(h, "") for h in PORTAL_HEADER])
    path = tmp_path / name
    path.write_text("\ufeff" + buffer.getvalue(), encoding="utf-8")
    return path


def test_portal_csv_maps_to_the_same_row_as_graph(tmp_path, write_json):
    record = signin("req-1", 5, False, ipAddress="198.51.100.7",
                    location={"city": "Moscow", "state": "Moscow", "countryOrRegion": "RU"},
                    clientAppUsed="IMAP4", conditionalAccessStatus="failure",
                    authenticationRequirement="singleFactorAuthentication",
                    incomingTokenType="primaryRefreshToken", authenticationProtocol="ropc",
                    userAgent="python-requests/2.31", userDisplayName="Adele Vance")
    csv_row = {
        "Date (UTC)": "2026-11-20T08:00:05Z", "Request ID": "req-1",
        "User agent": "python-requests/2.31", "User ID": "user-1", "User": "Adele Vance",
        "Username": "user1@contoso.example", "Incoming token type": "Primary Refresh Token",
        "Authentication Protocol": "ROPC", "Application": "Outlook",
        "Application ID": "app-1", "Resource": "Exchange", "Resource ID": "res-1",
        "IP address": "198.51.100.7", "Location": "Moscow, Moscow, RU", "Status": "Failure",
        "Sign-in error code": "50126", "Failure reason": "Invalid password",
        "Client app": "IMAP4", "Authentication requirement": "Single-factor authentication",
        "Conditional Access": "Failure",
    }
    from_csv = rows(portal_csv(tmp_path, [csv_row]))[0]
    from_graph = rows(write_json([record]))[0]
    # The CSV carries no risk or policy detail; everything it does carry must agree.
    for column in ("risk_level", "risk_state", "risk_events", "ca_policies", "sp_id",
                   "sp_name", "client_credential_type"):
        from_csv.pop(column)
        from_graph.pop(column)
    assert from_csv == from_graph


def test_portal_csv_us_dates_partial_locations_and_success(tmp_path):
    got = rows(portal_csv(tmp_path, [
        {"Date (UTC)": "11/20/2026, 1:05:09 PM", "Request ID": "r1", "Status": "Success",
         "Location": "RU"},
        {"Date (UTC)": "2026-11-20 08:00:00", "Request ID": "r2", "Status": "Failure",
         "Location": "Paris, FR"},
    ]))
    assert got[0]["created"] == "2026-11-20T13:05:09.000000Z"
    assert (got[0]["success"], got[0]["country"], got[0]["city"]) == (1, "RU", "")
    assert (got[1]["success"], got[1]["city"], got[1]["country"]) == (0, "Paris", "FR")


def test_csv_that_is_not_a_sign_in_export(tmp_path):
    path = tmp_path / "other.csv"
    path.write_text("name,size\nfoo,3\n")
    with pytest.raises(CheckError, match="not a sign-in log"):
        rows(path)


def _peak_while_reading(path):
    import tracemalloc

    tracemalloc.start()
    try:
        count = sum(len(page) for page in file_source.read_pages(str(path)))
        return count, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def _write_generated(path, count, shape):
    import sample

    with open(path, "w") as handle:
        if shape == "jsonl":
            for record in sample.generate(count=count):
                handle.write(json.dumps(record) + "\n")
        else:
            handle.write('{"@odata.context": "x", "value": [' if shape == "graph" else "[")
            for i, record in enumerate(sample.generate(count=count)):
                handle.write(("," if i else "") + json.dumps(record))
            handle.write("]}" if shape == "graph" else "]")


@pytest.mark.parametrize("shape", ["jsonl", "array", "graph"])
def test_streaming_memory_does_not_grow_with_the_file(tmp_path, shape):
    """Four times the records must not need more memory: nothing holds the whole file."""
    small, big = tmp_path / "small", tmp_path / "big"
    _write_generated(small, 2000, shape)
    _write_generated(big, 8000, shape)
    small_count, small_peak = _peak_while_reading(small)
    big_count, big_peak = _peak_while_reading(big)
    assert (small_count, big_count) == (2000, 8000)
    assert big_peak < small_peak * 1.5, (small_peak, big_peak)
    # A page of 1000 rows and a 1 MiB read buffer: a constant, whatever the file's size.
    assert big_peak < 24 * 2 ** 20
