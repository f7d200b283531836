"""Tests of the local fake of Microsoft's endpoints (tests/fake_microsoft/): login, Graph,
the proxy and subprocess mode; the ARM and Log Analytics ones are in
test_fake_loganalytics.py.

Only what keeps the product's tests honest: that the fake answers as Microsoft does
(Entra's refusals, Graph's paging, $filter, throttling and errors), and that its faults,
proxy and subprocess mode do what the product's tests rely on.  Real requests (and MSAL)
over real TLS, as the product uses them.
"""

import base64
import hashlib
import http.client
import json
import signal
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path

import msal
import pytest
import requests
import trustme

from fake_microsoft import FakeControl, FakeMicrosoft
from fake_microsoft.odata import FilterError, ODataFilter

HERE = Path(__file__).resolve().parent
NONINTERACTIVE_TYPES = ("signInEventTypes/any(t: t eq 'nonInteractiveUser' "
                        "or t eq 'servicePrincipal')")


def signin(i, minute, second=0, types=("nonInteractiveUser",), **extra):
    record = {"id": "id-%02d" % i,
              "createdDateTime": "2026-11-20T08:%02d:%02dZ" % (minute, second),
              "userPrincipalName": "user%d@example.com" % i,
              "signInEventTypes": list(types),
              "isInteractive": "interactiveUser" in types,
              "status": {"errorCode": 0}}
    record.update(extra)
    return record


FIVE = [signin(i, minute=i) for i in range(5)]   # 08:00 ... 08:04, ids id-00 ... id-04


def clean_environment(monkeypatch):
    # requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE and *_PROXY from the environment
    # override a Session's verify/proxies: keep the host's settings out of these tests.
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "HTTPS_PROXY", "https_proxy",
                 "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy", "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(autouse=True)
def hermetic_env(monkeypatch):
    clean_environment(monkeypatch)


@pytest.fixture
def fake():
    with FakeMicrosoft(records=FIVE, throttle_limit=100) as f:
        yield f


def post_token(fake, tenant="t1", **form):
    data = {"grant_type": "client_credentials", "client_id": "c1", "client_secret": "s3cr3t",
            "scope": fake.scope}
    data.update(form)
    return requests.post("%s/%s/oauth2/v2.0/token" % (fake.authority_host, tenant),
                         data={k: v for k, v in data.items() if v is not None},
                         verify=fake.ca_bundle, timeout=5)


def token(fake, scope=None):
    resp = post_token(fake, scope=scope or fake.scope)
    assert resp.status_code == 200, resp.text
    return resp.json()["access_token"]


def get_signins(fake, access, params=None, url=None, **kwargs):
    kwargs.setdefault("timeout", 5)
    return requests.get(url or fake.signins_url, params=params,
                        headers={"Authorization": "Bearer " + access},
                        verify=fake.ca_bundle, **kwargs)


def window_filter(start="2026-11-20T08:00:00Z", end="2026-11-20T09:00:00Z"):
    return "createdDateTime ge %s and createdDateTime lt %s and %s" % (
        start, end, NONINTERACTIVE_TYPES)


def ids(resp):
    assert resp.status_code == 200, resp.text
    return [r["id"] for r in resp.json()["value"]]


def jwt(header, claims):
    enc = lambda d: base64.urlsafe_b64encode(json.dumps(d).encode()).decode().rstrip("=")
    return "%s.%s.c2ln" % (enc(header), enc(claims))


# --------------------------------------------------------------------------
# Login
# --------------------------------------------------------------------------

def test_discovery_names_the_fake_and_refuses_other_tenants(fake):
    resp = requests.get(fake.authority_host + "/t1/v2.0/.well-known/openid-configuration",
                        verify=fake.ca_bundle, timeout=5)
    doc = resp.json()
    assert (resp.status_code, doc["token_endpoint"], doc["issuer"]) == (
        200, fake.authority_host + "/t1/oauth2/v2.0/token", fake.authority_host + "/t1/v2.0")
    other = requests.get(fake.authority_host + "/nope/v2.0/.well-known/openid-configuration",
                         verify=fake.ca_bundle, timeout=5)
    body = other.json()
    assert (other.status_code, body["error"], body["error_codes"]) == (
        400, "invalid_tenant", [90002])
    assert body["error_description"].startswith("AADSTS90002: Tenant 'nope' not found.")


