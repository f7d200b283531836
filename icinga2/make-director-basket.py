#!/usr/bin/env python3
"""Build director-basket.json from commands.conf (the arguments) and the values below.

    python3 icinga2/make-director-basket.py        # rewrites icinga2/director-basket.json

The basket holds the six CheckCommands as *external* commands: Icinga Director 1.10
cannot give a command environment variables, and the secrets must reach the plugins
through the environment. So Icinga loads the commands from commands.conf, and the basket
gives Director their arguments (for its forms), the host template, the service templates,
a service set and the data fields (the secret and the proxy password hidden).
tests/test_icinga2.py checks that the shipped basket is this script's output.
"""
import collections
import json
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
conf = open(os.path.join(HERE, "commands.conf")).read()

def block(kind, name):
    """The body of one top-level object or template of commands.conf."""
    return re.search(r'^%s CheckCommand "%s" \{\n(.*?)^\}' % (kind, name), conf,
                     re.S | re.M).group(1)

def arguments(text):
    args = {}
    for key, body in re.findall(r'^\t\t"(-[^"]+)" = \{(.*?)^\t\t\}', text, re.S | re.M):
        a = {}
        a["description"] = re.search(r'description = "((?:[^"\\]|\\.)*)"', body).group(1).replace('\\"', '"')
        if "repeat_key = true" in body:
            a["repeat_key"] = True
        m = re.search(r'^\t\t\tvalue = "([^"]*)"', body, re.M)
        if m:
            a["value"] = m.group(1)
        m = re.search(r'value = \{\{\n(.*?)\n\t\t\t\}\}', body, re.S)
        if m:
            lines = m.group(1).splitlines()
            a["value"] = {"type": "Function",
                          "body": "\n".join(l[4:] if l.startswith("\t\t\t\t") else l.strip() for l in lines).replace("\t", "    ")}
        m = re.search(r'set_if = "([^"]*)"', body)
        if m:
            a["set_if"] = m.group(1)
        m = re.search(r'set_if = \{\{ (.*?) \}\}', body)
        if m:
            a["set_if"] = m.group(1)
            a["set_if_format"] = "expression"
        args[key] = dict(sorted(a.items()))
    return dict(sorted(args.items()))

ARGS = arguments(block("template", "entra_common"))     # what every command has
CHECKS = [("signins", "entra-signins", "check_entra_signins", "Sign-ins: total, successful, failed, failed_pct, risky",
           ["failed_pct=20", "risky=0"], ["failed_pct=40", "risky=10"]),
          ("success_entities", "entra-success-entities", "check_entra_success_entities",
           "Entities with runs of consecutive successful sign-ins", None, None),
          ("failure_entities", "entra-failure-entities", "check_entra_failure_entities",
           "Entities with runs of consecutive failed sign-ins (brute force, password spray)",
           ["failure_ips=2", "failure_users=3", "failure_service_principals=0"],
           ["failure_ips=10", "failure_users=10", "failure_service_principals=2"]),
          ("auth_methods", "entra-auth-methods", "check_entra_auth_methods",
           "Single- and multi-factor, modern and legacy client sign-ins",
           ["legacy_clients=0"], ["legacy_clients=50"]),
          ("conditional_access", "entra-conditional-access", "check_entra_conditional_access",
           "Conditional Access: not applied, success, failure", ["ca_failure=5"], ["ca_failure=50"]),
          ("threats", "entra-threats", "check_entra_threats",
           "Password sprays, device code and ROPC sign-ins, legacy successes, users in several "
           "countries, unusual users, IPs and apps",
           ["device_code_users=0", "ropc_users=0", "legacy_success_users=0", "multi_country_users=0",
            "unusual_users=0", "unusual_ips=0", "unusual_apps=0"], ["spray_ips=0"])]

