"""Prepare a job spec for `rollcall validate` outside the cluster.

    python spec_env.py RENDERED.yaml SPEC_OUT    # the chart-made ConfigMap's spec -> SPEC_OUT
    python spec_env.py --spec SPEC               # only list the variables

Prints, one per line, the variables the spec's sources read their tokens from, so the caller can
give each a dummy value: validate checks that every credential is present and well-formed, and
fetches nothing, so a dummy passes exactly when the real one would be found.
"""

from __future__ import annotations

import sys
from pathlib import Path

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


def token_variables(spec_text: str) -> list[str]:
    spec = yaml.safe_load(spec_text) or {}
    names = []
    for source in spec.get("sources") or []:
        name = source.get("token_env") or DEFAULT_TOKEN_ENV.get(source.get("kind"))
        if name and name not in names:
            names.append(name)
    return names


def main(argv: list[str]) -> None:
    if len(argv) == 2 and argv[0] == "--spec":
        text = Path(argv[1]).read_text()
    elif len(argv) == 2:
        text = configmap_spec(Path(argv[0]))
        Path(argv[1]).write_text(text)
    else:
        sys.exit(__doc__)
    print("\n".join(token_variables(text)))


if __name__ == "__main__":
    main(sys.argv[1:])