EXPIRED = time.time() - 60
REFUSALS = [
    ("wrong secret", {"client_secret": "wrong"}, 401, "invalid_client", 7000215),
    ("no credential", {"client_secret": None}, 401, "invalid_client", 7000218),
    ("unknown client", {"client_id": "who"}, 400, "unauthorized_client", 700016),
    ("unknown tenant", {"tenant": "nope"}, 400, "invalid_request", 90002),
    ("other grant", {"grant_type": "password"}, 400, "unsupported_grant_type", 70003),
    ("no .default", {"scope": "https://graph.microsoft.com/AuditLog.Read.All"}, 400,
     "invalid_scope", 1002012),
    ("two resources", {"scope": "https://a.example/.default https://b.example/.default"},
     400, "invalid_scope", 1002012),
    ("assertion not a JWT", {"client_secret": None, "client_assertion": "not-a-jwt"}, 400,
     "invalid_request", 50027),
    ("assertion of another app", {"client_secret": None, "client_assertion": jwt(
        {"alg": "RS256"}, {"iss": "c2", "sub": "c2"})}, 401, "invalid_client", 700021),
    ("assertion expired", {"client_secret": None, "client_assertion": jwt(
        {"alg": "RS256"}, {"iss": "c1", "sub": "c1", "exp": EXPIRED})}, 401,
     "invalid_client", 700024),
]


@pytest.mark.parametrize("name, form, status, error, code", REFUSALS,
                         ids=[r[0] for r in REFUSALS])
def test_token_endpoint_refuses_what_entra_refuses(fake, name, form, status, error, code):
    form = dict(form)
    resp = post_token(fake, form.pop("tenant", "t1"), **form)
    body = resp.json()
    assert (resp.status_code, body["error"], body["error_codes"]) == (status, error, [code])
    assert body["error_description"].startswith("AADSTS%d: " % code)
    assert "Correlation ID: " in body["error_description"]
    assert fake.token_requests()[-1].status == status


def test_an_unverified_assertion_of_the_app_gets_a_token(fake):
    resp = post_token(fake, client_secret=None, client_assertion=jwt(
        {"alg": "RS256"}, {"iss": "c1", "sub": "c1", "exp": time.time() + 600}))
    body = resp.json()
    assert (resp.status_code, body["token_type"], body["expires_in"]) == (200, "Bearer", 3599)


def _rsa_client_cert():
    # RSA: trustme's default before 1.0, to be asked for since (Entra wants RS256).
    rsa = {"key_type": trustme.KeyType.RSA} if hasattr(trustme, "KeyType") else {}
    leaf = trustme.CA(**rsa).issue_cert("client.example", **rsa)
    cert_pem = leaf.cert_chain_pems[0].bytes()
    thumb = hashlib.sha1(ssl.PEM_cert_to_DER_cert(cert_pem.decode())).hexdigest()
    return leaf.private_key_pem.bytes().decode(), cert_pem.decode(), thumb


def test_msal_certificate_must_be_the_registered_one(monkeypatch):
    key, cert, thumb = _rsa_client_cert()
    other_key, _, other_thumb = _rsa_client_cert()
    with FakeMicrosoft(records=FIVE, client_certificate=cert) as fake:
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", fake.ca_bundle)

        def acquire(private_key, thumbprint):
            app = msal.ConfidentialClientApplication(
                "c1", client_credential={"private_key": private_key, "thumbprint": thumbprint},
                authority=fake.authority_host + "/t1", instance_discovery=False)
            return app.acquire_token_for_client([fake.scope])

        good = acquire(key, thumb)
        assert ids(get_signins(fake, good["access_token"], {"$filter": window_filter()})) == [
            "id-04", "id-03", "id-02", "id-01", "id-00"]
        bad = acquire(other_key, other_thumb)
        assert (bad["error"], bad["error_codes"]) == ("invalid_client", [700027])


# --------------------------------------------------------------------------
# Graph: tokens, paging, $filter
# --------------------------------------------------------------------------

def test_graph_checks_tokens_as_graph_does(fake):
    def refusal(resp):
        error = resp.json()["error"]
        return resp.status_code, error["code"], error["message"]

    empty = requests.get(fake.signins_url, verify=fake.ca_bundle, timeout=5)
    assert refusal(empty) == (401, "InvalidAuthenticationToken", "Access token is empty.")
    assert refusal(get_signins(fake, "made-up"))[0] == 401
    wrong = get_signins(fake, token(fake, fake.log_analytics_scope))
    assert refusal(wrong) == (401, "InvalidAuthenticationToken",
                              "Access token validation failure. Invalid audience.")
    assert ids(get_signins(fake, token(fake, "https://graph.microsoft.com/.default"))) == []
    access = token(fake)
    assert get_signins(fake, access).status_code == 200
    fake.expire_tokens()
    assert refusal(get_signins(fake, access)) == (
        401, "InvalidAuthenticationToken", "Lifetime validation failed, the token is expired.")


