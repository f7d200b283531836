"""Deterministic generator of realistic Entra ID non-interactive sign-in records.

The records have the shape of Microsoft Graph **beta** ``signIn`` resources
(``GET /beta/auditLogs/signIns``).  Everything comes from
``random.Random(seed)`` (scenarios 8-11: ``random.Random("threats/<seed>")``);
neither the global random generator nor the clock is
used, so the same arguments give byte-identical output (checked on Python
3.9-3.13).  Records are yielded newest first, as Graph returns them, one at a
time: memory stays flat (only the 336 scenario records are pre-computed), so
``count=200000`` is fine.

The fictional tenant (users and their ids, IPs and locations, apps, policies)
is fixed and does NOT depend on ``seed``.  The seed drives the traffic: who
signs in when and to what, background failures, record ids, correlation ids
and the exact scenario times inside their windows.  All scenario entity
values and counts below are constants, independent of ``seed``, ``count`` and
``minutes``; they are also in ``SCENARIOS`` (and ``SPRAY_TARGETS``, ``USERS``).

Domain ``contoso.example``, tenant ``TENANT_ID``.  All IPs are documentation
addresses (192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24, 2001:db8::/32).
Scenario windows are fractions of ``[start, start + minutes)``; the times in
brackets are those of the defaults (start 2026-11-20T08:00:00Z, 60 minutes).
"Run" below means consecutive attempts of one entity ordered by
(createdDateTime, id), as the "No of Attempts" rule counts them.

Background (count - 336 records)
    60 users ``USERS`` (first.last@contoso.example, e.g. adele.vance, alex.wilber,
    ... laila.ahmadi), 11 Microsoft apps with their real appIds
    (``BACKGROUND_APPS``: Microsoft Office, Microsoft Outlook, Microsoft Teams,
    Microsoft Teams Web Client, Outlook Mobile, OneDrive SyncEngine, Microsoft
    Edge, Microsoft Authentication Broker, OfficeHome, Microsoft Intune Company
    Portal, Microsoft Azure CLI (5 admins only)); resources Microsoft Graph,
    Office 365 Exchange Online, Office 365 SharePoint Online, Microsoft Teams
    Services, Skype for Business Online, Windows Azure Active Directory, Device
    Registration Service, Windows Azure Service Management API.  Each user has
    1-2 own IPs and one home location (Seattle, Redmond, Bellevue US; London,
    Reading GB; Munich, Berlin DE).  About 2.5 % failures spread out (50140,
    50058, 70044, 700082, 50126, 50076), never two in a row for one user;
    clientAppUsed "Mobile Apps and Desktop clients" or "Browser"; ~20 %
    multiFactorAuthentication; CA status success or notApplied; risk "none".
    The scenario users adele.vance, henrietta.mueller, johanna.lorenz,
    christie.cline and debra.berger never fail in the background and have no
    background sign-in inside their scenario window.

1. Password spray, window [0.10, 0.20) (08:06-08:12), 120 records.  This is
   the spray of issue 12 (the threats check's ``spray_ips``: 40 users >= 10).
    ipAddress ``198.51.100.7``, location Moscow / Moscow / RU, userAgent
    "BAV2ROPC", authenticationProtocol "ropc", app and resource "Office 365
    Exchange Online".  3 passes over the 40 users ``SPRAY_TARGETS`` (the first
    40 of USERS that are not QUIET_USERS; @contoso.example, in this order):
    alex.wilber, allan.deyoung, diego.siciliani, emily.braun,
    enrico.cattaneo, gerhart.moller, grady.archie, irvin.sayers,
    isaiah.langer, joni.sherman, lee.gu, lidia.holloway, lynne.robbins,
    megan.bowen, miriam.graham, nestor.wilke, patti.fernandez,
    pradeep.gupta, aisha.khan, bruno.costa, carla.mendes, dmitri.volkov,
    elena.rossi, farid.haddad, grace.okafor, hiro.tanaka, ingrid.larsen,
    jamal.carter, kenji.mori, laura.schmidt, marco.bianchi, nadia.petrova,
    oliver.hughes, priya.nair, quentin.dubois, rosa.alvarez, samuel.osei,
    tanja.becker, umar.siddiqui, valentina.ruiz
    all 120 failing with 50126.  Passes
    1-2 use clientAppUsed "Other clients" (80), pass 3 "IMAP4" (40).  The
    IP and the location never succeed and appear nowhere else: runs of 120.

2. Brute force, window [0.25, 0.30) (08:15-08:18), 30 records
    ``adele.vance@contoso.example`` from ``203.0.113.66`` (Ashburn / Virginia /
    US), app "Microsoft Azure PowerShell" (used nowhere else), resource
    "Windows Azure Service Management API", clientAppUsed "Mobile Apps and
    Desktop clients", protocol "ropc", userAgent "python-requests/2.31.0".
    In time order 25 x 50126 then 5 x 50053 (locked): runs of exactly 30
    for the IP, the location, the app and the user.  Many credential
    failures but ONE user: not a spray (see also scenario 11).

3. Legacy protocols, window [0.30, 0.60) (08:18-08:36), 76 successes, app and
   resource "Office 365 Exchange Online", protocol "ropc", CA notApplied:
    lee.gu@contoso.example         "Exchange ActiveSync"  24
    nestor.wilke@contoso.example   "Exchange ActiveSync"  18
    joni.sherman@contoso.example   "IMAP4"                14
    scan.floor3@contoso.example    "Authenticated SMTP"   12  (display name
        "Scanner Floor 3", IP 198.51.100.33; an extra account, not in USERS)
    grady.archie@contoso.example   "POP3"                  8

4. Risky sign-ins, window [0.60, 0.70) (08:36-08:42), 22 records, 20 risky,
   all successful:
    megan.bowen@contoso.example      2001:db8:bad:7::1  Amsterdam / Noord-Holland / NL
        6 x high / atRisk  ["anonymizedIPAddress", "unfamiliarFeatures"]
    alex.wilber@contoso.example      192.0.2.201        Sao Paulo (with tilde) / Sao Paulo / BR
        6 x medium / atRisk  ["unfamiliarFeatures"]
    diego.siciliani@contoso.example  198.51.100.150     Singapore / Singapore / SG
        4 x low / atRisk  ["unlikelyTravel"]
    pradeep.gupta@contoso.example    203.0.113.150      Lagos / Lagos / NG
        2 x high / confirmedCompromised, 2 x none / confirmedCompromised
        ["anomalousToken"]
    isaiah.langer@contoso.example    own IP: 1 x hidden / none and
        1 x none / dismissed, NOT risky (edge cases)

5. Conditional Access failures, window [0.70, 0.85) (08:42-08:51), 24 records,
   errorCode 53003, conditionalAccessStatus "failure":
    henrietta.mueller@contoso.example  8  Microsoft Teams, Android phone, 198.51.100.212
    johanna.lorenz@contoso.example     8  Outlook Mobile, iPhone, 2001:db8:77:1::42
        policy "Require compliant device" result failure (runs of 8 for
        these users and IPs)
    christie.cline@contoso.example     4  "Exchange ActiveSync", own IP
    debra.berger@contoso.example       4  "IMAP4", own IP
        policy "Block legacy authentication" result failure (runs of 4)

6. Service principals: signInEventTypes ["servicePrincipal"] (NOT
   nonInteractiveUser: a check filtering on the default event type ignores
   them), userDisplayName/userPrincipalName null, userId "", clientAppUsed "",
   resource Microsoft Graph, CA notApplied:
    "Contoso Billing Sync" (appId ``BILLING_APP_ID``, servicePrincipalId
    ``BILLING_SP_ID``) from ``203.0.113.200`` (Dublin / Dublin / IE),
    clientCredentialType clientSecret: 6 successes in [0.00, 0.45), then 16
    consecutive failures 7000215 (invalid client secret) in [0.50, 0.95)
    (08:30-08:57): runs of 16 for the SP, the app, the IP and the location.
    "Contoso HR Connector" (``HR_SP_ID``) from 203.0.113.201 (Amsterdam),
    clientCredentialType certificate: 12 successes over [0.00, 1.00).

7. Hostile-but-realistic strings, window [0.96, 0.99) (08:57:36-08:59:24),
   exactly 3 records, no other record has such characters in a display name,
   city or user agent:
    a) guest ``mallory_fabrikam.example#EXT#@contoso.example``, userDisplayName
       ``Mallory | <script>alert(1)</script>``, 192.0.2.66, Berlin,
       crossTenantAccessType b2bCollaboration, homeTenantId
       FABRIKAM_TENANT_ID, failure 50126;
    b) irvin.sayers@contoso.example, app "Contoso Reports | total=999", a
       newline, "OK - injected" (``REPORTS_APP_NAME``), success;
    c) lidia.holloway@contoso.example from 198.51.100.77, location
       ``Val-d'Or`` / Quebec (with accent) / CA, userAgent ending in
       ``<img src=x onerror=alert(1)>``, success.

Threat scenarios of issue 12 (8-11).  All nonInteractiveUser, all from
users that scenarios 1-7 do not name (chloe.martin, david.cohen,
william.chen, xavier.moreau, yusuf.demir and the 10 of scenario 11: the
last 15 of USERS), from IPs above .199 (outside the background users' IP
pool) that appear nowhere else, in the order given below.  Their times
(spread with jitter in their windows) and correlation ids come from a
generator of their own, ``random.Random("threats/<seed>")``, so scenarios
1-7 keep their times; the background has 27 records fewer.

8. Device-code phishing, window [0.01, 0.09) (08:00:36-08:05:24), 5 records
   from ``198.51.100.230`` (Frankfurt am Main / Hessen / DE: a VPS in the
   victims' own country, so no second country), app "Microsoft
   Authentication Broker", clientAppUsed "Mobile Apps and Desktop clients",
   authenticationProtocol "deviceCode", incomingTokenType "none", userAgent
   "python-requests/2.32.3", CA notApplied, in time order:
    david.cohen@contoso.example   1 x 50199 (user confirmation required: he
        did not confirm), Microsoft Graph: a FAILED device-code sign-in,
        which is no device-code user
    chloe.martin@contoso.example  4 successes, multiFactorAuthentication
        (she entered the code and did MFA), resources Microsoft Graph,
        Device Registration Service, Windows Azure Active Directory,
        Microsoft Graph
   The IP's runs: 1 failure, then 4 successes.

9. ROPC through a modern client, window [0.20, 0.25) (08:12-08:15),
   4 successes of ``william.chen@contoso.example`` (an admin) from the build
   agent ``203.0.113.230`` (his home, Seattle / Washington / US), app
   "Microsoft Azure CLI" (``az login -u -p``), resources Windows Azure
   Service Management API x3 and Microsoft Graph x1, clientAppUsed "Mobile
   Apps and Desktop clients" (NOT a legacy client), protocol "ropc",
   singleFactorAuthentication, CA notApplied (policy "Require MFA for Azure
   management" notApplied), userAgent "python/3.12.7 (Linux-...) azure-cli/2.67.0".

10. Refresh token replayed from a second country, window [0.86, 0.95)
    (08:51:36-08:57), 8 successes, in time order:
     xavier.moreau  home (his IP, Redmond / US)  Microsoft Graph
     xavier.moreau  192.0.2.230 (Bucharest / Bucuresti / RO)  Office 365 Exchange Online
     yusuf.demir    his IPv4, Munich / DE, Microsoft Teams
     xavier.moreau  192.0.2.230  Microsoft Graph
     xavier.moreau  home  Office 365 Exchange Online
     yusuf.demir    his IPv6, location all empty (Entra could not place
                    it; ``{}`` in the compact shape), Microsoft Teams
     xavier.moreau  192.0.2.230  Office 365 SharePoint Online
     xavier.moreau  192.0.2.230  Microsoft Graph
    xavier.moreau@contoso.example: app "Microsoft Office", incomingTokenType
    "refreshToken", multiFactorAuthentication (the stolen token carries the
    MFA claim), userAgent that of Word on Windows, risk none (Identity
    Protection did not flag it), CA notApplied: 2 from home and 4 replays
    from RO, a second country (runs of 4 for the IP and the location).
    yusuf.demir@contoso.example: 2 successes of Microsoft Teams, CA success;
    the empty country is NO second country (edge case).

11. Slow password spray below ``--spray-users``, window [0.86, 0.95)
    (08:51:36-08:57), 10 failures from ``198.51.100.240`` (Istanbul /
    Istanbul / TR), one attempt per user, app "Microsoft Office", resource
    Microsoft Graph, clientAppUsed "Mobile Apps and Desktop clients", protocol
    "ropc", a Chrome userAgent, in this order (``SLOW_SPRAY``):
    zoe.fischer 50126, anna.kowalski 50126, ben.murphy 50126, eva.novak
    50126, kevin.brennan 50076, felix.wagner 50126, hannah.price 50126,
    laila.ahmadi 50055, ivan.horvat 50126, julia.weber 50126
    (@contoso.example).  10 users failed, but only 9 with a credential error
    (50076 means the password was right and MFA was asked): NOT a spray
    with the default 10 (edge case: one below).  The IP and the location
    fail in runs of 10 (a failure_ips and failure_locations entity at
    --attempts 5); users, app, resource and client app do not.

What the threats check counts over the whole default sample (start
2026-11-20T08:00:00Z, 60 minutes, seed 42, count 2500, event type
nonInteractiveUser, --spray-users 10), also in ``SCENARIOS["threats"]``:
    spray_ips 1             198.51.100.7 (40 users; 198.51.100.240 has 9,
                            203.0.113.66 1, 192.0.2.66 1, each background IP
                            with a 50126 1)
    device_code_users 1     chloe.martin (david.cohen failed)
    ropc_users 6            lee.gu, nestor.wilke, joni.sherman, scan.floor3,
                            grady.archie (legacy, scenario 3) and
                            william.chen (scenario 9); the ropc of scenarios 1,
                            2 and 5 and of scenario 11 failed
    legacy_success_users 5  lee.gu, nestor.wilke, joni.sherman, scan.floor3,
                            grady.archie (christie.cline and debra.berger
                            failed, scenario 5)
    multi_country_users 6   megan.bowen (GB, NL), alex.wilber (US, BR),
                            diego.siciliani (US, SG), pradeep.gupta (US, NG),
                            lidia.holloway (US, CA: scenario 7c), xavier.moreau
                            (US, RO); not yusuf.demir (DE and empty) nor
                            chloe.martin (DE twice)
    unusual_users/ips/apps 0 (one hour is no history: "learning")
The users of scenarios 4 and 7c count with their home sign-ins of the
background, as every user of the default sample has some; the others
count by their scenario records alone.

Scenario times are spread evenly (with jitter) inside their windows; with
``minutes`` >= 30 every brute-force attempt has its own second, so its
50126-then-50053 order holds under any tie-break.

``compact=True`` (``--compact``) gives the same sign-ins in the smaller shape
of samples/nonint-signins.json, see ``compact_record``.

Usage::

    python tests/sample.py --count 3000 \\
        --start 2026-11-20T08:00:00Z --minutes 60 --seed 42 \\
        --format {json,jsonl,graph} --output FILE [--compact] [--no-scenarios]
"""

