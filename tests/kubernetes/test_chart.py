"""What the rendered chart must say, read from `helm template` output.

Each test names the behaviour an operator relies on; kubernetes-validate (run by
scripts/check-kubernetes.sh) separately proves the objects are valid Kubernetes API objects.
"""

from __future__ import annotations

import hashlib
import json
import re

import pytest
import yaml
from conftest import (
    CHART,
    REPO,
    container,
    env,
    helm,
    job_spec,
    maybe,
    one,
    pod_spec,
    render,
    render_error,
    values_yaml,
)

FULL = "full-values.yaml"
TRIAL = "trial-values.yaml"
VAULT_LOGIN = "vault-login-values.yaml"
KUBERNETES_LOGIN = "kubernetes-login-values.yaml"


# --- schedule -------------------------------------------------------------------------------------


def test_schedule_time_zone_and_concurrency():
    spec = one(render(), "CronJob")["spec"]
    assert spec["schedule"] == "0 3 * * *"
    assert spec["timeZone"] == "Etc/UTC"
    # Two runs at once would fetch everything twice and share the APIs' rate limits.
    assert spec["concurrencyPolicy"] == "Forbid"
    # Always rendered, so GitOps tools reconcile a manual `kubectl patch` back.
    assert spec["suspend"] is False
    assert spec["startingDeadlineSeconds"] == 600
    assert spec["successfulJobsHistoryLimit"] == 3
    assert spec["failedJobsHistoryLimit"] == 3


def test_schedule_settings_follow_values():
    spec = one(render(FULL), "CronJob")["spec"]
    assert spec["schedule"] == "30 2 * * 1-5"
    assert spec["timeZone"] == "Europe/Paris"
    assert spec["suspend"] is True
    assert spec["concurrencyPolicy"] == "Forbid"
    assert spec["startingDeadlineSeconds"] == 1800
    # An explicit 0 is a value, not "unset".
    assert spec["failedJobsHistoryLimit"] == 0


def test_job_limits_by_default():
    job = job_spec(render())
    assert job["backoffLimit"] == 1
    assert job["activeDeadlineSeconds"] == 3600
    assert job["ttlSecondsAfterFinished"] == 604800
    assert pod_spec(render())["restartPolicy"] == "Never"


# --- exit codes -> Job behaviour --------------------------------------------------------------------


def test_exit_2_fails_the_job_without_retry():
    rules = job_spec(render())["podFailurePolicy"]["rules"]
    fail = [r for r in rules if r["action"] == "FailJob"]
    assert len(fail) == 1
    on = fail[0]["onExitCodes"]
    assert on["operator"] == "In"
    assert on["containerName"] == "rollcall"
    assert 2 in on["values"], "a bad spec or credential must not be retried"
    assert 3 in on["values"], "a partial run is already published; a retry would fetch it all again"
    assert 1 not in on["values"], "unexpected errors keep their retry"


def test_disruptions_are_ignored_before_exit_codes_are_read():
    rules = job_spec(render())["podFailurePolicy"]["rules"]
    assert rules[0] == {
        "action": "Ignore",
        "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}],
    }
    assert [r["action"] for r in rules] == ["Ignore", "FailJob"]


def test_pod_failure_policy_follows_values():
    rules = job_spec(render(sets=("job.podFailurePolicy.failOnExitCodes={2}",)))["podFailurePolicy"]["rules"]
    assert rules[1]["onExitCodes"]["values"] == [2]
    rules = job_spec(render(sets=("job.podFailurePolicy.ignoreDisruptions=false",)))["podFailurePolicy"]["rules"]
    assert [r["action"] for r in rules] == ["FailJob"]
    assert "podFailurePolicy" not in job_spec(render(TRIAL))


# --- security -----------------------------------------------------------------------------------


