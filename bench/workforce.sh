#!/usr/bin/env bash
# The workforce benchmark (a benchmark, not a test): release builds of tuoyu-registry,
# tuoyu-workforce, the CLI and tuoyu-token, a throwaway Postgres under .run/bench-pg, then
# bench/workforce.py (100,000 people, 1,000 bans, 5,000 institutions of which 1,000 in one county;
# the eligibility check beside the registry's GetInstitution; compliance of the whole county).
# Usage: bench/workforce.sh [--duration SECONDS] [--people 100000] [--bans 1000]
set -euo pipefail
cd "$(dirname "$0")/.."
EXTRA_APT_PACKAGES="nghttp2-client util-linux" scripts/setup

echo "== building (release)" >&2
for p in tuoyu-registry tuoyu-workforce tuoyu tuoyu-token; do swift build -c release --product "$p" >&2; done
bin="$(swift build -c release --show-bin-path)"

pgdir=.run/bench-pg
scripts/pg stop "$pgdir" >/dev/null 2>&1 || true
rm -rf "$pgdir"
db=$(scripts/pg start "$pgdir")
trap 'scripts/pg stop "$pgdir" >/dev/null 2>&1 || true' EXIT
psql "$db" -q -v ON_ERROR_STOP=1 -f deploy/postgres/001_roles_and_schemas.sql >/dev/null
"$bin/tuoyu-token" keygen --out .run/bench-keys >/dev/null

.build-venv/bin/python bench/workforce.py --bin "$bin" --db "$db" --keys .run/bench-keys "$@"