import argparse
import hashlib
import json
import random
import sys
from datetime import datetime, timezone

from check_entra_noninteractive import timeutil

__all__ = ["generate", "compact_record", "write", "main", "scenario_count",
           "SCENARIOS", "USERS", "SPRAY_TARGETS"]

DOMAIN = "contoso.example"
TENANT_ID = "5d7e1f2a-8c4b-4e6d-9a3f-1b2c3d4e5f60"
FABRIKAM_TENANT_ID = "a1b2c3d4-0f1e-4d2c-8b3a-9e8f7a6b5c4d"
ODATA_CONTEXT = "https://graph.microsoft.com/beta/$metadata#auditLogs/signIns"

_DIRECTORY_SEED = 20261120  # the fictional tenant never depends on the seed


_UUID_CLEAR = ~((0xc000 << 48) | (0xf000 << 64))
_UUID_SET = (0x8000 << 48) | (4 << 76)


def _uuid4_str(value):
    """Same text as str(uuid.UUID(int=value, version=4)), faster."""
    h = "%032x" % ((value & _UUID_CLEAR) | _UUID_SET)
    return "%s-%s-%s-%s-%s" % (h[:8], h[8:12], h[12:16], h[16:20], h[20:])


def _stable_uuid(*parts):
    """A uuid4-formatted id derived from text only (no randomness)."""
    return _text_uuid("/".join(str(p) for p in parts))