def test_paging_returns_every_record_once_newest_first(fake):
    access = token(fake)
    resp = get_signins(fake, access, {"$top": 2, "$filter": window_filter()})
    seen, links = [], []
    while True:
        body = resp.json()
        assert body["@odata.context"] == fake.graph_url + "/beta/$metadata#auditLogs/signIns"
        seen += ids(resp)
        link = body.get("@odata.nextLink")
        if not link:
            break
        links.append(link)
        resp = get_signins(fake, access, url=link)   # followed unchanged
    assert seen == ["id-04", "id-03", "id-02", "id-01", "id-00"]
    assert len(links) == 2
    assert all(link.startswith(fake.signins_url + "?") and "$skiptoken=" in link
               for link in links)
    logged = fake.graph_requests()
    assert [(e.status, e.params["$top"], e.params["$filter"]) for e in logged] == [
        (200, "2", window_filter())] * 3


def test_page_size_makes_pages_smaller_than_top():
    with FakeMicrosoft(records=FIVE, page_size=3) as fake:
        page = get_signins(fake, token(fake), {"$top": 1000, "$filter": window_filter()})
        assert ids(page) == ["id-04", "id-03", "id-02"]
        assert ids(get_signins(fake, token(fake), url=page.json()["@odata.nextLink"])) == [
            "id-01", "id-00"]


def test_time_bounds_and_event_types_select_as_graph_does(fake):
    fake.add_records([signin(10, 5, types=["interactiveUser"]),
                      signin(11, 6, types=["servicePrincipal"]),
                      signin(12, 7, types=["managedIdentity"])])
    access = token(fake)

    def q(flt):
        return ids(get_signins(fake, access, {"$filter": flt}))

    # ge inclusive, lt exclusive
    assert q(window_filter("2026-11-20T08:01:00Z", "2026-11-20T08:03:00Z")) == ["id-02", "id-01"]
    # fractions, offsets, parentheses, clause order
    assert q("(%s) and (createdDateTime gt 2026-11-20T08:01:00.0000000Z) and "
             "(createdDateTime le 2026-11-20T09:03:00+01:00)" % NONINTERACTIVE_TYPES) == [
        "id-03", "id-02"]
    assert q("createdDateTime ge 2026-11-20T08:03:59.5Z and %s" % NONINTERACTIVE_TYPES) == [
        "id-11", "id-04"]
    start = "createdDateTime ge 2026-11-20T08:00:00Z"
    assert q(window_filter()) == ["id-11", "id-04", "id-03", "id-02", "id-01", "id-00"]
    assert q(start + " and signInEventTypes/any(t: t eq 'managedIdentity')") == ["id-12"]
    # the beta API: without a signInEventTypes clause, interactive sign-ins only
    assert q(start) == ["id-10"]
    assert ids(get_signins(fake, access)) == ["id-10"]


@pytest.mark.parametrize("params, message", [
    ({"$filter": "createdDateTime ge and"},
     "Invalid filter clause: Syntax error at position 19 in 'createdDateTime ge and'."),
    ({"$filter": "createdDateTime ~ 5"}, "Syntax error at position 16 in 'createdDateTime ~ 5'."),
    ({"$select": "id"}, "Query option 'Select' is not allowed. To allow it, set the "
     "'AllowedQueryOptions' property on EnableQueryAttribute or QueryValidationSettings."),
    ({"$top": "1001"}, "Invalid page size specified: '1001'. Must be between 1 and 1000 "
     "inclusive."),
    ({"$orderby": "userPrincipalName"}, "OrderBy not supported on 'userPrincipalName'."),
    ({"$skiptoken": "garbage!"}, "The $skiptoken is invalid."),
])
def test_bad_queries_are_400_bad_request(fake, params, message):
    resp = get_signins(fake, token(fake), params)
    error = resp.json()["error"]
    assert (resp.status_code, error["code"], error["message"]) == (400, "BadRequest", message)


