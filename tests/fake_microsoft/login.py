"""The fake Entra login authority (login.microsoftonline.com) for one tenant and one app.

  GET  /{tenant}/v2.0/.well-known/openid-configuration   OIDC discovery
  POST /{tenant}/oauth2/v2.0/token                       client_credentials grant

Discovery answers for the fake's tenant only: any other tenant gets Entra's 400
``invalid_tenant`` AADSTS90002, which MSAL raises as ValueError("Unable to get authority
configuration for ...") from its *constructor* (the AADSTS text is only in the chained
exception).  The token endpoint takes the client secret (``client_secret`` in the form) or
a certificate's ``client_assertion`` JWT (decoded, NOT verified; with
``client_certificate`` set its x5t / x5t#S256 must name that certificate) and refuses the
rest with Entra's error bodies (``AADSTS`` code, trace and correlation ids, timestamp).
Exactly one ``resource/.default`` scope is allowed; the issued token is good for that
resource only (the fake's URL of it or the real one, e.g. https://graph.microsoft.com).

Fault ``token_error`` (next ``count`` token requests): Entra's answer for ``aadsts=CODE``
(e.g. 7000215, 700016), or ``status=500|503`` (AADSTS50000 / AADSTS90033), with
``retry_after=None|int``.

MSAL needs ``instance_discovery=False`` (the product passes it for an authority host that
is not Microsoft's): else it asks the real login.microsoftonline.com.  requests lets
``REQUESTS_CA_BUNDLE`` / ``CURL_CA_BUNDLE`` and ``HTTPS_PROXY`` from the environment beat
MSAL's ``verify=`` and ``proxies=``: in tests set ``REQUESTS_CA_BUNDLE=fake.ca_bundle``
and drop the proxy variables.
"""

import base64
import binascii
import hashlib
import json
import secrets
import ssl
import threading
import time
import uuid
from datetime import datetime, timezone
from urllib.parse import parse_qsl

TOKEN_FAULTS = ("token_error",)
TOKEN_LIFETIME = 3599   # Entra's expires_in for app tokens

_AAD_MESSAGES = {
    7000215: ("invalid_client", 401,
              "Invalid client secret provided. Ensure the secret being sent in the request "
              "is the client secret value, not the client secret ID, for a secret added to "
              "app '{client_id}'."),
    7000218: ("invalid_client", 401,
              "The request body must contain the following parameter: 'client_assertion' "
              "or 'client_secret'."),
    700016: ("unauthorized_client", 400,
             "Application with identifier '{client_id}' was not found in the directory "
             "'{tenant}'. This can happen if the application has not been installed by the "
             "administrator of the tenant or consented to by any user in the tenant. You may "
             "have sent your authentication request to the wrong tenant."),
    50000: ("server_error", 500,
            "There was an error issuing a token or an issue with our sign-in service."),
    90033: ("temporarily_unavailable", 503,
            "A transient error has occurred. Please try again."),
    90002: ("invalid_request", 400,
            "Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID "
            "and are signing into the correct cloud. Check with your subscription "
            "administrator, this may happen if there are no active subscriptions for the "
            "tenant."),
    900144: ("invalid_request", 400,
             "The request body must contain the following parameter: '{param}'."),
    70003: ("unsupported_grant_type", 400,
            "The app requested an unsupported grant type '{grant_type}'."),
    1002012: ("invalid_scope", 400,
              "The provided value for scope {scope} is not valid. Client credential flows "
              "must have a scope value with /.default suffixed to the resource identifier "
              "(application ID URI)."),
    50027: ("invalid_request", 400,
            "JWT token is invalid or malformed."),
    700021: ("invalid_client", 401,
             "Client assertion application identifier doesn't match 'client_id' parameter. "
             "Review the documentation at "
             "https://docs.microsoft.com/azure/active-directory/develop/active-directory-certificate-credentials ."),
    700024: ("invalid_client", 401,
             "Client assertion is not within its valid time range."),
    700027: ("invalid_client", 401,
             "The certificate with identifier used to sign the client assertion is not "
             "registered on application. [Reason - The key was not found.]"),
}