def _text_uuid(text):
    digest = hashlib.blake2b(text.encode("utf-8"), digest_size=16).digest()
    return _uuid4_str(int.from_bytes(digest, "big"))


def _record_id(seed, index):
    return _text_uuid("signin/%s/%d" % (seed, index))


# --------------------------------------------------------------------------
# Fixed tenant: resources, apps, policies, locations, users
# --------------------------------------------------------------------------

GRAPH = ("Microsoft Graph", "00000003-0000-0000-c000-000000000000")
EXO = ("Office 365 Exchange Online", "00000002-0000-0ff1-ce00-000000000000")
SPO = ("Office 365 SharePoint Online", "00000003-0000-0ff1-ce00-000000000000")
TEAMS_SVC = ("Microsoft Teams Services", "cc15fd57-2c6c-4117-a88c-83b1d56b4bbe")
SKYPE = ("Skype for Business Online", "00000004-0000-0ff1-ce00-000000000000")
AAD = ("Windows Azure Active Directory", "00000002-0000-0000-c000-000000000000")
DRS = ("Device Registration Service", "01cb2876-7ebd-4aa4-9cc9-d28bd4d359a9")
ARM = ("Windows Azure Service Management API", "797f4846-ba00-4fd7-ba43-dac1f8f63013")

APP_EXO = ("Office 365 Exchange Online", "00000002-0000-0ff1-ce00-000000000000")
APP_AZCLI = ("Microsoft Azure CLI", "04b07795-8ddb-461a-bbee-02f9e1bf7b46")
APP_AZPS = ("Microsoft Azure PowerShell", "1950a258-227b-4e31-a9cf-717495945fc2")

MODERN_DESKTOP = "Mobile Apps and Desktop clients"
BROWSER = "Browser"

# (key, displayName, appId, device, weight, ((resource, weight), ...))
# device: "desktop" (desktop OS), "phone", "browser" (desktop browser),
#         "broker" (Windows WAM), "any" (desktop or phone), "admin" (admins only)
BACKGROUND_APPS = (
    ("office", "Microsoft Office", "d3590ed6-52b3-4102-aeff-aad2292ab01c", "any", 14,
     ((GRAPH, 5), (EXO, 3), (SPO, 3))),
    ("outlook", "Microsoft Outlook", "5d661950-3475-41cd-a2c3-d671a3162bc1", "desktop", 12,
     ((EXO, 6), (GRAPH, 2))),
    ("teams", "Microsoft Teams", "1fec8e78-bce4-4aaf-ab1b-5451cc387264", "any", 16,
     ((TEAMS_SVC, 6), (GRAPH, 3), (SKYPE, 2), (SPO, 1))),
    ("teamsweb", "Microsoft Teams Web Client", "5e3ce6c0-2b1f-4285-8d4b-75ee78787346",
     "browser", 4, ((TEAMS_SVC, 3), (GRAPH, 1))),
    ("outlookmobile", "Outlook Mobile", "27922004-5251-4030-b22d-91ecd9a37ea4", "phone", 10,
     ((EXO, 5), (GRAPH, 1))),
    ("onedrive", "OneDrive SyncEngine", "ab9b8c07-8f02-4f72-87fa-80105867a763", "desktop", 10,
     ((SPO, 1),)),
    ("edge", "Microsoft Edge", "ecd6b820-32c2-49b6-98a6-444530e5a77a", "browser", 8,
     ((GRAPH, 1),)),
    ("broker", "Microsoft Authentication Broker", "29d9ed98-a469-4536-ade2-f981bc1d605e",
     "broker", 10, ((AAD, 2), (GRAPH, 2), (DRS, 1))),
    ("officehome", "OfficeHome", "4765445b-32c6-49b0-83e6-1d93765276ca", "browser", 5,
     ((GRAPH, 2), (SPO, 1))),
    ("portal", "Microsoft Intune Company Portal", "9ba1a5c7-f17a-4de9-a1f1-6178c8d51223",
     "phone", 3, ((GRAPH, 1),)),
    ("azcli", APP_AZCLI[0], APP_AZCLI[1], "admin", 6, ((ARM, 3), (GRAPH, 1))),
)

_WIN_EDGE = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
             "(KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0")
_MAC_EDGE = ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 "
             "(KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0")
_MAC_SAFARI = ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 "
               "(KHTML, like Gecko) Version/18.1 Safari/605.1.15")
_WIN_OFFICE = "Microsoft Office/16.0 (Windows NT 10.0; Microsoft %s 16.0.18129; Pro)"
_USER_AGENTS = {
    ("office", "windows"): _WIN_OFFICE % "Word",
    ("office", "mac"): "Microsoft Office/16.91 (Macintosh; Mac OS X 15.1; Microsoft Word 16.91)",
    ("office", "ios"): "Microsoft Office/16.0 (iPhone; iOS 18.1; Microsoft 365 2.91)",
    ("office", "android"): "Microsoft Office/16.0 (Android 14; Microsoft 365 16.0.18129)",
    ("outlook", "windows"): _WIN_OFFICE % "Outlook",
    ("outlook", "mac"):
        "Microsoft Office/16.91 (Macintosh; Mac OS X 15.1; Microsoft Outlook 16.91)",
    ("teams", "windows"): _WIN_EDGE + " Teams/24295.605.3225.8804/49",
    ("teams", "mac"): _MAC_EDGE + " Teams/24295.606.3238.6194/49",
    ("teams", "ios"): "Teams/6.24.2 (iPhone; iOS 18.1)",
    ("teams", "android"): "Teams/1416/1.0.0.2024223903 (Android 14)",
    ("teamsweb", "windows"): _WIN_EDGE,
    ("teamsweb", "mac"): _MAC_SAFARI,
    ("outlookmobile", "ios"): "Outlook-iOS/2.0",
    ("outlookmobile", "android"): "Outlook-Android/2.0",
    ("onedrive", "windows"):
        "Microsoft SkyDriveSync 24.226.1110.0004 ship; Windows NT 10.0 (26100)",
    ("onedrive", "mac"): "Microsoft SkyDriveSync 24.226.1110.0004 ship; Mac OS X 15.1",
    ("edge", "windows"): _WIN_EDGE,
    ("edge", "mac"): _MAC_EDGE,
    ("broker", "windows"): "Windows-AzureAD-Authentication-Provider/1.0",
    ("officehome", "windows"): _WIN_EDGE,
    ("officehome", "mac"): _MAC_SAFARI,
    ("portal", "ios"): "CompanyPortal/5.2411.0 (iPhone; iOS 18.1)",
    ("portal", "android"): "CompanyPortal/5.0.6412.0 (Android 14)",
    ("azcli", "windows"): "python/3.12.7 (Windows-11-10.0.26100-SP0) azure-cli/2.67.0",
    ("azcli", "mac"): "python/3.12.7 (macOS-15.1-arm64-arm-64bit) azure-cli/2.67.0",
}


def _policy(name):
    return (_stable_uuid("policy", name), name)


POL_COMPLIANT = _policy("Require compliant device")
POL_LEGACY = _policy("Block legacy authentication")
POL_ADMIN_MFA = _policy("Require MFA for Azure management")
POL_RISK = _policy("Block high sign-in risk")


def _applied(*pairs):
    return [{"id": pol[0], "displayName": pol[1], "result": result}
            for pol, result in pairs]


# city, state, countryOrRegion, latitude, longitude
LOCATIONS = {
    "seattle": ("Seattle", "Washington", "US", 47.6062, -122.3321),
    "redmond": ("Redmond", "Washington", "US", 47.6740, -122.1215),
    "bellevue": ("Bellevue", "Washington", "US", 47.6101, -122.2015),
    "london": ("London", "London", "GB", 51.5072, -0.1276),
    "reading": ("Reading", "Reading", "GB", 51.4543, -0.9781),
    "munich": ("Munich", "Bayern", "DE", 48.1351, 11.5820),
    "berlin": ("Berlin", "Berlin", "DE", 52.5200, 13.4050),
    # scenario locations
    "moscow": ("Moscow", "Moscow", "RU", 55.7558, 37.6173),
    "ashburn": ("Ashburn", "Virginia", "US", 39.0438, -77.4874),
    "amsterdam": ("Amsterdam", "Noord-Holland", "NL", 52.3676, 4.9041),
    "saopaulo": ("S\u00e3o Paulo", "Sao Paulo", "BR", -23.5505, -46.6333),
    "singapore": ("Singapore", "Singapore", "SG", 1.3521, 103.8198),
    "lagos": ("Lagos", "Lagos", "NG", 6.5244, 3.3792),
    "dublin": ("Dublin", "Dublin", "IE", 53.3498, -6.2603),
    "valdor": ("Val-d'Or", "Qu\u00e9bec", "CA", 48.0975, -77.7828),
    "frankfurt": ("Frankfurt am Main", "Hessen", "DE", 50.1109, 8.6821),
    "bucharest": ("Bucharest", "Bucuresti", "RO", 44.4268, 26.1025),
    "istanbul": ("Istanbul", "Istanbul", "TR", 41.0082, 28.9784),
    # an address Entra could not place: every field empty
    "unknown": ("", "", "", None, None),
}