@pytest.mark.parametrize("docs_of", [lambda: render(), lambda: render(TRIAL)], ids=["default", "trial"])
def test_hardened_security_contexts(docs_of):
    docs = docs_of()
    pod = pod_spec(docs)["securityContext"]
    assert pod["runAsNonRoot"] is True
    assert pod["runAsUser"] == 65532
    assert pod["runAsGroup"] == 65532
    assert pod["seccompProfile"] == {"type": "RuntimeDefault"}
    c = container(docs)["securityContext"]
    assert c["allowPrivilegeEscalation"] is False
    assert c["readOnlyRootFilesystem"] is True
    assert c["privileged"] is False
    assert c["runAsNonRoot"] is True
    assert c["capabilities"] == {"drop": ["ALL"]}
    assert "add" not in c["capabilities"]


def test_tmp_is_the_only_writable_chart_volume():
    docs = render()
    volumes = {v["name"]: v for v in pod_spec(docs)["volumes"]}
    assert volumes["tmp"]["emptyDir"] == {"sizeLimit": "1Gi"}
    mounts = {m["mountPath"]: m for m in container(docs)["volumeMounts"]}
    assert mounts["/tmp"]["name"] == "tmp"
    assert mounts["/tmp"].get("readOnly") is not True
    for path, mount in mounts.items():
        if path != "/tmp":
            assert mount["readOnly"] is True, path
    for volume in volumes.values():
        assert "hostPath" not in volume
    pod = pod_spec(docs)
    for key in ("hostNetwork", "hostPID", "hostIPC"):
        assert key not in pod
    # No Service's variables in the environment: one named "rollcall" would add ROLLCALL_PORT.
    assert pod["enableServiceLinks"] is False


def test_tmp_volume_options():
    docs = render(FULL)
    tmp = {v["name"]: v for v in pod_spec(docs)["volumes"]}["tmp"]
    assert tmp["emptyDir"] == {"medium": "Memory", "sizeLimit": "256Mi"}
    tmp = {v["name"]: v for v in pod_spec(render(TRIAL))["volumes"]}["tmp"]
    assert tmp["emptyDir"] == {}


def test_no_kubernetes_api_token_by_default():
    docs = render()
    assert pod_spec(docs)["automountServiceAccountToken"] is False
    account = one(docs, "ServiceAccount")
    assert account["automountServiceAccountToken"] is False
    assert pod_spec(docs)["serviceAccountName"] == account["metadata"]["name"] == "rollcall"


def test_service_account_for_irsa():
    docs = render(FULL)
    account = one(docs, "ServiceAccount")
    assert account["metadata"]["name"] == "rollcall-audit-runner"
    assert account["metadata"]["annotations"] == {
        "eks.amazonaws.com/role-arn": "arn:aws:iam::111122223333:role/rollcall-reports"
    }
    assert account["automountServiceAccountToken"] is True
    assert pod_spec(docs)["serviceAccountName"] == "rollcall-audit-runner"
    assert pod_spec(docs)["automountServiceAccountToken"] is True


def test_existing_service_account():
    docs = render(TRIAL)
    assert maybe(docs, "ServiceAccount") is None
    assert pod_spec(docs)["serviceAccountName"] == "default"
    docs = render(sets=("serviceAccount.create=false", "serviceAccount.name=rollcall-irsa"))
    assert pod_spec(docs)["serviceAccountName"] == "rollcall-irsa"


def test_resources():
    assert container(render())["resources"] == {
        "requests": {"cpu": "50m", "memory": "64Mi"},
        "limits": {"memory": "256Mi"},
    }
    assert "resources" not in container(render(TRIAL))


# --- the job spec --------------------------------------------------------------------------------


@pytest.mark.parametrize("values", [None, FULL], ids=["default", "full"])
def test_configmap_holds_exactly_the_values_config(values):
    docs = render(values) if values else render()
    expected = values_yaml(values or "values.yaml")["config"]
    configmap = one(docs, "ConfigMap")
    assert list(configmap["data"]) == ["job.yaml"]
    assert yaml.safe_load(configmap["data"]["job.yaml"]) == expected