def test_odata_filter_evaluates_like_graph():
    rec = signin(1, 2, status={"errorCode": 50126})
    assert ODataFilter(window_filter()).matches(rec) is True
    assert ODataFilter("not (%s)" % NONINTERACTIVE_TYPES).matches(rec) is False
    assert ODataFilter("Status/ErrorCode eq 50126 and isInteractive eq false").matches(rec) is True
    assert ODataFilter("userPrincipalName eq 'USER1@EXAMPLE.COM'").matches(rec) is True
    assert ODataFilter("signInEventTypes/all(t: t eq 'servicePrincipal')").matches(rec) is False
    assert ODataFilter("createdDateTime lt 2026-11-20T09:02:00+01:00").matches(rec) is False
    assert ODataFilter("signInEventTypes/any()").mentions_event_types is True
    assert ODataFilter("createdDateTime ge 2026-11-20T08:00:00Z").mentions_event_types is False
    for text in ("", "startswith(userPrincipalName, 'user')", "id eq"):
        with pytest.raises(FilterError):
            ODataFilter(text)


# --------------------------------------------------------------------------
# Graph: throttling and faults
# --------------------------------------------------------------------------

def test_throttle_sixth_request_in_window_gets_429():
    with FakeMicrosoft(records=FIVE, throttle_limit=5, throttle_window=1.5) as fake:
        access = token(fake)
        statuses = [get_signins(fake, access).status_code for _ in range(5)]
        sixth = get_signins(fake, access)
        assert statuses == [200] * 5
        assert (sixth.status_code, sixth.json()["error"]["code"]) == (429, "TooManyRequests")
        retry_after = int(sixth.headers["Retry-After"])
        assert 1 <= retry_after <= 2
        assert fake.count(429) == 1
        time.sleep(retry_after)
        assert get_signins(fake, access).status_code == 200


@pytest.mark.parametrize("name, params, status, code, retry_after", [
    ("licence", {}, 403, "Authentication_RequestFromNonPremiumTenantOrB2CTenant", None),
    ("permission", {}, 403, "Authorization_RequestDenied", None),
    ("unauthorized", {}, 401, "InvalidAuthenticationToken", None),
    ("server_error", {}, 500, "InternalServerError", None),
    ("server_error", {"status": 502}, 502, "BadGateway", None),
    ("server_error", {"status": 503, "retry_after": 7}, 503, "ServiceNotAvailable", "7"),
    ("server_error", {"status": 504}, 504, "GatewayTimeout", None),
    ("throttle", {}, 429, "TooManyRequests", "2"),
    ("throttle", {"retry_after": None}, 429, "TooManyRequests", None),
])
def test_error_faults_answer_as_graph(fake, name, params, status, code, retry_after):
    access = token(fake)
    fake.set_fault(name, count=1, **params)
    resp = get_signins(fake, access)
    assert (resp.status_code, resp.json()["error"]["code"]) == (status, code)
    assert resp.headers.get("Retry-After") == retry_after
    assert get_signins(fake, access).status_code == 200   # count=1: then normal again


def test_fault_counts_order_and_after(fake):
    access = token(fake)

    def statuses(n):
        return [get_signins(fake, access).status_code for _ in range(n)]

    fake.set_fault("licence")
    assert statuses(3) == [403] * 3
    fake.clear_faults()
    fake.set_fault("server_error", count=2, status=503)
    fake.set_fault("permission", count=1)
    assert statuses(4) == [503, 503, 403, 200]   # first set, first served
    fake.set_fault("throttle", count=1, after=2)
    assert fake.faults.active() == {"throttle": {"count": 1, "after": 2}}
    assert statuses(4) == [200, 200, 429, 200]
    assert fake.faults.active() == {}   # tests/test_store_faults.py: "all faults met"
    fake.set_fault("unauthorized", count=1, revoke=True)
    assert statuses(2) == [401, 401]   # the revoked token stays invalid
    with pytest.raises(ValueError):
        fake.set_fault("meteor")


