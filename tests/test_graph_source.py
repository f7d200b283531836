"""One Graph page at a time, with ``responses`` standing in for Graph: retries, waits and
error texts of sources/graph.py without a server."""

import time

import pytest
import requests
import responses
from nagiosplugin import CheckError

from check_entra_noninteractive import network, pacing
from check_entra_noninteractive.sources import graph, rest
from check_entra_noninteractive.store import Store
from conftest import signin

GRAPH = "https://graph.example"
URL = GRAPH + graph.SIGNINS_PATH + "?$top=1000"


class Tokens:
    def __init__(self):
        self.forgotten = []

    def token(self, scope):
        assert scope == GRAPH + "/.default"
        return "access-token-123456789"

    def refused(self, token):
        # What auth.TokenProvider.refused promises: forget it; True the first time only.
        self.forgotten.append(token)
        return len(self.forgotten) == 1


@pytest.fixture
def source(tmp_path, monkeypatch):
    slept = []
    monkeypatch.setattr(rest.time, "sleep", slept.append)
    http = network.HttpSettings(timeout=5)
    store = Store(str(tmp_path / "s.sqlite"))
    paced = []  # the budget's own waits, on a clock of their own
    pacer = pacing.Pacer(store, "app", clock=lambda: 1000.0 + sum(paced), sleep=paced.append)
    made = graph.GraphSource(GRAPH, Tokens(), http, http.session(), pacer,
                             deadline=time.time() + 60)
    made.slept, made.paced = slept, paced
    yield made
    store.close()


def page(*records, next_link=None):
    body = {"value": list(records)}
    if next_link:
        body["@odata.nextLink"] = next_link
    return body


@responses.activate
def test_a_page_and_its_next_link(source):
    responses.add(responses.GET, URL, json=page(signin("a", 1), signin("b", 2, False),
                                                next_link=URL + "&x"))
    rows, next_url = source.page(URL)
    assert [r["id"] for r in rows] == ["a", "b"]
    assert next_url == URL + "&x"
    sent = responses.calls[0].request
    assert sent.headers["Authorization"] == "Bearer access-token-123456789"
    assert sent.headers["Prefer"] == "include-unknown-enum-members"


@responses.activate
def test_read_timeout_and_server_errors_are_retried_with_retry_after(source):
    responses.add(responses.GET, URL, body=requests.exceptions.ReadTimeout("read timed out"))
    responses.add(responses.GET, URL, status=503, headers={"Retry-After": "7"},
                  json={"error": {"code": "ServiceUnavailable"}})
    responses.add(responses.GET, URL, body='{"value": [{"id": "a", "createdDa')  # cut off mid-JSON
    responses.add(responses.GET, URL, json=page(signin("a", 1)))
    rows, _ = source.page(URL)
    assert [r["id"] for r in rows] == ["a"]
    assert len(responses.calls) == 4
    assert source.slept[1] == 7  # Retry-After honoured
    assert 0.75 <= source.slept[0] <= 1.25 and 3 <= source.slept[2] <= 5  # backoff, jitter


@responses.activate
def test_throttling_blocks_the_shared_budget(source):
    responses.add(responses.GET, URL, status=429, headers={"Retry-After": "2"},
                  json={"error": {"code": "TooManyRequests"}})
    responses.add(responses.GET, URL, json=page())
    assert source.page(URL) == ([], None)
    assert source.slept == []  # not a blind sleep: the budget itself is blocked ...
    assert sum(source.paced) == pytest.approx(2)  # ... until Retry-After has passed


@responses.activate
def test_failing_for_good_says_so(source):
    for _ in range(6):
        responses.add(responses.GET, URL, status=502, json={"error": {"code": "BadGateway"}})
    with pytest.raises(CheckError, match="Microsoft Graph kept failing after 6 attempts: "
                                         "HTTP 502 BadGateway"):
        source.page(URL)