def test_spec_is_mounted_read_only_and_named_by_rollcall_config():
    docs = render()
    c = container(docs)
    assert env(c)["ROLLCALL_CONFIG"] == "/etc/rollcall/job.yaml"
    mount = [m for m in c["volumeMounts"] if m["name"] == "config"][0]
    assert mount == {"name": "config", "mountPath": "/etc/rollcall", "readOnly": True}
    volume = [v for v in pod_spec(docs)["volumes"] if v["name"] == "config"][0]
    assert volume["configMap"]["name"] == one(docs, "ConfigMap")["metadata"]["name"]
    assert volume["configMap"]["items"] == [{"key": "job.yaml", "path": "job.yaml"}]
    assert c["args"] == ["run"]


def test_existing_configmap():
    docs = render(TRIAL)
    assert maybe(docs, "ConfigMap") is None
    c = container(docs)
    assert env(c)["ROLLCALL_CONFIG"] == "/etc/rollcall-spec/nightly.yaml"
    volume = [v for v in pod_spec(docs)["volumes"] if v["name"] == "config"][0]
    assert volume["configMap"] == {
        "name": "rollcall-spec",
        "items": [{"key": "nightly.yaml", "path": "nightly.yaml"}],
    }
    # Nothing the chart renders reflects that ConfigMap's content, so no checksum is claimed.
    annotations = job_spec(docs)["template"]["metadata"].get("annotations", {})
    assert "checksum/config" not in annotations


def checksum(docs: list[dict]) -> str:
    return job_spec(docs)["template"]["metadata"]["annotations"]["checksum/config"]


def test_checksum_annotation_tracks_the_spec_only():
    base = checksum(render())
    assert re.fullmatch(r"[0-9a-f]{64}", base)
    assert checksum(render(sets=("schedule=0 4 * * *",))) == base
    assert checksum(render(sets=("image.tag=9.9.9",))) == base
    assert checksum(render(sets=("config.output.url=s3://other/prefix",))) != base
    assert checksum(render(sets=("config.job=other",))) != base


def test_checksum_is_sha256_of_the_mounted_spec():
    docs = render()
    spec = one(docs, "ConfigMap")["data"]["job.yaml"]
    # The block scalar adds the one trailing newline the hashed text does not have.
    assert hashlib.sha256(spec.removesuffix("\n").encode()).hexdigest() == checksum(docs)


def test_extra_args_reach_run_only():
    docs = render(FULL)
    assert container(docs)["args"] == ["run", "--only", "vault-prod", "--only", "vault-eu"]
    hook = one(docs, "Pod", hook=True)
    # helm test checks every source of the spec, whatever subset the scheduled run takes.
    assert hook["spec"]["containers"][0]["args"] == ["check", "--config", "/etc/rollcall/job.yaml"]


def test_log_settings():
    assert env(container(render()))["ROLLCALL_LOG_FORMAT"] == "json"
    assert "ROLLCALL_LOG" not in env(container(render()))
    full = env(container(render(FULL)))
    assert full["ROLLCALL_LOG_FORMAT"] == "text"
    assert full["ROLLCALL_LOG"] == "rollcall=debug,info"
    assert "ROLLCALL_LOG_FORMAT" not in env(container(render(TRIAL)))


# --- secrets ---------------------------------------------------------------------------------------


def test_default_secret_is_optional_and_not_rendered():
    docs = render()
    assert maybe(docs, "Secret") is None
    assert container(docs)["envFrom"] == [{"secretRef": {"name": "rollcall", "optional": True}}]


def test_existing_secret_via_env_from():
    docs = render(FULL)
    assert maybe(docs, "Secret") is None
    env_from = container(docs)["envFrom"]
    assert env_from[0] == {"secretRef": {"name": "rollcall-credentials", "optional": False}}
    assert env_from[1] == {"configMapRef": {"name": "rollcall-proxy"}}


