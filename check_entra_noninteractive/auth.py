"""Client-credentials tokens from Microsoft Entra ID through MSAL, cached in the state dir.

msal is imported here only, and only when a token is needed: a check whose window is
already in the store never loads it.
"""

import hashlib
import json
import os
import re
import ssl
import threading
import time
from urllib.parse import urlsplit

from nagiosplugin import CheckError

from . import network, redact, statedir

# What an administrator should do about the AADSTS codes a monitoring app meets.
AADSTS_ADVICE = {
    7000215: "wrong client secret: the secret given for client ID {client} is not valid; "
             "use the secret's Value (not its ID) or create a new secret",
    7000222: "expired client secret for client ID {client}: create a new secret",
    700016: "unknown application: client ID {client} is not registered in tenant {tenant}; "
            "check --client-id and --tenant-id",
    90002: "unknown tenant: {tenant} was not found; check --tenant-id (directory ID or "
           "verified domain) and --cloud",
    700027: "the certificate was not accepted for client ID {client}: upload its public "
            "certificate to the app registration",
    700024: "the client assertion is not within its valid time range: check this host's clock",
    53003: "blocked by Conditional Access: exclude the monitoring app's service principal "
           "or allow this host's address",
    7000112: "application {client} is disabled in tenant {tenant}",
    90014: "the token request is missing a required field: check --client-id and the "
           "credential",
}


def aadsts_code(text):
    match = re.search(r"AADSTS(\d+)", text or "")
    return int(match.group(1)) if match else None


def describe_token_error(result, tenant, client):
    """One actionable line for MSAL's error dict."""
    description = result.get("error_description") or ""
    code = aadsts_code(description)
    if code is None and result.get("error_codes"):
        code = result["error_codes"][0]
    advice = AADSTS_ADVICE.get(code)
    if advice:
        return "token request failed (AADSTS%d): %s" % (
            code, advice.format(client=client, tenant=tenant))
    first = description.split("\n")[0].split(". Trace ID")[0]
    return "token request failed (%s): %s" % (result.get("error") or "error", first or
                                              "no description")


class Credential:
    """What MSAL needs as client_credential, read from the environment or files."""

    def __init__(self, secret=None, certificate=None, pfx=None, pfx_password=None):
        self.secret = redact.register(secret)
        self.certificate = certificate
        self.pfx = pfx
        self.pfx_password = redact.register(pfx_password)

    def for_msal(self):
        if self.secret:
            return self.secret
        if self.certificate:
            return _pem_credential(self.certificate)
        if self.pfx:
            return _pfx_credential(self.pfx, self.pfx_password)
        raise CheckError("no client credential: set ENTRA_CLIENT_SECRET, or give "
                         "--client-secret-file, --client-certificate or --client-pfx")


def _read(path, what):
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError as exc:
        raise CheckError("cannot read the %s %s: %s" % (what, path, exc.strerror or exc))


def secret_from(path, variable, what):
    """A secret from a file (``--...-file``) if given, else from the environment; remembered
    for masking either way."""
    if path:
        return redact.register(_read(path, what + " file").decode("utf-8").strip())
    return redact.register(os.environ.get(variable))


def _pem_credential(path):
    text = _read(path, "client certificate").decode("ascii", "replace")
    key = re.search(r"-----BEGIN (?:RSA |EC |ENCRYPTED )?PRIVATE KEY-----.+?"
                    r"-----END (?:RSA |EC |ENCRYPTED )?PRIVATE KEY-----", text, re.S)
    cert = re.search(r"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", text, re.S)
    if not key or not cert:
        raise CheckError("client certificate %s must hold both the private key and the "
                         "certificate in PEM form" % path)
    _require_rsa(key.group(0).encode(), path)
    thumbprint = hashlib.sha1(ssl.PEM_cert_to_DER_cert(cert.group(0))).hexdigest()
    return {"private_key": key.group(0), "thumbprint": thumbprint,
            "public_certificate": cert.group(0)}


def _require_rsa(pem_key, path):
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    try:
        key = load_pem_private_key(pem_key, password=None)
    except (ValueError, TypeError) as exc:
        raise CheckError("cannot load the private key in %s: %s (an unencrypted PEM key is "
                         "needed)" % (path, str(exc).split("\n")[0]))
    _check_rsa(key, path)


def _check_rsa(key, path):
    """Entra ID signs client assertions with RS256 only: say so before MSAL fails obscurely."""
    from cryptography.hazmat.primitives.asymmetric import rsa

    if not isinstance(key, rsa.RSAPrivateKey):
        raise CheckError("the key in %s is not RSA: Entra ID accepts RSA certificates only"
                         % path)


def _pfx_credential(path, password):
    # cryptography comes with msal (through PyJWT[crypto]); it reads PFX on every msal version.
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.serialization import pkcs12

    data = _read(path, "client PFX")
    try:
        key, cert, _ = pkcs12.load_key_and_certificates(
            data, password.encode() if password else None)
    except ValueError:
        raise CheckError("cannot open client PFX %s: wrong password or not a PFX file "
                         "(password from ENTRA_PFX_PASSWORD or --client-pfx-password-file)"
                         % path)
    if key is None or cert is None:
        raise CheckError("client PFX %s must hold a private key and its certificate" % path)
    _check_rsa(key, path)
    pem_key = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    return {"private_key": pem_key, "thumbprint": cert.fingerprint(hashes.SHA1()).hex(),
            "public_certificate": cert.public_bytes(serialization.Encoding.PEM).decode()}