_NAMES = (
    "Adele Vance", "Alex Wilber", "Allan Deyoung", "Christie Cline", "Debra Berger",
    "Diego Siciliani", "Emily Braun", "Enrico Cattaneo", "Gerhart Moller",
    "Grady Archie", "Henrietta Mueller", "Irvin Sayers", "Isaiah Langer",
    "Johanna Lorenz", "Joni Sherman", "Lee Gu", "Lidia Holloway", "Lynne Robbins",
    "Megan Bowen", "Miriam Graham", "Nestor Wilke", "Patti Fernandez",
    "Pradeep Gupta", "Aisha Khan", "Bruno Costa", "Carla Mendes", "Dmitri Volkov",
    "Elena Rossi", "Farid Haddad", "Grace Okafor", "Hiro Tanaka", "Ingrid Larsen",
    "Jamal Carter", "Kenji Mori", "Laura Schmidt", "Marco Bianchi", "Nadia Petrova",
    "Oliver Hughes", "Priya Nair", "Quentin Dubois", "Rosa Alvarez", "Samuel Osei",
    "Tanja Becker", "Umar Siddiqui", "Valentina Ruiz", "William Chen",
    "Xavier Moreau", "Yusuf Demir", "Zoe Fischer", "Anna Kowalski", "Ben Murphy",
    "Chloe Martin", "David Cohen", "Eva Novak", "Felix Wagner", "Hannah Price",
    "Ivan Horvat", "Julia Weber", "Kevin Brennan", "Laila Ahmadi",
)
_ADMINS = ("allan.deyoung", "isaiah.langer", "miriam.graham", "william.chen", "kenji.mori")

# IPs used by scenarios: never handed out to background users
SPRAY_IP = "198.51.100.7"
BRUTE_IP = "203.0.113.66"
BILLING_IP = "203.0.113.200"
HR_IP = "203.0.113.201"
RISKY_IPS = {"megan.bowen": ("2001:db8:bad:7::1", "amsterdam"),
             "alex.wilber": ("192.0.2.201", "saopaulo"),
             "diego.siciliani": ("198.51.100.150", "singapore"),
             "pradeep.gupta": ("203.0.113.150", "lagos")}
HOSTILE_GUEST_IP = "192.0.2.66"
HOSTILE_CITY_IP = "198.51.100.77"
SCANNER_IP = "198.51.100.33"
# personal (non-compliant) phones on a mobile network, CA scenario
CA_PHONE_IPS = {"henrietta.mueller": "198.51.100.212", "johanna.lorenz": "2001:db8:77:1::42"}
# threat scenarios 8-11 (issue 12). Above .199, outside the pool of the background users'
# IPs (192.0.2.10-199 ...), so reserving them left every user's IPs as they were.
DEVICE_CODE_IP = "198.51.100.230"
ROPC_IP = "203.0.113.230"
REPLAY_IP = "192.0.2.230"
SLOW_SPRAY_IP = "198.51.100.240"
_RESERVED_IPS = {SPRAY_IP, BRUTE_IP, BILLING_IP, HR_IP, HOSTILE_GUEST_IP,
                 HOSTILE_CITY_IP, SCANNER_IP, DEVICE_CODE_IP, ROPC_IP, REPLAY_IP,
                 SLOW_SPRAY_IP}
_RESERVED_IPS |= set(CA_PHONE_IPS.values()) | {ip for ip, _ in RISKY_IPS.values()}


def _build_users():
    rng = random.Random(_DIRECTORY_SEED)
    pool = ["192.0.2.%d" % i for i in range(10, 200)]
    pool += ["198.51.100.%d" % i for i in range(10, 200)]
    pool += ["203.0.113.%d" % i for i in range(10, 200)]
    pool = [ip for ip in pool if ip not in _RESERVED_IPS]
    rng.shuffle(pool)
    homes = ("seattle", "redmond", "bellevue", "london", "reading", "munich", "berlin")
    home_weights = (5, 6, 3, 5, 2, 4, 2)
    users = []
    for n, name in enumerate(_NAMES):
        local = name.lower().replace(" ", ".")
        upn = "%s@%s" % (local, DOMAIN)
        ips = [pool.pop()]
        if rng.random() < 0.5:
            if rng.random() < 0.4:
                ips.append("2001:db8:%x:%x::%x" % (0x10 + n, rng.randrange(1, 0xffff),
                                                    rng.randrange(1, 0xfff)))
            else:
                ips.append(pool.pop())
        users.append({
            "key": local,
            "name": name,
            "upn": upn,
            "id": _stable_uuid("user", upn),
            "ips": tuple(ips),
            "location": rng.choices(homes, home_weights)[0],
            "desktop": "windows" if rng.random() < 0.75 else "mac",
            "phone": "ios" if rng.random() < 0.55 else "android",
            "weight": rng.choice((1, 1, 2, 2, 2, 3, 3, 4, 5)),
            "mfa": rng.choice((0.05, 0.1, 0.2, 0.3, 0.5)),
            "admin": local in _ADMINS,
        })
    return tuple(users)


USERS = _build_users()
_BY_KEY = {u["key"]: u for u in USERS}
SCANNER = {
    "key": "scan.floor3", "name": "Scanner Floor 3",
    "upn": "scan.floor3@" + DOMAIN, "id": _stable_uuid("user", "scan.floor3@" + DOMAIN),
    "ips": (SCANNER_IP,), "location": "redmond",
}
# users of the brute-force and CA scenarios: their only failures are the scenario's
QUIET_USERS = {"adele.vance": "brute_force", "henrietta.mueller": "ca_failure",
               "johanna.lorenz": "ca_failure", "christie.cline": "ca_failure",
               "debra.berger": "ca_failure"}
SPRAY_TARGETS = tuple(u["upn"] for u in USERS if u["key"] not in QUIET_USERS)[:40]

BILLING_NAME = "Contoso Billing Sync"
BILLING_APP_ID = _stable_uuid("app", BILLING_NAME)
BILLING_SP_ID = _stable_uuid("sp", BILLING_NAME)
HR_NAME = "Contoso HR Connector"
HR_APP_ID = _stable_uuid("app", HR_NAME)
HR_SP_ID = _stable_uuid("sp", HR_NAME)
REPORTS_APP_NAME = "Contoso Reports | total=999\nOK - injected"
REPORTS_APP_ID = _stable_uuid("app", "Contoso Reports")

# Failure texts (as Entra writes them)
REASONS = {
    50053: "The account is locked, you've tried to sign in too many times with an "
           "incorrect user ID or password.",
    50055: "The password is expired.",
    50058: "Session information is not sufficient for single-sign-on.",
    50076: "Due to a configuration change made by your administrator, or because you "
           "moved to a new location, you must use multi-factor authentication to access "
           "the resource.",
    50126: "Error validating credentials due to invalid username or password.",
    50140: "This error occurred due to 'Keep me signed in' interrupt when the user was "
           "signing in.",
    50199: "For security reasons, user confirmation is required for this request. Please "
           "repeat the request allowing user interaction.",
    53003: "Access has been blocked by Conditional Access policies. The access policy "
           "does not allow token issuance.",
    70044: "The session has expired or is invalid due to sign-in frequency checks by "
           "conditional access.",
    700082: "The refresh token has expired due to inactivity. The token was issued on "
            "2026-08-21 and was inactive for 90.00:00:00.",
    7000215: "Invalid client secret provided. Ensure the secret being sent in the "
             "request is the client secret value, not the client secret ID, for a "
             "secret added to app '%s'." % BILLING_APP_ID,
}
DETAILS = {
    50126: "The user didn't enter the right credentials. It's expected to see some "
           "number of these errors in your logs due to users making mistakes.",
    50053: "The account is locked out because of too many failed sign-in attempts.",
    53003: "The user was blocked by Conditional Access.",
}
# background failure codes and weights
_BG_FAILURES = ((50140, 3), (50058, 3), (70044, 2), (700082, 2), (50126, 1), (50076, 1))
BACKGROUND_FAILURE_RATE = 0.025