def test_chart_made_secret():
    docs = render(TRIAL)
    secret = one(docs, "Secret")
    assert secret["type"] == "Opaque"
    assert secret["stringData"] == values_yaml(TRIAL)["secret"]["data"]
    assert "data" not in secret
    assert container(docs)["envFrom"] == [
        {"secretRef": {"name": secret["metadata"]["name"], "optional": False}}
    ]


def test_secret_files_mount_and_file_variables():
    docs = render(FULL)
    c = container(docs)
    variables = env(c)
    assert variables["VAULT_EU_TOKEN_FILE"] == "/var/run/secrets/rollcall/vault-eu-token"
    # rollcall refuses a secret given both ways; the chart must only set the _FILE form.
    assert "VAULT_EU_TOKEN" not in variables
    mount = [m for m in c["volumeMounts"] if m["name"] == "secret-files"][0]
    assert mount == {"name": "secret-files", "mountPath": "/var/run/secrets/rollcall", "readOnly": True}
    volume = [v for v in pod_spec(docs)["volumes"] if v["name"] == "secret-files"][0]
    assert volume["secret"] == {
        "secretName": "rollcall-vault-eu",
        "defaultMode": 0o440,
        "items": [{"key": "vault-eu-token", "path": "vault-eu-token"}],
    }


def test_secret_files_absent_by_default():
    docs = render()
    assert "secret-files" not in {v["name"] for v in pod_spec(docs)["volumes"]}
    assert not [k for k in env(container(docs)) if k.endswith("_FILE")]


def test_no_secret_value_outside_the_secret_object():
    # A chart-made Secret's values must appear in the Secret only, never in the pod spec.
    docs = render(TRIAL)
    for doc in docs:
        if doc["kind"] != "Secret":
            assert "not-a-real-token" not in json.dumps(doc)


# --- sharding -------------------------------------------------------------------------------------


def test_not_sharded_by_default():
    job = job_spec(render())
    for key in ("completionMode", "completions", "parallelism", "backoffLimitPerIndex"):
        assert key not in job
    assert "ROLLCALL_SHARD_COUNT" not in env(container(render()))


def test_sharded_run_is_an_indexed_job():
    docs = render(FULL)
    job = job_spec(docs)
    assert job["completionMode"] == "Indexed"
    assert job["completions"] == 3
    assert job["parallelism"] == 2
    # Retries count per shard, so one shard's failure never ends the others.
    assert job["backoffLimitPerIndex"] == 2
    assert "backoffLimit" not in job
    fail = [r for r in job["podFailurePolicy"]["rules"] if "onExitCodes" in r]
    assert fail[0]["action"] == "FailIndex"
    # JOB_COMPLETION_INDEX comes from Kubernetes; the chart supplies only the count.
    variables = env(container(docs))
    assert variables["ROLLCALL_SHARD_COUNT"] == "3"
    assert "JOB_COMPLETION_INDEX" not in variables
    # The helm test pod checks the whole spec, unsharded.
    hook = one(docs, "Pod", hook=True)
    assert "ROLLCALL_SHARD_COUNT" not in env(hook["spec"]["containers"][0])


def test_parallelism_defaults_to_the_shard_count():
    job = job_spec(render(sets=("sharding.enabled=true", "sharding.count=4")))
    assert (job["completions"], job["parallelism"]) == (4, 4)
    assert env(container(render(sets=("sharding.enabled=true", "sharding.count=4"))))["ROLLCALL_SHARD_COUNT"] == "4"


# --- optional fields ----------------------------------------------------------------------------


def test_optional_fields_absent_by_default():
    docs = render()
    cronjob = one(docs, "CronJob")
    assert "annotations" not in cronjob["metadata"]
    assert "annotations" not in cronjob["spec"]["jobTemplate"]["metadata"]
    pod = pod_spec(docs)
    for key in (
        "nodeSelector",
        "tolerations",
        "affinity",
        "priorityClassName",
        "imagePullSecrets",
        "terminationGracePeriodSeconds",
    ):
        assert key not in pod, key
    assert {v["name"] for v in pod["volumes"]} == {"config", "tmp"}
    c = container(docs)
    assert [e["name"] for e in c["env"]] == ["ROLLCALL_CONFIG", "ROLLCALL_LOG_FORMAT"]
    assert len(c["envFrom"]) == 1
    assert "annotations" not in one(docs, "ServiceAccount")["metadata"]
    assert set(job_spec(docs)["template"]["metadata"]["annotations"]) == {"checksum/config"}


