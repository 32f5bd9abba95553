#!/usr/bin/env python3
"""Cuts the vendors' OpenAPI documents down to the operations the fakes serve, plus every
component they reference, and applies the few recorded patches (see README.md here).

Usage: fakes/openapi/cut.py LAUNCHDARKLY_OPENAPI_YAML VAULT_OPENAPI_JSON
  (api/openapi.yaml of launchdarkly/api-client-go and openapi.json of hashicorp/vault-client-go
  at the commits README.md names). Writes launchdarkly.json and vault.json beside this script.
Needs Python 3 and PyYAML (Debian: python3-yaml).
"""
import copy
import json
import pathlib
import sys

import yaml

HERE = pathlib.Path(__file__).resolve().parent

LAUNCHDARKLY_PATHS = [
    "/api/v2/auditlog",
    "/api/v2/auditlog/counts",
    "/api/v2/projects",
    "/api/v2/projects/{projectKey}/environments",
]
VAULT_PATHS = [
    "/sys/internal/counters/activity/export",
    "/sys/internal/counters/activity",
    "/sys/internal/counters/config",
    "/auth/{approle_mount_path}/login",
    "/auth/{jwt_mount_path}/login",
    "/auth/{kubernetes_mount_path}/login",
    "/auth/token/lookup-self",
    "/auth/token/revoke-self",
    "/sys/health",
    "/sys/capabilities-self",
]


def refs(node, found):
    """Every '#/components/...' reference under node, recursively."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/components/"):
            found.add(ref)
        for value in node.values():
            refs(value, found)
    elif isinstance(node, list):
        for value in node:
            refs(value, found)


def cut(document, paths):
    out = {
        "openapi": document["openapi"],
        "info": document["info"],
        "paths": {p: copy.deepcopy(document["paths"][p]) for p in paths},
        "components": {},
    }
    for key in ("servers", "security"):
        if key in document:
            out[key] = document[key]
    if "securitySchemes" in document.get("components", {}):
        out["components"]["securitySchemes"] = document["components"]["securitySchemes"]
    pending = set()
    refs(out["paths"], pending)
    done = set()
    while pending:
        ref = pending.pop()
        if ref in done:
            continue
        done.add(ref)
        _, _, kind, name = ref.split("/", 3)
        component = document["components"][kind][name]
        out["components"].setdefault(kind, {})[name] = component
        refs(component, pending)
    return out


def patch_launchdarkly(document):
    # The description of `limit` says "Set between 1 and 20"; make that machine-checkable.
    for method in ("get", "post"):
        for parameter in document["paths"]["/api/v2/auditlog"][method]["parameters"]:
            if parameter["name"] == "limit":
                parameter["schema"]["minimum"] = 1
                parameter["schema"]["maximum"] = 20
                parameter["x-rollcall-patched"] = "minimum/maximum from the description"


def patch_vault(document):
    # Vault's generator emits no query parameters for this GET; the API documentation
    # (api-docs/system/internal-counters) lists these three.
    def time_param(name, description):
        return {
            "name": name,
            "in": "query",
            "description": description,
            "schema": {"type": "string"},
            "x-rollcall-patched": "from the API documentation",
        }

    # Likewise for the monthly counts: start_time and end_time (limit_namespaces is not sent).
    counts = document["paths"]["/sys/internal/counters/activity"]["get"]
    counts["parameters"] = [
        time_param("start_time", "Start of the queried period: RFC 3339 or epoch seconds."),
        time_param("end_time", "End of the queried period: RFC 3339 or epoch seconds."),
    ]

    export = document["paths"]["/sys/internal/counters/activity/export"]["get"]
    export["parameters"] = [
        time_param("start_time", "Start of the queried period: RFC 3339 or epoch seconds."),
        time_param("end_time", "End of the queried period: RFC 3339 or epoch seconds."),
        {
            "name": "format",
            "in": "query",
            # No enum: Vault checks the value only when there is data to export (the fake does).
            "description": "Format of the export: json (default) or csv.",
            "schema": {"type": "string"},
            "x-rollcall-patched": "from the API documentation",
        },
    ]


    # sys/health: the generator emits no query parameters; the API documentation
    # (api-docs/system/health) lists these, booleans and status codes.
    health = document["paths"]["/sys/health"]["get"]
    health["parameters"] = [
        {
            "name": name,
            "in": "query",
            "description": description,
            "schema": {"type": kind},
            "x-rollcall-patched": "from the API documentation",
        }
        for name, kind, description in [
            ("standbyok", "boolean", "Answer a standby node with the active node's code."),
            ("perfstandbyok", "boolean", "Answer a performance standby with the active node's code."),
            ("activecode", "integer", "Status code for an active node."),
            ("standbycode", "integer", "Status code for a standby node."),
            ("drsecondarycode", "integer", "Status code for a DR secondary."),
            ("performancestandbycode", "integer", "Status code for a performance standby."),
            ("sealedcode", "integer", "Status code for a sealed node."),
            ("uninitcode", "integer", "Status code for an uninitialised node."),
        ]
    ]


def write(name, document):
    text = json.dumps(document, indent=1, sort_keys=True, ensure_ascii=False) + "\n"
    (HERE / name).write_text(text, encoding="utf-8")


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    with open(sys.argv[1], encoding="utf-8") as f:
        launchdarkly = yaml.load(f, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    with open(sys.argv[2], encoding="utf-8") as f:
        vault = json.load(f)
    launchdarkly = cut(launchdarkly, LAUNCHDARKLY_PATHS)
    patch_launchdarkly(launchdarkly)
    vault = cut(vault, VAULT_PATHS)
    patch_vault(vault)
    write("launchdarkly.json", launchdarkly)
    write("vault.json", vault)


if __name__ == "__main__":
    main()
