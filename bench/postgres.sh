#!/usr/bin/env bash
# Prepared against unnamed statements on a throwaway Postgres (a benchmark, not a test): release
# build of tuoyu-bench-postgres, a cluster under .run/bench-pg, then the run (ratios printed).
# Usage: bench/postgres.sh [--rows N] [--iterations M]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup
swift build -c release --product tuoyu-bench-postgres >&2
bin="$(swift build -c release --show-bin-path)"
pgdir=.run/bench-pg
scripts/pg stop "$pgdir" >/dev/null 2>&1 || true
rm -rf "$pgdir"
db=$(scripts/pg start "$pgdir")
trap 'scripts/pg stop "$pgdir" >/dev/null 2>&1 || true' EXIT
"$bin/tuoyu-bench-postgres" --url "$db" "$@"
