"""Every fault of the local fake against the real check: the answer is exact or UNKNOWN,
never wrong, and the next run (fault gone, same state directory) is exact.

Each case runs the console script through real MSAL and requests against the fake
(HTTPS on loopback), for an explicit past window of a few thousand sign-ins (three pages of
1000), and compares it with a deliberately simple reference computed here from the records.
``run_case`` is shared with tools/reliability.py, which runs the same matrix with random
seeds and prints a table.
"""

import math
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone

import pytest

import sample
from conftest import run_script
from fake_microsoft import FakeMicrosoft
from test_graph import CLIENT, SECRET, TENANT, environment, graph_args

START, END = "2026-11-20T08:05:00Z", "2026-11-20T08:55:00Z"
WINDOW = ("--start", START, "--end", END)
RECORDS = 3000       # over 08:00-09:00: about 2,450 non-interactive ones in the window
TIMEOUT = 20         # -t of every run but the hangs
HANG_TIMEOUT = 10    # -t of a run that meets a hang: 5 s to fetch after the 5 s reserve
HANG = {"seconds": 60}
JOBS = 3             # cases at once: they mostly wait on backoff and timeouts
EXACT, UNKNOWN = "exact", "UNKNOWN"
WRONG = "wrong"      # exit 0/1/2 with a value that differs from the reference
BROKEN = "broken"    # anything else: a traceback, an UNKNOWN with perfdata, exit 4 ...
SIGNINS, FAILURE_ENTITIES = "check_entra_signins", "check_entra_failure_entities"


@dataclass(frozen=True)
class Case:
    name: str
    faults: tuple            # (fault, count, params): FakeMicrosoft.set_fault, in order
    expect: str              # EXACT or UNKNOWN for the run that meets the faults
    says: str = ""           # UNKNOWN: what the status line must name
    timeout: int = TIMEOUT
    check: str = SIGNINS
    token_requests: int = 0  # if set: exactly this many token requests in the first run


def fault(name, count=None, **params):
    return name, count, params


# Transient faults come at most twice in a row: far below the retry budget (6 attempts a
# page), and the three pages plus two retries stay inside Graph's 5 requests per 10 s, so
# the client's own pacing never has to wait.
CASES = [
    Case("429 storm with Retry-After", (fault("throttle", 2, retry_after=1),), EXACT),
    Case("429 storm without Retry-After", (fault("throttle", 2, retry_after=None),), EXACT),
    Case("500", (fault("server_error", 2, status=500),), EXACT),
    Case("502", (fault("server_error", 2, status=502, retry_after=1),), EXACT),
    Case("503 with Retry-After", (fault("server_error", 2, status=503, retry_after=1),),
         EXACT),
    Case("504", (fault("server_error", 1, status=504),), EXACT),
    Case("connection reset", (fault("reset", 2),), EXACT),
    Case("body cut off mid-JSON", (fault("truncate", 2),), EXACT),
    Case("hang past -t", (fault("slow", 1, **HANG),), UNKNOWN, "timeout",
         timeout=HANG_TIMEOUT),
    Case("hang past -t mid-chain", (fault("slow", 1, after=1, **HANG),), UNKNOWN,
         "timeout", timeout=HANG_TIMEOUT),
    Case("token endpoint 500", (fault("token_error", 1, status=500),), EXACT,
         token_requests=2),
    Case("token endpoint 503", (fault("token_error", 1, status=503, retry_after=1),), EXACT,
         token_requests=2),
    Case("token AADSTS7000215", (fault("token_error", aadsts=7000215),), UNKNOWN,
         "AADSTS7000215"),
    Case("token AADSTS700016", (fault("token_error", aadsts=700016),), UNKNOWN,
         "AADSTS700016"),
    Case("401 mid-run", (fault("unauthorized", 1, after=1, revoke=True),), EXACT,
         token_requests=2),
    Case("no licence", (fault("licence"),), UNKNOWN, "licence"),
    Case("no permission", (fault("permission"),), UNKNOWN, "AuditLog.Read.All"),
    Case("repeating nextLink", (fault("repeat_next_link"),), UNKNOWN, "nextLink"),
    Case("one record on two pages", (fault("duplicate"),), EXACT),
    Case("pages in any order", (fault("unordered"),), EXACT),
    Case("pages in any order, then a hang", (fault("unordered"),
                                             fault("slow", 1, after=1, **HANG)),
         UNKNOWN, "timeout", timeout=HANG_TIMEOUT),
    Case("failure_ips: one record on two pages", (fault("duplicate"),), EXACT,
         check=FAILURE_ENTITIES),
    Case("failure_ips: pages in any order, then a hang",
         (fault("unordered"), fault("slow", 1, after=1, **HANG)), UNKNOWN, "timeout",
         timeout=HANG_TIMEOUT, check=FAILURE_ENTITIES),
]