def test_optional_fields_rendered_when_set():
    docs = render(FULL)
    cronjob = one(docs, "CronJob")
    assert cronjob["metadata"]["annotations"] == {"example.com/owner": "security"}
    assert cronjob["metadata"]["labels"]["tier"] == "batch"
    assert cronjob["spec"]["jobTemplate"]["metadata"]["annotations"] == {"example.com/run": "nightly"}
    assert cronjob["spec"]["jobTemplate"]["metadata"]["labels"]["run"] == "nightly"
    template = job_spec(docs)["template"]
    assert template["metadata"]["labels"]["network-policy"] == "egress-vault"
    assert template["metadata"]["annotations"]["sidecar.istio.io/inject"] == "false"
    pod = template["spec"]
    assert pod["nodeSelector"] == {"kubernetes.io/os": "linux"}
    assert pod["tolerations"][0]["key"] == "dedicated"
    assert "nodeAffinity" in pod["affinity"]
    assert pod["priorityClassName"] == "batch-low"
    assert pod["imagePullSecrets"] == [{"name": "registry-credentials"}]
    assert pod["terminationGracePeriodSeconds"] == 60
    c = container(docs)
    assert env(c)["VAULT_CACERT"] == "/etc/rollcall-ca/ca.crt"
    assert {"name": "internal-ca", "mountPath": "/etc/rollcall-ca", "readOnly": True} in c["volumeMounts"]
    assert {"name": "internal-ca", "configMap": {"name": "internal-ca"}} in pod["volumes"]


def test_null_removes_fields_that_have_defaults():
    docs = render(TRIAL)
    spec = one(docs, "CronJob")["spec"]
    for key in ("timeZone", "startingDeadlineSeconds", "successfulJobsHistoryLimit", "failedJobsHistoryLimit"):
        assert key not in spec, key
    job = job_spec(docs)
    for key in ("backoffLimit", "activeDeadlineSeconds", "ttlSecondsAfterFinished", "podFailurePolicy"):
        assert key not in job, key


# --- names, labels and image ------------------------------------------------------------------------


def test_image_defaults_to_the_app_version():
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    c = container(render())
    assert c["image"] == f"ghcr.io/rollcall/rollcall:{chart['appVersion']}"
    assert c["imagePullPolicy"] == "IfNotPresent"


def test_digest_pins_the_image():
    c = container(render(FULL))
    assert c["image"] == "registry.example.com/platform/rollcall@sha256:" + "0" * 64
    assert c["imagePullPolicy"] == "Always"


def test_app_version_matches_the_crate():
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    cargo = (REPO / "Cargo.toml").read_text()
    version = re.search(r'^version\s*=\s*"([^"]+)"', cargo, re.M).group(1)
    assert chart["appVersion"] == version


def test_names_fit_kubernetes_limits():
    # Helm allows release names up to 53 characters; the chart name is appended to this one.
    release = "compliance-team-nightly-exports-for-every-region-x"
    docs = render(release=release)
    name = one(docs, "CronJob")["metadata"]["name"]
    # The controller appends an 11-character suffix to name each Job; Job names stop at 63.
    assert len(name) <= 52
    assert not name.endswith("-")


