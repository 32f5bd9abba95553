#!/usr/bin/env bash
# The whole test suite, from a fresh clone: installs what the tests need (s3s-fs for the S3
# tests, helm and the Kubernetes validators for the chart checks), then runs fmt, clippy, every
# test, the demo and the chart checks. CI (.ci/run) calls exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
tools=$root/.tools
mkdir -p "$tools"

step() { printf '\n==> %s\n' "$*"; }

step "s3s-fs 0.14.1 (S3-compatible server that checks SigV4; each S3 test starts its own on a free loopback port)"
if ! [ -x "$tools/bin/s3s-fs" ]; then
  # 0.14.1 is the last release that builds on this toolchain (0.17 needs rustc 1.96).
  cargo install s3s-fs@0.14.1 --locked --features binary --root "$tools"
fi
export S3S_FS=$tools/bin/s3s-fs
"$S3S_FS" --version

step "cargo fmt --check"
cargo fmt --all -- --check

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