def test_reset_truncate_and_slow_faults(fake):
    access = token(fake)
    fake.set_fault("reset", count=1)
    with pytest.raises(requests.exceptions.ConnectionError):
        get_signins(fake, access)
    assert fake.graph_requests()[-1].status is None

    fake.set_fault("truncate", count=1)
    conn = http.client.HTTPSConnection(
        "127.0.0.1", fake.port, timeout=5,
        context=ssl.create_default_context(cafile=fake.ca_bundle))
    conn.request("GET", "/beta/auditLogs/signIns", headers={"Authorization": "Bearer " + access})
    resp = conn.getresponse()
    length = int(resp.getheader("Content-Length"))
    with pytest.raises(http.client.IncompleteRead) as info:
        resp.read()
    conn.close()
    assert (resp.status, len(info.value.partial)) == (200, length // 2)

    fake.set_fault("slow", count=1, seconds=1.0)
    started = time.monotonic()
    with pytest.raises(requests.exceptions.ReadTimeout):
        get_signins(fake, access, timeout=0.3)
    assert time.monotonic() - started < 0.9
    time.sleep(0.8)   # let the slow answer finish
    assert get_signins(fake, access).status_code == 200


# --------------------------------------------------------------------------
# Proxy and subprocess mode
# --------------------------------------------------------------------------

def test_proxy_demands_its_credentials_and_tunnels_to_loopback_only(fake):
    proxy = "http://%s@127.0.0.1:%d" % ("%s", fake.proxy_port)
    for credentials in ("proxyuser:wrong", None):
        url = proxy % credentials if credentials else "http://127.0.0.1:%d" % fake.proxy_port
        with pytest.raises(requests.exceptions.ProxyError, match="407"):
            get_signins(fake, "x", proxies={"https": url})
    assert fake.requests() == []   # nothing reached the fake itself
    resp = get_signins(fake, token(fake), proxies={"https": proxy % "proxyuser:proxypass"})
    assert resp.status_code == 200
    with socket.create_connection(("127.0.0.1", fake.proxy_port), timeout=5) as sock:
        auth = base64.b64encode(b"proxyuser:proxypass").decode()
        sock.sendall(("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n"
                      "Proxy-Authorization: Basic %s\r\n\r\n" % auth).encode())
        assert sock.recv(100).startswith(b"HTTP/1.1 403 ")
    assert [(e["target"], e["status"]) for e in fake.proxy_requests()] == [
        ("127.0.0.1:%d" % fake.port, 407), ("127.0.0.1:%d" % fake.port, 407),
        ("127.0.0.1:%d" % fake.port, 200), ("example.com:443", 403)]
    assert [e.kind for e in fake.requests()] == ["token", "graph"]


def test_subprocess_mode(tmp_path):
    records = tmp_path / "records.jsonl"
    records.write_text("\n".join(json.dumps(r) for r in FIVE))
    config = tmp_path / "cfg.json"
    config.write_text(json.dumps({"tenant": "t9", "client_id": "c9", "client_secret": "pw",
                                  "records_file": str(records), "throttle_limit": 2,
                                  "workdir": str(tmp_path / "work")}))
    ready = tmp_path / "ready.json"
    # As tests/test_icinga2.py and benchmarks/peer.py start it: the package directory.
    proc = subprocess.Popen([sys.executable, str(HERE / "fake_microsoft"),
                             "--config", str(config), "--ready-file", str(ready)])
    try:
        deadline = time.monotonic() + 15
        while not ready.exists():
            assert proc.poll() is None, "fake exited early"
            assert time.monotonic() < deadline, "no ready file"
            time.sleep(0.05)
        info = json.loads(ready.read_text())
        host = info["authority_host"]
        assert info == {"authority_host": host, "graph_url": host,
                        "ca_bundle": str(tmp_path / "work" / "fake-microsoft-ca.pem"),
                        "proxy_port": info["proxy_port"],
                        "management_url": host + "/management",
                        "log_analytics_url": host + "/loganalytics",
                        "control_url": host + "/_fake"}
        app = msal.ConfidentialClientApplication(
            "c9", client_credential="pw", authority=host + "/t9",
            instance_discovery=False, verify=info["ca_bundle"])
        access = app.acquire_token_for_client([host + "/.default"])["access_token"]

        def get():
            return requests.get(host + "/beta/auditLogs/signIns",
                                params={"$filter": window_filter()},
                                headers={"Authorization": "Bearer " + access},
                                verify=info["ca_bundle"], timeout=5)

        assert ids(get()) == ["id-04", "id-03", "id-02", "id-01", "id-00"]
        assert [get().status_code for _ in range(2)] == [200, 429]
        control = FakeControl(info)
        control.reset_throttle()
        assert get().status_code == 200
        assert [(e["status"], e["params"]["$filter"]) for e in control.graph_requests()] == [
            (200, window_filter()), (200, window_filter()), (429, window_filter()),
            (200, window_filter())]
        assert [e["kind"] for e in control.log("token")] == ["token"]
        assert control.state() == {"proxy_requests": []}
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
