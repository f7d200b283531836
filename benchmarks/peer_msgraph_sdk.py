#!/usr/bin/env python3
"""The peer: what an administrator writes with Microsoft's Graph SDK instead of our checks.

Reads one window of non-interactive sign-ins from Microsoft Graph beta with
msgraph-beta-sdk and azure-identity (client credentials), keeps them in a list and counts
what check_entra_signins and check_entra_failure_entities report:

  total, successful (status.errorCode == 0), failed, failed_pct,
  risky (riskLevelDuringSignIn low/medium/high or riskState atRisk/confirmedCompromised),
  failure_ips / failure_users / failure_apps: distinct IPs / users / apps with a run of
  >= 5 consecutive failed attempts (attempts ordered by createdDateTime, then id).

Prints one JSON object. Runs in its own venv (benchmarks/.peer-venv, see
benchmarks/requirements-peer.txt); benchmarks/peer.py starts it against the local fake.
The secret comes from AZURE_CLIENT_SECRET. A test CA is trusted the usual way:
SSL_CERT_FILE (httpx, the SDK) and REQUESTS_CA_BUNDLE (requests, azure-identity).

    python peer_msgraph_sdk.py --tenant-id T --client-id C --start 2026-11-20T08:00:00Z \
        --end 2026-11-20T09:00:00Z [--authority-host https://HOST] [--graph-url https://HOST]
"""

import argparse
import asyncio
import json
import os
from collections import defaultdict

from azure.identity import ClientSecretCredential
from kiota_abstractions.base_request_configuration import RequestConfiguration
from msgraph_beta import GraphServiceClient
from msgraph_beta.generated.audit_logs.sign_ins.sign_ins_request_builder import (
    SignInsRequestBuilder,
)
from msgraph_beta.generated.models.risk_level import RiskLevel
from msgraph_beta.generated.models.risk_state import RiskState

ATTEMPTS = 5
RISKY_LEVELS = {RiskLevel.Low, RiskLevel.Medium, RiskLevel.High}
RISKY_STATES = {RiskState.AtRisk, RiskState.ConfirmedCompromised}


async def fetch(client, start, end):
    query = SignInsRequestBuilder.SignInsRequestBuilderGetQueryParameters(
        filter=("createdDateTime ge %s and createdDateTime lt %s and "
                "signInEventTypes/any(t: t eq 'nonInteractiveUser')" % (start, end)),
        top=1000,
    )
    config = RequestConfiguration(query_parameters=query)
    signins = []
    page = await client.audit_logs.sign_ins.get(request_configuration=config)
    while page is not None:
        signins.extend(page.value or [])
        if not page.odata_next_link:
            break
        page = await client.audit_logs.sign_ins.with_url(page.odata_next_link).get()
    return signins


def failed_runs(signins, key):
    """Number of distinct keys with >= ATTEMPTS consecutive failures."""
    attempts = defaultdict(list)
    for s in sorted(signins, key=lambda s: (s.created_date_time, s.id)):
        value = key(s)
        if value:
            attempts[value].append(s.status.error_code == 0)
    found = 0
    for outcomes in attempts.values():
        run = longest = 0
        for ok in outcomes:
            run = 0 if ok else run + 1
            longest = max(longest, run)
        if longest >= ATTEMPTS:
            found += 1
    return found


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenant-id", required=True)
    parser.add_argument("--client-id", required=True)
    parser.add_argument("--start", required=True)
    parser.add_argument("--end", required=True)
    parser.add_argument("--authority-host", default="https://login.microsoftonline.com")
    parser.add_argument("--graph-url", default="https://graph.microsoft.com")
    args = parser.parse_args()

    credential = ClientSecretCredential(
        args.tenant_id, args.client_id, os.environ["AZURE_CLIENT_SECRET"],
        authority=args.authority_host,
        disable_instance_discovery=args.authority_host != "https://login.microsoftonline.com")
    client = GraphServiceClient(credential, scopes=["https://graph.microsoft.com/.default"])
    client.request_adapter.base_url = args.graph_url.rstrip("/") + "/beta"

    signins = asyncio.run(fetch(client, args.start, args.end))

    total = len(signins)
    successful = sum(1 for s in signins if s.status.error_code == 0)
    failed = total - successful
    print(json.dumps({
        "total": total,
        "successful": successful,
        "failed": failed,
        "failed_pct": round(100.0 * failed / total, 2) if total else 0.0,
        "risky": sum(1 for s in signins if s.risk_level_during_sign_in in RISKY_LEVELS
                     or s.risk_state in RISKY_STATES),
        "failure_ips": failed_runs(signins, lambda s: s.ip_address),
        "failure_users": failed_runs(signins, lambda s: s.user_id),
        "failure_apps": failed_runs(signins, lambda s: s.app_id),
    }))


if __name__ == "__main__":
    main()
