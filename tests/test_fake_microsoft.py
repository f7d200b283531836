"""Tests for the local fake of Entra login + Microsoft Graph (fake_microsoft.py).

They use real MSAL and real requests over real TLS against the fake, so
they also pin down how those libraries must be configured to reach it.
"""

import base64
import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import msal
import pytest
import requests
import trustme

from fake_microsoft import (FakeControl, FakeMicrosoft, FilterError, ODataFilter,
                            load_records, parse_datetime)

HERE = Path(__file__).resolve().parent
NONINTERACTIVE = ("signInEventTypes/any(t: t eq 'nonInteractiveUser' "
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


@pytest.fixture(autouse=True)
def hermetic_env(monkeypatch):
    # requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE and *_PROXY from the
    # environment override a Session's verify/proxies (and so MSAL's verify=
    # and proxies=): keep the host's settings out of these tests.
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "HTTPS_PROXY", "https_proxy",
                 "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy", "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def fake(monkeypatch):
    with FakeMicrosoft(records=FIVE, tenant="t1", client_id="c1", client_secret="s3cr3t",
                       throttle_limit=100, throttle_window=10.0) as f:
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", f.ca_bundle)
        yield f


def msal_app(fake, credential=None, client_id=None, authority=None, **kwargs):
    """MSAL configured the way the module docstring says."""
    options = fake.msal_kwargs()
    if authority:
        options["authority"] = authority
    options.update(kwargs)
    return msal.ConfidentialClientApplication(
        client_id or fake.client_id,
        client_credential=fake.client_secret if credential is None else credential,
        **options)


def token(fake, client_id=None, secret=None):
    resp = requests.post(
        "%s/%s/oauth2/v2.0/token" % (fake.authority_host, fake.tenant),
        data={"grant_type": "client_credentials", "client_id": client_id or fake.client_id,
              "client_secret": secret or fake.client_secret, "scope": fake.scope},
        verify=fake.ca_bundle, timeout=5)
    assert resp.status_code == 200, resp.text
    return resp.json()["access_token"]


def get_signins(fake, access_token, params=None, url=None, **kwargs):
    kwargs.setdefault("timeout", 5)
    return requests.get(url or fake.signins_url, params=params,
                        headers={"Authorization": "Bearer " + access_token},
                        verify=fake.ca_bundle, **kwargs)


def window_filter(start="2026-11-20T08:00:00Z", end="2026-11-20T09:00:00Z"):
    return "createdDateTime ge %s and createdDateTime lt %s and %s" % (start, end, NONINTERACTIVE)


def ids(resp):
    assert resp.status_code == 200, resp.text
    return [r["id"] for r in resp.json()["value"]]


# --------------------------------------------------------------------------
# Login: discovery and tokens
# --------------------------------------------------------------------------

def test_discovery_document_points_back_at_the_fake(fake):
    resp = requests.get(fake.authority + "/v2.0/.well-known/openid-configuration",
                        verify=fake.ca_bundle, timeout=5)
    assert resp.status_code == 200
    doc = resp.json()
    assert doc["token_endpoint"] == fake.authority + "/oauth2/v2.0/token"
    assert doc["authorization_endpoint"] == fake.authority + "/oauth2/v2.0/authorize"
    assert doc["issuer"] == fake.authority + "/v2.0"
    # the certificate is valid for localhost too
    assert requests.get(fake.authority.replace("127.0.0.1", "localhost")
                        + "/v2.0/.well-known/openid-configuration",
                        verify=fake.ca_bundle, timeout=5).status_code == 200


def test_unknown_tenant_discovery_is_400_invalid_tenant(fake):
    resp = requests.get(fake.authority_host + "/nope/v2.0/.well-known/openid-configuration",
                        verify=fake.ca_bundle, timeout=5)
    assert resp.status_code == 400
    body = resp.json()
    assert body["error"] == "invalid_tenant"
    assert body["error_description"].startswith("AADSTS90002: Tenant 'nope' not found.")
    assert body["error_codes"] == [90002]


def test_instance_discovery_endpoint(fake):
    resp = requests.get(fake.authority_host + "/common/discovery/instance",
                        params={"api-version": "1.1", "authorization_endpoint":
                                fake.authority + "/oauth2/v2.0/authorize"},
                        verify=fake.ca_bundle, timeout=5)
    assert resp.json()["tenant_discovery_endpoint"] == (
        fake.authority + "/v2.0/.well-known/openid-configuration")


def test_msal_gets_a_token_with_the_secret_and_it_works_on_graph(fake):
    result = msal_app(fake).acquire_token_for_client([fake.scope])
    assert "access_token" in result, result
    assert result["token_type"] == "Bearer"
    assert result["expires_in"] == 3599
    assert [e.kind for e in fake.requests()] == ["discovery", "token"]
    entry = fake.token_requests()[0]
    assert (entry.tenant, entry.client_id, entry.status) == ("t1", "c1", 200)
    assert ids(get_signins(fake, result["access_token"], {"$filter": window_filter()}))


def test_msal_validate_authority_false_also_works(fake):
    app = msal.ConfidentialClientApplication(
        fake.client_id, client_credential=fake.client_secret, authority=fake.authority,
        validate_authority=False)   # CA bundle from REQUESTS_CA_BUNDLE
    assert "access_token" in app.acquire_token_for_client([fake.scope])


def test_msal_wrong_secret(fake):
    result = msal_app(fake, credential="wrong").acquire_token_for_client([fake.scope])
    assert result["error"] == "invalid_client"
    assert result["error_description"].startswith("AADSTS7000215: Invalid client secret provided.")
    assert result["error_codes"] == [7000215]
    for key in ("timestamp", "trace_id", "correlation_id"):
        assert result[key]
    assert fake.token_requests()[-1].status == 401


def test_msal_unknown_client(fake):
    result = msal_app(fake, client_id="who").acquire_token_for_client([fake.scope])
    assert result["error"] == "unauthorized_client"
    assert result["error_description"].startswith(
        "AADSTS700016: Application with identifier 'who' was not found in the directory 't1'.")
    assert result["error_codes"] == [700016]
    assert fake.token_requests()[-1].status == 400


def test_msal_unknown_tenant_fails_in_the_constructor(fake):
    # As with Entra: OIDC discovery already fails and MSAL raises ValueError;
    # the AADSTS text is only in the chained exception.
    with pytest.raises(ValueError, match="Unable to get authority configuration") as info:
        msal_app(fake, authority=fake.authority_host + "/nope")
    assert "AADSTS90002" in str(info.value.__context__)


def test_msal_unknown_tenant_at_the_token_endpoint(monkeypatch):
    with FakeMicrosoft(discovery_any_tenant=True) as fake:
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", fake.ca_bundle)
        app = msal_app(fake, authority=fake.authority_host + "/nope")
        result = app.acquire_token_for_client([fake.scope])
    assert result["error"] == "invalid_request"
    assert result["error_description"].startswith("AADSTS90002: Tenant 'nope' not found.")
    assert result["error_codes"] == [90002]


def test_scope_without_default_suffix_is_rejected(fake):
    result = msal_app(fake).acquire_token_for_client([fake.graph_url + "/AuditLog.Read.All"])
    assert result["error"] == "invalid_scope"
    assert result["error_codes"] == [1002012]


def _rsa_client_cert():
    # RSA: trustme's default before 1.0, to be asked for since (Entra wants RS256).
    rsa = {"key_type": trustme.KeyType.RSA} if hasattr(trustme, "KeyType") else {}
    leaf = trustme.CA(**rsa).issue_cert("client.example", **rsa)
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    cert_pem = leaf.cert_chain_pems[0].bytes()
    thumb = x509.load_pem_x509_certificate(cert_pem).fingerprint(hashes.SHA1()).hex()
    return leaf.private_key_pem.bytes().decode(), cert_pem.decode(), thumb


def test_msal_certificate_assertion(monkeypatch):
    key, cert, thumb = _rsa_client_cert()
    other_key, _, other_thumb = _rsa_client_cert()
    with FakeMicrosoft(records=FIVE, client_certificate=cert) as fake:
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", fake.ca_bundle)
        good = msal_app(fake, credential={"private_key": key, "thumbprint": thumb})
        result = good.acquire_token_for_client([fake.scope])
        assert "access_token" in result, result
        assert ids(get_signins(fake, result["access_token"], {"$filter": window_filter()}))

        bad = msal_app(fake, credential={"private_key": other_key, "thumbprint": other_thumb})
        result = bad.acquire_token_for_client([fake.scope])
        assert result["error"] == "invalid_client"
        assert result["error_codes"] == [700027]


def test_assertion_is_decoded_not_verified(fake):
    def jwt(claims):
        enc = lambda d: base64.urlsafe_b64encode(json.dumps(d).encode()).decode().rstrip("=")
        return "%s.%s.%s" % (enc({"alg": "RS256", "typ": "JWT"}), enc(claims), "c2ln")

    def post(assertion):
        return requests.post(fake.authority + "/oauth2/v2.0/token", data={
            "grant_type": "client_credentials", "client_id": "c1", "scope": fake.scope,
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": assertion}, verify=fake.ca_bundle, timeout=5)

    assert post(jwt({"iss": "c1", "sub": "c1", "exp": time.time() + 600})).status_code == 200
    mismatch = post(jwt({"iss": "c2", "sub": "c2"}))
    assert (mismatch.status_code, mismatch.json()["error_codes"]) == (401, [700021])
    garbage = post("not-a-jwt")
    assert (garbage.status_code, garbage.json()["error_codes"]) == (400, [50027])


# --------------------------------------------------------------------------
# Graph: authentication, paging, filters
# --------------------------------------------------------------------------

def test_graph_without_token_is_401(fake):
    resp = requests.get(fake.signins_url, params={"$filter": window_filter()},
                        verify=fake.ca_bundle, timeout=5)
    assert resp.status_code == 401
    assert resp.json()["error"]["code"] == "InvalidAuthenticationToken"
    assert "request-id" in resp.json()["error"]["innerError"]
    bogus = get_signins(fake, "made-up", {"$filter": window_filter()})
    assert bogus.status_code == 401
    assert fake.count(401) == 2
    assert all(e.counted_against is None for e in fake.graph_requests())


def test_graph_rejects_expired_and_wrong_audience_tokens(fake):
    access = token(fake)
    fake.expire_tokens()
    assert "expired" in get_signins(fake, access).json()["error"]["message"]
    resp = requests.post(fake.authority + "/oauth2/v2.0/token", data={
        "grant_type": "client_credentials", "client_id": "c1", "client_secret": "s3cr3t",
        "scope": "https://api.loganalytics.io/.default"}, verify=fake.ca_bundle, timeout=5)
    wrong = get_signins(fake, resp.json()["access_token"])
    assert wrong.status_code == 401 and "audience" in wrong.json()["error"]["message"]


def test_paging_returns_every_record_once_newest_first(fake):
    access = token(fake)
    resp = get_signins(fake, access, {"$top": 2, "$filter": window_filter()})
    seen, pages = [], 0
    while True:
        body = resp.json()
        assert body["@odata.context"].endswith("/beta/$metadata#auditLogs/signIns")
        seen += ids(resp)
        pages += 1
        link = body.get("@odata.nextLink")
        if not link:
            break
        assert link.startswith(fake.signins_url + "?") and "$skiptoken=" in link
        resp = get_signins(fake, access, url=link)   # followed unchanged
    assert pages == 3
    assert seen == ["id-04", "id-03", "id-02", "id-01", "id-00"]
    assert [int(e.params["$top"]) for e in fake.graph_requests()] == [2, 2, 2]


def test_ties_are_ordered_by_id_and_orderby_asc_is_supported(fake):
    fake.clear_records()
    fake.add_records([signin(3, 1), signin(1, 1), signin(2, 0)])
    access = token(fake)
    assert ids(get_signins(fake, access, {"$filter": window_filter()})) == [
        "id-01", "id-03", "id-02"]
    assert ids(get_signins(fake, access, {"$filter": window_filter(),
                                          "$orderby": "createdDateTime asc"})) == [
        "id-02", "id-01", "id-03"]


def test_time_filter_variants(fake):
    access = token(fake)

    def q(flt):
        return ids(get_signins(fake, access, {"$filter": flt}))

    # ge/lt window: 08:01 inclusive, 08:03 exclusive
    assert q(window_filter("2026-11-20T08:01:00Z", "2026-11-20T08:03:00Z")) == ["id-02", "id-01"]
    # gt/le, fractional seconds, offsets, parentheses and clause order
    assert q("(%s) and (createdDateTime gt 2026-11-20T08:01:00.0000000Z) and "
             "(createdDateTime le 2026-11-20T09:03:00+01:00)" % NONINTERACTIVE) == [
        "id-03", "id-02"]
    assert q("createdDateTime ge 2026-11-20T08:03:59.5Z and %s" % NONINTERACTIVE) == ["id-04"]


def test_event_type_filter(fake):
    fake.add_records([signin(10, 5, types=["interactiveUser"]),
                      signin(11, 6, types=["servicePrincipal"]),
                      signin(12, 7, types=["managedIdentity"])])
    access = token(fake)

    def q(flt):
        return set(ids(get_signins(fake, access, {"$filter": flt})))

    start = "createdDateTime ge 2026-11-20T08:00:00Z"
    assert q(window_filter()) == {"id-00", "id-01", "id-02", "id-03", "id-04", "id-11"}
    assert q(start + " and signInEventTypes/any(t: t eq 'managedIdentity')") == {"id-12"}
    # like the beta API: without signInEventTypes only interactive sign-ins
    assert q(start) == {"id-10"}
    assert ids(get_signins(fake, access)) == ["id-10"]
    # other properties and string functions work too
    assert q(start + " and %s and userPrincipalName eq 'USER3@example.com'"
             % NONINTERACTIVE) == {"id-03"}
    assert q(start + " and %s and startswith(userPrincipalName, 'user1')"
             % NONINTERACTIVE) == {"id-01", "id-11"}


@pytest.mark.parametrize("params, needle", [
    ({"$filter": "createdDateTime ge and"}, "Invalid filter clause"),
    ({"$filter": "createdDateTime ge 2026-11-20T08:00:00Z and (signInEventTypes"},
     "Invalid filter clause"),
    ({"$filter": "createdDateTime ~ 5"}, "Syntax error"),
    ({"$select": "id"}, "Query option 'Select' is not allowed"),
    ({"$top": "1001"}, "Invalid page size"),
    ({"$skiptoken": "garbage!"}, "skiptoken"),
])
def test_bad_queries_are_400(fake, params, needle):
    resp = get_signins(fake, token(fake), params)
    assert resp.status_code == 400
    assert resp.json()["error"]["code"] == "BadRequest"
    assert needle in resp.json()["error"]["message"]


def test_odata_filter_unit():
    rec = signin(1, 2)
    assert ODataFilter(window_filter()).matches(rec)
    assert not ODataFilter("not (%s)" % NONINTERACTIVE).matches(rec)
    assert ODataFilter("status/errorCode eq 0 and isInteractive eq false").matches(rec)
    assert ODataFilter("signInEventTypes/any()").mentions_event_types
    with pytest.raises(FilterError):
        ODataFilter("")
    assert parse_datetime("2026-11-20T08:00:00.1234567Z").microsecond == 123456


# --------------------------------------------------------------------------
# Throttling and latency
# --------------------------------------------------------------------------

def test_throttle_sixth_request_in_window_gets_429(monkeypatch):
    with FakeMicrosoft(records=FIVE, extra_clients={"c2": "other"},
                       throttle_limit=5, throttle_window=1.5) as fake:
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", fake.ca_bundle)
        access = token(fake)
        statuses = [get_signins(fake, access).status_code for _ in range(5)]
        sixth = get_signins(fake, access)
        assert statuses == [200] * 5
        assert sixth.status_code == 429
        assert sixth.json()["error"]["code"] == "TooManyRequests"
        retry_after = int(sixth.headers["Retry-After"])
        assert 1 <= retry_after <= 2
        assert fake.count(429) == 1 and fake.throttled == 1
        assert fake.graph_requests()[-1].counted_against is None
        assert fake.graph_requests()[0].counted_against == ("t1", "c1")
        # another app in the same tenant has its own budget
        assert get_signins(fake, token(fake, "c2", "other")).status_code == 200
        time.sleep(retry_after)
        assert get_signins(fake, access).status_code == 200


def test_page_delay_does_not_block_other_requests(monkeypatch):
    with FakeMicrosoft(records=FIVE, page_delay=1.0, throttle_limit=100) as fake:
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", fake.ca_bundle)
        access = token(fake)
        results = []
        started = time.monotonic()
        threads = [threading.Thread(target=lambda: results.append(
            get_signins(fake, access).status_code)) for _ in range(4)]
        for t in threads:
            t.start()
        time.sleep(0.2)
        # the login side answers at once while pages are "slow"
        quick = time.monotonic()
        requests.get(fake.authority + "/v2.0/.well-known/openid-configuration",
                     verify=fake.ca_bundle, timeout=5)
        assert time.monotonic() - quick < 0.5
        for t in threads:
            t.join()
        elapsed = time.monotonic() - started
        assert results == [200] * 4
        assert 1.0 <= elapsed < 1.9
        fake.page_delay = 0
        started = time.monotonic()
        get_signins(fake, access)
        assert time.monotonic() - started < 0.5


# --------------------------------------------------------------------------
# Faults
# --------------------------------------------------------------------------

@pytest.mark.parametrize("name, params, status, code, retry_after", [
    ("licence", {}, 403, "Authentication_RequestFromNonPremiumTenantOrB2CTenant", None),
    ("permission", {}, 403, "Authorization_RequestDenied", None),
    ("unauthorized", {}, 401, "InvalidAuthenticationToken", None),
    ("server_error", {}, 500, "InternalServerError", None),
    ("server_error", {"status": 503, "retry_after": 7}, 503, "ServiceNotAvailable", "7"),
    ("throttle", {"retry_after": 3}, 429, "TooManyRequests", "3"),
])
def test_error_faults(fake, name, params, status, code, retry_after):
    access = token(fake)
    fake.set_fault(name, count=1, **params)
    resp = get_signins(fake, access)
    assert resp.status_code == status
    assert resp.json()["error"]["code"] == code
    assert resp.headers.get("Retry-After") == retry_after
    if name == "permission":
        assert resp.json()["error"]["message"] == "Insufficient privileges to complete the operation."
    assert fake.graph_requests()[-1].fault == name
    # count=1: the next request is normal again
    assert get_signins(fake, access).status_code == 200


def test_permanent_fault_until_cleared_and_counts(fake):
    access = token(fake)
    fake.set_fault("licence")
    assert [get_signins(fake, access).status_code for _ in range(3)] == [403] * 3
    fake.clear_faults()
    assert get_signins(fake, access).status_code == 200
    fake.set_fault("server_error", count=2, status=503)
    fake.set_fault("permission", count=1)
    # first set, first served
    assert [get_signins(fake, access).status_code for _ in range(4)] == [503, 503, 403, 200]
    with pytest.raises(ValueError):
        fake.set_fault("meteor")


def test_throttle_fault_without_retry_after(fake):
    access = token(fake)
    fake.set_fault("throttle", count=1, retry_after=None)
    resp = get_signins(fake, access)
    assert resp.status_code == 429 and "Retry-After" not in resp.headers
    assert fake.count(429) == 1


def test_reset_fault_closes_without_answer(fake):
    access = token(fake)
    fake.set_fault("reset", count=1)
    with pytest.raises(requests.exceptions.ConnectionError):
        get_signins(fake, access)
    assert fake.graph_requests()[-1].status is None
    assert get_signins(fake, access).status_code == 200


def test_truncate_fault_sends_half_a_body(fake):
    access = token(fake)
    fake.set_fault("truncate", count=1)
    # urllib3 2 raises on a body shorter than its Content-Length; urllib3 1.26 (Debian 12)
    # hands the short body over: then it must not be whole JSON.
    try:
        resp = get_signins(fake, access, {"$filter": window_filter()})
    except (requests.exceptions.ChunkedEncodingError, requests.exceptions.ConnectionError):
        pass
    else:
        assert len(resp.content) < int(resp.headers["Content-Length"])
        with pytest.raises(ValueError):
            json.loads(resp.content)
    # the raw bytes really are half a JSON document
    import http.client
    import ssl
    fake.set_fault("truncate", count=1)
    conn = http.client.HTTPSConnection(
        "127.0.0.1", fake.port, timeout=5,
        context=ssl.create_default_context(cafile=fake.ca_bundle))
    conn.request("GET", "/beta/auditLogs/signIns", headers={"Authorization": "Bearer " + access})
    resp = conn.getresponse()
    assert resp.status == 200
    length = int(resp.getheader("Content-Length"))
    with pytest.raises(http.client.IncompleteRead) as info:
        resp.read()
    assert len(info.value.partial) == length // 2
    conn.close()


def test_slow_fault_exceeds_client_timeout(fake):
    access = token(fake)
    fake.set_fault("slow", count=1, seconds=1.0)
    started = time.monotonic()
    with pytest.raises(requests.exceptions.ReadTimeout):
        get_signins(fake, access, timeout=0.3)
    assert time.monotonic() - started < 0.9
    time.sleep(0.8)   # let the slow answer finish
    assert get_signins(fake, access).status_code == 200


def test_faults_settable_at_runtime_from_another_thread(fake):
    access = token(fake)
    fake.page_delay = 0.5
    result = []
    worker = threading.Thread(target=lambda: result.append(get_signins(fake, access).status_code))
    worker.start()
    fake.set_fault("permission", count=1)  # while the first page is in flight
    worker.join()
    fake.page_delay = 0
    statuses = result + [get_signins(fake, access).status_code]
    assert sorted(statuses) == [200, 403]


# --------------------------------------------------------------------------
# Request log
# --------------------------------------------------------------------------

def test_request_log(fake):
    access = token(fake)
    get_signins(fake, access, {"$top": "3", "$filter": window_filter()})
    entry = fake.graph_requests()[-1]
    assert (entry.method, entry.path, entry.status) == ("GET", "/beta/auditLogs/signIns", 200)
    assert entry.params["$filter"] == window_filter() and "%24top=3" in entry.query
    assert entry.counted_against == ("t1", "c1") and entry.time <= time.time()
    assert fake.count() == 1 and fake.count(200) == 1 and fake.count(200, kind=None) == 2
    fake.reset_log()
    assert fake.requests() == [] and fake.count() == 0


# --------------------------------------------------------------------------
# Proxy
# --------------------------------------------------------------------------

def test_msal_and_graph_through_the_proxy(fake):
    proxies = {"https": fake.proxy_url}
    app = msal_app(fake, proxies=proxies)
    result = app.acquire_token_for_client([fake.scope])
    assert "access_token" in result, result
    tunnels_after_login = fake.proxy_tunnels
    assert tunnels_after_login >= 1
    resp = requests.get(fake.signins_url, proxies=proxies, verify=fake.ca_bundle, timeout=5,
                        headers={"Authorization": "Bearer " + result["access_token"]})
    assert resp.status_code == 200
    assert fake.proxy_tunnels == tunnels_after_login + 1
    assert {e["target"] for e in fake.proxy_requests()} == {"127.0.0.1:%d" % fake.port}
    assert [e.kind for e in fake.requests()] == ["discovery", "token", "graph"]


def test_proxy_wrong_or_missing_credentials_is_407(fake):
    for proxy in (fake.proxy_url_with("proxyuser", "wrong"), fake.proxy_url_without_credentials):
        with pytest.raises(requests.exceptions.ProxyError, match="407"):
            requests.get(fake.signins_url, proxies={"https": proxy},
                         verify=fake.ca_bundle, timeout=5)
    with pytest.raises(requests.exceptions.ProxyError):
        msal_app(fake, proxies={"https": fake.proxy_url_with("proxyuser", "wrong")})
    assert {e["status"] for e in fake.proxy_requests()} == {407}
    assert fake.proxy_tunnels == 0
    assert fake.requests() == []   # nothing reached the fake itself


# --------------------------------------------------------------------------
# Records and subprocess mode
# --------------------------------------------------------------------------

def test_load_records_shapes(tmp_path):
    (tmp_path / "list.json").write_text(json.dumps(FIVE))
    (tmp_path / "graph.json").write_text(json.dumps({"value": FIVE}))
    (tmp_path / "lines.jsonl").write_text("\n".join(json.dumps(r) for r in FIVE) + "\n")
    for name in ("list.json", "graph.json", "lines.jsonl"):
        assert load_records(tmp_path / name) == FIVE
    assert load_records({"value": FIVE}) == FIVE


def test_subprocess_mode(tmp_path):
    records = tmp_path / "records.jsonl"
    records.write_text("\n".join(json.dumps(r) for r in FIVE))
    config = tmp_path / "cfg.json"
    config.write_text(json.dumps({"tenant": "t9", "client_id": "c9", "client_secret": "pw",
                                  "records_file": str(records), "throttle_limit": 50,
                                  "faults": [{"name": "licence", "count": 1}]}))
    ready = tmp_path / "ready.json"
    proc = subprocess.Popen([sys.executable, str(HERE / "fake_microsoft.py"),
                             "--config", str(config), "--ready-file", str(ready)])
    try:
        deadline = time.monotonic() + 15
        while not ready.exists():
            assert proc.poll() is None, "fake exited early"
            assert time.monotonic() < deadline, "no ready file"
            time.sleep(0.05)
        info = json.loads(ready.read_text())
        assert info["authority"] == "https://127.0.0.1:%d/t9" % info["port"]
        assert Path(info["ca_bundle"]).exists()

        app = msal.ConfidentialClientApplication(
            "c9", client_credential="pw", authority=info["authority"],
            instance_discovery=False, verify=info["ca_bundle"])
        access = app.acquire_token_for_client([info["scope"]])["access_token"]
        url = info["graph_url"] + "/beta/auditLogs/signIns"
        get = lambda: requests.get(url, params={"$filter": window_filter()},
                                   headers={"Authorization": "Bearer " + access},
                                   verify=info["ca_bundle"], timeout=5)
        assert get().status_code == 403            # the configured fault
        assert [r["id"] for r in get().json()["value"]][:2] == ["id-04", "id-03"]

        control = FakeControl(info)
        control.set_fault("server_error", count=1, status=503, retry_after=2)
        resp = get()
        assert resp.status_code == 503 and resp.headers["Retry-After"] == "2"
        control.add_records([signin(20, 30)])
        assert get().json()["value"][0]["id"] == "id-20"
        assert control.count() == 4 and control.count(403) == 1
        assert control.graph_requests()[0]["counted_against"] == ["t9", "c9"]
        control.reset_log()
        assert control.count() == 0
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