# Scenario windows as fractions of the time range
WINDOWS = {
    "spray": (0.10, 0.20),
    "brute_force": (0.25, 0.30),
    "legacy": (0.30, 0.60),
    "risky": (0.60, 0.70),
    "ca_failure": (0.70, 0.85),
    "sp_ok": (0.00, 0.45),
    "sp_failing": (0.50, 0.95),
    "sp_healthy": (0.00, 1.00),
    "hostile": (0.96, 0.99),
    "device_code": (0.01, 0.09),
    "ropc": (0.20, 0.25),
    "token_replay": (0.86, 0.95),
    "slow_spray": (0.86, 0.95),
}
LEGACY_USERS = (("lee.gu", "Exchange ActiveSync", 24),
                ("nestor.wilke", "Exchange ActiveSync", 18),
                ("joni.sherman", "IMAP4", 14),
                ("scan.floor3", "Authenticated SMTP", 12),
                ("grady.archie", "POP3", 8))

# Threat scenarios of issue 12 (8-11): users none of scenarios 1-7 names
DEVICE_CODE_VICTIM = "chloe.martin"
DEVICE_CODE_DECLINED = "david.cohen"
ROPC_USER = "william.chen"
REPLAY_USER = "xavier.moreau"
NO_COUNTRY_USER = "yusuf.demir"
# in the order of their attempts; (user, errorCode): 9 users with credential errors and
# one whose password was right but who was asked for MFA (50076, no credential error)
SLOW_SPRAY = (("zoe.fischer", 50126), ("anna.kowalski", 50126), ("ben.murphy", 50126),
              ("eva.novak", 50126), ("kevin.brennan", 50076), ("felix.wagner", 50126),
              ("hannah.price", 50126), ("laila.ahmadi", 50055), ("ivan.horvat", 50126),
              ("julia.weber", 50126))
# errorCodes of a wrong or unusable credential (the threats check's spray rule)
CREDENTIAL_ERRORS = (50034, 50053, 50055, 50056, 50057, 50126)
SPRAY_USERS = 10  # default --spray-users


def _upn(key):
    return key + "@" + DOMAIN


SCENARIOS = {
    "spray": {"ip": SPRAY_IP, "location": ("Moscow", "Moscow", "RU"),
              "users": SPRAY_TARGETS, "attempts": 120, "error_code": 50126,
              "client_apps": ("Other clients", "IMAP4"), "protocol": "ropc",
              "window": WINDOWS["spray"]},
    "brute_force": {"ip": BRUTE_IP, "upn": "adele.vance@" + DOMAIN,
                    "user_id": _stable_uuid("user", "adele.vance@" + DOMAIN),
                    "failures": 30, "error_codes": (50126,) * 25 + (50053,) * 5,
                    "user_agent": "python-requests/2.31.0",
                    "window": WINDOWS["brute_force"]},
    "legacy": {"users": {k + "@" + DOMAIN: (app, n) for k, app, n in LEGACY_USERS},
               "successes": sum(n for _, _, n in LEGACY_USERS),
               "window": WINDOWS["legacy"]},
    "risky": {"records": 22, "risky": 20,
              "users": {"megan.bowen@" + DOMAIN: 6, "alex.wilber@" + DOMAIN: 6,
                        "diego.siciliani@" + DOMAIN: 4, "pradeep.gupta@" + DOMAIN: 4,
                        "isaiah.langer@" + DOMAIN: 0},
              "window": WINDOWS["risky"]},
    "ca_failure": {"records": 24, "error_code": 53003,
                   "users": {"henrietta.mueller@" + DOMAIN: 8,
                             "johanna.lorenz@" + DOMAIN: 8,
                             "christie.cline@" + DOMAIN: 4,
                             "debra.berger@" + DOMAIN: 4},
                   "policies": ("Require compliant device", "Block legacy authentication"),
                   "window": WINDOWS["ca_failure"]},
    "service_principal": {"name": BILLING_NAME, "app_id": BILLING_APP_ID,
                          "sp_id": BILLING_SP_ID, "ip": BILLING_IP,
                          "successes": 6, "failures": 16, "error_code": 7000215,
                          "window": WINDOWS["sp_failing"],
                          "healthy": {"name": HR_NAME, "sp_id": HR_SP_ID, "ip": HR_IP,
                                      "successes": 12}},
    "hostile": {"records": 3, "window": WINDOWS["hostile"]},
    "device_code": {"ip": DEVICE_CODE_IP,
                    "location": ("Frankfurt am Main", "Hessen", "DE"),
                    "upn": _upn(DEVICE_CODE_VICTIM), "successes": 4,
                    "app": "Microsoft Authentication Broker", "protocol": "deviceCode",
                    "declined": {"upn": _upn(DEVICE_CODE_DECLINED), "error_code": 50199},
                    "records": 5, "window": WINDOWS["device_code"]},
    "ropc": {"ip": ROPC_IP, "upn": _upn(ROPC_USER), "successes": 4,
             "app": APP_AZCLI[0], "client_app": MODERN_DESKTOP, "protocol": "ropc",
             "window": WINDOWS["ropc"]},
    "token_replay": {"ip": REPLAY_IP, "location": ("Bucharest", "Bucuresti", "RO"),
                     "upn": _upn(REPLAY_USER), "home_successes": 2, "replays": 4,
                     "token": "refreshToken",
                     "no_country": {"upn": _upn(NO_COUNTRY_USER), "home_successes": 1,
                                    "unplaced_successes": 1},
                     "records": 8, "window": WINDOWS["token_replay"]},
    "slow_spray": {"ip": SLOW_SPRAY_IP, "location": ("Istanbul", "Istanbul", "TR"),
                   "users": {_upn(k): code for k, code in SLOW_SPRAY},
                   "attempts": len(SLOW_SPRAY),
                   "credential_users": sum(1 for _, c in SLOW_SPRAY
                                           if c in CREDENTIAL_ERRORS),
                   "window": WINDOWS["slow_spray"]},
}

# What the threats check (check_entra_threats) reports over the whole default sample
# (start 2026-11-20T08:00:00Z, 60 minutes, seed 42, count 2500, event type
# nonInteractiveUser, --spray-users 10): the entities of each of its five counts that need
# no history (IPs, or users by UPN). See the module docstring.
SCENARIOS["threats"] = {
    "spray_users": SPRAY_USERS,
    "credential_errors": CREDENTIAL_ERRORS,
    "spray_ips": (SPRAY_IP,),
    "device_code_users": (_upn(DEVICE_CODE_VICTIM),),
    "ropc_users": tuple(sorted([_upn(k) for k, _, _ in LEGACY_USERS]
                               + [_upn(ROPC_USER)])),
    "legacy_success_users": tuple(sorted(_upn(k) for k, _, _ in LEGACY_USERS)),
    "multi_country_users": tuple(sorted(
        [_upn(k) for k in RISKY_IPS] + [_upn("lidia.holloway"), _upn(REPLAY_USER)])),
}


# --------------------------------------------------------------------------
# Record construction
# --------------------------------------------------------------------------

def _status(code, details=None):
    if code == 0:
        return {"errorCode": 0, "failureReason": "Other.", "additionalDetails": details}
    return {"errorCode": code, "failureReason": REASONS.get(code, "Other."),
            "additionalDetails": details if details is not None else DETAILS.get(code)}


def _location(key):
    loc = LOCATIONS[key]
    return {"city": loc[0], "state": loc[1], "countryOrRegion": loc[2],
            "geoCoordinates": {"latitude": loc[3], "longitude": loc[4]}}