# -- the reference ------------------------------------------------------------------------

def records(seed):
    """Graph-shaped sign-ins of 08:00-09:00 with explicit event types."""
    made = list(sample.generate(count=RECORDS, seed=seed, compact=True))
    for record in made:
        record.setdefault("signInEventTypes", ["nonInteractiveUser"])
    return made


def _moment(text):
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)


def in_window(records):
    start, end = _moment(START), _moment(END)
    return [r for r in records if "nonInteractiveUser" in r["signInEventTypes"]
            and start <= _moment(r["createdDateTime"]) < end]


def failed(record):
    return int((record.get("status") or {}).get("errorCode") or 0) != 0


def reference(check, records):
    """What the check must report for the window, counted the plain way."""
    rows = in_window(records)
    if check == SIGNINS:
        return {"total": len(rows), "failed": sum(1 for r in rows if failed(r))}
    ips = {(r.get("ipAddress") or "").strip() for r in rows if failed(r)}
    return {"failure_ips": len(ips - {""})}


# -- one case -----------------------------------------------------------------------------

@dataclass
class Result:
    case: Case
    expected: dict
    pages: int                       # pages the window takes without faults
    runs: list = field(default_factory=list)   # [(Outcome, graph requests, token requests)]

    def verdict(self, index):
        """EXACT, UNKNOWN, WRONG or BROKEN for run ``index`` (0: faults set, 1: cleared)."""
        outcome = self.runs[index][0]
        if outcome.code == 3:
            return UNKNOWN if clean_unknown(self.case.check, outcome) else BROKEN
        if outcome.code not in (0, 1, 2):
            return BROKEN
        try:
            values = {label: outcome.value(label) for label in self.expected}
        except (KeyError, ValueError, IndexError):
            return WRONG
        if values != self.expected:
            return WRONG
        return EXACT if outcome.code == 0 and "Traceback" not in outcome.out else BROKEN


def status_prefix(check):
    return "ENTRA %s UNKNOWN - " % check[len("check_entra_"):].replace("_", " ").upper()


def clean_unknown(check, outcome):
    return (outcome.first.startswith(status_prefix(check)) and len(outcome.out.splitlines()) == 1
            and "|" not in outcome.out and "Traceback" not in outcome.out)


def run_case(case, seed=1, state_dir=None):
    """Run ``case`` twice (faults set, then cleared) on one state directory."""
    made = records(seed)
    expected = reference(case.check, made)
    result = Result(case, expected, math.ceil(len(in_window(made)) / 1000))
    with tempfile.TemporaryDirectory(prefix="entra-faults-", dir=state_dir) as state, \
            FakeMicrosoft(records=made, tenant=TENANT, client_id=CLIENT, client_secret=SECRET,
                          page_delay=0, throttle_limit=0) as fake:
        extra = ["--attempts", "1"] if case.check == FAILURE_ENTITIES else []
        for name, count, params in case.faults:
            if name == "unordered":
                params = dict(params, seed=seed)
            fake.set_fault(name, count, **params)
        for timeout in (case.timeout, TIMEOUT):
            fake.reset_log()
            outcome = run_script(case.check, *graph_args(fake, state, *WINDOW, *extra,
                                                         "-t", timeout),
                                 env=environment(fake), timeout=timeout + 30)
            result.runs.append((outcome, len(fake.graph_requests()),
                                len(fake.token_requests())))
            fake.clear_faults()
    return result


def graph_faults(case):
    """Graph requests the case's faults spoil at most (permanent page faults: none)."""
    return sum(count or 0 for name, count, _ in case.faults if name != "token_error")


