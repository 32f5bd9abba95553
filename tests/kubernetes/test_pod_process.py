"""The real rollcall binary, started the way the rendered pod starts it: the container's args, its
env entries, and its spec and secret files at paths under a temporary root.

This ties the chart to the binary: the flags the chart passes exist, ROLLCALL_CONFIG and the
<VAR>_FILE variables lead rollcall to its files, an Indexed Job's shards split the sources between
them, and the exit code of a missing credential is one podFailurePolicy fails the Job on.
Nothing here leaves the machine: sources point at a closed port on loopback.

scripts/check-kubernetes.sh builds the binary and sets ROLLCALL_BIN; run alone, these tests use
target/debug/rollcall when it exists.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import yaml
from conftest import REPO, job_spec, one, pod_spec, render
from spec_env import token_variables

DUMMY = "dummy-not-a-token"


def binary() -> Path:
    configured = os.environ.get("ROLLCALL_BIN")
    path = Path(configured) if configured else REPO / "target" / "debug" / "rollcall"
    if not path.is_file():
        if configured:
            pytest.fail(f"ROLLCALL_BIN={configured} does not exist")
        pytest.skip("no target/debug/rollcall: run cargo build, or scripts/check-kubernetes.sh")
    return path


def pod_process(docs: list[dict], root: Path, *, hook: bool = False) -> tuple[list[str], dict[str, str]]:
    """The container's args and environment, with its files placed under `root`."""
    spec = one(docs, "Pod", hook=True)["spec"] if hook else pod_spec(docs)
    container = spec["containers"][0]
    configmap = one(docs, "ConfigMap")
    env: dict[str, str] = {}
    for entry in container.get("env", []):
        if "value" not in entry:
            continue
        name, value = entry["name"], entry["value"]
        if name == "ROLLCALL_CONFIG":
            path = root / value.lstrip("/")
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(configmap["data"][Path(value).name])
            value = str(path)
        elif name.endswith("_FILE"):
            path = root / value.lstrip("/")
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(DUMMY + "\n")
            value = str(path)
        elif value.startswith("/"):
            # A file from extraVolumes (a CA bundle): it exists only in the cluster.
            continue
        env[name] = value
    return container["args"], env


def start(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    # Only the pod's environment (plus PATH): nothing from this shell can stand in for it.
    return subprocess.run(
        [str(binary()), *args],
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_helm_test_pod_checks_the_spec_it_mounts(tmp_path):
    # A source on a closed loopback port and a local output: check must read the pod's spec and
    # environment, reach the output, and report the source unreachable (exit 1), nothing else.
    values = tmp_path / "closed-port-values.yaml"
    values.write_text(
        "config:\n  http: {max_retries: 0}\n  sources:\n"
        "    - {name: vault, kind: vault_client_activity, address: 'http://127.0.0.1:9', token_env: VAULT_TOKEN}\n"
    )
    docs = render(values)
    args, env = pod_process(docs, tmp_path, hook=True)
    assert args == ["check", "--config", "/etc/rollcall/job.yaml"]
    args[2] = env["ROLLCALL_CONFIG"]
    # VAULT_TOKEN comes from the Secret through envFrom.
    result = start(args, {**env, "VAULT_TOKEN": DUMMY, "ROLLCALL_OUTPUT": str(tmp_path / "reports")})
    assert result.returncode == 1, result.stdout + result.stderr
    assert "unreachable" in result.stdout + result.stderr


def test_secret_files_reach_rollcall(tmp_path):
    # full-values: VAULT_EU_TOKEN from a mounted file; the other tokens from the existing Secret.
    # Validate, not check: the sources' hosts exist only in the examples.
    docs = render("full-values.yaml")
    args, env = pod_process(docs, tmp_path, hook=True)
    assert "VAULT_EU_TOKEN_FILE" in env
    from_secret = {name: DUMMY for name in ("VAULT_TOKEN", "TREND_VISION_ONE_TOKEN", "LD_API_TOKEN")}
    result = start(["validate"], {**env, **from_secret})
    assert result.returncode == 0, result.stderr
    assert "vault-prod, vault-eu, vision-one, launchdarkly" in result.stdout


def test_config_example_validates_as_shipped(tmp_path):
    # The README sends new users to config.example.yaml: with its tokens set it must pass as is,
    # so nothing in it may name a file that only exists on someone's machine.
    example = REPO / "config.example.yaml"
    tokens = {name: DUMMY for name in token_variables(example.read_text())}
    result = start(["validate", "--config", str(example)], tokens)
    assert result.returncode == 0, result.stderr
    assert "valid" in result.stdout


def test_a_missing_credential_fails_the_job_without_retry(tmp_path):
    docs = render()
    args, env = pod_process(docs, tmp_path)
    assert args[0] == "run"
    result = start(args, env)  # no Secret: VAULT_TOKEN is missing
    assert result.returncode == 2, result.stderr
    assert "VAULT_TOKEN" in result.stderr
    rules = job_spec(docs)["podFailurePolicy"]["rules"]
    failing = [r for r in rules if r["action"] == "FailJob"]
    assert result.returncode in failing[0]["onExitCodes"]["values"]


SHARDED_VALUES = """
sharding: {enabled: true, count: 3}
config:
  job: sharded
  http: {max_retries: 0}
  sources:
""" + "".join(
    f"    - {{name: vault-{n}, kind: vault_client_activity, address: 'http://127.0.0.1:9', months: 1, roll_off_months: 1}}\n"
    for n in ("alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel")
)


def test_indexed_job_shards_cover_every_source_once(tmp_path):
    values = tmp_path / "sharded-values.yaml"
    values.write_text(SHARDED_VALUES)
    docs = render(values)
    job = job_spec(docs)
    assert job["completionMode"] == "Indexed"
    names = {s["name"] for s in yaml.safe_load(one(docs, "ConfigMap")["data"]["job.yaml"])["sources"]}
    output = tmp_path / "reports"
    for index in range(job["completions"]):
        args, env = pod_process(docs, tmp_path / f"pod-{index}")
        # What Kubernetes adds to each pod of an Indexed Job.
        env["JOB_COMPLETION_INDEX"] = str(index)
        env["VAULT_TOKEN"] = DUMMY
        env["ROLLCALL_OUTPUT"] = str(output)
        result = start(args, env)
        # Nothing listens on the port: a shard with sources exits 1 (all failed), one without 0.
        assert result.returncode in (0, 1), result.stderr
    manifests = [json.loads(p.read_text()) for p in output.rglob("manifest.json")]
    assert sorted(m["shard"]["index"] for m in manifests) == [0, 1, 2]
    assert {m["shard"]["count"] for m in manifests} == {3}
    seen = [s["name"] for m in manifests for s in m["sources"]]
    assert sorted(seen) == sorted(names), "every source runs in exactly one shard"