S = "Icinga\\Module\\Director\\DataType\\DataTypeString"
A = "Icinga\\Module\\Director\\DataType\\DataTypeArray"
B = "Icinga\\Module\\Director\\DataType\\DataTypeBoolean"
N = "Icinga\\Module\\Director\\DataType\\DataTypeNumber"
FIELDS = [  # id, varname, caption, datatype, hidden, description
    (9001, "entra_tenant_id", "Entra tenant ID", S, False, "Directory (tenant) ID or verified domain"),
    (9002, "entra_client_id", "Entra client ID", S, False, "Application (client) ID of the app registration (AuditLog.Read.All, Directory.Read.All)"),
    (9003, "entra_client_secret", "Entra client secret", S, True, "The client secret's Value. Reaches the plugin in the environment (ENTRA_CLIENT_SECRET), never on its command line"),
    (9004, "entra_client_secret_file", "Entra client secret file", S, False, "File with the client secret, instead of the secret itself"),
    (9005, "entra_client_certificate", "Entra client certificate", S, False, "PEM file with the RSA private key and its certificate, instead of a secret"),
    (9006, "entra_cloud", "Entra national cloud", S, False, "global (default), usgov, usgov-dod or china"),
    (9007, "entra_proxy_host", "Entra proxy host", S, False, "HTTP proxy for the token and Graph requests"),
    (9008, "entra_proxy_port", "Entra proxy port", N, False, "Proxy port (default 8080)"),
    (9009, "entra_proxy_user", "Entra proxy user", S, False, "Proxy user name"),
    (9010, "entra_proxy_password", "Entra proxy password", S, True, "Proxy password. Reaches the plugin in the environment (ENTRA_PROXY_PASSWORD), never on its command line"),
    (9011, "entra_ca_bundle", "Entra CA bundle", S, False, "CA bundle to trust (e.g. a TLS-inspecting proxy's CA); empty: the system's"),
    (9012, "entra_state_dir", "Entra state directory", S, False, "Where the tenant's store lives; all checks of a tenant must share it"),
    (9013, "entra_delay", "Entra log delay", S, False, "The window ends this long before now (default 10m for Graph, 15m for Log Analytics): Entra's logs arrive late"),
    (9014, "entra_dd_url", "Entra DD base URL", S, False, "Base URL under which a web server serves the detailed-diagnosis directory"),
    (9015, "entra_warning", "Entra warning thresholds", A, False, "METRIC=RANGE, e.g. failed_pct=20"),
    (9016, "entra_critical", "Entra critical thresholds", A, False, "METRIC=RANGE, e.g. failed_pct=40"),
    (9017, "entra_attempts", "Entra No of Attempts", N, False, "An entity counts when N or more consecutive attempts failed/succeeded (default 5)"),
    (9018, "entra_event_types", "Entra sign-in event types", A, False, "nonInteractiveUser (default), servicePrincipal, managedIdentity, interactiveUser"),
    (9019, "entra_window", "Entra window", S, False, "Length of the reported window; default: the service's check interval"),
    (9020, "entra_detailed_diagnosis", "Entra detailed diagnosis", B, False, "false: do not write the detailed diagnosis"),
    (9021, "entra_successful_signin_dd", "Entra successful sign-in DD", B, False, "true: include the rows of the success measures in the detailed diagnosis"),
    (9022, "entra_verbose", "Entra verbose", B, False, "true: long output on every run"),
    (9023, "entra_timeout", "Entra plugin timeout", N, False, "Seconds (default 50); keep it 10 below the service's check timeout"),
    (9024, "entra_source", "Entra source", S, False, "graph (default) or loganalytics"),
    (9025, "entra_workspaces", "Entra Log Analytics workspaces", S, False, "Comma-separated workspace names, or All (default): every workspace Entra's diagnostic settings send the sign-in logs to"),
    (9026, "entra_workspace_ids", "Entra Log Analytics workspace IDs", A, False, "Workspace IDs (customerId); skip the lookup through Azure Resource Manager"),
    (9027, "entra_graph_url", "Entra Graph URL", S, False, "Override the Microsoft Graph host (https)"),
    (9028, "entra_management_url", "Entra Resource Manager URL", S, False, "Override the Azure Resource Manager host (https)"),
    (9029, "entra_log_analytics_url", "Entra Log Analytics URL", S, False, "Override the Log Analytics query host (https)"),
    (9030, "entra_spray_users", "Entra spray users", N, False, "An IP counts as a spray when its failed sign-ins with a credential error name at least N distinct users (default 10)"),
    (9031, "entra_baseline_days", "Entra baseline days", N, False, "Days of per-entity hourly history kept and compared, at most 30 (default 7)"),
    (9032, "entra_baseline_min", "Entra baseline minimum", N, False, "A user, IP or app is unusual only with at least N sign-ins in the window (default 20)"),
    (9033, "entra_baseline_factor", "Entra baseline factor", S, False, "A user, IP or app with at least the baseline minimum is unusual above F times its mean for that hour of day; a number > 1 such as 2.5 (default 3)"),
]
BY_NAME = {f[1]: f[0] for f in FIELDS}
HOST_FIELDS = ["entra_tenant_id", "entra_client_id", "entra_client_secret", "entra_client_secret_file",
               "entra_client_certificate", "entra_cloud", "entra_proxy_host", "entra_proxy_port",
               "entra_proxy_user", "entra_proxy_password", "entra_ca_bundle", "entra_state_dir",
               "entra_delay", "entra_dd_url", "entra_source", "entra_workspaces", "entra_workspace_ids",
               "entra_graph_url", "entra_management_url", "entra_log_analytics_url"]
