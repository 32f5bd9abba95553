"""Shared helpers for the chart tests: render the chart with the real helm binary and read the YAML.

scripts/check-kubernetes.sh sets HELM to the helm it installed; run alone, the tests look for it
under .tools/ (where that script puts it), then on PATH.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "helm" / "rollcall"
CI_VALUES = CHART / "ci"
FIXTURES = Path(__file__).resolve().parent / "fixtures"
# The oldest Kubernetes the chart supports (podFailurePolicy is GA from 1.31).
KUBE_VERSION = "1.31.0"
RELEASE = "rollcall"
NAMESPACE = "rollcall"


def helm_binary() -> str:
    for candidate in (os.environ.get("HELM"), str(REPO / ".tools" / "helm" / "helm"), shutil.which("helm")):
        if candidate and Path(candidate).is_file():
            return candidate
    pytest.fail("no helm binary: run scripts/check-kubernetes.sh, or set HELM")


def helm(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([helm_binary(), *args], capture_output=True, text=True, cwd=REPO)
    if check and result.returncode != 0:
        pytest.fail(f"helm {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result


@functools.cache
def _render(values: tuple[str, ...], sets: tuple[str, ...], release: str) -> tuple[dict, ...]:
    args = ["template", release, str(CHART), "--namespace", NAMESPACE, "--kube-version", KUBE_VERSION]
    for path in values:
        args += ["--values", path]
    for item in sets:
        args += ["--set", item]
    docs = yaml.safe_load_all(helm(*args).stdout)
    return tuple(d for d in docs if d)


def render(*values: str | Path, sets: tuple[str, ...] = (), release: str = RELEASE) -> list[dict]:
    """Every rendered object, for these values files (CI_VALUES-relative names allowed) and --set items."""
    paths = tuple(str(v if Path(v).is_absolute() else CI_VALUES / v) for v in values)
    return [dict(d) for d in _render(paths, tuple(sets), release)]


def render_error(*args: str) -> str:
    """Renders expecting failure; returns helm's error output."""
    result = helm("template", RELEASE, str(CHART), "--kube-version", KUBE_VERSION, *args, check=False)
    assert result.returncode != 0, f"expected helm template {' '.join(args)} to fail"
    return result.stderr


def one(docs: list[dict], kind: str, *, hook: bool = False) -> dict:
    """The single object of this kind (test hooks excluded unless hook=True)."""
    found = [
        d
        for d in docs
        if d["kind"] == kind
        and (("helm.sh/hook" in d["metadata"].get("annotations", {})) == hook)
    ]
    assert len(found) == 1, f"expected one {kind}, found {len(found)}"
    return found[0]


def maybe(docs: list[dict], kind: str) -> dict | None:
    found = [d for d in docs if d["kind"] == kind]
    return found[0] if found else None


def job_spec(docs: list[dict]) -> dict:
    return one(docs, "CronJob")["spec"]["jobTemplate"]["spec"]


def pod_spec(docs: list[dict]) -> dict:
    return job_spec(docs)["template"]["spec"]


def container(docs: list[dict]) -> dict:
    containers = pod_spec(docs)["containers"]
    assert [c["name"] for c in containers] == ["rollcall"]
    return containers[0]


def env(c: dict) -> dict[str, str]:
    return {e["name"]: e.get("value") for e in c.get("env", [])}


def values_yaml(name: str = "values.yaml") -> dict:
    path = CHART / name if name == "values.yaml" else CI_VALUES / name
    return yaml.safe_load(path.read_text())