def test_every_object_is_labelled_and_namespaced():
    for values in (None, FULL, TRIAL):
        docs = render(values) if values else render()
        expected_ns = "compliance" if values == FULL else "rollcall"
        for doc in docs:
            meta = doc["metadata"]
            assert meta["namespace"] == expected_ns, doc["kind"]
            assert meta["labels"]["app.kubernetes.io/instance"] == "rollcall"
            assert meta["labels"]["app.kubernetes.io/managed-by"] == "Helm"
    selector = job_spec(render())["template"]["metadata"]["labels"]
    assert selector == {"app.kubernetes.io/name": "rollcall", "app.kubernetes.io/instance": "rollcall"}


# --- helm test hook ------------------------------------------------------------------------------


def test_helm_test_pod_validates_with_the_same_pod_spec():
    docs = render(FULL)
    hook = one(docs, "Pod", hook=True)
    assert hook["metadata"]["annotations"]["helm.sh/hook"] == "test"
    run_pod = pod_spec(docs)
    test_pod = hook["spec"]
    for key in ("serviceAccountName", "securityContext", "volumes", "restartPolicy", "nodeSelector", "tolerations"):
        assert test_pod[key] == run_pod[key], key
    run_c, test_c = run_pod["containers"][0], test_pod["containers"][0]
    for key in ("image", "envFrom", "volumeMounts", "securityContext", "resources"):
        assert test_c[key] == run_c[key], key


# --- render-time checks ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sets", "message"),
    [
        (("existingSecret=mine", "secret.create=true", "secret.data.VAULT_TOKEN=x"), "not both"),
        (("secret.create=true",), "secret.data is empty"),
        (("secretFiles.enabled=true",), "secretFiles.secretName is empty"),
        (("sharding.enabled=true", "sharding.count=2", "sharding.parallelism=3"), "cannot exceed"),
        # FailIndex is only valid with backoffLimitPerIndex, which job.backoffLimit provides.
        (("sharding.enabled=true", "job.backoffLimit=null"), "sharding needs job.backoffLimit"),
        (
            (
                "secret.create=true",
                "secret.data.VAULT_TOKEN=x",
                "secretFiles.enabled=true",
                "secretFiles.secretName=files",
                "secretFiles.env[0].name=VAULT_TOKEN",
                "secretFiles.env[0].key=vault-token",
            ),
            "VAULT_TOKEN_FILE",
        ),
    ],
)
def test_contradictory_values_fail_the_render(sets, message):
    args = [a for item in sets for a in ("--set", item)]
    assert message in render_error(*args)


def notes(*args: str) -> str:
    out = helm("install", "rollcall", str(CHART), "--namespace", "rollcall", "--dry-run=client", *args).stdout
    return out.split("NOTES:", 1)[1]


def test_notes_say_how_to_run_now_and_where_reports_land():
    text = notes()
    assert "s3://compliance-reports/rollcall" in text
    assert "manifest.json" in text
    assert "helm test rollcall" in text
    assert "rollcall check --config /etc/rollcall/job.yaml" in text
    assert "no credentials are configured" in text
    text = notes("--values", str(CHART / "ci" / TRIAL))
    assert "ConfigMap rollcall/rollcall-spec (key nightly.yaml)" in text
    assert "no credentials are configured" not in text


def manual_run_commands(text: str) -> list[str]:
    start = text.index("Run it now")
    lines = text[start:].split("\n\n", 2)[1].splitlines()
    return [line.strip() for line in lines if line.startswith("  ")]


@pytest.mark.parametrize("values", [None, FULL], ids=["default", "sharded"])
def test_notes_manual_run_is_copy_paste(values):
    # Every command of the sequence runs as printed: the Job's name is made once, in a variable,
    # and no line holds a placeholder for the reader to fill in.
    commands = manual_run_commands(notes(*(["--values", str(CHART / "ci" / values)] if values else [])))
    name = "rollcall-audit" if values else "rollcall"
    namespace = "compliance" if values else "rollcall"
    assert commands[0] == f'job="{name}-manual-$(date +%s)"'
    assert commands[1] == f'kubectl --namespace {namespace} create job --from=cronjob/{name} "$job"'
    assert f'kubectl --namespace {namespace} logs --follow --pod-running-timeout=5m "job/$job"' in commands
    assert commands[-1] == f'kubectl --namespace {namespace} get job "$job"'
    for command in commands:
        assert "<" not in command and ">" not in command, command
    if values:
        assert any("--max-log-requests=3" in c for c in commands)