def _deserialize(cache, text):
    """Load MSAL's cache, or ValueError: MSAL itself fails later, obscurely, on a file
    that is JSON of another shape (a list, null, sections that are not objects of
    objects)."""
    data = json.loads(text)
    if not isinstance(data, dict) or not all(
            isinstance(section, dict) and all(isinstance(item, dict)
                                              for item in section.values())
            for section in data.values()):
        raise ValueError("not a token cache")
    cache.deserialize(text)


class TokenProvider:
    """Access tokens for one (authority, tenant, client), cached in a 0600 file."""

    def __init__(self, authority_host, tenant, client_id, credential, cache_path, http,
                 session):
        self.authority = "%s/%s" % (authority_host.rstrip("/"), tenant)
        self.tenant = tenant
        self.client_id = client_id
        self.credential = credential
        self.cache_path = cache_path
        self.http = http        # network.HttpSettings
        self.session = session  # the requests session Graph uses too (proxy, trust, timeout)
        self._app = None
        self._cache = None
        self.notes = []  # lines for the long output (a damaged cache set aside)
        # Fetch threads share one provider: one of them asks and saves, the others then
        # find the token in the cache (two saves at once would race on the cache file).
        self._lock = threading.RLock()
        self._refused = set()

    def _application(self):
        if self._app is None:
            import msal

            self._cache = msal.SerializableTokenCache()
            if statedir.check_file(self.cache_path, "token cache"):
                try:
                    with open(self.cache_path) as handle:
                        _deserialize(self._cache, handle.read())
                except (OSError, ValueError) as exc:
                    # A damaged cache only costs one token request.
                    self.notes.append(self._set_aside(exc))
                    self._cache = msal.SerializableTokenCache()
            try:
                self._app = msal.ConfidentialClientApplication(
                    self.client_id, client_credential=self.credential.for_msal(),
                    authority=self.authority, token_cache=self._cache,
                    http_client=self.session, **self.http.msal_options())
            except ValueError as exc:
                # MSAL reads the authority's OpenID configuration when it is built; an
                # unknown tenant fails there, with the AADSTS code in the chained error.
                detail = "%s %s" % (exc, exc.__context__ or "")
                if aadsts_code(detail) == 90002 or "invalid_tenant" in detail:
                    raise CheckError("token request failed (AADSTS90002): " + AADSTS_ADVICE[
                        90002].format(tenant=self.tenant, client=self.client_id))
                raise CheckError("cannot use the login authority %s: %s"
                                 % (self.authority, str(exc).split("\n")[0]))
        return self._app

    def token(self, scope, attempts=2):
        """An access token for ``scope``; a transient failure of the login endpoint (5xx,
        server_error, temporarily_unavailable) is tried once more a second later."""
        with self._lock:
            return self._token(scope, attempts)

    def _token(self, scope, attempts):
        for attempt in range(1, attempts + 1):
            result, transient = self._acquire(scope)
            if transient is None:
                break
            if attempt == attempts:
                raise CheckError("the login endpoint %s failed twice (%s): a fault on "
                                 "Microsoft's side; the next run tries again"
                                 % (urlsplit(self.authority).hostname, transient))
            time.sleep(1.0)
            self._app = None  # MSAL would replay the failed answer from its own cache
        self._save()
        if "access_token" not in result:
            raise CheckError(describe_token_error(result, self.tenant, self.client_id))
        redact.register(result["access_token"])
        return result["access_token"]

    def _acquire(self, scope):
        """(MSAL's result, None) or (None, why it is worth another try)."""
        import requests
        from msal.exceptions import MsalServiceError

        try:
            app = self._application()
            scopes = [scope]
            # msal < 1.23 (Debian 12 has 1.21) does not look in the cache by itself.
            result = app.acquire_token_silent(scopes, account=None)
            if not result:
                result = app.acquire_token_for_client(scopes)
        except MsalServiceError as exc:
            return None, str(exc).split("\n")[0][:80]
        except requests.exceptions.RequestException as exc:
            # Older msal raises requests' HTTPError for a 5xx from the token endpoint.
            status = getattr(getattr(exc, "response", None), "status_code", 0) or 0
            if isinstance(exc, requests.exceptions.HTTPError) and status >= 500:
                return None, "HTTP %d" % status
            raise CheckError(network.describe_error(
                exc, urlsplit(self.authority).hostname or self.authority))
        if result.get("error") in ("server_error", "temporarily_unavailable"):
            return None, result["error"]
        return result, None

    def refused(self, token):
        """An API refused ``token`` (401): drop it, so the next call asks for a new one.
        True while it is the only token refused in this run (one expired or revoked early
        is worth a new one, however many threads met it), False once a new one is refused
        too (the app itself is refused)."""
        with self._lock:
            self._refused.add(token)
            self._forget(token)
            return len(self._refused) == 1

    def _forget(self, token):
        if self._cache is not None:
            for item in self._cache.find(self._cache.CredentialType.ACCESS_TOKEN):
                if item.get("secret") == token:
                    self._cache.remove_at(item)
            self._save()

    def _save(self):
        if self._cache is None or not self._cache.has_state_changed:
            return
        try:
            statedir.replace_file(self.cache_path, self._cache.serialize().encode("utf-8"))
        except OSError as exc:
            raise CheckError(statedir.storage_problem(self.cache_path, exc, "token cache"))
        self._cache.has_state_changed = False

    def _set_aside(self, reason):
        aside = statedir.set_aside(self.cache_path, "token cache")
        return ("token cache %s was damaged (%s): moved to %s; a new token was requested"
                % (self.cache_path, type(reason).__name__, aside))

