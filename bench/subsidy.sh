#!/usr/bin/env bash
# The subsidy benchmark (a benchmark, not a test): release builds of tuoyu-registry,
# tuoyu-inspection, tuoyu-subsidy, the CLI and tuoyu-token, a throwaway Postgres under .run/bench-pg,
# then bench/subsidy.py (20,000 children; a month's enrolment claims end to end through the CLI;
# approvals one per call from 16 concurrent officers beside pgbench's TPC-B-like TPS).
# Usage: bench/subsidy.sh [--duration SECONDS] [--children 20000] [--officers 16]
set -euo pipefail
cd "$(dirname "$0")/.."
EXTRA_APT_PACKAGES="nghttp2-client util-linux" scripts/setup

echo "== building (release)" >&2
for p in tuoyu-registry tuoyu-inspection tuoyu-subsidy tuoyu tuoyu-token; do swift build -c release --product "$p" >&2; done
bin="$(swift build -c release --show-bin-path)"

pgdir=.run/bench-pg
scripts/pg stop "$pgdir" >/dev/null 2>&1 || true
rm -rf "$pgdir"
db=$(scripts/pg start "$pgdir")
trap 'scripts/pg stop "$pgdir" >/dev/null 2>&1 || true' EXIT
psql "$db" -q -v ON_ERROR_STOP=1 -f deploy/postgres/001_roles_and_schemas.sql >/dev/null
"$bin/tuoyu-token" keygen --out .run/bench-keys >/dev/null

.build-venv/bin/python bench/subsidy.py --bin "$bin" --db "$db" --keys .run/bench-keys "$@"