def aad_error(code, correlation_id, **fmt):
    """(status, body) shaped exactly like Entra's token-endpoint errors."""
    error, status, text = _AAD_MESSAGES[code]
    trace_id = str(uuid.uuid4())
    # Entra's token errors use "2026-11-20 08:00:00Z" (space, no fraction).
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ")
    description = "AADSTS%d: %s Trace ID: %s Correlation ID: %s Timestamp: %s" % (
        code, text.format(**fmt), trace_id, correlation_id, stamp)
    return status, {
        "error": error, "error_description": description, "error_codes": [code],
        "timestamp": stamp, "trace_id": trace_id, "correlation_id": correlation_id,
        "error_uri": "https://login.microsoftonline.com/error?code=%d" % code,
    }


def _b64url_json(segment):
    raw = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    value = json.loads(raw)
    if not isinstance(value, dict):
        raise ValueError("JWT segment is not a JSON object")
    return value


def decode_jwt_unverified(token):
    """(header, claims) of a compact JWT; the signature is NOT checked."""
    parts = token.split(".")
    if len(parts) != 3 or not parts[0] or not parts[1]:
        raise ValueError("not a compact JWT")
    try:
        return _b64url_json(parts[0]), _b64url_json(parts[1])
    except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
        raise ValueError("undecodable JWT: %s" % exc)


def _thumbprints(cert_pem):
    """x5t and x5t#S256 values of a PEM certificate (base64url without the
    padding, which MSAL sends and other clients may not)."""
    der = ssl.PEM_cert_to_DER_cert(cert_pem if isinstance(cert_pem, str) else cert_pem.decode())
    enc = lambda d: base64.urlsafe_b64encode(d).decode().rstrip("=")
    return {enc(hashlib.sha1(der).digest()), enc(hashlib.sha256(der).digest())}