def test_notes_warn_about_placeholder_values():
    text = notes()
    assert "WARNING: these values are still the chart's placeholders" in text
    assert "config.output.url is the chart's example bucket (s3://compliance-reports/rollcall)" in text
    assert "source vault: address https://vault.example.com:8200 is an example address" in text
    text = notes(
        "--set", "config.output.url=s3://acme-reports/rollcall",
        "--set", "config.sources[0].name=vault",
        "--set", "config.sources[0].kind=vault_client_activity",
        "--set", "config.sources[0].address=https://vault.acme.internal:8200",
    )
    assert "placeholders" not in text
    # Subdomains and the other reserved names count too; a real domain that merely contains one
    # of them does not.
    text = notes(
        "--set", "config.sources[0].name=ld",
        "--set", "config.sources[0].kind=launchdarkly_audit_log",
        "--set", "config.sources[0].base_url=https://ld.example.org",
    )
    assert "source ld: base_url https://ld.example.org is an example address" in text
    text = notes(
        "--set", "config.output.url=s3://acme-reports/rollcall",
        "--set", "config.sources[0].name=vault",
        "--set", "config.sources[0].kind=vault_client_activity",
        "--set", "config.sources[0].address=https://vault.notexample.com:8200",
    )
    assert "placeholders" not in text


def test_placeholder_bucket_is_the_values_default():
    # NOTES compares against this literal; it must stay the default of values.yaml.
    assert values_yaml()["config"]["output"]["url"] == "s3://compliance-reports/rollcall"
    assert "s3://compliance-reports/rollcall" in (CHART / "templates" / "_helpers.tpl").read_text()


# --- helm test: rollcall check ------------------------------------------------------------------


def test_helm_test_runs_rollcall_check_on_the_mounted_spec():
    docs = render()
    hook = one(docs, "Pod", hook=True)
    assert hook["metadata"]["name"] == "rollcall-check"
    c = hook["spec"]["containers"][0]
    assert c["args"] == ["check", "--config", env(c)["ROLLCALL_CONFIG"]]
    assert c["args"][2] == "/etc/rollcall/job.yaml"
    hook = one(render(TRIAL), "Pod", hook=True)
    assert hook["spec"]["containers"][0]["args"] == ["check", "--config", "/etc/rollcall-spec/nightly.yaml"]


# --- Vault login with the service-account token ------------------------------------------------------


def mounted_spec(docs: list[dict]) -> dict:
    return yaml.safe_load(one(docs, "ConfigMap")["data"]["job.yaml"])


def vault_token_volume(docs: list[dict]) -> dict | None:
    found = [v for v in pod_spec(docs)["volumes"] if v["name"] == "vault-token"]
    return found[0] if found else None


def test_no_vault_token_volume_without_a_login_source():
    for values in (None, FULL, TRIAL):
        docs = render(values) if values else render()
        assert vault_token_volume(docs) is None, values
        assert "vault-token" not in {m["name"] for m in container(docs)["volumeMounts"]}


def test_kubernetes_login_mounts_a_projected_token_and_points_the_spec_at_it():
    docs = render(KUBERNETES_LOGIN)
    assert vault_token_volume(docs) == {
        "name": "vault-token",
        "projected": {
            "defaultMode": 0o440,
            "sources": [{"serviceAccountToken": {"audience": "vault", "expirationSeconds": 600, "path": "token"}}],
        },
    }
    mount = [m for m in container(docs)["volumeMounts"] if m["name"] == "vault-token"][0]
    assert mount == {"name": "vault-token", "mountPath": "/var/run/secrets/rollcall-vault", "readOnly": True}
    auth = mounted_spec(docs)["sources"][0]["auth"]
    assert auth == {"method": "kubernetes", "role": "rollcall", "token_file": "/var/run/secrets/rollcall-vault/token"}
    # The Kubernetes API token stays unmounted: the projected token is only for Vault.
    assert pod_spec(docs)["automountServiceAccountToken"] is False
    # helm test logs in the same way.
    hook = one(docs, "Pod", hook=True)["spec"]
    assert vault_token_volume(docs) in hook["volumes"]
    assert mount in hook["containers"][0]["volumeMounts"]


