#!/usr/bin/env bash
# Checks that src/ has no module cycle: each top-level module may use only the modules below it
# in the order config/time ← http/output/report/logging ← sources/metrics ← job ← run ← check ← main.
# Prints the import graph it found (module -> modules it uses) and exits 1 on a violation.
set -euo pipefail
cd "$(dirname "$0")/../src"

# What each module may use. A module missing here fails the check, so a new one gets a place.
declare -A allowed=(
  [config]=""
  [time]=""
  [http]="config"
  [output]="config"
  [report]="config time output"
  [logging]="config"
  [sources]="config time http output report"
  [metrics]="config time http report"
  [job]="config time http output report sources metrics"
  [run]="config time http output report sources metrics job"
  [check]="config time http output report sources metrics job run"
)

status=0
modules=$( (ls -d */ 2>/dev/null; ls *.rs) | sed 's#/$##; s#\.rs$##' | sort -u)
for module in $modules; do
  case $module in lib | main) continue ;; esac
  files=$( (ls "$module.rs" 2>/dev/null || true; if [ -d "$module" ]; then find "$module" -name "*.rs"; fi) | sort)
  if [ -z "${allowed[$module]+set}" ]; then
    echo "src/$module: module \`$module\` has no place in the layering order; add it to scripts/check-layering.sh"
    status=1
    continue
  fi
  # Paths in code, not in comments: `crate::x`, whether in a `use` or inline.
  used=$(cat $files | grep -v '^[[:space:]]*//' | grep -o 'crate::[a-z_]*' | sed 's/crate:://' |
    sort -u | grep -vx "$module" || true)
  printf '%-8s -> %s\n' "$module" "$(echo $used)"
  for dependency in $used; do
    if ! [[ " ${allowed[$module]} " == *" $dependency "* ]]; then
      echo "  VIOLATION: \`$module\` uses \`$dependency\`, which is not below it"
      status=1
    fi
  done
done
if [ $status -eq 0 ]; then
  echo "layering: no module uses one above it (no cycle)"
fi
exit $status