class Login:
    """Discovery, tokens, and the bearer-token check every other service uses.  Answers
    are ``(status, body, headers)``; no sockets here."""

    def __init__(self, faults, tenant, client_id, client_secret, client_certificate=None):
        self.faults = faults
        self.tenant, self.client_id, self.client_secret = tenant, client_id, client_secret
        self.thumbprints = _thumbprints(client_certificate) if client_certificate else None
        self.lock = threading.Lock()
        self.tokens = {}   # access token -> (tenant, client_id, audience, expiry)

    def discovery(self, base, tenant, correlation_id):
        """The OIDC document of ``tenant``; ``base`` is the fake's https://HOST:PORT."""
        if tenant != self.tenant:
            status, body = aad_error(90002, correlation_id, tenant=tenant)
            body["error"] = "invalid_tenant"   # discovery says invalid_tenant, token says invalid_request
            return 400, body, []
        authority = "%s/%s" % (base, tenant)
        return 200, {
            "token_endpoint": authority + "/oauth2/v2.0/token",
            "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt",
                                                      "client_secret_basic"],
            "jwks_uri": authority + "/discovery/v2.0/keys",
            "response_modes_supported": ["query", "fragment", "form_post"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "issuer": authority + "/v2.0",
            "request_uri_parameter_supported": False,
            "userinfo_endpoint": base + "/oidc/userinfo",
            "authorization_endpoint": authority + "/oauth2/v2.0/authorize",
            "device_authorization_endpoint": authority + "/oauth2/v2.0/devicecode",
            "http_logout_supported": True,
            "frontchannel_logout_supported": True,
            "end_session_endpoint": authority + "/oauth2/v2.0/logout",
            "claims_supported": ["sub", "iss", "aud", "exp", "iat", "tid", "oid"],
            "kerberos_endpoint": authority + "/kerberos",
            "tenant_region_scope": "EU",
            "cloud_instance_name": "microsoftonline.com",
            "cloud_graph_host_name": "graph.windows.net",
            "msgraph_host": base[len("https://"):],
            "rbac_url": "https://pas.windows.net",
        }, []

    def token(self, body, tenant, correlation_id):
        """The answer to a POST of the form ``body`` (bytes) to ``tenant``'s token endpoint."""
        form = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        client_id = form.get("client_id")

        def fail(code, status=None, headers=(), **fmt):
            default, error = aad_error(code, correlation_id, tenant=tenant,
                                       client_id=client_id, **fmt)
            return status or default, error, list(headers)

        fault = self.faults.take(TOKEN_FAULTS)
        if fault is not None:
            params = fault[1]
            status = params.get("status")
            code = params.get("aadsts") or {500: 50000}.get(status, 90033)
            headers = []
            if params.get("retry_after") is not None:
                headers.append(("Retry-After", str(int(params["retry_after"]))))
            return fail(int(code), status and int(status), headers,
                        param="client_secret", grant_type="client_credentials", scope="")
        if tenant != self.tenant:
            return fail(90002)
        grant = form.get("grant_type")
        if not grant:
            return fail(900144, param="grant_type")
        if grant != "client_credentials":
            return fail(70003, grant_type=grant)
        if not client_id:
            return fail(900144, param="client_id")
        if client_id != self.client_id:
            return fail(700016)
        scope = form.get("scope", "")
        if not scope:
            return fail(900144, param="scope")
        # MSAL may add the OIDC scopes; what counts is exactly one resource/.default.
        requested = [s for s in scope.split() if s not in ("openid", "profile", "offline_access")]
        resources = [s for s in requested if s.endswith("/.default")]
        if len(resources) != 1 or len(requested) != 1:
            return fail(1002012, scope=scope)

        assertion, secret = form.get("client_assertion"), form.get("client_secret")
        if assertion:
            try:
                header, claims = decode_jwt_unverified(assertion)
            except ValueError:
                return fail(50027)
            if claims.get("iss") != client_id or claims.get("sub") != client_id:
                return fail(700021)
            if isinstance(claims.get("exp"), (int, float)) and claims["exp"] < time.time():
                return fail(700024)
            sent = {str(header.get(k, "")).rstrip("=") for k in ("x5t", "x5t#S256")}
            if self.thumbprints is not None and not sent & self.thumbprints:
                return fail(700027)
        elif secret:
            if self.client_secret is None or not secrets.compare_digest(secret,
                                                                        self.client_secret):
                return fail(7000215)
        else:
            return fail(7000218)

        token = secrets.token_urlsafe(32)
        audience = resources[0][:-len("/.default")].rstrip("/")
        with self.lock:
            self.tokens[token] = (tenant, client_id, audience, time.time() + TOKEN_LIFETIME)
        return 200, {"token_type": "Bearer", "expires_in": TOKEN_LIFETIME,
                     "ext_expires_in": TOKEN_LIFETIME, "access_token": token}, []

    def authenticate(self, authorization, audiences):
        """((tenant, client_id), None) for a valid ``Bearer`` token issued for one of
        ``audiences``, else (None, the 401 message)."""
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None, "Access token is empty."
        with self.lock:
            known = self.tokens.get(token.strip())
        if known is None:
            return None, "CompactToken parsing failed with error code: 80049217"
        tenant, client_id, audience, expiry = known
        if expiry <= time.time():
            return None, "Lifetime validation failed, the token is expired."
        if audience not in audiences:
            return None, "Access token validation failure. Invalid audience."
        return (tenant, client_id), None

    def revoke(self, authorization):
        with self.lock:
            self.tokens.pop((authorization or "").partition(" ")[2].strip(), None)

    def expire_tokens(self):
        """Make every issued access token expired (the services then answer 401)."""
        with self.lock:
            for token, (tenant, client, audience, _) in list(self.tokens.items()):
                self.tokens[token] = (tenant, client, audience, 0)