def _record(correlation_id, user=None, app=None, resource=None, ip="", client_app="",
            code=0, location="", auth="singleFactorAuthentication", ca="notApplied",
            policies=(), risk_level="none", risk_state="none", risk_events=(),
            protocol="none", token="none", cross="none", credential="none", agent="",
            event_type="nonInteractiveUser", sp=None, details=None,
            home_tenant=TENANT_ID):
    """One signIn dict; ``id`` and ``createdDateTime`` are filled in by generate()."""
    if sp is not None:
        display, upn, user_id = None, None, ""
        sp_id, sp_name = sp
    else:
        display, upn, user_id = user
        sp_id, sp_name = "", None
    return {
        "id": None,
        "createdDateTime": None,
        "userDisplayName": display,
        "userPrincipalName": upn,
        "userId": user_id,
        "appId": app[1],
        "appDisplayName": app[0],
        "resourceDisplayName": resource[0],
        "resourceId": resource[1],
        "servicePrincipalId": sp_id,
        "servicePrincipalName": sp_name,
        "ipAddress": ip,
        "clientAppUsed": client_app,
        "isInteractive": False,
        "signInEventTypes": [event_type],
        "status": _status(code, details),
        "location": _location(location),
        "authenticationRequirement": auth,
        "conditionalAccessStatus": ca,
        "appliedConditionalAccessPolicies": list(policies),
        "riskLevelDuringSignIn": risk_level,
        "riskState": risk_state,
        "riskEventTypes_v2": list(risk_events),
        "authenticationProtocol": protocol,
        "incomingTokenType": token,
        "crossTenantAccessType": cross,
        "clientCredentialType": credential,
        "userAgent": agent,
        "correlationId": correlation_id,
        "homeTenantId": home_tenant,
        "resourceTenantId": TENANT_ID,
    }


def _who(user):
    return (user["name"], user["upn"], user["id"])


def _random_uuid(rng):
    return _uuid4_str(rng.getrandbits(128))


def _spread(rng, start, span, window, k):
    """k ascending epoch seconds inside window (fractions of span)."""
    lo = window[0] * span
    step = (window[1] - window[0]) * span / k
    return [start + int(lo + (i + 0.25 + 0.5 * rng.random()) * step) for i in range(k)]


def _scenario_records(rng, start, span):
    """All scenario records as (epoch, dict), unsorted."""
    out = []
    cid = lambda: _random_uuid(rng)  # noqa: E731

    # 1. password spray
    times = iter(_spread(rng, start, span, WINDOWS["spray"], 120))
    for rnd in range(3):
        client = "IMAP4" if rnd == 2 else "Other clients"
        for upn in SPRAY_TARGETS:
            user = _BY_KEY[upn.split("@")[0]]
            out.append((next(times), _record(
                cid(), _who(user), APP_EXO, EXO, SPRAY_IP, client, 50126, "moscow",
                protocol="ropc", agent="BAV2ROPC")))

    # 2. brute force on adele
    adele = _BY_KEY["adele.vance"]
    for i, t in enumerate(_spread(rng, start, span, WINDOWS["brute_force"], 30)):
        out.append((t, _record(
            cid(), _who(adele), APP_AZPS, ARM, BRUTE_IP, MODERN_DESKTOP,
            50126 if i < 25 else 50053, "ashburn", protocol="ropc",
            agent="python-requests/2.31.0")))

    # 3. legacy protocols
    legacy_agents = {"Exchange ActiveSync": ("Apple-iPhone15C3/2201.241",
                                             "Android-Mail/2024.10.13"),
                     "IMAP4": ("",), "Authenticated SMTP": ("",), "POP3": ("",)}
    legacy = []
    for key, client, n in LEGACY_USERS:
        user = SCANNER if key == "scan.floor3" else _BY_KEY[key]
        agent = legacy_agents[client][len(key) % len(legacy_agents[client])]
        legacy += [(user, client, agent)] * n
    rng.shuffle(legacy)
    for t, (user, client, agent) in zip(
            _spread(rng, start, span, WINDOWS["legacy"], len(legacy)), legacy):
        out.append((t, _record(
            cid(), _who(user), APP_EXO, EXO, user["ips"][0], client, 0, user["location"],
            policies=_applied((POL_LEGACY, "notApplied")), protocol="ropc", agent=agent)))

    # 4. risky sign-ins
    risky = []
    for key, n, level, state, events in (
            ("megan.bowen", 6, "high", "atRisk", ("anonymizedIPAddress", "unfamiliarFeatures")),
            ("alex.wilber", 6, "medium", "atRisk", ("unfamiliarFeatures",)),
            ("diego.siciliani", 4, "low", "atRisk", ("unlikelyTravel",)),
            ("pradeep.gupta", 2, "high", "confirmedCompromised", ("anomalousToken",)),
            ("pradeep.gupta", 2, "none", "confirmedCompromised", ("anomalousToken",)),
            ("isaiah.langer", 1, "hidden", "none", ()),
            ("isaiah.langer", 1, "none", "dismissed", ())):
        risky += [(key, level, state, events)] * n
    rng.shuffle(risky)
    for t, (key, level, state, events) in zip(
            _spread(rng, start, span, WINDOWS["risky"], len(risky)), risky):
        user = _BY_KEY[key]
        ip, loc = RISKY_IPS.get(key, (user["ips"][0], user["location"]))
        app = BACKGROUND_APPS[1] if key != "megan.bowen" else BACKGROUND_APPS[0]
        resource = EXO if app[0] == "outlook" else GRAPH
        out.append((t, _record(
            cid(), _who(user), (app[1], app[2]), resource, ip, MODERN_DESKTOP, 0, loc,
            policies=_applied((POL_RISK, "notEnabled")), risk_level=level,
            risk_state=state, risk_events=events, token="refreshToken",
            agent=_USER_AGENTS[(app[0], "windows")])))

    # 5. Conditional Access failures
    ca = ([("henrietta.mueller", "teams", "android")] * 8
          + [("johanna.lorenz", "outlookmobile", "ios")] * 8
          + [("christie.cline", "Exchange ActiveSync", "")] * 4
          + [("debra.berger", "IMAP4", "")] * 4)
    rng.shuffle(ca)
    apps = {a[0]: a for a in BACKGROUND_APPS}
    for t, (key, what, phone) in zip(
            _spread(rng, start, span, WINDOWS["ca_failure"], len(ca)), ca):
        user = _BY_KEY[key]
        if what in apps:
            app = apps[what]
            resource = TEAMS_SVC if what == "teams" else EXO
            rec = _record(
                cid(), _who(user), (app[1], app[2]), resource, CA_PHONE_IPS[key],
                MODERN_DESKTOP, 53003, user["location"], ca="failure",
                policies=_applied((POL_COMPLIANT, "failure"), (POL_LEGACY, "notApplied")),
                token="refreshToken", agent=_USER_AGENTS[(what, phone)])
        else:
            agent = "Android-Mail/2024.10.13" if what == "Exchange ActiveSync" else ""
            rec = _record(
                cid(), _who(user), APP_EXO, EXO, user["ips"][0], what, 53003,
                user["location"], ca="failure",
                policies=_applied((POL_LEGACY, "failure"), (POL_COMPLIANT, "notApplied")),
                protocol="ropc", agent=agent)
        out.append((t, rec))

    # 6. service principals
    billing = ((BILLING_NAME, BILLING_APP_ID), (BILLING_SP_ID, BILLING_NAME))
    for window, n, code in ((WINDOWS["sp_ok"], 6, 0), (WINDOWS["sp_failing"], 16, 7000215)):
        for t in _spread(rng, start, span, window, n):
            out.append((t, _record(
                cid(), app=billing[0], resource=GRAPH, ip=BILLING_IP, code=code,
                location="dublin", credential="clientSecret",
                event_type="servicePrincipal", sp=billing[1])))
    for t in _spread(rng, start, span, WINDOWS["sp_healthy"], 12):
        out.append((t, _record(
            cid(), app=(HR_NAME, HR_APP_ID), resource=GRAPH, ip=HR_IP, location="amsterdam",
            credential="certificate", event_type="servicePrincipal", sp=(HR_SP_ID, HR_NAME))))

    # 7. hostile-but-realistic strings (exactly 3 records)
    t1, t2, t3 = _spread(rng, start, span, WINDOWS["hostile"], 3)
    guest_upn = "mallory_fabrikam.example#EXT#@" + DOMAIN
    out.append((t1, _record(
        cid(), ("Mallory | <script>alert(1)</script>", guest_upn,
                _stable_uuid("user", guest_upn)),
        (BACKGROUND_APPS[0][1], BACKGROUND_APPS[0][2]), GRAPH, HOSTILE_GUEST_IP,
        MODERN_DESKTOP, 50126, "berlin", protocol="none", cross="b2bCollaboration",
        agent=_USER_AGENTS[("office", "windows")], home_tenant=FABRIKAM_TENANT_ID)))
    irvin = _BY_KEY["irvin.sayers"]
    out.append((t2, _record(
        cid(), _who(irvin), (REPORTS_APP_NAME, REPORTS_APP_ID), GRAPH, irvin["ips"][0],
        BROWSER, 0, irvin["location"], ca="success",
        policies=_applied((POL_COMPLIANT, "success")), token="refreshToken",
        agent=_WIN_EDGE)))
    lidia = _BY_KEY["lidia.holloway"]
    out.append((t3, _record(
        cid(), _who(lidia), (BACKGROUND_APPS[6][1], BACKGROUND_APPS[6][2]), GRAPH,
        HOSTILE_CITY_IP, BROWSER, 0, "valdor", token="refreshToken",
        agent=_WIN_EDGE + " <img src=x onerror=alert(1)>")))
    return out