def test_vault_login_values_follow_the_chart_values():
    docs = render(VAULT_LOGIN)
    projected = vault_token_volume(docs)["projected"]["sources"][0]["serviceAccountToken"]
    assert projected == {"audience": "https://vault.acme.internal", "expirationSeconds": 900, "path": "token"}
    mount = [m for m in container(docs)["volumeMounts"] if m["name"] == "vault-token"][0]
    assert mount["mountPath"] == "/var/run/secrets/vault-sa"
    sources = {s["name"]: s for s in mounted_spec(docs)["sources"]}
    assert sources["vault-prod"]["auth"]["token_file"] == "/var/run/secrets/vault-sa/token"
    assert sources["vault-eu"]["auth"] == {
        "method": "jwt",
        "role": "rollcall-reports",
        "mount": "jwt-eks",
        "token_file": "/var/run/secrets/vault-sa/token",
    }
    # AppRole reads its ids from variables: no token_file is added.
    assert "token_file" not in sources["vault-legacy"]["auth"]


def test_always_mount_serves_a_spec_in_an_existing_configmap():
    docs = render(TRIAL, sets=("vault.auth.alwaysMount=true",))
    assert vault_token_volume(docs)["projected"]["sources"][0]["serviceAccountToken"]["audience"] == "vault"
    assert vault_token_volume(render(TRIAL)) is None


@pytest.mark.parametrize(
    "sets",
    [
        ("vault.auth.tokenPath=/etc/rollcall/token",),
        ("vault.auth.tokenPath=/tmp/token",),
        (
            "vault.auth.tokenPath=/var/run/secrets/rollcall/token",
            "secretFiles.enabled=true",
            "secretFiles.secretName=files",
        ),
    ],
    ids=["config", "tmp", "secret-files"],
)
def test_a_token_folder_shared_with_another_mount_fails_the_render(sets):
    args = ["--values", str(CHART / "ci" / KUBERNETES_LOGIN)] + [a for item in sets for a in ("--set", item)]
    assert "another volume of the pod is mounted at" in render_error(*args)


def test_a_token_file_elsewhere_fails_the_render():
    error = render_error(
        "--values", str(CHART / "ci" / KUBERNETES_LOGIN),
        "--set", "config.sources[0].auth.token_file=/somewhere/else",
    )
    assert "source vault: auth.token_file is /somewhere/else" in error
    assert "vault.auth.tokenPath" in error


# --- metrics -------------------------------------------------------------------------------------


def test_pushgateway_rendered_into_the_spec_only_when_set():
    assert "metrics" not in mounted_spec(render())
    assert "metrics" not in mounted_spec(render(FULL))
    spec = mounted_spec(render(sets=("metrics.pushgateway=http://pushgateway.monitoring:9091",)))
    assert spec["metrics"] == {"pushgateway": "http://pushgateway.monitoring:9091"}
    assert mounted_spec(render(VAULT_LOGIN))["metrics"] == {
        "pushgateway": "http://prometheus-pushgateway.monitoring.svc:9091"
    }


def test_pushgateway_set_twice_differently_fails_the_render():
    error = render_error(
        "--set", "metrics.pushgateway=http://a:9091", "--set", "config.metrics.pushgateway=http://b:9091"
    )
    assert "not both" in error


def test_chart_values_change_the_checksum():
    # The checksum covers the spec as mounted, including what the chart adds to it.
    base = checksum(render())
    assert checksum(render(sets=("metrics.pushgateway=http://pushgateway:9091",))) != base