REQUIRED = {"entra_tenant_id", "entra_client_id"}
SERVICE_FIELDS = ["entra_warning", "entra_critical", "entra_attempts", "entra_event_types", "entra_window",
                  "entra_detailed_diagnosis", "entra_successful_signin_dd", "entra_verbose", "entra_timeout"]
# The fields of one check's own options (on its service template), and those options.
OWN_FIELDS = {"entra-threats": ["entra_spray_users", "entra_baseline_days", "entra_baseline_min",
                                "entra_baseline_factor"]}
OWN_ARGS = {"threats": arguments(block("object", "entra_threats"))}

def field_refs(names):
    return [{"datafield_id": BY_NAME[n], "is_required": "y" if n in REQUIRED else "n", "var_filter": None}
            for n in names]

basket = collections.OrderedDict()
basket["Command"] = {}
for group, service, script, _, _, _ in CHECKS:
    name = "entra_" + group
    basket["Command"][name] = {
        "arguments": dict(sorted({**ARGS, **OWN_ARGS.get(group, {})}.items())), "command": "EntraPluginDir + /" + script, "disabled": False,
        "fields": [], "is_string": None, "methods_execute": "PluginCheck",
        "object_name": name, "object_type": "external_object", "timeout": 60,
        "vars": {"entra_timeout": 50}, "zone": None}
basket["HostTemplate"] = {"entra-tenant": {
    "check_command": "dummy", "check_interval": 3600, "fields": field_refs(HOST_FIELDS),
    "max_check_attempts": 1, "object_name": "entra-tenant", "object_type": "template",
    "vars": {"dummy_state": 0, "dummy_text": "Entra ID tenant: see its entra-* services"}}}
basket["ServiceTemplate"] = {"entra-service": {
    "check_interval": 300, "check_timeout": 60, "fields": field_refs(SERVICE_FIELDS),
    "max_check_attempts": 1, "object_name": "entra-service", "object_type": "template",
    "retry_interval": 300}}
for group, service, script, notes, warning, critical in CHECKS:
    template = {"check_command": "entra_" + group, "fields": field_refs(OWN_FIELDS.get(service, [])),
                "imports": ["entra-service"],
                "notes": "Microsoft Entra ID non-interactive sign-ins: %s (%s)" % (script, notes),
                "object_name": service, "object_type": "template"}
    if warning:
        template["vars"] = {"entra_warning": warning, "entra_critical": critical}
    basket["ServiceTemplate"][service] = template
basket["ServiceSet"] = {"entra-tenant": {
    "assign_filter": "\"entra-tenant\"=host.templates", "description":
    "The six checks of a Microsoft Entra ID tenant (hosts importing entra-tenant)",
    "object_name": "entra-tenant", "object_type": "template",
    "services": {service: {"fields": [], "imports": [service], "object_name": service,
                           "object_type": "object"} for _, service, *_ in CHECKS}}}
basket["Datafield"] = {str(i): {"varname": v, "caption": c, "description": d, "datatype": t,
                                "format": None, "originalId": str(i),
                                "settings": ({"visibility": "hidden"} if h else
                                             ({"visibility": "visible"} if t == S else {}))}
                       for i, v, c, t, h, d in FIELDS}


def render():
    return json.dumps(basket, indent=4) + "\n"


if __name__ == "__main__":
    target = os.path.join(HERE, "director-basket.json")
    with open(target, "w") as handle:
        handle.write(render())
    sys.stdout.write("wrote %s\n" % target)