def _threat_records(rng, start, span):
    """The threat scenarios 8-11 (issue 12) as (epoch, dict), unsorted.

    They draw from their own ``rng``, so that adding them left the times of scenarios 1-7
    and the background's choices as they were."""
    out = []
    cid = lambda: _random_uuid(rng)  # noqa: E731
    office, broker = BACKGROUND_APPS[0], BACKGROUND_APPS[7]
    not_applied = _applied((POL_COMPLIANT, "notApplied"), (POL_RISK, "notEnabled"))

    # 8. device-code phishing: the attacker redeems the codes of two users it phished;
    # david.cohen declined the confirmation, chloe.martin signed in (with MFA)
    plan = ([(DEVICE_CODE_DECLINED, 50199, GRAPH)]
            + [(DEVICE_CODE_VICTIM, 0, res) for res in (GRAPH, DRS, AAD, GRAPH)])
    for t, (key, code, resource) in zip(
            _spread(rng, start, span, WINDOWS["device_code"], len(plan)), plan):
        out.append((t, _record(
            cid(), _who(_BY_KEY[key]), (broker[1], broker[2]), resource, DEVICE_CODE_IP,
            MODERN_DESKTOP, code, "frankfurt",
            "multiFactorAuthentication" if code == 0 else "singleFactorAuthentication",
            policies=not_applied, protocol="deviceCode", token="none",
            agent="python-requests/2.32.3")))

    # 9. ROPC through a modern client: a build agent runs `az login -u ... -p ...`
    william = _BY_KEY[ROPC_USER]
    for t, resource in zip(_spread(rng, start, span, WINDOWS["ropc"], 4),
                           (ARM, ARM, GRAPH, ARM)):
        out.append((t, _record(
            cid(), _who(william), APP_AZCLI, resource, ROPC_IP, MODERN_DESKTOP, 0,
            william["location"], policies=_applied((POL_ADMIN_MFA, "notApplied")),
            protocol="ropc", token="none",
            agent="python/3.12.7 (Linux-6.8.0-1017-azure-x86_64-with-glibc2.39) "
                  "azure-cli/2.67.0")))

    # 10. a refresh token of xavier.moreau replayed from a VPS in another country, while
    # he works from home; yusuf.demir: one sign-in that Entra could not place (empty
    # location), which is no second country
    xavier, yusuf = _BY_KEY[REPLAY_USER], _BY_KEY[NO_COUNTRY_USER]
    office_app = (office[1], office[2])
    teams = BACKGROUND_APPS[2]
    plan = (("home", GRAPH), ("replay", EXO), ("yusuf", yusuf["ips"][0]), ("replay", GRAPH),
            ("home", EXO), ("yusuf", yusuf["ips"][1]), ("replay", SPO), ("replay", GRAPH))
    for t, (what, arg) in zip(
            _spread(rng, start, span, WINDOWS["token_replay"], len(plan)), plan):
        if what == "yusuf":
            place = yusuf["location"] if arg == yusuf["ips"][0] else "unknown"
            out.append((t, _record(
                cid(), _who(yusuf), (teams[1], teams[2]), TEAMS_SVC, arg, MODERN_DESKTOP,
                0, place, ca="success",
                policies=_applied((POL_COMPLIANT, "success"), (POL_RISK, "notEnabled")),
                token="refreshToken", agent=_USER_AGENTS[("teams", "windows")])))
            continue
        home = what == "home"
        out.append((t, _record(
            cid(), _who(xavier), office_app, arg, xavier["ips"][0] if home else REPLAY_IP,
            MODERN_DESKTOP, 0, xavier["location"] if home else "bucharest",
            "multiFactorAuthentication", policies=not_applied, token="refreshToken",
            agent=_USER_AGENTS[("office", "windows")])))

    # 11. a slow password spray that stays below --spray-users: 10 users, but only 9
    # with a credential error (kevin.brennan's password was right: 50076, MFA required)
    for t, (key, code) in zip(
            _spread(rng, start, span, WINDOWS["slow_spray"], len(SLOW_SPRAY)), SLOW_SPRAY):
        out.append((t, _record(
            cid(), _who(_BY_KEY[key]), (office[1], office[2]), GRAPH, SLOW_SPRAY_IP,
            MODERN_DESKTOP, code, "istanbul", policies=not_applied, protocol="ropc",
            agent="Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
                  "(KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36")))
    return out


def _background(rng, start, span, n):
    """n background records as (epoch, dict), newest first."""
    users = USERS
    cum_users, acc = [], 0
    for u in users:
        acc += u["weight"]
        cum_users.append(acc)
    apps_all = BACKGROUND_APPS
    cum_admin, cum_normal, a1, a2 = [], [], 0, 0
    for app in apps_all:
        a1 += app[4]
        a2 += 0 if app[3] == "admin" else app[4]
        cum_admin.append(a1)
        cum_normal.append(a2)
    app_resources = {}
    for app in apps_all:
        res, weights = zip(*app[5])
        app_resources[app[0]] = (res, weights)
    fail_codes, fail_weights = zip(*_BG_FAILURES)
    # Scenario users: no background failures at all, and no background sign-in
    # inside their scenario window, so their failure runs are exactly the scenario's.
    quiet = {}
    for key, window in QUIET_USERS.items():
        quiet[key] = (start + int(WINDOWS[window][0] * span),
                      start + int(WINDOWS[window][1] * span) + 1)
    last_failed = set()  # users whose previous background sign-in failed
    success_compliant = _applied((POL_COMPLIANT, "success"), (POL_RISK, "notEnabled"))
    not_applied = _applied((POL_COMPLIANT, "notApplied"), (POL_RISK, "notEnabled"))
    admin_mfa = _applied((POL_ADMIN_MFA, "success"), (POL_RISK, "notEnabled"))
    random_ = rng.random
    choices = rng.choices

    for j in range(n):
        t = start + int(span * (n - 1 - j + random_()) / n)
        user = choices(users, cum_weights=cum_users)[0]
        while user["key"] in quiet and quiet[user["key"]][0] <= t < quiet[user["key"]][1]:
            user = choices(users, cum_weights=cum_users)[0]
        app = choices(apps_all, cum_weights=cum_admin if user["admin"] else cum_normal)[0]
        key, device = app[0], app[3]
        res, weights = app_resources[key]
        resource = res[0] if len(res) == 1 else choices(res, weights)[0]

        if device == "phone" or (device == "any" and random_() < 0.3):
            os_ = user["phone"]
        else:
            os_ = user["desktop"]
        if device == "broker" and os_ != "windows":
            agent = "Mozilla/5.0 (compatible; MSAL 1.0) PKeyAuth/1.0"
        else:
            agent = _USER_AGENTS.get((key, os_), "")
        client = BROWSER if device == "browser" else MODERN_DESKTOP
        if os_ == "windows" and (device == "broker" or random_() < 0.5):
            token = "primaryRefreshToken"
        elif device == "browser" and random_() < 0.5:
            token = "none"
        else:
            token = "refreshToken"

        ips = user["ips"]
        ip = ips[0] if len(ips) == 1 or random_() < 0.7 else ips[1]

        fails = random_() < BACKGROUND_FAILURE_RATE
        if fails and (user["key"] in quiet or user["key"] in last_failed):
            fails = False  # never two background failures of one user in a row
        if fails:
            last_failed.add(user["key"])
            code = choices(fail_codes, fail_weights)[0]
            ca, policies, auth = "notApplied", not_applied, "singleFactorAuthentication"
        else:
            last_failed.discard(user["key"])
            code = 0
            auth = ("multiFactorAuthentication" if random_() < user["mfa"]
                    else "singleFactorAuthentication")
            if device == "admin":
                ca, policies, auth = "success", admin_mfa, "multiFactorAuthentication"
            elif device != "browser" and random_() < 0.75:
                ca, policies = "success", success_compliant
            else:
                ca, policies = "notApplied", not_applied
        yield t, _record(
            _random_uuid(rng), (user["name"], user["upn"], user["id"]),
            (app[1], app[2]), resource, ip, client, code, user["location"], auth, ca,
            policies, token=token, agent=agent)


