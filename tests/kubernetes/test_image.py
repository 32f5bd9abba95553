"""The Dockerfile and its build context, checked without a Docker daemon (none runs here)."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import yaml
from conftest import CHART, REPO

DOCKERFILE = (REPO / "Dockerfile").read_text()


def stages() -> list[tuple[str, list[str]]]:
    """(FROM line, instructions) per stage; continuation lines joined."""
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE)
    result: list[tuple[str, list[str]]] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.upper().startswith("FROM "):
            result.append((line, []))
        elif result:
            result[-1][1].append(line)
    return result


def arg_default(name: str) -> str:
    match = re.search(rf"^ARG {name}=(\S+)$", DOCKERFILE, re.M)
    assert match, f"ARG {name} has no default"
    return match.group(1)


def cargo_package() -> dict:
    meta = subprocess.run(
        ["cargo", "metadata", "--no-deps", "--format-version", "1", "--offline"],
        cwd=REPO, capture_output=True, text=True, check=True,
    )
    return json.loads(meta.stdout)["packages"][0]


def test_build_stage_uses_the_crate_toolchain():
    rust_version = re.search(r'^rust-version\s*=\s*"([^"]+)"', (REPO / "Cargo.toml").read_text(), re.M).group(1)
    assert arg_default("RUST_VERSION") == rust_version
    assert stages()[0][0] == "FROM rust:${RUST_VERSION}-bookworm AS chef"
    body = "\n".join(i for _, ins in stages() for i in ins)
    assert "cargo chef cook --release --locked" in body
    assert "cargo build --release --locked --bin rollcall" in body


def test_runtime_is_distroless_non_root_without_shell():
    from_line, instructions = stages()[-1]
    assert from_line.startswith("FROM gcr.io/distroless/cc-debian12:nonroot")
    users = [i for i in instructions if i.startswith("USER ")]
    assert users == ["USER 65532:65532"]
    entrypoint = [i for i in instructions if i.startswith("ENTRYPOINT ")]
    # Exec form: there is no shell in the image to run a string form.
    assert entrypoint == ['ENTRYPOINT ["/usr/local/bin/rollcall"]']
    assert not [i for i in instructions if i.startswith("RUN ")], "the runtime has no shell to RUN with"


def test_chart_runs_the_image_user():
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert values["podSecurityContext"]["runAsUser"] == 65532
    assert values["podSecurityContext"]["runAsGroup"] == 65532


def test_oci_labels_carry_version_and_source():
    package = cargo_package()
    assert arg_default("VERSION") == package["version"]
    assert arg_default("SOURCE") == package["repository"]
    for label in ("version", "source", "revision", "created", "licenses", "title"):
        assert f"org.opencontainers.image.{label}=" in DOCKERFILE, label
    assert f'org.opencontainers.image.licenses="{package["license"]}"' in DOCKERFILE


def dockerignore_includes(path: str) -> bool:
    """Whether `path` is in the build context, by .dockerignore rules (last matching pattern wins,
    a pattern that matches a directory covers everything under it, * stops at /)."""
    patterns = []
    for line in (REPO / ".dockerignore").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        pattern = line.lstrip("!").strip("/")
        regex = re.escape(pattern).replace(r"\*\*", ".*").replace(r"\*", "[^/]*").replace(r"\?", "[^/]")
        patterns.append((negate, re.compile(regex)))
    parts = path.split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    included = True
    for negate, regex in patterns:
        if any(regex.fullmatch(c) for c in candidates):
            included = negate
    return included


def test_build_context_holds_every_cargo_target():
    package = cargo_package()
    needed = {"Cargo.toml", "Cargo.lock"}
    for target in package["targets"]:
        needed.add(str(Path(target["src_path"]).relative_to(REPO)))
    missing = sorted(p for p in needed if not dockerignore_includes(p))
    assert not missing, f".dockerignore leaves out {missing}; cargo cannot build without them"
    tracked = subprocess.run(["git", "ls-files", "src"], cwd=REPO, capture_output=True, text=True, check=True)
    for path in tracked.stdout.split():
        assert dockerignore_includes(path), path


def test_build_context_leaves_out_the_rest():
    for path in ("target/debug/rollcall", ".git/HEAD", ".tools/helm/helm", "helm/rollcall/values.yaml",
                 "deploy/rollcall.yaml", "tests/kubernetes/test_image.py", "reports/x.csv", "Dockerfile"):
        assert not dockerignore_includes(path), path
