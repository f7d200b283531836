"""The Graph source end to end: the real console scripts, through real MSAL and requests,
against the local fake of Microsoft's endpoints (HTTPS on loopback with a test CA)."""

import json
import os
import stat
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone

import pytest

import sample
from conftest import SAMPLE, run_script
from fake_microsoft import FakeMicrosoft

SECRET = "s3cr3t-Value~with.chars_0123456789"
TENANT = "contoso-tenant"
CLIENT = "11111111-2222-3333-4444-555555555555"
SAMPLE_WINDOW = ("--start", "2026-11-20T08:00:00Z", "--end", "2026-11-20T09:00:00Z")
CHECKS = ("check_entra_signins", "check_entra_success_entities",
          "check_entra_failure_entities", "check_entra_auth_methods",
          "check_entra_conditional_access", "check_entra_threats")


@pytest.fixture(scope="module")
def sample_records():
    return json.loads(SAMPLE.read_text())


@pytest.fixture
def fake(sample_records):
    with FakeMicrosoft(records=sample_records, tenant=TENANT, client_id=CLIENT,
                       client_secret=SECRET) as server:
        yield server


def environment(fake, **extra):
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    env.update(REQUESTS_CA_BUNDLE=fake.ca_bundle, ENTRA_CLIENT_SECRET=SECRET)
    env.update(extra)
    return {k: v for k, v in env.items() if v is not None}


