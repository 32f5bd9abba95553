"""Prepare a job spec for `rollcall validate` outside the cluster.

    python spec_env.py RENDERED.yaml SPEC_OUT    # the chart-made ConfigMap's spec -> SPEC_OUT
    python spec_env.py --spec SPEC               # only list the variables

Prints, one per line, the variables the spec's sources read their tokens from, so the caller can
give each a dummy value: validate checks that every credential is present and well-formed, and
fetches nothing, so a dummy passes exactly when the real one would be found.

A source that logs in with the pod's projected service-account token (auth method kubernetes or
jwt) reads a file that exists only in the pod: SPEC_OUT points its token_file at a dummy token
written beside SPEC_OUT instead.
"""

from __future__ import annotations

import sys
from pathlib import Path

# JWT-shaped (header.payload.signature, base64url) but signed by nobody: it passes a shape check
# and no server would accept it.
DUMMY_SERVICE_ACCOUNT_TOKEN = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJkdW1teSJ9.ZHVtbXk"

import yaml

# The token variable of each kind when its source names none (the kinds' `token_env` defaults).
DEFAULT_TOKEN_ENV = {
    "vault_client_activity": "VAULT_TOKEN",
    "vision_one_inactive_accounts": "TREND_VISION_ONE_TOKEN",
    "launchdarkly_audit_log": "LD_API_TOKEN",
}


def configmap_spec(rendered: Path) -> str:
    docs = [d for d in yaml.safe_load_all(rendered.read_text()) if d]
    specs = [d["data"]["job.yaml"] for d in docs if d["kind"] == "ConfigMap" and "job.yaml" in d.get("data", {})]
    if len(specs) != 1:
        sys.exit(f"{rendered}: expected one ConfigMap with job.yaml, found {len(specs)}")
    return specs[0]


def source_variables(source: dict) -> list[str]:
    auth = source.get("auth") or {}
    method = auth.get("method")
    if method in ("kubernetes", "jwt"):
        # The pod's projected service-account token, a file: no variable.
        return []
    if method == "approle":
        return [auth[key] for key in ("role_id_env", "secret_id_env") if auth.get(key)]
    name = source.get("token_env") or DEFAULT_TOKEN_ENV.get(source.get("kind"))
    return [name] if name else []


def token_variables(spec_text: str) -> list[str]:
    spec = yaml.safe_load(spec_text) or {}
    names = []
    for source in spec.get("sources") or []:
        for name in source_variables(source):
            if name not in names:
                names.append(name)
    return names


def outside_the_pod(spec_text: str, dummy_token: Path) -> str:
    """The spec with each projected-token path replaced by a dummy token file; else unchanged."""
    spec = yaml.safe_load(spec_text) or {}
    login_sources = [
        s for s in spec.get("sources") or [] if (s.get("auth") or {}).get("method") in ("kubernetes", "jwt")
    ]
    if not login_sources:
        return spec_text
    dummy_token.write_text(DUMMY_SERVICE_ACCOUNT_TOKEN)
    for source in login_sources:
        source["auth"]["token_file"] = str(dummy_token)
    return yaml.safe_dump(spec, sort_keys=False)


def main(argv: list[str]) -> None:
    if len(argv) == 2 and argv[0] == "--spec":
        text = Path(argv[1]).read_text()
    elif len(argv) == 2:
        out = Path(argv[1])
        text = outside_the_pod(configmap_spec(Path(argv[0])), out.with_name(out.name + ".sa-token"))
        out.write_text(text)
    else:
        sys.exit(__doc__)
    print("\n".join(token_variables(text)))


if __name__ == "__main__":
    main(sys.argv[1:])
