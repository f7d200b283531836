"""A local fake of the Microsoft endpoints check_entra_noninteractive talks to.

One HTTPS server on loopback plays every service; each module is one of them and its
docstring says exactly what it answers:

  server.py        FakeMicrosoft: the server, routing, fault switches, request log;
                   FakeControl for a fake in another process
  login.py         Entra login: OIDC discovery and the client_credentials token endpoint
  graph.py         Microsoft Graph: the sign-in log, paging, throttling, Graph faults
  odata.py         Graph's $filter, parsed and evaluated
  loganalytics.py  Azure Resource Manager (diagnostic settings, workspaces) and the
                   Log Analytics query API, with the tables' documented columns
  proxy.py         an authenticating CONNECT proxy beside the server
  __main__.py      subprocess mode (python tests/fake_microsoft --config ... --ready-file ...)

In-process use (pytest)::

    with FakeMicrosoft(records=[...], tenant="t1", client_id="c1",
                       client_secret="s3cr3t", page_delay=0,
                       throttle_limit=5, throttle_window=10.0) as fake:
        env = {"REQUESTS_CA_BUNDLE": fake.ca_bundle}
        fake.set_fault("server_error", count=2, status=503, retry_after=1)
        ...   # the plugin with --authority-host fake.authority_host --graph-url fake.graph_url
        assert fake.count(429) == 0
        for entry in fake.graph_requests(): print(entry.status, entry.params)
"""

from .server import FAULT_NAMES, FakeControl, FakeMicrosoft

__all__ = ["FAULT_NAMES", "FakeControl", "FakeMicrosoft"]