# --------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------

def scenario_count():
    """Number of scenario records (independent of seed, count and minutes)."""
    return (SCENARIOS["spray"]["attempts"] + SCENARIOS["brute_force"]["failures"]
            + SCENARIOS["legacy"]["successes"] + SCENARIOS["risky"]["records"]
            + SCENARIOS["ca_failure"]["records"]
            + SCENARIOS["service_principal"]["successes"]
            + SCENARIOS["service_principal"]["failures"]
            + SCENARIOS["service_principal"]["healthy"]["successes"]
            + SCENARIOS["hostile"]["records"]
            + SCENARIOS["device_code"]["records"] + SCENARIOS["ropc"]["successes"]
            + SCENARIOS["token_replay"]["records"] + SCENARIOS["slow_spray"]["attempts"])


def generate(count=3000, start="2026-11-20T08:00:00Z", minutes=60, seed=42,
             scenarios=True, compact=False):
    """Yield ``count`` Graph beta signIn dicts, newest first.

    ``createdDateTime`` lies in ``[start, start + minutes)``.  With
    ``scenarios`` (default) the records of SCENARIOS are mixed in; ``count``
    must then be at least ``scenario_count()`` (336).  ``compact`` gives the
    same sign-ins in the smaller shape of the shipped sample (see
    ``compact_record``).  Each yielded dict is new (callers may modify it).
    """
    count = int(count)
    if count < 0:
        raise ValueError("count must be >= 0")
    span = int(round(float(minutes) * 60))
    if span <= 0:
        raise ValueError("minutes must be > 0")
    start_epoch = int(timeutil.parse_time(start).timestamp())
    rng = random.Random(seed)
    scen = []
    if scenarios:
        scen = _scenario_records(rng, start_epoch, span)
        # Scenarios 8-11 draw from their own generator: rng goes on to the background
        # exactly as before they were added.
        scen += _threat_records(random.Random("threats/%s" % (seed,)), start_epoch, span)
    if len(scen) > count:
        raise ValueError("count must be >= %d when scenarios are included "
                         "(or pass scenarios=False)" % len(scen))
    scen.sort(key=lambda pair: -pair[0])  # stable: newest first
    return _merge(seed, scen, _background(rng, start_epoch, span, count - len(scen)),
                  compact)


def _merge(seed, scen, background, compact):
    fmt_cache = [None, None]
    index = 0
    si = 0
    nscen = len(scen)
    bg_next = next(background, None)
    while bg_next is not None or si < nscen:
        if si < nscen and (bg_next is None or scen[si][0] >= bg_next[0]):
            t, rec = scen[si]
            scen[si] = None
            si += 1
            from_scenario = True
        else:
            t, rec = bg_next
            bg_next = next(background, None)
            from_scenario = False
        if fmt_cache[0] != t:
            fmt_cache[0] = t
            fmt_cache[1] = datetime.fromtimestamp(t, timezone.utc).strftime(
                "%Y-%m-%dT%H:%M:%SZ")
        rec["id"] = _record_id(seed, index)
        rec["createdDateTime"] = fmt_cache[1]
        index += 1
        yield compact_record(rec, keep_agent=from_scenario) if compact else rec


# Read by nobody in this package; constant or purely informational.
_COMPACT_DROP = ("correlationId", "homeTenantId", "resourceTenantId")
# Left out when "none". authenticationProtocol and incomingTokenType are not among them:
# the threats check reads both (columns protocol and incoming_token_type), so the compact
# shape keeps them whatever their value.
_COMPACT_NONE = ("riskLevelDuringSignIn", "riskState", "crossTenantAccessType",
                 "clientCredentialType")


def compact_record(rec, keep_agent=True):
    """The smaller shape used for samples/nonint-signins.json.

    Drops: correlationId, homeTenantId, resourceTenantId, geoCoordinates,
    status.additionalDetails (and failureReason "Other." of successes),
    ``isInteractive: false``, ``signInEventTypes: ["nonInteractiveUser"]`` (the
    default), keys whose value is null, "" or [] (also inside ``location``: a
    location with no field left is left out), the enums risk level/state,
    cross-tenant and credential type when "none", CA policy entries other than
    success/failure, and (``keep_agent`` false: background records) the
    userAgent.  It keeps authenticationProtocol and incomingTokenType, also
    when "none".  A tolerant reader maps every omitted key back to the same
    meaning.
    """
    out = {}
    for key, value in rec.items():
        if key in _COMPACT_DROP or value is None or value == "" or value == []:
            continue
        if key == "isInteractive" and value is False:
            continue
        if key == "signInEventTypes" and value == ["nonInteractiveUser"]:
            continue
        if key in _COMPACT_NONE and value == "none":
            continue
        if key == "userAgent" and not keep_agent:
            continue
        if key == "location":
            value = {k: v for k, v in value.items()
                     if k != "geoCoordinates" and v is not None and v != ""}
            if not value:
                continue
        elif key == "status":
            value = ({"errorCode": 0} if value.get("errorCode") == 0 else
                     {"errorCode": value.get("errorCode"),
                      "failureReason": value.get("failureReason")})
        elif key == "appliedConditionalAccessPolicies":
            value = [p for p in value if p.get("result") in ("success", "failure")]
            if not value:
                continue
        out[key] = value
    return out


_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def write(records, stream, fmt="json"):
    """Write records to a text stream one at a time; returns how many."""
    n = 0
    if fmt == "jsonl":
        for rec in records:
            stream.write(_dumps(rec))
            stream.write("\n")
            n += 1
        return n
    if fmt == "graph":
        stream.write('{"@odata.context":%s,"value":[' % json.dumps(ODATA_CONTEXT))
    elif fmt == "json":
        stream.write("[")
    else:
        raise ValueError("unknown format %r" % fmt)
    for rec in records:
        stream.write(",\n" if n else "\n")
        stream.write(_dumps(rec))
        n += 1
    stream.write("\n]}\n" if fmt == "graph" else "\n]\n")
    return n


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python tests/sample.py",
        description="Generate deterministic, realistic Entra ID non-interactive "
                    "sign-in records (Graph beta signIn shape).")
    parser.add_argument("--count", type=int, default=3000, help="records (default 3000)")
    parser.add_argument("--start", default="2026-11-20T08:00:00Z",
                        help="start of the time range, ISO 8601 (default %(default)s)")
    parser.add_argument("--minutes", type=float, default=60,
                        help="length of the time range in minutes (default 60)")
    parser.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
    parser.add_argument("--format", choices=("json", "jsonl", "graph"), default="json",
                        help="json = array, graph = {'@odata.context', 'value'}, "
                             "jsonl = one object per line (default json)")
    parser.add_argument("--output", default="-", help="output file (default: stdout)")
    parser.add_argument("--no-scenarios", action="store_true",
                        help="background traffic only")
    parser.add_argument("--compact", action="store_true",
                        help="smaller records, as in samples/nonint-signins.json "
                             "(drops unread and default-valued keys)")
    args = parser.parse_args(argv)
    try:
        records = generate(args.count, args.start, args.minutes, args.seed,
                           scenarios=not args.no_scenarios, compact=args.compact)
    except ValueError as exc:
        parser.error(str(exc))
    if args.output == "-":
        write(records, sys.stdout, args.format)
        sys.stdout.flush()
    else:
        with open(args.output, "w", encoding="utf-8", newline="\n") as stream:
            write(records, stream, args.format)
    return 0


if __name__ == "__main__":
    sys.exit(main())
