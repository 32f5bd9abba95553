#!/usr/bin/env bash
# Regenerates the job spec's JSON Schema from the Rust spec types: docs/job-spec.schema.json (for
# editors) and the `config` part of the chart's helm/rollcall/values.schema.json (for helm lint).
# tests/schema.rs fails until this has run after a spec type changed.
set -euo pipefail
cd "$(dirname "$0")/.."

# Through a temporary file, so a failed build leaves the checked-in schema as it was.
cargo run --quiet -- schema >docs/job-spec.schema.json.new
mv docs/job-spec.schema.json.new docs/job-spec.schema.json
python3 - <<'PY'
import json
from pathlib import Path

spec = json.loads(Path("docs/job-spec.schema.json").read_text())
# Embedded in the chart's schema, the spec's schema is a subschema: no meta-schema of its own.
spec.pop("$schema", None)
chart = Path("helm/rollcall/values.schema.json")
values = json.loads(chart.read_text())
values["properties"]["config"] = spec
chart.write_text(json.dumps(values, indent=2, ensure_ascii=False) + "\n")
PY
echo "updated docs/job-spec.schema.json and helm/rollcall/values.schema.json (config)"