# -- the tests ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def matrix(request):
    """{case name: future Result} for the cases this session runs, JOBS at a time."""
    params = [getattr(getattr(item, "callspec", None), "params", {})
              for item in request.session.items]
    selected = [p["case"] for p in params if isinstance(p.get("case"), Case)]
    with ThreadPoolExecutor(JOBS) as pool:
        yield {case.name: pool.submit(run_case, case) for case in selected}


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_fault_gives_exact_or_unknown_and_the_next_run_is_exact(matrix, case):
    result = matrix[case.name].result()
    (first, first_graph, first_tokens), (second, second_graph, _) = result.runs
    assert result.pages >= 3
    assert result.verdict(0) == case.expect, (first.out, result.expected)
    if case.expect == UNKNOWN:
        assert case.says in first.first, first.first
    else:
        assert first_graph <= result.pages + graph_faults(case) + 2
    if case.token_requests:
        assert first_tokens == case.token_requests
    if any(params.get("after") for _, _, params in case.faults):
        assert first_graph >= 1, "the fault was meant to come mid-run"
    # The faults are gone: the next run is exact, and fetches at most the window once.
    assert result.verdict(1) == EXACT, (second.out, result.expected)
    if case.expect == EXACT:
        assert second_graph == 0, "a complete window was fetched again"
    else:
        assert second_graph <= result.pages + 2


def test_matrix_covers_every_graph_and_token_fault_of_the_fake():
    # The Resource Manager and Log Analytics faults are test_loganalytics.py's.
    from fake_microsoft.loganalytics import ARM_FAULTS, LA_FAULTS
    from fake_microsoft import FAULT_NAMES

    used = {name for case in CASES for name, _, _ in case.faults}
    assert used == set(FAULT_NAMES) - set(ARM_FAULTS) - set(LA_FAULTS)


def test_fault_names_and_parameters():
    # The fake's new switches, seen from a plain client.
    import requests

    made = records(3)
    with FakeMicrosoft(records=made, tenant=TENANT, client_id=CLIENT, client_secret=SECRET,
                       throttle_limit=0) as fake:
        def token():
            return requests.post(
                "%s/%s/oauth2/v2.0/token" % (fake.authority_host, TENANT),
                data={"grant_type": "client_credentials", "client_id": CLIENT,
                      "client_secret": SECRET, "scope": fake.scope},
                verify=fake.ca_bundle, timeout=5)

        def pages(url=None):
            url = url or fake.signins_url + "?$filter=" + (
                "createdDateTime ge %s and createdDateTime lt %s and "
                "signInEventTypes/any(t: t eq 'nonInteractiveUser')" % (START, END))
            seen = []
            while url and len(seen) < 10:
                body = requests.get(url, headers={"Authorization": "Bearer " + access},
                                    verify=fake.ca_bundle, timeout=5).json()
                seen.append([r["id"] for r in body["value"]])
                url = body.get("@odata.nextLink")
            return seen, url

        fake.set_fault("token_error", 1, aadsts=700016)
        refused = token()
        assert refused.status_code == 400 and "AADSTS700016" in refused.json()["error_description"]
        fake.set_fault("token_error", 1, status=503, retry_after=4)
        refused = token()
        assert refused.status_code == 503 and refused.headers["Retry-After"] == "4"
        assert refused.json()["error"] == "temporarily_unavailable"
        access = token().json()["access_token"]

        normal, _ = pages()
        assert len(normal) == 3 and len({i for p in normal for i in p}) == len(in_window(made))
        fake.set_fault("duplicate")
        doubled, _ = pages()
        assert [p[0] for p in doubled[1:]] == [p[-1] for p in doubled[:-1]]
        fake.clear_faults()
        fake.set_fault("unordered", seed=5)
        fake.set_fault("truncate", 1, after=1)   # a page fault acts beside another one
        with pytest.raises(requests.exceptions.RequestException):
            pages()
        fake.set_fault("unordered", seed=5)
        shuffled, _ = pages()
        flat = [i for p in shuffled for i in p]
        assert sorted(flat) == sorted(i for p in normal for i in p)
        assert flat != [i for p in normal for i in p]
        fake.clear_faults()
        fake.set_fault("repeat_next_link", 1, after=1)
        looped, _ = pages()
        assert looped[1] == looped[2] and len(looped) == 4
        fake.set_fault("unauthorized", 1, revoke=True)
        assert requests.get(fake.signins_url, headers={"Authorization": "Bearer " + access},
                            verify=fake.ca_bundle, timeout=5).status_code == 401
        assert requests.get(fake.signins_url, headers={"Authorization": "Bearer " + access},
                            verify=fake.ca_bundle, timeout=5).status_code == 401
