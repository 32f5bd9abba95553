"""values.schema.json turns typos into install errors, and agrees with the job spec it carries."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import zoneinfo
from pathlib import Path

import jsonschema
import pytest
import yaml
from conftest import CHART, FIXTURES, KUBE_VERSION, REPO, helm, render, values_yaml

SCHEMA = json.loads((CHART / "values.schema.json").read_text())


def lint(*args: str) -> subprocess.CompletedProcess[str]:
    return helm("lint", "--strict", str(CHART), "--kube-version", KUBE_VERSION, *args, check=False)


def lint_values(tmp_path: Path, values: str) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "values.yaml"
    path.write_text(values)
    return lint("--values", str(path))


SOURCE = "{name: vault, kind: vault_client_activity, address: https://vault.example.com:8200}"


@pytest.mark.parametrize(
    ("values", "typo"),
    [
        ("schedul: 0 3 * * *", "schedul"),
        ("job: {backofLimit: 3}", "backofLimit"),
        ("job: {podFailurePolicy: {failOnExitCode: [2]}}", "failOnExitCode"),
        ("sharding: {cont: 3}", "cont"),
        ("serviceAccount: {annotation: {a: b}}", "annotation"),
        ("secret: {crate: true}", "crate"),
        ("secretFiles: {env: [{nme: VAULT_TOKEN, key: t}]}", "nme"),
        ("image: {tags: 1.0.0}", "tags"),
        ("tmpVolume: {size: 1Gi}", "size"),
        # The job spec's own keys: a typo there would otherwise surface only when the run starts.
        ("config: {outptu: {url: s3://b/p}}", "outptu"),
        ("config: {output: {options: {endpont: https://s3.example.com}}}", "endpont"),
        ("config: {http: {max_retry: 3}}", "max_retry"),
        ("metrics: {pushgatway: http://pg:9091}", "pushgatway"),
        ("vault: {auth: {audiance: vault}}", "audiance"),
        (f"config: {{sources: [{SOURCE[:-1]}, auth: {{method: kubernetes, rol: rollcall}}}}]}}", "rol"),
        # Inside a source, its kind's keys (the schema is generated from the spec types).
        (f"config: {{sources: [{SOURCE[:-1]}, licenced_clients: 250}}]}}", "licenced_clients"),
    ],
)
def test_typos_fail_lint(tmp_path, values, typo):
    result = lint_values(tmp_path, values)
    assert result.returncode != 0, f"helm lint accepted {values}"
    assert typo in result.stdout + result.stderr


def test_typo_fixture_fails_lint():
    result = lint("--values", str(FIXTURES / "typo-values.yaml"))
    assert result.returncode != 0
    assert "backofLimit" in result.stdout + result.stderr


@pytest.mark.parametrize(
    "values",
    [
        "image: {pullPolicy: Sometimes}",
        "logFormat: xml",
        "job: {podFailurePolicy: {failOnExitCodes: [0]}}",
        "sharding: {count: 0}",
        "secret: {data: {vault-token: x}}",  # not an environment variable name
        "startingDeadlineSeconds: 5",  # below 10 s the controller may never start a run
        "config: {sources: []}",
        "config: {sources: [{kind: vault_client_activity}]}",
        # A token pasted where its variable's name goes.
        "config: {sources: [{name: vault, kind: vault_client_activity, token_env: hvs.x-y}]}",
        "metrics: {pushgateway: pushgateway:9091}",  # no scheme
        "vault: {auth: {expirationSeconds: 60}}",  # below Kubernetes' minimum of 600 s
        "vault: {auth: {tokenPath: token}}",  # relative
        f"config: {{sources: [{SOURCE[:-1]}, auth: {{method: oidc}}}}]}}",
        # A kind that does not exist, and a key of the wrong type for its kind.
        "config: {sources: [{name: vault, kind: vault}]}",
        f'config: {{sources: [{SOURCE[:-1]}, licensed_clients: "lots"}}]}}',
        f"config: {{sources: [{SOURCE[:-1]}, months: six}}]}}",
        f"config: {{sources: [{SOURCE[:-1]}, request_timeout: 30}}]}}",  # a duration needs a unit
    ],
)
def test_wrong_values_fail_lint(tmp_path, values):
    assert lint_values(tmp_path, values).returncode != 0, f"helm lint accepted {values}"


@pytest.mark.parametrize(
    "schedule",
    [
        "0 3 * *",  # four fields
        "0 3 * * * *",  # six: seconds are not Kubernetes cron
        "TZ=Europe/Paris 0 3 * * *",  # Kubernetes rejects TZ in the schedule; use timeZone
        "@every 1h",
        "daily",
        "0 3 * * * ; rm",
    ],
)
def test_a_bad_schedule_fails_lint(tmp_path, schedule):
    result = lint_values(tmp_path, f"schedule: {json.dumps(schedule)}")
    assert result.returncode != 0, f"helm lint accepted schedule {schedule!r}"
    assert "schedule" in result.stdout + result.stderr


@pytest.mark.parametrize("schedule", ["0 3 * * *", "30 2 * * 1-5", "*/15 0-6 1,15 JAN-JUN MON", "@daily", "@hourly"])
def test_a_good_schedule_passes_lint(tmp_path, schedule):
    result = lint_values(tmp_path, f"schedule: {json.dumps(schedule)}")
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("zone", ["Paris", "Europe Paris", "europe/paris", "UTC+2", "Europe/Paris ", "Mars/Olympus"])
def test_a_bad_time_zone_fails_lint(tmp_path, zone):
    result = lint_values(tmp_path, f"timeZone: {json.dumps(zone)}")
    assert result.returncode != 0, f"helm lint accepted timeZone {zone!r}"
    assert "timeZone" in result.stdout + result.stderr


@pytest.mark.parametrize("zone", ["", "Etc/UTC", "UTC", "Europe/Paris", "America/Argentina/Buenos_Aires", "Etc/GMT-14"])
def test_a_good_time_zone_passes_lint(tmp_path, zone):
    result = lint_values(tmp_path, f"timeZone: {json.dumps(zone)}")
    assert result.returncode == 0, result.stdout + result.stderr


def test_time_zone_pattern_admits_every_iana_area_location_name():
    # The pattern stands in for the IANA list; it must not refuse a real Area/Location zone.
    pattern = re.compile(SCHEMA["properties"]["timeZone"]["pattern"])
    areas = ("Africa", "America", "Antarctica", "Arctic", "Asia", "Atlantic", "Australia", "Europe", "Indian", "Pacific")
    zones = [z for z in zoneinfo.available_timezones() if z.split("/")[0] in areas or z.startswith("Etc/")]
    assert len(zones) > 300, "no IANA database here to compare with"
    refused = sorted(z for z in zones if not pattern.fullmatch(z))
    assert refused == []


def test_a_correct_override_passes_lint(tmp_path):
    # The negative tests above fail for their own reason, not because any override fails.
    result = lint_values(tmp_path, f"config: {{sources: [{SOURCE}]}}\njob: {{backoffLimit: 3}}")
    assert result.returncode == 0, result.stdout + result.stderr


def test_ci_values_pass_lint():
    for path in sorted((CHART / "ci").glob("*-values.yaml")):
        result = lint("--values", str(path))
        assert result.returncode == 0, f"{path.name}:\n{result.stdout}{result.stderr}"


def config_schema() -> dict:
    return SCHEMA["properties"]["config"]


@pytest.mark.parametrize("name", ["values.yaml", "full-values.yaml"])
def test_chart_specs_match_the_config_schema(name):
    jsonschema.validate(values_yaml(name)["config"], config_schema())


@pytest.mark.parametrize("name", ["values.yaml", "full-values.yaml"])
def test_chart_specs_name_each_token_variable(name):
    # Operators read the chart's spec to learn what their Secret must hold, and
    # check-kubernetes.sh gives exactly these variables a dummy value for `rollcall validate`.
    for source in values_yaml(name)["config"]["sources"]:
        assert source.get("token_env"), f"source {source['name']} relies on its kind's default token_env"


def test_config_example_matches_the_config_schema():
    # The repository's documented spec must pass the chart's schema too, or the schema has fallen
    # behind the binary (a new top-level spec key, say) and would reject a valid spec at install.
    example = REPO / "config.example.yaml"
    if not example.exists():
        pytest.skip("no config.example.yaml in this checkout")
    jsonschema.validate(yaml.safe_load(example.read_text()), config_schema())


def test_config_schema_is_rollcalls_own():
    # The chart carries the schema `rollcall schema` prints (tests/schema.rs compares them), so
    # every source kind's keys are checked at install.
    spec_schema = json.loads((REPO / "docs" / "job-spec.schema.json").read_text())
    spec_schema.pop("$schema")
    assert config_schema() == spec_schema, "run scripts/sync-schema.sh"


def test_kubernetes_validate_is_strict():
    # Guards the validator itself: an unknown field in an otherwise valid CronJob must fail.
    cronjob = next(d for d in render() if d["kind"] == "CronJob")
    cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["bogusField"] = 1
    validator = Path(sys.executable).with_name("kubernetes-validate")
    result = subprocess.run(
        [str(validator), "--strict", "--quiet", "-k", KUBE_VERSION, "-"],
        input=yaml.safe_dump(cronjob),
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0, result.stdout + result.stderr
