"""The examples in docs/kubernetes.md that operators paste: they parse, and they name what rollcall
and the chart really use."""

from __future__ import annotations

import re

import yaml
from conftest import REPO, values_yaml

GUIDE = (REPO / "docs" / "kubernetes.md").read_text()


def blocks(language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```", GUIDE, flags=re.M | re.S)


def prometheus_rule() -> dict:
    rules = [doc for text in blocks("yaml") if "kind: PrometheusRule" in text for doc in [yaml.safe_load(text)]]
    assert len(rules) == 1, "expected one PrometheusRule example"
    return rules[0]


def test_prometheus_rule_alerts_on_stale_and_incomplete_sources():
    rule = prometheus_rule()
    assert rule["apiVersion"] == "monitoring.coreos.com/v1"
    alerts = {r["alert"]: r for group in rule["spec"]["groups"] for r in group["rules"]}
    stale = alerts["RollcallSourceStale"]["expr"]
    assert re.fullmatch(r"time\(\) - rollcall_source_last_success_timestamp_seconds > .+", stale)
    assert alerts["RollcallSourceIncomplete"]["expr"] == 'rollcall_source_status{status="incomplete"} == 1'
    for alert in alerts.values():
        assert alert["annotations"]["summary"], alert["alert"]


def test_vault_policy_grants_the_export_and_the_cross_checks():
    policies = [text for text in blocks("sh") if "vault policy write rollcall" in text]
    assert len(policies) == 1
    grants = dict(re.findall(r'path "([^"]+)" \{\s*capabilities = (\[[^\]]*\])', policies[0]))
    assert grants == {
        "sys/internal/counters/activity/export": '["read", "sudo"]',
        "sys/internal/counters/activity": '["read"]',
        "sys/internal/counters/config": '["read"]',
    }


def test_vault_roles_are_bound_to_the_chart_service_account_and_audience():
    audience = values_yaml()["vault"]["auth"]["audience"]
    roles = [text for text in blocks("sh") if "/role/rollcall" in text]
    kubernetes = next(t for t in roles if "auth/kubernetes/role/rollcall" in t)
    assert "bound_service_account_names=rollcall" in kubernetes
    assert "bound_service_account_namespaces=rollcall" in kubernetes
    assert f"audience={audience}" in kubernetes
    jwt = next(t for t in roles if "auth/jwt/role/rollcall" in t)
    assert f"bound_audiences={audience}" in jwt
    assert "bound_subject=system:serviceaccount:rollcall:rollcall" in jwt