def use_fake(monkeypatch, fake):
    """The environment() of in-process runs (the ``run`` fixture): the fake's CA, the
    secret, no proxy from the environment."""
    for name in list(os.environ):
        if name.lower().endswith("_proxy"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", fake.ca_bundle)
    monkeypatch.setenv("ENTRA_CLIENT_SECRET", SECRET)


def graph_args(fake, state_dir, *extra, tenant=TENANT, client=CLIENT):
    return ["--tenant-id", tenant, "--client-id", client,
            "--authority-host", fake.authority_host, "--graph-url", fake.graph_url,
            "--state-dir", state_dir, *extra]


def check(name, fake, state_dir, *extra, env=None, **kwargs):
    argv = graph_args(fake, str(state_dir), *extra, **kwargs)
    return run_script(name, *argv, env=env or environment(fake))


def test_graph_gives_the_same_perfdata_as_the_file(fake, tmp_path):
    for name in CHECKS:
        live = check(name, fake, tmp_path, *SAMPLE_WINDOW, "--attempts", "3")
        offline = run_script(name, "--input", SAMPLE, *SAMPLE_WINDOW, "--attempts", "3")
        assert live.code == offline.code == 0, live.out
        assert live.first == offline.first
    # 2,466 non-interactive sign-ins in the hour: three pages, fetched once.
    assert len(fake.graph_requests()) == 3
    assert fake.count(429) == 0


def test_service_principal_event_type_through_graph(fake, tmp_path):
    args = ("--event-type", "nonInteractiveUser", "--event-type", "servicePrincipal")
    live = check("check_entra_failure_entities", fake, tmp_path, *SAMPLE_WINDOW, *args)
    offline = run_script("check_entra_failure_entities", "--input", SAMPLE, *SAMPLE_WINDOW,
                         *args)
    assert live.code == offline.code == 0
    assert live.first == offline.first
    assert live.value("failure_service_principals") == 1
    assert "t eq 'nonInteractiveUser' or t eq 'servicePrincipal'" in \
        fake.graph_requests()[0].params["$filter"]


def test_covered_window_makes_no_request_and_loads_no_http_library(fake, tmp_path):
    first = check("check_entra_signins", fake, tmp_path, *SAMPLE_WINDOW)
    assert first.code == 0
    fake.reset_log()
    code = (
        "import atexit, sys\n"
        "atexit.register(lambda: print('LOADED', sorted(m for m in ('msal', 'requests') "
        "if m in sys.modules)))\n"
        "from check_entra_noninteractive.cli import main\n"
        "main('signins', %r)\n" % (graph_args(fake, str(tmp_path), *SAMPLE_WINDOW),))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=environment(fake), timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.splitlines()[0] == first.first
    assert proc.stdout.splitlines()[-1] == "LOADED []"
    assert fake.requests() == []


def test_six_concurrent_checks_make_one_pass(fake, tmp_path):
    fake.page_delay = 0.5  # long enough for all six to start before the fetch ends
    with ThreadPoolExecutor(len(CHECKS)) as pool:
        results = list(pool.map(lambda name: check(name, fake, tmp_path, *SAMPLE_WINDOW),
                                CHECKS))
    # A string, not a list: pytest shortens the repr of a list, and with it the reason.
    assert [r.code for r in results] == [0] * 6, "\n".join(r.first for r in results)
    assert len(fake.graph_requests()) == 3
    assert len(fake.token_requests()) == 1
    assert fake.count(429) == 0


def test_token_is_cached_between_runs_in_a_private_file(fake, tmp_path):
    check("check_entra_signins", fake, tmp_path, "--start", "2026-11-20T08:00:00Z",
          "--end", "2026-11-20T08:10:00Z")
    check("check_entra_signins", fake, tmp_path, "--start", "2026-11-20T08:10:00Z",
          "--end", "2026-11-20T08:20:00Z")
    assert len(fake.token_requests()) == 1
    assert len(fake.graph_requests()) == 2
    tenant_dir = tmp_path / TENANT
    for name in ("token-cache-%s.json" % CLIENT, "graph.sqlite"):
        assert stat.S_IMODE((tenant_dir / name).stat().st_mode) == 0o600
    assert stat.S_IMODE(tenant_dir.stat().st_mode) == 0o700
    assert SECRET not in (tenant_dir / ("token-cache-%s.json" % CLIENT)).read_text()


def test_overlapping_window_fetches_only_what_is_missing(fake, tmp_path):
    check("check_entra_signins", fake, tmp_path, "--start", "2026-11-20T08:00:00Z",
          "--end", "2026-11-20T08:30:00Z")
    fake.reset_log()
    result = check("check_entra_signins", fake, tmp_path, *SAMPLE_WINDOW)
    assert result.code == 0
    filters = [r.params["$filter"] for r in fake.graph_requests()]
    assert filters and all("createdDateTime ge 2026-11-20T08:30:00Z" in f for f in filters)
    offline = run_script("check_entra_signins", "--input", SAMPLE, *SAMPLE_WINDOW)
    assert result.first == offline.first


def test_default_window_ends_delay_before_now_rounded_to_the_minute(tmp_path):
    now = datetime.now(timezone.utc)
    start = (now - timedelta(minutes=40)).strftime("%Y-%m-%dT%H:%M:%SZ")
    records = list(sample.generate(count=1500, start=start, minutes=40, seed=3))
    with FakeMicrosoft(records=records, tenant=TENANT, client_id=CLIENT,
                       client_secret=SECRET) as server:
        live = check("check_entra_signins", server, tmp_path, "--window", "15m",
                     "--delay", "10m")
        end = (datetime.now(timezone.utc) - timedelta(minutes=10)).replace(second=0,
                                                                          microsecond=0)
        path = tmp_path / "records.json"
        path.write_text(json.dumps(records))
        offline = run_script("check_entra_signins", "--input", path,
                             "--start", (end - timedelta(minutes=15)).isoformat(),
                             "--end", end.isoformat())
    assert live.code == 0, live.out
    assert live.first == offline.first
    assert live.value("total") > 0


def test_throttle_is_never_hit_on_a_long_window(tmp_path):
    """12 pages behind the real 5-per-10-s limit: paced, never answered 429."""
    records = list(sample.generate(count=12000, minutes=60, seed=11, compact=True))
    with FakeMicrosoft(records=records, tenant=TENANT, client_id=CLIENT,
                       client_secret=SECRET, page_delay=0.2) as server:
        started = time.monotonic()
        result = check("check_entra_signins", server, tmp_path, *SAMPLE_WINDOW, "-t", "50")
        elapsed = time.monotonic() - started
        assert result.code == 0, result.out
        assert server.count(429) == 0
        pages = len(server.graph_requests())
        assert 12 <= pages <= 12 + 4
        # 5 at once, then 5 per 10 s: at least one full period was waited out.
        assert elapsed >= 10
        assert result.value("total") == sum(
            1 for r in records if "servicePrincipal" not in (r.get("signInEventTypes") or []))


def test_timeout_keeps_progress_and_the_next_run_continues(tmp_path):
    records = list(sample.generate(count=6000, minutes=60, seed=5, compact=True))
    with FakeMicrosoft(records=records, tenant=TENANT, client_id=CLIENT,
                       client_secret=SECRET, page_delay=4) as server:
        # -t 10 leaves 7 s to fetch: the first page (4 s) completes, the next ones cannot.
        first = check("check_entra_signins", server, tmp_path, *SAMPLE_WINDOW, "-t", "10")
        assert first.code == 3, first.out
        assert first.first.startswith("ENTRA SIGNINS UNKNOWN - timeout: window ")
        assert "fetched (" in first.first and "the next run continues" in first.first
        assert "|" not in first.out
        assert not first.first.startswith("ENTRA SIGNINS UNKNOWN - timeout: window 0%")
        server.page_delay = 0
        second_started = time.time()
        second = check("check_entra_signins", server, tmp_path, *SAMPLE_WINDOW, "-t", "50")
        assert second.code == 0, second.out
        path = tmp_path / "records.json"
        path.write_text(json.dumps(records))
        offline = run_script("check_entra_signins", "--input", path, *SAMPLE_WINDOW)
        assert second.first == offline.first
        # Only what the first run did not finish was fetched again: the whole window is
        # 6 pages, the first of which is already in the store. (Requests the first run left
        # in flight are logged when answered: count by when they arrived.)
        arrived = [r for r in server.graph_requests() if r.time - r.duration >= second_started]
        assert len(arrived) <= 6


@pytest.mark.parametrize("fault, params", [
    ("server_error", {"status": 503, "retry_after": 1}),
    ("server_error", {"status": 500}),
    ("reset", {}),
    ("truncate", {}),
    ("throttle", {"retry_after": 1}),
])
def test_transient_faults_are_retried(fake, tmp_path, fault, params):
    fake.set_fault(fault, count=2, **params)
    result = check("check_entra_signins", fake, tmp_path, *SAMPLE_WINDOW)
    assert result.code == 0, result.out
    offline = run_script("check_entra_signins", "--input", SAMPLE, *SAMPLE_WINDOW)
    assert result.first == offline.first


ERRORS = [
    ("wrong secret", {"secret": "not-the-secret"},
     "ENTRA SIGNINS UNKNOWN - token request failed (AADSTS7000215): wrong client secret: "
     "the secret given for client ID %s is not valid; use the secret's Value (not its ID) "
     "or create a new secret" % CLIENT),
    ("unknown client", {"client": "99999999-0000-0000-0000-000000000000"},
     "ENTRA SIGNINS UNKNOWN - token request failed (AADSTS700016): unknown application: "
     "client ID 99999999-0000-0000-0000-000000000000 is not registered in tenant %s; "
     "check --client-id and --tenant-id" % TENANT),
    ("unknown tenant", {"tenant": "no-such-tenant"},
     "ENTRA SIGNINS UNKNOWN - token request failed (AADSTS90002): unknown tenant: "
     "no-such-tenant was not found; check --tenant-id (directory ID or verified domain) "
     "and --cloud"),
    ("no licence", {"fault": "licence"},
     "ENTRA SIGNINS UNKNOWN - Microsoft Graph says the tenant has no Entra ID P1/P2 licence "
     "(Authentication_RequestFromNonPremiumTenantOrB2CTenant); sign-in logs need P1 or P2. "
     "Microsoft also returns this now and then on licensed tenants: if the tenant is "
     "licensed, the next run usually succeeds"),
    ("missing permission", {"fault": "permission"},
     "ENTRA SIGNINS UNKNOWN - Microsoft Graph denied access (Authorization_RequestDenied): "
     "grant the app AuditLog.Read.All and Directory.Read.All as application permissions "
     "and give admin consent"),
    ("401", {"fault": "unauthorized"},
     "ENTRA SIGNINS UNKNOWN - Microsoft Graph refused the token (401 "),
    ("still throttled", {"fault": "throttle", "params": {"retry_after": 120}, "timeout": "8"},
     "ENTRA SIGNINS UNKNOWN - still throttled by Microsoft Graph at the timeout (throttled "
     "(429), retry in "),
    ("no CA bundle (TLS)", {"env": {"REQUESTS_CA_BUNDLE": None, "CURL_CA_BUNDLE": None}},
     "ENTRA SIGNINS UNKNOWN - TLS failure talking to 127.0.0.1: "),
    ("DNS", {"authority": "https://login.invalid"},
     "ENTRA SIGNINS UNKNOWN - cannot resolve login.invalid (DNS): check the name and this "
     "host's resolver"),
    ("connection refused", {"authority": "https://127.0.0.1:9"},
     "ENTRA SIGNINS UNKNOWN - cannot connect to 127.0.0.1: "),
    ("proxy password wrong", {"proxy": "wrong"},
     "ENTRA SIGNINS UNKNOWN - proxy authentication failed (407) while connecting to "
     "127.0.0.1: check --proxy-user and the proxy password (ENTRA_PROXY_PASSWORD or "
     "--proxy-password-file)"),
    ("no secret", {"env": {"ENTRA_CLIENT_SECRET": None}},
     "ENTRA SIGNINS UNKNOWN - no client credential: set ENTRA_CLIENT_SECRET, or give "
     "--client-secret-file, --client-certificate or --client-pfx"),
]


@pytest.mark.parametrize("name, how, first_line", ERRORS, ids=[e[0] for e in ERRORS])
def test_errors_are_one_actionable_line_without_secrets(fake, tmp_path, name, how,
                                                        first_line):
    env = environment(fake, **how.get("env", {}))
    extra = list(SAMPLE_WINDOW) + ["-t", how.get("timeout", "20")]
    if "secret" in how:
        env["ENTRA_CLIENT_SECRET"] = how["secret"]
    if "fault" in how:
        fake.set_fault(how["fault"], **how.get("params", {}))
    authority = how.get("authority", fake.authority_host)
    if "proxy" in how:
        env["ENTRA_PROXY_PASSWORD"] = how["proxy"]
        extra += ["--proxy-host", "127.0.0.1", "--proxy-port", str(fake.proxy_port),
                  "--proxy-user", "proxyuser"]
    argv = ["--tenant-id", how.get("tenant", TENANT), "--client-id", how.get("client", CLIENT),
            "--authority-host", authority, "--graph-url", fake.graph_url,
            "--state-dir", str(tmp_path), *extra]
    for verbosity in ([], ["-vvv"]):
        result = run_script("check_entra_signins", *argv, *verbosity, env=env)
        assert result.code == 3, result.out
        assert result.first.startswith(first_line), result.first
        for secret in (SECRET, how.get("secret"), how.get("proxy"), "proxypass"):
            if secret:
                assert secret not in result.out
        if not verbosity:
            assert len(result.out.splitlines()) == 1
            assert "Traceback" not in result.out


def test_proxy_carries_token_and_graph_requests(fake, tmp_path):
    env = environment(fake, ENTRA_PROXY_PASSWORD="proxypass",
                      HTTPS_PROXY="http://127.0.0.1:9")  # the explicit proxy must win
    result = check("check_entra_signins", fake, tmp_path, *SAMPLE_WINDOW, "--proxy-host",
                   "127.0.0.1", "--proxy-port", str(fake.proxy_port), "--proxy-user",
                   "proxyuser", env=env)
    assert result.code == 0, result.out
    tunnelled = fake.proxy_requests()
    assert tunnelled, "nothing went through the proxy"
    assert len(fake.token_requests()) == 1 and len(fake.graph_requests()) == 3
    assert "proxypass" not in result.out


def test_secret_from_file_and_argv_never_printed(fake, tmp_path):
    secret_file = tmp_path / "secret"
    secret_file.write_text(SECRET + "\n")
    env = environment(fake, ENTRA_CLIENT_SECRET=None)
    result = check("check_entra_signins", fake, tmp_path, *SAMPLE_WINDOW,
                   "--client-secret-file", secret_file, "-vvv", env=env)
    assert result.code == 0, result.out
    assert SECRET not in result.out
    missing = check("check_entra_signins", fake, tmp_path / "x", *SAMPLE_WINDOW,
                    "--client-secret-file", tmp_path / "nope", env=env)
    assert missing.code == 3
    assert missing.first.startswith("ENTRA SIGNINS UNKNOWN - cannot read the client secret "
                                    "file %s" % (tmp_path / "nope"))
    # On the command line: read (the environment holds none) and never printed back.
    on_argv = check("check_entra_signins", fake, tmp_path / "argv", *SAMPLE_WINDOW,
                    "--client-secret", SECRET, "-vvv", env=env)
    assert on_argv.code == 0, on_argv.out
    assert SECRET not in on_argv.out
    wrong = "Wr0ng~" + SECRET[::-1]
    refused = check("check_entra_signins", fake, tmp_path / "wrong", *SAMPLE_WINDOW,
                    "--client-secret", wrong, "-vvv", env=env)
    assert refused.code == 3, refused.out
    assert refused.first == (
        "ENTRA SIGNINS UNKNOWN - token request failed (AADSTS7000215): wrong client secret: "
        "the secret given for client ID %s is not valid; use the secret's Value (not its "
        "ID) or create a new secret" % CLIENT)
    assert wrong not in refused.out


def _client_pem(path, key_type="RSA"):
    import trustme

    if hasattr(trustme, "KeyType"):
        kind = getattr(trustme.KeyType, key_type)
        cert = trustme.CA(key_type=kind).issue_cert("monitoring.contoso.example", key_type=kind)
    else:  # trustme < 1.0 (Debian 12 has 0.9) makes RSA keys only
        assert key_type == "RSA"
        cert = trustme.CA().issue_cert("monitoring.contoso.example")
    path.write_bytes(cert.private_key_pem.bytes() + cert.cert_chain_pems[0].bytes())
    return cert.cert_chain_pems[0].bytes().decode()


def test_certificate_credentials_pem_and_pfx(tmp_path, sample_records):
    import trustme
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.serialization import pkcs12
    from cryptography.x509 import load_pem_x509_certificate

    pem = tmp_path / "client.pem"
    public = _client_pem(pem)
    key = serialization.load_pem_private_key(pem.read_bytes(), password=None)
    pfx = tmp_path / "client.pfx"
    pfx.write_bytes(pkcs12.serialize_key_and_certificates(
        b"monitoring", key, load_pem_x509_certificate(public.encode()), None,
        serialization.BestAvailableEncryption(b"pfx-pass-123")))
    with FakeMicrosoft(records=sample_records, tenant=TENANT, client_id=CLIENT,
                       client_secret=SECRET, client_certificate=public) as server:
        env = environment(server, ENTRA_CLIENT_SECRET=None)
        by_pem = check("check_entra_signins", server, tmp_path / "a", *SAMPLE_WINDOW,
                       "--client-certificate", pem, env=env)
        assert by_pem.code == 0, by_pem.out
        by_pfx = check("check_entra_signins", server, tmp_path / "b", *SAMPLE_WINDOW,
                       "--client-pfx", pfx, env=dict(env, ENTRA_PFX_PASSWORD="pfx-pass-123"))
        assert by_pfx.code == 0, by_pfx.out
        assert by_pfx.first == by_pem.first
        wrong_password = check("check_entra_signins", server, tmp_path / "c", *SAMPLE_WINDOW,
                               "--client-pfx", pfx, env=dict(env, ENTRA_PFX_PASSWORD="nope"))
        assert wrong_password.first == (
            "ENTRA SIGNINS UNKNOWN - cannot open client PFX %s: wrong password or not a PFX "
            "file (password from ENTRA_PFX_PASSWORD or --client-pfx-password-file)" % pfx)
        _client_pem(tmp_path / "other.pem")
        refused = check("check_entra_signins", server, tmp_path / "d", *SAMPLE_WINDOW,
                        "--client-certificate", tmp_path / "other.pem", env=env)
        assert refused.code == 3
        assert refused.first.startswith("ENTRA SIGNINS UNKNOWN - token request failed "
                                        "(AADSTS700027): the certificate was not accepted")
        if not hasattr(trustme, "KeyType"):
            return  # no ECDSA certificates from trustme 0.9
        _client_pem(tmp_path / "ec.pem", "ECDSA")
        ec = check("check_entra_signins", server, tmp_path / "e", *SAMPLE_WINDOW,
                   "--client-certificate", tmp_path / "ec.pem", env=env)
        assert ec.first == ("ENTRA SIGNINS UNKNOWN - the key in %s is not RSA: Entra ID "
                            "accepts RSA certificates only" % (tmp_path / "ec.pem"))
        # The same check for a PFX that holds an EC key.
        ec_pem = (tmp_path / "ec.pem").read_bytes()
        ec_pfx = tmp_path / "ec.pfx"
        ec_pfx.write_bytes(pkcs12.serialize_key_and_certificates(
            b"ec", serialization.load_pem_private_key(ec_pem, password=None),
            load_pem_x509_certificate(ec_pem), None, serialization.NoEncryption()))
        ec_by_pfx = check("check_entra_signins", server, tmp_path / "f", *SAMPLE_WINDOW,
                          "--client-pfx", ec_pfx, env=env)
        assert ec_by_pfx.first == ("ENTRA SIGNINS UNKNOWN - the key in %s is not RSA: Entra "
                                   "ID accepts RSA certificates only" % ec_pfx)


def test_retention_prunes_old_rows_but_never_the_window(fake, tmp_path):
    import sqlite3

    def rows_before(moment):
        db = sqlite3.connect(str(tmp_path / TENANT / "graph.sqlite"))
        try:
            return db.execute("SELECT COUNT(*) FROM signins WHERE created < ?",
                              (moment,)).fetchone()[0]
        finally:
            db.close()

    # A 1-minute retention must not remove the window being reported.
    first = check("check_entra_signins", fake, tmp_path, *SAMPLE_WINDOW, "--retention", "1m")
    assert first.value("total") == 2466
    assert rows_before("2026-11-20T09:00") == 2466
    # The next window's fetch prunes what is older than it and than the retention.
    later = check("check_entra_signins", fake, tmp_path, "--start", "2026-11-20T09:00:00Z",
                  "--end", "2026-11-20T09:05:00Z", "--retention", "1m")
    assert later.code == 0
    assert rows_before("2026-11-20T09:00") == 0




def test_window_that_has_not_settled_is_unknown(tmp_path):
    now = datetime.now(timezone.utc).replace(second=0, microsecond=0)
    start = now - timedelta(minutes=6)
    records = list(sample.generate(count=400, start=start.strftime("%Y-%m-%dT%H:%M:%SZ"),
                                   minutes=5, seed=4, compact=True))
    window = ("--start", start.isoformat(), "--end", (now - timedelta(minutes=1)).isoformat())
    with FakeMicrosoft(records=records, tenant=TENANT, client_id=CLIENT,
                       client_secret=SECRET) as server:
        # Fetched right away: settled as far as a zero delay goes ...
        assert check("check_entra_signins", server, tmp_path, *window, "--delay", "0s").code == 0
        assert len(server.graph_requests()) == 1
        assert check("check_entra_signins", server, tmp_path, *window, "--delay", "0s").code == 0
        assert len(server.graph_requests()) == 1
        # ... but not for a 10-minute delay: sign-ins may still arrive. Reporting it now
        # would show partial data as complete.
        late = check("check_entra_signins", server, tmp_path, *window)
        assert late.code == 3
        settles = (now + timedelta(minutes=9)).strftime("%Y-%m-%dT%H:%M:%SZ")
        assert late.first.startswith("ENTRA SIGNINS UNKNOWN - the window ends at ")
        assert "complete from %s on; run again then, or give an earlier --end" % settles \
            in late.first
        assert len(server.graph_requests()) == 1


def test_progress_on_a_terminal_only(fake, tmp_path):
    import pty

    fake.page_delay = 0.2
    main_fd, terminal = pty.openpty()
    argv = graph_args(fake, str(tmp_path), *SAMPLE_WINDOW)
    from conftest import script

    proc = subprocess.run([*script("check_entra_signins"), *argv], stdout=subprocess.PIPE,
                          stderr=terminal, env=environment(fake), timeout=60,
                          text=True)
    os.close(terminal)
    shown = b""
    while True:
        try:
            chunk = os.read(main_fd, 4096)
        except OSError:
            break
        if not chunk:
            break
        shown += chunk
    os.close(main_fd)
    assert proc.returncode == 0
    assert b"fetched 3 pages, 100% of the window" in shown
    assert "fetched" not in proc.stdout
    quiet = check("check_entra_signins", fake, tmp_path / "q", *SAMPLE_WINDOW)
    assert "fetched" not in quiet.out
