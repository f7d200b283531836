"""The tenant, credentials, cloud and proxy that the online sources (Graph, Log Analytics)
share: their options, and one ``Connection`` that hands out tokens for any Microsoft API
from the same MSAL app and credential.
"""

import functools
import os
from dataclasses import dataclass

from nagiosplugin import CheckError

from .. import network, options

# Options that hold or point at secrets, or change nothing the checks report: they do not
# key a check's remembered window.
NOT_IN_WINDOW_KEY = ("client_secret", "client_secret_file", "client_certificate",
                     "client_pfx", "client_pfx_password_file", "proxy_password_file")


def add_options(parser):
    tenant = parser.add_argument_group("tenant and credentials (Graph and Log Analytics)")
    tenant.add_argument("--tenant-id", type=options.name, metavar="ID",
                        help="directory (tenant) ID or verified domain")
    tenant.add_argument("--client-id", type=options.name, metavar="ID",
                        help="application (client) ID of the app registration")
    tenant.add_argument("--client-secret-file", metavar="PATH",
                        help="file holding the client secret (else ENTRA_CLIENT_SECRET)")
    tenant.add_argument("--client-secret", metavar="SECRET",
                        help="the client secret itself: visible in the process list, "
                             "prefer ENTRA_CLIENT_SECRET or --client-secret-file")
    tenant.add_argument("--client-certificate", metavar="PEM",
                        help="PEM file with the private key and certificate")
    tenant.add_argument("--client-pfx", metavar="PFX",
                        help="PFX/PKCS#12 file; password from ENTRA_PFX_PASSWORD or "
                             "--client-pfx-password-file")
    tenant.add_argument("--client-pfx-password-file", metavar="PATH",
                        help="file holding the PFX password (else ENTRA_PFX_PASSWORD; none "
                             "for a PFX without password)")
    tenant.add_argument("--cloud", choices=sorted(network.CLOUDS), default="global",
                        help="national cloud: it chooses the login, Graph, management and "
                             "Log Analytics hosts (default %(default)s)")
    tenant.add_argument("--authority-host", type=options.https_url, metavar="URL",
                        help="override the login host, e.g. https://login.microsoftonline.us")
    proxy = parser.add_argument_group("proxy (every request to Microsoft)")
    proxy.add_argument("--proxy-host", metavar="HOST",
                       help="HTTP proxy that tunnels every request to Microsoft (CONNECT); "
                            "given, it wins over HTTPS_PROXY from the environment")
    proxy.add_argument("--proxy-port", type=options.int_upto(65535), default=8080,
                       metavar="PORT", help="default %(default)s")
    proxy.add_argument("--proxy-user", metavar="USER",
                       help="user name for the proxy's basic authentication (password from "
                            "ENTRA_PROXY_PASSWORD or --proxy-password-file)")
    proxy.add_argument("--proxy-password-file", metavar="PATH",
                       help="file holding the proxy password (else ENTRA_PROXY_PASSWORD)")


@dataclass
class Connection:
    """One app registration in one tenant, reached through one HTTP setup."""

    tenant: str
    client_id: str
    credential: object      # auth.Credential
    authority_host: str
    cloud: network.Cloud
    http: network.HttpSettings
    directory: str          # the tenant's state directory: token cache, stores, lock

    @functools.cached_property
    def session(self):
        """One requests session for every call of the run: tokens and APIs alike."""
        return self.http.session()

    @functools.cached_property
    def tokens(self):
        """One auth.TokenProvider (one MSAL app) for every API the run calls: Graph,
        Resource Manager and Log Analytics tokens come from the same app and credential."""
        from ..auth import TokenProvider

        return TokenProvider(self.authority_host, self.tenant, self.client_id, self.credential,
                             os.path.join(self.directory,
                                          "token-cache-%s.json" % self.client_id),
                             self.http, self.session)

    @property
    def notes(self):
        """Lines for the long output (a damaged token cache set aside)."""
        return self.tokens.notes if "tokens" in self.__dict__ else []


def connect(args, what):
    """The Connection the options describe; ``what`` names the source for the error."""
    from ..auth import Credential, secret_from

    if not args.tenant_id or not args.client_id:
        raise CheckError(
            "no source: give --tenant-id and --client-id (with ENTRA_CLIENT_SECRET) to read "
            "%s, or --input PATH to read an exported sign-in log" % what)
    secret = args.client_secret or secret_from(args.client_secret_file, "ENTRA_CLIENT_SECRET",
                                               "client secret")
    pfx_password = secret_from(args.client_pfx_password_file, "ENTRA_PFX_PASSWORD",
                               "PFX password")
    proxy_password = secret_from(args.proxy_password_file, "ENTRA_PROXY_PASSWORD",
                                 "proxy password")
    cloud = network.CLOUDS[args.cloud]
    authority = args.authority_host or cloud.login
    return Connection(
        tenant=args.tenant_id, client_id=args.client_id,
        credential=Credential(secret, args.client_certificate, args.client_pfx, pfx_password),
        authority_host=authority, cloud=cloud,
        http=network.HttpSettings(
            proxy_url=network.proxy_url(args.proxy_host, args.proxy_port, args.proxy_user,
                                        proxy_password),
            timeout=min(30.0, float(args.timeout)),
            known_authority=authority in {c.login for c in network.CLOUDS.values()}),
        directory=os.path.join(args.state_dir, args.tenant_id))