@responses.activate
def test_retries_stop_at_the_deadline(source):
    source.deadline = time.time() + 3
    responses.add(responses.GET, URL, status=503, headers={"Retry-After": "30"}, json={})
    with pytest.raises(pacing.OutOfTime) as stop:
        source.page(URL)
    assert not stop.value.throttled and stop.value.wait == 30


@pytest.mark.parametrize("status, code, message", [
    (403, "Authentication_RequestFromNonPremiumTenantOrB2CTenant", graph.LICENCE_HELP),
    (403, "Authorization_RequestDenied", graph.PERMISSION_HELP),
    (400, "BadRequest", "Microsoft Graph answered HTTP 400 BadRequest: Invalid filter clause"),
])
@responses.activate
def test_refusals(source, status, code, message):
    responses.add(responses.GET, URL, status=status, json={"error": {"code": code,
                                                      "message": "Invalid filter clause"}})
    with pytest.raises(CheckError) as error:
        source.page(URL)
    assert str(error.value) == message


EXPIRED = {"error": {"code": "InvalidAuthenticationToken",
                     "message": "Access token has expired."}}


@responses.activate
def test_401_mid_run_gets_a_new_token_and_goes_on(source):
    responses.add(responses.GET, URL, status=401, json=EXPIRED)
    responses.add(responses.GET, URL, json={"value": [signin("a", 1)]})
    rows, next_url = source.page(URL)
    assert [r["id"] for r in rows] == ["a"] and next_url is None
    assert source.tokens.forgotten == ["access-token-123456789"]
    assert len(responses.calls) == 2


@responses.activate
def test_a_second_401_is_unknown(source):
    responses.add(responses.GET, URL, status=401, json=EXPIRED)
    responses.add(responses.GET, URL, status=401, json=EXPIRED)
    with pytest.raises(CheckError, match=r"refused the token \(401 InvalidAuthentication"
                                         r"Token\): Access token has expired."):
        source.page(URL)
    assert source.tokens.forgotten == ["access-token-123456789"] * 2


@responses.activate
def test_an_answer_without_value_is_not_a_sign_in_page(source):
    responses.add(responses.GET, URL, json={"error": None, "items": []})
    with pytest.raises(CheckError, match="without a 'value' list: is --graph-url right"):
        source.page(URL)


def test_filter_names_the_window_and_every_event_type():
    from check_entra_noninteractive.timeutil import parse_time

    text = graph.signins_filter(parse_time("2026-11-20T08:00:00Z"),
                                parse_time("2026-11-20T08:05:00.250Z"),
                                ("nonInteractiveUser", "servicePrincipal"))
    assert text == ("createdDateTime ge 2026-11-20T08:00:00Z and createdDateTime lt "
                    "2026-11-20T08:05:00.250000Z and signInEventTypes/any(t: t eq "
                    "'nonInteractiveUser' or t eq 'servicePrincipal')")


def test_an_empty_page_with_a_next_link_claims_no_coverage(tmp_path):
    """Graph may page with an empty 'value' and a next link: nothing is complete yet."""
    from check_entra_noninteractive.fetch import Fetcher
    from check_entra_noninteractive.timeutil import parse_time

    class Pages:
        def __init__(self):
            self.answers = [([], "next-1"), ([], None)]
            self.seen = []

        def first_url(self, start, end, event_types):
            return "first"

        def page(self, url):
            self.seen.append(url)
            rows, next_url = self.answers.pop(0)
            if url == "next-1":
                assert coverage(store) == []  # the empty page recorded nothing
            return rows, next_url

    def coverage(opened):
        return opened.query("SELECT start, end FROM coverage")

    store = Store(str(tmp_path / "s.sqlite"))
    pages = Pages()
    start, end = parse_time("2026-11-20T08:00:00Z"), parse_time("2026-11-20T08:05:00Z")
    Fetcher(store, pages, ("nonInteractiveUser",), workers=2).run([(start, end)])
    assert pages.seen == ["first", "next-1"]
    assert coverage(store) == [("2026-11-20T08:00:00.000000Z", "2026-11-20T08:05:00.000000Z")]
    store.close()
