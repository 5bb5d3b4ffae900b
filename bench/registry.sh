#!/usr/bin/env bash
# The registry benchmark (a benchmark, not a test): release builds of tuoyu-registry, the CLI and
# tuoyu-token, a throwaway Postgres under .run/bench-pg, then bench/registry.py (10,000 and 100,000
# institutions; GetInstitution, ListInstitutions, GetIndicators; pgbench select-only beside them).
# Usage: bench/registry.sh [--duration SECONDS] [--sizes 10000,100000]
set -euo pipefail
cd "$(dirname "$0")/.."
EXTRA_APT_PACKAGES="nghttp2-client util-linux" scripts/setup

echo "== building (release)" >&2
for p in tuoyu-registry tuoyu tuoyu-token tuoyu-bench-server; do swift build -c release --product "$p" >&2; done
bin="$(swift build -c release --show-bin-path)"

pgdir=.run/bench-pg
scripts/pg stop "$pgdir" >/dev/null 2>&1 || true
rm -rf "$pgdir"
db=$(scripts/pg start "$pgdir")
trap 'scripts/pg stop "$pgdir" >/dev/null 2>&1 || true' EXIT
psql "$db" -q -v ON_ERROR_STOP=1 -f deploy/postgres/001_roles_and_schemas.sql >/dev/null
"$bin/tuoyu-token" keygen --out .run/bench-keys >/dev/null

.build-venv/bin/python bench/registry.py --bin "$bin" --db "$db" --keys .run/bench-keys "$@"
